//! PIN policy, argon2id hashing and verification, and the lockout schedule.
//!
//! PINs are short, so the hash alone is weak against an offline search; `PinHasher` therefore
//! takes an optional pepper (the device key's PIN sub-key) that argon2 mixes in as its secret.
//! Nothing here ever formats a PIN into an error or a log line.

use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
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
            m_cost_kib: 19456,
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

/// Lockout of the whole panel's PIN pad: someone trying PINs for many users, or guessing badge
/// numbers, is slowed down even though no single user reaches their own limit. Pure: the caller
/// passes the time in.
#[derive(Debug, Clone)]
pub struct PanelLockout {
    threshold: u32,
    base: Duration,
    failures: u32,
    locked_until: Option<std::time::Instant>,
}

impl PanelLockout {
    /// Locks after `threshold` consecutive failures on the panel, for `base`, doubling after.
    pub fn new(threshold: u32, base: Duration) -> Self {
        PanelLockout {
            threshold: threshold.max(1),
            base,
            failures: 0,
            locked_until: None,
        }
    }

    /// `Err(remaining)` while the pad is locked.
    pub fn check(&self, now: std::time::Instant) -> Result<(), Duration> {
        match self.locked_until {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a wrong PIN or an unknown typed badge; returns the lock it started, if any.
    pub fn record_failure(&mut self, now: std::time::Instant) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        let delay = lockout_delay(self.failures, self.threshold, self.base)?;
        self.locked_until = Some(now + delay);
        Some(delay)
    }

    /// A successful sign-in on the pad clears the count.
    pub fn record_success(&mut self) {
        self.failures = 0;
        self.locked_until = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panel_lockout_grows_and_clears() {
        let t0 = std::time::Instant::now();
        let mut panel = PanelLockout::new(3, Duration::from_secs(30));
        assert_eq!(panel.record_failure(t0), None);
        assert_eq!(panel.record_failure(t0), None);
        assert!(panel.check(t0).is_ok());
        assert_eq!(panel.record_failure(t0), Some(Duration::from_secs(30)));
        assert_eq!(
            panel.check(t0 + Duration::from_secs(10)),
            Err(Duration::from_secs(20))
        );
        assert!(
            panel.check(t0 + Duration::from_secs(30)).is_ok(),
            "the lock ends on time"
        );
        let t1 = t0 + Duration::from_secs(31);
        assert_eq!(
            panel.record_failure(t1),
            Some(Duration::from_secs(60)),
            "then doubles"
        );
        panel.record_success();
        assert!(panel.check(t1).is_ok());
        assert_eq!(
            panel.record_failure(t1),
            None,
            "a success starts the count again"
        );
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
