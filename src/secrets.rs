//! Device key file (0600, refused when looser), AEAD for secrets at rest, keyed hashes for cards.
//!
//! One 32-byte master key lives in a file next to the database. It is never used directly:
//! purpose-bound sub-keys are derived from it (HMAC-SHA256 over a label), so a weakness in one use
//! (say, card hashes) says nothing about another (sealed tokens).
//!
//! Sealed values: refresh tokens (bound to the user's oid) and Graph upload-session URLs (bound
//! to the job id, under a sub-key of their own).
//!
//! A stolen database alone therefore yields neither refresh tokens, upload sessions, card numbers
//! nor PINs (see `pin_pepper`); whoever also holds the key file holds the panel.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// Length of the master key and of every derived sub-key.
pub const KEY_LEN: usize = 32;
/// XChaCha20-Poly1305 nonce length: long enough that random nonces never collide in practice.
pub const NONCE_LEN: usize = 24;

// Labels are versioned so the derivation can change without ambiguity.
const LABEL_TOKEN_SEAL: &[u8] = b"mfp-kiosk/v1/token-seal";
const LABEL_CARD_HASH: &[u8] = b"mfp-kiosk/v1/card-hash";
const LABEL_PIN_PEPPER: &[u8] = b"mfp-kiosk/v1/pin-pepper";
const LABEL_FINGERPRINT: &[u8] = b"mfp-kiosk/v1/fingerprint";
// Upload-session URLs get their own sealing key rather than the token key with another `aad`:
// both `aad`s are GUID-shaped (a user's oid, a job's id), so with one key a sealed URL and a
// sealed refresh token would be interchangeable between tables whenever the two ids matched.
// A separate key makes that impossible by construction, and costs one HMAC at start.
const LABEL_UPLOAD_URL_SEAL: &[u8] = b"mfp-kiosk/v1/upload-url-seal";

/// Why the device key could not be loaded or a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("device key file {}: {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "device key file {} is {len} bytes long, expected exactly {KEY_LEN}; it is damaged or not \
         a key file. Restore it from backup, or delete it to create a new key (every cached \
         refresh token, card binding and PIN then has to be enrolled again)",
        path.display()
    )]
    WrongLength { path: PathBuf, len: u64 },
    #[error("device key path {} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "device key file refused, it must be private to this user (it is never re-created, as a \
         new key would orphan every sealed token, card binding and PIN; if others may have \
         copied it, replace it and re-enroll): {0}"
    )]
    NotPrivate(#[source] crate::fsmode::FsModeError),
    #[error("device key directory: {0}")]
    Dir(#[source] crate::fsmode::FsModeError),
    #[error("the secret is too large to seal")]
    SealFailed,
    #[error(
        "sealed secret could not be opened: it was sealed with another device key, for another \
         user, or it was altered"
    )]
    OpenFailed,
    #[error("sealed secret is malformed: {0}")]
    Malformed(&'static str),
}

/// The panel's master key and the sub-keys derived from it. `Debug` shows only a fingerprint.
pub struct DeviceKey {
    seal_key: Zeroizing<[u8; KEY_LEN]>,
    url_key: Zeroizing<[u8; KEY_LEN]>,
    card_key: Zeroizing<[u8; KEY_LEN]>,
    pin_pepper: Zeroizing<[u8; KEY_LEN]>,
    fingerprint: String,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// A secret encrypted with XChaCha20-Poly1305 under the device's token-sealing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the 16-byte Poly1305 tag.
    pub ciphertext: Vec<u8>,
}

impl DeviceKey {
    /// Loads the key file, or creates it (32 random bytes, mode 0600) when it does not exist.
    ///
    /// An existing key file that is not owned by this process's user, or grants any permission
    /// to group or others, is refused with [`SecretsError::NotPrivate`], never replaced.
    ///
    /// Creation writes a temporary file, fsyncs it and hard-links it into place, so a crash never
    /// leaves a half-written key at `path`, and two processes racing to create it end up with the
    /// same key.
    pub fn load_or_create(path: &Path) -> Result<DeviceKey, SecretsError> {
        match Self::load(path) {
            Ok(key) => Ok(key),
            Err(SecretsError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Self::create(path)
            }
            Err(e) => Err(e),
        }
    }

    /// Builds a key from raw master bytes (tests, or keys kept elsewhere).
    pub fn from_master(master: &[u8; KEY_LEN]) -> DeviceKey {
        let fp = derive(master, LABEL_FINGERPRINT);
        let fingerprint = fp[..6].iter().map(|b| format!("{b:02x}")).collect();
        DeviceKey {
            seal_key: derive(master, LABEL_TOKEN_SEAL),
            url_key: derive(master, LABEL_UPLOAD_URL_SEAL),
            card_key: derive(master, LABEL_CARD_HASH),
            pin_pepper: derive(master, LABEL_PIN_PEPPER),
            fingerprint,
        }
    }

    /// A short, non-secret identifier of the key, for diagnostics ("which key sealed this?").
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Sub-key to use as the argon2 secret (pepper) for PIN hashes, so that a copied database
    /// alone does not allow an offline search of the small PIN space.
    pub fn pin_pepper(&self) -> &[u8; KEY_LEN] {
        &self.pin_pepper
    }

    /// Encrypts `plaintext`, binding it to `aad` (the user's object id): a sealed token copied onto
    /// another user's row fails to open.
    pub fn seal(&self, plaintext: &SecretString, aad: &[u8]) -> Result<SealedSecret, SecretsError> {
        seal_with(&self.seal_key, plaintext, aad)
    }

    /// Decrypts a sealed secret; fails if the key, the `aad` or any byte differs.
    pub fn open(&self, sealed: &SealedSecret, aad: &[u8]) -> Result<SecretString, SecretsError> {
        open_with(&self.seal_key, sealed, aad)
    }

    /// Encrypts a Graph upload-session URL (a bearer capability valid for days) for the job row,
    /// bound to the job's id: a sealed URL copied onto another job fails to open.
    pub fn seal_upload_url(
        &self,
        url: &SecretString,
        job_id: &[u8],
    ) -> Result<SealedSecret, SecretsError> {
        seal_with(&self.url_key, url, job_id)
    }

    /// Opens what [`DeviceKey::seal_upload_url`] sealed for the same job id.
    pub fn open_upload_url(
        &self,
        sealed: &SealedSecret,
        job_id: &[u8],
    ) -> Result<SecretString, SecretsError> {
        open_with(&self.url_key, sealed, job_id)
    }

    /// Keyed hash of a normalised card number: what the database stores instead of the number.
    pub fn card_hash(&self, normalised: &str) -> [u8; 32] {
        let mut mac = new_hmac(&self.card_key);
        mac.update(normalised.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn load(path: &Path) -> Result<DeviceKey, SecretsError> {
        let io_err = |action: &'static str| {
            let path = path.to_path_buf();
            move |source| SecretsError::Io {
                path,
                action,
                source,
            }
        };
        let mut file = File::open(path).map_err(io_err("open"))?;
        let meta = file.metadata().map_err(io_err("read metadata"))?;
        if !meta.is_file() {
            return Err(SecretsError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        if meta.len() != KEY_LEN as u64 {
            return Err(SecretsError::WrongLength {
                path: path.to_path_buf(),
                len: meta.len(),
            });
        }
        // Checked before a byte is read; refused rather than fixed (see `crate::fsmode`).
        crate::fsmode::check_private_file(path, &meta).map_err(SecretsError::NotPrivate)?;
        let mut master = Zeroizing::new([0u8; KEY_LEN]);
        file.read_exact(master.as_mut()).map_err(io_err("read"))?;
        Ok(Self::from_master(&master))
    }

    fn create(path: &Path) -> Result<DeviceKey, SecretsError> {
        let io_err = |action: &'static str| {
            let path = path.to_path_buf();
            move |source| SecretsError::Io {
                path,
                action,
                source,
            }
        };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(dir) = dir {
            crate::fsmode::private_dir(dir).map_err(SecretsError::Dir)?;
        }
        let mut master = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(master.as_mut());

        let mut suffix = [0u8; 6];
        OsRng.fill_bytes(&mut suffix);
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!(
            ".tmp-{}",
            suffix
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ));
        let tmp = PathBuf::from(tmp_name);

        let written = (|| {
            let mut f = crate::fsmode::create_private_file(&tmp)?;
            f.write_all(master.as_ref())?;
            f.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_err("write new key")(e));
        }
        // hard_link refuses to replace an existing file: whoever links first wins.
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                master.zeroize();
                return Self::load(path);
            }
            Err(e) => return Err(io_err("move new key into place")(e)),
        }
        if let Some(dir) = dir {
            // Make the new directory entry itself durable.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err("sync parent directory"))?;
        }
        tracing::info!(path = %path.display(), "created a new device key");
        Ok(Self::from_master(&master))
    }
}

impl SealedSecret {
    const VERSION: u8 = 1;

    /// Serialised form: a version byte, the nonce, then the ciphertext.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + NONCE_LEN + self.ciphertext.len());
        out.push(Self::VERSION);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Prefix of the text form; it also tells a sealed value from a clear one written by an
    /// older version.
    pub const TEXT_PREFIX: &'static str = "sealed:";

    /// Text form for a TEXT column: [`SealedSecret::TEXT_PREFIX`] then the base64 of
    /// [`SealedSecret::to_bytes`].
    pub fn to_text(&self) -> String {
        use base64::Engine as _;
        let mut out = String::from(Self::TEXT_PREFIX);
        base64::engine::general_purpose::STANDARD_NO_PAD.encode_string(self.to_bytes(), &mut out);
        out
    }

    pub fn from_text(text: &str) -> Result<SealedSecret, SecretsError> {
        use base64::Engine as _;
        let b64 = text
            .strip_prefix(Self::TEXT_PREFIX)
            .ok_or(SecretsError::Malformed("not a sealed value"))?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .map_err(|_| SecretsError::Malformed("bad base64"))?;
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<SealedSecret, SecretsError> {
        let (&version, rest) = bytes
            .split_first()
            .ok_or(SecretsError::Malformed("empty"))?;
        if version != Self::VERSION {
            return Err(SecretsError::Malformed("unknown version"));
        }
        if rest.len() < NONCE_LEN + 16 {
            return Err(SecretsError::Malformed("too short"));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(nonce);
        Ok(SealedSecret {
            nonce: n,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

/// Masks a normalised card number for display: "•••• 1234". Shows at most the last four
/// characters and never more than half of the number, so short numbers are not revealed.
pub fn mask_card(normalised: &str) -> String {
    let chars: Vec<char> = normalised.chars().collect();
    let shown = (chars.len() / 2).min(4);
    let tail: String = chars[chars.len() - shown..].iter().collect();
    if tail.is_empty() {
        "••••".to_string()
    } else {
        format!("•••• {tail}")
    }
}

fn new_hmac(key: &[u8; KEY_LEN]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length")
}

fn seal_with(
    key: &[u8; KEY_LEN],
    plaintext: &SecretString,
    aad: &[u8],
) -> Result<SealedSecret, SecretsError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext.expose_secret().as_bytes(),
                aad,
            },
        )
        .map_err(|_| SecretsError::SealFailed)?;
    Ok(SealedSecret { nonce, ciphertext })
}

fn open_with(
    key: &[u8; KEY_LEN],
    sealed: &SealedSecret,
    aad: &[u8],
) -> Result<SecretString, SecretsError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map_err(|_| SecretsError::OpenFailed)?,
    );
    let text = std::str::from_utf8(&plain)
        .map_err(|_| SecretsError::Malformed("plaintext is not UTF-8"))?;
    // Exact capacity, so converting into the boxed secret does not reallocate and leave an
    // un-zeroized copy behind.
    let mut owned = String::with_capacity(text.len());
    owned.push_str(text);
    Ok(SecretString::from(owned))
}

fn derive(master: &[u8; KEY_LEN], label: &[u8]) -> Zeroizing<[u8; KEY_LEN]> {
    let mut mac = new_hmac(master);
    mac.update(label);
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn key(byte: u8) -> DeviceKey {
        DeviceKey::from_master(&[byte; KEY_LEN])
    }

    #[test]
    fn seal_open_roundtrip_and_aad_binding() {
        let k = key(7);
        let token = SecretString::from("0.AAAA-refresh-token-value");
        let sealed = k.seal(&token, b"oid-adele").unwrap();
        assert!(!sealed.ciphertext.windows(5).any(|w| w == b"0.AAA"));
        let opened = k.open(&sealed, b"oid-adele").unwrap();
        assert_eq!(opened.expose_secret(), token.expose_secret());
        assert!(matches!(
            k.open(&sealed, b"oid-megan"),
            Err(SecretsError::OpenFailed)
        ));
        assert!(matches!(
            key(8).open(&sealed, b"oid-adele"),
            Err(SecretsError::OpenFailed)
        ));
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(k.open(&tampered, b"oid-adele").is_err());
    }

    #[test]
    fn upload_urls_have_their_own_key_bound_to_the_job() {
        let k = key(5);
        let url = SecretString::from("https://contoso.example/upload/abc?tempauth=xyz");
        let sealed = k.seal_upload_url(&url, b"job-1").unwrap();
        let text = sealed.to_text();
        assert!(
            text.starts_with("sealed:") && !text.contains("tempauth"),
            "{text}"
        );
        let back = SealedSecret::from_text(&text).unwrap();
        assert_eq!(back, sealed);
        assert_eq!(
            k.open_upload_url(&back, b"job-1").unwrap().expose_secret(),
            url.expose_secret()
        );
        assert!(k.open_upload_url(&back, b"job-2").is_err());
        // Not interchangeable with sealed tokens, even under the same aad.
        assert!(k.open(&back, b"job-1").is_err());
        let token = k.seal(&url, b"job-1").unwrap();
        assert!(k.open_upload_url(&token, b"job-1").is_err());
        assert!(SealedSecret::from_text("https://contoso.example/upload/abc").is_err());
        assert!(SealedSecret::from_text("sealed:!!").is_err());
    }

    #[test]
    fn nonces_are_fresh() {
        let k = key(1);
        let s = SecretString::from("x");
        let a = k.seal(&s, b"").unwrap();
        let b = k.seal(&s, b"").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn sealed_bytes_roundtrip() {
        let k = key(3);
        let sealed = k.seal(&SecretString::from("abc"), b"oid").unwrap();
        let back = SealedSecret::from_bytes(&sealed.to_bytes()).unwrap();
        assert_eq!(back, sealed);
        assert!(SealedSecret::from_bytes(&[]).is_err());
        assert!(SealedSecret::from_bytes(&[2; 60]).is_err());
        assert!(SealedSecret::from_bytes(&[1; 10]).is_err());
    }

    #[test]
    fn subkeys_differ_and_card_hash_is_keyed() {
        let k = key(9);
        assert_ne!(*k.seal_key, *k.card_key);
        assert_ne!(*k.seal_key, *k.url_key);
        assert_ne!(*k.card_key, *k.pin_pepper);
        assert_eq!(k.card_hash("12345678"), k.card_hash("12345678"));
        assert_ne!(k.card_hash("12345678"), k.card_hash("12345679"));
        assert_ne!(k.card_hash("12345678"), key(10).card_hash("12345678"));
    }

    #[test]
    fn debug_is_redacted() {
        let k = key(42);
        let dbg = format!("{k:?}");
        assert!(dbg.contains(k.fingerprint()));
        let seal_hex: String = k.seal_key.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!dbg.contains(&seal_hex[..8]));
        assert!(!dbg.contains("42, 42"));
    }

    #[test]
    fn masking_shows_at_most_last_four() {
        assert_eq!(mask_card("0004123456"), "•••• 3456");
        assert_eq!(mask_card("12345678"), "•••• 5678");
        assert_eq!(mask_card("123456"), "•••• 456");
        assert_eq!(mask_card("1234"), "•••• 34");
        assert_eq!(mask_card("1"), "••••");
        assert_eq!(mask_card(""), "••••");
    }

    #[test]
    fn key_file_is_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/device.key");
        let a = DeviceKey::load_or_create(&path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), KEY_LEN as u64);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let b = DeviceKey::load_or_create(&path).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.card_hash("1"), b.card_hash("1"));
        // No temporary file is left behind.
        let entries: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn loose_key_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.key");
        fs::write(&path, [1u8; KEY_LEN]).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = DeviceKey::load_or_create(&path).unwrap_err();
            assert!(matches!(err, SecretsError::NotPrivate(_)), "{err:?}");
            let text = err.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains(&format!("{mode:04o}")), "{text}");
            assert!(text.contains("chmod 600"), "{text}");
            assert_eq!(fs::read(&path).unwrap(), [1u8; KEY_LEN], "never re-created");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let a = DeviceKey::load_or_create(&path).unwrap();
        assert_eq!(
            a.fingerprint(),
            DeviceKey::from_master(&[1u8; KEY_LEN]).fingerprint()
        );
    }

    #[test]
    fn wrong_length_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.key");
        fs::write(&path, [0u8; 31]).unwrap();
        let err = DeviceKey::load_or_create(&path).unwrap_err();
        assert!(matches!(err, SecretsError::WrongLength { len: 31, .. }));
        assert!(err.to_string().contains("expected exactly 32"));
        // The damaged file was not overwritten.
        assert_eq!(fs::read(&path).unwrap().len(), 31);
    }

    #[test]
    fn directory_instead_of_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = DeviceKey::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, SecretsError::NotAFile { .. }));
    }
}
