//! Cryptography with Better Auth's exact formats: ids, cookie signatures, password hashes,
//! symmetric encryption (WIRE.md §3, §4, §15.3, §15.4).

pub mod jwe;
pub mod password;
pub mod scrypt;
pub mod symmetric;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const URL_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Uniform random string over `alphabet` from the OS-seeded CSPRNG (rejection-free `gen_range`).
fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char).collect()
}

/// `[A-Za-z0-9]{len}`: row ids and session tokens (32), reset tokens (24).
pub fn random_id(len: usize) -> String {
    random_from(ALPHANUMERIC, len)
}

/// `[A-Za-z0-9_-]{len}`: 2FA challenge ids, trust-device ids, TOTP secrets.
pub fn random_url_safe(len: usize) -> String {
    random_from(URL_ALPHABET, len)
}

/// `[0-9]{len}`: one-time codes (two-factor email codes, phone-number codes).
pub fn random_digits(len: usize) -> String {
    random_from(b"0123456789", len)
}

/// Signs values the way Better Auth signs cookies: `value.base64(HMAC-SHA256(secret, value))`.
#[derive(Clone)]
pub struct Signer {
    secret: Vec<u8>,
    /// HMAC keyed once: every request checks a signature, and re-keying costs as much as
    /// hashing a short value.
    keyed: Hmac<Sha256>,
}

impl Signer {
    pub fn new(secret: &str) -> Self {
        let keyed = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        Self { secret: secret.as_bytes().to_vec(), keyed }
    }

    fn mac(&self, value: &str) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// Standard base64 with padding: always 44 characters (WIRE.md §3).
    pub fn signature(&self, value: &str) -> String {
        STANDARD.encode(self.mac(value))
    }

    pub fn sign(&self, value: &str) -> String {
        format!("{value}.{}", self.signature(value))
    }

    /// Returns the value if `signed` is `value.signature` with a valid signature.
    /// Splits at the last `.`; compares in constant time.
    pub fn verify<'a>(&self, signed: &'a str) -> Option<&'a str> {
        let (value, sig) = signed.rsplit_once('.')?;
        if sig.len() != 44 || !sig.ends_with('=') {
            return None;
        }
        let expected = self.signature(value);
        bool::from(expected.as_bytes().ct_eq(sig.as_bytes())).then_some(value)
    }

    /// base64url (no padding) HMAC, used by trust-device cookies and the cookie cache.
    pub fn mac_url_safe(&self, value: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(value))
    }
}

/// Constant-time string equality for secrets.
pub fn ct_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_documented_shape() {
        let id = random_id(32);
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(id, random_id(32));
    }

    #[test]
    fn signature_matches_node_hmac() {
        // node -e 'console.log(require("crypto").createHmac("sha256","secret").update("abc").digest("base64"))'
        let s = Signer::new("secret");
        assert_eq!(s.signature("abc"), "mUba1OAOkT/Ivo5dP34RCkqegy+D+wnDRShdeGONig4=");
        let signed = s.sign("abc");
        assert_eq!(s.verify(&signed), Some("abc"));
        assert_eq!(s.verify("abc.mUba1OAOkT/Ivo5dP34RCkqegy+D+wnDRShdeGONig5="), None);
        assert_eq!(Signer::new("other").verify(&signed), None);
        assert_eq!(s.verify("abc"), None);
    }
}
