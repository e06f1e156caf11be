//! Helpers shared by integration tests: a private pcscd and a vpcd virtual card.

pub mod pcscd;
pub mod vcard;
