//! Administrator and technician tools.
//!
//! - [`cards`]: card administration (list, enroll, revoke, audited) shared by the service-menu
//!   pages and `mfp-kiosk cards ...`; [`outbox`]: retry and delete jobs, shared the same way;
//! - `mfp-kiosk doctor` ([`doctor`]): checks the config, reaches Entra's discovery document, the
//!   signing keys, the app registration and Microsoft Graph, and says what is wrong in words an
//!   administrator can act on. Optionally runs one sign-in to check consent and policies.
//! - `mfp-kiosk signin` ([`signin`]): the panel's device-code sign-in in a terminal (code, URI and
//!   a text QR code), provisioning the user exactly as the panel does, printing the identity and
//!   never a token.
//!
//! - [`storage`]: free space of the state directory and the spool, for `doctor` and the service
//!   menu's health page, and the plain sentence a full disk gives the user.
//!
//! [`advice`] turns Entra's answers into those administrator sentences; both tools use it.

pub mod advice;
pub mod cards;
pub mod doctor;
pub mod local_users;
pub mod outbox;
pub mod signin;
pub mod storage;
