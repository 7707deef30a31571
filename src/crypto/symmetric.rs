//! Better Auth's symmetric encryption for secrets at rest (WIRE.md §15.4):
//! `hex(nonce24 ‖ XChaCha20-Poly1305(key = SHA-256(secret), nonce, plaintext))`, no AAD.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

fn cipher(secret: &[u8]) -> XChaCha20Poly1305 {
    let key = Sha256::digest(secret);
    XChaCha20Poly1305::new(&key)
}

pub fn encrypt(secret: &[u8], plaintext: &str) -> String {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ct = cipher(secret)
        .encrypt(&nonce, plaintext.as_bytes())
        .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory input");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    hex::encode(out)
}

/// `None` when the input is not hex, too short, or fails authentication.
pub fn decrypt(secret: &[u8], hex_input: &str) -> Option<String> {
    let bytes = hex::decode(hex_input).ok()?;
    if bytes.len() < 24 + 16 {
        return None;
    }
    let (nonce, ct) = bytes.split_at(24);
    let pt = cipher(secret).decrypt(XNonce::from_slice(nonce), ct).ok()?;
    String::from_utf8(pt).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let c = encrypt(b"secret", "hello");
        assert_eq!(c.len(), (24 + 5 + 16) * 2);
        assert_eq!(decrypt(b"secret", &c).as_deref(), Some("hello"));
        assert_eq!(decrypt(b"other", &c), None);
        assert_eq!(decrypt(b"secret", "zz"), None);
    }

    #[test]
    fn decrypts_what_node_encrypted() {
        // @noble/ciphers xchacha20poly1305 with key sha256("secret"), as in conformance/crypto.mjs
        assert_eq!(decrypt(b"secret", NODE_CIPHERTEXT).as_deref(), Some("hello from node"));
    }

    const NODE_CIPHERTEXT: &str = "52a2f05b0b047d931201bad2ee7ce46588b169691213055ddbb2a35d8b78b589bd78bf54a20d0cfdf84da5e0707913233f9dfa3e64b0e0";
}
