//! States, events, effects and the transition function of the kiosk session.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::auth::pin::PinPolicy;
use crate::auth::DeviceCodeOffer;
use crate::i18n::{Language, Msg};
use crate::kiosk::scan_sheet::{SheetEffect, SheetEvent, SheetScreen};
use crate::service_menu::{Operator, ServiceEffect, ServiceEvent, ServiceMenu};

/// How long a notice ("Signed out", "Card not recognised") stays on screen.
const NOTICE_TTL: Duration = Duration::from_secs(8);
/// Shortest badge number accepted from the PIN pad; shorter input is a typo, not a badge.
const MIN_TYPED_BADGE: usize = 4;
/// Longest badge number the PIN pad accepts.
const MAX_TYPED_BADGE: usize = 32;
/// Longest service PIN the pad accepts.
pub(crate) const MAX_SERVICE_PIN: usize = 16;
/// Shown for a badge tap where `pin.login_mode = "pin"`.
const CARDS_OFF: Msg = Msg::new("Badge sign-in is turned off here. Use the PIN pad.");
/// Shown when a badge was tapped whose reader could get no number from it.
const UNREADABLE_BADGE: Msg = Msg::new("This badge type can't be read here; ask your technician.");

/// Which sign-in paths the panel offers (config `pin.login_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMode {
    /// A card tap alone signs in; no PIN path.
    Card,
    /// Badge number typed on the PIN pad, then the PIN; card taps are refused.
    Pin,
    /// A card tap alone, or badge number + PIN on the pad.
    CardOrPin,
    /// A card tap followed by the PIN, or badge number + PIN.
    CardAndPin,
}

impl LoginMode {
    fn cards_allowed(self) -> bool {
        self != LoginMode::Pin
    }

    fn pin_pad_allowed(self) -> bool {
        self != LoginMode::Card
    }

    /// Whether a tapped card must be followed by the PIN. The controller enforces it when it
    /// answers a [`Effect::LookupCard`]; a typed badge number always needs the PIN.
    pub fn card_needs_pin(self) -> bool {
        self == LoginMode::CardAndPin
    }
}

/// Tunables of the machine, taken from the validated config.
#[derive(Debug, Clone)]
pub struct KioskSettings {
    pub inactivity_timeout: Duration,
    /// The last part of the timeout during which a countdown is shown.
    pub countdown: Duration,
    pub pin_min_length: usize,
    pub pin_max_length: usize,
    pub login_mode: LoginMode,
    pub microsoft_enabled: bool,
    /// The service menu closes after this long untouched (config `service.inactivity_timeout_secs`).
    pub service_timeout: Duration,
    /// A service PIN is configured: the long press on the panel name asks for it.
    pub service_pin_enabled: bool,
    /// The panel's language between sessions (config `device.language`).
    pub language: Language,
}

impl Default for KioskSettings {
    fn default() -> Self {
        KioskSettings {
            inactivity_timeout: Duration::from_secs(60),
            countdown: Duration::from_secs(10),
            pin_min_length: 4,
            pin_max_length: 8,
            login_mode: LoginMode::CardOrPin,
            microsoft_enabled: true,
            service_timeout: Duration::from_secs(120),
            service_pin_enabled: false,
            language: Language::En,
        }
    }
}

/// How the current session was opened (for audit and the home page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Card,
    CardAndPin,
    Microsoft,
}

/// A workflow the signed-in user may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowEntry {
    pub id: String,
    pub label: String,
    pub badge: String,
    pub destination: String,
    /// One tap scans with the defaults (no settings sheet).
    pub quick: bool,
}

/// The signed-in user as the session sees it. No secrets: tokens stay with the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub oid: String,
    pub display_name: String,
    pub upn: String,
    pub is_technician: bool,
    pub method: AuthMethod,
    pub workflows: Vec<WorkflowEntry>,
    /// A local account's first badge tap: the panel asks for a new PIN before anything else.
    pub must_set_pin: bool,
    /// The user's own language (directory `preferredLanguage`), when the panel speaks it.
    pub language: Option<Language>,
}

/// Where the panel is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    Idle,
    /// PIN pad collecting a badge number (for users without their card at hand).
    EnterBadge,
    /// PIN pad collecting the PIN of a known user.
    EnterPin {
        oid: String,
        display_name: String,
    },
    /// Waiting for the controller to look up a card or verify a PIN.
    Checking {
        pin_for: Option<(String, String)>,
    },
    /// Microsoft device-code sign-in; `link_card` when it will bind the unknown card just tapped.
    DeviceCode {
        offer: Option<DeviceCodeOffer>,
        shown_at: Instant,
        link_card: bool,
    },
    Home,
    /// PIN pad choosing a new PIN; `confirming` once the first entry was taken.
    SetPin {
        confirming: bool,
    },
    /// Waiting for the new PIN to be stored.
    SavingPin,
    /// The scan settings sheet or "Another page?" (see [`super::scan_sheet`]).
    Sheet(SheetScreen),
    Scanning {
        workflow: String,
        pages: u32,
    },
    Uploading {
        workflow: String,
        sent: u64,
        total: u64,
    },
    Result {
        ok: bool,
        title: Msg,
        detail: Msg,
    },
    /// The signed-in user's recent jobs (My scans); `None` while they load.
    MyScans {
        jobs: Option<Vec<MyScan>>,
    },
    /// PIN pad collecting the service PIN (after the long press on the panel name).
    ServicePin,
    /// Waiting for the service PIN to be checked.
    CheckingServicePin,
    /// The service menu is open; its state is in the [`ServiceMenu`].
    Service,
}

/// One of the user's jobs on the My scans page, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyScan {
    pub id: String,
    /// The file name.
    pub name: String,
    /// Where it went or is going ("OneDrive · Scans/2026-12-01").
    pub destination: String,
    /// The state in plain words ("Sent", "Waiting for the network, ...", "Failed: ...").
    pub state: Msg,
    /// Delivered (the page shows it in the success colour).
    pub sent: bool,
    pub when: String,
    /// Failed for good: the user may retry it.
    pub failed: bool,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOutReason {
    Button,
    CardTap,
    Inactivity,
    /// The directory disabled or deleted the account while it was signed in.
    Revoked,
}

/// Something that happened. Answers to effects carry the `attempt` they answer, so an answer
/// that arrives after the user gave up (cancel, timeout) is ignored.
#[derive(Debug)]
pub enum Event {
    Tick,
    Activity,
    /// Idle page: the walk-up picked a language; it holds until the session ends.
    ChooseLanguage(Language),
    CardRead {
        card: SecretString,
    },
    /// A card was tapped but the reader got no number from it (no UID): it is refused. The
    /// reason stays with the reader's status; the walk-up user only learns the badge type
    /// does not work here.
    CardUnreadable,
    StartPin,
    PinDigit(u8),
    PinBackspace,
    PinSubmit,
    PinCancel,
    StartMicrosoft,
    CancelDeviceCode,
    DeviceCodeReady {
        attempt: u64,
        offer: DeviceCodeOffer,
    },
    /// Card or PIN or Microsoft sign-in succeeded.
    AuthSucceeded {
        attempt: u64,
        user: SessionUser,
    },
    /// The card belongs to a known user who must now enter the PIN.
    NeedPin {
        attempt: u64,
        oid: String,
        display_name: String,
    },
    /// Nobody has this card.
    CardUnknown {
        attempt: u64,
    },
    /// The PIN was wrong (or locked out); the user stays on the PIN pad.
    PinRejected {
        attempt: u64,
        message: Msg,
    },
    /// The sign-in failed for good; `message` is for the walk-up user.
    AuthFailed {
        attempt: u64,
        message: Msg,
    },
    /// Home: the user wants to choose a PIN.
    StartSetPin,
    /// Answer to SavePin.
    PinSaved {
        ok: bool,
        message: Msg,
    },
    /// Start a workflow with its defaults, sheet or not (the sheet opens with [`SheetEvent::Open`]).
    RunWorkflow {
        id: String,
    },
    /// The settings sheet and "Another page?".
    Sheet(SheetEvent),
    CancelScan,
    ScanProgress {
        pages: u32,
    },
    ScanDone {
        pages: u32,
        bytes: u64,
    },
    UploadProgress {
        sent: u64,
        total: u64,
    },
    JobFinished {
        ok: bool,
        title: Msg,
        detail: Msg,
    },
    ResultDone,
    SignOut,
    /// Offboarding revoked this identity: its open session, if any, ends now.
    IdentityRevoked {
        oid: String,
    },
    /// Home: the user opens My scans.
    OpenMyScans,
    /// Answer to [`Effect::LoadMyScans`] (and to a retry): the list, and what to say.
    MyScansLoaded {
        jobs: Vec<MyScan>,
        message: Option<(Msg, bool)>,
    },
    /// My scans: retry this failed job.
    RetryMyScan {
        id: String,
    },
    /// My scans: back home.
    CloseMyScans,
    /// Home: the signed-in technician opens the service menu.
    OpenService,
    /// Idle: the panel name in the header was held (the service-PIN pad opens).
    ServiceLongPress,
    /// Answer to [`Effect::VerifyServicePin`]: `message` says why not (wrong, locked).
    ServicePinChecked {
        attempt: u64,
        ok: bool,
        message: Msg,
    },
    /// Something on a service page, or an answer to a service effect.
    Service(ServiceEvent),
    /// The technician left the service menu (Exit service).
    ExitService,
}

/// Something the adapters must do.
#[derive(Debug)]
pub enum Effect {
    /// Look the card up; answer with AuthSucceeded, NeedPin, CardUnknown or AuthFailed.
    /// `typed` cards came from the PIN pad and always need the PIN.
    LookupCard {
        attempt: u64,
        card: SecretString,
        typed: bool,
    },
    /// Check the PIN of `oid`; answer with AuthSucceeded, PinRejected or AuthFailed.
    VerifyPin {
        attempt: u64,
        oid: String,
        pin: SecretString,
    },
    /// Start a device-code sign-in; answer with DeviceCodeReady, then AuthSucceeded or
    /// AuthFailed. With `link_card`, bind that card to the user who signs in.
    StartDeviceCode {
        attempt: u64,
        link_card: Option<SecretString>,
    },
    /// Stop polling for `attempt` at once.
    CancelDeviceCode {
        attempt: u64,
    },
    /// Store `pin` as the PIN of `oid`; answer with PinSaved.
    SavePin {
        oid: String,
        pin: SecretString,
    },
    StartWorkflow {
        oid: String,
        workflow_id: String,
    },
    /// Something the settings sheet needs done.
    Sheet(SheetEffect),
    CancelScan,
    /// Drop the session: wipe the in-memory access token of `oid`.
    EndSession {
        oid: String,
        reason: SignOutReason,
    },
    /// Load `oid`'s jobs of the last days; answer with MyScansLoaded.
    LoadMyScans {
        oid: String,
    },
    /// Put `oid`'s failed job `id` back in the queue; answer with MyScansLoaded.
    RetryMyScan {
        oid: String,
        id: String,
    },
    /// Check the service PIN (and its lockout); answer with ServicePinChecked.
    VerifyServicePin {
        attempt: u64,
        pin: SecretString,
    },
    /// Something the service menu needs done, on behalf of `operator` (for the audit).
    Service {
        operator: Operator,
        effect: ServiceEffect,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Notice {
    pub(crate) text: Msg,
    pub(crate) is_error: bool,
    until: Instant,
}

/// The session state machine.
pub struct Kiosk {
    pub(crate) settings: KioskSettings,
    pub(crate) screen: Screen,
    pub(crate) session: Option<SessionUser>,
    /// Digits on the PIN pad (badge number or PIN): wiped from memory when dropped.
    pub(crate) digits: Zeroizing<String>,
    pub(crate) notice: Option<Notice>,
    pub(crate) last_activity: Instant,
    /// The unknown card just tapped, kept so a Microsoft sign-in can bind it.
    pending_card: Option<SecretString>,
    /// First entry of a new PIN, until it is confirmed.
    first_pin: Option<SecretString>,
    pub(crate) attempt: u64,
    /// The open service menu (screen [`Screen::Service`]).
    pub(crate) service: Option<ServiceMenu>,
    /// The language picked on the idle page for this walk-up.
    pub(crate) chosen_language: Option<Language>,
}

impl Kiosk {
    pub fn new(settings: KioskSettings, now: Instant) -> Self {
        Kiosk {
            settings,
            screen: Screen::Idle,
            session: None,
            digits: Zeroizing::new(String::new()),
            notice: None,
            last_activity: now,
            pending_card: None,
            first_pin: None,
            attempt: 0,
            service: None,
            chosen_language: None,
        }
    }

    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    pub fn session(&self) -> Option<&SessionUser> {
        self.session.as_ref()
    }

    pub fn settings(&self) -> &KioskSettings {
        &self.settings
    }

    /// The language the panel speaks now: the walk-up's pick on the idle page, else the
    /// signed-in user's own, else the panel default.
    pub fn language(&self) -> Language {
        self.chosen_language
            .or_else(|| self.session.as_ref().and_then(|u| u.language))
            .unwrap_or(self.settings.language)
    }

    /// The attempt number the next answer must carry to be accepted.
    pub fn current_attempt(&self) -> u64 {
        self.attempt
    }

    /// Moves the machine on `event` at time `now`, returning what the adapters must do.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        if let Some(n) = &self.notice {
            if now >= n.until {
                self.notice = None;
            }
        }
        match event {
            Event::Tick => self.on_tick(now),
            Event::Activity => {
                self.last_activity = now;
                Vec::new()
            }
            Event::CardUnreadable if self.screen == Screen::Service => {
                self.service_unreadable_card(now)
            }
            Event::CardUnreadable => self.on_unreadable_card(now),
            other if self.in_service_screens() => {
                self.last_activity = now;
                self.on_service_input(other, now)
            }
            other => {
                self.last_activity = now;
                self.on_input(other, now)
            }
        }
    }

    fn on_input(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        match (&self.screen, event) {
            // --- into the service menu ------------------------------------------------------
            (Screen::Home, Event::OpenService) => self.open_service_as_technician(now),
            (Screen::Home | Screen::MyScans { .. }, Event::OpenMyScans) => self.open_my_scans(),
            (Screen::MyScans { .. }, Event::MyScansLoaded { jobs, message }) => {
                self.screen = Screen::MyScans { jobs: Some(jobs) };
                if let Some((text, is_error)) = message {
                    self.notify(text, is_error, now);
                }
                Vec::new()
            }
            (Screen::MyScans { .. }, Event::RetryMyScan { id }) => self.retry_my_scan(id),
            (Screen::Idle, Event::ChooseLanguage(lang)) => {
                self.chosen_language = Some(lang);
                Vec::new()
            }
            (Screen::MyScans { .. }, Event::CloseMyScans) => {
                self.screen = Screen::Home;
                Vec::new()
            }
            (Screen::Idle, Event::ServiceLongPress) if self.settings.service_pin_enabled => {
                self.digits.clear();
                self.screen = Screen::ServicePin;
                Vec::new()
            }

            // --- card taps ---------------------------------------------------------------
            (
                Screen::Idle | Screen::EnterBadge | Screen::EnterPin { .. },
                Event::CardRead { card },
            ) => self.on_card_while_signed_out(card, now),
            (
                Screen::Home
                | Screen::SetPin { .. }
                | Screen::Result { .. }
                | Screen::MyScans { .. }
                | Screen::Uploading { .. },
                Event::CardRead { .. },
            ) => self.sign_out(SignOutReason::CardTap, now),
            // A tap while scanning or while a sign-in is in flight is ignored: acting on it would
            // abandon pages in the feeder or race the pending answer.
            (_, Event::CardRead { .. }) => Vec::new(),

            // --- PIN pad -----------------------------------------------------------------
            (Screen::Idle, Event::StartPin) if self.settings.login_mode.pin_pad_allowed() => {
                self.digits.clear();
                self.screen = Screen::EnterBadge;
                Vec::new()
            }
            (
                Screen::EnterBadge | Screen::EnterPin { .. } | Screen::SetPin { .. },
                Event::PinDigit(d),
            ) => {
                let max = self.pad_max_len();
                if d <= 9 && self.digits.len() < max {
                    self.digits.push(char::from(b'0' + d));
                }
                Vec::new()
            }
            (
                Screen::EnterBadge | Screen::EnterPin { .. } | Screen::SetPin { .. },
                Event::PinBackspace,
            ) => {
                self.digits.pop();
                Vec::new()
            }
            (Screen::EnterBadge | Screen::EnterPin { .. }, Event::PinCancel) => {
                self.digits.clear();
                self.pending_card = None;
                self.screen = Screen::Idle;
                Vec::new()
            }
            (Screen::SetPin { .. }, Event::PinCancel)
                if self.session.as_ref().is_some_and(|u| u.must_set_pin) =>
            {
                // No PIN, no session: the badge alone only opened the way to choosing one.
                self.sign_out(SignOutReason::Button, now)
            }
            (Screen::SetPin { .. }, Event::PinCancel) => {
                self.digits.clear();
                self.first_pin = None;
                self.screen = Screen::Home;
                Vec::new()
            }
            (Screen::SetPin { confirming }, Event::PinSubmit) => {
                let confirming = *confirming;
                self.submit_new_pin(confirming, now)
            }
            (Screen::Home, Event::StartSetPin) if self.can_set_pin() => {
                self.digits.clear();
                self.first_pin = None;
                self.screen = Screen::SetPin { confirming: false };
                Vec::new()
            }
            (Screen::SavingPin, Event::PinSaved { ok, message }) => {
                let still_must = match self.session.as_mut() {
                    Some(u) if ok => std::mem::take(&mut u.must_set_pin),
                    Some(u) => u.must_set_pin,
                    None => false,
                } && !ok;
                self.screen = if still_must {
                    Screen::SetPin { confirming: false }
                } else {
                    Screen::Home
                };
                self.notify(message, !ok, now);
                Vec::new()
            }
            (Screen::EnterBadge, Event::PinSubmit) => self.submit_badge(now),
            (Screen::EnterPin { .. }, Event::PinSubmit) => self.submit_pin(now),

            // --- Microsoft device code ---------------------------------------------------
            (Screen::Idle, Event::StartMicrosoft) if self.settings.microsoft_enabled => {
                self.start_device_code(None, now)
            }
            (Screen::DeviceCode { link_card, .. }, Event::DeviceCodeReady { attempt, offer })
                if attempt == self.attempt =>
            {
                let link_card = *link_card;
                self.screen = Screen::DeviceCode {
                    offer: Some(offer),
                    shown_at: now,
                    link_card,
                };
                Vec::new()
            }
            (Screen::DeviceCode { .. }, Event::CancelDeviceCode) => {
                let attempt = self.attempt;
                self.attempt += 1;
                self.pending_card = None;
                self.screen = Screen::Idle;
                vec![Effect::CancelDeviceCode { attempt }]
            }

            // --- answers -----------------------------------------------------------------
            (
                Screen::Checking { .. } | Screen::DeviceCode { .. },
                Event::AuthSucceeded { attempt, user },
            ) if attempt == self.attempt => {
                let linked = matches!(
                    self.screen,
                    Screen::DeviceCode {
                        link_card: true,
                        ..
                    }
                );
                self.pending_card = None;
                let greeting = if linked {
                    Msg::new("Card linked. Welcome, {}").arg(&user.display_name)
                } else {
                    Msg::new("Welcome, {}").arg(&user.display_name)
                };
                let must_set_pin = user.must_set_pin;
                self.session = Some(user);
                self.screen = Screen::Home;
                self.notify(greeting, false, now);
                if must_set_pin {
                    self.digits.clear();
                    self.first_pin = None;
                    self.screen = Screen::SetPin { confirming: false };
                }
                Vec::new()
            }
            (
                Screen::Checking { .. },
                Event::NeedPin {
                    attempt,
                    oid,
                    display_name,
                },
            ) if attempt == self.attempt => {
                self.digits.clear();
                self.screen = Screen::EnterPin { oid, display_name };
                Vec::new()
            }
            (Screen::Checking { .. }, Event::CardUnknown { attempt })
                if attempt == self.attempt =>
            {
                match self.pending_card.take() {
                    Some(card) if self.settings.microsoft_enabled => {
                        self.start_device_code(Some(card), now)
                    }
                    _ => {
                        self.screen = Screen::Idle;
                        self.notify(Msg::new("This badge is not registered."), true, now);
                        Vec::new()
                    }
                }
            }
            (
                Screen::Checking {
                    pin_for: Some((oid, name)),
                },
                Event::PinRejected { attempt, message },
            ) if attempt == self.attempt => {
                self.screen = Screen::EnterPin {
                    oid: oid.clone(),
                    display_name: name.clone(),
                };
                self.notify(message, true, now);
                Vec::new()
            }
            (
                Screen::Checking { .. } | Screen::DeviceCode { .. },
                Event::AuthFailed { attempt, message } | Event::PinRejected { attempt, message },
            ) if attempt == self.attempt => {
                self.pending_card = None;
                self.screen = Screen::Idle;
                self.notify(message, true, now);
                Vec::new()
            }

            // --- signed in -----------------------------------------------------------------
            (_, Event::IdentityRevoked { oid })
                if self.session.as_ref().is_some_and(|s| s.oid == oid) =>
            {
                let scanning = matches!(self.screen, Screen::Scanning { .. });
                let mut effects = self.sign_out(SignOutReason::Revoked, now);
                if scanning {
                    effects.insert(0, Effect::CancelScan);
                }
                effects
            }
            (Screen::Home, Event::RunWorkflow { id }) => self.run_workflow(id, true, now),
            (_, Event::Sheet(event)) => self.on_sheet(event, now),
            (Screen::Home | Screen::Result { .. } | Screen::MyScans { .. }, Event::SignOut) => {
                self.sign_out(SignOutReason::Button, now)
            }
            (Screen::Scanning { workflow, .. }, Event::ScanProgress { pages }) => {
                let workflow = workflow.clone();
                self.screen = Screen::Scanning { workflow, pages };
                Vec::new()
            }
            (Screen::Scanning { .. }, Event::CancelScan) => vec![Effect::CancelScan],
            (Screen::Scanning { workflow, .. }, Event::ScanDone { bytes, .. }) => {
                let workflow = workflow.clone();
                self.screen = Screen::Uploading {
                    workflow,
                    sent: 0,
                    total: bytes,
                };
                Vec::new()
            }
            (Screen::Uploading { workflow, .. }, Event::UploadProgress { sent, total }) => {
                let workflow = workflow.clone();
                self.screen = Screen::Uploading {
                    workflow,
                    sent,
                    total,
                };
                Vec::new()
            }
            (
                Screen::Scanning { .. } | Screen::Uploading { .. },
                Event::JobFinished { ok, title, detail },
            ) => {
                self.screen = Screen::Result { ok, title, detail };
                Vec::new()
            }
            (Screen::Result { .. }, Event::ResultDone) => {
                self.screen = Screen::Home;
                Vec::new()
            }

            // Anything else (a stale answer, a button of a page no longer shown) changes nothing.
            _ => Vec::new(),
        }
    }

    fn on_card_while_signed_out(&mut self, card: SecretString, now: Instant) -> Vec<Effect> {
        if !self.settings.login_mode.cards_allowed() {
            self.screen = Screen::Idle;
            self.notify(CARDS_OFF, true, now);
            return Vec::new();
        }
        if card.expose_secret().is_empty() {
            return Vec::new();
        }
        self.digits.clear();
        self.attempt += 1;
        self.pending_card = Some(card.clone());
        self.screen = Screen::Checking { pin_for: None };
        vec![Effect::LookupCard {
            attempt: self.attempt,
            card,
            typed: false,
        }]
    }

    /// Signed out (idle, PIN pad), an unreadable badge gets a plain answer and counts as
    /// someone at the panel. Anywhere else it is ignored altogether, not even as activity: a
    /// stray card near the reader must neither end nor prolong a session, nor disturb a
    /// sign-in in flight.
    fn on_unreadable_card(&mut self, now: Instant) -> Vec<Effect> {
        if !matches!(
            self.screen,
            Screen::Idle | Screen::EnterBadge | Screen::EnterPin { .. }
        ) {
            return Vec::new();
        }
        self.last_activity = now;
        let text = if self.settings.login_mode.cards_allowed() {
            UNREADABLE_BADGE
        } else {
            // No badge works here; say that rather than blame this badge's type.
            CARDS_OFF
        };
        self.notify(text, true, now);
        Vec::new()
    }

    fn submit_badge(&mut self, now: Instant) -> Vec<Effect> {
        if self.digits.len() < MIN_TYPED_BADGE {
            self.notify(
                Msg::plural(
                    "Badge numbers have at least {n} digit.",
                    "Badge numbers have at least {n} digits.",
                    MIN_TYPED_BADGE as i64,
                ),
                true,
                now,
            );
            return Vec::new();
        }
        let card = SecretString::from(self.digits.as_str());
        self.digits.clear();
        self.attempt += 1;
        // A typed number is not proof of holding the card: no self-enrollment from it.
        self.pending_card = None;
        self.screen = Screen::Checking { pin_for: None };
        vec![Effect::LookupCard {
            attempt: self.attempt,
            card,
            typed: true,
        }]
    }

    fn submit_pin(&mut self, now: Instant) -> Vec<Effect> {
        let Screen::EnterPin { oid, display_name } = &self.screen else {
            return Vec::new();
        };
        if self.digits.len() < self.settings.pin_min_length {
            let min = self.settings.pin_min_length;
            self.notify(
                Msg::plural(
                    "Your PIN has at least {n} digit.",
                    "Your PIN has at least {n} digits.",
                    min as i64,
                ),
                true,
                now,
            );
            return Vec::new();
        }
        let pin = SecretString::from(self.digits.as_str());
        self.digits.clear();
        self.attempt += 1;
        let oid = oid.clone();
        self.screen = Screen::Checking {
            pin_for: Some((oid.clone(), display_name.clone())),
        };
        vec![Effect::VerifyPin {
            attempt: self.attempt,
            oid,
            pin,
        }]
    }

    /// Only a session opened by a Microsoft sign-in may choose a PIN: a found badge alone must
    /// not be enough to set the second factor.
    pub fn can_set_pin(&self) -> bool {
        self.settings.login_mode != LoginMode::Card
            && self
                .session
                .as_ref()
                .is_some_and(|u| u.method == AuthMethod::Microsoft)
    }

    fn submit_new_pin(&mut self, confirming: bool, now: Instant) -> Vec<Effect> {
        let entered = SecretString::from(self.digits.as_str());
        self.digits.clear();
        if !confirming {
            let policy = PinPolicy {
                min_length: self.settings.pin_min_length,
                max_length: self.settings.pin_max_length,
            };
            if let Err(e) = policy.check(&entered) {
                self.notify(e.panel_msg(), true, now);
                return Vec::new();
            }
            self.first_pin = Some(entered);
            self.screen = Screen::SetPin { confirming: true };
            return Vec::new();
        }
        let matches = self
            .first_pin
            .take()
            .is_some_and(|first| first.expose_secret() == entered.expose_secret());
        if !matches {
            self.screen = Screen::SetPin { confirming: false };
            self.notify(
                Msg::new("The two PINs did not match. Please start again."),
                true,
                now,
            );
            return Vec::new();
        }
        let Some(user) = &self.session else {
            return Vec::new();
        };
        let oid = user.oid.clone();
        self.screen = Screen::SavingPin;
        vec![Effect::SavePin { oid, pin: entered }]
    }

    fn start_device_code(&mut self, link_card: Option<SecretString>, now: Instant) -> Vec<Effect> {
        self.attempt += 1;
        self.screen = Screen::DeviceCode {
            offer: None,
            shown_at: now,
            link_card: link_card.is_some(),
        };
        vec![Effect::StartDeviceCode {
            attempt: self.attempt,
            link_card,
        }]
    }

    fn on_tick(&mut self, now: Instant) -> Vec<Effect> {
        match &self.screen {
            Screen::Service => self.service_tick(now),
            Screen::Sheet(_) => self.sheet_tick(now),
            Screen::ServicePin if self.idle_for(now) >= self.settings.inactivity_timeout => {
                self.digits.clear();
                self.screen = Screen::Idle;
                Vec::new()
            }
            Screen::DeviceCode {
                offer: Some(offer),
                shown_at,
                ..
            } => {
                if now >= *shown_at + Duration::from_secs(offer.expires_in_secs) {
                    let attempt = self.attempt;
                    self.attempt += 1;
                    self.pending_card = None;
                    self.screen = Screen::Idle;
                    self.notify(
                        Msg::new("The sign-in code expired. Please start again."),
                        true,
                        now,
                    );
                    return vec![Effect::CancelDeviceCode { attempt }];
                }
                Vec::new()
            }
            // A job in progress keeps the session alive: the user is waiting at the panel.
            Screen::Scanning { .. } | Screen::Uploading { .. } => {
                self.last_activity = now;
                Vec::new()
            }
            Screen::Home
            | Screen::SetPin { .. }
            | Screen::Result { .. }
            | Screen::MyScans { .. }
                if self.idle_for(now) >= self.settings.inactivity_timeout =>
            {
                self.sign_out(SignOutReason::Inactivity, now)
            }
            // A walk-up who picked a language and left: the next one gets the default.
            Screen::Idle
                if self.chosen_language.is_some()
                    && self.idle_for(now) >= self.settings.inactivity_timeout =>
            {
                self.chosen_language = None;
                Vec::new()
            }
            // An abandoned PIN pad goes back to idle after the same timeout.
            Screen::EnterBadge | Screen::EnterPin { .. }
                if self.idle_for(now) >= self.settings.inactivity_timeout =>
            {
                self.digits.clear();
                self.screen = Screen::Idle;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    pub(crate) fn sign_out(&mut self, reason: SignOutReason, now: Instant) -> Vec<Effect> {
        self.service = None;
        self.digits.clear();
        self.first_pin = None;
        self.screen = Screen::Idle;
        let (text, is_error) = match reason {
            SignOutReason::Inactivity => (Msg::new("Signed out after inactivity."), false),
            SignOutReason::Button | SignOutReason::CardTap => {
                (Msg::new("Signed out. See you soon."), false)
            }
            SignOutReason::Revoked => (
                Msg::new("Signed out: this account no longer has access to this printer."),
                true,
            ),
        };
        self.notify(text, is_error, now);
        // The walk-up's language choice ends with the walk-up.
        self.chosen_language = None;
        match self.session.take() {
            Some(user) => vec![Effect::EndSession {
                oid: user.oid,
                reason,
            }],
            None => Vec::new(),
        }
    }

    pub(crate) fn idle_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_activity)
    }

    /// Whole seconds left before the inactivity sign-out, when within the countdown window.
    pub fn countdown_secs(&self, now: Instant) -> Option<u64> {
        if !matches!(
            self.screen,
            Screen::Home
                | Screen::SetPin { .. }
                | Screen::Result { .. }
                | Screen::MyScans { .. }
                | Screen::Sheet(_)
        ) {
            return None;
        }
        let left = self
            .settings
            .inactivity_timeout
            .saturating_sub(self.idle_for(now));
        if left.is_zero() || left > self.settings.countdown {
            return None;
        }
        Some(left.as_millis().div_ceil(1000) as u64)
    }

    fn pad_max_len(&self) -> usize {
        match self.screen {
            Screen::ServicePin => MAX_SERVICE_PIN,
            Screen::EnterPin { .. } | Screen::SetPin { .. } => self.settings.pin_max_length,
            _ => MAX_TYPED_BADGE,
        }
    }

    pub(crate) fn notify(&mut self, text: Msg, is_error: bool, now: Instant) {
        self.notice = Some(Notice {
            text,
            is_error,
            until: now + NOTICE_TTL,
        });
    }
}

#[cfg(test)]
mod tests;
