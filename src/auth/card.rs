//! Card number normalisation: turns what a reader yields into the number the directory knows.
//!
//! Readers disagree on format (hex UID, decimal, byte order, leading zeros, framing characters),
//! and directories store badge numbers in their own format. The admin describes the conversion
//! as a list of steps in the config; [`CardPipeline`] runs them. Applying a pipeline never panics
//! and its errors never contain the card number, which is a credential.

use std::fmt;

use regex::Regex;

/// Longest raw input accepted: far above any real badge, small enough to keep every step cheap.
pub const MAX_INPUT_LEN: usize = 256;
/// Upper bound for `pad_left:N` and `last:N`.
pub const MAX_WIDTH: usize = 64;
/// Longest number `hex_to_dec`/`dec_to_hex` convert (digits), enough for a 256-bit value.
const MAX_CONVERT_DIGITS: usize = 80;

/// Why a pipeline could not be parsed or a card number could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("card normalisation step {index} (`{step}`): {reason}")]
    BadStep {
        index: usize,
        step: String,
        reason: String,
    },
    #[error("card read is longer than {MAX_INPUT_LEN} characters")]
    TooLong,
    #[error("card step `{step}` expects {expected}, but the value does not match")]
    WrongFormat {
        step: &'static str,
        expected: &'static str,
    },
    #[error("card step `{step}`: the number is too long to convert")]
    NumberTooLong { step: &'static str },
    #[error("card step `regex` found no match")]
    NoMatch,
    #[error("card number is empty after normalisation")]
    Empty,
}

/// One step of the normalisation pipeline, as written in `readers.normalise`.
#[derive(Clone)]
pub enum NormaliseStep {
    /// Removes surrounding whitespace and control characters.
    Trim,
    Upper,
    Lower,
    /// Hexadecimal (any case) to decimal, arbitrary length.
    HexToDec,
    /// Decimal to upper-case hexadecimal with an even number of digits (whole bytes).
    DecToHex,
    /// Reverses the byte order of a hex string (readers that report the UID LSB first).
    ReverseBytes,
    /// "000123" → "123"; "000" → "0".
    StripLeadingZeros,
    /// Left-pads with '0' to at least N characters.
    PadLeft(usize),
    /// Keeps the last N characters.
    Last(usize),
    /// Keeps capture group 1 of the first match.
    Regex(Regex),
}

impl fmt::Debug for NormaliseStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for NormaliseStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NormaliseStep::Trim => f.write_str("trim"),
            NormaliseStep::Upper => f.write_str("upper"),
            NormaliseStep::Lower => f.write_str("lower"),
            NormaliseStep::HexToDec => f.write_str("hex_to_dec"),
            NormaliseStep::DecToHex => f.write_str("dec_to_hex"),
            NormaliseStep::ReverseBytes => f.write_str("reverse_bytes"),
            NormaliseStep::StripLeadingZeros => f.write_str("strip_leading_zeros"),
            NormaliseStep::PadLeft(n) => write!(f, "pad_left:{n}"),
            NormaliseStep::Last(n) => write!(f, "last:{n}"),
            NormaliseStep::Regex(r) => write!(f, "regex:{}", r.as_str()),
        }
    }
}

impl PartialEq for NormaliseStep {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl NormaliseStep {
    /// Parses one step; the error text says what is wrong and what is accepted.
    pub fn parse(s: &str) -> Result<NormaliseStep, String> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let no_arg = |step: NormaliseStep| match arg {
            None => Ok(step),
            Some(_) => Err(format!("`{name}` takes no argument")),
        };
        let width = |arg: Option<&str>| -> Result<usize, String> {
            let a = arg.ok_or_else(|| format!("`{name}` needs a width, e.g. `{name}:10`"))?;
            match a.parse::<usize>() {
                Ok(n) if (1..=MAX_WIDTH).contains(&n) => Ok(n),
                _ => Err(format!(
                    "`{name}` needs a width from 1 to {MAX_WIDTH}, got {a:?}"
                )),
            }
        };
        match name {
            "trim" => no_arg(NormaliseStep::Trim),
            "upper" => no_arg(NormaliseStep::Upper),
            "lower" => no_arg(NormaliseStep::Lower),
            "hex_to_dec" => no_arg(NormaliseStep::HexToDec),
            "dec_to_hex" => no_arg(NormaliseStep::DecToHex),
            "reverse_bytes" => no_arg(NormaliseStep::ReverseBytes),
            "strip_leading_zeros" => no_arg(NormaliseStep::StripLeadingZeros),
            "pad_left" => width(arg).map(NormaliseStep::PadLeft),
            "last" => width(arg).map(NormaliseStep::Last),
            "regex" => {
                let pattern = arg
                    .filter(|p| !p.is_empty())
                    .ok_or("`regex` needs a pattern, e.g. `regex:^;(\\d+)=`")?;
                let re = regex::RegexBuilder::new(pattern)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("invalid pattern: {e}"))?;
                if re.captures_len() != 2 {
                    return Err(format!(
                        "the pattern must have exactly one capture group (it has {})",
                        re.captures_len() - 1
                    ));
                }
                Ok(NormaliseStep::Regex(re))
            }
            _ => Err(format!(
                "unknown step `{name}`; known steps: trim, upper, lower, hex_to_dec, dec_to_hex, \
                 reverse_bytes, strip_leading_zeros, pad_left:N, last:N, regex:PATTERN"
            )),
        }
    }

    fn apply(&self, v: String) -> Result<String, CardError> {
        Ok(match self {
            NormaliseStep::Trim => v
                .trim_matches(|c: char| c.is_whitespace() || c.is_control())
                .to_string(),
            NormaliseStep::Upper => v.to_uppercase(),
            NormaliseStep::Lower => v.to_lowercase(),
            NormaliseStep::HexToDec => {
                let digits = digits_in_base(&v, 16, "hex_to_dec", "hexadecimal digits")?;
                to_base_string(&convert_base(&digits, 16, 10), 10)
            }
            NormaliseStep::DecToHex => {
                let digits = digits_in_base(&v, 10, "dec_to_hex", "decimal digits")?;
                let mut hex = to_base_string(&convert_base(&digits, 10, 16), 16);
                if hex.len() % 2 == 1 {
                    hex.insert(0, '0');
                }
                hex
            }
            NormaliseStep::ReverseBytes => {
                const EXPECTED: &str = "whole bytes in hex (an even number of hex digits)";
                if v.is_empty() || v.len() % 2 == 1 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(CardError::WrongFormat {
                        step: "reverse_bytes",
                        expected: EXPECTED,
                    });
                }
                // All ASCII, so byte-pair slicing is on char boundaries.
                v.as_bytes()
                    .chunks(2)
                    .rev()
                    .flat_map(|pair| pair.iter().map(|&b| b as char))
                    .collect()
            }
            NormaliseStep::StripLeadingZeros => {
                let stripped = v.trim_start_matches('0');
                if stripped.is_empty() && !v.is_empty() {
                    "0".to_string()
                } else {
                    stripped.to_string()
                }
            }
            NormaliseStep::PadLeft(n) => {
                let len = v.chars().count();
                if len >= *n {
                    v
                } else {
                    let mut out = "0".repeat(n - len);
                    out.push_str(&v);
                    out
                }
            }
            NormaliseStep::Last(n) => {
                let len = v.chars().count();
                v.chars().skip(len.saturating_sub(*n)).collect()
            }
            NormaliseStep::Regex(re) => re
                .captures(&v)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_string())
                .ok_or(CardError::NoMatch)?,
        })
    }
}

/// An ordered list of normalisation steps. The empty pipeline only trims.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CardPipeline {
    steps: Vec<NormaliseStep>,
}

impl CardPipeline {
    /// Parses `readers.normalise`; the error names the failing step by position.
    pub fn parse(steps: &[String]) -> Result<CardPipeline, CardError> {
        let steps = steps
            .iter()
            .enumerate()
            .map(|(index, s)| {
                NormaliseStep::parse(s).map_err(|reason| CardError::BadStep {
                    index,
                    step: s.clone(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(CardPipeline { steps })
    }

    pub fn steps(&self) -> &[NormaliseStep] {
        &self.steps
    }

    /// Normalises a raw card read. Surrounding whitespace and control characters are always
    /// removed first (readers append CR/LF or NUL) and again after the steps; an empty result
    /// is an error.
    pub fn apply(&self, raw: &str) -> Result<String, CardError> {
        self.run(raw, |_, _| {})
    }

    /// What each step made of `raw`, for the technician's reader check: ("trim", value), then
    /// one entry per configured step, ending at the first error (the number is then `Err`), and
    /// a closing ("trim", value) when a step left whitespace at an end.
    pub fn trace(&self, raw: &str) -> (Vec<(String, String)>, Result<String, CardError>) {
        let mut steps = Vec::new();
        let result = self.run(raw, |step, value| {
            steps.push((step.to_string(), value.to_owned()))
        });
        (steps, result)
    }

    fn run(
        &self,
        raw: &str,
        mut seen: impl FnMut(&NormaliseStep, &str),
    ) -> Result<String, CardError> {
        if raw.chars().count() > MAX_INPUT_LEN {
            return Err(CardError::TooLong);
        }
        let mut v = NormaliseStep::Trim.apply(raw.to_string())?;
        seen(&NormaliseStep::Trim, &v);
        for step in &self.steps {
            v = step.apply(v)?;
            seen(step, &v);
            // Case mapping can grow a string; keep every step's input bounded.
            if v.chars().count() > MAX_INPUT_LEN {
                return Err(CardError::TooLong);
            }
        }
        // A step can bring inner whitespace to an end (`last:8` of "A 1234567"): a card number
        // never starts or ends with it, so the result is trimmed again, visibly in the trace.
        let trimmed = NormaliseStep::Trim.apply(v.clone())?;
        if trimmed != v {
            v = trimmed;
            seen(&NormaliseStep::Trim, &v);
        }
        if v.is_empty() {
            return Err(CardError::Empty);
        }
        Ok(v)
    }
}

fn digits_in_base(
    v: &str,
    base: u32,
    step: &'static str,
    expected: &'static str,
) -> Result<Vec<u8>, CardError> {
    if v.is_empty() {
        return Err(CardError::WrongFormat { step, expected });
    }
    let digits = v
        .chars()
        .map(|c| c.to_digit(base).map(|d| d as u8))
        .collect::<Option<Vec<u8>>>()
        .ok_or(CardError::WrongFormat { step, expected })?;
    let significant = digits.iter().skip_while(|&&d| d == 0).count();
    if significant > MAX_CONVERT_DIGITS {
        return Err(CardError::NumberTooLong { step });
    }
    Ok(digits)
}

/// Schoolbook base conversion on digit vectors (most significant first); UIDs exceed u64.
fn convert_base(digits: &[u8], from: u32, to: u32) -> Vec<u8> {
    let mut num: Vec<u8> = digits.iter().copied().skip_while(|&d| d == 0).collect();
    let mut out = Vec::new();
    while !num.is_empty() {
        let mut quotient = Vec::with_capacity(num.len());
        let mut rem: u32 = 0;
        for &d in &num {
            let acc = rem * from + u32::from(d);
            let q = acc / to;
            rem = acc % to;
            if !(quotient.is_empty() && q == 0) {
                quotient.push(q as u8);
            }
        }
        out.push(rem as u8);
        num = quotient;
    }
    if out.is_empty() {
        out.push(0);
    }
    out.reverse();
    out
}

fn to_base_string(digits: &[u8], base: u32) -> String {
    digits
        .iter()
        .filter_map(|&d| char::from_digit(u32::from(d), base))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn pipe(steps: &[&str]) -> CardPipeline {
        CardPipeline::parse(&steps.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn apply_table() {
        let cases: &[(&[&str], &str, Result<&str, CardError>)] = &[
            (&[], "  0012345678\r\n", Ok("0012345678")),
            (&[], "\0\r\n", Err(CardError::Empty)),
            (&["upper"], "04a1b2c3", Ok("04A1B2C3")),
            (&["lower"], "04A1B2C3", Ok("04a1b2c3")),
            (&["hex_to_dec"], "04A1B2C3", Ok("77705923")),
            (&["hex_to_dec"], "ff", Ok("255")),
            (&["hex_to_dec"], "0000", Ok("0")),
            // 7-byte UID, beyond what fits comfortably in a u32 and checked against u64 maths.
            (&["hex_to_dec"], "04A224C2B25E80", Ok("1304178675834496")),
            (
                &["hex_to_dec"],
                "12G4",
                Err(CardError::WrongFormat {
                    step: "hex_to_dec",
                    expected: "hexadecimal digits",
                }),
            ),
            (&["dec_to_hex"], "77705923", Ok("04A1B2C3")),
            (&["dec_to_hex"], "255", Ok("FF")),
            (&["dec_to_hex"], "4096", Ok("1000")),
            (&["dec_to_hex"], "0", Ok("00")),
            (
                &["dec_to_hex"],
                "12a",
                Err(CardError::WrongFormat {
                    step: "dec_to_hex",
                    expected: "decimal digits",
                }),
            ),
            (&["reverse_bytes"], "04A1B2C3", Ok("C3B2A104")),
            (
                &["reverse_bytes"],
                "4A1B2C3",
                Err(CardError::WrongFormat {
                    step: "reverse_bytes",
                    expected: "whole bytes in hex (an even number of hex digits)",
                }),
            ),
            (&["reverse_bytes", "hex_to_dec"], "C3B2A104", Ok("77705923")),
            (&["strip_leading_zeros"], "000123", Ok("123")),
            (&["strip_leading_zeros"], "0000", Ok("0")),
            (&["pad_left:10"], "123", Ok("0000000123")),
            (&["pad_left:3"], "12345", Ok("12345")),
            (&["last:4"], "12345678", Ok("5678")),
            // Inner whitespace a step brings to an end is trimmed (proptest find, 2026-12-02).
            (&["last:8"], "A 1234567", Ok("1234567")),
            (&["last:8"], "ῶ ૐ0ౠA0ຄ0", Ok("ૐ0ౠA0ຄ0")),
            (&["last:10"], "123", Ok("123")),
            (&["regex:^;(\\d+)=\\d*\\?$"], ";123456=01?", Ok("123456")),
            (&["regex:(\\d{4})$"], "abc", Err(CardError::NoMatch)),
            (
                &["hex_to_dec", "pad_left:10", "last:8"],
                "04A1B2C3",
                Ok("77705923"),
            ),
            (&["hex_to_dec", "pad_left:10"], "04A1B2C3", Ok("0077705923")),
        ];
        for (steps, raw, want) in cases {
            let got = pipe(steps).apply(raw);
            assert_eq!(
                got.as_deref().map_err(Clone::clone),
                want.clone(),
                "{steps:?} on {raw:?}"
            );
        }
    }

    #[test]
    fn hex_dec_roundtrip_matches_u128() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..500 {
            let n: u128 = rng.gen::<u128>() >> rng.gen_range(0..128);
            let hex = format!("{n:X}");
            let dec = pipe(&["hex_to_dec"]).apply(&hex).unwrap();
            assert_eq!(dec, n.to_string());
            let back = pipe(&["dec_to_hex", "strip_leading_zeros"])
                .apply(&dec)
                .unwrap();
            assert_eq!(back, hex);
        }
    }

    #[test]
    fn trace_shows_each_step_and_stops_at_the_failing_one() {
        let p = CardPipeline::parse(&["reverse_bytes".into(), "hex_to_dec".into()]).unwrap();
        let (steps, number) = p.trace(" C3B2A104\r\n");
        let labels: Vec<&str> = steps.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["trim", "reverse_bytes", "hex_to_dec"]);
        assert_eq!(steps[1].1, "04A1B2C3");
        assert_eq!(number.unwrap(), "77705923");
        assert_eq!(p.apply(" C3B2A104\r\n").unwrap(), "77705923");

        let (steps, number) = p.trace("XYZ1");
        assert_eq!(
            steps.len(),
            1,
            "reverse_bytes fails on non-hex: only trim ran"
        );
        assert!(number.is_err());
    }

    #[test]
    fn trace_shows_the_closing_trim_when_a_step_needed_it() {
        // A regex capture that ends in a control character (the fuzz smoke run's find: the
        // trace then had one entry more than the steps plus the leading trim).
        let p = CardPipeline::parse(&["regex:([0-9\u{18}]+)".into()]).unwrap();
        let (steps, number) = p.trace("ab 0123\u{18}cd");
        let labels: Vec<&str> = steps.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["trim", "regex:([0-9\u{18}]+)", "trim"]);
        assert_eq!(steps[1].1, "0123\u{18}");
        assert_eq!(number.unwrap(), "0123");

        let (steps, _) = p.trace("0123");
        assert_eq!(steps.len(), 2, "nothing to trim after the steps: no entry");
    }

    #[test]
    fn parse_errors_name_the_step() {
        let bad: &[(&str, &str)] = &[
            ("frobnicate", "unknown step"),
            ("pad_left", "needs a width"),
            ("pad_left:0", "from 1 to 64"),
            ("last:x", "from 1 to 64"),
            ("trim:3", "takes no argument"),
            ("regex:", "needs a pattern"),
            ("regex:\\d+", "exactly one capture group"),
            ("regex:(a)(b)", "exactly one capture group"),
            ("regex:(", "invalid pattern"),
        ];
        for (step, want) in bad {
            let err = CardPipeline::parse(&["trim".to_string(), step.to_string()]).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, CardError::BadStep { index: 1, .. }), "{msg}");
            assert!(msg.contains(want), "{step}: {msg}");
        }
    }

    #[test]
    fn steps_display_roundtrip() {
        let src = [
            "trim",
            "upper",
            "lower",
            "hex_to_dec",
            "dec_to_hex",
            "reverse_bytes",
            "strip_leading_zeros",
            "pad_left:10",
            "last:8",
            "regex:^(\\d+)$",
        ];
        let p = pipe(&src);
        let shown: Vec<String> = p.steps().iter().map(ToString::to_string).collect();
        assert_eq!(shown, src);
    }

    #[test]
    fn errors_do_not_contain_the_number() {
        let secret = "98765432109";
        for steps in [
            &["upper", "reverse_bytes"][..],
            &["regex:^x(\\d)"],
            &["hex_to_dec", "upper", "regex:(Z)"],
        ] {
            let err = pipe(steps).apply(secret).unwrap_err();
            assert!(!format!("{err} {err:?}").contains(secret));
        }
    }

    #[test]
    fn too_long_input_is_refused() {
        assert_eq!(
            pipe(&[]).apply(&"1".repeat(MAX_INPUT_LEN + 1)),
            Err(CardError::TooLong)
        );
        assert_eq!(
            pipe(&["hex_to_dec"]).apply(&"F".repeat(200)),
            Err(CardError::NumberTooLong { step: "hex_to_dec" })
        );
    }

    /// Random inputs through random pipelines: every call returns, none panics.
    #[test]
    fn never_panics_on_random_input() {
        let alphabet: Vec<char> = "0123456789abcdefABCDEFxyz ;=?%\r\n\t\0éßİﬁ\u{301}😀-_"
            .chars()
            .collect();
        let all_steps = [
            "trim",
            "upper",
            "lower",
            "hex_to_dec",
            "dec_to_hex",
            "reverse_bytes",
            "strip_leading_zeros",
            "pad_left:12",
            "last:6",
            "regex:(\\d+)",
            "regex:^(.)",
            "pad_left:64",
        ];
        let parsed: Vec<NormaliseStep> = all_steps
            .iter()
            .map(|s| NormaliseStep::parse(s).unwrap())
            .collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let mut ok = 0;
        for _ in 0..20_000 {
            let len = rng.gen_range(0..40);
            let raw: String = (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            let n_steps = rng.gen_range(0..5);
            let steps = (0..n_steps)
                .map(|_| parsed[rng.gen_range(0..parsed.len())].clone())
                .collect();
            let p = CardPipeline { steps };
            if p.apply(&raw).is_ok() {
                ok += 1;
            }
        }
        // The loop must exercise the success paths too, not only early rejections.
        assert!(ok > 2_000, "only {ok} successes");
    }
}
