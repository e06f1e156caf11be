//! The store against a real SQLite file: schema creation, persistence across reopen, pragmas,
//! indexed card lookup, card replacement, cascades, and no plaintext secrets on disk.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use mfp_kiosk::identity::{UserRecord, UserStatus};
use mfp_kiosk::secrets::{mask_card, DeviceKey};
use mfp_kiosk::store::{JobState, NewJob, Store};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, h, 0, 0).unwrap()
}

fn user(oid: &str, name: &str) -> UserRecord {
    UserRecord {
        oid: oid.into(),
        tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
        upn: format!("{name}@contoso.com"),
        display_name: name.into(),
        mail: None,
        username: format!("msp-{name}"),
        roles: vec!["Kiosk.User".into(), "Kiosk.Technician".into()],
        groups: vec!["5f2b0c6e-0000-0000-0000-000000000001".into()],
        is_technician: true,
        status: UserStatus::Active,
        created_at: at(8),
        updated_at: at(8),
        last_online_at: at(8),
    }
}

fn job(oid: &str, n: u128, dir: &Path) -> NewJob {
    NewJob {
        id: Uuid::from_u128(n),
        user_oid: oid.into(),
        workflow_id: "scan-to-onedrive".into(),
        destination: serde_json::json!({"kind": "onedrive", "folder": "Scans"}),
        folder: "Scans/2025-03-01".into(),
        file_name: format!("Scan {n}.pdf"),
        spool_path: dir.join(format!("{n}.pdf")),
        size_bytes: 4096,
        pages: 2,
    }
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    // A directory that does not exist yet: open must create it.
    dir.path().join("state/kiosk.db")
}

/// Bytes of the database and its WAL/SHM side files.
fn raw_bytes(db: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(b) = std::fs::read(PathBuf::from(p)) {
            all.extend(b);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn fresh_file_gets_schema_wal_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.pragma("journal_mode").unwrap(), "wal");
    assert_eq!(store.pragma("foreign_keys").unwrap(), "1");
    assert_eq!(store.pragma("synchronous").unwrap(), "2"); // FULL
    assert_eq!(
        store.pragma("user_version").unwrap(),
        mfp_kiosk::store::schema_version().to_string()
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Inspect the file with an independent connection.
    let raw = rusqlite::Connection::open(&path).unwrap();
    let mut tables: Vec<String> = raw
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.sort();
    assert_eq!(
        tables,
        [
            "audit",
            "cards",
            // Fleet-wide enrollment: the write-back queue.
            "dir_card_writes",
            // Directory sync: the directory as last seen, delta links, provisioning report.
            "dir_members",
            "dir_sync",
            "dir_users",
            "jobs",
            "local_accounts",
            "panel_lockout",
            "pins",
            "provisioning_changes",
            "provisioning_runs",
            "refresh_tokens",
            // The SCIM endpoint's resources.
            "scim_groups",
            "scim_members",
            "scim_users",
            // The service-PIN pad's own lockout.
            "service_pin_lockout",
            "users",
            // The FTS5 user search table and its shadow tables.
            "users_search",
            "users_search_config",
            "users_search_content",
            "users_search_data",
            "users_search_docsize",
            "users_search_idx",
        ]
    );
}

#[test]
fn reopen_keeps_data_and_does_not_rerun_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let key = DeviceKey::from_master(&[5; 32]);
    {
        let s = Store::open(&path).unwrap();
        s.upsert_user(&user("oid-a", "adele")).unwrap();
        s.bind_card(
            "oid-a",
            &key.card_hash("0077705923"),
            &mask_card("0077705923"),
            3,
            at(9),
        )
        .unwrap();
        s.set_pin_hash("oid-a", "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", at(9))
            .unwrap();
        s.insert_job(&job("oid-a", 1, dir.path()), at(9)).unwrap();
        s.append_audit(
            "oid-a",
            "card.bind",
            Some("oid-a"),
            Some("•••• 5923"),
            at(9),
        )
        .unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(
        s.pragma("user_version").unwrap(),
        mfp_kiosk::store::schema_version().to_string()
    );
    assert_eq!(
        s.user_by_oid("oid-a").unwrap().unwrap(),
        user("oid-a", "adele")
    );
    let cards = s.cards_for_user("oid-a").unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].masked, "•••• 5923");
    assert_eq!(s.pin_state("oid-a").unwrap().unwrap().failed_attempts, 0);
    assert_eq!(
        s.job(Uuid::from_u128(1)).unwrap().unwrap().state,
        JobState::Queued
    );
    assert_eq!(s.recent_audit(10).unwrap()[0].action, "card.bind");
}

#[test]
fn card_lookup_by_hash_uses_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let key = DeviceKey::from_master(&[6; 32]);
    let s = Store::open(&path).unwrap();
    s.upsert_user(&user("oid-a", "adele")).unwrap();
    s.upsert_user(&user("oid-m", "megan")).unwrap();
    s.bind_card("oid-a", &key.card_hash("1111"), "•••• 11", 3, at(9))
        .unwrap();
    s.bind_card("oid-m", &key.card_hash("2222"), "•••• 22", 3, at(9))
        .unwrap();
    assert_eq!(
        s.user_by_card_hash(&key.card_hash("2222"))
            .unwrap()
            .unwrap()
            .oid,
        "oid-m"
    );
    assert_eq!(s.user_by_card_hash(&key.card_hash("3333")).unwrap(), None);

    let raw = rusqlite::Connection::open(&path).unwrap();
    let plan: Vec<String> = raw
        .prepare(
            "EXPLAIN QUERY PLAN SELECT u.oid FROM cards k JOIN users u ON u.oid = k.user_oid
             WHERE k.hash = ?1",
        )
        .unwrap()
        .query_map([&[0u8; 32][..]], |r| r.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let plan = plan.join(" | ");
    assert!(plan.contains("SEARCH k USING"), "{plan}");
    assert!(!plan.contains("SCAN"), "{plan}");
}

#[test]
fn binding_beyond_the_limit_replaces_the_oldest_card() {
    let s = Store::open_in_memory().unwrap();
    s.upsert_user(&user("oid-a", "adele")).unwrap();
    s.bind_card("oid-a", &[1; 32], "•••• 0001", 2, at(9))
        .unwrap();
    s.bind_card("oid-a", &[2; 32], "•••• 0002", 2, at(10))
        .unwrap();
    let out = s
        .bind_card("oid-a", &[3; 32], "•••• 0003", 2, at(11))
        .unwrap();
    assert_eq!(out.replaced, ["•••• 0001"]);
    let masks: Vec<String> = s
        .cards_for_user("oid-a")
        .unwrap()
        .into_iter()
        .map(|c| c.masked)
        .collect();
    assert_eq!(masks, ["•••• 0002", "•••• 0003"]);
    assert_eq!(s.user_by_card_hash(&[1; 32]).unwrap(), None);

    // Lowering the limit trims several at once, oldest first.
    let out = s
        .bind_card("oid-a", &[4; 32], "•••• 0004", 1, at(12))
        .unwrap();
    assert_eq!(out.replaced, ["•••• 0002", "•••• 0003"]);
    assert_eq!(s.cards_for_user("oid-a").unwrap().len(), 1);
}

#[test]
fn deleting_a_user_cascades() {
    let dir = tempfile::tempdir().unwrap();
    let key = DeviceKey::from_master(&[7; 32]);
    let s = Store::open(&db_path(&dir)).unwrap();
    s.upsert_user(&user("oid-a", "adele")).unwrap();
    s.upsert_user(&user("oid-m", "megan")).unwrap();
    for oid in ["oid-a", "oid-m"] {
        s.bind_card(oid, &key.card_hash(oid), "••••", 3, at(9))
            .unwrap();
        s.set_pin_hash(oid, "$argon2id$x", at(9)).unwrap();
        let sealed = key.seal(&SecretString::from("rt"), oid.as_bytes()).unwrap();
        s.put_refresh_token(oid, &sealed, at(9)).unwrap();
    }
    s.insert_job(&job("oid-a", 1, dir.path()), at(9)).unwrap();
    s.insert_job(&job("oid-m", 2, dir.path()), at(9)).unwrap();
    s.append_audit("system", "user.create", Some("oid-a"), None, at(9))
        .unwrap();

    let spool = s.delete_user("oid-a").unwrap();
    assert_eq!(spool, [dir.path().join("1.pdf")]);
    assert_eq!(s.user_by_oid("oid-a").unwrap(), None);
    assert!(s.cards_for_user("oid-a").unwrap().is_empty());
    assert_eq!(s.user_by_card_hash(&key.card_hash("oid-a")).unwrap(), None);
    assert_eq!(s.pin_state("oid-a").unwrap(), None);
    assert_eq!(s.refresh_token("oid-a").unwrap(), None);
    assert_eq!(s.job(Uuid::from_u128(1)).unwrap(), None);
    // The other user is untouched and the audit trail survives.
    assert_eq!(s.cards_for_user("oid-m").unwrap().len(), 1);
    assert!(s.refresh_token("oid-m").unwrap().is_some());
    assert!(s.job(Uuid::from_u128(2)).unwrap().is_some());
    assert_eq!(s.recent_audit(10).unwrap().len(), 1);
}

#[test]
fn revoking_wipes_credentials_but_keeps_the_record() {
    let key = DeviceKey::from_master(&[8; 32]);
    let s = Store::open_in_memory().unwrap();
    s.upsert_user(&user("oid-a", "adele")).unwrap();
    s.bind_card("oid-a", &key.card_hash("1"), "•", 3, at(9))
        .unwrap();
    s.bind_card("oid-a", &key.card_hash("2"), "•", 3, at(9))
        .unwrap();
    s.set_pin_hash("oid-a", "$argon2id$x", at(9)).unwrap();
    let sealed = key.seal(&SecretString::from("rt"), b"oid-a").unwrap();
    s.put_refresh_token("oid-a", &sealed, at(9)).unwrap();

    let r = s.revoke_user("oid-a", "disabled in Entra", at(10)).unwrap();
    assert_eq!((r.cards, r.pin, r.refresh_token), (2, true, true));
    let u = s.user_by_oid("oid-a").unwrap().unwrap();
    assert_eq!(u.status, UserStatus::Revoked);
    assert_eq!(u.updated_at, at(10));
    assert_eq!(s.user_by_card_hash(&key.card_hash("1")).unwrap(), None);
    assert_eq!(s.pin_state("oid-a").unwrap(), None);
    assert_eq!(s.refresh_token("oid-a").unwrap(), None);
}

#[test]
fn secrets_are_not_in_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let key = DeviceKey::load_or_create(&dir.path().join("state/device.key")).unwrap();
    let token = "0.ARwA6WgJ-plaintext-refresh-token-must-never-hit-disk";
    let card = "0077705923";
    let s = Store::open(&path).unwrap();
    s.upsert_user(&user("oid-a", "adele")).unwrap();
    let sealed = key.seal(&SecretString::from(token), b"oid-a").unwrap();
    s.put_refresh_token("oid-a", &sealed, at(9)).unwrap();
    s.bind_card("oid-a", &key.card_hash(card), &mask_card(card), 3, at(9))
        .unwrap();

    // Check the WAL before and after it is folded into the main file.
    for _ in 0..2 {
        let bytes = raw_bytes(&path);
        assert!(
            contains(&bytes, b"oid-a"),
            "the test must see the data it wrote"
        );
        assert!(
            !contains(&bytes, token.as_bytes()),
            "refresh token in clear on disk"
        );
        assert!(
            !contains(&bytes, b"plaintext-refresh"),
            "part of the token on disk"
        );
        assert!(
            !contains(&bytes, card.as_bytes()),
            "full card number on disk"
        );
        s.checkpoint().unwrap();
    }

    // And it comes back intact, only for the right user.
    let stored = s.refresh_token("oid-a").unwrap().unwrap();
    assert_eq!(key.open(&stored, b"oid-a").unwrap().expose_secret(), token);
    assert!(key.open(&stored, b"oid-m").is_err());
}

#[test]
fn clones_share_one_database_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&db_path(&dir)).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    s.append_audit(
                        &format!("thread-{t}"),
                        "test",
                        Some(&i.to_string()),
                        None,
                        at(9),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(s.recent_audit(1000).unwrap().len(), 100);
}

#[test]
fn a_second_process_sees_committed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = Store::open(&path).unwrap();
    s.upsert_user(&user("oid-a", "adele")).unwrap();
    let other = Store::open(&path).unwrap();
    assert!(other.user_by_oid("oid-a").unwrap().is_some());
    other.touch_online("oid-a", at(12)).unwrap();
    assert_eq!(
        s.user_by_oid("oid-a").unwrap().unwrap().last_online_at,
        at(12)
    );
}

#[test]
fn a_damaged_database_is_named_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let err = Store::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("restore a backup"), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage, "nothing re-created");
}
