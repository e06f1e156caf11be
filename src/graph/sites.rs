//! SharePoint sites: the site by its path (`GET /sites/{hostname}:/{path}`), its document
//! libraries (`GET /sites/{id}/drives`), and a cache so each (site, library) pair is resolved to
//! a drive id once per process, not once per scan.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use secrecy::SecretString;
use serde::Deserialize;

use super::{DriveTarget, GraphClient, GraphError};

/// A site as configured: `contoso.sharepoint.com:/sites/Finance`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SiteRef {
    pub hostname: String,
    /// Server-relative path, e.g. `/sites/Finance`.
    pub path: String,
}

impl SiteRef {
    /// Parses `hostname:/server/relative/path`.
    pub fn parse(site: &str) -> Result<SiteRef, GraphError> {
        let bad = || GraphError::InvalidSite(site.to_string());
        let (host, path) = site.split_once(":/").ok_or_else(bad)?;
        let host = host.trim();
        let path = path.trim_matches('/');
        if host.is_empty()
            || path.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(bad());
        }
        for segment in path.split('/') {
            super::validate_name(segment).map_err(|_| bad())?;
        }
        Ok(SiteRef {
            hostname: host.to_ascii_lowercase(),
            path: format!("/{path}"),
        })
    }
}

impl std::fmt::Display for SiteRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.hostname, self.path)
    }
}

/// A site as Graph reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteInfo {
    /// `hostname,site-collection-guid,web-guid`.
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub web_url: String,
}

/// A drive (document library) of a site.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriveInfo {
    pub id: String,
    /// The library's name as users see it, e.g. `Documents`.
    pub name: String,
    #[serde(default)]
    pub drive_type: String,
    #[serde(default)]
    pub web_url: String,
}

#[derive(Deserialize)]
struct DriveList {
    value: Vec<DriveInfo>,
}

impl GraphClient {
    /// `GET /sites/{hostname}:/{path}`.
    pub async fn site_by_path(
        &self,
        token: &SecretString,
        site: &SiteRef,
    ) -> Result<SiteInfo, GraphError> {
        let mut segments = vec!["sites".to_string()];
        let parts: Vec<&str> = site.path.trim_start_matches('/').split('/').collect();
        segments.push(format!("{}:", site.hostname));
        segments.extend(parts.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let mut url = self.url(&refs)?;
        url.set_query(Some("$select=id,displayName,webUrl"));
        self.get_json(token, url, "site").await
    }

    /// `GET /sites/{id}/drives`: the site's document libraries.
    pub async fn site_drives(
        &self,
        token: &SecretString,
        site_id: &str,
    ) -> Result<Vec<DriveInfo>, GraphError> {
        let mut url = self.url(&["sites", site_id, "drives"])?;
        url.set_query(Some("$select=id,name,driveType,webUrl"));
        let list: DriveList = self.get_json(token, url, "drives").await?;
        Ok(list.value)
    }
}

/// Resolves (site, library) to a drive once and remembers it. Cheap to clone; clones share
/// the cache.
#[derive(Debug, Clone, Default)]
pub struct SiteResolver {
    cache: Arc<Mutex<HashMap<(SiteRef, String), String>>>,
}

impl SiteResolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// The drive of `library` in `site`, from the cache or from Graph. Library names are
    /// matched ignoring case, as SharePoint does.
    pub async fn drive(
        &self,
        graph: &GraphClient,
        token: &SecretString,
        site: &SiteRef,
        library: &str,
    ) -> Result<DriveTarget, GraphError> {
        let key = (site.clone(), library.to_lowercase());
        if let Some(id) = self.lock().get(&key) {
            return Ok(DriveTarget::Drive(id.clone()));
        }
        let info = graph.site_by_path(token, site).await?;
        let drives = graph.site_drives(token, &info.id).await?;
        let drive = drives
            .into_iter()
            .find(|d| d.name.eq_ignore_ascii_case(library))
            .ok_or_else(|| GraphError::LibraryNotFound {
                site: site.to_string(),
                library: library.to_string(),
            })?;
        tracing::info!(site = %site, library, drive = %drive.id, "SharePoint library resolved");
        self.lock().insert(key, drive.id.clone());
        Ok(DriveTarget::Drive(drive.id))
    }

    /// Forgets a resolution (the library answered 404: it may have been recreated).
    pub fn forget(&self, site: &SiteRef, library: &str) {
        self.lock().remove(&(site.clone(), library.to_lowercase()));
    }

    /// How many libraries are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(SiteRef, String), String>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_refs_parse_and_reject_junk() {
        let s = SiteRef::parse("Contoso.SharePoint.com:/sites/Finance/").unwrap();
        assert_eq!(s.hostname, "contoso.sharepoint.com");
        assert_eq!(s.path, "/sites/Finance");
        assert_eq!(s.to_string(), "contoso.sharepoint.com:/sites/Finance");
        for bad in [
            "contoso.sharepoint.com",
            ":/sites/x",
            "contoso.sharepoint.com:/",
            "conto so.com:/sites/x",
            "contoso.sharepoint.com:/sites/../x",
        ] {
            assert!(SiteRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn site_url_keeps_the_colon_form() {
        let client =
            GraphClient::new(url::Url::parse("https://graph.microsoft.com/v1.0").unwrap()).unwrap();
        let site = SiteRef::parse("contoso.sharepoint.com:/sites/Finance Team").unwrap();
        let mut segments = vec!["sites".to_string(), format!("{}:", site.hostname)];
        segments.extend(site.path[1..].split('/').map(str::to_string));
        let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
        assert_eq!(
            client.url(&refs).unwrap().as_str(),
            "https://graph.microsoft.com/v1.0/sites/contoso.sharepoint.com:/sites/Finance%20Team"
        );
    }
}
