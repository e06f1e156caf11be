//! The controller: one task that owns the [`Kiosk`] machine, feeds it events from the UI,
//! readers, timers and finished I/O, and carries out the effects it returns.
//!
//! Effects that take time (network, SQLite, argon2, scanning) run as their own tasks and send
//! their answer back into the same channel, so the machine is only ever touched here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::services::Services;
use super::{jobs, service_ops, signin};
use crate::kiosk::{Effect, Event, Kiosk, Screen, SheetEffect, View};
use crate::service_menu::{ServiceEffect, ServiceEvent};

/// How long the user waits at the panel for an upload to start before being told the scan is
/// queued (the network's connect timeout is 10 s; a working network starts well within this).
const UPLOAD_START_GRACE: Duration = Duration::from_secs(6);

/// How often the clock ticks into the machine (countdowns show whole seconds).
const TICK: Duration = Duration::from_millis(250);

/// What the controller can be told from outside: machine events, plus demo controls.
#[derive(Debug)]
pub enum Input {
    Event(Event),
    /// Demo only: the simulated Entra approves the pending device code.
    DemoApprove,
    /// Stop the controller (shutdown).
    Quit,
}

/// A cloneable handle to send input to a running controller.
#[derive(Clone)]
pub struct ControllerHandle {
    tx: mpsc::UnboundedSender<Input>,
}

impl ControllerHandle {
    pub fn send(&self, input: Input) {
        // A closed channel means the controller is shutting down: nothing left to do with input.
        let _ = self.tx.send(input);
    }

    pub fn event(&self, event: Event) {
        self.send(Input::Event(event));
    }

    /// A handle whose input lands in the returned receiver instead of a controller: for tests
    /// of the adapters that feed one (UI bridge, readers).
    pub fn detached() -> (ControllerHandle, mpsc::UnboundedReceiver<Input>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ControllerHandle { tx }, rx)
    }
}

/// Where views go: the Slint adapter on the panel, a recorder in tests.
pub type ViewSink = Box<dyn Fn(&View) + Send>;

pub struct Controller {
    kiosk: Kiosk,
    services: Arc<Services>,
    tx: mpsc::UnboundedSender<Input>,
    rx: mpsc::UnboundedReceiver<Input>,
    sink: ViewSink,
    /// Access tokens of open sessions, in memory only; dropped (and zeroized) at sign-out.
    sessions: signin::SessionTokens,
    device_code_tasks: HashMap<u64, JoinHandle<()>>,
    scan_cancel: Option<Arc<AtomicBool>>,
    /// Answers to "Another page?" for the running job; dropped (= no more pages) when the
    /// session ends.
    more_pages: Option<std::sync::mpsc::Sender<bool>>,
    last_view: Option<View>,
}

impl Controller {
    pub fn new(services: Arc<Services>, sink: ViewSink) -> (Self, ControllerHandle) {
        let (tx, rx) = mpsc::unbounded_channel();
        let kiosk = Kiosk::new(services.kiosk_settings(), Instant::now());
        let handle = ControllerHandle { tx: tx.clone() };
        let controller = Controller {
            kiosk,
            services,
            tx,
            rx,
            sink,
            sessions: signin::SessionTokens::default(),
            device_code_tasks: HashMap::new(),
            scan_cancel: None,
            more_pages: None,
            last_view: None,
        };
        (controller, handle)
    }

    /// The session token map, shared with the outbox worker.
    pub fn sessions(&self) -> signin::SessionTokens {
        self.sessions.clone()
    }

    /// Runs until [`Input::Quit`] or until every handle is dropped.
    pub async fn run(mut self) {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.push_view();
        loop {
            let input = tokio::select! {
                _ = ticker.tick() => Input::Event(Event::Tick),
                input = self.rx.recv() => match input {
                    Some(input) => input,
                    None => break,
                },
            };
            match input {
                Input::Quit => break,
                Input::DemoApprove => {
                    if let Screen::DeviceCode {
                        offer: Some(offer), ..
                    } = self.kiosk.screen()
                    {
                        self.services.demo_approve(&offer.user_code);
                    }
                }
                Input::Event(event) => self.step(event),
            }
        }
        for (_, task) in self.device_code_tasks.drain() {
            task.abort();
        }
    }

    fn step(&mut self, event: Event) {
        let was_signed_in = self.kiosk.session().is_some();
        let effects = self.kiosk.handle(event, Instant::now());
        if let (false, Some(user)) = (was_signed_in, self.kiosk.session()) {
            // Names no secret: the method and the oid are what support asks for.
            tracing::info!(oid = %user.oid, method = ?user.method, "signed in");
        }
        for effect in effects {
            self.execute(effect);
        }
        self.push_view();
    }

    fn push_view(&mut self) {
        let view = self.kiosk.view(Instant::now());
        if self.last_view.as_ref() != Some(&view) {
            (self.sink)(&view);
            self.last_view = Some(view);
        }
    }

    fn answer(&self) -> Answer {
        Answer {
            tx: self.tx.clone(),
        }
    }

    fn execute(&mut self, effect: Effect) {
        let services = self.services.clone();
        let answer = self.answer();
        match effect {
            Effect::LookupCard {
                attempt,
                card,
                typed,
            } => {
                let sessions = self.sessions.clone();
                tokio::spawn(async move {
                    let event =
                        signin::lookup_card(&services, &sessions, attempt, card, typed).await;
                    answer.event(event);
                });
            }
            Effect::VerifyPin { attempt, oid, pin } => {
                let sessions = self.sessions.clone();
                tokio::spawn(async move {
                    let event = signin::verify_pin(&services, &sessions, attempt, oid, pin).await;
                    answer.event(event);
                });
            }
            Effect::StartDeviceCode { attempt, link_card } => {
                let sessions = self.sessions.clone();
                let task = tokio::spawn(async move {
                    signin::device_code(&services, &sessions, attempt, link_card, &answer).await;
                });
                self.device_code_tasks.retain(|_, t| !t.is_finished());
                self.device_code_tasks.insert(attempt, task);
            }
            Effect::CancelDeviceCode { attempt } => {
                if let Some(task) = self.device_code_tasks.remove(&attempt) {
                    task.abort();
                    tracing::info!(attempt, "device-code sign-in cancelled");
                }
            }
            Effect::SavePin { oid, pin } => {
                tokio::spawn(async move {
                    let saved =
                        tokio::task::spawn_blocking(move || services.save_pin(&oid, &pin)).await;
                    let event = match saved {
                        Ok(Ok(())) => Event::PinSaved {
                            ok: true,
                            message: crate::i18n::Msg::new("Your PIN is set."),
                        },
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "saving a PIN failed");
                            Event::PinSaved {
                                ok: false,
                                message: e.panel_message(),
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "the PIN-saving task failed");
                            Event::PinSaved {
                                ok: false,
                                message: crate::i18n::Msg::new(
                                    "Something went wrong. Please try again or ask IT for help.",
                                ),
                            }
                        }
                    };
                    answer.event(event);
                });
            }
            Effect::StartWorkflow { oid, workflow_id } => {
                self.start_job(oid, workflow_id, None);
            }
            Effect::Sheet(SheetEffect::Start {
                oid,
                workflow_id,
                settings,
            }) => self.start_job(oid, workflow_id, Some(settings)),
            Effect::Sheet(SheetEffect::Prepare { oid, workflow_id }) => {
                tokio::spawn(async move {
                    let ready = tokio::task::spawn_blocking(move || {
                        super::scan_sheet::prepare(&services, &oid, &workflow_id)
                    })
                    .await;
                    // Nothing to show (workflow or user gone): back home rather than wait.
                    let event = match ready {
                        Ok(Some(event)) => event,
                        _ => crate::kiosk::SheetEvent::Cancel,
                    };
                    answer.event(Event::Sheet(event));
                });
            }
            Effect::Sheet(SheetEffect::MorePages(more)) => {
                if let Some(tx) = &self.more_pages {
                    let _ = tx.send(more);
                }
            }
            Effect::CancelScan => {
                if let Some(cancel) = &self.scan_cancel {
                    cancel.store(true, Ordering::SeqCst);
                }
            }
            Effect::LoadMyScans { oid } => {
                tokio::spawn(async move {
                    let event = tokio::task::spawn_blocking(move || {
                        super::my_scans::load(&services, &oid, None)
                    })
                    .await;
                    if let Ok(event) = event {
                        answer.event(event);
                    }
                });
            }
            Effect::RetryMyScan { oid, id } => {
                tokio::spawn(async move {
                    let event = tokio::task::spawn_blocking(move || {
                        super::my_scans::retry(&services, &oid, &id)
                    })
                    .await;
                    if let Ok(event) = event {
                        answer.event(event);
                    }
                });
            }
            Effect::VerifyServicePin { attempt, pin } => {
                tokio::spawn(async move {
                    let checked =
                        tokio::task::spawn_blocking(move || services.check_service_pin(&pin)).await;
                    let (ok, message) = match checked {
                        Ok(Ok(())) => (true, crate::i18n::Msg::default()),
                        Ok(Err(e)) => (false, e.panel_message()),
                        Err(e) => {
                            tracing::error!(error = %e, "the service-PIN check task failed");
                            (
                                false,
                                crate::i18n::Msg::new(
                                    "Something went wrong. Please try again or ask IT for help.",
                                ),
                            )
                        }
                    };
                    answer.event(Event::ServicePinChecked {
                        attempt,
                        ok,
                        message,
                    });
                });
            }
            Effect::Service { operator, effect } => {
                tokio::spawn(async move {
                    let event = match effect {
                        ServiceEffect::RunChecks => {
                            Some(service_ops::run_checks(services, operator).await)
                        }
                        ServiceEffect::SyncDirectory => {
                            let (event, revoked) =
                                service_ops::sync_directory(services, operator).await;
                            for oid in revoked {
                                answer.event(Event::IdentityRevoked { oid });
                            }
                            Some(event)
                        }
                        effect => tokio::task::spawn_blocking(move || {
                            service_ops::execute(&services, &operator, effect)
                        })
                        .await
                        .unwrap_or_else(|e| {
                            Some(ServiceEvent::ActionDone {
                                ok: false,
                                message: crate::i18n::Msg::new("That did not work: {}").arg(e),
                            })
                        }),
                    };
                    if let Some(event) = event {
                        answer.event(Event::Service(event));
                    }
                });
            }
            Effect::EndSession { oid, reason } => {
                self.sessions.remove(&oid);
                self.more_pages = None;
                tokio::task::spawn_blocking(move || {
                    services.audit(&oid, "sign_out", &oid, &format!("{reason:?}"));
                });
            }
        }
    }
}

impl Controller {
    /// Runs a scan job: the workflow's defaults, or the sheet's `settings`.
    fn start_job(
        &mut self,
        oid: String,
        workflow_id: String,
        settings: Option<crate::kiosk::JobSettings>,
    ) {
        let (services, answer) = (self.services.clone(), self.answer());
        let cancel = Arc::new(AtomicBool::new(false));
        self.scan_cancel = Some(cancel.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        self.more_pages = Some(tx);
        let plan = super::scan_sheet::JobPlan {
            settings,
            answers: Some(rx),
            upload_start_grace: Some(UPLOAD_START_GRACE),
        };
        let sessions = self.sessions.clone();
        tokio::spawn(async move {
            jobs::run_workflow(
                &services,
                &sessions,
                &oid,
                &workflow_id,
                plan,
                cancel,
                &answer,
            )
            .await;
        });
    }
}

/// Sends answers of finished tasks back to the controller.
#[derive(Clone)]
pub struct Answer {
    tx: mpsc::UnboundedSender<Input>,
}

impl Answer {
    pub fn event(&self, event: Event) {
        let _ = self.tx.send(Input::Event(event));
    }
}
