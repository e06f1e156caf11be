//! `mfp-kiosk service-pin`: asks for a new service PIN twice on the terminal (not echoed) and
//! prints the `[service] pin_hash` line to put in the config. The PIN follows the same rules as
//! users' PINs (digits, no runs or repeats), 6 to 16 digits; the hash is argon2id without the
//! device key's pepper, so the same line works on every panel of a fleet.

use std::io::{BufRead, IsTerminal, Write};

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::cli_cards::EchoOff;
use crate::auth::pin::{hash_pin, PinError, PinPolicy};

/// Shortest service PIN the command accepts: it guards every badge on the panel.
pub const MIN_SERVICE_PIN: usize = 6;
/// Longest, as the panel's service-PIN pad takes it.
pub const MAX_SERVICE_PIN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ServicePinError {
    #[error("cannot read the PIN: {0}")]
    Input(#[source] std::io::Error),
    #[error("no PIN given")]
    Empty,
    #[error("the two PINs differ; nothing was written")]
    Mismatch,
    #[error("not a usable service PIN: {0}")]
    Policy(#[source] PinError),
    #[error("cannot write: {0}")]
    Output(#[source] std::io::Error),
}

/// Reads the PIN twice from `input` (prompts on stderr when it is a terminal) and writes the
/// config line to `out`.
pub fn service_pin_command(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), ServicePinError> {
    let tty = std::io::stdin().is_terminal();
    let first = read_pin(input, tty, "New service PIN (not shown): ")?;
    PinPolicy {
        min_length: MIN_SERVICE_PIN,
        max_length: MAX_SERVICE_PIN,
    }
    .check(&first)
    .map_err(ServicePinError::Policy)?;
    let second = read_pin(input, tty, "The same PIN again: ")?;
    if first.expose_secret() != second.expose_secret() {
        return Err(ServicePinError::Mismatch);
    }
    let phc = hash_pin(&first).map_err(ServicePinError::Policy)?;
    writeln!(
        out,
        "# Put this in the [service] section of the panel's config:"
    )
    .and_then(|()| writeln!(out, "pin_hash = \"{phc}\""))
    .map_err(ServicePinError::Output)
}

pub(crate) fn read_pin(
    input: &mut dyn BufRead,
    tty: bool,
    prompt: &str,
) -> Result<SecretString, ServicePinError> {
    let _echo_off = if tty {
        eprint!("{prompt}");
        EchoOff::new()
    } else {
        None
    };
    let mut buf = Zeroizing::new(String::new());
    input.read_line(&mut buf).map_err(ServicePinError::Input)?;
    if tty {
        eprintln!();
    }
    let pin = buf.trim_end_matches(['\r', '\n']);
    if pin.is_empty() {
        return Err(ServicePinError::Empty);
    }
    Ok(SecretString::from(pin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> Result<String, ServicePinError> {
        let mut out = Vec::new();
        service_pin_command(&mut input.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn prints_a_hash_the_config_accepts_and_that_verifies() {
        let printed = run("739164\n739164\n").unwrap();
        let line = printed.lines().find(|l| l.starts_with("pin_hash")).unwrap();
        let phc = line
            .trim_start_matches("pin_hash = \"")
            .trim_end_matches('"');
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(!printed.contains("739164"));
        assert!(crate::auth::pin::verify_pin(phc, &SecretString::from("739164")).unwrap());
        let cfg = crate::config::ServiceConfig {
            pin_hash: Some(phc.into()),
            ..Default::default()
        };
        assert!(cfg.validate().is_ok(), "the config takes the printed line");
    }

    #[test]
    fn mismatch_weak_and_empty_are_refused() {
        assert!(matches!(
            run("739164\n739165\n"),
            Err(ServicePinError::Mismatch)
        ));
        assert!(matches!(
            run("123456\n123456\n"),
            Err(ServicePinError::Policy(_))
        ));
        assert!(matches!(
            run("7391\n7391\n"),
            Err(ServicePinError::Policy(_))
        ));
        assert!(matches!(run("\n"), Err(ServicePinError::Empty)));
    }
}
