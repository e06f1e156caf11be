//! Authentication: Microsoft Entra ID (discovery, device code, refresh, ID-token validation),
//! PIN hashing and lockout, card number normalisation.
//!
//! The types here are shared by the Entra client (which produces them) and by identity
//! provisioning and the app glue (which consume them).

use std::time::SystemTime;

use secrecy::SecretString;

pub mod card;
pub mod device_code;
pub mod discovery;
pub mod entra;
pub mod id_token;
pub mod pin;
pub mod refresh_verdict;

/// Claims of an ID token whose signature, issuer, audience, lifetime and tenant were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    /// Entra object id of the user (`oid`): the stable key of the local user record.
    pub oid: String,
    /// Tenant id (`tid`).
    pub tid: String,
    /// `preferred_username`, normally the UPN.
    pub upn: String,
    /// `name`.
    pub name: String,
    /// `email`, when the token carries it.
    pub email: Option<String>,
    /// App roles assigned to the user for this application (`roles`).
    pub roles: Vec<String>,
    /// Group object ids (`groups`), when the app registration emits them.
    pub groups: Vec<String>,
}

/// What a successful token request yields. Access and refresh tokens never leave memory in clear:
/// `SecretString` redacts `Debug` and zeroizes on drop.
#[derive(Debug)]
pub struct TokenSet {
    pub access_token: SecretString,
    /// Present when `offline_access` was granted; Entra rotates it on every use.
    pub refresh_token: Option<SecretString>,
    pub expires_at: SystemTime,
    /// Validated claims of the ID token, when the response carried one.
    pub id_claims: Option<IdClaims>,
}

/// What the panel shows while a device-code sign-in is pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCodeOffer {
    /// The short code the user types on their phone (not a secret on its own: it is useless
    /// without the user's own credentials, and it has to be shown).
    pub user_code: String,
    /// Where the user goes (Entra: `https://microsoft.com/devicelogin`). The QR code carries this.
    pub verification_uri: String,
    /// Seconds the code stays valid, as announced by the server.
    pub expires_in_secs: u64,
    /// Polling interval announced by the server.
    pub interval_secs: u64,
}
