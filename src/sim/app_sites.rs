//! How the simulated Graph judges app-only tokens (client-credentials grant) on drives and
//! sites, as the real service does:
//! - `Sites.ReadWrite.All` / `Sites.FullControl.All` (application): every site;
//! - `Sites.Selected`: only sites where an admin granted the app a role
//!   (`POST /sites/{id}/permissions` in the real service; [`SimCloud::grant_app_site`] here),
//!   `read` for reading, `write` or `fullcontrol` for writing; elsewhere 403 `accessDenied`;
//! - `Files.ReadWrite.All` (application): every user's OneDrive via `/users/{id}/drive`.
//!
//! Graph answers a Sites.Selected app outside its grants with 403 `accessDenied`, "Access
//! denied": the same body is given here.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::graph::graph_error;
use super::graph_state::SimSite;
use super::state::Shared;
use super::tokens::AccessClaims;
use super::SimCloud;

/// Application permissions that reach every site.
const ALL_SITES: &[&str] = &["Sites.ReadWrite.All", "Sites.FullControl.All"];
const ALL_SITES_READ: &[&str] = &["Sites.Read.All"];
/// Application permission that reaches every user's OneDrive.
pub(crate) const ALL_FILES: &[&str] = &["Files.ReadWrite.All"];

pub(crate) fn is_app(claims: &AccessClaims) -> bool {
    claims.idtyp.as_deref() == Some("app")
}

pub(crate) fn has_role(claims: &AccessClaims, any_of: &[&str]) -> bool {
    claims
        .roles
        .iter()
        .any(|r| any_of.iter().any(|w| r.eq_ignore_ascii_case(w)))
}

fn denied(headers: &HeaderMap) -> Box<Response> {
    Box::new(graph_error(
        StatusCode::FORBIDDEN,
        "accessDenied",
        "Access denied",
        headers,
    ))
}

/// Whether an app token may read (or, with `write`, write to) `site`.
pub(crate) fn check_site(
    shared: &Shared,
    claims: &AccessClaims,
    site: &SimSite,
    write: bool,
    headers: &HeaderMap,
) -> Result<(), Box<Response>> {
    if has_role(claims, ALL_SITES) || (!write && has_role(claims, ALL_SITES_READ)) {
        return Ok(());
    }
    if has_role(claims, &["Sites.Selected"]) {
        let graph = shared.graph();
        let granted = graph.app_site_grants.get(&site.id()).map(String::as_str);
        let ok = match granted {
            Some("write" | "fullcontrol") => true,
            Some("read") => !write,
            _ => false,
        };
        if ok {
            return Ok(());
        }
    }
    Err(denied(headers))
}

/// Whether an app token may use any user's OneDrive.
pub(crate) fn check_user_drive(
    claims: &AccessClaims,
    headers: &HeaderMap,
) -> Result<(), Box<Response>> {
    if has_role(claims, ALL_FILES) {
        Ok(())
    } else {
        Err(denied(headers))
    }
}

impl SimCloud {
    /// What an admin does for `Sites.Selected`: grants the app `role` (`read`, `write`,
    /// `fullcontrol`) on the site at `hostname` + `path`. Returns false for an unknown site.
    pub fn grant_app_site(&self, hostname: &str, path: &str, role: &str) -> bool {
        let mut graph = self.shared.graph();
        let Some(id) = graph
            .sites
            .iter()
            .find(|s| {
                s.hostname.eq_ignore_ascii_case(hostname) && s.path.eq_ignore_ascii_case(path)
            })
            .map(SimSite::id)
        else {
            return false;
        };
        graph.app_site_grants.insert(id, role.to_string());
        true
    }

    /// The description a drive item got when it was created (`None`: none or no such item).
    /// `path` is the file in a drive directory ([`SimCloud::site_drive_dir`],
    /// [`SimCloud::user_drive_dir`]).
    pub fn item_description(&self, path: &std::path::Path) -> Option<String> {
        self.shared.graph().descriptions.get(path).cloned()
    }
}
