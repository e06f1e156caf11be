//! The service PIN: checks what was typed on the service-PIN pad against `service.pin_hash`,
//! with its own panel-wide lockout (doubling delay, stored so a restart does not lift it) and
//! its own audit actor, `service-pin`.
//!
//! The hash is a plain argon2id PHC string, not peppered with the device key like users' PINs:
//! one `service.pin_hash` line is meant to be rolled out to a whole fleet of panels.

use std::time::Duration;

use super::*;
use crate::i18n::Msg;

/// The audit actor of everything done through the service PIN.
pub const SERVICE_PIN_ACTOR: &str = "service-pin";

impl Services {
    /// `Ok` when `entered` is the service PIN and the pad is not paused; otherwise the message
    /// for the pad. Every attempt is audited. Blocking (argon2): call from `spawn_blocking`.
    pub fn check_service_pin(&self, entered: &SecretString) -> Result<(), ServiceError> {
        let s = &self.config.service;
        let Some(phc) = &s.pin_hash else {
            return Err(ServiceError::PinWrong(Msg::new(
                "No service PIN is set up on this panel.",
            )));
        };
        // One check at a time: two fast submissions must not both read the same count.
        let _one = self
            .service_pin_gate
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = self.now();
        let mut lockout = pin::PanelLockout::restore(
            s.pin_max_attempts,
            Duration::from_secs(s.pin_lockout_base_secs),
            self.store.service_pin_lockout()?,
        );
        if let Err(left) = lockout.check(now) {
            self.audit(SERVICE_PIN_ACTOR, "service_pin", "panel", "refused: paused");
            return Err(ServiceError::PinWrong(
                Msg::new("Too many wrong service PINs. Try again in {} s.")
                    .arg(left.as_secs().max(1)),
            ));
        }
        if pin::verify_pin(phc, entered)? {
            self.audit(SERVICE_PIN_ACTOR, "service_pin", "panel", "ok");
            return Ok(());
        }
        let lock = lockout.record_failure(now);
        self.store.save_service_pin_lockout(&lockout.state(), now)?;
        let detail = match lock {
            Some(d) => format!("refused: wrong PIN, pad paused {} s", d.as_secs()),
            None => "refused: wrong PIN".to_string(),
        };
        self.audit(SERVICE_PIN_ACTOR, "service_pin", "panel", &detail);
        Err(ServiceError::PinWrong(match lock {
            Some(d) => {
                Msg::new("Wrong service PIN. The pad is paused for {} s.").arg(d.as_secs().max(1))
            }
            None => Msg::new("Wrong service PIN."),
        }))
    }
}
