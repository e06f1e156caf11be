//! `doctor`'s check of delivery with the panel's application identity: for every
//! `delivery = "app"` workflow, whether the app-only token can write where it delivers, and
//! which grant is missing when it cannot. Nothing is uploaded: the write test opens an upload
//! session for a probe name in the workflow's library and cancels it at once.

use secrecy::{ExposeSecret, SecretString};

use super::{Check, Report, Status};
use crate::config::{Config, Delivery, Destination, WorkflowConfig};
use crate::directory::credential::{AppCredential, AppTokens};
use crate::graph::{ConflictBehavior, DriveTarget, GraphClient, SiteRef, SiteResolver};

/// The name the write test would create (never completed).
const PROBE: &str = ".mfp-kiosk-doctor-probe";

/// The application permissions (`roles`) of an app-only token. The token is not verified
/// here: Graph does that; this only reads what Entra put in it to name a missing grant.
fn roles(token: &SecretString) -> Vec<String> {
    use base64::Engine;
    let payload = token.expose_secret().split('.').nth(1).unwrap_or("");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v.get("roles").and_then(|r| r.as_array()).map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default()
}

fn has(roles: &[String], any: &[&str]) -> bool {
    roles
        .iter()
        .any(|r| any.iter().any(|a| r.eq_ignore_ascii_case(a)))
}

/// What a 403 on a site means, given the token's permissions.
fn site_advice(roles: &[String], site: &str) -> String {
    if has(roles, &["Sites.Selected"]) {
        format!(
            "{site}: the app has Sites.Selected but no write grant on this site; an admin \
             grants it with POST /sites/{{site-id}}/permissions (roles [\"write\"], the app's \
             client id), see README"
        )
    } else if has(roles, &["Sites.ReadWrite.All", "Sites.FullControl.All"]) {
        format!("{site}: Graph refused the app although it has Sites.ReadWrite.All; check the site's sharing settings")
    } else {
        format!(
            "{site}: the app has no SharePoint permission: add the application permission \
             Sites.Selected with admin consent, then grant the app write on this site"
        )
    }
}

async fn probe_write(
    graph: &GraphClient,
    token: &SecretString,
    drive: &DriveTarget,
    folder: &str,
) -> Result<(), crate::graph::GraphError> {
    let session = graph
        .create_upload_session(token, drive, folder, PROBE, 1, ConflictBehavior::Fail)
        .await?;
    // Best effort: an abandoned session expires on its own and never becomes a file.
    let _ = graph.cancel_upload_session(&session.url).await;
    Ok(())
}

async fn check_one(
    graph: &GraphClient,
    token: &SecretString,
    roles: &[String],
    w: &WorkflowConfig,
    report: &mut Report,
) {
    let name = format!("workflow `{}`", w.id);
    match w.destination {
        Destination::Sharepoint => {
            let site = w.site.clone().unwrap_or_default();
            let library = w.library.clone().unwrap_or_default();
            let Ok(site_ref) = SiteRef::parse(&site) else {
                return report.push(
                    Check::AppDelivery,
                    Status::Problem,
                    format!("{name}: bad site {site:?}"),
                );
            };
            let drive = match SiteResolver::new()
                .drive(graph, token, &site_ref, &library)
                .await
            {
                Ok(d) => d,
                Err(e) if e.status() == Some(403) => {
                    return report.push(
                        Check::AppDelivery,
                        Status::Problem,
                        format!("{name}: {}", site_advice(roles, &site)),
                    )
                }
                Err(e) => {
                    return report.push(
                        Check::AppDelivery,
                        Status::Problem,
                        format!("{name}: {site}: {e}"),
                    )
                }
            };
            match probe_write(graph, token, &drive, &w.folder).await {
                Ok(()) => report.push(
                    Check::AppDelivery,
                    Status::Ok,
                    format!("{name}: the app can write to {site} ({library})"),
                ),
                Err(e) if e.status() == Some(403) => report.push(
                    Check::AppDelivery,
                    Status::Problem,
                    format!("{name}: {}", site_advice(roles, &site)),
                ),
                Err(e) => report.push(
                    Check::AppDelivery,
                    Status::Problem,
                    format!("{name}: {site}: {e}"),
                ),
            }
        }
        Destination::Onedrive => {
            if !has(roles, &["Files.ReadWrite.All"]) {
                return report.push(
                    Check::AppDelivery,
                    Status::Problem,
                    format!(
                        "{name}: scanning to users' own OneDrive as the app needs the \
                         application permission Files.ReadWrite.All with admin consent (a broad \
                         permission: every user's files)"
                    ),
                );
            }
            report.push(
                Check::AppDelivery,
                Status::Warning,
                format!(
                    "{name}: the app holds Files.ReadWrite.All and can write to every user's \
                     OneDrive; keep the panel's key safe"
                ),
            );
        }
    }
}

/// Runs the check for every app workflow; silent when there is none.
pub(super) async fn check(config: &Config, report: &mut Report) {
    let app: Vec<_> = config
        .workflows
        .iter()
        .filter(|w| w.delivery == Delivery::App)
        .collect();
    if app.is_empty() {
        return;
    }
    let tokens = match AppCredential::load(config).and_then(|c| AppTokens::new(config, c)) {
        Ok(t) => t,
        Err(e) => return report.push(Check::AppDelivery, Status::Problem, e.to_string()),
    };
    let token = match tokens.token().await {
        Ok(t) => t,
        Err(e) => return report.push(Check::AppDelivery, Status::Problem, e.to_string()),
    };
    let graph = match url::Url::parse(&config.graph.endpoint)
        .map_err(|e| e.to_string())
        .and_then(|u| GraphClient::new(u).map_err(|e| e.to_string()))
    {
        Ok(g) => g,
        Err(e) => {
            return report.push(
                Check::AppDelivery,
                Status::Problem,
                format!("graph.endpoint: {e}"),
            )
        }
    };
    let roles = roles(&token);
    for w in app {
        check_one(&graph, &token, &roles, w, report).await;
    }
}
