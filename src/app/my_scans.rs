//! My scans: the signed-in user's jobs of the last [`DAYS`] days in plain words, and the
//! retry of one of their own failed jobs (audited with the user as actor).

use chrono::{Local, Utc};

use super::services::{destination_name, Services};
use crate::i18n::Msg;
use crate::kiosk::{Event, MyScan};
use crate::store::{JobRecord, JobState};

/// How far back My scans looks.
pub const DAYS: i64 = 7;
/// Most jobs listed.
const MAX_JOBS: usize = 50;

/// The state of a job as the walk-up user reads it.
pub fn state_words(j: &JobRecord) -> Msg {
    match j.state {
        JobState::Done => Msg::new("Sent"),
        JobState::Uploading => Msg::new("Sending now"),
        // A retry time is set only after an attempt that could not get through.
        JobState::Queued if j.next_attempt_at.is_some() => {
            Msg::new("Waiting for the network, will be sent automatically")
        }
        JobState::Queued => Msg::new("Waiting to be sent"),
        JobState::Failed => match &j.last_error {
            Some(e) => Msg::new("Failed: {}").text(crate::workflow::cause::failure_cause(e)),
            None => Msg::new("Failed"),
        },
    }
}

fn row(services: &Services, j: &JobRecord) -> MyScan {
    let workflow = services
        .config
        .workflows
        .iter()
        .find(|w| w.id == j.workflow_id);
    let place = workflow
        .map(|w| destination_name(w.destination).to_string())
        .unwrap_or_else(|| j.workflow_id.clone());
    MyScan {
        id: j.id.to_string(),
        name: j.file_name.clone(),
        destination: if j.folder.is_empty() {
            place
        } else {
            format!("{place} · {}", j.folder)
        },
        state: state_words(j),
        sent: j.state == JobState::Done,
        when: j
            .created_at
            .with_timezone(&Local)
            // Numbers only: a weekday name would be English in every language.
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        failed: j.state == JobState::Failed,
    }
}

/// The list for `oid`, with `message` to show beside it.
pub fn load(services: &Services, oid: &str, message: Option<(Msg, bool)>) -> Event {
    let since = Utc::now() - chrono::Duration::days(DAYS);
    match services.store.jobs_of_user(oid, since, MAX_JOBS) {
        Ok(jobs) => Event::MyScansLoaded {
            jobs: jobs.iter().map(|j| row(services, j)).collect(),
            message,
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot list a user's jobs");
            Event::MyScansLoaded {
                jobs: Vec::new(),
                message: Some((Msg::new("Your scans cannot be listed right now."), true)),
            }
        }
    }
}

/// Retries `id` if it is `oid`'s own failed job, then lists again.
pub fn retry(services: &Services, oid: &str, id: &str) -> Event {
    let outcome = crate::admin::outbox::parse_id(id).and_then(|uuid| {
        match services.store.job(uuid)? {
            Some(j) if j.user_oid == oid => {
                crate::admin::outbox::retry(&services.store, uuid, oid, services.now())
            }
            // Someone else's job (or none): the same answer, revealing nothing.
            _ => Err(crate::admin::outbox::OutboxAdminError::Unknown(uuid)),
        }
    });
    let message = match outcome {
        Ok(()) => (Msg::new("Queued again: it will be sent shortly."), false),
        Err(e) => {
            tracing::info!(error = %e, "retry from My scans refused");
            (Msg::new("That scan cannot be retried."), true)
        }
    };
    load(services, oid, Some(message))
}
