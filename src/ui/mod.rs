//! Adapter between the `Kiosk` global of ui/api.slint and the rest of the app.
//!
//! The app keeps a plain-Rust [`UiState`] (no Slint types) and pushes it with [`apply`]; every
//! callback of the global arrives as one [`UiCommand`] through the sink given to [`bind`].
//! Slint owns the look and which page is drawn; this module only translates. It also owns the
//! QR rendering ([`qr`]), the headless screenshots ([`screenshot`]) and the Japanese font
//! file ([`fonts`]).

pub mod fonts;
pub mod qr;
pub mod scan_sheet;
pub mod screenshot;
pub mod service;

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use slint::{ComponentHandle, Image, Model, ModelRc, VecModel};

use crate::i18n::Language;
use crate::{Kiosk, MainWindow, MyScan, Page, WorkflowTile};

/// Which page the panel shows; mirrors `Page` in ui/api.slint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UiPage {
    #[default]
    Idle,
    Pin,
    DeviceCode,
    Busy,
    Home,
    Scanning,
    Uploading,
    Result,
    /// The technician's service menu; which of its pages is in [`service::ServiceUiState`].
    Service,
    MyScans,
    /// The scan settings sheet; its state is in [`scan_sheet::SheetUiState`].
    ScanSheet,
    AnotherPage,
}

impl From<UiPage> for Page {
    fn from(page: UiPage) -> Self {
        match page {
            UiPage::Idle => Page::Idle,
            UiPage::Pin => Page::Pin,
            UiPage::DeviceCode => Page::DeviceCode,
            UiPage::Busy => Page::Busy,
            UiPage::Home => Page::Home,
            UiPage::Scanning => Page::Scanning,
            UiPage::Uploading => Page::Uploading,
            UiPage::Result => Page::Result,
            UiPage::Service => Page::Service,
            UiPage::MyScans => Page::MyScans,
            UiPage::ScanSheet => Page::ScanSheet,
            UiPage::AnotherPage => Page::AnotherPage,
        }
    }
}

/// One tile on the home page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UiWorkflow {
    pub id: String,
    pub label: String,
    /// Short glyph text drawn on the tile ("OD", "SP").
    pub badge: String,
    /// Where the scan goes, in words the user recognises.
    pub destination: String,
}

impl From<&UiWorkflow> for WorkflowTile {
    fn from(w: &UiWorkflow) -> Self {
        WorkflowTile {
            id: w.id.as_str().into(),
            label: w.label.as_str().into(),
            badge: w.badge.as_str().into(),
            destination: w.destination.as_str().into(),
        }
    }
}

/// One row of My scans.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UiMyScan {
    pub id: String,
    pub name: String,
    pub destination: String,
    pub state: String,
    pub when: String,
    pub failed: bool,
    pub sent: bool,
}

impl From<&UiMyScan> for MyScan {
    fn from(m: &UiMyScan) -> Self {
        MyScan {
            id: m.id.as_str().into(),
            name: m.name.as_str().into(),
            destination: m.destination.as_str().into(),
            state: m.state.as_str().into(),
            when: m.when.as_str().into(),
            failed: m.failed,
            sent: m.sent,
        }
    }
}

/// Everything the panel shows, as plain Rust values; one field per `in` property of `Kiosk`
/// except the QR image, which [`apply`] renders from `qr_text`.
///
/// Nothing secret lives here: the PIN page only knows how many digits were typed.
#[derive(Debug, Clone, PartialEq)]
pub struct UiState {
    pub page: UiPage,
    /// The language the panel draws in (bundled `@tr()` translations; the Rust-made strings
    /// below are already in it).
    pub language: Language,
    pub device_name: String,
    pub message: String,
    pub message_is_error: bool,
    /// Seconds until the session ends; the banner shows while this is above zero.
    pub countdown: u32,
    pub demo_mode: bool,
    pub pin_enabled: bool,
    pub microsoft_enabled: bool,
    pub pin_prompt: String,
    pub pin_length: u32,
    pub pin_max_length: u32,
    pub user_code: String,
    pub verification_uri: String,
    /// Text encoded into the QR code of the device-code page (normally the verification URI).
    /// Empty means no QR code.
    pub qr_text: String,
    pub code_seconds_left: u32,
    pub code_purpose: String,
    pub busy_text: String,
    pub display_name: String,
    pub user_detail: String,
    pub can_set_pin: bool,
    /// Home offers "Service" (the user holds the technician role).
    pub can_service: bool,
    pub workflows: Vec<UiWorkflow>,
    pub my_scans: Vec<UiMyScan>,
    pub my_scans_loading: bool,
    pub progress_title: String,
    pub progress_detail: String,
    /// 0.0 ..= 1.0.
    pub progress: f32,
    pub result_ok: bool,
    pub result_title: String,
    pub result_detail: String,
}

impl Default for UiState {
    /// The idle page with the same defaults as ui/api.slint.
    fn default() -> Self {
        UiState {
            page: UiPage::Idle,
            language: Language::En,
            device_name: "MFP".into(),
            message: String::new(),
            message_is_error: false,
            countdown: 0,
            demo_mode: false,
            pin_enabled: true,
            microsoft_enabled: true,
            pin_prompt: "Enter your PIN".into(),
            pin_length: 0,
            pin_max_length: 8,
            user_code: String::new(),
            verification_uri: String::new(),
            qr_text: String::new(),
            code_seconds_left: 0,
            code_purpose: "Sign in with Microsoft".into(),
            busy_text: String::new(),
            display_name: String::new(),
            user_detail: String::new(),
            can_set_pin: false,
            can_service: false,
            workflows: Vec::new(),
            my_scans: Vec::new(),
            my_scans_loading: false,
            progress_title: String::new(),
            progress_detail: String::new(),
            progress: 0.0,
            result_ok: false,
            result_title: String::new(),
            result_detail: String::new(),
        }
    }
}

/// What the user did on the panel; one variant per callback of `Kiosk`.
#[derive(Clone, PartialEq, Eq)]
pub enum UiCommand {
    /// Text of one key typed while the idle page has focus ("\n" for Enter).
    CardKey(String),
    StartPin,
    PinDigit(u8),
    PinBackspace,
    PinSubmit,
    PinCancel,
    StartMicrosoft,
    CancelDeviceCode,
    DemoApprove,
    RunWorkflow(String),
    CancelScan,
    ResultDone,
    SignOut,
    SetPin,
    OpenMyScans,
    CloseMyScans,
    RetryScan(String),
    /// Home: a technician opens the service menu.
    OpenService,
    /// Idle: the panel name was held for 3 s (the service-PIN pad).
    ServiceLongPress,
    /// Idle: a language of the list was picked (its code, "de").
    ChooseLanguage(String),
    Activity,
}

// Card keys are pieces of a card number and PIN digits are pieces of a PIN: neither may reach
// a log through `{:?}`.
impl fmt::Debug for UiCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UiCommand::CardKey(_) => f.write_str("CardKey(<redacted>)"),
            UiCommand::PinDigit(_) => f.write_str("PinDigit(<redacted>)"),
            UiCommand::StartPin => f.write_str("StartPin"),
            UiCommand::PinBackspace => f.write_str("PinBackspace"),
            UiCommand::PinSubmit => f.write_str("PinSubmit"),
            UiCommand::PinCancel => f.write_str("PinCancel"),
            UiCommand::StartMicrosoft => f.write_str("StartMicrosoft"),
            UiCommand::CancelDeviceCode => f.write_str("CancelDeviceCode"),
            UiCommand::DemoApprove => f.write_str("DemoApprove"),
            UiCommand::RunWorkflow(id) => f.debug_tuple("RunWorkflow").field(id).finish(),
            UiCommand::CancelScan => f.write_str("CancelScan"),
            UiCommand::ResultDone => f.write_str("ResultDone"),
            UiCommand::SignOut => f.write_str("SignOut"),
            UiCommand::SetPin => f.write_str("SetPin"),
            UiCommand::OpenService => f.write_str("OpenService"),
            UiCommand::OpenMyScans => f.write_str("OpenMyScans"),
            UiCommand::CloseMyScans => f.write_str("CloseMyScans"),
            UiCommand::RetryScan(id) => f.debug_tuple("RetryScan").field(id).finish(),
            UiCommand::ServiceLongPress => f.write_str("ServiceLongPress"),
            UiCommand::Activity => f.write_str("Activity"),
            UiCommand::ChooseLanguage(code) => f.debug_tuple("ChooseLanguage").field(code).finish(),
        }
    }
}

/// Connects every callback of the `Kiosk` global to `sink`.
pub fn bind(window: &MainWindow, sink: impl Fn(UiCommand) + Clone + 'static) {
    let kiosk = window.global::<Kiosk>();

    let s = sink.clone();
    kiosk.on_card_key(move |text| s(UiCommand::CardKey(text.to_string())));
    let s = sink.clone();
    kiosk.on_start_pin(move || s(UiCommand::StartPin));
    let s = sink.clone();
    kiosk.on_pin_digit(move |digit| match u8::try_from(digit) {
        Ok(d) if d <= 9 => s(UiCommand::PinDigit(d)),
        // The markup only sends 0..=9; anything else is a bug in the .slint files.
        _ => tracing::error!(digit, "PIN pad sent a value that is not a digit"),
    });
    let s = sink.clone();
    kiosk.on_pin_backspace(move || s(UiCommand::PinBackspace));
    let s = sink.clone();
    kiosk.on_pin_submit(move || s(UiCommand::PinSubmit));
    let s = sink.clone();
    kiosk.on_pin_cancel(move || s(UiCommand::PinCancel));
    let s = sink.clone();
    kiosk.on_start_microsoft(move || s(UiCommand::StartMicrosoft));
    let s = sink.clone();
    kiosk.on_cancel_device_code(move || s(UiCommand::CancelDeviceCode));
    let s = sink.clone();
    kiosk.on_demo_approve(move || s(UiCommand::DemoApprove));
    let s = sink.clone();
    kiosk.on_run_workflow(move |id| s(UiCommand::RunWorkflow(id.to_string())));
    let s = sink.clone();
    kiosk.on_cancel_scan(move || s(UiCommand::CancelScan));
    let s = sink.clone();
    kiosk.on_result_done(move || s(UiCommand::ResultDone));
    let s = sink.clone();
    kiosk.on_sign_out(move || s(UiCommand::SignOut));
    let s = sink.clone();
    kiosk.on_set_pin(move || s(UiCommand::SetPin));
    let s = sink.clone();
    kiosk.on_open_service(move || s(UiCommand::OpenService));
    let s = sink.clone();
    kiosk.on_open_my_scans(move || s(UiCommand::OpenMyScans));
    let s = sink.clone();
    kiosk.on_close_my_scans(move || s(UiCommand::CloseMyScans));
    let s = sink.clone();
    kiosk.on_retry_scan(move |id| s(UiCommand::RetryScan(id.to_string())));
    let s = sink.clone();
    kiosk.on_service_long_press(move || s(UiCommand::ServiceLongPress));
    let s = sink.clone();
    kiosk.on_choose_language(move |code| s(UiCommand::ChooseLanguage(code.to_string())));
    kiosk.on_activity(move || sink(UiCommand::Activity));
}

/// Pushes `state` into the window. Cheap to call on every change: unchanged values do not
/// invalidate anything, the QR code is only re-rendered when `qr_text` changes, and the
/// workflow model is only replaced when the list differs (so a tile being pressed survives
/// a countdown tick).
pub fn apply(window: &MainWindow, state: &UiState) {
    let kiosk = window.global::<Kiosk>();

    set_language(window, state.language);
    kiosk.set_page(state.page.into());
    kiosk.set_device_name(state.device_name.as_str().into());
    kiosk.set_message(state.message.as_str().into());
    kiosk.set_message_is_error(state.message_is_error);
    kiosk.set_countdown(to_slint_int(state.countdown));
    kiosk.set_demo_mode(state.demo_mode);
    kiosk.set_pin_enabled(state.pin_enabled);
    kiosk.set_microsoft_enabled(state.microsoft_enabled);

    kiosk.set_pin_prompt(state.pin_prompt.as_str().into());
    kiosk.set_pin_length(to_slint_int(state.pin_length));
    kiosk.set_pin_max_length(to_slint_int(state.pin_max_length));

    kiosk.set_user_code(state.user_code.as_str().into());
    kiosk.set_verification_uri(state.verification_uri.as_str().into());
    kiosk.set_qr_code(QR_CACHE.with(|cache| cache.borrow_mut().image_for(&state.qr_text)));
    kiosk.set_code_seconds_left(to_slint_int(state.code_seconds_left));
    kiosk.set_code_purpose(state.code_purpose.as_str().into());

    kiosk.set_busy_text(state.busy_text.as_str().into());

    kiosk.set_display_name(state.display_name.as_str().into());
    kiosk.set_user_detail(state.user_detail.as_str().into());
    kiosk.set_can_set_pin(state.can_set_pin);
    kiosk.set_can_service(state.can_service);
    if !workflows_match(&kiosk.get_workflows(), &state.workflows) {
        let tiles: Vec<WorkflowTile> = state.workflows.iter().map(WorkflowTile::from).collect();
        kiosk.set_workflows(ModelRc::from(Rc::new(VecModel::from(tiles))));
    }

    let scans: Vec<MyScan> = state.my_scans.iter().map(MyScan::from).collect();
    let current = kiosk.get_my_scans();
    if current.row_count() != scans.len() || current.iter().zip(&scans).any(|(a, b)| a != *b) {
        kiosk.set_my_scans(ModelRc::from(Rc::new(VecModel::from(scans))));
    }
    kiosk.set_my_scans_loading(state.my_scans_loading);

    kiosk.set_progress_title(state.progress_title.as_str().into());
    kiosk.set_progress_detail(state.progress_detail.as_str().into());
    kiosk.set_progress(if state.progress.is_finite() {
        state.progress.clamp(0.0, 1.0)
    } else {
        0.0
    });

    kiosk.set_result_ok(state.result_ok);
    kiosk.set_result_title(state.result_title.as_str().into());
    kiosk.set_result_detail(state.result_detail.as_str().into());
}

/// Switches the bundled `@tr()` translations when the language changed.
pub fn set_language(window: &MainWindow, lang: Language) {
    let kiosk = window.global::<Kiosk>();
    kiosk.set_language(lang.code().into());
    // The selection belongs to the thread's Slint context, not to the window; re-selecting
    // the same language would re-evaluate every @tr() binding on each state push.
    if SELECTED_LANGUAGE.with(|l| l.get()) == Some(lang) {
        return;
    }
    // English is the source language: selecting it drops the translation.
    match slint::select_bundled_translation(lang.code()) {
        Ok(()) => SELECTED_LANGUAGE.with(|l| l.set(Some(lang))),
        // Only a build without bundled translations gets here; it stays in English.
        Err(e) => tracing::error!(%lang, error = %e, "cannot switch the panel language"),
    }
}

pub(crate) fn to_slint_int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn workflows_match(current: &ModelRc<WorkflowTile>, wanted: &[UiWorkflow]) -> bool {
    current.row_count() == wanted.len()
        && current
            .iter()
            .zip(wanted)
            .all(|(tile, w)| tile == WorkflowTile::from(w))
}

thread_local! {
    // The bundled translation selected in this thread's Slint context.
    static SELECTED_LANGUAGE: std::cell::Cell<Option<Language>> = const { std::cell::Cell::new(None) };
    // Slint images are tied to the UI thread, and so is this cache.
    static QR_CACHE: RefCell<QrCache> = RefCell::new(QrCache::default());
}

/// Remembers the last QR image so a state push with the same text does not re-encode it.
#[derive(Default)]
struct QrCache {
    text: String,
    image: Image,
    renders: u64,
}

impl QrCache {
    fn image_for(&mut self, text: &str) -> Image {
        if text != self.text || self.renders == 0 {
            self.image = if text.is_empty() {
                Image::default()
            } else {
                match qr::qr_image(text) {
                    Ok(image) => image,
                    Err(err) => {
                        // The page still shows the address and the code in words.
                        tracing::warn!(error = %err, chars = text.len(), "cannot draw the QR code");
                        Image::default()
                    }
                }
            };
            self.text = text.to_owned();
            self.renders += 1;
        }
        self.image.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_card_keys_and_pin_digits() {
        let card = format!("{:?}", UiCommand::CardKey("0412345678".into()));
        let pin = format!("{:?}", UiCommand::PinDigit(7));
        assert!(!card.contains("0412345678"), "{card}");
        assert!(!pin.contains('7'), "{pin}");
        assert_eq!(
            format!("{:?}", UiCommand::RunWorkflow("onedrive".into())),
            "RunWorkflow(\"onedrive\")"
        );
    }

    #[test]
    fn default_state_matches_the_slint_defaults() {
        let s = UiState::default();
        assert_eq!(s.page, UiPage::Idle);
        assert_eq!(s.device_name, "MFP");
        assert!(s.pin_enabled && s.microsoft_enabled);
        assert_eq!(s.pin_prompt, "Enter your PIN");
        assert_eq!(s.pin_max_length, 8);
        assert_eq!(s.code_purpose, "Sign in with Microsoft");
    }

    #[test]
    fn qr_cache_renders_only_when_the_text_changes() {
        let mut cache = QrCache::default();
        let first = cache.image_for("https://microsoft.com/devicelogin");
        assert_eq!(cache.renders, 1);
        assert!(first.size().width > 0);
        cache.image_for("https://microsoft.com/devicelogin");
        assert_eq!(cache.renders, 1, "same text must reuse the cached image");
        let other = cache.image_for("https://example.com/other");
        assert_eq!(cache.renders, 2);
        assert_ne!(first, other);
        let empty = cache.image_for("");
        assert_eq!(empty.size().width, 0);
    }

    #[test]
    fn text_too_long_for_a_qr_code_gives_an_empty_image() {
        let mut cache = QrCache::default();
        let huge = "x".repeat(8000);
        assert_eq!(cache.image_for(&huge).size().width, 0);
    }

    #[test]
    fn slint_ints_saturate() {
        assert_eq!(to_slint_int(5), 5);
        assert_eq!(to_slint_int(u32::MAX), i32::MAX);
    }
}
