//! Entra's answers in an administrator's words: what is wrong and where to fix it (the config
//! key, or the blade of the Entra admin center). The panel has its own, shorter sentences for
//! walk-up users ([`EntraError::panel_message`]); these are for the person who set the panel up.

use crate::auth::device_code::DeviceCodeError;
use crate::auth::discovery::DiscoveryError;
use crate::auth::entra::EntraError;
use crate::auth::id_token::IdTokenError;
use crate::config::EntraConfig;

/// Scopes that are about the sign-in itself rather than Microsoft Graph permissions.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The delegated Graph permissions the config requests (what admin consent must cover).
pub fn graph_permissions(entra: &EntraConfig) -> Vec<String> {
    entra
        .scopes
        .iter()
        .filter(|s| !OIDC_SCOPES.contains(&s.as_str()))
        .map(|s| {
            s.strip_prefix("https://graph.microsoft.com/")
                .unwrap_or(s)
                .to_string()
        })
        .collect()
}

fn host_of(entra: &EntraConfig) -> String {
    entra
        .authority_host_url()
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| entra.authority_host.clone())
}

/// One sentence (or two) saying what is wrong and how to fix it, followed by Entra's code and
/// correlation id when it sent them (the tenant's sign-in log is searched by those).
pub fn for_entra_error(err: &EntraError, entra: &EntraConfig) -> String {
    let text = advice_text(err, entra);
    let mut refs = Vec::new();
    if let Some(code) = err.aadsts_code() {
        refs.push(format!("AADSTS{code}"));
    }
    if let Some(id) = err.entra_error().and_then(|b| b.correlation_id.as_deref()) {
        refs.push(format!("correlation id {id}"));
    }
    if refs.is_empty() {
        text
    } else {
        format!("{text} ({})", refs.join(", "))
    }
}

fn advice_text(err: &EntraError, entra: &EntraConfig) -> String {
    let client = &entra.client_id;
    let tenant = &entra.tenant;
    let host = host_of(entra);
    if let EntraError::Discovery(d) = err {
        return discovery_advice(d, entra, &host);
    }
    if let EntraError::IdToken(e) = err {
        return id_token_advice(e);
    }
    if let EntraError::DeviceCode(DeviceCodeError::Redirected { location, .. }) = err {
        return format!(
            "Entra's token endpoint answered with a redirect to `{location}`; token requests never \
             follow redirects. Check entra.authority_host and any proxy that rewrites traffic to {host}"
        );
    }
    match err.aadsts_code() {
        Some(7000218) => format!(
            "public client flows are disabled for this app registration: in the Entra admin center \
             open App registrations > {client} > Authentication and set \"Allow public client \
             flows\" to Yes"
        ),
        Some(700016) => format!(
            "application (client) id {client} is not registered in tenant {tenant}: check \
             entra.client_id and entra.tenant (a multi-tenant app must first be consented to in \
             each tenant)"
        ),
        Some(7000112) => format!(
            "application {client} is disabled in tenant {tenant}: enable it in Enterprise \
             applications > Properties > \"Enabled for users to sign-in\""
        ),
        Some(90002) => format!(
            "tenant `{tenant}` does not exist in the cloud at {host}: check entra.tenant (a \
             directory id, a verified domain or \"organizations\") and, for a national cloud, \
             entra.authority_host"
        ),
        Some(70011) => format!(
            "entra.scopes contains a scope Entra does not accept: {}",
            err.entra_error().map(|b| b.summary()).unwrap_or_default()
        ),
        Some(65001) => format!(
            "consent missing for {}: an administrator must grant admin consent in App \
             registrations > {client} > API permissions > \"Grant admin consent\" (or allow users \
             to consent to these permissions)",
            graph_permissions(entra).join(", ")
        ),
        Some(65004) => format!(
            "the user declined the permission prompt; grant admin consent for {} so users are not \
             asked (App registrations > {client} > API permissions)",
            graph_permissions(entra).join(", ")
        ),
        Some(50105) => format!(
            "the user is not assigned to the app: assign them or their group in Enterprise \
             applications > {client} > Users and groups, or set \"Assignment required?\" to No"
        ),
        Some(53003) => "a Conditional Access policy blocked this sign-in: open the user's entry \
             in the Entra sign-in logs (search by the correlation id) to see which policy, and \
             allow the device-code flow for this app or rely on card/PIN sign-in"
            .to_string(),
        Some(530035) => "security defaults block device-code sign-in in this tenant: replace \
             security defaults with Conditional Access policies that allow it for this app, or \
             rely on card/PIN sign-in"
            .to_string(),
        Some(53000 | 53001 | 53002 | 53004 | 530032 | 530034) => {
            "a Conditional Access policy requires a managed or compliant device, which a \
             device-code sign-in cannot prove: exclude this app from that policy or rely on \
             card/PIN sign-in"
                .to_string()
        }
        Some(50057) => "the account is disabled in Entra".to_string(),
        Some(50034) => "the account does not exist in this tenant".to_string(),
        Some(50053) => "the account is locked after too many failed sign-ins".to_string(),
        Some(50173 | 700082 | 70000) if err.is_invalid_grant() => {
            "the cached sign-in is no longer valid (revoked, expired or already used): sign in \
             again"
                .to_string()
        }
        _ => match err {
            EntraError::DeviceCode(DeviceCodeError::Declined(_)) => {
                "the sign-in was declined on the phone".to_string()
            }
            EntraError::DeviceCode(DeviceCodeError::Expired(_)) => {
                "the code expired before the sign-in was finished: run the command again and \
                 finish within the time shown"
                    .to_string()
            }
            EntraError::DeviceCode(DeviceCodeError::BadVerificationCode(_)) => {
                "Entra no longer knows the device code: run the command again".to_string()
            }
            _ if err.is_transient() => format!(
                "cannot reach Entra at {host}: check DNS, the proxy and the firewall (the panel \
                 needs HTTPS to {host}). Detail: {err}"
            ),
            _ => format!("Entra refused the request: {err}"),
        },
    }
}

fn discovery_advice(err: &DiscoveryError, entra: &EntraConfig, host: &str) -> String {
    match err {
        DiscoveryError::Network { .. } => format!(
            "cannot reach {host}: check DNS, the proxy and the firewall (the panel needs HTTPS to \
             {host}). Detail: {err}"
        ),
        DiscoveryError::Status {
            aadsts: Some(90002),
            ..
        } => format!(
            "tenant `{}` does not exist in the cloud at {host}: check entra.tenant (a directory \
             id, a verified domain or \"organizations\") and, for a national cloud, \
             entra.authority_host",
            entra.tenant
        ),
        DiscoveryError::Status { url, status, .. } => format!(
            "the OpenID metadata at {url} answered HTTP {status}: check entra.authority_host and \
             entra.tenant"
        ),
        DiscoveryError::Insecure { .. } => {
            format!("{err}: the authority must be reached over HTTPS")
        }
        DiscoveryError::BadAuthorityHost(_) | DiscoveryError::InvalidTenant(_) => {
            format!("{err}: fix entra.authority_host / entra.tenant")
        }
        DiscoveryError::Parse { .. } | DiscoveryError::BadField { .. } => format!(
            "{host} does not publish usable OpenID metadata ({err}): check entra.authority_host"
        ),
    }
}

fn id_token_advice(err: &IdTokenError) -> String {
    match err {
        IdTokenError::TenantNotAllowed(tid) => format!(
            "the user's tenant {tid} is not in entra.allowed_tenants: add it if its users may sign \
             in"
        ),
        IdTokenError::JwksNetwork { url, .. } => {
            format!("cannot fetch the signing keys at {url}: check the network path to Entra")
        }
        IdTokenError::UnknownKid(kid) => format!(
            "the ID token is signed with a key ({kid}) the tenant does not publish: check \
             entra.authority_host (is something between the panel and Entra issuing tokens?)"
        ),
        other => format!("the ID token Entra returned was refused: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::device_code::EntraErrorBody;

    /// The shipped defaults (authority, scopes) with a tenant of our choosing.
    fn config() -> EntraConfig {
        let mut entra = crate::config::Config::demo_default().entra;
        entra.tenant = "contoso.onmicrosoft.com".into();
        entra
    }

    fn rejected(error: &str, code: u32) -> EntraError {
        EntraError::DeviceCode(DeviceCodeError::Rejected(Box::new(EntraErrorBody {
            error: error.into(),
            error_description: format!("AADSTS{code}: text"),
            error_codes: vec![code],
            timestamp: None,
            trace_id: None,
            correlation_id: Some("c0ffee".into()),
            suberror: None,
        })))
    }

    #[test]
    fn each_code_gets_its_own_actionable_sentence() {
        let c = config();
        let cases = [
            (
                7000218,
                "public client flows are disabled for this app registration",
            ),
            (
                700016,
                "is not registered in tenant contoso.onmicrosoft.com",
            ),
            (
                90002,
                "does not exist in the cloud at login.microsoftonline.com",
            ),
            (65001, "consent missing for User.Read, Files.ReadWrite"),
            (50105, "not assigned to the app"),
            (53003, "Conditional Access policy blocked"),
            (530035, "security defaults block device-code sign-in"),
        ];
        let mut seen = std::collections::HashSet::new();
        for (code, wanted) in cases {
            let text = for_entra_error(&rejected("invalid_grant", code), &c);
            assert!(text.contains(wanted), "{code}: {text}");
            assert!(text.contains(&format!("AADSTS{code}")), "{text}");
            assert!(text.contains("correlation id c0ffee"), "{text}");
            assert!(seen.insert(advice_text(&rejected("x", code), &c)));
        }
    }

    #[test]
    fn graph_permissions_leave_out_the_sign_in_scopes() {
        assert_eq!(
            graph_permissions(&config()),
            vec!["User.Read", "Files.ReadWrite", "Sites.ReadWrite.All"]
        );
    }
}
