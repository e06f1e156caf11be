//! What a SANE device can do, read from its option constraints (the `mode` list, `depth` words,
//! `resolution` list or range, `source` list incl. duplex, and the `br-x` / `br-y` ranges for
//! the largest scan area), and what it was actually set to for a scan, read back from the
//! backend. The names matched are the ones [`Session::configure`] sets, so whatever is offered
//! here is what configuring will find.

use std::sync::{Arc, Mutex};

use super::{Session, ACTION_GET, TYPE_BOOL, TYPE_FIXED, TYPE_INT, TYPE_STRING};
use crate::scan::caps::{Resolutions, ScannerCaps};
use crate::scan::{ColorMode, ScanSource};
use std::ffi::{c_int, CStr};

/// What a SANE device was set to for one scan, read back after configuring it.
#[derive(Debug, Clone, PartialEq)]
pub struct SaneApplied {
    pub mode: Option<String>,
    pub depth: Option<f64>,
    pub resolution: Option<f64>,
    pub source: Option<String>,
    /// Bottom-right corner of the scan area, in millimetres.
    pub br_x: Option<f64>,
    pub br_y: Option<f64>,
}

/// Where a [`super::SaneScanner`] records what each scan set the device to.
pub type SaneRecord = Arc<Mutex<Vec<SaneApplied>>>;

const COLOR_MODES: &[&str] = &["Color", "Colour", "RGB"];
const GRAY_MODES: &[&str] = &["Gray", "Grey", "Grayscale"];
const LINEART_MODES: &[&str] = &["Lineart", "Binary", "Black & White"];

/// Whether one of `wanted` is in `have` (case-insensitive), as `configure` picks them.
pub(super) fn has_any(have: &[String], wanted: &[&str]) -> bool {
    wanted
        .iter()
        .any(|w| have.iter().any(|m| m.eq_ignore_ascii_case(w)))
}

/// The panel's sources among a device's `source` list, matched as `configure` matches them.
pub(super) fn sources_of(list: &[String]) -> Vec<ScanSource> {
    let lower: Vec<String> = list.iter().map(|s| s.to_lowercase()).collect();
    let any = |keys: &[&str]| lower.iter().any(|s| keys.iter().any(|k| s.contains(k)));
    let mut out = Vec::new();
    if any(&["flatbed", "platen", "glass"]) {
        out.push(ScanSource::Flatbed);
    }
    let simplex_feeder = any(&["adf front", "simplex"])
        || lower
            .iter()
            .any(|s| (s.contains("adf") || s.contains("feeder")) && !s.contains("duplex"));
    if simplex_feeder {
        out.push(ScanSource::Adf);
    }
    if any(&["duplex"]) {
        out.push(ScanSource::AdfDuplex);
    }
    out
}

impl Session<'_> {
    /// The device's abilities from its current option descriptors.
    pub(super) fn caps(&self) -> ScannerCaps {
        let all = ScannerCaps::unrestricted();
        let colors = match self.opt("mode").map(|o| o.strings.clone()) {
            Some(modes) if !modes.is_empty() => {
                let depth_1 = self
                    .opt("depth")
                    .is_some_and(|d| d.words.is_empty() || d.words.contains(&1.0));
                let mut c = Vec::new();
                if has_any(&modes, COLOR_MODES) {
                    c.push(ColorMode::Color);
                }
                if has_any(&modes, GRAY_MODES) {
                    c.push(ColorMode::Gray);
                }
                if has_any(&modes, LINEART_MODES) || (has_any(&modes, &["Gray", "Grey"]) && depth_1)
                {
                    c.push(ColorMode::BlackWhite);
                }
                c
            }
            // No mode to choose: the device does not say, so nothing is ruled out.
            _ => all.colors.clone(),
        };
        let resolutions = match self.opt("resolution") {
            Some(o) if !o.words.is_empty() => Resolutions::List(
                o.words
                    .iter()
                    .filter(|w| **w >= 1.0)
                    .map(|w| w.round() as u32)
                    .collect(),
            ),
            Some(o) => match o.range {
                Some((min, max)) => Resolutions::Range {
                    min: min.max(1.0).round() as u32,
                    max: max.max(1.0).round() as u32,
                    step: o.step.max(0.0).round() as u32,
                },
                None => all.resolutions.clone(),
            },
            None => all.resolutions.clone(),
        };
        let sources = match self.opt("source").map(|o| o.strings.clone()) {
            Some(list) if !list.is_empty() => sources_of(&list),
            // No source option: a glass-only scanner, as `configure` assumes.
            _ => vec![ScanSource::Flatbed],
        };
        let max = |name: &str| self.opt(name).and_then(|o| o.range).map(|(_, max)| max);
        let max_area_mm = match (max("br-x"), max("br-y")) {
            (Some(w), Some(h)) => Some((w, h)),
            _ => None,
        };
        ScannerCaps {
            colors,
            resolutions,
            sources,
            max_area_mm,
        }
    }

    /// What the backend holds now for the options a scan sets.
    pub(super) fn applied(&self) -> SaneApplied {
        SaneApplied {
            mode: self.get_string("mode"),
            depth: self.get_number("depth"),
            resolution: self.get_number("resolution"),
            source: self.get_string("source"),
            br_x: self.get_number("br-x"),
            br_y: self.get_number("br-y"),
        }
    }

    fn get_raw(&self, name: &str) -> Option<(c_int, Vec<u8>)> {
        let (_, opt) = self.options.iter().find(|(n, _)| n == name)?;
        let size = usize::try_from(opt.size).ok().filter(|s| *s > 0)?;
        let mut buf = vec![0u8; size.max(std::mem::size_of::<c_int>())];
        // SAFETY: a buffer at least the descriptor's size, as SANE asks for GET_VALUE.
        let status = unsafe {
            (self.api.control_option)(
                self.handle,
                opt.index,
                ACTION_GET,
                buf.as_mut_ptr().cast(),
                std::ptr::null_mut(),
            )
        };
        self.api.check(status, "reading an option back").ok()?;
        Some((opt.kind, buf))
    }

    fn get_string(&self, name: &str) -> Option<String> {
        let (kind, buf) = self.get_raw(name)?;
        (kind == TYPE_STRING).then_some(())?;
        CStr::from_bytes_until_nul(&buf)
            .ok()
            .map(|s| s.to_string_lossy().into_owned())
    }

    fn get_number(&self, name: &str) -> Option<f64> {
        let (kind, buf) = self.get_raw(name)?;
        let word = c_int::from_ne_bytes(buf.get(..4)?.try_into().ok()?);
        match kind {
            TYPE_FIXED => Some(f64::from(word) / super::FIXED_SCALE),
            TYPE_INT | TYPE_BOOL => Some(f64::from(word)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_matched_like_configure_matches_them() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            sources_of(&list(&["Flatbed", "Automatic Document Feeder"])),
            vec![ScanSource::Flatbed, ScanSource::Adf]
        );
        assert_eq!(
            sources_of(&list(&["Flatbed", "ADF Front", "ADF Duplex"])),
            vec![ScanSource::Flatbed, ScanSource::Adf, ScanSource::AdfDuplex]
        );
        assert_eq!(
            sources_of(&list(&["ADF Duplex"])),
            vec![ScanSource::AdfDuplex]
        );
        assert!(has_any(&list(&["lineart", "gray"]), LINEART_MODES));
    }
}
