//! `mfp-kiosk calibrate-pin`: measures argon2id on the board it runs on and prints the
//! `[pin] hash_memory_kib` / `hash_passes` lines that make one PIN check take about the target
//! time (250 ms by default: slow enough to make guessing a stolen hash expensive, quick enough
//! that a walk-up user does not notice).
//!
//! Memory is raised first (it is what makes argon2id costly on GPUs), up to 64 MiB so a few
//! checks at once still fit a 512 MB board, then passes. The search itself is pure and takes
//! the measurement as a function, so it is tested without the clock.

use std::io::Write;
use std::time::{Duration, Instant};

use secrecy::SecretString;

use crate::auth::pin::{PinError, PinHashParams, PinHasher, MIN_HASH_MEMORY_KIB};

/// The most memory calibration picks by itself (the config accepts more).
pub const CALIBRATE_MAX_MEMORY_KIB: u32 = 64 * 1024;
const MAX_PASSES: u32 = 64;

#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error("argon2id failed: {0}")]
    Hash(#[from] PinError),
    #[error("cannot write: {0}")]
    Output(#[from] std::io::Error),
    #[error("the target must be between 50 and 5000 ms, got {0}")]
    Target(u64),
}

/// What calibration chose and how long one check took with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calibration {
    pub params: PinHashParams,
    pub check: Duration,
}

/// Picks parameters for `target` given `measure` (how long one check takes with them).
pub fn choose(
    target: Duration,
    mut measure: impl FnMut(PinHashParams) -> Result<Duration, PinError>,
) -> Result<Calibration, PinError> {
    let mut params = PinHashParams::default();
    let first = measure(params)?;
    if first >= target {
        // The minimum already costs the target or more: never go below OWASP's minimum.
        return Ok(Calibration {
            params,
            check: first,
        });
    }
    let factor = target.as_secs_f64() / first.as_secs_f64().max(1e-6);
    let memory = (f64::from(params.m_cost_kib) * factor)
        .min(f64::from(CALIBRATE_MAX_MEMORY_KIB))
        .max(f64::from(MIN_HASH_MEMORY_KIB));
    // Whole MiB, never below the minimum.
    params.m_cost_kib = ((memory as u32) / 1024 * 1024).max(MIN_HASH_MEMORY_KIB);
    let second = measure(params)?;
    let passes = (f64::from(params.t_cost) * target.as_secs_f64() / second.as_secs_f64().max(1e-6))
        .round()
        .clamp(2.0, f64::from(MAX_PASSES)) as u32;
    if passes == params.t_cost {
        return Ok(Calibration {
            params,
            check: second,
        });
    }
    params.t_cost = passes;
    let check = measure(params)?;
    Ok(Calibration { params, check })
}

/// One PIN check with `params`, as the panel does it (peppered): the median of three.
pub fn measure_check(params: PinHashParams) -> Result<Duration, PinError> {
    let pepper: [u8; 32] = rand::random();
    let hasher = PinHasher::new(params, Some(&pepper));
    let pin = SecretString::from("2580");
    let phc = hasher.hash(&pin)?;
    let mut times = Vec::with_capacity(3);
    for _ in 0..3 {
        let t = Instant::now();
        hasher.verify(&phc, &pin)?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[1])
}

/// Runs the calibration and prints each measurement and the config lines.
pub fn calibrate_command(target_ms: u64, out: &mut dyn Write) -> Result<(), CalibrateError> {
    if !(50..=5000).contains(&target_ms) {
        return Err(CalibrateError::Target(target_ms));
    }
    let target = Duration::from_millis(target_ms);
    let mut lines = Vec::new();
    let result = choose(target, |p| {
        let d = measure_check(p)?;
        lines.push(format!(
            "  m={} KiB t={}: {:.0} ms",
            p.m_cost_kib,
            p.t_cost,
            d.as_secs_f64() * 1e3
        ));
        Ok(d)
    })?;
    writeln!(
        out,
        "# argon2id on this machine, target {target_ms} ms per PIN check:"
    )?;
    for l in lines {
        writeln!(out, "#{l}")?;
    }
    writeln!(
        out,
        "# chosen: {:.0} ms per check",
        result.check.as_secs_f64() * 1e3
    )?;
    writeln!(out, "[pin]")?;
    writeln!(out, "hash_memory_kib = {}", result.params.m_cost_kib)?;
    writeln!(out, "hash_passes = {}", result.params.t_cost)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// argon2id's cost grows with memory x passes; `ns_per_kib_pass` is the machine's speed.
    fn model(ns_per_kib_pass: f64) -> impl FnMut(PinHashParams) -> Result<Duration, PinError> {
        move |p| {
            Ok(Duration::from_nanos(
                (f64::from(p.m_cost_kib) * f64::from(p.t_cost) * ns_per_kib_pass) as u64,
            ))
        }
    }

    #[test]
    fn a_fast_machine_gets_more_memory_then_more_passes_near_the_target() {
        // 19 MiB x 2 passes = 10 ms here: far below 250 ms.
        let c = choose(Duration::from_millis(250), model(257.0)).unwrap();
        assert_eq!(c.params.m_cost_kib, CALIBRATE_MAX_MEMORY_KIB);
        assert!(c.params.t_cost > 2, "{c:?}");
        let ms = c.check.as_secs_f64() * 1e3;
        assert!((200.0..=300.0).contains(&ms), "{c:?}");
    }

    #[test]
    fn a_board_a_little_fast_gets_memory_only() {
        // 19 MiB x 2 passes = 150 ms: 1.67x more memory reaches the target.
        let c = choose(Duration::from_millis(250), model(3855.0)).unwrap();
        assert!(c.params.m_cost_kib > MIN_HASH_MEMORY_KIB, "{c:?}");
        assert!(c.params.m_cost_kib < CALIBRATE_MAX_MEMORY_KIB, "{c:?}");
        assert_eq!(c.params.m_cost_kib % 1024, 0);
        assert_eq!(c.params.t_cost, 2);
        let ms = c.check.as_secs_f64() * 1e3;
        assert!((200.0..=300.0).contains(&ms), "{c:?}");
    }

    #[test]
    fn a_slow_board_keeps_the_minimum_never_less() {
        // 19 MiB x 2 passes = 400 ms: over the target already.
        let c = choose(Duration::from_millis(250), model(10280.0)).unwrap();
        assert_eq!(c.params, PinHashParams::default());
    }

    #[test]
    fn out_of_range_targets_are_refused() {
        let mut out = Vec::new();
        assert!(matches!(
            calibrate_command(10, &mut out),
            Err(CalibrateError::Target(10))
        ));
        assert!(out.is_empty());
    }
}
