//! Identities known to this panel: the local user record, provisioning rules (JIT creation from an
//! Entra sign-in), and the offline-grace policy.

use chrono::{DateTime, Utc};

pub mod local;
pub mod provisioning;
pub mod trust_clock;

/// Lifecycle of a cached identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Can sign in with card or PIN.
    Active,
    /// The cached refresh token was rejected (`invalid_grant`): a new Microsoft sign-in is needed.
    NeedsSignIn,
    /// Disabled or deleted in Entra: cards, PIN and tokens were wiped.
    Revoked,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::NeedsSignIn => "needs_signin",
            UserStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(UserStatus::Active),
            "needs_signin" => Some(UserStatus::NeedsSignIn),
            "revoked" => Some(UserStatus::Revoked),
            _ => None,
        }
    }
}

/// One locally cached user, keyed by the Entra object id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub oid: String,
    pub tenant_id: String,
    pub upn: String,
    pub display_name: String,
    pub mail: Option<String>,
    /// Local username derived by the configured rule (e.g. `msp-adele`).
    pub username: String,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub is_technician: bool,
    pub status: UserStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Last time Entra confirmed this identity (sign-in or successful refresh); drives offline grace.
    pub last_online_at: DateTime<Utc>,
}

/// How a user signs in. Fixed when the user is created: the store refuses to change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    /// Known to Entra (Microsoft sign-in or directory sync).
    Entra,
    /// Created on the panel for someone without an Entra account; no Microsoft token.
    Local,
}

impl LoginMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::Entra => "entra",
            LoginMethod::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "entra" => Some(LoginMethod::Entra),
            "local" => Some(LoginMethod::Local),
            _ => None,
        }
    }
}
