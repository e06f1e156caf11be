//! The simulated authority's RS256 signing keys, published as a JWKS.
//!
//! Like Entra, the sim keeps a list of published keys and signs with the newest one. Rotation
//! adds a key and switches to it while the old one stays published, so tokens already handed out
//! keep verifying.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, TokenData, Validation};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::SimError;

const RSA_BITS: usize = 2048;

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    n: String,
    e: String,
}

impl SigningKey {
    fn generate() -> Result<Self, SimError> {
        let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
            .map_err(|e| SimError::KeyGeneration(e.to_string()))?;
        let der = private
            .to_pkcs1_der()
            .map_err(|e| SimError::KeyGeneration(e.to_string()))?;
        let n = private.n().to_bytes_be();
        let e = private.e().to_bytes_be();
        // Entra's kids are base64url thumbprints; a hash of the modulus gives the same shape.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(&n)[..20]);
        Ok(SigningKey {
            kid,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
            n: URL_SAFE_NO_PAD.encode(&n),
            e: URL_SAFE_NO_PAD.encode(&e),
        })
    }
}

/// Published keys, newest last; the newest signs.
pub(crate) struct KeyRing {
    keys: Vec<SigningKey>,
}

impl KeyRing {
    /// Generates the first key (CPU-heavy: call off the async threads).
    pub(crate) fn generate() -> Result<Self, SimError> {
        Ok(KeyRing {
            keys: vec![SigningKey::generate()?],
        })
    }

    fn current(&self) -> &SigningKey {
        // `keys` is never empty: built with one key, only ever pushed to.
        &self.keys[self.keys.len() - 1]
    }

    pub(crate) fn current_kid(&self) -> String {
        self.current().kid.clone()
    }

    /// Generates a new key outside the ring, so the ring's lock is not held during generation.
    pub(crate) fn new_key() -> Result<PendingKey, SimError> {
        Ok(PendingKey(SigningKey::generate()?))
    }

    /// Publishes `key` and signs with it from now on. Returns its kid.
    pub(crate) fn rotate_to(&mut self, key: PendingKey) -> String {
        let kid = key.0.kid.clone();
        self.keys.push(key.0);
        kid
    }

    pub(crate) fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "RSA",
                    "use": "sig",
                    "kid": k.kid,
                    "alg": "RS256",
                    "n": k.n,
                    "e": k.e,
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    pub(crate) fn sign<T: Serialize>(&self, claims: &T) -> Result<String, SimError> {
        let key = self.current();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(SimError::Signing)
    }

    /// Verifies a token signed by one of the published keys.
    pub(crate) fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<TokenData<T>, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(VerifyError::UnknownKey)?;
        jsonwebtoken::decode(token, &key.decoding, validation)
            .map_err(|e| VerifyError::Rejected(e.into_kind()))
    }
}

/// Why a token did not verify.
#[derive(Debug)]
pub(crate) enum VerifyError {
    Malformed,
    UnknownKey,
    Rejected(jsonwebtoken::errors::ErrorKind),
}

/// A generated key not yet published.
pub(crate) struct PendingKey(SigningKey);
