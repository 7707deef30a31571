//! Standard Webhooks signatures (https://www.standardwebhooks.com, "Signature scheme"):
//! `v1,` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")), the key being
//! the base64 text after `whsec_` of the endpoint's secret.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The spec asks for secrets of 24 to 64 random bytes.
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// Why a `whsec_` secret is refused; never with the secret in it.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("must start with \"whsec_\"")]
    Prefix,
    #[error("the part after \"whsec_\" is not base64")]
    Base64,
    #[error("must hold 24 to 64 bytes after \"whsec_\" (it holds {0})")]
    Length(usize),
    #[error("not a usable HMAC key")]
    Key,
}

/// An endpoint's signing key, keyed once at start-up. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct Secret(Hmac<Sha256>);

impl Secret {
    /// `whsec_<base64 of 24 to 64 bytes>`. The error never repeats the secret.
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let b64 = s.strip_prefix("whsec_").ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(b64).map_err(|_| SecretError::Base64)?;
        if !KEY_BYTES.contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Hmac::new_from_slice(&key).map(Secret).map_err(|_| SecretError::Key)
    }

    /// The `webhook-signature` header for one delivery attempt.
    pub fn signature(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    /// The published vectors: the Standard Webhooks reference library's `test_sign`
    /// (standard-webhooks/standard-webhooks, libraries/rust/src/lib.rs) and the example of
    /// its specification and of Svix's documentation. Also checked with Node's `crypto`.
    #[test]
    fn webhook_signature_matches_the_published_vectors() {
        let cases = [
            (
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1_649_367_553,
                r#"{"email":"test@example.com","username":"test_user"}"#,
                "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            ),
            (
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#,
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ];
        for (secret, id, ts, body, expected) in cases {
            assert_eq!(Secret::parse(secret).unwrap().signature(id, ts, body), expected);
        }
    }

    #[test]
    fn webhook_secret_is_checked_and_never_shown() {
        assert!(Secret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap_err().to_string().contains("whsec_"));
        assert!(Secret::parse("whsec_not base64!").unwrap_err().to_string().contains("base64"));
        assert!(Secret::parse("whsec_c2hvcnQ=").unwrap_err().to_string().contains("24 to 64"));
        let s = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(format!("{s:?}"), "Secret(…)");
    }
}
