//! Command-line SCIM tools:
//! - `scim token`: a new random bearer token, printed once, with the `[scim] token_hash` line;
//! - `scim serve`: the SCIM endpoint without the panel (same code, same store), for an
//!   administrator testing a tenant's provisioning and for tests. Its first line is JSON:
//!   `{"base_url": ...}`; with `--demo` it serves on a free loopback port over the demo's
//!   state directory and adds a one-time `token`.

use std::io::Write;
use std::sync::Arc;

use crate::config::Config;
use crate::scim::{self, auth, Options, ScimStartError};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ScimCliError {
    #[error(transparent)]
    Start(#[from] ScimStartError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error("state directory: {0}")]
    StateDir(#[from] crate::fsmode::FsModeError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
}

type Result<T> = std::result::Result<T, ScimCliError>;

fn line(out: &mut dyn Write, text: impl std::fmt::Display) -> Result<()> {
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(ScimCliError::Output)
}

/// `scim token`.
pub fn token_command(out: &mut dyn Write) -> Result<i32> {
    let (token, hash) = auth::generate();
    line(
        out,
        format!("token (shown once; paste it as the Secret Token in Entra): {token}"),
    )?;
    line(out, "add to the [scim] section of the config:")?;
    line(out, format!("token_hash = \"{}\"", hash.to_config()))?;
    Ok(0)
}

/// `scim serve`: runs until interrupted.
pub fn serve_command(mut config: Config, demo: bool, out: &mut dyn Write) -> Result<i32> {
    config.device.state_dir = config.state_dir();
    crate::fsmode::private_dir(&config.device.state_dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ScimCliError::Runtime)?;
    let state = config.device.state_dir.clone();
    let store = Store::open(&state.join("kiosk.sqlite3"))?;
    let key = Arc::new(crate::secrets::DeviceKey::load_or_create(
        &state.join("device.key"),
    )?);
    let (opts, token) = if demo {
        let (token, hash) = auth::generate();
        let opts = Options {
            listen: ([127, 0, 0, 1], 0).into(),
            tls: None,
            token: hash,
            max_body: config.scim.max_body_bytes(),
            rate_per_minute: config.scim.rate_limit_per_minute,
        };
        (opts, Some(token))
    } else {
        (Options::from_config(&config)?, None)
    };
    rt.block_on(async {
        let running = scim::start(&config, opts, store, key, |oid| {
            tracing::info!(oid, "SCIM revoked a user")
        })?;
        let mut first = serde_json::json!({ "base_url": running.base_url });
        if let Some(t) = token {
            first["token"] = serde_json::Value::String(t);
        }
        line(out, first)?;
        let _ = tokio::signal::ctrl_c().await;
        running.task.abort();
        Ok(0)
    })
}
