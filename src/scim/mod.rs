//! SCIM 2.0 service provider (RFC 7643, RFC 7644, issue 11) that Microsoft Entra's
//! provisioning service drives, through its on-premises provisioning agent, to create, update,
//! deactivate and delete the panel's users and groups. Off by default (`[scim]`).
//!
//! - [`filter`]: filter and attribute-path parser, value-filter evaluation;
//! - [`patch`]: PATCH operations as Entra sends them (both behaviours);
//! - [`resource`]: schemas, document checks, serialisation, attribute projection;
//! - [`discovery`]: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`, ListResponse;
//! - [`provider`]: what each request does to the panel, through [`crate::directory::apply`];
//! - [`auth`]: bearer token (hash only, constant-time) and per-client rate limit;
//! - [`server`]: HTTP/1.1 and TLS, the order of checks, routing;
//! - [`writer`]: every write on one thread behind a bounded queue (429 and `Retry-After`
//!   when full), so provisioning bursts leave the panel's sign-in alone;
//! - [`error`]: RFC 7644 §3.12 error responses.
//!
//! [`start`] runs it inside the panel (and for `mfp-kiosk scim serve`): same code, same store.

pub mod auth;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod patch;
pub mod provider;
pub mod resource;
pub mod server;
pub mod writer;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::identity::provisioning::ProvisioningRules;
use crate::secrets::DeviceKey;
use crate::store::Store;

pub use error::ScimError;
pub use provider::Provider;

#[derive(Debug, thiserror::Error)]
pub enum ScimStartError {
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    #[error("scim.token_hash: {0}")]
    Token(#[from] auth::AuthError),
    #[error(transparent)]
    Server(#[from] server::ServerError),
    #[error("cannot open the SCIM endpoint's database connections: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot start the SCIM endpoint's threads: {0}")]
    Thread(std::io::Error),
}

/// How to run the endpoint; [`Options::from_config`] for the panel.
pub struct Options {
    pub listen: SocketAddr,
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    pub token: auth::TokenHash,
    pub max_body: usize,
    pub rate_per_minute: u32,
}

impl Options {
    pub fn from_config(config: &Config) -> Result<Options, ScimStartError> {
        let s = &config.scim;
        let hash = s
            .token_hash
            .as_deref()
            .ok_or_else(|| ConfigError::Missing {
                key: "scim.token_hash".into(),
                hint: "run `mfp-kiosk scim token` and paste the line it prints".into(),
            })?;
        Ok(Options {
            listen: s.listen_addr()?,
            tls: s.tls_certificate_file.clone().zip(s.tls_key_file.clone()),
            token: auth::TokenHash::parse(hash)?,
            max_body: s.max_body_bytes(),
            rate_per_minute: s.rate_limit_per_minute,
        })
    }
}

/// A running endpoint. It runs on a runtime of its own whose threads, like the writer's,
/// run at background priority ([`crate::priority`]): a burst of provisioning requests takes
/// the CPU the panel leaves idle, not the walk-up user's. Dropping it stops the endpoint.
pub struct Running {
    pub addr: SocketAddr,
    pub base_url: String,
    pub task: tokio::task::JoinHandle<()>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Without waiting: the endpoint may be dropped from within the panel's runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The endpoint's worker threads: HTTP and JSON (SQLite work runs on its blocking pool and the
/// writer thread).
const WORKER_THREADS: usize = 2;

/// Binds the endpoint and starts it on its own runtime; revoked users are reported to
/// `on_revoked` (the panel ends their session).
pub fn start(
    config: &Config,
    opts: Options,
    store: Store,
    key: Arc<DeviceKey>,
    on_revoked: impl Fn(&str) + Send + Sync + 'static,
) -> Result<Running, ScimStartError> {
    let tls = match &opts.tls {
        Some((cert, key)) => Some(server::tls_acceptor(cert, key)?),
        None => None,
    };
    let listener = server::bind(opts.listen)?;
    let addr = listener
        .local_addr()
        .map_err(|source| server::ServerError::Bind {
            addr: opts.listen,
            source,
        })?;
    let base_url = server::base_url(addr, tls.is_some());
    // Reader connections of its own: the panel's reads never wait for a background thread.
    let store = store.with_own_readers()?;
    let provider = Provider::new(
        store,
        key,
        config.directory.card_pipeline()?,
        ProvisioningRules::from_config(&config.entra),
        config.entra.tenant.clone(),
        base_url.clone(),
    )
    .on_revoked(on_revoked);
    let provider = Arc::new(provider);
    let writer = writer::Writer::start(provider.clone(), writer::QUEUE_DEPTH)
        .map_err(ScimStartError::Thread)?;
    let scim = Arc::new(server::Scim {
        writer,
        provider,
        token: opts.token,
        limiter: auth::RateLimiter::new(opts.rate_per_minute),
        max_body: opts.max_body,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("scim")
        .on_thread_start(crate::priority::lower_this_thread)
        .enable_all()
        .build()
        .map_err(ScimStartError::Thread)?;
    tracing::info!(%addr, tls = opts.tls.is_some(), "SCIM endpoint listening");
    let task = runtime.spawn(server::serve(listener, tls, scim, std::future::pending()));
    Ok(Running {
        addr,
        base_url,
        task,
        runtime: Some(runtime),
    })
}
