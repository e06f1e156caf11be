//! The technician's service menu as a technician meets it: the real MainWindow on Slint's
//! headless testing backend, the real controller and services (SQLite, the simulated tenant),
//! badges tapped through a vpcd virtual card on a private pcscd (PC/SC) and through the
//! keyboard-wedge decoder fed with recorded evdev key events (the grabbed device node itself
//! needs /dev/uinput; tests/readers_hid.rs covers it where the kernel has one). Buttons and the
//! on-screen keyboard's keys are pressed by accessible label.
//!
//! One test per process: the testing backend with an event loop is process-wide.
#![cfg(feature = "demo")]

mod support;
mod ui_support;

use std::time::Duration;

use evdev::{EventType, InputEvent};
use mfp_kiosk::app::{self, signin, ControllerHandle, Input};
use mfp_kiosk::config::Config;
use mfp_kiosk::kiosk::ViewPage;
use mfp_kiosk::readers::hid::HidDecoder;
use mfp_kiosk::readers::{CardRead, CardSource, ReaderEvent};
use mfp_kiosk::service_menu::ServicePageView;
use slint::ComponentHandle;
use support::pcscd::{self, Pcscd, Vpcd};
use support::vcard::{InsertedCard, VirtualCard};
use ui_support::*;

const PCSC_UID: [u8; 4] = [0x04, 0xA1, 0xB2, 0xC3];
/// What the demo pipeline (`trim`, `upper`) makes of the virtual card's UID.
const PCSC_NUMBER: &str = "04A1B2C3";
const WEDGE_NUMBER: &str = "0004417321";

/// The keyboard-wedge path: a badge reader "typing" `number` + Enter as USB HID key events
/// (scan code, press, SYN, release, SYN, 3 ms apart) through the decoder the HID reader
/// thread runs, then into the controller exactly as `app::start_readers` delivers reads.
fn wedge_tap(handle: &ControllerHandle, config: &Config, number: &str) {
    let settings = app::wedge_settings(config, false);
    let mut decoder = HidDecoder::new(settings);
    let mut t_us: i64 = 1_760_000_000_000_000;
    let ev = |type_: u16, code: u16, value: i32, t: i64| {
        InputEvent::from(libc::input_event {
            time: libc::timeval {
                tv_sec: (t / 1_000_000) as libc::time_t,
                tv_usec: (t % 1_000_000) as libc::suseconds_t,
            },
            type_,
            code,
            value,
        })
    };
    const DIGITS: [u16; 10] = [11, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    let mut reads = Vec::new();
    for c in number.chars().chain(['\n']) {
        let code = match c {
            '\n' => 28,
            d => DIGITS[d.to_digit(10).unwrap() as usize],
        };
        for value in [1, 0] {
            for e in [
                ev(EventType::MISC.0, 4, 0x70000 + i32::from(code), t_us),
                ev(EventType::KEY.0, code, value, t_us),
                ev(EventType::SYNCHRONIZATION.0, 0, 0, t_us),
            ] {
                let mut next = decoder.event(&e);
                while let Some(r) = next {
                    reads.push(r);
                    next = decoder.next_pending();
                }
            }
            t_us += 3_000;
        }
    }
    assert_eq!(reads.len(), 1, "one badge read from the burst");
    let raw = reads.remove(0).expect("a badge-speed burst decodes");
    handle.event(app::reader_event(ReaderEvent::Card(CardRead {
        source: CardSource::Wedge,
        raw,
    })));
}

/// The PC/SC reader: the virtual card laid on the vpcd reader (and taken away after).
struct PcscTap {
    _daemon: Pcscd,
    vpcd: Vpcd,
}

impl PcscTap {
    fn tap(&self) -> InsertedCard {
        VirtualCard::with_uid(&PCSC_UID)
            .insert(self.vpcd.slot(0))
            .unwrap()
    }
}

#[test]
fn technician_enrolls_and_revokes_badges_on_the_touchscreen() {
    i_slint_backend_testing::init_integration_test_with_system_time();
    // A private pcscd with one vpcd reader, when this machine can run one (CI always can).
    let pcsc = pcscd::available("ui_service_flow (PC/SC part)").then(|| {
        let _ = pcscd::socket_path();
        let vpcd = Vpcd::new("MFP Test");
        let mut daemon = Pcscd::start(&[&vpcd]);
        daemon.wait_readers(2, Duration::from_secs(20));
        PcscTap {
            _daemon: daemon,
            vpcd,
        }
    });

    let state = tempfile::tempdir().unwrap();
    let mut config = demo_config(state.path());
    config.readers.pcsc.enabled = pcsc.is_some();
    let wedge_config = config.clone();
    let readers_config = config.readers.clone();
    let Panel {
        window,
        running,
        runtime,
        rx,
    } = start_with(config, None, 180);
    let mut rx = rx.unwrap();
    let readers = app::start_readers(&readers_config, &running.handle, &running.services).unwrap();
    let services = running.services.clone();
    let sim_user = |upn: &str| {
        services
            .sim
            .as_ref()
            .unwrap()
            .users()
            .into_iter()
            .find(|u| u.upn == upn)
            .unwrap()
            .oid
    };
    let (tom, megan) = (
        sim_user("tom.tech@contoso.example"),
        sim_user("megan@contoso.example"),
    );

    // Megan used this panel once before (she is in its identity cache, with no badge yet).
    runtime.block_on(async {
        let entra = services.entra().await.unwrap();
        let pending = entra.start_device_code().await.unwrap();
        assert!(services.sim.as_ref().unwrap().approve_pending(Some(&megan)));
        let tokens = entra.wait_for_device_code(pending).await.unwrap();
        signin::complete_microsoft_sign_in(&services, &running.sessions, tokens, None)
            .await
            .unwrap();
        running.sessions.remove(&megan);
    });
    if pcsc.is_some() {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while services
            .reader_snapshot()
            .pcsc
            .is_none_or(|p| p.readers.len() < 2)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the PC/SC reader never saw vpcd"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    let tom_oid = tom.clone();
    let handle = running.handle.clone();
    let w = window.as_weak();
    let sim_services = services.clone();
    slint::spawn_local(async move {
        let window = w.upgrade().unwrap();
        let sim = sim_services.sim.as_ref().unwrap();
        // Tapping "Megan's badge": the virtual card on the PC/SC reader where there is one,
        // else the same number through the wedge path.
        let megan_badge = |handle: &ControllerHandle| -> Option<InsertedCard> {
            match &pcsc {
                Some(p) => Some(p.tap()),
                None => {
                    wedge_tap(handle, &wedge_config, PCSC_NUMBER);
                    None
                }
            }
        };
        until(&mut rx, "idle", |v| v.page == ViewPage::Idle).await;

        // Tom (technician role) signs in with Microsoft and opens Service.
        press(&window, "Sign in with Microsoft");
        let code = until(&mut rx, "a device code", |v| !v.user_code.is_empty()).await;
        assert!(sim.approve_user_code(&code.user_code, Some(&tom)));
        let home = until(&mut rx, "Tom's home", |v| v.page == ViewPage::Home).await;
        assert_eq!(home.display_name, "Tom Tech");
        assert!(home.can_service);
        press(&window, "Service");
        until(&mut rx, "the service menu", |v| {
            service_page(v) == Some(ServicePageView::Menu)
        })
        .await;

        // Enroll a badge for Megan: type part of her name on the on-screen keyboard.
        press(&window, "Enroll a badge");
        until(&mut rx, "the user search", |v| {
            service_page(v) == Some(ServicePageView::PickUser)
        })
        .await;
        osk(&window, "meg");
        until(&mut rx, "Megan in the results", |v| {
            v.service
                .as_ref()
                .is_some_and(|s| s.users.iter().any(|u| u.name == "Megan Bowen"))
        })
        .await;
        press(&window, "Megan Bowen");
        until(&mut rx, "tap the badge", |v| {
            service_page(v) == Some(ServicePageView::TapBadge)
        })
        .await;
        let card = megan_badge(&handle);
        let v = until(&mut rx, "Megan's cards", |v| {
            v.service
                .as_ref()
                .is_some_and(|s| s.page == Some(ServicePageView::Cards) && s.cards.len() == 1)
        })
        .await;
        let masked = v.service.unwrap().cards[0].masked.clone();
        assert_eq!(masked, "•••• B2C3");
        if let Some(c) = card {
            c.remove();
        }

        // The same badge for Tom himself is refused, both named; Cancel keeps it Megan's.
        press(&window, "Back");
        until(&mut rx, "menu", |v| {
            service_page(v) == Some(ServicePageView::Menu)
        })
        .await;
        press(&window, "Enroll a badge");
        until(&mut rx, "search", |v| {
            service_page(v) == Some(ServicePageView::PickUser)
        })
        .await;
        osk(&window, "tom");
        until(&mut rx, "Tom in the results", |v| {
            v.service
                .as_ref()
                .is_some_and(|s| s.users.iter().any(|u| u.name == "Tom Tech"))
        })
        .await;
        press(&window, "Tom Tech");
        until(&mut rx, "tap", |v| {
            service_page(v) == Some(ServicePageView::TapBadge)
        })
        .await;
        let card = megan_badge(&handle);
        let v = until(&mut rx, "the conflict", |v| {
            service_page(v) == Some(ServicePageView::Conflict)
        })
        .await;
        let prompt = v.service.unwrap().prompt;
        assert!(
            prompt.contains("Megan Bowen") && prompt.contains("Tom Tech"),
            "{prompt}"
        );
        if let Some(c) = card {
            c.remove();
        }
        press(&window, "Cancel");
        until(&mut rx, "tap again", |v| {
            service_page(v) == Some(ServicePageView::TapBadge)
        })
        .await;
        // Tom's own new badge, through the keyboard-wedge path.
        wedge_tap(&handle, &wedge_config, WEDGE_NUMBER);
        until(&mut rx, "Tom's cards", |v| {
            v.service
                .as_ref()
                .is_some_and(|s| s.page == Some(ServicePageView::Cards) && s.cards.len() == 1)
        })
        .await;
        press(&window, "Back");
        until(&mut rx, "menu", |v| {
            service_page(v) == Some(ServicePageView::Menu)
        })
        .await;
        press(&window, "Exit service");
        until(&mut rx, "home", |v| v.page == ViewPage::Home).await;
        press(&window, "Sign out");
        until(&mut rx, "idle", |v| v.page == ViewPage::Idle).await;

        // Megan's badge now signs her in from the idle page.
        let card = megan_badge(&handle);
        let v = until(&mut rx, "Megan's home", |v| v.page == ViewPage::Home).await;
        assert_eq!(v.display_name, "Megan Bowen");
        assert!(!v.can_service, "no technician role");
        if let Some(c) = card {
            c.remove();
        }
        press(&window, "Sign out");
        until(&mut rx, "idle", |v| v.page == ViewPage::Idle).await;

        // Tom's wedge badge signs him in; he revokes Megan's badge on her cards page.
        wedge_tap(&handle, &wedge_config, WEDGE_NUMBER);
        let v = until(&mut rx, "Tom's home", |v| v.page == ViewPage::Home).await;
        assert_eq!(v.display_name, "Tom Tech");
        press(&window, "Service");
        until(&mut rx, "menu", |v| {
            service_page(v) == Some(ServicePageView::Menu)
        })
        .await;
        press(&window, "A user's cards");
        until(&mut rx, "search", |v| {
            service_page(v) == Some(ServicePageView::PickUser)
        })
        .await;
        osk(&window, "bow");
        until(&mut rx, "Megan", |v| {
            v.service
                .as_ref()
                .is_some_and(|s| s.users.iter().any(|u| u.name == "Megan Bowen"))
        })
        .await;
        press(&window, "Megan Bowen");
        until(&mut rx, "her cards", |v| {
            v.service
                .as_ref()
                .is_some_and(|s| s.page == Some(ServicePageView::Cards) && s.cards.len() == 1)
        })
        .await;
        press(&window, &format!("Revoke {masked}"));
        until(&mut rx, "the question", |v| {
            v.service
                .as_ref()
                .is_some_and(|s| !s.confirm_text.is_empty())
        })
        .await;
        press(&window, "Confirm");
        until(&mut rx, "no cards", |v| {
            v.service
                .as_ref()
                .is_some_and(|s| s.cards.is_empty() && s.confirm_text.is_empty())
        })
        .await;
        press(&window, "Back");
        until(&mut rx, "menu", |v| {
            service_page(v) == Some(ServicePageView::Menu)
        })
        .await;
        press(&window, "Exit service");
        until(&mut rx, "home", |v| v.page == ViewPage::Home).await;
        press(&window, "Sign out");
        until(&mut rx, "idle", |v| v.page == ViewPage::Idle).await;

        // The revoked badge is not recognised: the panel offers to link it with a sign-in.
        let card = megan_badge(&handle);
        let v = until(&mut rx, "badge not recognised", |v| {
            v.page == ViewPage::DeviceCode
        })
        .await;
        assert!(v.code_purpose.contains("New badge"), "{}", v.code_purpose);
        if let Some(c) = card {
            c.remove();
        }
        press(&window, "Cancel sign-in");
        until(&mut rx, "idle", |v| v.page == ViewPage::Idle).await;

        handle.send(Input::Quit);
        slint::quit_event_loop().unwrap();
    })
    .unwrap();
    slint::run_event_loop().unwrap();
    drop(readers);

    // Every step is in the audit log, by the technician, with its outcome.
    let by_tom = format!("technician:{tom_oid}");
    let entries = services.store.recent_audit(500).unwrap();
    let lines: Vec<String> = entries
        .iter()
        .rev()
        .map(|e| {
            format!(
                "{} {} {}",
                e.actor,
                e.action,
                e.detail.clone().unwrap_or_default()
            )
        })
        .collect();
    let tom_did = |action: &str, outcome: &str| {
        entries
            .iter()
            .filter(|e| {
                e.actor == by_tom
                    && e.action == action
                    && e.detail.as_deref().unwrap_or("").starts_with(outcome)
            })
            .count()
    };
    assert_eq!(tom_did("service_open", "ok"), 2, "{lines:#?}");
    assert_eq!(tom_did("service_exit", "ok: exit"), 2, "{lines:#?}");
    assert_eq!(tom_did("card_enroll", "ok"), 2, "{lines:#?}");
    assert_eq!(tom_did("card_enroll", "refused"), 1, "{lines:#?}");
    assert_eq!(tom_did("card_revoke", "ok"), 1, "{lines:#?}");
    for line in &lines {
        for number in [PCSC_NUMBER, WEDGE_NUMBER] {
            assert!(
                !line.contains(number),
                "a badge number in the audit: {line}"
            );
        }
    }
}
