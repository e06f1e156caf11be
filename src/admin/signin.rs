//! `mfp-kiosk signin`: the panel's Microsoft sign-in in a terminal.
//!
//! An administrator runs it to try an app registration before walking to the printer: it shows
//! the verification URI, the user code and a QR code drawn with text, waits for the sign-in,
//! then provisions the user through the same [`Services`] the panel uses (same rules, same store,
//! refresh token sealed the same way) and prints the resulting identity. Tokens are never printed.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;

use super::advice;
use crate::app::services::{ServiceError, Services};
use crate::app::signin::{complete_microsoft_sign_in, SessionTokens};
use crate::auth::entra::EntraError;
use crate::auth::DeviceCodeOffer;
use crate::config::Config;
use crate::identity::UserRecord;
use crate::scan::{PageFn, ScanError, ScanOptions, Scanner};

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Entra refused or could not be reached; `advice` says what to fix.
    #[error("{advice}")]
    Entra {
        advice: String,
        #[source]
        source: EntraError,
    },
    #[error("the sign-in worked but the user was not provisioned: {0}")]
    Provisioning(#[source] ServiceError),
    #[error("cannot write to the terminal: {0}")]
    Output(#[from] std::io::Error),
}

/// Who signed in, as stored on the panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub user: UserRecord,
    /// True when this sign-in created the local record, false when it updated it.
    pub created: bool,
}

impl SignInError {
    fn from_service(err: ServiceError, services: &Services) -> SignInError {
        match err {
            ServiceError::Entra(source) => SignInError::Entra {
                advice: advice::for_entra_error(&source, &services.config.entra),
                source,
            },
            other => SignInError::Provisioning(other),
        }
    }
}

/// The panel's services (store, device key, Entra and Graph clients) for a terminal sign-in, on
/// the state directory the panel uses, so the panel finds the user afterwards.
pub fn services(mut config: Config) -> Result<Arc<Services>, ServiceError> {
    config.device.state_dir = config.state_dir();
    crate::fsmode::private_dir(&config.device.state_dir)
        .map_err(|e| ServiceError::Task(e.to_string()))?;
    Ok(Arc::new(Services::new(
        config,
        Box::new(|| Box::new(NotScanning)),
    )?))
}

/// The scanner slot of a sign-in: nothing is scanned here.
struct NotScanning;

impl Scanner for NotScanning {
    fn name(&self) -> &str {
        "none"
    }

    fn scan(
        &mut self,
        _opts: &ScanOptions,
        _on_page: &mut PageFn<'_>,
        _cancel: &AtomicBool,
    ) -> Result<u32, ScanError> {
        Err(ScanError::Device(
            "the sign-in command does not scan".into(),
        ))
    }
}

/// The URI as a QR code in block characters, two modules per character cell. The colours are
/// swapped (dark modules are blank cells) because terminals draw light text on a dark
/// background; the quiet zone then comes out light, as scanners need.
pub fn qr_text(uri: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::new(uri.as_bytes())?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// Prints what the user needs to finish the sign-in on another device.
pub fn print_prompt(out: &mut (dyn Write + Send), offer: &DeviceCodeOffer) -> std::io::Result<()> {
    writeln!(
        out,
        "To sign in, open {} on a phone or computer and enter the code:",
        offer.verification_uri
    )?;
    writeln!(out)?;
    writeln!(out, "    {}", offer.user_code)?;
    writeln!(out)?;
    match qr_text(&offer.verification_uri) {
        Ok(qr) => {
            writeln!(out, "Or scan this code to open the page:")?;
            writeln!(out, "{qr}")?;
        }
        // The code and URI above are all the user needs; a URI too long for a QR code is odd
        // but not fatal.
        Err(err) => tracing::warn!(%err, "cannot draw the QR code"),
    }
    writeln!(
        out,
        "The code is valid for {} minutes. Waiting for the sign-in (Ctrl+C cancels)...",
        offer.expires_in_secs.div_ceil(60)
    )?;
    out.flush()
}

/// The identity as an administrator checks it: every field the panel keeps, never a token.
pub fn describe(signed_in: &SignedIn) -> String {
    let u = &signed_in.user;
    let list = |v: &[String]| {
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.join(", ")
        }
    };
    let rows = [
        ("object id", u.oid.clone()),
        ("tenant", u.tenant_id.clone()),
        ("UPN", u.upn.clone()),
        ("display name", u.display_name.clone()),
        ("mail", u.mail.clone().unwrap_or_else(|| "(none)".into())),
        ("username", u.username.clone()),
        ("app roles", list(&u.roles)),
        ("groups", list(&u.groups)),
        (
            "technician",
            if u.is_technician { "yes" } else { "no" }.into(),
        ),
        ("status", u.status.as_str().into()),
    ];
    let mut text = format!(
        "Signed in. The panel {} this user:\n",
        if signed_in.created {
            "created"
        } else {
            "updated"
        }
    );
    for (label, value) in rows {
        text.push_str(&format!("  {label:<13} {value}\n"));
    }
    text
}

/// Runs one device-code sign-in, provisions the user as the panel would, and prints the result.
/// Cancel by dropping the future (Ctrl+C in the terminal).
pub async fn run(
    services: &Arc<Services>,
    out: &mut (dyn Write + Send),
) -> Result<SignedIn, SignInError> {
    let entra = services
        .entra()
        .await
        .map_err(|e| SignInError::from_service(e, services))?;
    let pending = entra
        .start_device_code()
        .await
        .map_err(|e| SignInError::from_service(ServiceError::Entra(e), services))?;
    print_prompt(out, pending.offer())?;
    let tokens = entra
        .wait_for_device_code(pending)
        .await
        .map_err(|e| SignInError::from_service(ServiceError::Entra(e), services))?;

    let existed = match &tokens.id_claims {
        Some(claims) => {
            let s = services.clone();
            let oid = claims.oid.clone();
            tokio::task::spawn_blocking(move || s.store.user_by_oid(&oid))
                .await
                .map_err(|e| SignInError::Provisioning(ServiceError::Task(e.to_string())))?
                .map_err(|e| SignInError::Provisioning(ServiceError::Store(e)))?
                .is_some()
        }
        None => false,
    };
    // A session map of its own: the access token lives here until this function returns.
    let sessions = SessionTokens::default();
    let user = complete_microsoft_sign_in(services, &sessions, tokens, None)
        .await
        .map_err(|e| SignInError::from_service(e, services))?;
    sessions.remove(&user.oid);
    let signed_in = SignedIn {
        user,
        created: !existed,
    };
    write!(out, "{}", describe(&signed_in))?;
    out.flush()?;
    Ok(signed_in)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_text_is_a_square_of_block_characters_with_a_light_border() {
        let qr = qr_text("https://microsoft.com/devicelogin").unwrap();
        let lines: Vec<&str> = qr.lines().collect();
        let width = lines[0].chars().count();
        assert!(width >= 21 + 8, "{width}");
        assert!(lines.iter().all(|l| l.chars().count() == width));
        // Two modules per character row.
        assert_eq!(lines.len(), width.div_ceil(2));
        // Quiet zone: the first row is all light, drawn as full blocks on a dark terminal.
        assert!(lines[0].chars().all(|c| c == '█'), "{}", lines[0]);
        assert!(qr.contains(' ') || qr.contains('▀') || qr.contains('▄'));
    }

    #[test]
    fn prompt_shows_code_uri_qr_and_lifetime() {
        let offer = DeviceCodeOffer {
            user_code: "ABCDEFGHJ".into(),
            verification_uri: "https://microsoft.com/devicelogin".into(),
            expires_in_secs: 900,
            interval_secs: 5,
        };
        let mut out = Vec::new();
        print_prompt(&mut out, &offer).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("    ABCDEFGHJ\n"));
        assert!(text.contains("open https://microsoft.com/devicelogin"));
        assert!(text.contains("valid for 15 minutes"));
        assert!(text.contains('█'));
    }
}
