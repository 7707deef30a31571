//! The encrypted JWT of Better Auth's `jwe` cookie cache (WIRE.md §12): compact JWE with
//! `alg: "dir"`, `enc: "A256CBC-HS512"` (RFC 7518 §5.2.5), the 64-byte key derived with
//! HKDF-SHA256 from the secret and a per-use salt, and `kid` = the key's RFC 7638 thumbprint.

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// HKDF `info` Better Auth uses for every symmetric JWT key.
const INFO: &[u8] = b"BetterAuth.js Generated Encryption Key";
const ENC: &str = "A256CBC-HS512";

/// A derived key: `mac ‖ enc` halves and the `kid` that names it.
pub struct JweKey {
    key: [u8; 64],
    kid: String,
}

impl JweKey {
    /// `HKDF-SHA256(ikm = secret, salt, info)` → 64 bytes (e.g. salt `better-auth-session`).
    pub fn derive(secret: &[u8], salt: &str) -> JweKey {
        let mut key = [0u8; 64];
        Hkdf::<Sha256>::new(Some(salt.as_bytes()), secret)
            .expand(INFO, &mut key)
            .expect("64 bytes is a valid HKDF-SHA256 output length");
        // RFC 7638 thumbprint of the symmetric JWK: members in lexical order, no spaces.
        let jwk = format!(r#"{{"k":"{}","kty":"oct"}}"#, URL_SAFE_NO_PAD.encode(key));
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(jwk.as_bytes()));
        JweKey { key, kid }
    }

    fn tag(&self, aad: &[u8], iv: &[u8], ct: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(&self.key[..32]).expect("HMAC takes any key length");
        mac.update(aad);
        mac.update(iv);
        mac.update(ct);
        mac.update(&((aad.len() as u64) * 8).to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut t = [0u8; 32];
        t.copy_from_slice(&full[..32]);
        t
    }

    /// `header..iv.ciphertext.tag` over the UTF-8 `plaintext` (the JWT claims).
    pub fn encrypt(&self, plaintext: &str) -> String {
        let header = format!(r#"{{"alg":"dir","enc":"{ENC}","kid":"{}"}}"#, self.kid);
        let aad = URL_SAFE_NO_PAD.encode(header);
        let mut iv = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut iv);
        let ct = cbc::Encryptor::<Aes256>::new((&self.key[32..]).into(), (&iv).into())
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
        let tag = self.tag(aad.as_bytes(), &iv, &ct);
        format!("{aad}..{}.{}.{}", URL_SAFE_NO_PAD.encode(iv), URL_SAFE_NO_PAD.encode(ct), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The plaintext, or `None` for anything not encrypted with this key and algorithm.
    pub fn decrypt(&self, token: &str) -> Option<String> {
        let mut parts = token.split('.');
        let (aad, ek, iv, ct, tag) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !ek.is_empty() {
            return None;
        }
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(aad).ok()?).ok()?;
        if header["alg"] != "dir" || header["enc"] != ENC {
            return None;
        }
        // A token naming another key (another secret) is not ours.
        if header.get("kid").is_some_and(|k| k.as_str() != Some(self.kid.as_str())) {
            return None;
        }
        let (iv, ct, tag) =
            (URL_SAFE_NO_PAD.decode(iv).ok()?, URL_SAFE_NO_PAD.decode(ct).ok()?, URL_SAFE_NO_PAD.decode(tag).ok()?);
        if iv.len() != 16 || !bool::from(self.tag(aad.as_bytes(), &iv, &ct).ct_eq(&tag)) {
            return None;
        }
        let pt = cbc::Decryptor::<Aes256>::new((&self.key[32..]).into(), iv.as_slice().into())
            .decrypt_padded_vec_mut::<Pkcs7>(&ct)
            .ok()?;
        String::from_utf8(pt).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let k = JweKey::derive(b"secret-0123456789-abcdefghijklmnopq", "better-auth-session");
        let t = k.encrypt(r#"{"a":1}"#);
        assert_eq!(t.split('.').count(), 5);
        assert_eq!(k.decrypt(&t).as_deref(), Some(r#"{"a":1}"#));
        let mut bad = t.clone().into_bytes();
        let n = bad.len() - 3;
        bad[n] = if bad[n] == b'A' { b'B' } else { b'A' };
        assert_eq!(k.decrypt(std::str::from_utf8(&bad).unwrap()), None);
        let other = JweKey::derive(b"another-secret-0123456789-abcdefghij", "better-auth-session");
        assert_eq!(other.decrypt(&t), None);
    }
}
