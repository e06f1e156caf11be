//! `mfp-kiosk local-users ...`: local accounts from a shell, over the same
//! [`crate::admin::local_users`] API as the service menu, audited with actor `cli`:
//! - `add --name NAME [--email E] [--expires YYYY-MM-DD] [--workflow ID]...` prints the new id;
//! - `list [--json]`;
//! - `extend ID --expires YYYY-MM-DD|never`, `disable ID`, `enable ID`, `delete ID`;
//! - `set-pin ID`: the PIN typed twice (not echoed on a terminal), as `service-pin` does.
//!
//! Without a PIN, the person sets it on the panel at their first badge tap.

use std::io::{BufRead, IsTerminal, Write};

use chrono::NaiveDate;
use secrecy::ExposeSecret;

use super::cli_service::{read_pin, ServicePinError};
use super::services::{ServiceError, Services};
use crate::admin::cards::Actor;
use crate::admin::local_users::{CreateLocal, LocalUserError};
use crate::config::Config;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LocalUsersCliError {
    #[error("cannot create the state directory {0}: {1}")]
    StateDir(String, #[source] std::io::Error),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Admin(#[from] LocalUserError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("--expires must be a date as YYYY-MM-DD (or `never` for extend), got `{0}`")]
    BadDate(String),
    #[error(transparent)]
    Pin(#[from] ServicePinError),
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
}

type Result<T> = std::result::Result<T, LocalUsersCliError>;

/// What `local-users` was asked to do.
#[derive(Debug, Clone)]
pub enum Action {
    Add {
        name: String,
        email: Option<String>,
        expires: Option<String>,
        workflows: Vec<String>,
    },
    List {
        json: bool,
    },
    Extend {
        id: String,
        expires: String,
    },
    Disable {
        id: String,
    },
    Enable {
        id: String,
    },
    Delete {
        id: String,
    },
    SetPin {
        id: String,
    },
}

fn services(mut config: Config) -> Result<Services> {
    config.device.state_dir = config.state_dir();
    std::fs::create_dir_all(&config.device.state_dir).map_err(|e| {
        LocalUsersCliError::StateDir(config.device.state_dir.display().to_string(), e)
    })?;
    let factory = super::scanner_factory(&config, false);
    Ok(Services::new(config, factory)?)
}

fn date(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| LocalUsersCliError::BadDate(s.into()))
}

fn line(out: &mut dyn Write, text: impl std::fmt::Display) -> Result<()> {
    writeln!(out, "{text}").map_err(LocalUsersCliError::Output)
}

/// Runs `action`; `input` is where `set-pin` reads the PIN.
pub fn command(
    config: Config,
    action: Action,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<i32> {
    let services = services(config)?;
    let admin = services.local_users();
    let actor = Actor::Cli;
    match action {
        Action::Add {
            name,
            email,
            expires,
            workflows,
        } => {
            let expires_on = expires.as_deref().map(date).transpose()?;
            let u = admin.create(
                &actor,
                &CreateLocal {
                    display_name: name,
                    email,
                    expires_on,
                    workflows,
                },
            )?;
            line(out, &u.oid)?;
            line(
                out,
                "# The PIN is set on the panel at the first badge tap, or with \
                 `mfp-kiosk local-users set-pin ID`.",
            )?;
        }
        Action::List { json } => {
            let all = admin.list()?;
            let has_pin = |oid: &str| services.has_pin(oid).unwrap_or(false);
            let cards = |oid: &str| services.store.cards_for_user(oid).map_or(0, |c| c.len());
            if json {
                let rows: Vec<_> = all
                    .iter()
                    .map(|(u, a)| {
                        serde_json::json!({
                            "id": u.oid,
                            "display_name": u.display_name,
                            "email": u.mail,
                            "expires_on": a.expires_on.map(|d| d.to_string()),
                            "workflows": a.workflows,
                            "disabled": a.disabled_at.is_some(),
                            "has_pin": has_pin(&u.oid),
                            "cards": cards(&u.oid),
                            "created_at": u.created_at.to_rfc3339(),
                            "created_by": a.created_by,
                        })
                    })
                    .collect();
                line(out, serde_json::Value::from(rows))?;
            } else {
                line(
                    out,
                    format!(
                        "{:<18}  {:<30}  {:<10}  {:<8}  {:<3}  {:<5}  workflows",
                        "id", "name", "expires", "state", "pin", "cards"
                    ),
                )?;
                for (u, a) in &all {
                    line(
                        out,
                        format!(
                            "{:<18}  {:<30}  {:<10}  {:<8}  {:<3}  {:<5}  {}",
                            u.oid,
                            u.display_name,
                            a.expires_on.map_or("never".into(), |d| d.to_string()),
                            if a.disabled_at.is_some() {
                                "disabled"
                            } else {
                                "active"
                            },
                            if has_pin(&u.oid) { "yes" } else { "no" },
                            cards(&u.oid),
                            if a.workflows.is_empty() {
                                "all app workflows".to_string()
                            } else {
                                a.workflows.join(",")
                            }
                        ),
                    )?;
                }
                line(out, format!("{} local account(s)", all.len()))?;
            }
        }
        Action::Extend { id, expires } => {
            let on = if expires.trim() == "never" {
                None
            } else {
                Some(date(&expires)?)
            };
            admin.extend(&actor, &id, on)?;
            line(out, format!("{id}: expiry set"))?;
        }
        Action::Disable { id } => {
            admin.set_disabled(&actor, &id, true)?;
            line(out, format!("{id}: disabled"))?;
        }
        Action::Enable { id } => {
            admin.set_disabled(&actor, &id, false)?;
            line(out, format!("{id}: enabled"))?;
        }
        Action::Delete { id } => {
            let name = admin.delete(&actor, &id)?;
            line(
                out,
                format!("{id}: {name} deleted with their badges and PIN"),
            )?;
        }
        Action::SetPin { id } => {
            // Refuse an unknown or Entra id before asking for anything.
            admin.find(&id)?;
            let tty = std::io::stdin().is_terminal();
            let first = read_pin(input, tty, "New PIN (not shown): ")?;
            let second = read_pin(input, tty, "The same PIN again: ")?;
            if first.expose_secret() != second.expose_secret() {
                return Err(ServicePinError::Mismatch.into());
            }
            admin.set_pin(&actor, &id, &first)?;
            line(out, format!("{id}: PIN set"))?;
        }
    }
    Ok(0)
}
