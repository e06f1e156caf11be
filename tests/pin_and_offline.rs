//! PIN and offline sign-in through the app: a user links a badge with a Microsoft sign-in,
//! chooses a PIN, then signs in with badge number + PIN; wrong PINs count down; and with the
//! cloud unreachable, badge sign-in still works from SQLite within the offline grace and is
//! refused after it.

use std::time::Duration;

use chrono::Utc;
use mfp_kiosk::app::Input;
use mfp_kiosk::config::LoginMode;
use mfp_kiosk::kiosk::{Event, ViewPage};
use secrecy::SecretString;

mod common;
use common::wait_for;

const BADGE: &str = "7731904";

fn digits(handle: &mfp_kiosk::app::ControllerHandle, s: &str) {
    for c in s.chars() {
        handle.event(Event::PinDigit(c.to_digit(10).unwrap() as u8));
    }
}

#[test]
fn pin_set_then_badge_number_and_pin_then_offline_grace() {
    let state = tempfile::tempdir().unwrap();
    let rt = common::runtime();

    // --- online: link the badge, set a PIN, sign in with badge number + PIN -----------------
    let (running, rx) = common::start(&rt, common::demo_config(state.path()), true);
    let h = running.handle.clone();
    wait_for(&rx, "idle", |v| v.page == ViewPage::Idle);
    h.event(Event::CardRead {
        card: SecretString::from(BADGE),
    });
    wait_for(&rx, "a code", |v| !v.user_code.is_empty());
    h.send(Input::DemoApprove);
    let home = wait_for(&rx, "home", |v| v.page == ViewPage::Home);
    assert!(home.can_set_pin, "a Microsoft sign-in may set a PIN");

    h.event(Event::StartSetPin);
    wait_for(&rx, "the PIN pad", |v| {
        v.page == ViewPage::Pin && v.pin_prompt.starts_with("Choose")
    });
    digits(&h, "1234");
    h.event(Event::PinSubmit);
    let refused = wait_for(&rx, "a policy message", |v| v.message_is_error);
    assert!(
        refused.message.contains("consecutive"),
        "{}",
        refused.message
    );
    digits(&h, "2580");
    h.event(Event::PinSubmit);
    wait_for(&rx, "the confirmation", |v| {
        v.pin_prompt == "Enter the same PIN again"
    });
    digits(&h, "2580");
    h.event(Event::PinSubmit);
    let saved = wait_for(&rx, "home after saving", |v| {
        v.page == ViewPage::Home && !v.message.is_empty()
    });
    assert_eq!(saved.message, "Your PIN is set.");
    let oid = running
        .services
        .store
        .user_by_upn("adele@contoso.example")
        .unwrap()
        .unwrap()
        .oid;
    let pin_row = running
        .services
        .store
        .pin_state(&oid)
        .unwrap()
        .expect("PIN stored");
    assert!(
        pin_row.phc.starts_with("$argon2id$"),
        "stored as an argon2id hash"
    );
    assert!(!pin_row.phc.contains("2580"));

    h.event(Event::SignOut);
    wait_for(&rx, "idle", |v| v.page == ViewPage::Idle);

    // Badge number typed on the pad, then a wrong PIN, then the right one.
    h.event(Event::StartPin);
    digits(&h, BADGE);
    h.event(Event::PinSubmit);
    let pin_page = wait_for(&rx, "the PIN prompt", |v| {
        v.pin_prompt.ends_with("enter your PIN")
    });
    assert!(pin_page.pin_prompt.starts_with("Adele Vance"));
    digits(&h, "9999");
    h.event(Event::PinSubmit);
    let wrong = wait_for(&rx, "wrong PIN", |v| {
        v.page == ViewPage::Pin && v.message_is_error
    });
    assert_eq!(wrong.message, "Wrong PIN. 4 attempts left.");
    digits(&h, "2580");
    h.event(Event::PinSubmit);
    let home = wait_for(&rx, "home by PIN", |v| v.page == ViewPage::Home);
    assert_eq!(home.display_name, "Adele Vance");
    assert!(!home.can_set_pin, "a PIN session can't change the PIN");
    assert_eq!(
        running
            .services
            .store
            .pin_state(&oid)
            .unwrap()
            .unwrap()
            .failed_attempts,
        0
    );
    h.send(Input::Quit);
    running.outbox.abort();
    rt.block_on(running.controller).unwrap();

    // --- offline: the same state, but Entra and Graph unreachable -----------------------------
    let mut offline = common::demo_config(state.path());
    // Nothing listens on the discard port: every request is refused at once.
    offline.entra.authority_host = "http://127.0.0.1:9".into();
    offline.graph.endpoint = "http://127.0.0.1:9/v1.0".into();
    offline.entra.allowed_tenants = vec![];
    offline.pin.login_mode = LoginMode::CardAndPin;
    let grace = Duration::from_secs(u64::from(offline.identity.offline_grace_hours) * 3600);
    let (running, rx) = common::start(&rt, offline, false);
    let h = running.handle.clone();
    wait_for(&rx, "idle (offline)", |v| v.page == ViewPage::Idle);
    h.event(Event::CardRead {
        card: SecretString::from(BADGE),
    });
    wait_for(&rx, "PIN prompt (offline)", |v| v.page == ViewPage::Pin);
    digits(&h, "2580");
    h.event(Event::PinSubmit);
    let home = wait_for(&rx, "home (offline)", |v| v.page == ViewPage::Home);
    assert_eq!(home.display_name, "Adele Vance");
    h.event(Event::SignOut);
    wait_for(&rx, "idle", |v| {
        v.page == ViewPage::Idle && v.message.starts_with("Signed out")
    });

    // Last confirmed online longer ago than the grace: refused with a plain message.
    let long_ago =
        Utc::now() - chrono::Duration::from_std(grace).unwrap() - chrono::Duration::minutes(1);
    running.services.store.touch_online(&oid, long_ago).unwrap();
    h.event(Event::CardRead {
        card: SecretString::from(BADGE),
    });
    // The PIN prompt comes first (card + PIN mode); answer it, then the grace check refuses.
    wait_for(&rx, "PIN prompt", |v| v.page == ViewPage::Pin);
    digits(&h, "2580");
    h.event(Event::PinSubmit);
    let refused = wait_for(&rx, "refusal", |v| {
        v.page == ViewPage::Idle && v.message_is_error
    });
    assert!(refused.message.contains("offline"), "{}", refused.message);
    h.send(Input::Quit);
    rt.block_on(running.controller).unwrap();
}

#[test]
fn guessing_badge_numbers_locks_the_pin_pad() {
    let state = tempfile::tempdir().unwrap();
    let rt = common::runtime();
    let config = common::demo_config(state.path());
    let threshold = config.pin.max_attempts * 2;
    let (running, rx) = common::start(&rt, config, true);
    let h = running.handle.clone();
    wait_for(&rx, "idle", |v| v.page == ViewPage::Idle);
    for guess in 0..=threshold {
        h.event(Event::StartPin);
        wait_for(&rx, "the pad", |v| v.page == ViewPage::Pin);
        digits(&h, &format!("55500{guess:02}"));
        h.event(Event::PinSubmit);
        wait_for(&rx, "the lookup", |v| v.page == ViewPage::Busy);
        let answer = wait_for(&rx, "an answer", |v| {
            v.page == ViewPage::Idle && v.message_is_error
        });
        if guess < threshold {
            assert_eq!(
                answer.message, "This badge is not registered.",
                "guess {guess}"
            );
        } else {
            assert!(
                answer
                    .message
                    .starts_with("Too many failed attempts on this panel"),
                "{}",
                answer.message
            );
        }
    }
    let audit = running.services.store.recent_audit(50).unwrap();
    assert!(audit.iter().any(|a| a.action == "pin_pad_locked"));
    h.send(Input::Quit);
    rt.block_on(running.controller).unwrap();
}
