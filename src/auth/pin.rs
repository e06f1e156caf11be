//! PIN policy, argon2id hashing and verification, and the lockout schedule.
//!
//! PINs are short, so the hash alone is weak against an offline search; `PinHasher` therefore
//! takes an optional pepper (the device key's PIN sub-key) that argon2 mixes in as its secret.
//! Nothing here ever formats a PIN into an error or a log line.

use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

/// Longest lockout the doubling schedule reaches; past it every failure locks for this long.
pub const MAX_LOCKOUT: Duration = Duration::from_secs(3600);

/// Why a PIN was refused or could not be hashed. Messages never contain the PIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("the PIN must contain digits only")]
    NotDigits,
    #[error("the PIN must have at least {min} digits")]
    TooShort { min: usize },
    #[error("the PIN must have at most {max} digits")]
    TooLong { max: usize },
    #[error("the PIN must not repeat a single digit")]
    AllSame,
    #[error("the PIN must not be a run of consecutive digits such as 1234 or 9876")]
    Sequence,
    #[error("the stored PIN hash is not a valid PHC string")]
    MalformedHash,
    #[error("PIN hashing failed: {0}")]
    Hash(String),
}

impl PinError {
    /// What the panel says about a refused PIN (in the panel's language).
    pub fn panel_msg(&self) -> crate::i18n::Msg {
        use crate::i18n::Msg;
        match self {
            PinError::NotDigits => Msg::new("The PIN must contain digits only."),
            PinError::TooShort { min } => Msg::plural(
                "The PIN must have at least {n} digit.",
                "The PIN must have at least {n} digits.",
                *min as i64,
            ),
            PinError::TooLong { max } => Msg::plural(
                "The PIN must have at most {n} digit.",
                "The PIN must have at most {n} digits.",
                *max as i64,
            ),
            PinError::AllSame => Msg::new("The PIN must not repeat a single digit."),
            PinError::Sequence => {
                Msg::new("The PIN must not be a run of consecutive digits such as 1234 or 9876.")
            }
            PinError::MalformedHash | PinError::Hash(_) => {
                Msg::new("Something went wrong. Please try again or ask IT for help.")
            }
        }
    }
}

/// Which PINs a user may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinPolicy {
    pub min_length: usize,
    pub max_length: usize,
}

impl Default for PinPolicy {
    fn default() -> Self {
        PinPolicy {
            min_length: 4,
            max_length: 8,
        }
    }
}

impl PinPolicy {
    /// Checks a newly chosen PIN: digits only, length within bounds, not one repeated digit, not
    /// an ascending or descending run (wrapping, so 7890 and 2109 count as runs too).
    pub fn check(&self, pin: &SecretString) -> Result<(), PinError> {
        let pin = pin.expose_secret();
        if !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PinError::NotDigits);
        }
        let digits: Vec<u8> = pin.bytes().map(|b| b - b'0').collect();
        if digits.len() < self.min_length {
            return Err(PinError::TooShort {
                min: self.min_length,
            });
        }
        if digits.len() > self.max_length {
            return Err(PinError::TooLong {
                max: self.max_length,
            });
        }
        if digits.windows(2).all(|w| w[0] == w[1]) {
            return Err(PinError::AllSame);
        }
        let step_all = |step: u8| digits.windows(2).all(|w| (w[0] + step) % 10 == w[1]);
        if step_all(1) || step_all(9) {
            return Err(PinError::Sequence);
        }
        Ok(())
    }
}

/// OWASP's argon2id minimum memory: lower settings are refused by the config check.
pub const MIN_HASH_MEMORY_KIB: u32 = 19456;
/// A PIN check may take at most this much memory: a panel board may have 512 MB in all.
pub const MAX_HASH_MEMORY_KIB: u32 = 128 * 1024;

/// argon2id cost parameters (memory in KiB, iterations, lanes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinHashParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl Default for PinHashParams {
    /// OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane): about 50 ms on a panel-class ARM core.
    fn default() -> Self {
        PinHashParams {
            m_cost_kib: MIN_HASH_MEMORY_KIB,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

/// Hashes and verifies PINs with fixed parameters and an optional pepper.
pub struct PinHasher {
    params: PinHashParams,
    pepper: Option<Vec<u8>>,
}

impl std::fmt::Debug for PinHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinHasher")
            .field("params", &self.params)
            .field("peppered", &self.pepper.is_some())
            .finish()
    }
}

impl Drop for PinHasher {
    fn drop(&mut self) {
        if let Some(p) = self.pepper.as_mut() {
            zeroize::Zeroize::zeroize(p);
        }
    }
}

impl PinHasher {
    pub fn new(params: PinHashParams, pepper: Option<&[u8]>) -> PinHasher {
        PinHasher {
            params,
            pepper: pepper.map(<[u8]>::to_vec),
        }
    }

    fn argon2(&self) -> Result<Argon2<'_>, PinError> {
        let params = Params::new(
            self.params.m_cost_kib,
            self.params.t_cost,
            self.params.p_cost,
            None,
        )
        .map_err(|e| PinError::Hash(e.to_string()))?;
        match &self.pepper {
            Some(p) => Argon2::new_with_secret(p, Algorithm::Argon2id, Version::V0x13, params)
                .map_err(|e| PinError::Hash(e.to_string())),
            None => Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params)),
        }
    }

    /// Hashes a PIN with a fresh random salt; returns the PHC string to store.
    pub fn hash(&self, pin: &SecretString) -> Result<String, PinError> {
        let salt = SaltString::generate(&mut OsRng);
        let hash = self
            .argon2()?
            .hash_password(pin.expose_secret().as_bytes(), &salt)
            .map_err(|e| PinError::Hash(e.to_string()))?;
        Ok(hash.to_string())
    }

    /// Checks a PIN against a stored PHC string. The cost parameters come from the hash itself,
    /// so hashes made with older parameters still verify.
    pub fn verify(&self, phc: &str, pin: &SecretString) -> Result<bool, PinError> {
        let parsed = PasswordHash::new(phc).map_err(|_| PinError::MalformedHash)?;
        if parsed.algorithm != Algorithm::Argon2id.ident() {
            return Err(PinError::MalformedHash);
        }
        match self
            .argon2()?
            .verify_password(pin.expose_secret().as_bytes(), &parsed)
        {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(e) => Err(PinError::Hash(e.to_string())),
        }
    }
}

/// Hashes a PIN with the default parameters and no pepper.
pub fn hash_pin(pin: &SecretString) -> Result<String, PinError> {
    PinHasher::new(PinHashParams::default(), None).hash(pin)
}

/// Verifies a PIN hashed by [`hash_pin`].
pub fn verify_pin(phc: &str, pin: &SecretString) -> Result<bool, PinError> {
    PinHasher::new(PinHashParams::default(), None).verify(phc, pin)
}

/// How long to lock PIN entry after `failed_attempts` consecutive failures: nothing below
/// `max_attempts`, then `base`, doubling with every further failure, capped at [`MAX_LOCKOUT`].
pub fn lockout_delay(failed_attempts: u32, max_attempts: u32, base: Duration) -> Option<Duration> {
    if failed_attempts < max_attempts.max(1) {
        return None;
    }
    let doublings = failed_attempts - max_attempts.max(1);
    let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
    Some(base.saturating_mul(factor).min(MAX_LOCKOUT))
}

/// One panel-wide failure is forgiven for every this long without a new one: a busy panel's
/// occasional typo or new badge never adds up to a lock, a guessing run does.
pub const PANEL_DECAY: Duration = Duration::from_secs(10 * 60);

/// The persisted part of the panel-wide lockout (it must survive a crash and a restart by
/// systemd, or a guesser could lift it by making the panel restart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PanelLockoutState {
    pub failures: u32,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// Lockout of the whole panel: someone trying PINs for many users, or guessing badge numbers
/// on the pad or with a card emulator, is slowed down even though no single user reaches their
/// own limit. Failures decay ([`PANEL_DECAY`]); a success never resets the count, since it may
/// be an insider's own sign-in between guesses. Pure: the caller passes the (trusted) time in.
#[derive(Debug, Clone)]
pub struct PanelLockout {
    threshold: u32,
    base: Duration,
    state: PanelLockoutState,
}

impl PanelLockout {
    /// Locks after `threshold` failures on the panel, for `base`, doubling after.
    pub fn new(threshold: u32, base: Duration) -> Self {
        Self::restore(threshold, base, PanelLockoutState::default())
    }

    /// The lockout with a state read back from the store.
    pub fn restore(threshold: u32, base: Duration, state: PanelLockoutState) -> Self {
        PanelLockout {
            threshold: threshold.max(1),
            base,
            state,
        }
    }

    pub fn state(&self) -> PanelLockoutState {
        self.state
    }

    /// Failures still counted at `now`, after decay. A last failure "in the future" (the clock
    /// was set back) decays nothing.
    pub fn failures_at(&self, now: DateTime<Utc>) -> u32 {
        let Some(last) = self.state.last_failure_at else {
            return 0;
        };
        let idle = (now - last).to_std().unwrap_or(Duration::ZERO);
        let forgiven = idle.as_secs() / PANEL_DECAY.as_secs().max(1);
        let forgiven = u32::try_from(forgiven).unwrap_or(u32::MAX);
        self.state.failures.saturating_sub(forgiven)
    }

    /// `Err(remaining)` while the panel is locked.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), Duration> {
        let Some(until) = self.state.locked_until else {
            return Ok(());
        };
        let longest = chrono::Duration::from_std(MAX_LOCKOUT).unwrap_or(chrono::Duration::MAX);
        let until = crate::identity::trust_clock::clamp_lock_end(until, now, longest);
        match (until - now).to_std() {
            Ok(left) if !left.is_zero() => Err(left),
            _ => Ok(()),
        }
    }

    /// Counts a wrong PIN or an unknown badge; returns the lock it started, if any.
    pub fn record_failure(&mut self, now: DateTime<Utc>) -> Option<Duration> {
        let failures = self.failures_at(now).saturating_add(1);
        self.state.failures = failures;
        // Never move the decay origin backwards (a failure stamped by a clock set back).
        self.state.last_failure_at = Some(self.state.last_failure_at.map_or(now, |l| l.max(now)));
        let delay = lockout_delay(failures, self.threshold, self.base)?;
        let until = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        self.state.locked_until = Some(self.state.locked_until.map_or(until, |u| u.max(until)));
        Some(delay)
    }

    /// Takes back one failure that turned out to be legitimate: an unknown badge that its owner
    /// then linked with a Microsoft sign-in. Never lifts a running lock.
    pub fn forgive_one(&mut self, now: DateTime<Utc>) {
        // The decay up to `now` is folded into the count, so the origin moves to `now`.
        self.state.failures = self.failures_at(now).saturating_sub(1);
        self.state.last_failure_at = self.state.last_failure_at.map(|l| l.max(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn panel_lockout_grows_doubles_and_a_success_does_not_clear_it() {
        let t0 = at(0);
        let mut panel = PanelLockout::new(3, Duration::from_secs(30));
        assert_eq!(panel.record_failure(t0), None);
        assert_eq!(panel.record_failure(t0), None);
        assert!(panel.check(t0).is_ok());
        assert_eq!(panel.record_failure(t0), Some(Duration::from_secs(30)));
        assert_eq!(panel.check(at(10)), Err(Duration::from_secs(20)));
        assert!(panel.check(at(30)).is_ok(), "the lock ends on time");
        assert_eq!(
            panel.record_failure(at(31)),
            Some(Duration::from_secs(60)),
            "then doubles"
        );
        // There is no "success" to reset it: an insider's own sign-in between guesses changes
        // nothing, and the API has no way to say otherwise.
        assert_eq!(panel.failures_at(at(31)), 4);
    }

    #[test]
    fn panel_failures_decay_and_survive_a_restore() {
        let mut panel = PanelLockout::new(3, Duration::from_secs(30));
        panel.record_failure(at(0));
        panel.record_failure(at(0));
        let decay = PANEL_DECAY.as_secs() as i64;
        assert_eq!(panel.failures_at(at(decay - 1)), 2);
        assert_eq!(
            panel.failures_at(at(decay)),
            1,
            "one forgiven per decay period"
        );
        assert_eq!(panel.failures_at(at(2 * decay)), 0);
        // Restored from the store (after a crash), the count is the same.
        let back = PanelLockout::restore(3, Duration::from_secs(30), panel.state());
        assert_eq!(back.failures_at(at(1)), 2);
        let mut back = back;
        assert_eq!(back.record_failure(at(1)), Some(Duration::from_secs(30)));
        let restored = PanelLockout::restore(3, Duration::from_secs(30), back.state());
        assert_eq!(restored.check(at(11)), Err(Duration::from_secs(20)));
    }

    #[test]
    fn a_clock_set_back_neither_decays_nor_lifts_the_lock() {
        let mut panel = PanelLockout::new(1, Duration::from_secs(60));
        assert_eq!(
            panel.record_failure(at(1000)),
            Some(Duration::from_secs(60))
        );
        // The clock jumps back a day: the failure is "in the future", nothing decays, and the
        // lock, now ending far ahead, is held for at most the longest lock.
        let back = at(1000 - 86_400);
        assert_eq!(panel.failures_at(back), 1);
        let left = panel.check(back).unwrap_err();
        assert_eq!(left, MAX_LOCKOUT);
    }

    #[test]
    fn forgiving_takes_back_one_failure_but_not_the_lock() {
        let mut panel = PanelLockout::new(2, Duration::from_secs(60));
        panel.record_failure(at(0));
        panel.record_failure(at(0));
        assert!(panel.check(at(1)).is_err());
        panel.forgive_one(at(1));
        assert_eq!(panel.failures_at(at(1)), 1);
        assert!(panel.check(at(1)).is_err(), "the running lock stays");
    }

    fn s(v: &str) -> SecretString {
        SecretString::from(v)
    }

    #[test]
    fn policy_table() {
        let p = PinPolicy {
            min_length: 4,
            max_length: 8,
        };
        let cases: &[(&str, Result<(), PinError>)] = &[
            ("2580", Ok(())),
            ("13579", Ok(())),
            ("12345670", Ok(())),
            ("1357a", Err(PinError::NotDigits)),
            ("12 34", Err(PinError::NotDigits)),
            ("١٢٣٤", Err(PinError::NotDigits)),
            ("", Err(PinError::TooShort { min: 4 })),
            ("258", Err(PinError::TooShort { min: 4 })),
            ("258025802", Err(PinError::TooLong { max: 8 })),
            ("0000", Err(PinError::AllSame)),
            ("77777777", Err(PinError::AllSame)),
            ("1234", Err(PinError::Sequence)),
            ("9876", Err(PinError::Sequence)),
            ("7890", Err(PinError::Sequence)),
            ("3210", Err(PinError::Sequence)),
            ("23456789", Err(PinError::Sequence)),
        ];
        for (pin, want) in cases {
            assert_eq!(&p.check(&s(pin)), want, "pin {pin:?}");
        }
    }

    #[test]
    fn errors_never_contain_the_pin() {
        let p = PinPolicy::default();
        for pin in ["12a4", "123", "123456789", "5555", "4567"] {
            let msg = p.check(&s(pin)).unwrap_err().to_string();
            assert!(!msg.contains(pin), "{msg}");
        }
    }

    // Cheap parameters keep the unit tests fast; the defaults are exercised once below.
    fn fast(pepper: Option<&[u8]>) -> PinHasher {
        PinHasher::new(
            PinHashParams {
                m_cost_kib: 64,
                t_cost: 1,
                p_cost: 1,
            },
            pepper,
        )
    }

    #[test]
    fn hash_and_verify_with_defaults() {
        let phc = hash_pin(&s("2580")).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("2580"));
        assert!(verify_pin(&phc, &s("2580")).unwrap());
        assert!(!verify_pin(&phc, &s("2581")).unwrap());
    }

    #[test]
    fn salts_are_random() {
        let h = fast(None);
        assert_ne!(h.hash(&s("2580")).unwrap(), h.hash(&s("2580")).unwrap());
    }

    #[test]
    fn pepper_is_required_to_verify() {
        let peppered = fast(Some(&[9u8; 32]));
        let phc = peppered.hash(&s("2580")).unwrap();
        assert!(peppered.verify(&phc, &s("2580")).unwrap());
        assert!(!fast(None).verify(&phc, &s("2580")).unwrap());
        assert!(!fast(Some(&[8u8; 32])).verify(&phc, &s("2580")).unwrap());
    }

    #[test]
    fn old_parameters_still_verify() {
        let phc = fast(None).hash(&s("2580")).unwrap();
        assert!(verify_pin(&phc, &s("2580")).unwrap());
    }

    #[test]
    fn malformed_hashes_are_errors_not_mismatches() {
        assert_eq!(
            verify_pin("not a hash", &s("2580")),
            Err(PinError::MalformedHash)
        );
        assert_eq!(verify_pin("", &s("2580")), Err(PinError::MalformedHash));
        let argon2i =
            "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(
            verify_pin(argon2i, &s("2580")),
            Err(PinError::MalformedHash)
        );
    }

    #[test]
    fn lockout_doubles_after_max_attempts_and_caps() {
        let base = Duration::from_secs(30);
        assert_eq!(lockout_delay(0, 5, base), None);
        assert_eq!(lockout_delay(4, 5, base), None);
        assert_eq!(lockout_delay(5, 5, base), Some(Duration::from_secs(30)));
        assert_eq!(lockout_delay(6, 5, base), Some(Duration::from_secs(60)));
        assert_eq!(lockout_delay(7, 5, base), Some(Duration::from_secs(120)));
        assert_eq!(lockout_delay(12, 5, base), Some(MAX_LOCKOUT));
        assert_eq!(lockout_delay(u32::MAX, 5, base), Some(MAX_LOCKOUT));
        assert_eq!(lockout_delay(1, 0, base), Some(base));
    }
}
