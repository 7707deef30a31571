//! Signing keys as Better Auth keeps them: a private JWK (what jose's `exportJWK` writes) and
//! its public half, for EdDSA (Ed25519), RS256, PS256 (RSA 2048) and ES256 (P-256).
//! Signatures come from the RustCrypto crates; this file only moves key material between
//! JWK members and those crates, and frames a JWS compact token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::rngs::OsRng;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sha2::Sha256;

/// RSA modulus size jose uses by default for RS256/PS256.
const RSA_BITS: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Alg {
    EdDSA,
    RS256,
    PS256,
    ES256,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::EdDSA => "EdDSA",
            Alg::RS256 => "RS256",
            Alg::PS256 => "PS256",
            Alg::ES256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<Alg> {
        [Alg::EdDSA, Alg::RS256, Alg::PS256, Alg::ES256].into_iter().find(|a| a.name() == s)
    }

    /// The `crv` column Better Auth writes next to the key (none for RSA).
    pub fn crv(self) -> Option<&'static str> {
        match self {
            Alg::EdDSA => Some("Ed25519"),
            Alg::ES256 => Some("P-256"),
            Alg::RS256 | Alg::PS256 => None,
        }
    }

    /// The algorithm a bare JWK implies when it names none (RSA keys sign RS256).
    pub fn implied_by(jwk: &Json) -> Option<Alg> {
        match (jwk["kty"].as_str()?, jwk["crv"].as_str()) {
            ("OKP", Some("Ed25519")) => Some(Alg::EdDSA),
            ("EC", Some("P-256")) => Some(Alg::ES256),
            ("RSA", _) => Some(Alg::RS256),
            _ => None,
        }
    }
}

enum Signing {
    Ed(Box<ed25519_dalek::SigningKey>),
    Rs(Box<rsa::pkcs1v15::SigningKey<Sha256>>),
    Ps(Box<rsa::pss::BlindedSigningKey<Sha256>>),
    Es(Box<p256::ecdsa::SigningKey>),
}

/// A usable key pair: the signer and both JWKs.
pub struct KeyPair {
    pub alg: Alg,
    signing: Signing,
    /// `exportJWK(privateKey)`: stored encrypted in `jwks.privateKey`.
    pub private_jwk: Json,
    /// `exportJWK(publicKey)`: stored in `jwks.publicKey` and published.
    pub public_jwk: Json,
}

/// A key that cannot be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("private JWK has no {0}")]
    Missing(String),
    #[error("private JWK member {0} is not base64url")]
    NotBase64(String),
    #[error("RSA key lacks CRT values")]
    NoCrt,
    #[error("RSA keys with more than two primes are not supported")]
    Primes,
    #[error("P-256 point")]
    Point,
    #[error("{0}")]
    Generate(#[source] rsa::Error),
    #[error("Ed25519 seed is not 32 bytes")]
    Seed,
    #[error("bad P-256 key")]
    P256,
    #[error("bad RSA key: {0}")]
    Rsa(#[source] rsa::Error),
    #[error("a {alg} key cannot be a {kty} JWK")]
    Kty { alg: &'static str, kty: String },
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn member(jwk: &Json, name: &str) -> Result<Vec<u8>, KeyError> {
    let s = jwk[name].as_str().ok_or_else(|| KeyError::Missing(name.to_string()))?;
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|_| KeyError::NotBase64(name.to_string()))
}

fn big(jwk: &Json, name: &str) -> Result<BigUint, KeyError> {
    Ok(BigUint::from_bytes_be(&member(jwk, name)?))
}

/// The public half of a private JWK: every member but the private ones.
fn public_of(private: &Json) -> Json {
    const PRIVATE: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];
    let mut m = Map::new();
    if let Json::Object(o) = private {
        for (k, v) in o {
            if !PRIVATE.contains(&k.as_str()) {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    Json::Object(m)
}

fn rsa_private_jwk(key: &RsaPrivateKey) -> Result<Json, KeyError> {
    let primes = key.primes();
    let (Some(dp), Some(dq), Some(qi)) = (key.dp(), key.dq(), key.crt_coefficient()) else {
        return Err(KeyError::NoCrt);
    };
    if primes.len() != 2 {
        return Err(KeyError::Primes);
    }
    let be = |n: &BigUint| b64(&n.to_bytes_be());
    Ok(json!({
        "kty": "RSA", "n": be(key.n()), "e": be(key.e()), "d": be(key.d()),
        "p": be(&primes[0]), "q": be(&primes[1]), "dp": be(dp), "dq": be(dq), "qi": be(&qi),
    }))
}

impl KeyPair {
    /// A fresh key (Better Auth creates one lazily, on first use).
    pub fn generate(alg: Alg) -> Result<KeyPair, KeyError> {
        let private = match alg {
            Alg::EdDSA => {
                let k = ed25519_dalek::SigningKey::generate(&mut OsRng);
                let x = b64(k.verifying_key().as_bytes());
                json!({"crv": "Ed25519", "d": b64(&k.to_bytes()), "x": x, "kty": "OKP"})
            }
            Alg::ES256 => {
                let k = p256::ecdsa::SigningKey::random(&mut OsRng);
                let point = k.verifying_key().to_encoded_point(false);
                let (x, y) = (point.x().ok_or(KeyError::Point)?, point.y().ok_or(KeyError::Point)?);
                json!({"kty": "EC", "x": b64(x), "y": b64(y), "crv": "P-256", "d": b64(&k.to_bytes())})
            }
            Alg::RS256 | Alg::PS256 => {
                let k = RsaPrivateKey::new(&mut OsRng, RSA_BITS).map_err(KeyError::Generate)?;
                rsa_private_jwk(&k)?
            }
        };
        KeyPair::from_private_jwk(alg, &private)
    }

    /// The key of a private JWK as jose exports it (e.g. decrypted from a Better Auth row).
    pub fn from_private_jwk(alg: Alg, jwk: &Json) -> Result<KeyPair, KeyError> {
        let signing = match alg {
            Alg::EdDSA => {
                let seed: [u8; 32] = member(jwk, "d")?.try_into().map_err(|_| KeyError::Seed)?;
                Signing::Ed(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
            Alg::ES256 => {
                let k = p256::ecdsa::SigningKey::from_slice(&member(jwk, "d")?).map_err(|_| KeyError::P256)?;
                Signing::Es(Box::new(k))
            }
            Alg::RS256 | Alg::PS256 => {
                let primes = vec![big(jwk, "p")?, big(jwk, "q")?];
                let mut k = RsaPrivateKey::from_components(big(jwk, "n")?, big(jwk, "e")?, big(jwk, "d")?, primes)
                    .map_err(KeyError::Rsa)?;
                k.precompute().map_err(KeyError::Rsa)?;
                if alg == Alg::RS256 {
                    Signing::Rs(Box::new(rsa::pkcs1v15::SigningKey::new(k)))
                } else {
                    Signing::Ps(Box::new(rsa::pss::BlindedSigningKey::new(k)))
                }
            }
        };
        let kty_ok = matches!(
            (alg, jwk["kty"].as_str()),
            (Alg::EdDSA, Some("OKP")) | (Alg::ES256, Some("EC")) | (Alg::RS256 | Alg::PS256, Some("RSA"))
        );
        if !kty_ok {
            return Err(KeyError::Kty { alg: alg.name(), kty: format!("{:?}", jwk["kty"]) });
        }
        Ok(KeyPair { alg, signing, private_jwk: jwk.clone(), public_jwk: public_of(jwk) })
    }

    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match &self.signing {
            Signing::Ed(k) => k.sign(msg).to_bytes().to_vec(),
            Signing::Rs(k) => k.sign_with_rng(&mut OsRng, msg).to_vec(),
            Signing::Ps(k) => k.sign_with_rng(&mut OsRng, msg).to_vec(),
            Signing::Es(k) => {
                let sig: p256::ecdsa::Signature = k.sign(msg);
                sig.to_bytes().to_vec()
            }
        }
    }

    /// A JWS compact token: header `{alg, kid}` (no `typ`, as Better Auth sends it) over `claims`.
    pub fn jwt(&self, kid: &str, claims: &Json) -> String {
        let header = json!({"alg": self.alg.name(), "kid": kid});
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let sig = self.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, jwk::Jwk};

    fn verifies(alg: Alg, jwa: jsonwebtoken::Algorithm) {
        let pair = KeyPair::generate(alg).unwrap();
        let token = pair.jwt("k1", &json!({"sub": "u", "exp": 4_000_000_000u64}));
        let jwk: Jwk = serde_json::from_value(pair.public_jwk.clone()).unwrap();
        let mut v = Validation::new(jwa);
        v.validate_aud = false;
        let got = jsonwebtoken::decode::<Json>(&token, &DecodingKey::from_jwk(&jwk).unwrap(), &v).unwrap();
        assert_eq!(got.header.kid.as_deref(), Some("k1"));
        assert!(pair.public_jwk.get("d").is_none());
        // A key read back from its private JWK signs for the same public key.
        let again = KeyPair::from_private_jwk(alg, &pair.private_jwk).unwrap();
        let t2 = again.jwt("k1", &json!({"sub": "u", "exp": 4_000_000_000u64}));
        jsonwebtoken::decode::<Json>(&t2, &DecodingKey::from_jwk(&jwk).unwrap(), &v).unwrap();
    }

    #[test]
    fn every_algorithm_signs_verifiable_tokens() {
        verifies(Alg::EdDSA, jsonwebtoken::Algorithm::EdDSA);
        verifies(Alg::ES256, jsonwebtoken::Algorithm::ES256);
        verifies(Alg::RS256, jsonwebtoken::Algorithm::RS256);
        verifies(Alg::PS256, jsonwebtoken::Algorithm::PS256);
    }

    #[test]
    fn mismatched_key_type_is_refused() {
        let ed = KeyPair::generate(Alg::EdDSA).unwrap();
        assert!(KeyPair::from_private_jwk(Alg::ES256, &ed.private_jwk).is_err());
        assert!(KeyPair::from_private_jwk(Alg::RS256, &json!({"kty": "RSA"})).is_err());
    }
}
