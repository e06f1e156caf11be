//! Card-number normalisation (`readers.card_normalise`, `directory.card_normalise`): step
//! lists as written in the config and raw reads from a reader. A step that parses prints back
//! to itself; a normalised number is non-empty and trimmed (a step such as `last:N` or a
//! `regex:` capture can bring inner whitespace to an end, and the pipeline trims it again).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfp_kiosk::auth::card::{CardPipeline, NormaliseStep};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // First line: the raw read; the other lines: one step each.
    let mut lines = text.split('\n');
    let raw = lines.next().unwrap_or_default();
    let steps: Vec<String> = lines.map(str::to_string).collect();
    for s in &steps {
        if let Ok(step) = NormaliseStep::parse(s) {
            assert_eq!(NormaliseStep::parse(&step.to_string()).as_ref(), Ok(&step));
        }
    }
    let Ok(pipeline) = CardPipeline::parse(&steps) else {
        return;
    };
    let trimmed = |c: char| c.is_whitespace() || c.is_control();
    if let Ok(card) = pipeline.apply(raw) {
        assert!(!card.is_empty());
        assert!(!card.starts_with(trimmed) && !card.ends_with(trimmed));
    }
    // The leading trim, one entry per step, and the closing trim when a step needed it.
    let (trace, result) = pipeline.trace(raw);
    assert!(trace.len() <= pipeline.steps().len() + 2);
    assert_eq!(result.is_ok(), pipeline.apply(raw).is_ok());
});
