//! Tokens at rest: after a Microsoft sign-in and a silent card sign-in, no token the simulated
//! Entra issued (refresh, access or ID token; taken from the simulator's own record) appears in
//! any file of the panel's state directory (SQLite database, WAL, shared memory, device key) or
//! anywhere in the log, captured at TRACE level for every crate.
#![cfg(feature = "demo")]

mod entra_support;

use std::path::{Path, PathBuf};

use entra_support::{kiosk, LogBuffer};
use mfp_kiosk::app::signin;
use mfp_kiosk::kiosk::Event;
use mfp_kiosk::sim::TokenKind;
use secrecy::{ExposeSecret, SecretString};

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The whole token and a 24-character piece of its middle (a truncated or wrapped copy is a
/// leak too).
fn needles(token: &str) -> Vec<Vec<u8>> {
    let mid = token.len() / 2;
    vec![
        token.as_bytes().to_vec(),
        token.as_bytes()[mid - 12..mid + 12].to_vec(),
    ]
}

#[tokio::test]
async fn no_token_in_the_database_its_wal_or_the_log() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    // The only test of this binary: a global subscriber sees every thread (spawn_blocking too).
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .init();

    let k = kiosk(|_| {}, |_| {}).await;
    let adele = k.user("adele@contoso.example");
    k.sign_in(&adele.oid, Some("0004417321")).await.unwrap();
    k.sessions.remove(&adele.oid);
    let event = signin::lookup_card(
        &k.services,
        &k.sessions,
        1,
        SecretString::from("0004417321"),
        false,
    )
    .await;
    assert!(matches!(event, Event::AuthSucceeded { .. }), "{event:?}");
    // Make the database's main file hold the rows too, not only the WAL.
    k.services.store.checkpoint().unwrap();
    k.services.silent_refresh(&adele.oid).await.unwrap();

    let issued = k.sim.issued_tokens();
    for kind in [TokenKind::Refresh, TokenKind::Access, TokenKind::Id] {
        assert!(
            issued.iter().filter(|t| t.kind == kind).count() >= 3,
            "{kind:?} tokens issued: sign-in, card refresh, refresh"
        );
    }

    let files = files_under(&k.state_dir());
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n == "kiosk.sqlite3"), "{names:?}");
    assert!(names.iter().any(|n| n == "kiosk.sqlite3-wal"), "{names:?}");
    let contents: Vec<(PathBuf, Vec<u8>)> = files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    // The search looks at the right bytes: the user's record is there in clear.
    assert!(contents
        .iter()
        .any(|(_, b)| contains(b, b"adele@contoso.example")));

    let log = logs.bytes();
    assert!(
        logs.text().contains("device-code sign-in completed"),
        "the capture works"
    );
    for token in &issued {
        for needle in needles(token.value.expose_secret()) {
            for (path, bytes) in &contents {
                assert!(
                    !contains(bytes, &needle),
                    "{:?} token found in {}",
                    token.kind,
                    path.display()
                );
            }
            assert!(
                !contains(&log, &needle),
                "{:?} token in the log",
                token.kind
            );
        }
    }
}
