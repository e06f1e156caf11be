//! Transition tests: every path of the session, with time passed in by hand.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::kiosk::ViewPage;

fn settings() -> KioskSettings {
    KioskSettings::default()
}

fn user() -> SessionUser {
    SessionUser {
        oid: "oid-1".into(),
        display_name: "Adele Vance".into(),
        upn: "adele@contoso.example".into(),
        is_technician: false,
        method: AuthMethod::Card,
        workflows: vec![WorkflowEntry {
            id: "onedrive".into(),
            label: "Scan to OneDrive".into(),
            badge: "OD".into(),
            destination: "OneDrive".into(),
            quick: true,
        }],
        must_set_pin: false,
        language: None,
    }
}

fn card(s: &str) -> Event {
    Event::CardRead {
        card: SecretString::from(s),
    }
}

fn offer() -> DeviceCodeOffer {
    DeviceCodeOffer {
        user_code: "ABCD1234".into(),
        verification_uri: "https://microsoft.com/devicelogin".into(),
        expires_in_secs: 900,
        interval_secs: 5,
    }
}

/// Card tap of a known user straight to home.
fn signed_in(t0: Instant) -> Kiosk {
    let mut k = Kiosk::new(settings(), t0);
    let fx = k.handle(card("123456"), t0);
    let attempt = match fx.as_slice() {
        [Effect::LookupCard {
            attempt,
            typed: false,
            card,
        }] => {
            assert_eq!(card.expose_secret(), "123456");
            *attempt
        }
        other => panic!("unexpected effects {other:?}"),
    };
    assert_eq!(k.view(t0).page, ViewPage::Busy);
    k.handle(
        Event::AuthSucceeded {
            attempt,
            user: user(),
        },
        t0,
    );
    assert_eq!(k.screen(), &Screen::Home);
    k
}

#[test]
fn card_tap_of_known_user_signs_in() {
    let t0 = Instant::now();
    let k = signed_in(t0);
    let v = k.view(t0);
    assert_eq!(v.page, ViewPage::Home);
    assert_eq!(v.display_name, "Adele Vance");
    assert_eq!(v.workflows.len(), 1);
    assert!(v.message.contains("Welcome"));
}

#[test]
fn card_then_pin_path() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(
        KioskSettings {
            login_mode: LoginMode::CardAndPin,
            ..settings()
        },
        t0,
    );
    let attempt = match k.handle(card("42424242"), t0).as_slice() {
        [Effect::LookupCard { attempt, .. }] => *attempt,
        other => panic!("{other:?}"),
    };
    k.handle(
        Event::NeedPin {
            attempt,
            oid: "oid-1".into(),
            display_name: "Adele".into(),
        },
        t0,
    );
    assert_eq!(k.view(t0).page, ViewPage::Pin);
    assert_eq!(k.view(t0).pin_prompt, "Adele, enter your PIN");
    for d in [2, 5, 8, 1] {
        k.handle(Event::PinDigit(d), t0);
    }
    assert_eq!(k.view(t0).pin_length, 4);
    let fx = k.handle(Event::PinSubmit, t0);
    let attempt = match fx.as_slice() {
        [Effect::VerifyPin { attempt, oid, pin }] => {
            assert_eq!(oid, "oid-1");
            assert_eq!(pin.expose_secret(), "2581");
            *attempt
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(k.view(t0).pin_length, 0, "digits are wiped once submitted");
    // A wrong PIN keeps the user on the pad with a message.
    k.handle(
        Event::PinRejected {
            attempt,
            message: Msg::new("Wrong PIN."),
        },
        t0,
    );
    assert_eq!(k.view(t0).page, ViewPage::Pin);
    assert!(k.view(t0).message_is_error);
    for d in [2, 5, 8, 2] {
        k.handle(Event::PinDigit(d), t0);
    }
    let attempt = match k.handle(Event::PinSubmit, t0).as_slice() {
        [Effect::VerifyPin { attempt, .. }] => *attempt,
        other => panic!("{other:?}"),
    };
    k.handle(
        Event::AuthSucceeded {
            attempt,
            user: user(),
        },
        t0,
    );
    assert_eq!(k.view(t0).page, ViewPage::Home);
}

#[test]
fn pin_pad_opens_and_cancels_back_to_idle() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(settings(), t0);
    assert!(k.handle(Event::StartPin, t0).is_empty());
    assert_eq!(k.view(t0).page, ViewPage::Pin);
    assert_eq!(k.view(t0).pin_prompt, "Enter your badge number");
    k.handle(Event::PinDigit(7), t0);
    k.handle(Event::PinDigit(12), t0); // not a digit: ignored
    k.handle(Event::PinDigit(3), t0);
    assert_eq!(k.view(t0).pin_length, 2);
    k.handle(Event::PinBackspace, t0);
    assert_eq!(k.view(t0).pin_length, 1);
    k.handle(Event::PinCancel, t0);
    assert_eq!(k.view(t0).page, ViewPage::Idle);
    assert_eq!(k.view(t0).pin_length, 0);
}

#[test]
fn typed_badge_is_looked_up_as_typed_and_never_self_enrolls() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(settings(), t0);
    k.handle(Event::StartPin, t0);
    for d in [1, 2, 3] {
        k.handle(Event::PinDigit(d), t0);
    }
    assert!(
        k.handle(Event::PinSubmit, t0).is_empty(),
        "too short to be a badge"
    );
    assert!(k.view(t0).message_is_error);
    k.handle(Event::PinDigit(4), t0);
    let attempt = match k.handle(Event::PinSubmit, t0).as_slice() {
        [Effect::LookupCard {
            attempt,
            typed: true,
            card,
        }] => {
            assert_eq!(card.expose_secret(), "1234");
            *attempt
        }
        other => panic!("{other:?}"),
    };
    let fx = k.handle(Event::CardUnknown { attempt }, t0);
    assert!(fx.is_empty(), "typed numbers must not start card linking");
    assert_eq!(k.view(t0).page, ViewPage::Idle);
    assert_eq!(k.view(t0).message, "This badge is not registered.");
}

#[test]
fn pin_pad_limits_length() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(settings(), t0);
    k.handle(card("1"), t0);
    let attempt = k.current_attempt();
    k.handle(
        Event::NeedPin {
            attempt,
            oid: "o".into(),
            display_name: "A".into(),
        },
        t0,
    );
    for _ in 0..20 {
        k.handle(Event::PinDigit(1), t0);
    }
    assert_eq!(k.view(t0).pin_length, 8);
    for _ in 0..3 {
        k.handle(Event::PinBackspace, t0);
    }
    k.handle(Event::PinBackspace, t0);
    k.handle(Event::PinBackspace, t0);
    assert_eq!(k.view(t0).pin_length, 3);
    assert!(
        k.handle(Event::PinSubmit, t0).is_empty(),
        "shorter than the minimum"
    );
    assert_eq!(k.view(t0).message, "Your PIN has at least 4 digits.");
}

#[test]
fn unknown_card_offers_linking_through_microsoft() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(settings(), t0);
    k.handle(card("99887766"), t0);
    let attempt = k.current_attempt();
    let fx = k.handle(Event::CardUnknown { attempt }, t0);
    let attempt = match fx.as_slice() {
        [Effect::StartDeviceCode {
            attempt,
            link_card: Some(c),
        }] => {
            assert_eq!(c.expose_secret(), "99887766");
            *attempt
        }
        other => panic!("{other:?}"),
    };
    let v = k.view(t0);
    assert_eq!(v.page, ViewPage::DeviceCode);
    assert!(v.code_purpose.contains("link"));
    k.handle(
        Event::DeviceCodeReady {
            attempt,
            offer: offer(),
        },
        t0,
    );
    assert_eq!(k.view(t0).user_code, "ABCD1234");
    k.handle(
        Event::AuthSucceeded {
            attempt,
            user: user(),
        },
        t0,
    );
    assert_eq!(k.view(t0).page, ViewPage::Home);
    assert!(k.view(t0).message.starts_with("Card linked"));
}

#[test]
fn unknown_card_without_microsoft_is_refused() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(
        KioskSettings {
            microsoft_enabled: false,
            ..settings()
        },
        t0,
    );
    k.handle(card("1111"), t0);
    let attempt = k.current_attempt();
    assert!(k.handle(Event::CardUnknown { attempt }, t0).is_empty());
    assert_eq!(k.view(t0).page, ViewPage::Idle);
    assert!(k.view(t0).message_is_error);
}

#[test]
fn device_code_sign_in_and_countdown() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(settings(), t0);
    let attempt = match k.handle(Event::StartMicrosoft, t0).as_slice() {
        [Effect::StartDeviceCode {
            attempt,
            link_card: None,
        }] => *attempt,
        other => panic!("{other:?}"),
    };
    assert_eq!(k.view(t0).busy_text, "Contacting Microsoft…");
    k.handle(
        Event::DeviceCodeReady {
            attempt,
            offer: offer(),
        },
        t0,
    );
    let t1 = t0 + Duration::from_secs(100);
    k.handle(Event::Tick, t1);
    let v = k.view(t1);
    assert_eq!(v.code_seconds_left, 800);
    assert_eq!(v.verification_uri, "https://microsoft.com/devicelogin");
    k.handle(
        Event::AuthSucceeded {
            attempt,
            user: user(),
        },
        t1,
    );
    assert_eq!(k.session().map(|u| u.oid.as_str()), Some("oid-1"));
}

#[test]
fn device_code_expiry_returns_to_idle_and_cancels_polling() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(settings(), t0);
    k.handle(Event::StartMicrosoft, t0);
    let attempt = k.current_attempt();
    k.handle(
        Event::DeviceCodeReady {
            attempt,
            offer: offer(),
        },
        t0,
    );
    assert!(k
        .handle(Event::Tick, t0 + Duration::from_secs(899))
        .is_empty());
    let fx = k.handle(Event::Tick, t0 + Duration::from_secs(900));
    assert!(matches!(fx.as_slice(), [Effect::CancelDeviceCode { attempt: a }] if *a == attempt));
    assert_eq!(k.view(t0 + Duration::from_secs(900)).page, ViewPage::Idle);
}

#[test]
fn cancel_device_code_ignores_late_answers() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(settings(), t0);
    k.handle(Event::StartMicrosoft, t0);
    let attempt = k.current_attempt();
    let fx = k.handle(Event::CancelDeviceCode, t0);
    assert!(matches!(fx.as_slice(), [Effect::CancelDeviceCode { attempt: a }] if *a == attempt));
    assert_eq!(k.view(t0).page, ViewPage::Idle);
    // The token arrives after the user walked away: no session may open.
    k.handle(
        Event::AuthSucceeded {
            attempt,
            user: user(),
        },
        t0,
    );
    assert!(k.session().is_none());
    assert_eq!(k.view(t0).page, ViewPage::Idle);
}

#[test]
fn auth_failure_shows_message_on_idle() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(settings(), t0);
    k.handle(Event::StartMicrosoft, t0);
    let attempt = k.current_attempt();
    k.handle(
        Event::AuthFailed {
            attempt,
            message: Msg::new("Blocked by Conditional Access."),
        },
        t0,
    );
    let v = k.view(t0);
    assert_eq!(v.page, ViewPage::Idle);
    assert_eq!(v.message, "Blocked by Conditional Access.");
    assert!(v.message_is_error);
    // Notices fade after a while.
    k.handle(Event::Tick, t0 + Duration::from_secs(9));
    assert_eq!(k.view(t0 + Duration::from_secs(9)).message, "");
}

#[test]
fn scan_upload_result_and_back_home() {
    let t0 = Instant::now();
    let mut k = signed_in(t0);
    let fx = k.handle(
        Event::RunWorkflow {
            id: "onedrive".into(),
        },
        t0,
    );
    assert!(matches!(fx.as_slice(),
        [Effect::StartWorkflow { oid, workflow_id }] if oid == "oid-1" && workflow_id == "onedrive"));
    assert_eq!(k.view(t0).page, ViewPage::Scanning);
    k.handle(Event::ScanProgress { pages: 2 }, t0);
    assert_eq!(k.view(t0).progress_detail, "2 pages scanned");
    // No inactivity sign-out while the job runs.
    let t1 = t0 + Duration::from_secs(300);
    assert!(k.handle(Event::Tick, t1).is_empty());
    k.handle(
        Event::ScanDone {
            pages: 3,
            bytes: 2_000_000,
        },
        t1,
    );
    assert_eq!(k.view(t1).page, ViewPage::Uploading);
    k.handle(
        Event::UploadProgress {
            sent: 1_000_000,
            total: 2_000_000,
        },
        t1,
    );
    let v = k.view(t1);
    assert!((v.progress - 0.5).abs() < 1e-6);
    assert_eq!(v.progress_detail, "1.0 MB of 2.0 MB");
    k.handle(
        Event::JobFinished {
            ok: true,
            title: Msg::new("Sent"),
            detail: Msg::new("3 pages"),
        },
        t1,
    );
    let v = k.view(t1);
    assert_eq!(
        (v.page, v.result_ok, v.result_title.to_string().as_str()),
        (ViewPage::Result, true, "Sent")
    );
    k.handle(Event::ResultDone, t1);
    assert_eq!(k.view(t1).page, ViewPage::Home);
}

#[test]
fn unknown_workflow_is_refused() {
    let t0 = Instant::now();
    let mut k = signed_in(t0);
    assert!(k
        .handle(
            Event::RunWorkflow {
                id: "payroll".into()
            },
            t0
        )
        .is_empty());
    assert_eq!(k.view(t0).page, ViewPage::Home);
    assert!(k.view(t0).message_is_error);
}

#[test]
fn cancel_scan_asks_the_scanner_to_stop() {
    let t0 = Instant::now();
    let mut k = signed_in(t0);
    k.handle(
        Event::RunWorkflow {
            id: "onedrive".into(),
        },
        t0,
    );
    assert!(matches!(
        k.handle(Event::CancelScan, t0).as_slice(),
        [Effect::CancelScan]
    ));
    // A card tap mid-scan is ignored rather than abandoning pages in the feeder.
    assert!(k.handle(card("123456"), t0).is_empty());
    assert_eq!(k.view(t0).page, ViewPage::Scanning);
    k.handle(
        Event::JobFinished {
            ok: false,
            title: Msg::new("Cancelled"),
            detail: Msg::default(),
        },
        t0,
    );
    assert_eq!(k.view(t0).page, ViewPage::Result);
    assert!(!k.view(t0).result_ok);
}

#[test]
fn sign_out_button_ends_session() {
    let t0 = Instant::now();
    let mut k = signed_in(t0);
    let fx = k.handle(Event::SignOut, t0);
    assert!(matches!(fx.as_slice(),
        [Effect::EndSession { oid, reason: SignOutReason::Button }] if oid == "oid-1"));
    assert!(k.session().is_none());
    assert_eq!(k.view(t0).page, ViewPage::Idle);
}

#[test]
fn card_retap_signs_out() {
    let t0 = Instant::now();
    let mut k = signed_in(t0);
    let fx = k.handle(card("123456"), t0 + Duration::from_secs(5));
    assert!(matches!(
        fx.as_slice(),
        [Effect::EndSession {
            reason: SignOutReason::CardTap,
            ..
        }]
    ));
    assert_eq!(k.view(t0).page, ViewPage::Idle);
}

#[test]
fn retap_during_upload_signs_out_and_the_job_goes_on() {
    let t0 = Instant::now();
    let mut k = signed_in(t0);
    k.handle(
        Event::RunWorkflow {
            id: "onedrive".into(),
        },
        t0,
    );
    k.handle(
        Event::ScanDone {
            pages: 1,
            bytes: 10,
        },
        t0,
    );
    let fx = k.handle(card("123456"), t0);
    assert!(
        matches!(fx.as_slice(), [Effect::EndSession { .. }]),
        "no CancelScan: the outbox keeps the job"
    );
}

#[test]
fn inactivity_countdown_then_sign_out() {
    let t0 = Instant::now();
    let mut k = signed_in(t0);
    assert_eq!(k.view(t0 + Duration::from_secs(49)).countdown, 0);
    let t50 = t0 + Duration::from_millis(50_500);
    assert!(k.handle(Event::Tick, t50).is_empty());
    assert_eq!(k.view(t50).countdown, 10);
    assert_eq!(k.view(t0 + Duration::from_secs(59)).countdown, 1);
    // Touching the screen resets the timer.
    k.handle(Event::Activity, t0 + Duration::from_secs(55));
    assert_eq!(k.view(t0 + Duration::from_secs(56)).countdown, 0);
    assert!(k
        .handle(Event::Tick, t0 + Duration::from_secs(114))
        .is_empty());
    let fx = k.handle(Event::Tick, t0 + Duration::from_secs(115));
    assert!(matches!(
        fx.as_slice(),
        [Effect::EndSession {
            reason: SignOutReason::Inactivity,
            ..
        }]
    ));
    let v = k.view(t0 + Duration::from_secs(115));
    assert_eq!(v.page, ViewPage::Idle);
    assert_eq!(v.message, "Signed out after inactivity.");
    assert_eq!(v.display_name, "", "nothing of the user stays on screen");
}

#[test]
fn result_page_times_out_too() {
    let t0 = Instant::now();
    let mut k = signed_in(t0);
    k.handle(
        Event::RunWorkflow {
            id: "onedrive".into(),
        },
        t0,
    );
    k.handle(
        Event::JobFinished {
            ok: true,
            title: Msg::new("Sent"),
            detail: Msg::default(),
        },
        t0,
    );
    let fx = k.handle(Event::Tick, t0 + Duration::from_secs(60));
    assert!(matches!(fx.as_slice(), [Effect::EndSession { .. }]));
}

#[test]
fn an_unreadable_badge_is_refused_plainly_while_signed_out() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(settings(), t0);
    assert!(k.handle(Event::CardUnreadable, t0).is_empty(), "no lookup");
    let v = k.view(t0);
    assert_eq!(v.page, ViewPage::Idle);
    assert_eq!(
        v.message,
        "This badge type can't be read here; ask your technician."
    );
    assert!(v.message_is_error);
    // Like every notice, it goes after a while.
    k.handle(Event::Tick, t0 + NOTICE_TTL);
    assert_eq!(k.view(t0 + NOTICE_TTL).message, "");

    // On the PIN pad the digits typed so far stay; the notice explains the tap.
    let t1 = t0 + Duration::from_secs(20);
    k.handle(Event::StartPin, t1);
    k.handle(Event::PinDigit(4), t1);
    assert!(k.handle(Event::CardUnreadable, t1).is_empty());
    let v = k.view(t1);
    assert_eq!(v.page, ViewPage::Pin);
    assert_eq!(v.pin_length, 1);
    assert_eq!(v.message, UNREADABLE_BADGE);
    assert!(v.message_is_error);

    // Where badges are off altogether, that is the answer rather than this badge's type.
    let mut pin_only = Kiosk::new(
        KioskSettings {
            login_mode: LoginMode::Pin,
            ..settings()
        },
        t0,
    );
    assert!(pin_only.handle(Event::CardUnreadable, t0).is_empty());
    assert_eq!(pin_only.view(t0).message, CARDS_OFF);
}

#[test]
fn an_unreadable_badge_does_nothing_while_signed_in_or_checking() {
    let t0 = Instant::now();
    let mut k = signed_in(t0);
    let welcome = k.view(t0).message;
    // Not a sign-out (a readable tap would be one), no notice, and not activity either: the
    // session still times out 60 s after the last real input.
    let t1 = t0 + Duration::from_secs(1);
    assert!(k.handle(Event::CardUnreadable, t1).is_empty());
    assert_eq!(k.screen(), &Screen::Home);
    assert!(k.session().is_some());
    assert_eq!(k.view(t1).message, welcome);
    let t55 = t0 + Duration::from_secs(55);
    assert!(k.handle(Event::CardUnreadable, t55).is_empty());
    assert_eq!(k.view(t55).countdown, 5);
    assert_eq!(k.view(t55).message, "");
    let fx = k.handle(Event::Tick, t0 + Duration::from_secs(60));
    assert!(matches!(
        fx.as_slice(),
        [Effect::EndSession {
            reason: SignOutReason::Inactivity,
            ..
        }]
    ));

    // While a tapped card is being looked up, the answer still counts.
    let mut k = Kiosk::new(settings(), t0);
    let attempt = match k.handle(card("123456"), t0).as_slice() {
        [Effect::LookupCard { attempt, .. }] => *attempt,
        other => panic!("{other:?}"),
    };
    assert!(k.handle(Event::CardUnreadable, t0).is_empty());
    assert_eq!(k.view(t0).page, ViewPage::Busy);
    assert_eq!(k.view(t0).message, "");
    k.handle(
        Event::AuthSucceeded {
            attempt,
            user: user(),
        },
        t0,
    );
    assert_eq!(k.screen(), &Screen::Home);

    // Scanning: ignored too.
    k.handle(
        Event::RunWorkflow {
            id: "onedrive".into(),
        },
        t0,
    );
    assert!(k.handle(Event::CardUnreadable, t0).is_empty());
    assert!(matches!(k.screen(), Screen::Scanning { .. }));
}

#[test]
fn abandoned_pin_pad_returns_to_idle() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(settings(), t0);
    k.handle(Event::StartPin, t0);
    k.handle(Event::PinDigit(5), t0);
    k.handle(Event::Tick, t0 + Duration::from_secs(60));
    assert_eq!(k.view(t0).page, ViewPage::Idle);
    assert_eq!(k.view(t0).pin_length, 0);
}

#[test]
fn login_modes_gate_the_paths() {
    let t0 = Instant::now();
    let mut card_only = Kiosk::new(
        KioskSettings {
            login_mode: LoginMode::Card,
            ..settings()
        },
        t0,
    );
    assert!(!card_only.view(t0).pin_enabled);
    card_only.handle(Event::StartPin, t0);
    assert_eq!(card_only.view(t0).page, ViewPage::Idle);

    let mut pin_only = Kiosk::new(
        KioskSettings {
            login_mode: LoginMode::Pin,
            ..settings()
        },
        t0,
    );
    assert!(pin_only.handle(card("123456"), t0).is_empty());
    assert!(pin_only.view(t0).message_is_error);
    pin_only.handle(Event::StartPin, t0);
    assert_eq!(pin_only.view(t0).page, ViewPage::Pin);

    let mut no_ms = Kiosk::new(
        KioskSettings {
            microsoft_enabled: false,
            ..settings()
        },
        t0,
    );
    assert!(no_ms.handle(Event::StartMicrosoft, t0).is_empty());
    assert!(!no_ms.view(t0).microsoft_enabled);
}

#[test]
fn stale_answers_from_earlier_attempts_are_ignored() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(settings(), t0);
    k.handle(card("1111"), t0);
    let first = k.current_attempt();
    k.handle(
        Event::AuthFailed {
            attempt: first,
            message: Msg::new("Offline too long"),
        },
        t0,
    );
    k.handle(card("2222"), t0);
    // The first lookup answers again (a retry racing): it must not sign anyone in.
    k.handle(
        Event::AuthSucceeded {
            attempt: first,
            user: user(),
        },
        t0,
    );
    assert!(k.session().is_none());
    assert_eq!(k.view(t0).page, ViewPage::Busy);
}

#[test]
fn debug_output_never_shows_card_or_pin() {
    let t0 = Instant::now();
    let mut k = Kiosk::new(settings(), t0);
    let fx = k.handle(card("5566778899"), t0);
    let printed = format!("{fx:?}");
    assert!(!printed.contains("5566778899"), "{printed}");
    let attempt = k.current_attempt();
    k.handle(
        Event::NeedPin {
            attempt,
            oid: "o".into(),
            display_name: "A".into(),
        },
        t0,
    );
    for d in [9, 3, 1, 7] {
        k.handle(Event::PinDigit(d), t0);
    }
    let fx = k.handle(Event::PinSubmit, t0);
    assert!(!format!("{fx:?}").contains("9317"));
}

fn microsoft_session(t0: Instant) -> Kiosk {
    let mut k = Kiosk::new(settings(), t0);
    k.handle(Event::StartMicrosoft, t0);
    let attempt = k.current_attempt();
    k.handle(
        Event::DeviceCodeReady {
            attempt,
            offer: offer(),
        },
        t0,
    );
    let user = SessionUser {
        method: AuthMethod::Microsoft,
        ..user()
    };
    k.handle(Event::AuthSucceeded { attempt, user }, t0);
    k
}

#[test]
fn set_pin_needs_a_microsoft_sign_in() {
    let t0 = Instant::now();
    let mut by_card = signed_in(t0);
    assert!(!by_card.view(t0).can_set_pin);
    by_card.handle(Event::StartSetPin, t0);
    assert_eq!(
        by_card.view(t0).page,
        ViewPage::Home,
        "a badge alone can't set the PIN"
    );

    let k = microsoft_session(t0);
    assert!(k.view(t0).can_set_pin);
    let card_only = Kiosk::new(
        KioskSettings {
            login_mode: LoginMode::Card,
            ..settings()
        },
        t0,
    );
    assert!(!card_only.view(t0).can_set_pin);
}

#[test]
fn set_pin_asks_twice_checks_policy_and_saves() {
    let t0 = Instant::now();
    let mut k = microsoft_session(t0);
    k.handle(Event::StartSetPin, t0);
    assert_eq!(k.view(t0).page, ViewPage::Pin);
    assert_eq!(k.view(t0).pin_prompt, "Choose a PIN of 4 to 8 digits");
    for d in [7, 7, 7, 7] {
        k.handle(Event::PinDigit(d), t0);
    }
    assert!(k.handle(Event::PinSubmit, t0).is_empty());
    assert_eq!(
        k.view(t0).message,
        "The PIN must not repeat a single digit."
    );
    for d in [3, 9, 1, 6] {
        k.handle(Event::PinDigit(d), t0);
    }
    k.handle(Event::PinSubmit, t0);
    assert_eq!(k.view(t0).pin_prompt, "Enter the same PIN again");
    for d in [3, 9, 1, 5] {
        k.handle(Event::PinDigit(d), t0);
    }
    assert!(k.handle(Event::PinSubmit, t0).is_empty());
    assert!(k.view(t0).message.contains("did not match"));
    assert!(
        k.view(t0).pin_prompt.starts_with("Choose"),
        "mismatch starts over"
    );
    for round in 0..2 {
        for d in [3, 9, 1, 6] {
            k.handle(Event::PinDigit(d), t0);
        }
        let fx = k.handle(Event::PinSubmit, t0);
        if round == 1 {
            assert!(matches!(fx.as_slice(),
                [Effect::SavePin { oid, pin }] if oid == "oid-1" && pin.expose_secret() == "3916"));
        }
    }
    assert_eq!(k.view(t0).busy_text, "Saving your PIN…");
    k.handle(
        Event::PinSaved {
            ok: true,
            message: Msg::new("Your PIN is set."),
        },
        t0,
    );
    assert_eq!(k.view(t0).page, ViewPage::Home);
    assert_eq!(k.view(t0).message, "Your PIN is set.");
}

#[test]
fn set_pin_cancel_and_timeout() {
    let t0 = Instant::now();
    let mut k = microsoft_session(t0);
    k.handle(Event::StartSetPin, t0);
    k.handle(Event::PinDigit(4), t0);
    k.handle(Event::PinCancel, t0);
    assert_eq!(k.view(t0).page, ViewPage::Home);
    assert!(k.session().is_some(), "cancel keeps the session");
    k.handle(Event::StartSetPin, t0);
    let fx = k.handle(Event::Tick, t0 + Duration::from_secs(60));
    assert!(matches!(
        fx.as_slice(),
        [Effect::EndSession {
            reason: SignOutReason::Inactivity,
            ..
        }]
    ));
}

#[test]
fn a_revoked_identity_is_signed_out_at_once_and_others_are_not() {
    let t0 = Instant::now();
    let mut k = signed_in(t0);
    let fx = k.handle(
        Event::IdentityRevoked {
            oid: "someone-else".into(),
        },
        t0,
    );
    assert!(fx.is_empty());
    assert!(k.session().is_some());
    let fx = k.handle(
        Event::IdentityRevoked {
            oid: "oid-1".into(),
        },
        t0,
    );
    assert!(matches!(fx.as_slice(),
        [Effect::EndSession { oid, reason: SignOutReason::Revoked }] if oid == "oid-1"));
    assert!(k.session().is_none());
    let view = k.view(t0);
    assert_eq!(view.page, ViewPage::Idle);
    assert!(view.message_is_error);
    assert!(
        view.message.contains("no longer has access"),
        "{}",
        view.message
    );
}

#[test]
fn a_revoked_identity_mid_scan_cancels_the_scan() {
    let t0 = Instant::now();
    let mut k = signed_in(t0);
    k.handle(
        Event::RunWorkflow {
            id: "onedrive".into(),
        },
        t0,
    );
    assert!(matches!(k.screen(), Screen::Scanning { .. }));
    let fx = k.handle(
        Event::IdentityRevoked {
            oid: "oid-1".into(),
        },
        t0,
    );
    assert!(matches!(
        fx.as_slice(),
        [Effect::CancelScan, Effect::EndSession { .. }]
    ));
    assert!(k.session().is_none());
}

// --- who may enter the service menu ----------------------------------------------------------

fn technician(method: AuthMethod) -> SessionUser {
    SessionUser {
        is_technician: true,
        method,
        ..user()
    }
}

fn signed_in_as(u: SessionUser, t0: Instant) -> Kiosk {
    let mut k = Kiosk::new(
        KioskSettings {
            service_pin_enabled: true,
            ..settings()
        },
        t0,
    );
    k.handle(card("123456"), t0);
    let attempt = k.current_attempt();
    k.handle(Event::AuthSucceeded { attempt, user: u }, t0);
    assert_eq!(k.view(t0).page, ViewPage::Home);
    k
}

fn service_records(fx: &[Effect]) -> Vec<&'static str> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Service {
                effect: crate::service_menu::ServiceEffect::Record { action, .. },
                ..
            } => Some(*action),
            _ => None,
        })
        .collect()
}

#[test]
fn technicians_enter_online_or_offline_others_never() {
    let t0 = Instant::now();
    // Online (Microsoft sign-in) and offline within the grace (a badge tap the cache
    // answered): the session carries the role either way.
    for method in [AuthMethod::Microsoft, AuthMethod::Card] {
        let mut k = signed_in_as(technician(method), t0);
        assert!(k.view(t0).can_service);
        let fx = k.handle(Event::OpenService, t0);
        assert_eq!(service_records(&fx), ["service_open"]);
        let v = k.view(t0);
        assert_eq!(v.page, ViewPage::Service);
        assert_eq!(v.service.unwrap().actor, "Adele Vance (technician)");
    }
    // No role (or a role Entra took away at the last refresh): no button, and the event alone
    // opens nothing.
    let mut k = signed_in_as(user(), t0);
    assert!(!k.view(t0).can_service);
    assert!(k.handle(Event::OpenService, t0).is_empty());
    assert_eq!(k.view(t0).page, ViewPage::Home);
}

#[test]
fn the_service_menu_takes_badge_taps_and_exit_returns_home() {
    let t0 = Instant::now();
    let mut k = signed_in_as(technician(AuthMethod::Microsoft), t0);
    k.handle(Event::OpenService, t0);
    // A tap in the menu neither signs out nor looks anyone up.
    let fx = k.handle(card("555555"), t0);
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(k.view(t0).page, ViewPage::Service);
    // Nor do session buttons.
    assert!(k.handle(Event::SignOut, t0).is_empty());
    let fx = k.handle(Event::ExitService, t0);
    assert_eq!(service_records(&fx), ["service_exit"]);
    assert_eq!(k.view(t0).page, ViewPage::Home);
    assert!(k.service_menu().is_none());
}

#[test]
fn the_menus_own_timeout_signs_a_technician_out() {
    let t0 = Instant::now();
    let mut k = signed_in_as(technician(AuthMethod::Microsoft), t0);
    k.handle(Event::OpenService, t0);
    // Far beyond the session's 60 s, within the menu's 120 s: still open.
    let t1 = t0 + Duration::from_secs(110);
    assert!(k.handle(Event::Tick, t1).is_empty());
    assert_eq!(k.view(t1).page, ViewPage::Service);
    let t2 = t0 + Duration::from_secs(121);
    let fx = k.handle(Event::Tick, t2);
    assert_eq!(service_records(&fx), ["service_exit"]);
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::EndSession {
            reason: SignOutReason::Inactivity,
            ..
        }
    )));
    assert_eq!(k.view(t2).page, ViewPage::Idle);
}

#[test]
fn a_technician_revoked_while_servicing_is_out_at_once() {
    let t0 = Instant::now();
    let mut k = signed_in_as(technician(AuthMethod::Card), t0);
    k.handle(Event::OpenService, t0);
    let fx = k.handle(
        Event::IdentityRevoked {
            oid: "oid-1".into(),
        },
        t0,
    );
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::EndSession {
            reason: SignOutReason::Revoked,
            ..
        }
    )));
    assert_eq!(k.view(t0).page, ViewPage::Idle);
    assert!(k.service_menu().is_none());
}

fn type_pin(k: &mut Kiosk, pin: &str, t: Instant) -> Vec<Effect> {
    for d in pin.bytes() {
        k.handle(Event::PinDigit(d - b'0'), t);
    }
    k.handle(Event::PinSubmit, t)
}

#[test]
fn service_pin_long_press_right_wrong_locked_and_timeout() {
    let t0 = Instant::now();
    // Without a configured service PIN the long press does nothing.
    let mut k = Kiosk::new(settings(), t0);
    k.handle(Event::ServiceLongPress, t0);
    assert_eq!(k.view(t0).page, ViewPage::Idle);

    let mut k = Kiosk::new(
        KioskSettings {
            service_pin_enabled: true,
            ..settings()
        },
        t0,
    );
    k.handle(Event::ServiceLongPress, t0);
    let v = k.view(t0);
    assert_eq!(
        (v.page, v.pin_prompt.to_string().as_str()),
        (ViewPage::Pin, "Service PIN")
    );

    // Wrong: back on the pad with the message (the lockout message comes the same way).
    let fx = type_pin(&mut k, "1111", t0);
    let attempt = match fx.as_slice() {
        [Effect::VerifyServicePin { attempt, pin }] => {
            assert_eq!(pin.expose_secret(), "1111");
            *attempt
        }
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(k.view(t0).page, ViewPage::Busy);
    k.handle(
        Event::ServicePinChecked {
            attempt,
            ok: false,
            message: Msg::new("Too many wrong service PINs. Try again in 60 s."),
        },
        t0,
    );
    let v = k.view(t0);
    assert_eq!(v.page, ViewPage::Pin);
    assert!(v.message.contains("Try again") && v.message_is_error);
    assert_eq!(v.pin_length, 0, "the pad was wiped");

    // Right: the menu opens with the service-PIN operator.
    type_pin(&mut k, "2468", t0);
    let attempt = k.current_attempt();
    let fx = k.handle(
        Event::ServicePinChecked {
            attempt,
            ok: true,
            message: Msg::default(),
        },
        t0,
    );
    assert!(matches!(
        fx.as_slice(),
        [Effect::Service {
            operator: crate::service_menu::Operator::ServicePin,
            ..
        }]
    ));
    assert_eq!(k.view(t0).service.unwrap().actor, "Service PIN");
    // Leaving goes to idle (nobody is signed in), on exit and on timeout alike.
    k.handle(Event::ExitService, t0);
    assert_eq!(k.view(t0).page, ViewPage::Idle);

    k.handle(Event::ServiceLongPress, t0);
    type_pin(&mut k, "2468", t0);
    let attempt = k.current_attempt();
    k.handle(
        Event::ServicePinChecked {
            attempt,
            ok: true,
            message: Msg::default(),
        },
        t0,
    );
    let late = t0 + Duration::from_secs(121);
    assert!(k
        .handle(Event::Tick, late)
        .iter()
        .all(|e| !matches!(e, Effect::EndSession { .. })));
    let v = k.view(late);
    assert_eq!(v.page, ViewPage::Idle);
    assert!(v.message.contains("inactivity"));
}

// --- My scans ----------------------------------------------------------------------------------

fn scan(id: &str, failed: bool) -> MyScan {
    MyScan {
        id: id.into(),
        name: format!("{id}.pdf"),
        destination: "OneDrive · Scans".into(),
        state: Msg::new(if failed { "Failed: gone" } else { "Sent" }),
        sent: !failed,
        when: "Tue 10:00".into(),
        failed,
    }
}

#[test]
fn my_scans_lists_retries_only_failed_and_times_out() {
    let t0 = Instant::now();
    let mut k = signed_in(t0);
    let fx = k.handle(Event::OpenMyScans, t0);
    assert!(matches!(fx.as_slice(), [Effect::LoadMyScans { oid }] if oid == "oid-1"));
    let v = k.view(t0);
    assert_eq!(
        (v.page, v.my_scans.clone()),
        (ViewPage::MyScans, None),
        "loading"
    );
    k.handle(
        Event::MyScansLoaded {
            jobs: vec![scan("a", false), scan("b", true)],
            message: None,
        },
        t0,
    );
    assert_eq!(k.view(t0).my_scans.unwrap().len(), 2);
    assert!(
        k.handle(Event::RetryMyScan { id: "a".into() }, t0)
            .is_empty(),
        "sent: no retry"
    );
    assert!(
        k.handle(Event::RetryMyScan { id: "zz".into() }, t0)
            .is_empty(),
        "not in the list"
    );
    let fx = k.handle(Event::RetryMyScan { id: "b".into() }, t0);
    assert!(
        matches!(fx.as_slice(), [Effect::RetryMyScan { oid, id }] if oid == "oid-1" && id == "b")
    );
    k.handle(
        Event::MyScansLoaded {
            jobs: vec![scan("a", false)],
            message: Some((Msg::new("Queued again"), false)),
        },
        t0,
    );
    assert_eq!(k.view(t0).message, "Queued again");
    k.handle(Event::CloseMyScans, t0);
    assert_eq!(k.view(t0).page, ViewPage::Home);

    // The page counts as part of the session: countdown, then sign-out.
    k.handle(Event::OpenMyScans, t0);
    let late = t0 + settings().inactivity_timeout - Duration::from_secs(5);
    assert_eq!(k.view(late).countdown, 5);
    let fx = k.handle(Event::Tick, t0 + settings().inactivity_timeout);
    assert!(fx.iter().any(|e| matches!(e, Effect::EndSession { .. })));
    assert_eq!(
        k.view(t0 + settings().inactivity_timeout).page,
        ViewPage::Idle
    );
}

#[test]
fn a_badge_tap_on_my_scans_signs_out_and_late_lists_are_dropped() {
    let t0 = Instant::now();
    let mut k = signed_in(t0);
    k.handle(Event::OpenMyScans, t0);
    let fx = k.handle(card("123456"), t0);
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::EndSession {
            reason: SignOutReason::CardTap,
            ..
        }
    )));
    k.handle(
        Event::MyScansLoaded {
            jobs: vec![scan("a", false)],
            message: None,
        },
        t0,
    );
    let v = k.view(t0);
    assert_eq!(v.page, ViewPage::Idle);
    assert!(
        v.my_scans.is_none(),
        "nothing of the last user stays on screen"
    );
}

// --- a local account's first badge tap ------------------------------------------------------

fn first_tap(t0: Instant) -> Kiosk {
    let mut k = Kiosk::new(
        KioskSettings {
            login_mode: LoginMode::CardAndPin,
            ..settings()
        },
        t0,
    );
    let attempt = match k.handle(card("42424242"), t0).as_slice() {
        [Effect::LookupCard { attempt, .. }] => *attempt,
        other => panic!("{other:?}"),
    };
    let user = SessionUser {
        must_set_pin: true,
        ..user()
    };
    k.handle(Event::AuthSucceeded { attempt, user }, t0);
    k
}

#[test]
fn a_first_tap_without_pin_asks_for_one_and_cancel_signs_out() {
    let t0 = Instant::now();
    let mut k = first_tap(t0);
    assert_eq!(k.view(t0).page, ViewPage::Pin);
    assert_eq!(k.view(t0).pin_prompt, "Choose a PIN of 4 to 8 digits");
    let fx = k.handle(Event::PinCancel, t0);
    assert!(
        matches!(fx.as_slice(), [Effect::EndSession { .. }]),
        "{fx:?}"
    );
    assert_eq!(k.view(t0).page, ViewPage::Idle);
}

#[test]
fn a_first_tap_reaches_home_only_once_the_pin_is_saved() {
    let t0 = Instant::now();
    let mut k = first_tap(t0);
    for _ in 0..2 {
        for d in [3, 9, 1, 6] {
            k.handle(Event::PinDigit(d), t0);
        }
        k.handle(Event::PinSubmit, t0);
    }
    let fx = k.handle(Event::PinSubmit, t0);
    assert!(fx.is_empty(), "an empty pad submits nothing: {fx:?}");
    k.handle(
        Event::PinSaved {
            ok: false,
            message: Msg::data("disk full"),
        },
        t0,
    );
    assert_eq!(k.view(t0).page, ViewPage::Pin, "still no PIN: asked again");
    for _ in 0..2 {
        for d in [3, 9, 1, 6] {
            k.handle(Event::PinDigit(d), t0);
        }
        k.handle(Event::PinSubmit, t0);
    }
    k.handle(
        Event::PinSaved {
            ok: true,
            message: Msg::new("PIN saved"),
        },
        t0,
    );
    assert_eq!(k.view(t0).page, ViewPage::Home);
    assert!(k.handle(Event::PinCancel, t0).is_empty());
}

// --- languages -----------------------------------------------------------------------------

fn german_panel(t0: Instant) -> Kiosk {
    Kiosk::new(
        KioskSettings {
            language: Language::De,
            ..settings()
        },
        t0,
    )
}

fn sign_in(k: &mut Kiosk, u: SessionUser, t: Instant) {
    k.handle(card("123456"), t);
    let attempt = k.current_attempt();
    k.handle(Event::AuthSucceeded { attempt, user: u }, t);
    assert_eq!(k.view(t).page, ViewPage::Home);
}

#[test]
fn the_panel_default_holds_until_someone_picks_or_signs_in() {
    let t0 = Instant::now();
    let mut k = german_panel(t0);
    assert_eq!(k.view(t0).language, Language::De);
    // A user with their own language gets it, and the panel returns to its default after.
    sign_in(
        &mut k,
        SessionUser {
            language: Some(Language::Ja),
            ..user()
        },
        t0,
    );
    assert_eq!(k.view(t0).language, Language::Ja);
    k.handle(Event::SignOut, t0);
    assert_eq!(k.view(t0).language, Language::De);
    // One without keeps the panel's.
    sign_in(&mut k, user(), t0);
    assert_eq!(k.view(t0).language, Language::De);
}

#[test]
fn the_walk_up_pick_holds_through_a_sign_in_and_ends_with_the_session() {
    let t0 = Instant::now();
    let mut k = german_panel(t0);
    k.handle(Event::ChooseLanguage(Language::Fr), t0);
    assert_eq!(k.view(t0).language, Language::Fr);
    // The person who picked French at the panel keeps it, whatever their profile says.
    sign_in(
        &mut k,
        SessionUser {
            language: Some(Language::Nl),
            ..user()
        },
        t0,
    );
    assert_eq!(k.view(t0).language, Language::Fr);
    // Picks are for the idle page only.
    k.handle(Event::ChooseLanguage(Language::Es), t0);
    assert_eq!(k.view(t0).language, Language::Fr);
    // Walking away: the inactivity sign-out ends the pick too.
    let later = t0 + settings().inactivity_timeout + Duration::from_secs(1);
    k.handle(Event::Tick, later);
    assert_eq!(k.view(later).page, ViewPage::Idle);
    assert_eq!(k.view(later).language, Language::De);
}

#[test]
fn a_pick_nobody_signs_in_with_times_out_on_the_idle_page() {
    let t0 = Instant::now();
    let mut k = german_panel(t0);
    k.handle(Event::ChooseLanguage(Language::Es), t0);
    let soon = t0 + Duration::from_secs(5);
    k.handle(Event::Tick, soon);
    assert_eq!(
        k.view(soon).language,
        Language::Es,
        "still the same walk-up"
    );
    let later = t0 + settings().inactivity_timeout;
    k.handle(Event::Tick, later);
    assert_eq!(
        k.view(later).language,
        Language::De,
        "the next walk-up gets the default"
    );
}

#[test]
fn texts_made_by_the_machine_render_in_the_view_language() {
    let t0 = Instant::now();
    let mut k = german_panel(t0);
    k.handle(Event::StartPin, t0);
    let v = k.view(t0);
    assert_eq!(
        v.pin_prompt, "Enter your badge number",
        "English for tests and logs"
    );
    assert_eq!(v.pin_prompt.render(v.language), "Ausweisnummer eingeben");
}
