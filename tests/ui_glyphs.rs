//! Japanese is drawn with real glyphs, no tofu boxes: every character of the Japanese
//! translation is in the font subset (ui/fonts/NotoSansJP-Subset.otf, checked with ttf-parser;
//! a file beside the binary, registered at start by `ui::fonts`, not embedded), and the
//! software renderer really draws those glyphs on the panel.
//!
//! What proves the rendering: a missing glyph is drawn as the same box for every character, so
//! a line of missing glyphs looks the same in any order. The Japanese title drawn in the
//! header, and the same characters reversed, must differ from each other and from a line of
//! private-use characters (which no font has); and the Japanese idle page must differ from the
//! English one in its title area, with ink there.
//!
//! Installs its own Slint platform (screenshots): not in a process with the testing backend.

use mfp_kiosk::i18n::catalog::parse_po;
use mfp_kiosk::i18n::{Language, Msg};
use mfp_kiosk::ui::screenshot::{render_rgb, sample_state};
use mfp_kiosk::ui::UiState;
use slint::Rgb8Pixel;

const W: u32 = 1024;
const H: u32 = 600;

fn font() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/ui/fonts/NotoSansJP-Subset.otf"
    ))
    .unwrap()
}

#[test]
fn every_character_of_the_japanese_translation_is_in_the_font_file() {
    let data = font();
    assert!(
        data.len() < 2 * 1024 * 1024,
        "the subset stays small: {} bytes",
        data.len()
    );
    let face = ttf_parser::Face::parse(&data, 0).expect("a valid OpenType font");
    let po = parse_po(include_str!(
        "../ui/translations/ja/LC_MESSAGES/mfp-kiosk.po"
    ))
    .unwrap();
    let mut missing: Vec<char> = po
        .entries
        .iter()
        .flat_map(|e| e.strs.iter())
        .flat_map(|s| s.chars())
        // ASCII comes from the default font; the subset covers what it lacks.
        .filter(|c| !c.is_ascii())
        .chain("日本語".chars())
        .filter(|&c| face.glyph_index(c).is_none())
        .collect();
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "characters without a glyph (run ui/fonts/make-cjk-subset.sh): {missing:?}"
    );
    // And the check can fail: private-use characters are in no font.
    assert!(face.glyph_index('\u{E000}').is_none());
}

fn render(state: &UiState) -> Vec<Rgb8Pixel> {
    render_rgb(state, W, H).unwrap()
}

/// The pixels of rows `y0..y1`, columns `x0..x1`.
fn region(p: &[Rgb8Pixel], (x0, y0, x1, y1): (u32, u32, u32, u32)) -> Vec<[u8; 3]> {
    (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (x, y)))
        .map(|(x, y)| {
            let px = p[(y * W + x) as usize];
            [px.r, px.g, px.b]
        })
        .collect()
}

fn ink(r: &[[u8; 3]], against: [u8; 3]) -> usize {
    r.iter().filter(|p| **p != against).count()
}

#[test]
fn the_japanese_idle_page_draws_real_glyphs() {
    let title = Msg::new("Tap your badge").render(Language::Ja);
    assert_eq!(title, "社員証をタッチ", "the ja catalogue is bundled");
    let reversed: String = title.chars().rev().collect();
    let tofu: String = std::iter::repeat_n('\u{E000}', title.chars().count()).collect();

    let idle = |lang, name: &str| UiState {
        device_name: name.into(),
        ..sample_state("idle", lang).unwrap()
    };
    // The header (device name) is a line of text the test controls.
    let header = (0, 0, W / 2, 50);
    let header_bg = {
        let p = render(&idle(Language::Ja, ""));
        region(&p, header)[0]
    };
    let forward = region(&render(&idle(Language::Ja, &title)), header);
    let backward = region(&render(&idle(Language::Ja, &reversed)), header);
    let boxes = region(&render(&idle(Language::Ja, &tofu)), header);
    assert!(ink(&forward, header_bg) > 200, "the Japanese line has ink");
    assert!(
        forward != backward,
        "distinct glyphs: order matters (tofu boxes would not)"
    );
    assert!(forward != boxes, "not drawn as missing-glyph boxes");

    // The idle page's own title, from the bundled translation.
    let ja = render(&idle(Language::Ja, "MFP"));
    let en = render(&idle(Language::En, "MFP"));
    let title_area = (0, 60, W * 3 / 5, H - 100);
    let (ja_title, en_title) = (region(&ja, title_area), region(&en, title_area));
    let page_bg = ja_title[0];
    assert!(ja_title != en_title, "the title is translated");
    assert!(ink(&ja_title, page_bg) > 500, "the Japanese title has ink");
}
