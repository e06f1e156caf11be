//! Scan workflows: definitions, file-name templates, the durable outbox that delivers jobs.

pub mod app_delivery;
pub mod cause;
pub mod lease;
pub mod outbox;
pub mod profile;
pub mod spool;
pub mod template;
