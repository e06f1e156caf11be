//! The panel-wide lockout rows, kept across crashes and restarts: `panel_lockout` (walk-up PIN
//! pad and badge taps) and `service_pin_lockout` (the service-PIN pad).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{col_ts_opt, ts, Store, StoreError};
use crate::auth::pin::PanelLockoutState;

/// Which panel-wide lockout row.
#[derive(Debug, Clone, Copy)]
enum Lockout {
    /// The PIN pad and badge taps of walk-up users.
    SignIn,
    /// The service-PIN pad.
    ServicePin,
}

impl Lockout {
    fn table(self) -> &'static str {
        match self {
            Lockout::SignIn => "panel_lockout",
            Lockout::ServicePin => "service_pin_lockout",
        }
    }
}

impl Store {
    /// The stored panel lockout; the default (no failures) when none was stored yet.
    pub fn panel_lockout(&self) -> Result<PanelLockoutState, StoreError> {
        self.lockout(Lockout::SignIn)
    }

    pub fn save_panel_lockout(
        &self,
        state: &PanelLockoutState,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.save_lockout(Lockout::SignIn, state, at)
    }

    /// The service-PIN pad's own lockout (panel-wide, separate from walk-up sign-in).
    pub fn service_pin_lockout(&self) -> Result<PanelLockoutState, StoreError> {
        self.lockout(Lockout::ServicePin)
    }

    pub fn save_service_pin_lockout(
        &self,
        state: &PanelLockoutState,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.save_lockout(Lockout::ServicePin, state, at)
    }

    fn lockout(&self, which: Lockout) -> Result<PanelLockoutState, StoreError> {
        let sql = format!(
            "SELECT failures, last_failure_at, locked_until FROM {} WHERE id = 1",
            which.table()
        );
        self.with(|c| {
            Ok(c.query_row(&sql, [], |r| {
                Ok(PanelLockoutState {
                    failures: r.get(0)?,
                    last_failure_at: col_ts_opt(r, 1)?,
                    locked_until: col_ts_opt(r, 2)?,
                })
            })
            .optional()?
            .unwrap_or_default())
        })
    }

    fn save_lockout(
        &self,
        which: Lockout,
        state: &PanelLockoutState,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO {} (id, failures, last_failure_at, locked_until, updated_at)
             VALUES (1, ?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET failures = excluded.failures,
                 last_failure_at = excluded.last_failure_at,
                 locked_until = excluded.locked_until, updated_at = excluded.updated_at",
            which.table()
        );
        self.with(|c| {
            c.execute(
                &sql,
                params![
                    state.failures,
                    state.last_failure_at.map(ts),
                    state.locked_until.map(ts),
                    ts(at)
                ],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lockout_round_trips_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.sqlite3");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.panel_lockout().unwrap(), PanelLockoutState::default());
        let at = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let state = PanelLockoutState {
            failures: 7,
            last_failure_at: Some(at),
            locked_until: Some(at + chrono::Duration::seconds(60)),
        };
        store.save_panel_lockout(&state, at).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.panel_lockout().unwrap(), state);
    }
}
