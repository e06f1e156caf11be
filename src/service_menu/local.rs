//! The "Local accounts" page of the service menu: the list of local accounts (people without
//! an Entra account) with extend, disable/enable and delete, and the form creating one
//! (display name and optional e-mail typed on the on-screen keyboard, expiry, allowed
//! workflows). A created account goes straight to the badge enrollment page of the menu; its
//! PIN is chosen by the person at their first badge tap.

use super::machine::Pending;
use super::{ServiceEffect, UserRow};
use crate::i18n::Msg;

/// Longest name or e-mail typed on the form.
pub const MAX_FIELD: usize = 80;
/// Expiry choices on the form, in days from today; `None` never expires.
pub const EXPIRY_CHOICES: [Option<u32>; 5] = [Some(1), Some(7), Some(30), Some(90), None];

/// One local account, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRow {
    pub oid: String,
    pub name: String,
    pub email: String,
    /// `YYYY-MM-DD`, "" when it never expires.
    pub expires: String,
    pub expired: bool,
    pub disabled: bool,
    pub has_pin: bool,
    pub cards: usize,
}

/// A workflow the form offers (only `delivery = "app"` SharePoint ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalWorkflow {
    pub id: String,
    pub label: String,
}

/// Which form field the keyboard types into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Field {
    #[default]
    Name,
    Email,
}

/// The new-account form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub name: String,
    pub email: String,
    pub focus: Field,
    pub shift: bool,
    pub expires_in_days: Option<u32>,
    /// Ids of the workflows ticked; none ticked allows every app workflow.
    pub workflows: Vec<String>,
    /// Waiting for the account to be created.
    pub saving: bool,
}

impl Default for Form {
    fn default() -> Self {
        Form {
            name: String::new(),
            email: String::new(),
            focus: Field::Name,
            // Capital first letter of the name.
            shift: true,
            expires_in_days: Some(7),
            workflows: Vec::new(),
            saving: false,
        }
    }
}

/// Where the page is.
#[derive(Debug, Clone)]
pub enum LocalPage {
    List {
        rows: Vec<LocalRow>,
        workflows: Vec<LocalWorkflow>,
    },
    New {
        form: Form,
        workflows: Vec<LocalWorkflow>,
    },
}

/// Touches on the page and the adapter's answers.
#[derive(Debug)]
pub enum LocalEvent {
    New,
    Focus(Field),
    Expiry(Option<u32>),
    ToggleWorkflow(String),
    Create,
    /// Add `days` to the account's expiry (from today when it has expired).
    Extend {
        oid: String,
        days: u32,
    },
    ToggleDisabled(String),
    Delete(String),
    EnrollBadge(String),
    // --- answers ---
    Loaded {
        rows: Vec<LocalRow>,
        workflows: Vec<LocalWorkflow>,
    },
    /// The account was created (then its badge is enrolled) or refused (`Err`: plain words).
    Created(Result<UserRow, String>),
}

/// What the adapter must do for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalEffect {
    Load,
    Create {
        name: String,
        email: Option<String>,
        expires_in_days: Option<u32>,
        workflows: Vec<String>,
    },
    Extend {
        oid: String,
        days: u32,
    },
    SetDisabled {
        oid: String,
        disabled: bool,
    },
    Delete {
        oid: String,
    },
}

/// What a local event asks of the menu.
pub(crate) enum Outcome {
    Effects(Vec<ServiceEffect>),
    /// Ask first (delete).
    Confirm(Pending),
    /// Enroll a badge for this user: the menu's own enrollment page.
    Enroll(UserRow),
    Message(Msg, bool),
}

fn effect(e: LocalEffect) -> Vec<ServiceEffect> {
    vec![ServiceEffect::Local(e)]
}

impl LocalPage {
    pub(crate) fn open() -> (LocalPage, Vec<ServiceEffect>) {
        (
            LocalPage::List {
                rows: Vec::new(),
                workflows: Vec::new(),
            },
            effect(LocalEffect::Load),
        )
    }

    /// Back from the form goes to the list; from the list, `false`: leave the page.
    pub(crate) fn back(&mut self) -> bool {
        match self {
            LocalPage::New { workflows, .. } => {
                *self = LocalPage::List {
                    rows: Vec::new(),
                    workflows: std::mem::take(workflows),
                };
                true
            }
            LocalPage::List { .. } => false,
        }
    }

    /// The list again after an action or the form.
    pub(crate) fn reload(&self) -> Vec<ServiceEffect> {
        match self {
            LocalPage::List { .. } => effect(LocalEffect::Load),
            LocalPage::New { .. } => Vec::new(),
        }
    }

    fn row(&self, oid: &str) -> Option<&LocalRow> {
        match self {
            LocalPage::List { rows, .. } => rows.iter().find(|r| r.oid == oid),
            LocalPage::New { .. } => None,
        }
    }

    pub(crate) fn handle(&mut self, event: LocalEvent) -> Outcome {
        match event {
            LocalEvent::Loaded {
                rows: new,
                workflows: w,
            } => {
                if let LocalPage::List { rows, workflows } = self {
                    *rows = new;
                    *workflows = w;
                }
                Outcome::Effects(Vec::new())
            }
            LocalEvent::New => {
                if let LocalPage::List { workflows, .. } = self {
                    if workflows.is_empty() {
                        return Outcome::Message(
                            Msg::new("No workflow delivers with the panel's own identity: an administrator must add one (delivery = \"app\") first."),
                            true,
                        );
                    }
                    *self = LocalPage::New {
                        form: Form::default(),
                        workflows: std::mem::take(workflows),
                    };
                }
                Outcome::Effects(Vec::new())
            }
            LocalEvent::Focus(field) => {
                if let LocalPage::New { form, .. } = self {
                    form.focus = field;
                    form.shift = field == Field::Name && form.name.is_empty();
                }
                Outcome::Effects(Vec::new())
            }
            LocalEvent::Expiry(days) => {
                if let LocalPage::New { form, .. } = self {
                    if EXPIRY_CHOICES.contains(&days) {
                        form.expires_in_days = days;
                    }
                }
                Outcome::Effects(Vec::new())
            }
            LocalEvent::ToggleWorkflow(id) => {
                if let LocalPage::New { form, workflows } = self {
                    if let Some(i) = form.workflows.iter().position(|w| *w == id) {
                        form.workflows.remove(i);
                    } else if workflows.iter().any(|w| w.id == id) {
                        form.workflows.push(id);
                    }
                }
                Outcome::Effects(Vec::new())
            }
            LocalEvent::Create => match self {
                LocalPage::New { form, .. } if !form.saving => {
                    if form.name.trim().is_empty() {
                        return Outcome::Message(Msg::new("Type the person's name first."), true);
                    }
                    form.saving = true;
                    let email = form.email.trim();
                    Outcome::Effects(effect(LocalEffect::Create {
                        name: form.name.trim().to_string(),
                        email: (!email.is_empty()).then(|| email.to_string()),
                        expires_in_days: form.expires_in_days,
                        workflows: form.workflows.clone(),
                    }))
                }
                _ => Outcome::Effects(Vec::new()),
            },
            LocalEvent::Created(Ok(user)) => match self {
                LocalPage::New { form, .. } if form.saving => Outcome::Enroll(user),
                _ => Outcome::Effects(Vec::new()),
            },
            LocalEvent::Created(Err(message)) => {
                if let LocalPage::New { form, .. } = self {
                    form.saving = false;
                }
                Outcome::Message(Msg::data(message), true)
            }
            LocalEvent::Extend { oid, days } => match self.row(&oid) {
                Some(_) if (1..=366).contains(&days) => {
                    Outcome::Effects(effect(LocalEffect::Extend { oid, days }))
                }
                _ => Outcome::Effects(Vec::new()),
            },
            LocalEvent::ToggleDisabled(oid) => match self.row(&oid) {
                Some(r) => Outcome::Effects(effect(LocalEffect::SetDisabled {
                    disabled: !r.disabled,
                    oid,
                })),
                None => Outcome::Effects(Vec::new()),
            },
            LocalEvent::Delete(oid) => match self.row(&oid) {
                Some(r) => Outcome::Confirm(Pending::new(
                    Msg::new("Delete the local account of {} with its badges and PIN?")
                        .arg(&r.name),
                    ServiceEffect::Local(LocalEffect::Delete { oid }),
                )),
                None => Outcome::Effects(Vec::new()),
            },
            LocalEvent::EnrollBadge(oid) => match self.row(&oid) {
                Some(r) => Outcome::Enroll(UserRow {
                    oid: r.oid.clone(),
                    name: r.name.clone(),
                    upn: r.email.clone(),
                    revoked: false,
                }),
                None => Outcome::Effects(Vec::new()),
            },
        }
    }

    /// A key of the on-screen keyboard, into the focused field of the form.
    pub(crate) fn type_key(&mut self, c: char) {
        if let LocalPage::New { form, .. } = self {
            let shift = form.shift;
            let field = match form.focus {
                Field::Name => &mut form.name,
                Field::Email => &mut form.email,
            };
            if field.chars().count() < MAX_FIELD {
                field.push(if shift { c.to_ascii_uppercase() } else { c });
            }
            // Capitals after a space in a name, as phone keyboards do.
            form.shift = form.focus == Field::Name && c == ' ';
        }
    }

    pub(crate) fn backspace(&mut self) {
        if let LocalPage::New { form, .. } = self {
            match form.focus {
                Field::Name => form.name.pop(),
                Field::Email => form.email.pop(),
            };
        }
    }

    pub(crate) fn toggle_shift(&mut self) {
        if let LocalPage::New { form, .. } = self {
            form.shift = !form.shift;
        }
    }
}
