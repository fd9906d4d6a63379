//! Secrets at rest: ChaCha20-Poly1305 with a key derived from the configured passphrase.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::StoreError;

const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 12;

/// Encrypts and decrypts stored secrets. Values are stored as `enc:v1:<base64(nonce‖ciphertext)>`;
/// a value without the prefix is plaintext written before encryption was turned on.
#[derive(Clone)]
pub struct Cipher {
    aead: ChaCha20Poly1305,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(<redacted>)")
    }
}

impl Cipher {
    /// Derives a 256-bit key from `p` with HKDF-SHA256 (fixed, versioned salt and info so the
    /// same passphrase always opens the same database).
    pub fn from_passphrase(p: &str) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"bifrost-rs config store"), p.as_bytes());
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 8160-byte output limit, so this cannot fail.
        let _ = hk.expand(b"enc:v1 chacha20poly1305 key", &mut key);
        Cipher {
            aead: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    pub fn encrypt(&self, s: &str) -> String {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption into a Vec only fails on absurd lengths (> 256 GiB).
        let ct = self.aead.encrypt(&nonce, s.as_bytes()).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// Decrypts an `enc:v1:` value; passes plaintext through.
    pub fn decrypt(&self, s: &str) -> Result<String, StoreError> {
        let Some(b64) = s.strip_prefix(PREFIX) else {
            return Ok(s.to_string());
        };
        let fail = |reason: &str| StoreError::Decrypt {
            entity: "value".into(),
            reason: reason.into(),
        };
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| fail("encrypted value is not valid base64"))?;
        if raw.len() < NONCE_LEN {
            return Err(fail("encrypted value is truncated"));
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let pt = self
            .aead
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| fail("cannot decrypt: wrong encryption key or corrupted value"))?;
        String::from_utf8(pt).map_err(|_| fail("decrypted value is not UTF-8"))
    }
}

/// Encrypts with `cipher` when there is one.
pub(crate) fn seal(cipher: Option<&Cipher>, s: &str) -> String {
    match cipher {
        Some(c) => c.encrypt(s),
        None => s.to_string(),
    }
}

/// Decrypts a stored value, naming `entity` in errors.
pub(crate) fn open(cipher: Option<&Cipher>, s: &str, entity: &str) -> Result<String, StoreError> {
    match (cipher, s.starts_with(PREFIX)) {
        (_, false) => Ok(s.to_string()),
        (None, true) => Err(StoreError::Decrypt {
            entity: entity.to_string(),
            reason: "stored encrypted but no encryption key is configured (set encryption_key or BIFROST_ENCRYPTION_KEY)".into(),
        }),
        (Some(c), true) => c.decrypt(s).map_err(|e| match e {
            StoreError::Decrypt { reason, .. } => StoreError::Decrypt {
                entity: entity.to_string(),
                reason,
            },
            other => other,
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_random_nonce_wrong_key_and_plaintext() {
        let c = Cipher::from_passphrase("correct horse");
        let a = c.encrypt("sk-secret");
        let b = c.encrypt("sk-secret");
        assert!(a.starts_with("enc:v1:") && !a.contains("sk-secret"));
        assert_ne!(a, b, "nonces must differ");
        assert_eq!(c.decrypt(&a).unwrap(), "sk-secret");
        assert_eq!(
            Cipher::from_passphrase("correct horse")
                .decrypt(&b)
                .unwrap(),
            "sk-secret"
        );
        let wrong = Cipher::from_passphrase("battery staple")
            .decrypt(&a)
            .unwrap_err();
        assert!(
            wrong.to_string().contains("wrong encryption key"),
            "{wrong}"
        );
        assert_eq!(
            c.decrypt("env.OPENAI_API_KEY").unwrap(),
            "env.OPENAI_API_KEY"
        );
        assert!(c.decrypt("enc:v1:AAAA").is_err());
        let e = open(None, &a, "provider openai key k1 value").unwrap_err();
        assert!(
            e.to_string().starts_with("provider openai key k1 value: "),
            "{e}"
        );
        assert!(!format!("{c:?}").contains("horse"));
    }
}
