//! Bridge between the controller and the Slint adapter: kiosk views become `UiState`, UI
//! commands become kiosk events (keys typed on the idle page go through the keyboard-wedge
//! decoder first, so the demo's typed badge behaves exactly like a wedge reader).

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
    UiState {
        page: match view.page {
            ViewPage::Idle => UiPage::Idle,
            ViewPage::Pin => UiPage::Pin,
            ViewPage::DeviceCode => UiPage::DeviceCode,
            ViewPage::Busy => UiPage::Busy,
            ViewPage::Home => UiPage::Home,
            ViewPage::Scanning => UiPage::Scanning,
            ViewPage::Uploading => UiPage::Uploading,
            ViewPage::Result => UiPage::Result,
        },
        device_name: device_name.to_string(),
        message: view.message.clone(),
        message_is_error: view.message_is_error,
        countdown: u32::try_from(view.countdown).unwrap_or(u32::MAX),
        demo_mode: demo,
        pin_enabled: view.pin_enabled,
        microsoft_enabled: view.microsoft_enabled,
        pin_prompt: view.pin_prompt.clone(),
        pin_length: u32::try_from(view.pin_length).unwrap_or(u32::MAX),
        pin_max_length: u32::try_from(view.pin_max_length).unwrap_or(u32::MAX),
        user_code: view.user_code.clone(),
        verification_uri: view.verification_uri.clone(),
        qr_text: view.verification_uri.clone(),
        code_seconds_left: u32::try_from(view.code_seconds_left).unwrap_or(u32::MAX),
        code_purpose: view.code_purpose.clone(),
        busy_text: view.busy_text.clone(),
        display_name: view.display_name.clone(),
        user_detail: view.user_detail.clone(),
        can_set_pin: view.can_set_pin,
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
        progress_title: view.progress_title.clone(),
        progress_detail: view.progress_detail.clone(),
        progress: view.progress,
        result_ok: view.result_ok,
        result_title: view.result_title.clone(),
        result_detail: view.result_detail.clone(),
    }
}

/// A UI command sink that forwards to the controller. Runs on the UI thread.
pub fn command_sink(
    handle: ControllerHandle,
    wedge: WedgeSettings,
) -> impl Fn(UiCommand) + Clone + 'static {
    let decoder = Rc::new(RefCell::new(WedgeDecoder::new(wedge)));
    move |command| {
        let event = match command {
            UiCommand::CardKey(text) => {
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
            UiCommand::RunWorkflow(id) => Event::RunWorkflow { id },
            UiCommand::CancelScan => Event::CancelScan,
            UiCommand::ResultDone => Event::ResultDone,
            UiCommand::SignOut => Event::SignOut,
            UiCommand::SetPin => Event::StartSetPin,
            UiCommand::Activity => Event::Activity,
        };
        handle.event(event);
    }
}
