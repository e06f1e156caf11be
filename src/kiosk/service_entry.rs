//! How the kiosk session hands the panel to the service menu and takes it back: who may enter
//! (a signed-in technician, or the service PIN typed after the long press on the panel name),
//! routing of events and badge reads while it is open, its own timeout, and where leaving it
//! goes (home for a technician, idle for the service PIN). The menu itself is
//! [`crate::service_menu`].

use std::time::Instant;

use secrecy::SecretString;

use super::machine::{Effect, Event, Kiosk, Screen, SignOutReason, MAX_SERVICE_PIN};
use crate::service_menu::{Operator, ServiceEffect, ServiceMenu};

/// Shortest service PIN accepted from the pad.
const MIN_SERVICE_PIN: usize = 4;

impl Kiosk {
    /// The open service menu, if any.
    pub fn service_menu(&self) -> Option<&ServiceMenu> {
        self.service.as_ref()
    }

    /// Whether the home page offers "Service": the signed-in user holds the technician role.
    /// The role comes from the session, which was opened either online (roles as Entra issued
    /// them just now) or offline within the grace (roles as last confirmed): a technician
    /// whose identity is past the grace never gets a session, so never gets here.
    pub fn can_service(&self) -> bool {
        self.screen == Screen::Home && self.session.as_ref().is_some_and(|u| u.is_technician)
    }

    pub(crate) fn in_service_screens(&self) -> bool {
        matches!(
            self.screen,
            Screen::Service | Screen::ServicePin | Screen::CheckingServicePin
        )
    }

    pub(crate) fn open_service_as_technician(&mut self, now: Instant) -> Vec<Effect> {
        let Some(user) = self.session.as_ref().filter(|u| u.is_technician) else {
            return Vec::new();
        };
        let operator = Operator::Technician {
            oid: user.oid.clone(),
            name: user.display_name.clone(),
        };
        self.enter_service(operator, now)
    }

    fn enter_service(&mut self, operator: Operator, now: Instant) -> Vec<Effect> {
        let (menu, effect) =
            ServiceMenu::open(operator.clone(), self.settings.service_timeout, now);
        self.service = Some(menu);
        self.screen = Screen::Service;
        vec![Effect::Service { operator, effect }]
    }

    /// Every event while the service PIN pad or the service menu shows.
    pub(crate) fn on_service_input(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        match (&self.screen, event) {
            // A technician disabled in Entra while in the menu is out at once.
            (_, Event::IdentityRevoked { oid })
                if self.session.as_ref().is_some_and(|s| s.oid == oid) =>
            {
                self.leave_service("revoked", now);
                self.sign_out(SignOutReason::Revoked, now)
            }
            (Screen::ServicePin, Event::PinDigit(d)) => {
                if d <= 9 && self.digits.len() < MAX_SERVICE_PIN {
                    self.digits.push(char::from(b'0' + d));
                }
                Vec::new()
            }
            (Screen::ServicePin, Event::PinBackspace) => {
                self.digits.pop();
                Vec::new()
            }
            (Screen::ServicePin, Event::PinCancel) => {
                self.digits.clear();
                self.screen = Screen::Idle;
                Vec::new()
            }
            (Screen::ServicePin, Event::PinSubmit) => {
                if self.digits.len() < MIN_SERVICE_PIN {
                    self.notify(
                        crate::i18n::Msg::plural(
                            "The service PIN has at least {n} digit.",
                            "The service PIN has at least {n} digits.",
                            MIN_SERVICE_PIN as i64,
                        ),
                        true,
                        now,
                    );
                    return Vec::new();
                }
                let pin = SecretString::from(self.digits.as_str());
                self.digits.clear();
                self.attempt += 1;
                self.screen = Screen::CheckingServicePin;
                vec![Effect::VerifyServicePin {
                    attempt: self.attempt,
                    pin,
                }]
            }
            (
                Screen::CheckingServicePin,
                Event::ServicePinChecked {
                    attempt,
                    ok,
                    message,
                },
            ) if attempt == self.attempt => {
                if ok {
                    self.notice = None;
                    self.enter_service(Operator::ServicePin, now)
                } else {
                    self.screen = Screen::ServicePin;
                    self.notify(message, true, now);
                    Vec::new()
                }
            }
            (Screen::Service, Event::ExitService) => {
                let effects = self.leave_service("exit", now);
                self.screen = self.after_service();
                effects
            }
            (Screen::Service, Event::Service(e)) => self.service_effects(|m| m.handle(e, now)),
            (Screen::Service, Event::CardRead { card }) => {
                self.service_effects(|m| m.on_card(card, now))
            }
            // Sign-in answers, sign-out buttons, workflow runs: not while servicing.
            _ => Vec::new(),
        }
    }

    pub(crate) fn service_unreadable_card(&mut self, now: Instant) -> Vec<Effect> {
        self.service_effects(|m| m.on_unreadable_card(now))
    }

    /// While the menu is open the session's own inactivity clock stands still; the menu's
    /// runs instead. A technician who walked away is signed out with it, so the panel does not
    /// stay on their home page; a service-PIN visit just ends.
    pub(crate) fn service_tick(&mut self, now: Instant) -> Vec<Effect> {
        self.last_activity = now;
        let timed_out = self.service.as_ref().is_none_or(|m| m.timed_out(now));
        if !timed_out {
            return Vec::new();
        }
        let mut effects = self.leave_service("inactivity", now);
        if self.session.is_some() {
            effects.extend(self.sign_out(SignOutReason::Inactivity, now));
        } else {
            self.screen = Screen::Idle;
            self.notify(
                crate::i18n::Msg::new("Service menu closed after inactivity."),
                false,
                now,
            );
        }
        effects
    }

    /// Drops the menu and records why it was left.
    fn leave_service(&mut self, why: &str, _now: Instant) -> Vec<Effect> {
        match self.service.take() {
            Some(menu) => vec![Effect::Service {
                operator: menu.operator().clone(),
                effect: menu.close(why),
            }],
            None => Vec::new(),
        }
    }

    fn after_service(&self) -> Screen {
        if self.session.is_some() {
            Screen::Home
        } else {
            Screen::Idle
        }
    }

    fn service_effects(
        &mut self,
        run: impl FnOnce(&mut ServiceMenu) -> Vec<ServiceEffect>,
    ) -> Vec<Effect> {
        let Some(menu) = self.service.as_mut() else {
            return Vec::new();
        };
        let operator = menu.operator().clone();
        run(menu)
            .into_iter()
            .map(|effect| Effect::Service {
                operator: operator.clone(),
                effect,
            })
            .collect()
    }
}
