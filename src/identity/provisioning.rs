//! Just-in-time provisioning: builds and updates the local user record from a sign-in.
//!
//! Pure: takes the validated ID-token claims, the optional directory profile (Graph `/me`) and the
//! record already stored (if any), and returns the record to store plus what changed. No I/O.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{UserRecord, UserStatus};
use crate::auth::IdClaims;
use crate::config::EntraConfig;

/// Longest local username produced (prefix included).
pub const MAX_USERNAME_LEN: usize = 64;

/// How the local username is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UsernameRule {
    /// The directory's `mailNickname` (from Graph); falls back to the UPN local part when the
    /// profile is unavailable, e.g. while offline.
    MailNickname,
    /// The part of the UPN before `@` (guest `#EXT#` markers removed).
    #[default]
    UpnLocalPart,
}

/// Which sign-ins may create a local user, and how the record is shaped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProvisioningRules {
    /// Tenant ids (lower-case GUIDs) whose users may sign in; empty = no restriction here (the
    /// ID-token validator already pinned the tenant of a single-tenant authority).
    pub allowed_tenants: Vec<String>,
    /// UPN domains (lower case) that may sign in; empty = any.
    pub allowed_upn_domains: Vec<String>,
    pub username_rule: UsernameRule,
    /// Prepended to every username, e.g. `msp-`.
    pub username_prefix: String,
    /// App role value that marks a technician.
    pub technician_role: String,
}

impl ProvisioningRules {
    /// Rules from the `[entra]` config section. A single-tenant config without an explicit
    /// `allowed_tenants` allows exactly its own tenant.
    pub fn from_config(entra: &EntraConfig) -> ProvisioningRules {
        let mut allowed_tenants: Vec<String> = entra
            .allowed_tenants
            .iter()
            .map(|t| t.to_ascii_lowercase())
            .collect();
        if allowed_tenants.is_empty() && uuid::Uuid::try_parse(&entra.tenant).is_ok() {
            allowed_tenants.push(entra.tenant.to_ascii_lowercase());
        }
        ProvisioningRules {
            allowed_tenants,
            allowed_upn_domains: entra
                .allowed_upn_domains
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            username_rule: entra.username_rule,
            username_prefix: entra.username_prefix.clone(),
            technician_role: entra.technician_role.clone(),
        }
    }
}

/// Fields from Graph `/me` that the ID token does not carry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectoryProfile {
    pub mail_nickname: Option<String>,
    pub mail: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// Something other than `last_online_at` changed.
    Updated,
    /// Only `last_online_at` moved.
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub user: UserRecord,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisioningError {
    #[error("sign-ins from tenant {tid} are not allowed on this panel")]
    TenantNotAllowed { tid: String },
    #[error("accounts of domain {domain} are not allowed on this panel")]
    DomainNotAllowed { domain: String },
    #[error("the sign-in carries no usable user name (preferred_username {upn:?})")]
    InvalidUpn { upn: String },
    #[error("no local username can be derived from {source_value:?}")]
    NoUsername { source_value: String },
    #[error("the stored record belongs to object id {stored}, not {signed_in}")]
    OidMismatch { stored: String, signed_in: String },
    #[error("the stored record belongs to tenant {stored}, not {signed_in}")]
    TenantMismatch { stored: String, signed_in: String },
}

/// Brings a cached user in step with the validated ID token of a silent refresh: app roles,
/// groups and the technician flag follow the directory at every refresh, not only at the next
/// device-code sign-in (an administrator who removes `Kiosk.Technician` means now). Refuses a
/// token of another identity or tenant: a refresh that returns someone else's ID token is an
/// answer the panel must not act on. Names and the username stay as the last full sign-in left
/// them (the username rule may need the Graph profile, which a refresh does not fetch).
pub fn refresh(
    existing: &UserRecord,
    claims: &IdClaims,
    rules: &ProvisioningRules,
    now: DateTime<Utc>,
) -> Result<Provisioned, ProvisioningError> {
    if existing.oid != claims.oid {
        return Err(ProvisioningError::OidMismatch {
            stored: existing.oid.clone(),
            signed_in: claims.oid.clone(),
        });
    }
    if !existing.tenant_id.eq_ignore_ascii_case(&claims.tid) {
        return Err(ProvisioningError::TenantMismatch {
            stored: existing.tenant_id.clone(),
            signed_in: claims.tid.clone(),
        });
    }
    let roles = sorted_unique(&claims.roles);
    let groups = sorted_unique(&claims.groups);
    let is_technician = roles.contains(&rules.technician_role);
    let changed = roles != existing.roles
        || groups != existing.groups
        || is_technician != existing.is_technician;
    let user = UserRecord {
        roles,
        groups,
        is_technician,
        updated_at: if changed { now } else { existing.updated_at },
        last_online_at: now,
        ..existing.clone()
    };
    let outcome = if changed {
        Outcome::Updated
    } else {
        Outcome::Unchanged
    };
    Ok(Provisioned { user, outcome })
}

/// Creates or refreshes the local record for a successful Entra sign-in.
pub fn provision(
    existing: Option<&UserRecord>,
    claims: &IdClaims,
    profile: Option<&DirectoryProfile>,
    rules: &ProvisioningRules,
    now: DateTime<Utc>,
) -> Result<Provisioned, ProvisioningError> {
    if let Some(e) = existing {
        if e.oid != claims.oid {
            return Err(ProvisioningError::OidMismatch {
                stored: e.oid.clone(),
                signed_in: claims.oid.clone(),
            });
        }
    }
    let tid = claims.tid.to_ascii_lowercase();
    if !rules.allowed_tenants.is_empty()
        && !rules
            .allowed_tenants
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&tid))
    {
        return Err(ProvisioningError::TenantNotAllowed { tid });
    }
    let (local, domain) = claims
        .upn
        .rsplit_once('@')
        .filter(|(l, d)| !l.is_empty() && !d.is_empty())
        .ok_or_else(|| ProvisioningError::InvalidUpn {
            upn: claims.upn.clone(),
        })?;
    let domain = domain.to_ascii_lowercase();
    if !rules.allowed_upn_domains.is_empty()
        && !rules
            .allowed_upn_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&domain))
    {
        return Err(ProvisioningError::DomainNotAllowed { domain });
    }

    let nickname = profile
        .and_then(|p| p.mail_nickname.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let base = match (rules.username_rule, nickname) {
        (UsernameRule::MailNickname, Some(n)) => n.to_string(),
        _ => strip_guest_marker(local),
    };
    let username = make_username(&rules.username_prefix, &base).ok_or_else(|| {
        ProvisioningError::NoUsername {
            source_value: base.clone(),
        }
    })?;

    let non_empty = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let display_name = non_empty(Some(&claims.name))
        .or_else(|| non_empty(profile.and_then(|p| p.display_name.as_deref())))
        .unwrap_or_else(|| claims.upn.clone());
    let mail = non_empty(claims.email.as_deref())
        .or_else(|| non_empty(profile.and_then(|p| p.mail.as_deref())));
    let roles = sorted_unique(&claims.roles);
    let groups = sorted_unique(&claims.groups);
    let is_technician = roles.contains(&rules.technician_role);

    let mut user = UserRecord {
        oid: claims.oid.clone(),
        tenant_id: tid,
        upn: claims.upn.clone(),
        display_name,
        mail,
        username,
        roles,
        groups,
        is_technician,
        // Entra just let this identity sign in, so it is active whatever happened before.
        status: UserStatus::Active,
        created_at: now,
        updated_at: now,
        last_online_at: now,
    };
    let outcome = match existing {
        None => Outcome::Created,
        Some(old) => {
            user.created_at = old.created_at;
            let same = UserRecord {
                updated_at: old.updated_at,
                last_online_at: old.last_online_at,
                ..user.clone()
            } == *old;
            if same {
                user.updated_at = old.updated_at;
                Outcome::Unchanged
            } else {
                Outcome::Updated
            }
        }
    };
    Ok(Provisioned { user, outcome })
}

/// The local username of a user created from the directory (no sign-in yet): the same rule as
/// [`provision`], with the directory's `mailNickname`.
pub fn directory_username(
    rules: &ProvisioningRules,
    upn: &str,
    mail_nickname: Option<&str>,
) -> Result<String, ProvisioningError> {
    let (local, _) = upn
        .rsplit_once('@')
        .filter(|(l, d)| !l.is_empty() && !d.is_empty())
        .ok_or_else(|| ProvisioningError::InvalidUpn { upn: upn.into() })?;
    let nickname = mail_nickname.map(str::trim).filter(|n| !n.is_empty());
    let base = match (rules.username_rule, nickname) {
        (UsernameRule::MailNickname, Some(n)) => n.to_string(),
        _ => strip_guest_marker(local),
    };
    make_username(&rules.username_prefix, &base)
        .ok_or(ProvisioningError::NoUsername { source_value: base })
}

fn strip_guest_marker(local: &str) -> String {
    // Guests look like `adele_fabrikam.com#EXT#@contoso.onmicrosoft.com`.
    match local.to_ascii_lowercase().find("#ext#") {
        Some(i) => local[..i].to_string(),
        None => local.to_string(),
    }
}

/// Lower-cases and keeps `[a-z0-9._-]`; any other run of characters becomes one `_`.
fn make_username(prefix: &str, base: &str) -> Option<String> {
    let mut body = String::new();
    let mut pending_sep = false;
    for c in base.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_') {
            if pending_sep && !body.is_empty() {
                body.push('_');
            }
            pending_sep = false;
            body.push(c);
        } else {
            pending_sep = true;
        }
    }
    let body = body.trim_matches(|c| matches!(c, '.' | '-' | '_'));
    if body.is_empty() {
        return None;
    }
    // The config validates the prefix; filtering again keeps the name ASCII, so truncating by
    // bytes below stays on a char boundary.
    let prefix: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
        .collect();
    let mut name = format!("{prefix}{body}");
    name.truncate(MAX_USERNAME_LEN);
    Some(name.trim_end_matches(['.', '-', '_']).to_string())
}

fn sorted_unique(v: &[String]) -> Vec<String> {
    let mut out = v.to_vec();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn claims() -> IdClaims {
        IdClaims {
            oid: "00000000-0000-0000-0000-0000000000a1".into(),
            tid: TENANT.into(),
            upn: "Adele.Vance@Contoso.com".into(),
            name: "Adele Vance".into(),
            email: Some("adele@contoso.com".into()),
            roles: vec!["Kiosk.Technician".into(), "Kiosk.User".into()],
            groups: vec!["g2".into(), "g1".into()],
        }
    }

    fn rules() -> ProvisioningRules {
        ProvisioningRules {
            allowed_tenants: vec![TENANT.into()],
            allowed_upn_domains: vec!["contoso.com".into()],
            username_rule: UsernameRule::UpnLocalPart,
            username_prefix: "msp-".into(),
            technician_role: "Kiosk.Technician".into(),
        }
    }

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, h, 0, 0).unwrap()
    }

    #[test]
    fn creates_a_new_user() {
        let p = provision(None, &claims(), None, &rules(), t(9)).unwrap();
        assert_eq!(p.outcome, Outcome::Created);
        let u = p.user;
        assert_eq!(u.username, "msp-adele.vance");
        assert_eq!(u.tenant_id, TENANT);
        assert_eq!(u.display_name, "Adele Vance");
        assert_eq!(u.mail.as_deref(), Some("adele@contoso.com"));
        assert_eq!(u.groups, ["g1", "g2"]);
        assert!(u.is_technician);
        assert_eq!(u.status, UserStatus::Active);
        assert_eq!(
            (u.created_at, u.updated_at, u.last_online_at),
            (t(9), t(9), t(9))
        );
    }

    #[test]
    fn update_keeps_created_at() {
        let first = provision(None, &claims(), None, &rules(), t(9))
            .unwrap()
            .user;
        let mut c = claims();
        c.name = "Adele V.".into();
        c.roles = vec!["Kiosk.User".into()];
        let p = provision(Some(&first), &c, None, &rules(), t(12)).unwrap();
        assert_eq!(p.outcome, Outcome::Updated);
        assert_eq!(p.user.created_at, t(9));
        assert_eq!(p.user.updated_at, t(12));
        assert_eq!(p.user.last_online_at, t(12));
        assert_eq!(p.user.display_name, "Adele V.");
        assert!(!p.user.is_technician);
    }

    #[test]
    fn same_claims_are_unchanged_but_online_time_moves() {
        let first = provision(None, &claims(), None, &rules(), t(9))
            .unwrap()
            .user;
        let mut c = claims();
        c.roles.reverse(); // order of claims does not matter
        let p = provision(Some(&first), &c, None, &rules(), t(15)).unwrap();
        assert_eq!(p.outcome, Outcome::Unchanged);
        assert_eq!(p.user.updated_at, t(9));
        assert_eq!(p.user.last_online_at, t(15));
    }

    #[test]
    fn revoked_user_signing_in_again_is_reactivated() {
        let mut first = provision(None, &claims(), None, &rules(), t(9))
            .unwrap()
            .user;
        first.status = UserStatus::NeedsSignIn;
        let p = provision(Some(&first), &claims(), None, &rules(), t(10)).unwrap();
        assert_eq!(p.outcome, Outcome::Updated);
        assert_eq!(p.user.status, UserStatus::Active);
    }

    #[test]
    fn disallowed_tenant_and_domain() {
        let mut c = claims();
        c.tid = "11111111-1111-1111-1111-111111111111".into();
        assert!(matches!(
            provision(None, &c, None, &rules(), t(9)),
            Err(ProvisioningError::TenantNotAllowed { .. })
        ));
        let mut c = claims();
        c.upn = "eve@fabrikam.com".into();
        assert_eq!(
            provision(None, &c, None, &rules(), t(9)),
            Err(ProvisioningError::DomainNotAllowed {
                domain: "fabrikam.com".into()
            })
        );
        // Tenant comparison ignores case; empty lists allow everyone.
        let mut c = claims();
        c.tid = TENANT.to_ascii_uppercase();
        assert!(provision(None, &c, None, &rules(), t(9)).is_ok());
        let open = ProvisioningRules {
            allowed_tenants: vec![],
            allowed_upn_domains: vec![],
            ..rules()
        };
        let mut c = claims();
        c.upn = "eve@fabrikam.com".into();
        c.tid = "11111111-1111-1111-1111-111111111111".into();
        assert!(provision(None, &c, None, &open, t(9)).is_ok());
    }

    #[test]
    fn mail_nickname_rule_with_prefix() {
        let r = ProvisioningRules {
            username_rule: UsernameRule::MailNickname,
            ..rules()
        };
        let profile = DirectoryProfile {
            mail_nickname: Some("AdeleV".into()),
            ..Default::default()
        };
        let p = provision(None, &claims(), Some(&profile), &r, t(9)).unwrap();
        assert_eq!(p.user.username, "msp-adelev");
        // Without a profile (offline) it falls back to the UPN local part.
        let p = provision(None, &claims(), None, &r, t(9)).unwrap();
        assert_eq!(p.user.username, "msp-adele.vance");
    }

    #[test]
    fn upn_local_part_rule_sanitises() {
        let r = ProvisioningRules {
            allowed_upn_domains: vec![],
            ..rules()
        };
        let cases = [
            ("Adele.Vance@contoso.com", "msp-adele.vance"),
            (
                "adele_fabrikam.com#EXT#@contoso.onmicrosoft.com",
                "msp-adele_fabrikam.com",
            ),
            ("José Müller@contoso.com", "msp-jos_m_ller"),
            ("--x--@contoso.com", "msp-x"),
        ];
        for (upn, want) in cases {
            let mut c = claims();
            c.upn = upn.into();
            let p = provision(None, &c, None, &r, t(9)).unwrap();
            assert_eq!(p.user.username, want, "{upn}");
        }
        let no_prefix = ProvisioningRules {
            username_prefix: String::new(),
            ..r.clone()
        };
        assert_eq!(
            provision(None, &claims(), None, &no_prefix, t(9))
                .unwrap()
                .user
                .username,
            "adele.vance"
        );
        let mut c = claims();
        c.upn = "ü@contoso.com".into();
        assert!(matches!(
            provision(None, &c, None, &r, t(9)),
            Err(ProvisioningError::NoUsername { .. })
        ));
        c.upn = "no-at-sign".into();
        assert!(matches!(
            provision(None, &c, None, &r, t(9)),
            Err(ProvisioningError::InvalidUpn { .. })
        ));
    }

    #[test]
    fn display_name_and_mail_fall_back_to_profile() {
        let mut c = claims();
        c.name = " ".into();
        c.email = None;
        let profile = DirectoryProfile {
            mail_nickname: None,
            mail: Some("adele.vance@contoso.com".into()),
            display_name: Some("Adele (Finance)".into()),
        };
        let u = provision(None, &c, Some(&profile), &rules(), t(9))
            .unwrap()
            .user;
        assert_eq!(u.display_name, "Adele (Finance)");
        assert_eq!(u.mail.as_deref(), Some("adele.vance@contoso.com"));
    }

    #[test]
    fn other_oid_is_refused() {
        let first = provision(None, &claims(), None, &rules(), t(9))
            .unwrap()
            .user;
        let mut c = claims();
        c.oid = "someone-else".into();
        assert!(matches!(
            provision(Some(&first), &c, None, &rules(), t(9)),
            Err(ProvisioningError::OidMismatch { .. })
        ));
    }

    #[test]
    fn a_refresh_updates_roles_groups_and_the_technician_flag() {
        let first = provision(None, &claims(), None, &rules(), t(9))
            .unwrap()
            .user;
        assert!(first.is_technician);
        let mut c = claims();
        c.roles = vec!["Kiosk.User".into()];
        c.groups = vec!["g3".into()];
        let p = refresh(&first, &c, &rules(), t(10)).unwrap();
        assert_eq!(p.outcome, Outcome::Updated);
        assert!(!p.user.is_technician, "the role was taken away in Entra");
        assert_eq!(p.user.roles, vec!["Kiosk.User".to_string()]);
        assert_eq!(p.user.groups, vec!["g3".to_string()]);
        assert_eq!((p.user.updated_at, p.user.last_online_at), (t(10), t(10)));
        assert_eq!(p.user.username, first.username);

        let again = refresh(&p.user, &c, &rules(), t(11)).unwrap();
        assert_eq!(again.outcome, Outcome::Unchanged);
        assert_eq!(
            (again.user.updated_at, again.user.last_online_at),
            (t(10), t(11))
        );
    }

    #[test]
    fn a_refresh_for_another_identity_or_tenant_is_refused() {
        let first = provision(None, &claims(), None, &rules(), t(9))
            .unwrap()
            .user;
        let mut c = claims();
        c.oid = "00000000-0000-0000-0000-0000000000b2".into();
        assert!(matches!(
            refresh(&first, &c, &rules(), t(10)),
            Err(ProvisioningError::OidMismatch { .. })
        ));
        let mut c = claims();
        c.tid = "11111111-1111-1111-1111-111111111111".into();
        assert!(matches!(
            refresh(&first, &c, &rules(), t(10)),
            Err(ProvisioningError::TenantMismatch { .. })
        ));
    }
}
