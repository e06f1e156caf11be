//! What the panel shows, derived from the machine's state. Plain data: the UI adapter maps it
//! onto the Slint globals, tests read it directly.

use std::time::{Duration, Instant};

use super::machine::{Kiosk, MyScan, Screen, WorkflowEntry};
use super::scan_sheet::{SheetScreen, SheetView};
use crate::i18n::{Language, Msg};
use crate::service_menu::ServiceView;

/// The page the panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewPage {
    Idle,
    Pin,
    DeviceCode,
    Busy,
    Home,
    Scanning,
    Uploading,
    Result,
    /// The service menu; its page is in [`View::service`].
    Service,
    /// The user's recent jobs.
    MyScans,
    /// The scan settings sheet ([`View::sheet`]).
    ScanSheet,
    /// "Another page?" after a flatbed page ([`View::sheet`]).
    AnotherPage,
}

/// Everything the panel needs to draw one frame of the session.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub page: ViewPage,
    /// The language to draw this view in.
    pub language: Language,
    pub message: Msg,
    pub message_is_error: bool,
    /// Seconds before the inactivity sign-out; 0 when no countdown is shown.
    pub countdown: u64,
    pub pin_enabled: bool,
    pub microsoft_enabled: bool,
    pub pin_prompt: Msg,
    pub pin_length: usize,
    pub pin_max_length: usize,
    pub user_code: String,
    pub verification_uri: String,
    pub code_seconds_left: u64,
    pub code_purpose: Msg,
    pub busy_text: Msg,
    pub display_name: String,
    pub user_detail: Msg,
    pub can_set_pin: bool,
    /// Home offers "Service".
    pub can_service: bool,
    pub workflows: Vec<WorkflowEntry>,
    pub progress_title: Msg,
    pub progress_detail: Msg,
    pub progress: f32,
    pub result_ok: bool,
    pub result_title: Msg,
    pub result_detail: Msg,
    /// The service menu's pages, while it is open.
    pub service: Option<ServiceView>,
    /// My scans: the user's jobs; `None` while loading.
    pub my_scans: Option<Vec<MyScan>>,
    /// The scan settings sheet or "Another page?", while shown.
    pub sheet: Option<SheetView>,
}

impl Kiosk {
    /// The view at time `now` (countdowns depend on it).
    pub fn view(&self, now: Instant) -> View {
        let mode = self.settings.login_mode;
        let mut v = View {
            page: ViewPage::Idle,
            language: self.language(),
            message: Msg::default(),
            message_is_error: false,
            countdown: self.countdown_secs(now).unwrap_or(0),
            pin_enabled: mode != super::LoginMode::Card,
            microsoft_enabled: self.settings.microsoft_enabled,
            pin_prompt: Msg::default(),
            pin_length: self.digits.len(),
            pin_max_length: self.settings.pin_max_length,
            user_code: String::new(),
            verification_uri: String::new(),
            code_seconds_left: 0,
            code_purpose: Msg::default(),
            busy_text: Msg::default(),
            display_name: String::new(),
            user_detail: Msg::default(),
            can_set_pin: self.can_set_pin(),
            can_service: self.can_service(),
            workflows: Vec::new(),
            progress_title: Msg::default(),
            progress_detail: Msg::default(),
            progress: 0.0,
            result_ok: false,
            result_title: Msg::default(),
            result_detail: Msg::default(),
            service: None,
            my_scans: None,
            sheet: None,
        };
        if let Some(n) = &self.notice {
            v.message = n.text.clone();
            v.message_is_error = n.is_error;
        }
        if let Some(user) = &self.session {
            v.display_name = user.display_name.clone();
            v.user_detail = if user.is_technician {
                Msg::new("{} · Technician").arg(&user.upn)
            } else {
                Msg::data(&user.upn)
            };
            v.workflows = user.workflows.clone();
        }
        match &self.screen {
            Screen::Idle => {}
            Screen::EnterBadge => {
                v.page = ViewPage::Pin;
                v.pin_prompt = Msg::new("Enter your badge number");
                v.pin_max_length = 32;
            }
            Screen::EnterPin { display_name, .. } => {
                v.page = ViewPage::Pin;
                v.pin_prompt = Msg::new("{}, enter your PIN").arg(display_name);
            }
            Screen::Checking { pin_for } => {
                v.page = ViewPage::Busy;
                v.busy_text = if pin_for.is_some() {
                    Msg::new("Checking your PIN…")
                } else {
                    Msg::new("Checking your badge…")
                };
            }
            Screen::DeviceCode {
                offer,
                shown_at,
                link_card,
            } => {
                v.page = ViewPage::DeviceCode;
                v.code_purpose = if *link_card {
                    Msg::new("New badge: sign in with Microsoft to link it")
                } else {
                    Msg::new("Sign in with Microsoft")
                };
                match offer {
                    Some(o) => {
                        v.user_code = o.user_code.clone();
                        v.verification_uri = o.verification_uri.clone();
                        let end = *shown_at + Duration::from_secs(o.expires_in_secs);
                        v.code_seconds_left = end.saturating_duration_since(now).as_secs();
                    }
                    None => v.busy_text = Msg::new("Contacting Microsoft…"),
                }
            }
            Screen::Home => v.page = ViewPage::Home,
            Screen::SetPin { confirming } => {
                v.page = ViewPage::Pin;
                v.pin_prompt = if *confirming {
                    Msg::new("Enter the same PIN again")
                } else {
                    Msg::new("Choose a PIN of {} to {} digits")
                        .arg(self.settings.pin_min_length)
                        .arg(self.settings.pin_max_length)
                };
            }
            Screen::SavingPin => {
                v.page = ViewPage::Busy;
                v.busy_text = Msg::new("Saving your PIN…");
            }
            Screen::Scanning { workflow, pages } => {
                v.page = ViewPage::Scanning;
                v.progress_title = Msg::new("{}: scanning").arg(workflow);
                v.progress_detail = match pages {
                    0 => Msg::new("Starting the scanner…"),
                    n => Msg::plural("{n} page scanned", "{n} pages scanned", i64::from(*n)),
                };
                // The page count is unknown until the feeder runs dry: show motion, not a lie.
                v.progress = 1.0 - 1.0 / (1.0 + *pages as f32);
            }
            Screen::Uploading {
                workflow,
                sent,
                total,
            } => {
                v.page = ViewPage::Uploading;
                v.progress_title = Msg::new("{}: sending").arg(workflow);
                v.progress_detail = Msg::new("{} of {}")
                    .arg(human_bytes(*sent))
                    .arg(human_bytes(*total));
                v.progress = if *total == 0 {
                    0.0
                } else {
                    (*sent as f64 / *total as f64) as f32
                };
            }
            Screen::Sheet(sheet) => {
                v.page = match sheet {
                    SheetScreen::AnotherPage { .. } => ViewPage::AnotherPage,
                    _ => ViewPage::ScanSheet,
                };
                v.sheet = Some(sheet.view());
            }
            Screen::MyScans { jobs } => {
                v.page = ViewPage::MyScans;
                v.my_scans = jobs.clone();
            }
            Screen::ServicePin => {
                v.page = ViewPage::Pin;
                v.pin_prompt = Msg::new("Service PIN");
                v.pin_max_length = super::machine::MAX_SERVICE_PIN;
            }
            Screen::CheckingServicePin => {
                v.page = ViewPage::Busy;
                v.busy_text = Msg::new("Checking the service PIN…");
            }
            Screen::Service => {
                v.page = ViewPage::Service;
                v.service = self.service.as_ref().map(|m| m.view());
            }
            Screen::Result { ok, title, detail } => {
                v.page = ViewPage::Result;
                v.result_ok = *ok;
                v.result_title = title.clone();
                v.result_detail = detail.clone();
            }
        }
        v
    }
}

/// "1.4 MB"-style sizes for progress text.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
