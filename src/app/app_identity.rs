//! The panel's application identity as a token source for the outbox: jobs of
//! `delivery = "app"` workflows upload with an app-only token from the client-credentials
//! grant, using the same credential as the directory sync ([`crate::directory::credential`]).
//! The credential is loaded at the first app delivery (a panel without app workflows never
//! needs one); the token lives in memory only and is renewed before it expires or when Graph
//! refuses it.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::config::Config;
use crate::directory::credential::{AppCredential, AppTokens};
use crate::graph::{BoxedTokenFuture, TokenError, TokenSource};
use crate::workflow::app_delivery;

/// Lazily built app-only tokens. A failed load is retried at the next delivery (the
/// technician may have put the key in place meanwhile).
pub struct AppIdentity {
    config: Config,
    tokens: OnceCell<AppTokens>,
}

impl AppIdentity {
    pub fn new(config: Config) -> Arc<AppIdentity> {
        Arc::new(AppIdentity {
            config,
            tokens: OnceCell::new(),
        })
    }

    async fn tokens(&self) -> Result<&AppTokens, TokenError> {
        self.tokens
            .get_or_try_init(|| async {
                AppCredential::load(&self.config)
                    .and_then(|c| AppTokens::new(&self.config, c))
                    .map_err(|e| TokenError {
                        message: app_delivery::no_credential(&e.to_string()),
                        permanent: false,
                    })
            })
            .await
    }
}

impl TokenSource for AppIdentity {
    fn token(&self, refresh: bool) -> BoxedTokenFuture<'_> {
        Box::pin(async move {
            let tokens = self.tokens().await?;
            if refresh {
                tokens.invalidate();
            }
            // Never permanent: no user's sign-in is at stake, and a refused credential is
            // fixed by the administrator while the scan waits.
            tokens.token().await.map_err(|e| TokenError {
                message: e.to_string(),
                permanent: false,
            })
        })
    }
}
