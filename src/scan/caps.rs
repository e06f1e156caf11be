//! What a scanner can do: colour modes, resolutions, paper sources and the largest scan area,
//! as the device reports them (SANE option constraints, or the simulated scanner's settings).
//!
//! The scan settings sheet offers only what is in here, so a user never picks a setting the
//! device would refuse or silently change. Pure data and rules; the SANE query that fills it
//! lives in [`super::sane`].

use serde::{Deserialize, Serialize};

use super::{ColorMode, PageSize, ScanSource, MAX_DPI, MIN_DPI};

/// The resolutions a device accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Resolutions {
    /// Exactly these values (SANE word list).
    List(Vec<u32>),
    /// Anything from `min` to `max` in steps of `step` from `min` (SANE range; step 0 = any).
    Range { min: u32, max: u32, step: u32 },
}

impl Resolutions {
    /// Whether the device scans at exactly `dpi`.
    pub fn accepts(&self, dpi: u32) -> bool {
        match self {
            Resolutions::List(list) => list.contains(&dpi),
            Resolutions::Range { min, max, step } => {
                (*min..=*max).contains(&dpi) && (*step <= 1 || (dpi - min).is_multiple_of(*step))
            }
        }
    }
}

/// A scanner's abilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerCaps {
    pub colors: Vec<ColorMode>,
    pub resolutions: Resolutions,
    pub sources: Vec<ScanSource>,
    /// Width and height of the largest scan area in millimetres; `None` when the device does
    /// not say (every page size is then offered).
    pub max_area_mm: Option<(f64, f64)>,
}

impl ScannerCaps {
    /// A device that can do everything the panel knows: used when a scanner reports nothing.
    pub fn unrestricted() -> Self {
        ScannerCaps {
            colors: vec![ColorMode::Color, ColorMode::Gray, ColorMode::BlackWhite],
            resolutions: Resolutions::Range {
                min: MIN_DPI,
                max: MAX_DPI,
                step: 1,
            },
            sources: vec![ScanSource::Flatbed, ScanSource::Adf, ScanSource::AdfDuplex],
            max_area_mm: None,
        }
    }

    /// Whether a page of `size` fits the scan area (half a millimetre of slack for rounding).
    pub fn fits(&self, size: PageSize) -> bool {
        let (w, h) = size.size_mm();
        self.max_area_mm
            .is_none_or(|(mw, mh)| w <= mw + 0.5 && h <= mh + 0.5)
    }

    /// The page sizes of `wanted` that fit, in their order.
    pub fn page_sizes(&self, wanted: &[PageSize]) -> Vec<PageSize> {
        wanted.iter().copied().filter(|s| self.fits(*s)).collect()
    }

    /// The resolutions of `wanted` the device scans at exactly, in their order.
    pub fn resolutions_of(&self, wanted: &[u32]) -> Vec<u32> {
        wanted
            .iter()
            .copied()
            .filter(|d| (MIN_DPI..=MAX_DPI).contains(d) && self.resolutions.accepts(*d))
            .collect()
    }

    /// The colour modes of `wanted` the device has, in their order.
    pub fn colors_of(&self, wanted: &[ColorMode]) -> Vec<ColorMode> {
        wanted
            .iter()
            .copied()
            .filter(|c| self.colors.contains(c))
            .collect()
    }

    pub fn has_source(&self, source: ScanSource) -> bool {
        self.sources.contains(&source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_with_a_step_accepts_only_its_steps() {
        let r = Resolutions::Range {
            min: 100,
            max: 600,
            step: 50,
        };
        assert!(r.accepts(150) && r.accepts(600) && r.accepts(100));
        assert!(!r.accepts(75) && !r.accepts(175) && !r.accepts(650));
        let any = Resolutions::Range {
            min: 75,
            max: 300,
            step: 0,
        };
        assert!(any.accepts(123));
        assert!(Resolutions::List(vec![150, 300]).accepts(300));
        assert!(!Resolutions::List(vec![150, 300]).accepts(200));
    }

    #[test]
    fn sizes_that_do_not_fit_the_glass_are_left_out() {
        let caps = ScannerCaps {
            max_area_mm: Some((215.9, 297.0)),
            ..ScannerCaps::unrestricted()
        };
        assert_eq!(
            caps.page_sizes(&[
                PageSize::A4,
                PageSize::Legal,
                PageSize::Letter,
                PageSize::A5
            ]),
            vec![PageSize::A4, PageSize::Letter, PageSize::A5]
        );
        assert_eq!(
            caps.resolutions_of(&[50, 150, 300, 1200]),
            vec![150, 300],
            "outside the panel's own limits too"
        );
    }
}
