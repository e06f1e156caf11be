//! `mfp-kiosk directory keygen`: an RSA 2048 key and a self-signed certificate (two years) for
//! the app registration's "Certificates & secrets". Both files are written 0600 and never
//! overwritten unless asked; the key stays on the panel.

use std::io::Write;
use std::path::Path;

use chrono::Datelike;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use sha1::Digest as _;

use super::credential::thumbprint_s256;
use super::DirectoryError;

/// What keygen wrote.
#[derive(Debug, Clone)]
pub struct Generated {
    /// SHA-1 thumbprint in upper-case hex, as the Azure portal lists certificates.
    pub thumbprint_sha1: String,
    /// base64url SHA-256 (`x5t#S256`).
    pub thumbprint_s256: String,
    pub not_after: String,
}

/// Writes a new key to `key_path` and its certificate (subject `CN=<common_name>`) to
/// `cert_path`. Existing files are kept unless `force`.
pub fn generate(
    key_path: &Path,
    cert_path: &Path,
    common_name: &str,
    force: bool,
) -> Result<Generated, DirectoryError> {
    for p in [key_path, cert_path] {
        if p.exists() && !force {
            return Err(DirectoryError::Exists(p.to_path_buf()));
        }
    }
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
        .map_err(|e| DirectoryError::KeyGeneration(e.to_string()))?;
    let key_pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| DirectoryError::KeyGeneration(e.to_string()))?;
    let key_pair = rcgen::KeyPair::from_pem(&key_pem)
        .map_err(|e| DirectoryError::KeyGeneration(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| DirectoryError::KeyGeneration(e.to_string()))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let today = chrono::Utc::now().date_naive();
    let (y, m, d) = (today.year(), today.month() as u8, today.day().min(28) as u8);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    params.not_after = rcgen::date_time_ymd(y + 2, m, d);
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| DirectoryError::KeyGeneration(e.to_string()))?;
    let der = cert.der().to_vec();
    for (path, text) in [(key_path, key_pem.as_str()), (cert_path, &cert.pem())] {
        write_private(path, text.as_bytes(), force)?;
    }
    let sha1 = sha1::Sha1::digest(&der);
    Ok(Generated {
        thumbprint_sha1: sha1.iter().map(|b| format!("{b:02X}")).collect(),
        thumbprint_s256: thumbprint_s256(&der),
        not_after: format!("{:04}-{m:02}-{d:02}", y + 2),
    })
}

fn write_private(path: &Path, bytes: &[u8], force: bool) -> Result<(), DirectoryError> {
    let file_err = |source| DirectoryError::File {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::fsmode::private_dir(dir)?;
    }
    // Written to a new private file and renamed, so a crash never leaves half a key and a
    // replaced key is never readable by others, even for a moment.
    let tmp = path.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    let mut f = crate::fsmode::create_private_file(&tmp).map_err(file_err)?;
    f.write_all(bytes).map_err(file_err)?;
    f.sync_all().map_err(file_err)?;
    if path.exists() && !force {
        let _ = std::fs::remove_file(&tmp);
        return Err(DirectoryError::Exists(path.to_path_buf()));
    }
    std::fs::rename(&tmp, path).map_err(file_err)
}

/// Demo: the credential under the demo's state directory (generated on first use) and its
/// certificate handed to `register` (the simulated app registration).
#[cfg(feature = "demo")]
pub fn demo_credential<E: std::fmt::Display>(
    config: &crate::config::Config,
    register: impl FnOnce(&str) -> Result<(), E>,
) -> Result<(), DirectoryError> {
    let (key, cert) = super::credential::default_paths(config);
    if !key.exists() || !cert.exists() {
        generate(&key, &cert, "mfp-kiosk demo", true)?;
    }
    let pem = std::fs::read_to_string(&cert).map_err(|source| DirectoryError::File {
        path: cert.clone(),
        source,
    })?;
    register(&pem).map_err(|e| DirectoryError::BadCredential {
        path: cert,
        reason: e.to_string(),
    })
}
