//! `device/99-mfp-kiosk.rules`: every rule that tags a device as a badge reader matches one
//! reader model exactly (USB vendor id, product id, and a keyboard), never a whole vendor.
//!
//! A tagged device is given to the panel's user read/write and may be grabbed as the badge
//! reader, so a vendor-wide match would hand over that vendor's other devices too. udev itself
//! cannot be asked here (`udevadm verify` needs systemd 253, `udevadm test` a real input
//! device in /sys), so this reads the rules file with a small parser of udev's rule syntax:
//! comma-separated `KEY{attr}OP"value"` items, `\` line continuations, `#` comments. The
//! guest of `device/qemu/boot-test.sh` loads the same file with the real udevd.

use std::path::Path;

const TAG: &str = "MFP_KIOSK_BADGE_READER";

/// One `KEY{attr}OP"value"` item of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    key: String,
    op: String,
    value: String,
}

/// The rules of the file, each with the (first) line number it starts on.
fn rules(text: &str) -> Vec<(usize, Vec<Item>)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if pending.is_empty() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            start = n + 1;
        }
        match line.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(line);
                out.push((start, parse_rule(&pending, start)));
                pending.clear();
            }
        }
    }
    assert!(pending.is_empty(), "the file ends in a line continuation");
    out
}

fn parse_rule(rule: &str, line: usize) -> Vec<Item> {
    let mut items = Vec::new();
    let mut rest = rule.trim();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| "=!+-:".contains(c))
            .unwrap_or_else(|| panic!("line {line}: no operator in {rest:?}"));
        let key = rest[..key_end].trim().to_string();
        let after_key = &rest[key_end..];
        let op = ["==", "!=", "+=", "-=", ":=", "="]
            .into_iter()
            .find(|op| after_key.starts_with(op))
            .unwrap_or_else(|| panic!("line {line}: bad operator in {after_key:?}"));
        let after_op = after_key[op.len()..].trim_start();
        let quoted = after_op
            .strip_prefix('"')
            .unwrap_or_else(|| panic!("line {line}: value not quoted in {after_op:?}"));
        let close = quoted
            .find('"')
            .unwrap_or_else(|| panic!("line {line}: unterminated value in {quoted:?}"));
        items.push(Item {
            key,
            op: op.to_string(),
            value: quoted[..close].to_string(),
        });
        rest = quoted[close + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    items
}

fn lower_hex4(v: &str) -> bool {
    v.len() == 4
        && v.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// What is wrong with a rule that sets the badge-reader tag; empty when it is fine.
fn problems(items: &[Item]) -> Vec<String> {
    let matches = |key: &str, ok: &dyn Fn(&str) -> bool| {
        items
            .iter()
            .any(|i| i.key == key && i.op == "==" && ok(&i.value))
    };
    let mut out = Vec::new();
    // udev ids are lower-case hex without glob characters: one model, not a range of them.
    if !matches("ENV{ID_VENDOR_ID}", &lower_hex4) {
        out.push("no exact ENV{ID_VENDOR_ID}==\"vvvv\" match".to_string());
    }
    if !matches("ENV{ID_MODEL_ID}", &lower_hex4) {
        out.push("no exact ENV{ID_MODEL_ID}==\"pppp\" match".to_string());
    }
    if !matches("ENV{ID_INPUT_KEYBOARD}", &|v| v == "1") {
        out.push("no ENV{ID_INPUT_KEYBOARD}==\"1\" match".to_string());
    }
    out
}

fn sets_tag(items: &[Item]) -> bool {
    items
        .iter()
        .any(|i| i.key == format!("ENV{{{TAG}}}") && i.op != "==" && i.op != "!=")
}

fn shipped_rules() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("device/99-mfp-kiosk.rules");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_badge_reader_rule_matches_vendor_product_and_keyboard() {
    let text = shipped_rules();
    let mut readers = Vec::new();
    let mut bad = Vec::new();
    for (line, items) in rules(&text) {
        if !sets_tag(&items) {
            continue;
        }
        let tagging: Vec<&Item> = items
            .iter()
            .filter(|i| i.key == format!("ENV{{{TAG}}}"))
            .collect();
        // Only ever set to "1" with a plain assignment: `+=`/`-=`/`:=` on it would be a mistake.
        if tagging.iter().any(|i| i.op != "=" || i.value != "1") {
            bad.push(format!("line {line}: sets {TAG} other than ={:?}", "1"));
        }
        for p in problems(&items) {
            bad.push(format!("line {line}: {p}"));
        }
        let id = |key: &str| {
            items
                .iter()
                .find(|i| i.key == key && i.op == "==")
                .map(|i| i.value.clone())
                .unwrap_or_default()
        };
        readers.push(format!(
            "{}:{}",
            id("ENV{ID_VENDOR_ID}"),
            id("ENV{ID_MODEL_ID}")
        ));
    }
    assert!(
        bad.is_empty(),
        "badge-reader rules too broad:\n{}",
        bad.join("\n")
    );
    // The models the README and the rules' header name.
    assert_eq!(readers, ["0c27:3bfa", "09d8:0410"]);
}

#[test]
fn the_tag_is_only_acted_on_after_the_reader_rules() {
    // The rule that gives tagged devices to the panel's user must come after every rule that
    // sets the tag, or a reader listed below it would stay unassigned.
    let rules = rules(&shipped_rules());
    let tag_key = format!("ENV{{{TAG}}}");
    let last_set = rules
        .iter()
        .rposition(|(_, items)| sets_tag(items))
        .expect("no rule tags badge readers");
    let grant = rules
        .iter()
        .position(|(_, items)| {
            items
                .iter()
                .any(|i| i.key == tag_key && i.op == "==" && i.value == "1")
                && items
                    .iter()
                    .any(|i| i.key == "GROUP" && i.value == "mfp-kiosk")
        })
        .expect("no rule gives badge readers to group mfp-kiosk");
    assert!(grant > last_set, "{rules:?}");
}

#[test]
fn the_checker_refuses_a_vendor_wide_rule() {
    // The rule the review found (any input device of RF IDeas), and near misses.
    let too_broad = [
        r#"ENV{ID_VENDOR_ID}=="0c27", ENV{MFP_KIOSK_BADGE_READER}="1""#,
        r#"ENV{ID_VENDOR_ID}=="0c27", ENV{ID_INPUT_KEYBOARD}=="1", ENV{MFP_KIOSK_BADGE_READER}="1""#,
        r#"ENV{ID_VENDOR_ID}=="0c27", ENV{ID_MODEL_ID}=="3bf*", ENV{ID_INPUT_KEYBOARD}=="1", ENV{MFP_KIOSK_BADGE_READER}="1""#,
        r#"ENV{ID_VENDOR_ID}=="0c27", ENV{ID_MODEL_ID}!="3bfa", ENV{ID_INPUT_KEYBOARD}=="1", ENV{MFP_KIOSK_BADGE_READER}="1""#,
        r#"ENV{ID_VENDOR_ID}=="0c27", ENV{ID_MODEL_ID}=="3bfa", ENV{MFP_KIOSK_BADGE_READER}="1""#,
    ];
    for rule in too_broad {
        let items = parse_rule(rule, 1);
        assert!(sets_tag(&items), "{rule}");
        assert!(!problems(&items).is_empty(), "accepted: {rule}");
    }
    let exact = rules(
        "ENV{ID_VENDOR_ID}==\"0c27\", ENV{ID_MODEL_ID}==\"3bfa\", \\\n  \
         ENV{ID_INPUT_KEYBOARD}==\"1\", ENV{MFP_KIOSK_BADGE_READER}=\"1\"\n",
    );
    assert_eq!(exact.len(), 1, "{exact:?}");
    assert!(
        sets_tag(&exact[0].1) && problems(&exact[0].1).is_empty(),
        "{exact:?}"
    );
    // Comments and blank lines are skipped; continuation lines are joined into one rule.
    let joined = rules("# c\nA==\"1\", \\\n  B=\"2\"\n\nC!=\"3\", GOTO=\"x\"\n");
    assert_eq!(joined.len(), 2);
    assert_eq!(joined[0].0, 2);
    assert_eq!(joined[0].1.len(), 2);
    assert_eq!(joined[1].1[1].key, "GOTO");
}
