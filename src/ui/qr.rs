//! QR codes for the device-code page, drawn into a Slint image.
//!
//! The `qrcode` crate is used without its image features: it gives the module matrix and this
//! module paints it, dark on white, with the 4-module quiet zone the QR standard asks for and
//! a whole number of pixels per module so no module is blurred or split unevenly.

use qrcode::{Color, EcLevel, QrCode};
use slint::{Image, Rgb8Pixel, SharedPixelBuffer};

/// Light modules the standard requires around the symbol.
pub const QUIET_ZONE_MODULES: usize = 4;

/// The image is made at least this many pixels wide so it stays sharp on large panels.
const TARGET_PIXELS: usize = 480;

const DARK: Rgb8Pixel = Rgb8Pixel { r: 0, g: 0, b: 0 };
const LIGHT: Rgb8Pixel = Rgb8Pixel {
    r: 255,
    g: 255,
    b: 255,
};

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("nothing to encode in the QR code")]
    Empty,
    #[error("cannot encode {chars} characters as a QR code: {source}")]
    Encode {
        chars: usize,
        #[source]
        source: qrcode::types::QrError,
    },
}

/// A QR code symbol painted into pixels.
pub struct QrPixels {
    /// Modules per side, quiet zone included.
    pub modules: usize,
    /// Pixels per module.
    pub scale: usize,
    pub buffer: SharedPixelBuffer<Rgb8Pixel>,
}

/// Encodes `text` (medium error correction: survives smudges on the panel glass) and paints it.
pub fn qr_pixels(text: &str) -> Result<QrPixels, QrError> {
    if text.is_empty() {
        return Err(QrError::Empty);
    }
    let code =
        QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|source| {
            QrError::Encode {
                chars: text.chars().count(),
                source,
            }
        })?;
    Ok(paint(code.width(), &code.to_colors()))
}

/// The QR code for `text` as an image for `Kiosk.qr-code`.
pub fn qr_image(text: &str) -> Result<Image, QrError> {
    qr_pixels(text).map(|qr| Image::from_rgb8(qr.buffer))
}

fn paint(symbol_width: usize, colors: &[Color]) -> QrPixels {
    let modules = symbol_width + 2 * QUIET_ZONE_MODULES;
    let scale = TARGET_PIXELS.div_ceil(modules).max(1);
    let side = modules * scale;
    // A QR symbol is at most 177 modules wide, so the image stays well inside u32.
    let side_u32 = u32::try_from(side).unwrap_or(u32::MAX);
    let mut buffer = SharedPixelBuffer::<Rgb8Pixel>::new(side_u32, side_u32);
    let pixels = buffer.make_mut_slice();
    for (y, row) in pixels.chunks_exact_mut(side).enumerate() {
        let my = y / scale;
        for (x, px) in row.iter_mut().enumerate() {
            let mx = x / scale;
            *px = match module_at(symbol_width, colors, mx, my) {
                Color::Dark => DARK,
                Color::Light => LIGHT,
            };
        }
    }
    QrPixels {
        modules,
        scale,
        buffer,
    }
}

/// The colour of module (`mx`, `my`) counted from the outer edge of the quiet zone.
fn module_at(symbol_width: usize, colors: &[Color], mx: usize, my: usize) -> Color {
    let inside = |m: usize| (QUIET_ZONE_MODULES..QUIET_ZONE_MODULES + symbol_width).contains(&m);
    if inside(mx) && inside(my) {
        colors[(my - QUIET_ZONE_MODULES) * symbol_width + (mx - QUIET_ZONE_MODULES)]
    } else {
        Color::Light
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "https://microsoft.com/devicelogin";

    #[test]
    fn image_has_quiet_zone_integer_scale_and_matches_the_matrix() {
        let qr = qr_pixels(URI).unwrap();
        let code = QrCode::with_error_correction_level(URI, EcLevel::M).unwrap();
        let w = code.width();
        let colors = code.to_colors();

        assert_eq!(qr.modules, w + 2 * QUIET_ZONE_MODULES);
        assert!(qr.scale >= 1);
        let side = qr.modules * qr.scale;
        assert!(side >= TARGET_PIXELS);
        assert_eq!(qr.buffer.width() as usize, side);
        assert_eq!(qr.buffer.height() as usize, side);

        let px = qr.buffer.as_slice();
        let at = |x: usize, y: usize| px[y * side + x];
        for my in 0..qr.modules {
            for mx in 0..qr.modules {
                let quiet = mx < QUIET_ZONE_MODULES
                    || my < QUIET_ZONE_MODULES
                    || mx >= QUIET_ZONE_MODULES + w
                    || my >= QUIET_ZONE_MODULES + w;
                let want = if quiet {
                    LIGHT
                } else {
                    match colors[(my - QUIET_ZONE_MODULES) * w + (mx - QUIET_ZONE_MODULES)] {
                        Color::Dark => DARK,
                        Color::Light => LIGHT,
                    }
                };
                // Every pixel of the module's square has the module's colour.
                for y in my * qr.scale..(my + 1) * qr.scale {
                    for x in mx * qr.scale..(mx + 1) * qr.scale {
                        assert_eq!(at(x, y), want, "module ({mx},{my}) pixel ({x},{y})");
                    }
                }
            }
        }
    }

    #[test]
    fn finder_pattern_sits_right_after_the_quiet_zone() {
        let qr = qr_pixels(URI).unwrap();
        let side = qr.modules * qr.scale;
        let px = qr.buffer.as_slice();
        let q = QUIET_ZONE_MODULES * qr.scale;
        // Top-left corner of the symbol is the dark outer ring of a finder pattern ...
        assert_eq!(px[q * side + q], DARK);
        // ... and the last quiet-zone pixel before it is light.
        assert_eq!(px[(q - 1) * side + (q - 1)], LIGHT);
        assert_eq!(px[0], LIGHT);
        assert_eq!(px[side * side - 1], LIGHT);
    }

    #[test]
    fn longer_text_gives_more_modules() {
        let short = qr_pixels("https://a.example").unwrap();
        let long = qr_pixels(&format!("https://a.example/{}", "x".repeat(200))).unwrap();
        assert!(long.modules > short.modules);
    }

    #[test]
    fn empty_and_oversized_text_are_errors() {
        assert!(matches!(qr_pixels(""), Err(QrError::Empty)));
        let err = qr_pixels(&"x".repeat(5000)).err().unwrap();
        assert!(matches!(err, QrError::Encode { chars: 5000, .. }));
        assert!(err.to_string().contains("5000 characters"));
    }

    #[test]
    fn image_wraps_the_same_pixels() {
        let image = qr_image(URI).unwrap();
        let qr = qr_pixels(URI).unwrap();
        assert_eq!(image.size().width, qr.buffer.width());
        assert_eq!(image.to_rgb8().unwrap().as_slice(), qr.buffer.as_slice());
    }
}
