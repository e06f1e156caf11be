//! Bridge between the controller and the Slint adapter: kiosk views become `UiState`, UI
//! commands become kiosk events. Keys typed on the idle page become badge reads only where
//! [`crate::app::idle_key_badges`] allows it (the demo, or an explicit desk set-up); they go
//! through the keyboard-wedge decoder first, so the demo's typed badge behaves exactly like a
//! wedge reader. Everywhere else they are dropped here.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use secrecy::SecretString;

use super::controller::{ControllerHandle, Input};
use crate::kiosk::{Event, View, ViewPage};
use crate::readers::wedge::{WedgeDecoder, WedgeSettings};
use crate::ui::{UiCommand, UiPage, UiState, UiWorkflow};

/// The UI state for a kiosk view.
pub fn ui_state(view: &View, device_name: &str, demo: bool) -> UiState {
    let lang = view.language;
    UiState {
        language: lang,
        page: match view.page {
            ViewPage::Idle => UiPage::Idle,
            ViewPage::Pin => UiPage::Pin,
            ViewPage::DeviceCode => UiPage::DeviceCode,
            ViewPage::Busy => UiPage::Busy,
            ViewPage::Home => UiPage::Home,
            ViewPage::Scanning => UiPage::Scanning,
            ViewPage::Uploading => UiPage::Uploading,
            ViewPage::Result => UiPage::Result,
            ViewPage::Service => UiPage::Service,
            ViewPage::MyScans => UiPage::MyScans,
            ViewPage::ScanSheet => UiPage::ScanSheet,
            ViewPage::AnotherPage => UiPage::AnotherPage,
        },
        device_name: device_name.to_string(),
        message: view.message.render(lang),
        message_is_error: view.message_is_error,
        countdown: u32::try_from(view.countdown).unwrap_or(u32::MAX),
        demo_mode: demo,
        pin_enabled: view.pin_enabled,
        microsoft_enabled: view.microsoft_enabled,
        pin_prompt: view.pin_prompt.render(lang),
        pin_length: u32::try_from(view.pin_length).unwrap_or(u32::MAX),
        pin_max_length: u32::try_from(view.pin_max_length).unwrap_or(u32::MAX),
        user_code: view.user_code.clone(),
        verification_uri: view.verification_uri.clone(),
        qr_text: view.verification_uri.clone(),
        code_seconds_left: u32::try_from(view.code_seconds_left).unwrap_or(u32::MAX),
        code_purpose: view.code_purpose.render(lang),
        busy_text: view.busy_text.render(lang),
        display_name: view.display_name.clone(),
        user_detail: view.user_detail.render(lang),
        can_set_pin: view.can_set_pin,
        can_service: view.can_service,
        workflows: view
            .workflows
            .iter()
            .map(|w| UiWorkflow {
                id: w.id.clone(),
                label: w.label.clone(),
                badge: w.badge.clone(),
                destination: w.destination.clone(),
            })
            .collect(),
        my_scans: view
            .my_scans
            .iter()
            .flatten()
            .map(|m| crate::ui::UiMyScan {
                id: m.id.clone(),
                name: m.name.clone(),
                destination: m.destination.clone(),
                state: m.state.render(lang),
                sent: m.sent,
                when: m.when.clone(),
                failed: m.failed,
            })
            .collect(),
        my_scans_loading: view.page == ViewPage::MyScans && view.my_scans.is_none(),
        progress_title: view.progress_title.render(lang),
        progress_detail: view.progress_detail.render(lang),
        progress: view.progress,
        result_ok: view.result_ok,
        result_title: view.result_title.render(lang),
        result_detail: view.result_detail.render(lang),
    }
}

/// A UI command sink that forwards to the controller. Runs on the UI thread. `idle_keys`:
/// how keys typed on the idle page are decoded as badges, `None` to ignore them.
pub fn command_sink(
    handle: ControllerHandle,
    idle_keys: Option<WedgeSettings>,
) -> impl Fn(UiCommand) + Clone + 'static {
    let decoder = idle_keys.map(|w| Rc::new(RefCell::new(WedgeDecoder::new(w))));
    move |command| {
        let event = match command {
            UiCommand::CardKey(text) => {
                let Some(decoder) = &decoder else {
                    tracing::trace!(
                        "key on the idle page ignored: keyboards are not badge readers here"
                    );
                    return;
                };
                let decoded = decoder.borrow_mut().feed(&text, Instant::now());
                match decoded {
                    Some(Ok(number)) => Event::CardRead {
                        card: SecretString::from(number),
                    },
                    Some(Err(reject)) => {
                        tracing::debug!(?reject, "keyboard input was not a badge");
                        return;
                    }
                    None => return,
                }
            }
            UiCommand::StartPin => Event::StartPin,
            UiCommand::PinDigit(d) => Event::PinDigit(d),
            UiCommand::PinBackspace => Event::PinBackspace,
            UiCommand::PinSubmit => Event::PinSubmit,
            UiCommand::PinCancel => Event::PinCancel,
            UiCommand::StartMicrosoft => Event::StartMicrosoft,
            UiCommand::CancelDeviceCode => Event::CancelDeviceCode,
            UiCommand::DemoApprove => return handle.send(Input::DemoApprove),
            // A tile: the sheet opens (or a quick workflow starts).
            UiCommand::RunWorkflow(id) => Event::Sheet(crate::kiosk::SheetEvent::Open { id }),
            UiCommand::CancelScan => Event::CancelScan,
            UiCommand::ResultDone => Event::ResultDone,
            UiCommand::SignOut => Event::SignOut,
            UiCommand::SetPin => Event::StartSetPin,
            UiCommand::OpenService => Event::OpenService,
            UiCommand::OpenMyScans => Event::OpenMyScans,
            UiCommand::CloseMyScans => Event::CloseMyScans,
            UiCommand::RetryScan(id) => Event::RetryMyScan { id },
            UiCommand::ServiceLongPress => Event::ServiceLongPress,
            UiCommand::Activity => Event::Activity,
            UiCommand::ChooseLanguage(code) => match crate::i18n::Language::from_tag(&code) {
                Some(lang) => Event::ChooseLanguage(lang),
                None => {
                    tracing::error!(code, "language list sent a language the panel lacks");
                    return;
                }
            },
        };
        handle.event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// Feeds a badge-reader-fast burst of keys to a sink and counts the badge reads it makes.
    fn card_reads(idle_keys: Option<WedgeSettings>) -> usize {
        let (handle, mut rx) = ControllerHandle::detached();
        let sink = command_sink(handle, idle_keys);
        for c in "0004417321\n".chars() {
            sink(UiCommand::CardKey(c.to_string()));
        }
        let mut reads = 0;
        while let Ok(input) = rx.try_recv() {
            if matches!(input, Input::Event(Event::CardRead { .. })) {
                reads += 1;
            }
        }
        reads
    }

    #[test]
    fn keys_on_the_idle_page_are_no_badge_reader_on_a_panel() {
        let mut config = Config::demo_default();
        assert!(!config.readers.idle_keyboard_badges, "off by default");
        let panel = crate::app::idle_key_badges(&config, false);
        assert!(panel.is_none());
        assert_eq!(
            card_reads(panel),
            0,
            "a keystroke injector's burst is dropped"
        );

        // The demo (a person types the number to simulate a reader) and an explicit desk set-up
        // keep the path.
        let demo = crate::app::idle_key_badges(&config, true);
        assert_eq!(demo.is_some(), cfg!(feature = "demo"));
        config.readers.idle_keyboard_badges = true;
        let desk = crate::app::idle_key_badges(&config, false);
        assert!(desk.is_some());
        assert_eq!(card_reads(desk), 1);
    }
}
