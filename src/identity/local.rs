//! Rules for local accounts and for tenants without device-code sign-in: who may sign in
//! (expiry judged offline by the panel clock, disabled accounts) and which workflows a person
//! sees. Pure: the callers bring the account and the clock.

use chrono::NaiveDate;

use super::LoginMethod;
use crate::config::{Delivery, Destination, WorkflowConfig};

/// Why a local account may not sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LocalRefusal {
    #[error("the account was disabled")]
    Disabled,
    #[error("the account expired after {0}")]
    Expired(NaiveDate),
}

/// Whether a local account may sign in on `today` (the panel's date, UTC). The expiry day
/// itself is still valid.
pub fn may_sign_in(
    expires_on: Option<NaiveDate>,
    disabled: bool,
    today: NaiveDate,
) -> Result<(), LocalRefusal> {
    if disabled {
        return Err(LocalRefusal::Disabled);
    }
    match expires_on {
        Some(last) if today > last => Err(LocalRefusal::Expired(last)),
        _ => Ok(()),
    }
}

/// Who is asking for the workflow list.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub method: LoginMethod,
    /// A local account's allowed workflow ids; empty allows every app workflow.
    pub local_workflows: &'a [String],
    /// `entra.device_code`: when false nobody holds a delegated token.
    pub device_code: bool,
}

/// Whether `w` is offered to `viewer` (on top of the workflow's `allowed_roles`). People
/// without a delegated token only get workflows the panel delivers itself; a local user has
/// no OneDrive, so only SharePoint ones.
pub fn offers(w: &WorkflowConfig, viewer: Viewer<'_>) -> bool {
    match viewer.method {
        LoginMethod::Local => {
            w.delivery == Delivery::App
                && w.destination == Destination::Sharepoint
                && (viewer.local_workflows.is_empty()
                    || viewer.local_workflows.iter().any(|id| id == &w.id))
        }
        LoginMethod::Entra => viewer.device_code || w.delivery == Delivery::App,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn expiry_day_is_the_last_valid_one() {
        let last = Some(day("2026-12-01"));
        assert_eq!(may_sign_in(last, false, day("2026-12-01")), Ok(()));
        assert_eq!(
            may_sign_in(last, false, day("2026-12-02")),
            Err(LocalRefusal::Expired(day("2026-12-01")))
        );
        assert_eq!(may_sign_in(None, false, day("2099-01-01")), Ok(()));
        assert_eq!(
            may_sign_in(None, true, day("2026-01-01")),
            Err(LocalRefusal::Disabled)
        );
    }

    #[test]
    fn people_without_a_token_see_app_workflows_only() {
        let config = crate::config::Config::demo_default();
        let mut wf = config.workflows[0].clone();
        wf.destination = Destination::Sharepoint;
        let user_sp = wf.clone();
        let mut app_sp = wf.clone();
        app_sp.id = "visitors".into();
        app_sp.delivery = Delivery::App;
        let mut app_od = app_sp.clone();
        app_od.id = "own-drive".into();
        app_od.destination = Destination::Onedrive;
        let all = [&user_sp, &app_sp, &app_od];
        let shown = |v: Viewer<'_>| -> Vec<&str> {
            all.iter()
                .filter(|w| offers(w, v))
                .map(|w| w.id.as_str())
                .collect()
        };
        let local = Viewer {
            method: LoginMethod::Local,
            local_workflows: &[],
            device_code: true,
        };
        assert_eq!(shown(local), vec!["visitors"]);
        let only_other = ["other".to_string()];
        assert!(shown(Viewer {
            local_workflows: &only_other,
            ..local
        })
        .is_empty());
        let entra = Viewer {
            method: LoginMethod::Entra,
            local_workflows: &[],
            device_code: true,
        };
        assert_eq!(shown(entra).len(), 3);
        assert_eq!(
            shown(Viewer {
                device_code: false,
                ..entra
            }),
            vec!["visitors", "own-drive"]
        );
    }
}
