//! What a failed token refresh means for the offline identity cache: the one place that decides
//! whether Entra *could not be asked* (the cache may decide, within the offline grace) or Entra
//! *answered no* (it may not).
//!
//! Only a failure that says nothing about the user falls back to the cache: the network, a
//! timeout, a gateway 5xx, 408 or 429 (see [`EntraError::is_transient`]). Everything else is a
//! verdict: an OAuth error body (`invalid_grant`, `interaction_required`, `invalid_client`, …),
//! any other 4xx, a refreshed ID token that fails validation, a missing or unreadable cached
//! refresh token. Treating one of those as "offline" would let a disabled account, a revoked
//! session or a token minted for someone else keep signing in for the whole grace period.
//!
//! Which refusals are about the *user* and which about the *panel's app registration*:
//!
//! | Entra answer | Verdict | Why |
//! |---|---|---|
//! | network, timeout, 5xx, 408, 429; `temporarily_unavailable`, `server_error` | [`RefreshVerdict::Unreachable`] | Entra was not asked, or said "not now" |
//! | `invalid_client` (AADSTS7000218 public client flows off, 700025), `unauthorized_client` (AADSTS700016 app not found), `unsupported_grant_type`, AADSTS90002 tenant not found | [`RefreshVerdict::PanelRefused`] | no user can refresh; marking users would punish them for the panel's config |
//! | `invalid_grant`: AADSTS50057 disabled, 50034 not in the directory, 50173 / 50133 revoked (password reset, admin revocation), 70008 / 700082 expired, 70043 expired by CA sign-in frequency, 70000 spent or foreign token | [`RefreshVerdict::UserMustSignIn`] | the grant is dead |
//! | `interaction_required`, `consent_required`, `login_required` (AADSTS50076/50079 MFA, 50158, 65001 consent, 53003 CA) | [`RefreshVerdict::UserMustSignIn`] | only an interactive sign-in can satisfy it |
//! | any other OAuth error or 4xx, an ID token that fails validation, no ID token | [`RefreshVerdict::UserMustSignIn`] | an answer we can't trust is not a reason to trust the cache |
//!
//! Of the user refusals, two say the *account* is gone and lead to revocation (cards, PIN and
//! refresh token wiped, queued jobs failed: [`AccountGone`]): AADSTS50057 (disabled) and
//! AADSTS50034 (not in the directory: deleted). Every other `invalid_grant` — tokens revoked by
//! a password reset or an administrator (50173, 50133), expired (70008, 700082, 70043) — only
//! marks the identity as needing a Microsoft sign-in: it can't sign in by card or PIN until
//! then, but its badge stays bound, since people reset their passwords far more often than
//! they leave.
//!
//! Sources: Microsoft identity platform "AADSTS error codes" reference and "Refresh tokens in
//! the Microsoft identity platform" (revocation, 90-day inactivity), RFC 6749 §5.2 (error
//! codes), OpenID Connect Core §3.1.2.6 (`interaction_required`, `login_required`,
//! `consent_required`).

use super::entra::EntraError;

/// What a failed refresh tells the panel about the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshVerdict {
    /// Entra could not be asked: the offline cache decides, within the grace period.
    Unreachable,
    /// Entra refused this user's grant, or answered something we can't trust: no offline
    /// fallback; the identity needs a new Microsoft sign-in.
    UserMustSignIn,
    /// Entra refused the panel's app registration itself: no offline fallback either (the
    /// registration is broken or was deleted), but the users are not marked.
    PanelRefused,
}

/// OAuth errors that mean the server could not answer now.
const BUSY_ERRORS: &[&str] = &["temporarily_unavailable", "server_error"];

/// OAuth errors that mean the client (the panel's app registration) is at fault.
const CLIENT_ERRORS: &[&str] = &[
    "invalid_client",
    "unauthorized_client",
    "unsupported_grant_type",
];

/// AADSTS codes that mean the app registration or tenant configuration is at fault whatever
/// the `error` field says.
const CLIENT_CODES: &[u32] = &[700016, 7000218, 700025, 7000112, 90002];

/// Entra says the account itself can no longer sign in: the identity is revoked locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountGone {
    /// AADSTS50057: the account is disabled.
    Disabled,
    /// AADSTS50034: the account is not in the directory (deleted).
    Deleted,
}

impl AccountGone {
    pub fn of(err: &EntraError) -> Option<AccountGone> {
        if !err.is_invalid_grant() {
            return None;
        }
        match err.aadsts_code()? {
            50057 => Some(AccountGone::Disabled),
            50034 => Some(AccountGone::Deleted),
            _ => None,
        }
    }

    /// The reason recorded in the audit log and on failed jobs.
    pub fn reason(self) -> &'static str {
        match self {
            AccountGone::Disabled => "account disabled in Entra (AADSTS50057)",
            AccountGone::Deleted => "account deleted from Entra (AADSTS50034)",
        }
    }
}

impl RefreshVerdict {
    /// The verdict on a failed refresh.
    pub fn of(err: &EntraError) -> RefreshVerdict {
        // RFC 6749 §5.2 / §4.1.2.1: `temporarily_unavailable` and `server_error` are Entra
        // saying "not now", not "no".
        let busy = err
            .entra_error()
            .is_some_and(|b| BUSY_ERRORS.contains(&b.error.as_str()));
        if err.is_transient() || busy {
            return RefreshVerdict::Unreachable;
        }
        let client_fault = err
            .entra_error()
            .is_some_and(|b| CLIENT_ERRORS.contains(&b.error.as_str()))
            || err.aadsts_code().is_some_and(|c| CLIENT_CODES.contains(&c));
        if client_fault {
            RefreshVerdict::PanelRefused
        } else {
            RefreshVerdict::UserMustSignIn
        }
    }

    /// Whether the offline identity cache may stand in for Entra.
    pub fn allows_offline(self) -> bool {
        self == RefreshVerdict::Unreachable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::device_code::DeviceCodeError;
    use crate::auth::entra::rejected_for_test as answered;
    use crate::auth::id_token::IdTokenError;

    fn status(status: u16) -> EntraError {
        EntraError::DeviceCode(DeviceCodeError::HttpStatus {
            endpoint: "token",
            status,
        })
    }

    #[test]
    fn only_disabled_and_deleted_accounts_are_gone() {
        assert_eq!(
            AccountGone::of(&answered("invalid_grant", 50057)),
            Some(AccountGone::Disabled)
        );
        assert_eq!(
            AccountGone::of(&answered("invalid_grant", 50034)),
            Some(AccountGone::Deleted)
        );
        for code in [50173, 50133, 70008, 700082, 70043, 70000] {
            assert_eq!(
                AccountGone::of(&answered("invalid_grant", code)),
                None,
                "{code}"
            );
        }
        assert_eq!(
            AccountGone::of(&answered("interaction_required", 50057)),
            None
        );
        assert_eq!(AccountGone::of(&status(503)), None);
    }

    #[test]
    fn only_transport_failures_allow_the_offline_cache() {
        let cases: Vec<(EntraError, RefreshVerdict)> = vec![
            (status(500), RefreshVerdict::Unreachable),
            (status(503), RefreshVerdict::Unreachable),
            (status(429), RefreshVerdict::Unreachable),
            (status(408), RefreshVerdict::Unreachable),
            (status(400), RefreshVerdict::UserMustSignIn),
            (status(401), RefreshVerdict::UserMustSignIn),
            (status(403), RefreshVerdict::UserMustSignIn),
            (status(404), RefreshVerdict::UserMustSignIn),
            (
                answered("invalid_grant", 50057),
                RefreshVerdict::UserMustSignIn,
            ),
            (
                answered("invalid_grant", 50034),
                RefreshVerdict::UserMustSignIn,
            ),
            (
                answered("invalid_grant", 700082),
                RefreshVerdict::UserMustSignIn,
            ),
            (
                answered("interaction_required", 50076),
                RefreshVerdict::UserMustSignIn,
            ),
            (
                answered("consent_required", 65001),
                RefreshVerdict::UserMustSignIn,
            ),
            (
                answered("temporarily_unavailable", 90006),
                RefreshVerdict::Unreachable,
            ),
            (
                answered("server_error", 500011),
                RefreshVerdict::Unreachable,
            ),
            (
                answered("invalid_request", 900144),
                RefreshVerdict::UserMustSignIn,
            ),
            (
                answered("invalid_client", 7000218),
                RefreshVerdict::PanelRefused,
            ),
            (
                answered("unauthorized_client", 700016),
                RefreshVerdict::PanelRefused,
            ),
            (
                answered("invalid_request", 90002),
                RefreshVerdict::PanelRefused,
            ),
            (
                EntraError::IdToken(IdTokenError::TenantNotAllowed("t".into())),
                RefreshVerdict::UserMustSignIn,
            ),
            (EntraError::MissingIdToken, RefreshVerdict::UserMustSignIn),
        ];
        for (err, want) in cases {
            let got = RefreshVerdict::of(&err);
            assert_eq!(got, want, "{err}");
            assert_eq!(got.allows_offline(), want == RefreshVerdict::Unreachable);
        }
    }
}
