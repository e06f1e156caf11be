//! Command-line card and audit tools for technicians and scripts, over the same
//! [`crate::admin::cards`] API as the service menu:
//! - `cards list [--user UPN]`: cards with masked suffix, bound when and by whom, last use;
//! - `cards enroll --user UPN --number N|- [--move]`: binds a card number (`-` reads it from
//!   stdin, without echo on a terminal, so it stays out of shell history and `ps`);
//! - `cards revoke --user UPN (--suffix S | --all)`;
//! - `audit [--user UPN] [--action A] [--since 7d|24h|YYYY-MM-DD] [--json]`, newest first.
//!
//! Actions are audited with actor `cli`. Output shows masked suffixes only, never a number.

use std::io::{BufRead, IsTerminal, Write};

use chrono::{DateTime, NaiveDate, Utc};
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::services::{ServiceError, Services};
use crate::admin::cards::{Actor, CardAdminError, CardInfo, Named, Revoke};
use crate::config::Config;
use crate::store::{AuditEntry, AuditQuery, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CardsCliError {
    #[error("cannot create the state directory {0}: {1}")]
    StateDir(String, #[source] std::io::Error),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Admin(#[from] CardAdminError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "--since must be a number of days or hours (`7d`, `24h`) or a date (`2025-03-01`), \
         got `{0}`"
    )]
    BadSince(String),
    #[error("no card number on stdin: pipe it in, or type it and press Enter")]
    NoNumber,
    #[error("cannot read the card number from stdin: {0}")]
    Input(#[source] std::io::Error),
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
}

type Result<T> = std::result::Result<T, CardsCliError>;

fn services(mut config: Config) -> Result<Services> {
    // As the panel does at start: "" means the default state directory.
    config.device.state_dir = config.state_dir();
    std::fs::create_dir_all(&config.device.state_dir)
        .map_err(|e| CardsCliError::StateDir(config.device.state_dir.display().to_string(), e))?;
    let factory = super::scanner_factory(&config, false);
    Ok(Services::new(config, factory)?)
}

fn line(out: &mut dyn Write, text: impl std::fmt::Display) -> Result<()> {
    writeln!(out, "{text}").map_err(CardsCliError::Output)
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "never".to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn card_line(owner: &Named, c: &CardInfo) -> String {
    format!(
        "{:<40}  {:<10}  {:<19}  {:<30}  {}",
        owner.to_string(),
        c.masked,
        when(Some(c.bound_at)),
        c.bound_by.to_string(),
        when(c.last_used_at)
    )
}

/// `cards list [--user UPN]`.
pub fn list_command(config: Config, user: Option<&str>, out: &mut dyn Write) -> Result<i32> {
    let services = services(config)?;
    let admin = services.cards();
    let owners = match user {
        Some(who) => {
            let u = admin.find_user(who)?;
            let cards = admin.list(&u)?;
            vec![(Named::from(&u), cards)]
        }
        None => admin.list_all()?,
    };
    line(
        out,
        format!(
            "{:<40}  {:<10}  {:<19}  {:<30}  last used (UTC)",
            "user", "card", "bound (UTC)", "bound by"
        ),
    )?;
    let mut n = 0;
    for (owner, cards) in &owners {
        for c in cards {
            line(out, card_line(owner, c))?;
            n += 1;
        }
    }
    line(out, format!("{n} card(s)"))?;
    Ok(0)
}

/// The card number of `--number`: the argument itself, or with `-` one line of stdin (read
/// without echo when stdin is a terminal).
pub fn card_number(arg: String) -> Result<SecretString> {
    let arg = Zeroizing::new(arg);
    if arg.as_str() != "-" {
        return Ok(SecretString::from(arg.as_str()));
    }
    let stdin = std::io::stdin();
    let _echo_off = if stdin.is_terminal() {
        eprint!("Card number (not shown): ");
        EchoOff::new()
    } else {
        None
    };
    let mut buf = Zeroizing::new(String::new());
    stdin
        .lock()
        .read_line(&mut buf)
        .map_err(CardsCliError::Input)?;
    if stdin.is_terminal() {
        eprintln!();
    }
    let number = buf.trim_end_matches(['\r', '\n']);
    if number.trim().is_empty() {
        return Err(CardsCliError::NoNumber);
    }
    Ok(SecretString::from(number))
}

/// Terminal echo switched off for as long as this lives.
pub(crate) struct EchoOff(libc::termios);

impl EchoOff {
    pub(crate) fn new() -> Option<EchoOff> {
        // SAFETY: termios is plain data; tcgetattr fills it for fd 0 or fails (then unused).
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut t) } != 0 {
            return None;
        }
        let saved = t;
        t.c_lflag &= !libc::ECHO;
        // SAFETY: `t` is a valid termios obtained above.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) } != 0 {
            return None;
        }
        Some(EchoOff(saved))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0);
        }
    }
}

/// `cards enroll --user UPN --number N [--move]`.
pub fn enroll_command(
    config: Config,
    user: &str,
    number: &SecretString,
    allow_move: bool,
    out: &mut dyn Write,
) -> Result<i32> {
    let services = services(config)?;
    let admin = services.cards();
    let u = admin.find_user(user)?;
    let e = admin.enroll(&u, number, allow_move, &Actor::Cli)?;
    if e.already_bound {
        line(
            out,
            format!(
                "card {} was already {}'s; binding renewed",
                e.masked, e.user
            ),
        )?;
    } else {
        line(out, format!("card {} bound to {}", e.masked, e.user))?;
    }
    if let Some(from) = &e.moved_from {
        line(out, format!("moved from {from}"))?;
    }
    for r in &e.replaced {
        line(
            out,
            format!(
                "replaced {r}: {} may have at most {} card(s) (identity.max_cards_per_user)",
                e.user.display_name, e.max_per_user
            ),
        )?;
    }
    Ok(0)
}

/// `cards revoke --user UPN (--suffix S | --all)`.
pub fn revoke_command(
    config: Config,
    user: &str,
    which: &Revoke,
    out: &mut dyn Write,
) -> Result<i32> {
    let services = services(config)?;
    let admin = services.cards();
    let u = admin.find_user(user)?;
    let revoked = admin.revoke(&u, which, &Actor::Cli)?;
    let who = Named::from(&u);
    if revoked.is_empty() {
        line(out, format!("{who} had no cards"))?;
    }
    for m in &revoked {
        line(out, format!("revoked {m} of {who}"))?;
    }
    Ok(0)
}

/// Parses `--since`: `7d`, `24h`, `30m` back from `now`, or a date (midnight UTC).
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let bad = || CardsCliError::BadSince(s.to_string());
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc());
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| bad())?;
    let span = match unit {
        "d" => chrono::Duration::try_days(n),
        "h" => chrono::Duration::try_hours(n),
        "m" => chrono::Duration::try_minutes(n),
        _ => None,
    }
    .filter(|_| n >= 0)
    .ok_or_else(bad)?;
    now.checked_sub_signed(span).ok_or_else(bad)
}

/// Options of `audit`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuditArgs {
    /// Only entries about or by this user (UPN, username or object id).
    #[arg(long)]
    pub user: Option<String>,
    /// Only this action, e.g. card_enroll, card_revoke, sign_in.
    #[arg(long)]
    pub action: Option<String>,
    /// Only entries since: `7d`, `24h` or a date `YYYY-MM-DD` (UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// A JSON array instead of columns.
    #[arg(long)]
    pub json: bool,
    /// Entries per page.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// The next page: entries older than this id.
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
}

/// `audit`: newest first; text columns or a JSON array.
pub fn audit_command(config: Config, args: &AuditArgs, out: &mut dyn Write) -> Result<i32> {
    let services = services(config)?;
    let mut q = AuditQuery {
        actions: args.action.iter().cloned().collect(),
        before_id: args.before,
        limit: args.limit,
        ..Default::default()
    };
    if let Some(s) = &args.since {
        q.since = Some(parse_since(s, Utc::now())?);
    }
    if let Some(who) = &args.user {
        // A user the panel no longer knows is still found by what the log recorded.
        q.involving.push(who.clone());
        if let Ok(u) = services.cards().find_user(who) {
            q.involving.push(format!("technician:{}", u.oid));
            q.involving.push(u.upn.clone());
            q.involving.push(u.oid);
        }
    }
    let entries = services.store.query_audit(&q)?;
    if args.json {
        let rows: Vec<serde_json::Value> = entries.iter().map(entry_json).collect();
        line(out, serde_json::Value::from(rows))?;
        return Ok(0);
    }
    line(
        out,
        format!(
            "{:>6}  {:<19}  {:<24}  {:<16}  {:<36}  detail",
            "id", "at (UTC)", "actor", "action", "subject"
        ),
    )?;
    for e in &entries {
        line(
            out,
            format!(
                "{:>6}  {:<19}  {:<24}  {:<16}  {:<36}  {}",
                e.id,
                e.at.format("%Y-%m-%d %H:%M:%S"),
                e.actor,
                e.action,
                e.subject.as_deref().unwrap_or("-"),
                e.detail.as_deref().unwrap_or("")
            ),
        )?;
    }
    match entries.last() {
        Some(last) if entries.len() == q.limit => line(
            out,
            format!(
                "{} entries; older ones: --before {}",
                entries.len(),
                last.id
            ),
        )?,
        _ => line(out, format!("{} entries", entries.len()))?,
    }
    Ok(0)
}

fn entry_json(e: &AuditEntry) -> serde_json::Value {
    serde_json::json!({
        "id": e.id,
        "at": crate::store::ts(e.at),
        "actor": e.actor,
        "action": e.action,
        "subject": e.subject,
        "detail": e.detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        let now = DateTime::parse_from_rfc3339("2025-03-08T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let t = |s: &str| parse_since(s, now).map(|t| t.to_rfc3339());
        assert_eq!(t("7d").unwrap(), "2025-03-01T12:00:00+00:00");
        assert_eq!(t("24h").unwrap(), "2025-03-07T12:00:00+00:00");
        assert_eq!(t("2025-03-01").unwrap(), "2025-03-01T00:00:00+00:00");
        for bad in ["", "7", "d", "7w", "-1d", "2025-13-01", "99999999999999d"] {
            let err = t(bad).unwrap_err().to_string();
            assert!(err.contains("--since"), "{bad}: {err}");
        }
    }
}
