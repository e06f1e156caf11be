//! Where the process's log lines go, set up once by `main` ([`init`]).
//!
//! - Under systemd, when stderr is still the journal stream systemd connected (`JOURNAL_STREAM`
//!   names its device and inode, as `systemd.exec(5)` describes), records go to the journal
//!   natively through `tracing-journald`: the level becomes the journal priority (so `journalctl
//!   -p warning` works) and each tracing field becomes a journal field (`journalctl
//!   JOB=…`), under the identifier `mfp-kiosk`. A child that inherited the variable but has its
//!   stderr redirected (`mfp-kiosk doctor | less` from a unit's shell) writes text instead.
//! - Otherwise text goes to stderr, with ANSI colours only when stderr is a terminal and
//!   `NO_COLOR` is not set: a pipe, a file or the journal's stderr capture never sees an escape
//!   sequence.
//!
//! `RUST_LOG` filters as usual (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The journal identifier (`SYSLOG_IDENTIFIER`) of every record.
pub const IDENTIFIER: &str = "mfp-kiosk";

/// Where [`init`] sent the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Native journal records.
    Journal,
    /// Text on stderr; `ansi` tells whether colours are on.
    Stderr { ansi: bool },
    /// stderr is the journal stream but the journal socket refused us: text on stderr, which
    /// systemd still captures line by line.
    StderrJournalUnreachable { error: String },
}

/// Installs the global subscriber. Call once, early in `main`.
pub fn init() -> LogTarget {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let journal_error = if stderr_is_journal_stream() {
        match tracing_journald::layer() {
            Ok(layer) => {
                tracing_subscriber::registry()
                    .with(filter())
                    .with(layer.with_syslog_identifier(IDENTIFIER.to_string()))
                    .init();
                return LogTarget::Journal;
            }
            Err(e) => Some(e.to_string()),
        }
    } else {
        None
    };
    let ansi = journal_error.is_none()
        && std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    match journal_error {
        Some(error) => {
            tracing::warn!(%error, "the journal socket is not reachable; logging to stderr");
            LogTarget::StderrJournalUnreachable { error }
        }
        None => LogTarget::Stderr { ansi },
    }
}

/// True when `JOURNAL_STREAM` names the file stderr is connected to now.
fn stderr_is_journal_stream() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = parse_journal_stream(&stream.to_string_lossy()) else {
        return false;
    };
    stderr_identity().is_some_and(|id| id == (dev, ino))
}

/// `DEVICE:INODE`, both decimal, as systemd writes it.
fn parse_journal_stream(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

#[cfg(unix)]
fn stderr_identity() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn stderr_identity() -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_values_parse_as_systemd_writes_them() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8:12345\n"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8"), None);
        assert_eq!(parse_journal_stream("x:1"), None);
        assert_eq!(parse_journal_stream(":"), None);
    }
}
