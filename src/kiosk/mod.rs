//! The kiosk session state machine: pure, no I/O, no Slint, no clock of its own.
//!
//! Adapters turn what happens (a card tap, a key on the PIN pad, a token arriving, a tick of
//! the clock) into [`Event`]s; [`Kiosk::handle`] moves the machine and returns the [`Effect`]s
//! the adapters must carry out (look a card up, start a device-code sign-in, start a scan...).
//! What the panel shows is derived from the state by [`Kiosk::view`].
//!
//! Time is passed in with every event, so tests drive it without sleeping.

mod machine;
mod my_scans;
pub mod scan_sheet;
mod service_entry;
mod view;

pub use machine::{
    AuthMethod, Effect, Event, Kiosk, KioskSettings, LoginMode, MyScan, Screen, SessionUser,
    SignOutReason, WorkflowEntry,
};
pub use scan_sheet::{JobSettings, SheetEffect, SheetEvent, SheetScreen, Sides};
pub use view::{human_bytes, View, ViewPage};
