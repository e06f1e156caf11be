//! OpenID Connect discovery: endpoints of the tenant's authority.
//!
//! Entra publishes one metadata document per tenant path segment (a tenant id, a verified domain,
//! `organizations` or `common`) at `{authority_host}/{tenant}/v2.0/.well-known/openid-configuration`.
//! For multi-tenant segments the `issuer` is a template with a literal `{tenantid}` that each token
//! fills in with its own `tid`; [`OidcMetadata::issuer_for_tenant`] does that substitution.
//!
//! Every endpoint must be HTTPS, except on loopback hosts where the simulated cloud runs.

use std::net::IpAddr;

use serde::Deserialize;
use url::{Host, Url};

/// The placeholder Entra puts in the issuer of multi-tenant metadata documents.
pub const TENANT_ID_PLACEHOLDER: &str = "{tenantid}";

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{what} `{url}` must use https (plain http is only accepted on loopback hosts)")]
    Insecure { what: &'static str, url: String },
    #[error("authority host `{0}` cannot carry a path (it must look like https://login.microsoftonline.com)")]
    BadAuthorityHost(String),
    #[error("tenant `{0}` is not a tenant id, a domain, `organizations` or `common`")]
    InvalidTenant(String),
    #[error("cannot reach the OpenID metadata at {url}")]
    Network {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the OpenID metadata at {url} answered HTTP {status}{}", entra_detail(.entra_error))]
    Status {
        url: String,
        status: u16,
        /// `error` and the AADSTS line of Entra's error body, when it sent one (e.g. AADSTS90002
        /// for an unknown tenant).
        entra_error: Option<String>,
        /// The AADSTS number of that body.
        aadsts: Option<u32>,
    },
    #[error("the OpenID metadata at {url} is not valid: {source}")]
    Parse {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the OpenID metadata at {url} has an unusable `{field}`: `{value}`")]
    BadField {
        url: String,
        field: &'static str,
        value: String,
    },
}

fn entra_detail(detail: &Option<String>) -> String {
    detail
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}

/// The parts of the metadata document the kiosk uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcMetadata {
    /// As published: for `organizations`/`common` it contains [`TENANT_ID_PLACEHOLDER`].
    pub issuer: String,
    pub token_endpoint: Url,
    pub device_authorization_endpoint: Url,
    pub jwks_uri: Url,
    pub authorization_endpoint: Option<Url>,
}

impl OidcMetadata {
    /// The issuer a token of tenant `tid` must carry.
    pub fn issuer_for_tenant(&self, tid: &str) -> String {
        self.issuer.replace(TENANT_ID_PLACEHOLDER, tid)
    }

    /// True when the document describes a multi-tenant segment (`organizations`, `common`).
    pub fn is_multi_tenant(&self) -> bool {
        self.issuer.contains(TENANT_ID_PLACEHOLDER)
    }
}

#[derive(Deserialize)]
struct RawMetadata {
    issuer: String,
    token_endpoint: String,
    device_authorization_endpoint: String,
    jwks_uri: String,
    authorization_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct RawEntraError {
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u32>,
}

/// True for `https` URLs and for `http` URLs whose host is loopback (127.0.0.0/8, ::1, localhost).
pub fn is_secure_endpoint(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => is_loopback_host(url),
        _ => false,
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn require_secure(what: &'static str, url: &Url) -> Result<(), DiscoveryError> {
    if is_secure_endpoint(url) {
        Ok(())
    } else {
        Err(DiscoveryError::Insecure {
            what,
            url: url.to_string(),
        })
    }
}

/// A tenant path segment: a GUID, a domain name, `organizations` or `common`. Anything else could
/// smuggle extra path segments or a query into the authority URL.
fn validate_tenant(tenant: &str) -> Result<(), DiscoveryError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 253
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
        && !tenant.starts_with('.')
        && !tenant.contains("..");
    if ok {
        Ok(())
    } else {
        Err(DiscoveryError::InvalidTenant(tenant.to_string()))
    }
}

/// `{authority_host}/{tenant}/v2.0/.well-known/openid-configuration`.
pub fn metadata_url(authority_host: &Url, tenant: &str) -> Result<Url, DiscoveryError> {
    require_secure("authority host", authority_host)?;
    validate_tenant(tenant)?;
    if authority_host.cannot_be_a_base()
        || authority_host.path() != "/"
        || authority_host.query().is_some()
    {
        return Err(DiscoveryError::BadAuthorityHost(authority_host.to_string()));
    }
    let mut url = authority_host.clone();
    url.path_segments_mut()
        .map_err(|()| DiscoveryError::BadAuthorityHost(authority_host.to_string()))?
        .clear()
        .extend([tenant, "v2.0", ".well-known", "openid-configuration"]);
    Ok(url)
}

/// Fetches and checks the metadata document of `tenant`.
pub async fn discover(
    http: &reqwest::Client,
    authority_host: &Url,
    tenant: &str,
) -> Result<OidcMetadata, DiscoveryError> {
    let url = metadata_url(authority_host, tenant)?;
    let url_text = url.to_string();
    tracing::debug!(url = %url_text, "fetching OpenID metadata");
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|source| DiscoveryError::Network {
            url: url_text.clone(),
            source,
        })?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|source| DiscoveryError::Network {
            url: url_text.clone(),
            source,
        })?;
    if !status.is_success() {
        let raw = serde_json::from_slice::<RawEntraError>(&body).ok();
        let aadsts = raw.as_ref().and_then(|e| e.error_codes.first().copied());
        let entra_error = raw.map(|e| {
            let first_line = e.error_description.lines().next().unwrap_or("").trim_end();
            if first_line.is_empty() {
                e.error
            } else {
                format!("{}: {first_line}", e.error)
            }
        });
        return Err(DiscoveryError::Status {
            url: url_text,
            status: status.as_u16(),
            entra_error,
            aadsts,
        });
    }
    parse_metadata(&url_text, &body)
}

fn parse_metadata(url: &str, body: &[u8]) -> Result<OidcMetadata, DiscoveryError> {
    let raw: RawMetadata =
        serde_json::from_slice(body).map_err(|source| DiscoveryError::Parse {
            url: url.to_string(),
            source,
        })?;
    let endpoint = |field: &'static str, value: &str| -> Result<Url, DiscoveryError> {
        let parsed = Url::parse(value).map_err(|_| DiscoveryError::BadField {
            url: url.to_string(),
            field,
            value: value.to_string(),
        })?;
        require_secure(field, &parsed)?;
        Ok(parsed)
    };
    // The issuer is compared as a string later; it must still be a secure URL once filled in.
    endpoint("issuer", &raw.issuer.replace(TENANT_ID_PLACEHOLDER, "tid"))?;
    Ok(OidcMetadata {
        token_endpoint: endpoint("token_endpoint", &raw.token_endpoint)?,
        device_authorization_endpoint: endpoint(
            "device_authorization_endpoint",
            &raw.device_authorization_endpoint,
        )?,
        jwks_uri: endpoint("jwks_uri", &raw.jwks_uri)?,
        authorization_endpoint: raw
            .authorization_endpoint
            .as_deref()
            .map(|v| endpoint("authorization_endpoint", v))
            .transpose()?,
        issuer: raw.issuer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_https_are_accepted_plain_http_elsewhere_is_not() {
        for ok in [
            "https://login.microsoftonline.com/",
            "http://127.0.0.1:8080/",
            "http://127.3.2.1/",
            "http://[::1]:9000/",
            "http://localhost:1234/",
        ] {
            assert!(is_secure_endpoint(&Url::parse(ok).unwrap()), "{ok}");
        }
        for bad in [
            "http://login.microsoftonline.com/",
            "http://10.0.0.1/",
            "http://[::2]/",
            "ftp://127.0.0.1/",
            "http://localhost.evil.example/",
        ] {
            assert!(!is_secure_endpoint(&Url::parse(bad).unwrap()), "{bad}");
        }
    }

    #[test]
    fn metadata_url_is_built_per_tenant_and_rejects_odd_input() {
        let host = Url::parse("https://login.microsoftonline.com").unwrap();
        assert_eq!(
            metadata_url(&host, "contoso.onmicrosoft.com").unwrap().as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        );
        assert!(matches!(
            metadata_url(&host, "a/b"),
            Err(DiscoveryError::InvalidTenant(_))
        ));
        assert!(matches!(
            metadata_url(&host, "x?y"),
            Err(DiscoveryError::InvalidTenant(_))
        ));
        assert!(matches!(
            metadata_url(&host, ".."),
            Err(DiscoveryError::InvalidTenant(_))
        ));
        let with_path = Url::parse("https://login.microsoftonline.com/tenant").unwrap();
        assert!(matches!(
            metadata_url(&with_path, "organizations"),
            Err(DiscoveryError::BadAuthorityHost(_))
        ));
        let insecure = Url::parse("http://login.example.com").unwrap();
        assert!(matches!(
            metadata_url(&insecure, "organizations"),
            Err(DiscoveryError::Insecure { .. })
        ));
    }

    #[test]
    fn issuer_template_is_filled_with_the_token_tenant() {
        let doc = br#"{
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
            "token_endpoint": "https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
            "device_authorization_endpoint": "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode",
            "jwks_uri": "https://login.microsoftonline.com/organizations/discovery/v2.0/keys",
            "scopes_supported": ["openid"]
        }"#;
        let meta = parse_metadata("u", doc).unwrap();
        assert!(meta.is_multi_tenant());
        assert_eq!(
            meta.issuer_for_tenant("1234"),
            "https://login.microsoftonline.com/1234/v2.0"
        );
    }

    #[test]
    fn insecure_endpoints_in_the_document_are_refused() {
        let doc = br#"{
            "issuer": "https://login.microsoftonline.com/t/v2.0",
            "token_endpoint": "http://evil.example/token",
            "device_authorization_endpoint": "https://login.microsoftonline.com/t/oauth2/v2.0/devicecode",
            "jwks_uri": "https://login.microsoftonline.com/t/discovery/v2.0/keys"
        }"#;
        assert!(matches!(
            parse_metadata("u", doc),
            Err(DiscoveryError::Insecure {
                what: "token_endpoint",
                ..
            })
        ));
    }
}
