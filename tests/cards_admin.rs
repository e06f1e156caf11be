//! Card administration end to end: a technician (API, as the service menu will call it) or a
//! shell (`mfp-kiosk cards ...`, the real binary) enrolls a card for a user, and that card
//! then signs the user in through the panel's own `lookup_card`; cards bound to someone else,
//! the per-user limit, revocation and the audit trail. Real SQLite in a temp dir, the
//! simulated Entra tenant for the sign-ins, no mocks.
#![cfg(feature = "demo")]

mod bin_support;
mod entra_support;

use bin_support::Run;

use entra_support::{kiosk, Kiosk};
use mfp_kiosk::admin::cards::{Actor, BoundBy, CardAdminError, Revoke};
use mfp_kiosk::app::signin;
use mfp_kiosk::kiosk::Event;
use mfp_kiosk::store::AuditQuery;
use secrecy::SecretString;

/// What the reader yields (hex UID) and what `hex_to_dec, pad_left:10` makes of it.
const RAW: &str = "04A1B2C3";
const NORMALISED: &str = "0077705923";
const MASKED: &str = "•••• 5923";

const PIPELINE: [&str; 2] = ["hex_to_dec", "pad_left:10"];

async fn panel(max_cards: u32) -> Kiosk {
    kiosk(
        |_| {},
        |c| {
            c.readers.normalise = PIPELINE.iter().map(|s| s.to_string()).collect();
            c.identity.max_cards_per_user = max_cards;
        },
    )
    .await
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

/// Taps `raw` at the idle page: the event the panel's machine would get.
async fn tap(k: &Kiosk, raw: &str) -> Event {
    let event = signin::lookup_card(&k.services, &k.sessions, 1, secret(raw), false).await;
    // Each tap starts from a signed-out panel.
    for u in k.services.store.list_users().unwrap() {
        k.sessions.remove(&u.oid);
    }
    event
}

fn signed_in_as(event: &Event) -> Option<String> {
    match event {
        Event::AuthSucceeded { user, .. } => Some(user.oid.clone()),
        _ => None,
    }
}

/// Audit rows about `oid`, oldest first, as "actor action detail".
fn audit_about(k: &Kiosk, oid: &str) -> Vec<String> {
    let mut rows = k
        .services
        .store
        .query_audit(&AuditQuery {
            involving: vec![oid.to_string()],
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    rows.reverse();
    rows.into_iter()
        .map(|e| format!("{} {} {}", e.actor, e.action, e.detail.unwrap_or_default()))
        .collect()
}

/// Every file of the state directory (database, WAL, key), concatenated.
fn state_bytes(k: &Kiosk) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(k.state_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolled_card_signs_in_refuses_others_moves_and_revokes() {
    let k = panel(3).await;
    let adele = k
        .sign_in(&k.user("adele@contoso.example").oid, None)
        .await
        .unwrap();
    let megan = k
        .sign_in(&k.user("megan@contoso.example").oid, None)
        .await
        .unwrap();
    let tech = Actor::Technician(megan.oid.clone());
    let admin = k.services.cards();

    assert!(matches!(tap(&k, RAW).await, Event::CardUnknown { .. }));
    let e = admin.enroll(&adele, &secret(RAW), false, &tech).unwrap();
    assert_eq!(e.masked, MASKED);
    assert!(e.replaced.is_empty() && e.moved_from.is_none());
    // The card signs Adele in through the panel's path, whatever case the reader reports.
    assert_eq!(
        signed_in_as(&tap(&k, &RAW.to_lowercase()).await),
        Some(adele.oid.clone())
    );
    let cards = admin.list(&adele).unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].masked, MASKED);
    assert_eq!(
        cards[0].bound_by,
        BoundBy::Technician {
            oid: megan.oid.clone(),
            upn: Some("megan@contoso.example".into())
        }
    );
    assert!(cards[0].last_used_at.is_some(), "the sign-in is recorded");

    // Bound to Adele: refused for Megan, both named, nothing changes.
    let err = admin
        .enroll(&megan, &secret(RAW), false, &Actor::ServicePin)
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CardAdminError::BoundToOther { .. }));
    for want in [MASKED, "adele@contoso.example", "megan@contoso.example"] {
        assert!(msg.contains(want), "{want} missing: {msg}");
    }
    assert!(!msg.contains(NORMALISED) && !msg.contains(RAW), "{msg}");
    assert_eq!(signed_in_as(&tap(&k, RAW).await), Some(adele.oid.clone()));

    // Asked to move: it moves.
    let e = admin
        .enroll(&megan, &secret(RAW), true, &Actor::ServicePin)
        .unwrap();
    assert_eq!(
        e.moved_from.as_ref().map(|n| n.oid.as_str()),
        Some(adele.oid.as_str())
    );
    assert_eq!(signed_in_as(&tap(&k, RAW).await), Some(megan.oid.clone()));
    assert!(admin.list(&adele).unwrap().is_empty());
    assert_eq!(admin.list(&megan).unwrap()[0].bound_by, BoundBy::ServicePin);

    // Revoked: the next tap is "not recognised".
    let revoked = admin
        .revoke(&megan, &Revoke::Suffix("5923".into()), &tech)
        .unwrap();
    assert_eq!(revoked, [MASKED]);
    assert!(matches!(tap(&k, RAW).await, Event::CardUnknown { .. }));

    let tech_actor = format!("technician:{}", megan.oid);
    assert_eq!(
        audit_about(&k, &adele.oid)
            .into_iter()
            .filter(|r| r.contains("card_"))
            .collect::<Vec<_>>(),
        [
            format!("{tech_actor} card_enroll ok: bound {MASKED}"),
            format!(
                "service-pin card_revoke ok: {MASKED} moved to MEGAN BOWEN <megan@contoso.example>"
            )
            .replace("MEGAN BOWEN", &megan.display_name),
        ]
    );
    let megan_rows: Vec<String> = audit_about(&k, &megan.oid)
        .into_iter()
        .filter(|r| r.contains("card_"))
        .collect();
    assert_eq!(megan_rows.len(), 3, "{megan_rows:#?}");
    assert!(megan_rows[0].starts_with(&format!(
        "service-pin card_enroll refused: {MASKED} belongs to"
    )));
    assert!(megan_rows[1].starts_with(&format!(
        "service-pin card_enroll ok: bound {MASKED}; moved from"
    )));
    assert_eq!(
        megan_rows[2],
        format!("{tech_actor} card_revoke ok: revoked {MASKED}")
    );
    // Card sign-ins are audited by the panel as before.
    assert!(audit_about(&k, &adele.oid)
        .iter()
        .any(|r| r.contains("sign_in")));

    let bytes = state_bytes(&k);
    assert!(!contains(&bytes, NORMALISED) && !contains(&bytes, RAW));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_limit_replaces_the_oldest_and_says_which() {
    let k = panel(2).await;
    let alex = k
        .sign_in(&k.user("alex@contoso.example").oid, None)
        .await
        .unwrap();
    let admin = k.services.cards();
    let (first, second, third) = ("0A000001", "0A000002", "0A000003");
    admin
        .enroll(&alex, &secret(first), false, &Actor::Cli)
        .unwrap();
    admin
        .enroll(&alex, &secret(second), false, &Actor::Cli)
        .unwrap();
    let first_masked = admin.list(&alex).unwrap()[0].masked.clone();
    let plan = admin.plan(&alex, &secret(third)).unwrap();
    assert_eq!(plan.replaces, std::slice::from_ref(&first_masked));
    let e = admin
        .enroll(&alex, &secret(third), false, &Actor::Cli)
        .unwrap();
    assert_eq!(e.replaced, std::slice::from_ref(&first_masked));
    assert_eq!(e.max_per_user, 2);
    assert!(matches!(tap(&k, first).await, Event::CardUnknown { .. }));
    assert_eq!(signed_in_as(&tap(&k, second).await), Some(alex.oid.clone()));
    assert_eq!(signed_in_as(&tap(&k, third).await), Some(alex.oid.clone()));
    let last = audit_about(&k, &alex.oid)
        .into_iter()
        .rfind(|r| r.contains("card_enroll"))
        .unwrap();
    assert!(
        last.ends_with(&format!("; replaced {first_masked} (limit 2)")),
        "{last}"
    );

    // Revoke all: none of them works any more.
    assert_eq!(
        admin
            .revoke(&alex, &Revoke::All, &Actor::Cli)
            .unwrap()
            .len(),
        2
    );
    assert!(matches!(tap(&k, second).await, Event::CardUnknown { .. }));
    assert!(matches!(tap(&k, third).await, Event::CardUnknown { .. }));
}

// ---- the command line, as the real binary -------------------------------------------------

/// The config of `k` as a TOML file for the binary (same state directory and pipeline).
fn write_config(k: &Kiosk) -> std::path::PathBuf {
    let c = &k.services.config;
    let path = k.dir.path().join("kiosk.toml");
    std::fs::write(
        &path,
        format!(
            "[device]\nname = \"test\"\nstate_dir = \"{}\"\n\n[entra]\nauthority_host = \"{}\"\n\
             tenant = \"{}\"\nclient_id = \"{}\"\nallowed_tenants = [\"{}\"]\n\n[graph]\n\
             endpoint = \"{}\"\n\n[identity]\nmax_cards_per_user = {}\n\n[readers]\n\
             normalise = [\"hex_to_dec\", \"pad_left:10\"]\n\n\
             [[workflows]]\nid = \"scan\"\nlabel = \"Scan to OneDrive\"\ndestination = \"onedrive\"\n",
            k.state_dir().display(),
            c.entra.authority_host,
            c.entra.tenant,
            c.entra.client_id,
            c.entra.tenant,
            c.graph.endpoint,
            c.identity.max_cards_per_user,
        ),
    )
    .unwrap();
    path
}

/// Runs `mfp-kiosk --config <cfg> args...`, feeding `stdin`, off the async runtime.
async fn run(cfg: &std::path::Path, args: &[&str], stdin: &str) -> Run {
    let cfg = cfg.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        bin_support::run(&cfg, &args, &stdin)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cards_and_audit_commands_end_to_end() {
    let k = panel(3).await;
    let adele = k
        .sign_in(&k.user("adele@contoso.example").oid, None)
        .await
        .unwrap();
    let megan = k
        .sign_in(&k.user("megan@contoso.example").oid, None)
        .await
        .unwrap();
    let cfg = write_config(&k);
    let mut all_output = String::new();
    let mut keep = |r: &Run| all_output.push_str(&format!("{}{}", r.stdout, r.stderr));

    // Enroll with the number on stdin.
    let r = run(
        &cfg,
        &[
            "cards",
            "enroll",
            "--user",
            "adele@contoso.example",
            "--number",
            "-",
        ],
        &format!("{RAW}\n"),
    )
    .await;
    keep(&r);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "card {MASKED} bound to {} <adele@contoso.example>",
            adele.display_name
        )),
        "{}",
        r.stdout
    );
    assert_eq!(signed_in_as(&tap(&k, RAW).await), Some(adele.oid.clone()));

    // Megan by username: refused, both named, the fix named.
    let r = run(
        &cfg,
        &[
            "cards",
            "enroll",
            "--user",
            &megan.username,
            "--number",
            RAW,
        ],
        "",
    )
    .await;
    keep(&r);
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    for want in [
        MASKED,
        "adele@contoso.example",
        "megan@contoso.example",
        "--move",
    ] {
        assert!(r.stderr.contains(want), "{want} missing: {}", r.stderr);
    }
    let r = run(
        &cfg,
        &[
            "cards",
            "enroll",
            "--user",
            "megan@contoso.example",
            "--number",
            RAW,
            "--move",
        ],
        "",
    )
    .await;
    keep(&r);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("moved from"), "{}", r.stdout);
    assert_eq!(signed_in_as(&tap(&k, RAW).await), Some(megan.oid.clone()));

    // The list: masked suffix, bound by cli, last use recorded by the tap just now.
    let r = run(
        &cfg,
        &["cards", "list", "--user", "megan@contoso.example"],
        "",
    )
    .await;
    keep(&r);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let row = r
        .stdout
        .lines()
        .find(|l| l.contains(MASKED))
        .expect("Megan's card is listed");
    assert!(row.contains("  cli  "), "{row}");
    assert!(!row.ends_with("never"), "{row}");
    assert!(r.stdout.ends_with("1 card(s)\n"), "{}", r.stdout);
    let r = run(&cfg, &["cards", "list"], "").await;
    keep(&r);
    assert!(r.stdout.ends_with("1 card(s)\n"), "{}", r.stdout);

    // Errors that say what to fix.
    let r = run(
        &cfg,
        &["cards", "list", "--user", "ghost@contoso.example"],
        "",
    )
    .await;
    keep(&r);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("no user `ghost@contoso.example` on this panel"),
        "{}",
        r.stderr
    );
    let r = run(
        &cfg,
        &[
            "cards",
            "enroll",
            "--user",
            "adele@contoso.example",
            "--number",
            "12G4",
        ],
        "",
    )
    .await;
    keep(&r);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("does not pass the reader normalisation (`readers.normalise`)"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("12G4"), "{}", r.stderr);
    let r = run(
        &cfg,
        &["cards", "revoke", "--user", "megan@contoso.example"],
        "",
    )
    .await;
    assert_ne!(r.code, Some(0), "revoke needs --suffix or --all");

    // Revoke by suffix: the next tap is unknown.
    let r = run(
        &cfg,
        &[
            "cards",
            "revoke",
            "--user",
            "megan@contoso.example",
            "--suffix",
            "5923",
        ],
        "",
    )
    .await;
    keep(&r);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("revoked {MASKED}")),
        "{}",
        r.stdout
    );
    assert!(matches!(tap(&k, RAW).await, Event::CardUnknown { .. }));

    // The audit, as JSON, for Megan: newest first, every CLI step with actor `cli`.
    let r = run(
        &cfg,
        &[
            "audit",
            "--user",
            "megan@contoso.example",
            "--action",
            "card_enroll",
            "--json",
        ],
        "",
    )
    .await;
    keep(&r);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let details: Vec<&str> = rows.iter().map(|e| e["detail"].as_str().unwrap()).collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(details[0].starts_with("ok: bound"), "{details:?}");
    assert!(details[1].starts_with("refused:"), "{details:?}");
    assert!(rows
        .iter()
        .all(|e| e["actor"] == "cli" && e["subject"] == megan.oid.as_str()));
    let r = run(
        &cfg,
        &[
            "audit",
            "--user",
            "megan@contoso.example",
            "--since",
            "1d",
            "--limit",
            "2",
        ],
        "",
    )
    .await;
    keep(&r);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[1].contains("card_revoke") && lines[1].contains("  cli  "),
        "{}",
        r.stdout
    );
    let cursor = lines
        .last()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(
        lines.last().unwrap().contains("older ones: --before"),
        "{}",
        r.stdout
    );
    let r = run(
        &cfg,
        &[
            "audit",
            "--user",
            "megan@contoso.example",
            "--before",
            &cursor,
        ],
        "",
    )
    .await;
    keep(&r);
    assert!(r.stdout.contains("card_enroll"), "{}", r.stdout);
    let r = run(&cfg, &["audit", "--since", "2030-01-01"], "").await;
    assert!(r.stdout.ends_with("0 entries\n"), "{}", r.stdout);
    let r = run(&cfg, &["audit", "--since", "last week"], "").await;
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("--since must be"), "{}", r.stderr);

    // The number appears in no output and nowhere in the database files.
    assert!(
        !all_output.contains(RAW) && !all_output.contains(NORMALISED),
        "{all_output}"
    );
    let bytes = state_bytes(&k);
    assert!(!contains(&bytes, NORMALISED) && !contains(&bytes, RAW));
}
