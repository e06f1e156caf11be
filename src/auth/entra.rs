//! Entra client facade: discovery + device code + refresh + ID-token validation.
//!
//! [`EntraClient`] is what the rest of the kiosk talks to. It is cheap to clone (one `Arc`) and
//! safe to share between tasks. Every [`TokenSet`] it returns carries ID-token claims that were
//! validated against the tenant's keys. [`EntraError::panel_message`] turns any failure into a
//! short sentence for a walk-up user; the `Display` text (with AADSTS code and correlation id) is
//! for the log.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oauth2::{RefreshToken, Scope, TokenResponse};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::device_code::{
    self, DeviceCodeError, EntraErrorBody, EntraOAuthClient, EntraTokenResponse,
};
use super::discovery::{self, DiscoveryError, OidcMetadata};
use super::id_token::{IdTokenError, IdTokenValidator};
use super::{DeviceCodeOffer, TokenSet};

pub use super::device_code::PendingDeviceCode;

/// Timeouts of the client's HTTP connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    pub connect: Option<Duration>,
    pub request: Option<Duration>,
    /// How long an idle keep-alive connection is kept for the next poll or refresh.
    pub pool_idle: Option<Duration>,
}

impl Default for HttpTimeouts {
    /// A hung Entra must not freeze a sign-in forever.
    fn default() -> Self {
        HttpTimeouts {
            connect: Some(Duration::from_secs(10)),
            request: Some(Duration::from_secs(30)),
            pool_idle: Some(Duration::from_secs(90)),
        }
    }
}

impl HttpTimeouts {
    /// No timers at all: for tests on tokio's paused clock, which jumps to the next pending
    /// timer whenever the runtime waits on the network, so a request timeout would fire there.
    pub fn none() -> Self {
        HttpTimeouts {
            connect: None,
            request: None,
            pool_idle: None,
        }
    }
}

/// Where and as whom to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraSettings {
    /// `https://login.microsoftonline.com` (or a national cloud, or the loopback simulator).
    pub authority_host: Url,
    /// Tenant id, verified domain, or `organizations`.
    pub tenant: String,
    /// Application (client) id of the kiosk's public-client app registration.
    pub client_id: String,
    /// E.g. `openid profile email offline_access User.Read Files.ReadWrite`.
    pub scopes: Vec<String>,
    /// Tenant ids allowed to sign in; empty = any tenant the authority admits.
    pub allowed_tenants: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EntraError {
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error(transparent)]
    DeviceCode(#[from] DeviceCodeError),
    #[error("Entra refused the refresh token: {0}")]
    RefreshRejected(Box<EntraErrorBody>),
    #[error("cannot reach Entra's token endpoint")]
    Network(#[source] reqwest::Error),
    #[error("Entra's token endpoint sent an unexpected answer: {0}")]
    UnexpectedResponse(String),
    #[error("the token response is not acceptable: {0}")]
    IdToken(#[from] IdTokenError),
    #[error("the token response carries no ID token although `openid` was requested")]
    MissingIdToken,
}

/// AADSTS codes of Conditional Access device and app requirements (managed, compliant, approved
/// app, proof-up): the panel cannot satisfy them, whatever the user does.
const DEVICE_POLICY_CODES: &[u32] = &[53000, 53001, 53002, 53004, 530032, 530034];

impl EntraError {
    /// The Entra error body behind this error, if Entra answered with one.
    pub fn entra_error(&self) -> Option<&EntraErrorBody> {
        match self {
            EntraError::DeviceCode(e) => e.entra_error(),
            EntraError::RefreshRejected(b) => Some(b.as_ref()),
            _ => None,
        }
    }

    /// The AADSTS number Entra gave, e.g. 50057 for a disabled account.
    pub fn aadsts_code(&self) -> Option<u32> {
        match self {
            EntraError::Discovery(DiscoveryError::Status { aadsts, .. }) => *aadsts,
            _ => self.entra_error().and_then(EntraErrorBody::aadsts_code),
        }
    }

    /// True when the grant itself is dead (refresh token revoked, expired, user disabled or
    /// deleted): a new interactive sign-in is the only way forward.
    pub fn is_invalid_grant(&self) -> bool {
        self.entra_error()
            .is_some_and(|b| b.error == "invalid_grant")
    }

    /// How long Entra asked this client to wait (HTTP 429 `Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            EntraError::DeviceCode(DeviceCodeError::Throttled { retry_after, .. }) => *retry_after,
            _ => None,
        }
    }

    /// True when retrying later might succeed (network down, Entra hiccup).
    pub fn is_transient(&self) -> bool {
        match self {
            EntraError::Network(_) | EntraError::UnexpectedResponse(_) => true,
            EntraError::DeviceCode(e) => e.is_transient(),
            EntraError::Discovery(DiscoveryError::Network { .. }) => true,
            EntraError::IdToken(IdTokenError::JwksNetwork { .. }) => true,
            _ => false,
        }
    }

    /// A short, plain sentence for the person at the panel. Never contains codes or ids; each
    /// reason a sign-in can end has its own sentence, so a user (or the technician they call)
    /// knows which way forward there is.
    pub fn panel_message(&self) -> crate::i18n::Msg {
        use crate::i18n::Msg;
        let code = self.aadsts_code();
        match (self, code) {
            (EntraError::DeviceCode(DeviceCodeError::Declined(_)), _) => {
                Msg::new("Sign-in was declined on the phone.")
            }
            (EntraError::DeviceCode(DeviceCodeError::AccessDenied(_)), Some(65004)) => {
                Msg::new("You did not accept the permissions this panel needs, so the sign-in stopped. Sign in again and accept them, or ask IT.")
            }
            (EntraError::DeviceCode(DeviceCodeError::AccessDenied(_)), _) => {
                Msg::new("Microsoft denied access for this sign-in. Ask IT if you need this panel.")
            }
            (EntraError::DeviceCode(DeviceCodeError::Expired(_)), _) => {
                Msg::new("The sign-in code expired. Start again to get a new code.")
            }
            (EntraError::DeviceCode(DeviceCodeError::BadVerificationCode(_)), _) => {
                Msg::new("The sign-in code is no longer valid. Start again to get a new code.")
            }
            (_, Some(53003)) => {
                Msg::new("Your organisation's access policy blocked Microsoft sign-in on this panel. Use your card or PIN.")
            }
            (_, Some(530035)) => {
                Msg::new("Your organisation's security defaults block this kind of Microsoft sign-in. Use your card or PIN, or ask IT.")
            }
            (_, Some(c)) if DEVICE_POLICY_CODES.contains(&c) => {
                Msg::new("Your organisation only allows Microsoft sign-in from managed devices. Use your card or PIN.")
            }
            (_, Some(50105)) => {
                Msg::new("Your account has not been given access to this printer. Ask IT to assign you to the kiosk app.")
            }
            (_, Some(65001)) => {
                Msg::new("Your organisation has not approved this printer's access to your files yet. Ask IT to grant consent.")
            }
            (_, Some(50057)) => Msg::new("Your account is disabled. Please contact your administrator."),
            (_, Some(50034)) => Msg::new("Your account was not found in your organisation."),
            (_, Some(50053)) => Msg::new("Your account is locked. Try again later or contact your administrator."),
            (_, Some(50076 | 50079 | 50158)) => {
                Msg::new("Your organisation requires an extra verification this panel cannot do. Use your card or PIN.")
            }
            (_, Some(700016 | 7000112 | 7000218 | 700025)) => {
                Msg::new("This panel is not set up correctly for Microsoft sign-in. Please ask a technician.")
            }
            (_, Some(90002)) => {
                Msg::new("This panel is set up for an organisation that does not exist. Please ask a technician.")
            }
            (EntraError::IdToken(IdTokenError::TenantNotAllowed(_)), _) => {
                Msg::new("Accounts from your organisation cannot sign in on this panel.")
            }
            (EntraError::DeviceCode(DeviceCodeError::Redirected { .. }), _) => {
                Msg::new("Microsoft sign-in is not set up correctly on this panel. Please ask a technician.")
            }
            _ if self.is_invalid_grant() => {
                Msg::new("Your Microsoft sign-in has expired. Please sign in with Microsoft again.")
            }
            _ if self.is_transient() => {
                Msg::new("Cannot reach Microsoft right now. Check the network or use your card or PIN.")
            }
            (EntraError::Discovery(_), _) => {
                Msg::new("Microsoft sign-in is not available on this panel right now. Please ask a technician.")
            }
            _ => Msg::new("Sign-in failed. Please try again or ask a technician."),
        }
    }
}

struct Inner {
    settings: EntraSettings,
    http: reqwest::Client,
    metadata: OidcMetadata,
    oauth: EntraOAuthClient,
    validator: IdTokenValidator,
}

/// Talks to one Entra authority for one app registration. Clones share everything.
#[derive(Clone)]
pub struct EntraClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EntraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraClient")
            .field(
                "authority_host",
                &self.inner.settings.authority_host.as_str(),
            )
            .field("tenant", &self.inner.settings.tenant)
            .field("client_id", &self.inner.settings.client_id)
            .finish_non_exhaustive()
    }
}

impl EntraClient {
    /// Runs discovery and prepares the client. Needs the network.
    pub async fn connect(settings: EntraSettings) -> Result<Self, EntraError> {
        Self::connect_with(settings, HttpTimeouts::default()).await
    }

    /// [`EntraClient::connect`] with chosen timeouts.
    pub async fn connect_with(
        settings: EntraSettings,
        timeouts: HttpTimeouts,
    ) -> Result<Self, EntraError> {
        let mut builder = reqwest::Client::builder()
            // Token requests must never follow redirects (SSRF, credential leaks).
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(timeouts.pool_idle)
            .user_agent(concat!("mfp-kiosk/", env!("CARGO_PKG_VERSION")));
        if let Some(t) = timeouts.connect {
            builder = builder.connect_timeout(t);
        }
        if let Some(t) = timeouts.request {
            builder = builder.timeout(t);
        }
        let http = builder.build().map_err(EntraError::HttpClient)?;
        let metadata =
            discovery::discover(&http, &settings.authority_host, &settings.tenant).await?;
        let oauth = device_code::oauth_client(
            &settings.client_id,
            &metadata.device_authorization_endpoint,
            &metadata.token_endpoint,
        );
        let validator = IdTokenValidator::from_metadata(
            http.clone(),
            &metadata,
            settings.client_id.clone(),
            &settings.allowed_tenants,
        );
        tracing::info!(
            tenant = %settings.tenant,
            issuer = %metadata.issuer,
            "Entra authority discovered"
        );
        Ok(EntraClient {
            inner: Arc::new(Inner {
                settings,
                http,
                metadata,
                oauth,
                validator,
            }),
        })
    }

    pub fn settings(&self) -> &EntraSettings {
        &self.inner.settings
    }

    pub fn metadata(&self) -> &OidcMetadata {
        &self.inner.metadata
    }

    /// The validator this client uses, for callers holding an ID token of their own.
    pub fn id_token_validator(&self) -> &IdTokenValidator {
        &self.inner.validator
    }

    /// Asks Entra for a user code to show on the panel.
    pub async fn start_device_code(&self) -> Result<PendingDeviceCode, EntraError> {
        Ok(device_code::start(
            &self.inner.oauth,
            &self.inner.http,
            &self.inner.settings.scopes,
        )
        .await?)
    }

    /// Polls until the user finishes on their phone. Cancel by dropping the future.
    pub async fn wait_for_device_code(
        &self,
        pending: PendingDeviceCode,
    ) -> Result<TokenSet, EntraError> {
        let result = match device_code::poll_until_done(
            &self.inner.http,
            &self.inner.metadata.token_endpoint,
            &self.inner.settings.client_id,
            &pending,
        )
        .await
        {
            Ok(response) => self.token_set_from(response).await,
            Err(err) => Err(EntraError::DeviceCode(err)),
        };
        match &result {
            Ok(_) => tracing::info!("device-code sign-in completed"),
            // The AADSTS code and correlation id are what Microsoft support and the tenant's
            // sign-in log are searched by.
            Err(err) => tracing::warn!(
                aadsts = err.aadsts_code().map(|c| format!("AADSTS{c}")).unwrap_or_default(),
                correlation_id = err.entra_error().and_then(|b| b.correlation_id.as_deref()).unwrap_or(""),
                error = %err,
                "device-code sign-in failed"
            ),
        }
        result
    }

    /// Checks the app registration without a user: requests a device code and polls for it once.
    /// Entra authenticates the client before it looks at the code, so `authorization_pending`
    /// proves the registration allows public-client device-code sign-in; a misconfigured one
    /// answers `invalid_client` (AADSTS7000218) or `unauthorized_client` (AADSTS700016). The
    /// code is abandoned and simply expires.
    pub async fn probe_device_code(&self) -> Result<DeviceCodeOffer, EntraError> {
        let pending = self.start_device_code().await?;
        match device_code::poll_once_for(
            &self.inner.http,
            &self.inner.metadata.token_endpoint,
            &self.inner.settings.client_id,
            &pending,
        )
        .await
        {
            device_code::PollOutcome::Pending | device_code::PollOutcome::SlowDown => {
                Ok(pending.offer().clone())
            }
            device_code::PollOutcome::Done(_) => Err(EntraError::UnexpectedResponse(
                "a device code nobody approved was redeemed".into(),
            )),
            device_code::PollOutcome::Failed(err) => Err(EntraError::DeviceCode(err)),
        }
    }

    /// Redeems a refresh token. Entra rotates it: store the new one from the result.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, EntraError> {
        let rt = RefreshToken::new(refresh_token.expose_secret().to_string());
        let response = self
            .inner
            .oauth
            .exchange_refresh_token(&rt)
            .add_scopes(self.inner.settings.scopes.iter().cloned().map(Scope::new))
            .request_async(&device_code::NoRedirectHttp(self.inner.http.clone()))
            .await
            .map_err(|e| match device_code::map_oauth_error("token", e) {
                Ok(body) => EntraError::RefreshRejected(Box::new(body)),
                Err(DeviceCodeError::Network { source, .. }) => EntraError::Network(source),
                Err(
                    other @ (DeviceCodeError::Redirected { .. }
                    | DeviceCodeError::HttpStatus { .. }
                    | DeviceCodeError::Throttled { .. }),
                ) => EntraError::DeviceCode(other),
                Err(other) => EntraError::UnexpectedResponse(other.to_string()),
            });
        let response = match response {
            Ok(r) => r,
            Err(err) => {
                tracing::warn!(
                    aadsts = err.aadsts_code().map(|c| format!("AADSTS{c}")).unwrap_or_default(),
                    error = %err,
                    "refresh failed"
                );
                return Err(err);
            }
        };
        self.token_set_from(response).await
    }

    async fn token_set_from(&self, response: EntraTokenResponse) -> Result<TokenSet, EntraError> {
        let wants_id_token = self.inner.settings.scopes.iter().any(|s| s == "openid");
        let id_claims = match response.extra_fields().id_token.as_deref() {
            Some(id_token) => Some(self.inner.validator.validate(id_token).await?),
            None if wants_id_token => return Err(EntraError::MissingIdToken),
            None => None,
        };
        // Entra always sends expires_in; without it assume the shortest lifetime it issues.
        let lifetime = response
            .expires_in()
            .unwrap_or(Duration::from_secs(60 * 60));
        Ok(TokenSet {
            access_token: SecretString::from(response.access_token().secret().as_str()),
            refresh_token: response
                .refresh_token()
                .map(|rt| SecretString::from(rt.secret().as_str())),
            expires_at: SystemTime::now() + lifetime,
            id_claims,
        })
    }
}

/// A refresh refused with Entra's error body for `error` and AADSTS `code` (unit tests).
#[cfg(test)]
pub(crate) fn rejected_for_test(error: &str, code: u32) -> EntraError {
    EntraError::RefreshRejected(Box::new(EntraErrorBody {
        error: error.into(),
        error_description: format!("AADSTS{code}: x"),
        error_codes: vec![code],
        timestamp: None,
        trace_id: None,
        correlation_id: None,
        suberror: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::rejected_for_test as rejected;

    #[test]
    fn panel_messages_are_plain_and_specific() {
        assert_eq!(
            rejected("invalid_grant", 50057).panel_message(),
            "Your account is disabled. Please contact your administrator."
        );
        assert!(rejected("invalid_grant", 53003)
            .panel_message()
            .contains("card or PIN"));
        assert!(rejected("invalid_grant", 700082)
            .panel_message()
            .contains("sign in with Microsoft again"));
        assert!(rejected("unauthorized_client", 700016)
            .panel_message()
            .contains("technician"));
        for err in [rejected("invalid_grant", 50057), rejected("x", 1)] {
            let msg = err.panel_message();
            assert!(
                !msg.contains("AADSTS") && !msg.contains("invalid_grant"),
                "{msg}"
            );
        }
    }

    #[test]
    fn invalid_grant_and_codes_are_exposed() {
        let err = rejected("invalid_grant", 50057);
        assert!(err.is_invalid_grant());
        assert_eq!(err.aadsts_code(), Some(50057));
        assert!(!rejected("invalid_client", 7000218).is_invalid_grant());
        assert!(!EntraError::MissingIdToken.is_invalid_grant());
    }
}
