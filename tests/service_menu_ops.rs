//! The service menu's machine driven against the panel's real services: every effect goes
//! through `app::service_ops` (real SQLite, real card hashing, the simulated tenant for the
//! sign-ins) and its answer back into the machine, as the controller does. Covers what the
//! pages do: search, enroll with conflict and "Move it", the user's cards (revoke, PIN
//! lockout, remove PIN), the reader check (the raw number never reaches the audit or the
//! database), the outbox (delete removes the spool file; a job being sent is refused), the
//! audit page, and the service PIN's own lockout across a restart.
#![cfg(feature = "demo")]

mod entra_support;

use std::time::{Duration, Instant};

use entra_support::{kiosk, Kiosk};
use mfp_kiosk::app::{service_ops, signin};
use mfp_kiosk::kiosk::Event;
use mfp_kiosk::service_menu::{
    Operator, Section, ServiceEffect, ServiceEvent, ServiceMenu, ServicePageView, ServiceView,
};
use secrecy::SecretString;

const RAW: &str = "04A1B2C3";
const MASKED: &str = "•••• 5923";

struct Driver<'a> {
    k: &'a Kiosk,
    menu: ServiceMenu,
    operator: Operator,
    now: Instant,
}

impl Driver<'_> {
    /// Runs effects through the real adapter until the menu asks for nothing more.
    fn run(&mut self, mut effects: Vec<ServiceEffect>) -> ServiceView {
        while let Some(effect) = effects.pop() {
            if let Some(answer) = service_ops::execute(&self.k.services, &self.operator, effect) {
                effects.extend(self.menu.handle(answer, self.now));
            }
        }
        self.menu.view()
    }

    fn ui(&mut self, event: ServiceEvent) -> ServiceView {
        let fx = self.menu.handle(event, self.now);
        self.run(fx)
    }

    fn tap(&mut self, raw: &str) -> ServiceView {
        let fx = self.menu.on_card(SecretString::from(raw), self.now);
        self.run(fx)
    }

    fn type_text(&mut self, text: &str) -> ServiceView {
        let mut v = self.menu.view();
        for c in text.chars() {
            v = self.ui(ServiceEvent::Key(c.to_string()));
        }
        v
    }

    fn pick(&mut self, query: &str, name: &str) -> ServiceView {
        let v = self.type_text(query);
        let user = v
            .users
            .iter()
            .find(|u| u.name == name)
            .unwrap_or_else(|| panic!("{name} not in {:?}", v.users))
            .oid
            .clone();
        self.ui(ServiceEvent::PickUser(user))
    }
}

async fn panel() -> Kiosk {
    kiosk(
        |_| {},
        |c| {
            c.readers.normalise = vec!["hex_to_dec".into(), "pad_left:10".into()];
            c.identity.max_cards_per_user = 1;
        },
    )
    .await
}

async fn tap_at_idle(k: &Kiosk, raw: &str) -> Event {
    let e = signin::lookup_card(&k.services, &k.sessions, 1, SecretString::from(raw), false).await;
    for u in k.services.store.list_users().unwrap() {
        k.sessions.remove(&u.oid);
    }
    e
}

fn signed_in_name(e: &Event) -> Option<&str> {
    match e {
        Event::AuthSucceeded { user, .. } => Some(user.display_name.as_str()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technician_enrolls_moves_revokes_and_checks_a_reader() {
    let k = panel().await;
    let tom = k
        .sign_in(&k.user("tom.tech@contoso.example").oid, None)
        .await
        .unwrap();
    for upn in ["adele@contoso.example", "megan@contoso.example"] {
        k.sign_in(&k.user(upn).oid, None).await.unwrap();
    }
    let operator = Operator::Technician {
        oid: tom.oid.clone(),
        name: tom.display_name.clone(),
    };
    let (menu, open) =
        ServiceMenu::open(operator.clone(), Duration::from_secs(120), Instant::now());
    let mut d = Driver {
        k: &k,
        menu,
        operator,
        now: Instant::now(),
    };
    d.run(vec![open]);

    // Enroll for Adele: search on part of the name, pick, tap.
    d.ui(ServiceEvent::Open(Section::Enroll));
    let v = d.type_text("del");
    assert_eq!(v.users.len(), 1, "{:?}", v.users);
    assert_eq!(v.users[0].name, "Adele Vance");
    let v = d.ui(ServiceEvent::PickUser(v.users[0].oid.clone()));
    assert_eq!(v.page, Some(ServicePageView::TapBadge));
    let v = d.tap(RAW);
    assert_eq!(v.page, Some(ServicePageView::Cards));
    assert_eq!(
        v.message,
        format!("Badge {MASKED} enrolled for Adele Vance.")
    );
    assert_eq!(v.cards.len(), 1);
    assert_eq!(v.cards[0].masked, MASKED);
    assert!(v.cards[0].bound_by.contains("tom.tech"), "{:?}", v.cards[0]);
    assert_eq!(
        signed_in_name(&tap_at_idle(&k, RAW).await),
        Some("Adele Vance")
    );

    // The same badge for Megan: refused naming both, then moved.
    d.ui(ServiceEvent::Back);
    d.ui(ServiceEvent::Open(Section::Enroll));
    d.pick("megan", "Megan Bowen");
    let v = d.tap(RAW);
    assert_eq!(v.page, Some(ServicePageView::Conflict));
    assert!(
        v.prompt.contains("Adele Vance") && v.prompt.contains("Megan Bowen"),
        "{}",
        v.prompt
    );
    assert!(
        v.prompt.contains(MASKED) && !v.prompt.contains("77705923"),
        "{}",
        v.prompt
    );
    assert_eq!(
        signed_in_name(&tap_at_idle(&k, RAW).await),
        Some("Adele Vance"),
        "nothing changed yet"
    );
    let v = d.ui(ServiceEvent::MoveCard);
    assert!(
        v.message.contains("Moved from Adele Vance"),
        "{}",
        v.message
    );
    assert_eq!(
        signed_in_name(&tap_at_idle(&k, RAW).await),
        Some("Megan Bowen")
    );

    // Revoke it from Megan's cards page: the next tap is unknown.
    let v = d.ui(ServiceEvent::RevokeCard(MASKED.into()));
    assert!(v.confirm_text.contains("Megan Bowen"), "{}", v.confirm_text);
    let v = d.ui(ServiceEvent::Confirm);
    assert!(v.cards.is_empty() && !v.message_is_error, "{v:?}");
    assert!(matches!(
        tap_at_idle(&k, RAW).await,
        Event::CardUnknown { .. }
    ));

    // Reader check: the trace shows each step; the audit gets the masked number only.
    d.ui(ServiceEvent::Back);
    d.ui(ServiceEvent::Open(Section::Readers));
    let v = d.tap(" 04a1b2c3\r\n");
    let labels: Vec<&str> = v.trace.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        labels,
        ["raw", "trim", "hex_to_dec", "pad_left:10", "number"]
    );
    assert_eq!(v.trace[2].value.0, "77705923");
    assert!(
        v.trace[4].value.0.starts_with("0077705923"),
        "{:?}",
        v.trace[4]
    );
    assert!(v.trace[4].value.0.contains("not enrolled"));
    let v = d.tap("zz-not-hex");
    assert!(!v.trace.last().unwrap().ok, "{:?}", v.trace);

    // Every step is in the audit log with the technician as actor; no number in clear anywhere.
    let audit = k.services.store.recent_audit(200).unwrap();
    let mine: Vec<String> = audit
        .iter()
        .filter(|e| e.actor == format!("technician:{}", tom.oid))
        .map(|e| format!("{} {}", e.action, e.detail.clone().unwrap_or_default()))
        .collect();
    for want in [
        "service_open ok",
        "card_enroll ok",
        "card_enroll refused",
        "card_revoke ok",
        &format!("reader_check ok: {MASKED}"),
        "reader_check refused",
    ] {
        assert!(
            mine.iter().any(|m| m.starts_with(want)),
            "{want} missing from {mine:#?}"
        );
    }
    let db = std::fs::read(k.state_dir().join("kiosk.sqlite3")).unwrap();
    let wal = std::fs::read(k.state_dir().join("kiosk.sqlite3-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        for needle in ["77705923", "04A1B2C3", "04a1b2c3"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} stored in clear"
            );
        }
    }

    // The audit page filtered on Adele shows her enrollment and the move.
    d.ui(ServiceEvent::Back);
    d.ui(ServiceEvent::Open(Section::Cards));
    d.pick("adele", "Adele Vance");
    let v = d.ui(ServiceEvent::UserAudit);
    assert_eq!(v.audit_filter.user.as_ref().unwrap().name, "Adele Vance");
    let actions: Vec<&str> = v.audit.iter().map(|a| a.action.as_str()).collect();
    assert!(actions.contains(&"card_enroll"), "{actions:?}");
    assert!(v.audit.iter().all(|a| !a.outcome.contains("77705923")));
    assert!(
        v.audit.iter().any(|a| a.actor == "technician Tom Tech"),
        "{:?}",
        v.audit
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_lockout_reset_and_removal_from_the_cards_page() {
    let k = panel().await;
    let adele = k
        .sign_in(&k.user("adele@contoso.example").oid, None)
        .await
        .unwrap();
    k.services
        .save_pin(&adele.oid, &SecretString::from("739164"))
        .unwrap();
    for _ in 0..5 {
        assert!(k
            .services
            .check_pin(&adele.oid, &SecretString::from("000111"))
            .is_err());
    }
    let locked = k
        .services
        .check_pin(&adele.oid, &SecretString::from("739164"));
    assert!(locked.is_err(), "locked after five wrong PINs");

    let (menu, _) = ServiceMenu::open(
        Operator::ServicePin,
        Duration::from_secs(120),
        Instant::now(),
    );
    let mut d = Driver {
        k: &k,
        menu,
        operator: Operator::ServicePin,
        now: Instant::now(),
    };
    d.ui(ServiceEvent::Open(Section::Cards));
    let v = d.pick("vance", "Adele Vance");
    assert!(v.has_pin && v.pin_locked, "{v:?}");
    let v = d.ui(ServiceEvent::ResetPinLockout);
    assert!(!v.pin_locked && v.message.contains("cleared"), "{v:?}");
    k.services
        .check_pin(&adele.oid, &SecretString::from("739164"))
        .expect("the right PIN works again");
    d.ui(ServiceEvent::RemovePin);
    let v = d.ui(ServiceEvent::Confirm);
    assert!(!v.has_pin, "{v:?}");
    let actions: Vec<(String, String)> = k
        .services
        .store
        .recent_audit(50)
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action))
        .collect();
    for want in ["pin_lockout_reset", "pin_removed"] {
        assert!(
            actions.contains(&("service-pin".to_string(), want.to_string())),
            "{want}: {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_page_deletes_idle_jobs_with_their_file_and_refuses_busy_ones() {
    use mfp_kiosk::store::NewJob;
    let k = panel().await;
    let adele = k
        .sign_in(&k.user("adele@contoso.example").oid, None)
        .await
        .unwrap();
    let job = |state_uploading: bool| {
        let id = uuid::Uuid::new_v4();
        let spool = k.services.spool_path(&id.to_string());
        std::fs::create_dir_all(spool.parent().unwrap()).unwrap();
        std::fs::write(&spool, b"%PDF-1.7 test").unwrap();
        k.services
            .store
            .insert_job(
                &NewJob {
                    id,
                    user_oid: adele.oid.clone(),
                    workflow_id: "onedrive".into(),
                    destination: serde_json::json!({}),
                    folder: "Scans".into(),
                    file_name: "a.pdf".into(),
                    spool_path: spool.clone(),
                    size_bytes: 13,
                    pages: 1,
                },
                chrono::Utc::now(),
            )
            .unwrap();
        if state_uploading {
            let now = chrono::Utc::now();
            let claimed = k
                .services
                .store
                .claim_job(
                    id,
                    "other-uploader",
                    now + chrono::Duration::seconds(60),
                    now,
                )
                .unwrap();
            assert!(claimed.is_some());
        }
        (id, spool)
    };
    let (idle, idle_file) = job(false);
    let (busy, busy_file) = job(true);

    let (menu, _) = ServiceMenu::open(
        Operator::ServicePin,
        Duration::from_secs(120),
        Instant::now(),
    );
    let mut d = Driver {
        k: &k,
        menu,
        operator: Operator::ServicePin,
        now: Instant::now(),
    };
    let v = d.ui(ServiceEvent::Open(Section::Outbox));
    assert_eq!(v.jobs.len(), 2);
    assert!(v.jobs.iter().all(|j| j.user == "Adele Vance"));
    assert!(v
        .jobs
        .iter()
        .any(|j| j.id == busy.to_string() && j.state == "sending"));

    d.ui(ServiceEvent::DeleteJob(busy.to_string()));
    let v = d.ui(ServiceEvent::Confirm);
    assert!(
        v.message_is_error && v.message.contains("being sent"),
        "{}",
        v.message
    );
    assert!(busy_file.exists());

    d.ui(ServiceEvent::DeleteJob(idle.to_string()));
    let v = d.ui(ServiceEvent::Confirm);
    assert!(!v.message_is_error, "{}", v.message);
    assert_eq!(v.jobs.len(), 1);
    assert!(!idle_file.exists(), "the spool file went with the job");
    assert!(k.services.store.job(idle).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_pin_lockout_doubles_and_survives_a_restart() {
    let phc = mfp_kiosk::auth::pin::hash_pin(&SecretString::from("246810")).unwrap();
    let k = kiosk(
        |_| {},
        |c| {
            c.service.pin_hash = Some(phc.clone());
            c.service.pin_max_attempts = 2;
            c.service.pin_lockout_base_secs = 60;
        },
    )
    .await;
    let s = &k.services;
    s.check_service_pin(&SecretString::from("246810")).unwrap();
    let wrong = SecretString::from("135790");
    assert_eq!(
        s.check_service_pin(&wrong).unwrap_err().panel_message(),
        "Wrong service PIN."
    );
    let msg = s.check_service_pin(&wrong).unwrap_err().panel_message();
    assert!(msg.contains("paused for 60 s"), "{msg}");
    // Paused: even the right PIN is refused now.
    let msg = s
        .check_service_pin(&SecretString::from("246810"))
        .unwrap_err()
        .panel_message();
    assert!(msg.contains("Try again"), "{msg}");

    // A restart (new services over the same state directory) keeps the pause.
    let mut config = s.config.clone();
    config.device.state_dir = k.state_dir();
    let again = mfp_kiosk::admin::signin::services(config).unwrap();
    assert!(again
        .check_service_pin(&SecretString::from("246810"))
        .is_err());
    let audit: Vec<String> = again
        .store
        .recent_audit(20)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "service_pin")
        .map(|e| format!("{} {}", e.actor, e.detail.unwrap_or_default()))
        .collect();
    assert!(
        audit.iter().all(|a| a.starts_with("service-pin ")),
        "{audit:?}"
    );
    assert!(
        audit.iter().any(|a| a.contains("refused: paused")),
        "{audit:?}"
    );
    assert!(audit.iter().any(|a| a.ends_with(" ok")), "{audit:?}");
}
