//! A local account's whole life on the touchscreen: the real MainWindow on Slint's headless
//! testing backend, the real controller and services (SQLite, the simulated tenant). A
//! technician creates the account on the service menu's "Local accounts" page (name typed on
//! the on-screen keyboard), enrolls the person's badge right after; at the first tap the
//! person chooses a PIN, then sees only the workflows the panel delivers itself; with the
//! network down and the expiry day passed the badge is refused; the technician deletes the
//! account and the badge is unknown. Badges go through the keyboard-wedge decoder path.
//!
//! One test per process: the testing backend with an event loop is process-wide.
#![cfg(feature = "demo")]

mod ui_support;

use mfp_kiosk::app::{self, ControllerHandle};
use mfp_kiosk::config::{Delivery, Destination};
use mfp_kiosk::kiosk::{View, ViewPage};
use mfp_kiosk::readers::{CardRead, CardSource, ReaderEvent};
use mfp_kiosk::service_menu::ServicePageView;
use mfp_kiosk::MainWindow;
use slint::ComponentHandle;
use tokio::sync::mpsc;
use ui_support::*;

const BADGE: &str = "5550123456";

/// A badge read as the readers deliver it.
fn tap(handle: &ControllerHandle) {
    handle.event(app::reader_event(ReaderEvent::Card(CardRead {
        source: CardSource::Wedge,
        raw: BADGE.into(),
    })));
}

/// Tom (technician) signs in with Microsoft and opens the service menu's "Local accounts".
async fn open_local_accounts(
    window: &MainWindow,
    rx: &mut mpsc::UnboundedReceiver<View>,
    sim: &mfp_kiosk::sim::SimCloud,
    tom: &str,
) {
    press(window, "Sign in with Microsoft");
    let code = until(rx, "a device code", |v| !v.user_code.is_empty()).await;
    assert!(sim.approve_user_code(&code.user_code, Some(tom)));
    until(rx, "Tom's home", |v| v.page == ViewPage::Home).await;
    press(window, "Service");
    until(rx, "the service menu", |v| {
        service_page(v) == Some(ServicePageView::Menu)
    })
    .await;
    press(window, "Local accounts");
    until(rx, "the local accounts", |v| {
        service_page(v) == Some(ServicePageView::Local)
    })
    .await;
}

#[test]
fn a_local_account_from_creation_to_deletion_on_the_touchscreen() {
    i_slint_backend_testing::init_integration_test_with_system_time();
    let state = tempfile::tempdir().unwrap();
    let mut config = demo_config(state.path());
    config.pin.login_mode = mfp_kiosk::config::LoginMode::CardAndPin;
    let mut visitors = config
        .workflows
        .iter()
        .find(|w| w.destination == Destination::Sharepoint)
        .unwrap()
        .clone();
    visitors.id = "visitors".into();
    visitors.label = "Visitor scans".into();
    visitors.delivery = Delivery::App;
    visitors.allowed_roles = Vec::new();
    config.workflows.push(visitors);
    let mut panel = start(config);
    let mut rx = panel.rx.take().unwrap();
    let services = panel.running.services.clone();
    let tom = panel.oid("tom.tech@");
    let handle = panel.running.handle.clone();
    let w = panel.window.as_weak();
    slint::spawn_local(async move {
        let window = w.upgrade().unwrap();
        let sim = services.sim.as_ref().unwrap();
        until(&mut rx, "idle", |v| v.page == ViewPage::Idle).await;

        // Create: the name on the on-screen keyboard (first letter capital by itself).
        open_local_accounts(&window, &mut rx, sim, &tom).await;
        press(&window, "New account");
        until(&mut rx, "the form", |v| {
            service_page(v) == Some(ServicePageView::LocalNew)
        })
        .await;
        let mut typed = String::new();
        for key in ["A", "n", "n"] {
            // Each key waits for the last one to land: the shift state follows the typing.
            press(&window, key);
            typed.push_str(key);
            until(&mut rx, "the key", |v| {
                v.service
                    .as_ref()
                    .and_then(|s| s.local_form.as_ref())
                    .is_some_and(|f| f.name == typed)
            })
            .await;
        }
        press(&window, "in 30 days");
        let v = until(&mut rx, "the form filled", |v| {
            v.service
                .as_ref()
                .and_then(|s| s.local_form.as_ref())
                .is_some_and(|f| f.name == "Ann" && f.expires_in_days == Some(30))
        })
        .await;
        assert_eq!(
            v.service.unwrap().local_workflows.len(),
            1,
            "only the app workflow is offered"
        );
        press(&window, "Create, then tap the badge");
        until(&mut rx, "tap the badge", |v| {
            service_page(v) == Some(ServicePageView::TapBadge)
        })
        .await;
        tap(&handle);
        let v = until(&mut rx, "Ann's cards", |v| {
            v.service
                .as_ref()
                .is_some_and(|s| s.page == Some(ServicePageView::Cards) && s.cards.len() == 1)
        })
        .await;
        assert!(
            !v.service.unwrap().has_pin,
            "the PIN is the person's to choose"
        );
        press(&window, "Back");
        until(&mut rx, "menu", |v| {
            service_page(v) == Some(ServicePageView::Menu)
        })
        .await;
        press(&window, "Exit service");
        until(&mut rx, "home", |v| {
            v.page == ViewPage::Home && v.service.is_none()
        })
        .await;
        press(&window, "Sign out");
        until(&mut rx, "idle", |v| v.page == ViewPage::Idle).await;

        // Ann's first tap: choose the PIN twice, then home with the app workflow only.
        tap(&handle);
        until(&mut rx, "choose a PIN", |v| {
            v.page == ViewPage::Pin && v.pin_prompt.starts_with("Choose")
        })
        .await;
        for _ in 0..2 {
            for d in ["3", "9", "1", "6"] {
                press(&window, &format!("Digit {d}"));
            }
            press(&window, "OK");
        }
        let home = until(&mut rx, "Ann's home", |v| v.page == ViewPage::Home).await;
        assert_eq!(home.display_name, "Ann");
        let offered: Vec<_> = home.workflows.iter().map(|w| w.id.as_str()).collect();
        assert_eq!(offered, ["visitors"]);
        press(&window, "Sign out");
        until(&mut rx, "idle", |v| v.page == ViewPage::Idle).await;

        // Badge + PIN from now on.
        tap(&handle);
        until(&mut rx, "the PIN", |v| {
            v.page == ViewPage::Pin && !v.pin_prompt.starts_with("Choose")
        })
        .await;
        for d in ["3", "9", "1", "6"] {
            press(&window, &format!("Digit {d}"));
        }
        press(&window, "OK");
        until(&mut rx, "Ann's home again", |v| v.page == ViewPage::Home).await;
        press(&window, "Sign out");
        until(&mut rx, "idle", |v| v.page == ViewPage::Idle).await;

        // Offline, past the expiry day (the panel's clock): refused.
        let ann = services.store.list_local_users().unwrap()[0].0.oid.clone();
        let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
        services
            .store
            .set_local_expiry(&ann, Some(yesterday))
            .unwrap();
        sim.set_network_down(true);
        tap(&handle);
        until(&mut rx, "expired", |v| {
            v.page == ViewPage::Idle && v.message.contains("expired")
        })
        .await;
        sim.set_network_down(false);

        // The technician deletes the account; the badge is unknown afterwards.
        open_local_accounts(&window, &mut rx, sim, &tom).await;
        until(&mut rx, "Ann on the list", |v| {
            v.service.as_ref().is_some_and(|s| s.local_rows.len() == 1)
        })
        .await;
        press(&window, "Delete");
        until(&mut rx, "the question", |v| {
            v.service
                .as_ref()
                .is_some_and(|s| !s.confirm_text.is_empty())
        })
        .await;
        press(&window, "Confirm");
        until(&mut rx, "an empty list", |v| {
            v.service.as_ref().is_some_and(|s| {
                s.page == Some(ServicePageView::Local)
                    && s.local_rows.is_empty()
                    && s.message.contains("deleted")
            })
        })
        .await;
        press(&window, "Back");
        until(&mut rx, "menu", |v| {
            service_page(v) == Some(ServicePageView::Menu)
        })
        .await;
        press(&window, "Exit service");
        until(&mut rx, "home", |v| {
            v.page == ViewPage::Home && v.service.is_none()
        })
        .await;
        press(&window, "Sign out");
        until(&mut rx, "idle", |v| v.page == ViewPage::Idle).await;
        assert!(services.store.user_by_oid(&ann).unwrap().is_none());
        let audit = services.store.query_audit(&Default::default()).unwrap();
        for action in ["local_user_create", "local_user_delete"] {
            assert!(
                audit
                    .iter()
                    .any(|e| e.action == action && e.actor.starts_with("technician:")),
                "{action}"
            );
        }
        slint::quit_event_loop().unwrap();
    })
    .unwrap();
    slint::run_event_loop().unwrap();
    let Panel {
        running, runtime, ..
    } = panel;
    drop(running);
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
}
