//! mfp-kiosk: sign-in and scan-to-cloud panel for multifunction printers.
//!
//! The crate is split into a pure core (`kiosk`), adapters that do I/O (`store`, `auth`, `graph`,
//! `scan`, `readers`, `ui`) and the glue that wires them together (`app`). See README.md.

#[cfg(feature = "ui")]
slint::include_modules!();

pub mod admin;
pub mod alloc;
pub mod app;
pub mod auth;
pub mod config;
pub mod directory;
pub mod fsmode;
pub mod graph;
pub mod i18n;
pub mod identity;
pub mod kiosk;
pub mod logging;
pub mod priority;
pub mod readers;
pub mod scan;
pub mod scim;
pub mod secrets;
pub mod service_menu;
pub mod store;
#[cfg(feature = "ui")]
pub mod ui;
pub mod workflow;

#[cfg(feature = "demo")]
pub mod sim;
