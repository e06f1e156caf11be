//! Local accounts from a shell, as the real binary: `local-users add/list/set-pin/disable/
//! enable/extend/delete` and `cards enroll` for the new id, then the panel's own sign-in
//! (`lookup_card`, `verify_pin`) over the same state directory: badge + PIN signs the person
//! in with only the app workflows, disabled and expired accounts are refused without any
//! network (no cloud runs in this test), and an Entra user is never handled as local. Every
//! action is in the audit log. Set `MFP_KIOSK_BIN` to test a copy of the binary.

mod bin_support;

use bin_support::{run, Run};
use std::path::{Path, PathBuf};

use mfp_kiosk::app::{signin, Services};
use mfp_kiosk::config::Config;
use mfp_kiosk::kiosk::Event;
use mfp_kiosk::store::AuditQuery;
use secrecy::SecretString;

fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("kiosk.toml");
    std::fs::write(
        &path,
        format!(
            "[device]\nname = \"MFP-2\"\nstate_dir = \"{}\"\n\n[entra]\n\
             tenant = \"6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f\"\n\
             client_id = \"0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e\"\n\n\
             [pin]\nlogin_mode = \"card_and_pin\"\n\n\
             [[workflows]]\nid = \"mine\"\nlabel = \"Scan to OneDrive\"\ndestination = \"onedrive\"\n\n\
             [[workflows]]\nid = \"visitors\"\nlabel = \"Visitor scans\"\ndestination = \"sharepoint\"\n\
             site = \"contoso.sharepoint.com:/sites/Visitors\"\nlibrary = \"Documents\"\n\
             delivery = \"app\"\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    path
}

fn ok(r: Run) -> String {
    assert_eq!(
        r.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        r.stdout,
        r.stderr
    );
    r.stdout
}

fn services(cfg: &Path) -> Services {
    let mut config = Config::load(cfg).unwrap();
    config.device.state_dir = config.state_dir();
    let factory = mfp_kiosk::app::scanner_factory(&config, false);
    Services::new(config, factory).unwrap()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

async fn tap(s: &std::sync::Arc<Services>, card: &str) -> Event {
    signin::lookup_card(s, &Default::default(), 1, secret(card), false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_users_commands_and_the_panel_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());

    // Refusals first: nothing is created by them.
    let bad = run(
        &cfg,
        &["local-users", "add", "--name", "Ann", "--workflow", "mine"],
        "",
    );
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("delivery = \"app\""), "{}", bad.stderr);
    let bad = run(
        &cfg,
        &[
            "local-users",
            "add",
            "--name",
            "Ann",
            "--expires",
            "31/12/2027",
        ],
        "",
    );
    assert!(bad.stderr.contains("YYYY-MM-DD"), "{}", bad.stderr);
    let bad = run(
        &cfg,
        &[
            "local-users",
            "add",
            "--name",
            "Ann",
            "--expires",
            "2001-01-01",
        ],
        "",
    );
    assert!(bad.stderr.contains("already past"), "{}", bad.stderr);

    let added = ok(run(
        &cfg,
        &[
            "local-users",
            "add",
            "--name",
            "Ann Visitor",
            "--email",
            "ann@example.com",
            "--expires",
            "2099-12-31",
            "--workflow",
            "visitors",
        ],
        "",
    ));
    let id = added.lines().next().unwrap().trim().to_string();
    assert!(id.starts_with("local-"), "{added}");

    let listed: serde_json::Value =
        serde_json::from_str(&ok(run(&cfg, &["local-users", "list", "--json"], ""))).unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["expires_on"], "2099-12-31");
    assert_eq!(listed[0]["has_pin"], false);
    assert_eq!(listed[0]["workflows"][0], "visitors");

    // PIN typed twice; a mismatch and a weak PIN change nothing.
    let mismatch = run(&cfg, &["local-users", "set-pin", &id], "739164\n739165\n");
    assert!(mismatch.stderr.contains("differ"), "{}", mismatch.stderr);
    let weak = run(&cfg, &["local-users", "set-pin", &id], "1234\n1234\n");
    assert_ne!(weak.code, Some(0));
    ok(run(
        &cfg,
        &["local-users", "set-pin", &id],
        "739164\n739164\n",
    ));
    ok(run(
        &cfg,
        &["cards", "enroll", "--user", &id, "--number", "-"],
        "5550123456\n",
    ));
    let table = ok(run(&cfg, &["local-users", "list"], ""));
    assert!(
        table.contains("Ann Visitor") && table.contains("yes"),
        "{table}"
    );
    assert!(
        !table.contains("739164") && !table.contains("5550123456"),
        "{table}"
    );

    // The panel: badge, then PIN; only the app workflow is offered.
    let s = std::sync::Arc::new(services(&cfg));
    let sessions = signin::SessionTokens::default();
    let Event::NeedPin { oid, .. } = tap(&s, "5550123456").await else {
        panic!("card_and_pin asks for the PIN");
    };
    assert_eq!(oid, id);
    match signin::verify_pin(&s, &sessions, 1, oid.clone(), secret("739164")).await {
        Event::AuthSucceeded { user, .. } => {
            let ids: Vec<_> = user.workflows.iter().map(|w| w.id.as_str()).collect();
            assert_eq!(ids, ["visitors"]);
            assert_eq!(user.display_name, "Ann Visitor");
        }
        other => panic!("{other:?}"),
    }
    drop(s);

    // Disabled: refused; enabled again: asked for the PIN again.
    ok(run(&cfg, &["local-users", "disable", &id], ""));
    let s = std::sync::Arc::new(services(&cfg));
    match tap(&s, "5550123456").await {
        Event::AuthFailed { message, .. } => assert!(message.contains("switched off"), "{message}"),
        other => panic!("{other:?}"),
    }
    drop(s);
    ok(run(&cfg, &["local-users", "enable", &id], ""));

    // Expired by the panel's own clock, offline: the expiry day passed.
    let s = std::sync::Arc::new(services(&cfg));
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
    s.store.set_local_expiry(&id, Some(yesterday)).unwrap();
    match tap(&s, "5550123456").await {
        Event::AuthFailed { message, .. } => assert!(message.contains("expired"), "{message}"),
        other => panic!("{other:?}"),
    }
    drop(s);
    ok(run(
        &cfg,
        &["local-users", "extend", &id, "--expires", "never"],
        "",
    ));
    let s = std::sync::Arc::new(services(&cfg));
    assert!(matches!(tap(&s, "5550123456").await, Event::NeedPin { .. }));

    // An Entra user is never handled as local.
    let entra = mfp_kiosk::identity::UserRecord {
        oid: "e1".into(),
        tenant_id: "t".into(),
        upn: "megan@contoso.com".into(),
        display_name: "Megan".into(),
        mail: None,
        username: "msp-megan".into(),
        roles: vec![],
        groups: vec![],
        is_technician: false,
        status: mfp_kiosk::identity::UserStatus::Active,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
        last_online_at: chrono::Utc::now(),
    };
    s.store.upsert_user(&entra).unwrap();
    drop(s);
    let refused = run(&cfg, &["local-users", "delete", "e1"], "");
    assert!(
        refused
            .stderr
            .contains("megan@contoso.com signs in with Microsoft"),
        "{}",
        refused.stderr
    );
    let refused = run(&cfg, &["local-users", "set-pin", "e1"], "739164\n739164\n");
    assert_ne!(refused.code, Some(0));

    // Delete: the badge is unknown afterwards.
    ok(run(&cfg, &["local-users", "delete", &id], ""));
    let s = std::sync::Arc::new(services(&cfg));
    assert!(matches!(
        tap(&s, "5550123456").await,
        Event::CardUnknown { .. }
    ));
    assert!(s.store.user_by_oid("e1").unwrap().is_some());

    // Every admin action, refused or not, is audited as `cli`; no PIN in it.
    let audit = s.store.query_audit(&AuditQuery::default()).unwrap();
    let actions: Vec<_> = audit
        .iter()
        .filter(|e| e.action.starts_with("local_user_"))
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    for action in [
        "local_user_create",
        "local_user_pin",
        "local_user_disable",
        "local_user_enable",
        "local_user_extend",
        "local_user_delete",
    ] {
        assert!(actions.contains(&("cli", action)), "{action}: {actions:?}");
    }
    let text = format!("{audit:?}");
    assert!(!text.contains("739164") && !text.contains("5550123456"));
}
