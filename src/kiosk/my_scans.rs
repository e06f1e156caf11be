//! My scans: the signed-in user's own jobs of the last days, so a scan that is still queued
//! can be followed after the result page is gone, and a failed one retried.

use super::machine::{Effect, Kiosk, Screen};

impl Kiosk {
    pub(crate) fn open_my_scans(&mut self) -> Vec<Effect> {
        let Some(user) = &self.session else {
            return Vec::new();
        };
        let oid = user.oid.clone();
        // Reopening (the refresh button) keeps the list on screen while the new one loads.
        if !matches!(self.screen, Screen::MyScans { .. }) {
            self.screen = Screen::MyScans { jobs: None };
        }
        vec![Effect::LoadMyScans { oid }]
    }

    pub(crate) fn retry_my_scan(&mut self, id: String) -> Vec<Effect> {
        let Screen::MyScans { jobs: Some(jobs) } = &self.screen else {
            return Vec::new();
        };
        let Some(user) = &self.session else {
            return Vec::new();
        };
        // Only a job of this list, and only a failed one: the list is the user's own.
        if !jobs.iter().any(|j| j.id == id && j.failed) {
            return Vec::new();
        }
        vec![Effect::RetryMyScan {
            oid: user.oid.clone(),
            id,
        }]
    }
}
