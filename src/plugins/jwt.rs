//! The JWT plugin (WIRE.md §8): EdDSA (Ed25519) tokens for the app's backend, keys in the
//! `jwks` table with the private JWK encrypted as WIRE.md §15.4, published at `/jwks`.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value as Json, json};
use tokio::sync::{Mutex, RwLock};

use crate::auth::{Auth, User};
use crate::crypto::symmetric;
use crate::error::{ApiError, Result};
use crate::store::{FindMany, Record, Where, now};

/// PKCS#8 v1 wrapper of a raw Ed25519 seed (RFC 8410): what `EncodingKey::from_ed_der` takes.
const PKCS8_ED25519_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

struct ActiveKey {
    kid: String,
    encoding: EncodingKey,
}

pub struct JwtIssuer {
    pub issuer: String,
    pub audience: String,
    pub expiration: i64,
    active: RwLock<Option<Arc<ActiveKey>>>,
    creating: Mutex<()>,
    /// Per session: the user as signed, when, and the token (see [`JwtIssuer::for_session`]).
    recent: std::sync::Mutex<HashMap<String, (Record, i64, String)>>,
}

/// A get-session token is reused for this long while the user is unchanged: it still has
/// at least `expiration - REUSE_SECONDS` to live, and signing is the costliest step of a
/// get-session.
const REUSE_SECONDS: i64 = 60;
const MAX_RECENT: usize = 100_000;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal("jwt", e)
}

fn decode_seed(auth: &Auth, row: &Record) -> Result<[u8; 32]> {
    // The column holds a JSON string literal of the encrypted hex.
    let stored = row.string("privateKey");
    let hex_ct: String = serde_json::from_str(&stored).unwrap_or(stored);
    let jwk = symmetric::decrypt(auth.secret(), &hex_ct)
        .ok_or_else(|| internal("jwks private key cannot be decrypted with the current secret"))?;
    let jwk: Json = serde_json::from_str(&jwk).map_err(internal)?;
    let d = jwk["d"].as_str().ok_or_else(|| internal("jwks private key has no d"))?;
    let seed = URL_SAFE_NO_PAD.decode(d).map_err(internal)?;
    seed.try_into().map_err(|_| internal("Ed25519 seed is not 32 bytes"))
}

fn active_key(kid: String, seed: &[u8; 32]) -> ActiveKey {
    let mut der = PKCS8_ED25519_PREFIX.to_vec();
    der.extend_from_slice(seed);
    ActiveKey { kid, encoding: EncodingKey::from_ed_der(&der) }
}

impl JwtIssuer {
    pub fn new(issuer: String, audience: String, expiration: i64) -> Self {
        Self {
            issuer,
            audience,
            expiration,
            active: RwLock::new(None),
            creating: Mutex::new(()),
            recent: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The newest EdDSA key, created on first use (as Better Auth does).
    async fn key(&self, auth: &Auth) -> Result<Arc<ActiveKey>> {
        if let Some(k) = self.active.read().await.clone() {
            return Ok(k);
        }
        let _guard = self.creating.lock().await;
        if let Some(k) = self.active.read().await.clone() {
            return Ok(k);
        }
        let key = match self.newest_row(auth).await? {
            Some(row) => active_key(row.string("id"), &decode_seed(auth, &row)?),
            None => self.create_key(auth).await?,
        };
        let key = Arc::new(key);
        *self.active.write().await = Some(key.clone());
        Ok(key)
    }

    async fn newest_row(&self, auth: &Auth) -> Result<Option<Record>> {
        let opts = FindMany { limit: Some(1), sort_by: Some(("createdAt".into(), true)), ..Default::default() };
        let filter = [Where::eq("alg", "EdDSA").or(), Where::eq("alg", crate::store::Value::Null).or()];
        Ok(auth.store.find_many("jwks", &filter, opts).await?.into_iter().next())
    }

    async fn create_key(&self, auth: &Auth) -> Result<ActiveKey> {
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let seed = signing.to_bytes();
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        let private = json!({"crv": "Ed25519", "d": URL_SAFE_NO_PAD.encode(seed), "x": x, "kty": "OKP"});
        let encrypted = symmetric::encrypt(auth.secret(), &private.to_string());
        let row = Record::new()
            .with("publicKey", json!({"crv": "Ed25519", "x": x, "kty": "OKP"}).to_string())
            .with("privateKey", Json::String(encrypted).to_string())
            .with("createdAt", now())
            .with("alg", "EdDSA")
            .with("crv", "Ed25519");
        // The id (the JWT `kid`) comes from the adapter (the configured strategy).
        let row = auth.store.create("jwks", row).await?;
        Ok(active_key(row.string("id"), &seed))
    }

    /// `iat`, the user's fields, `sub`, `exp`, `iss`, `aud` (WIRE.md §8).
    pub async fn sign_user(&self, auth: &Auth, user: &User) -> Result<String> {
        let key = self.key(auth).await?;
        let iat = Utc::now().timestamp();
        let mut claims = Map::new();
        claims.insert("iat".into(), iat.into());
        if let Json::Object(fields) = user.to_json() {
            claims.extend(fields);
        }
        claims.insert("sub".into(), user.id().into());
        claims.insert("exp".into(), (iat + self.expiration).into());
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("aud".into(), self.audience.clone().into());
        let header = Header { typ: None, kid: Some(key.kid.clone()), ..Header::new(Algorithm::EdDSA) };
        jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(internal)
    }

    /// The `set-auth-jwt` token of a get-session: a fresh one, or the one signed for this
    /// session in the last minute if the user has not changed since.
    pub async fn for_session(&self, auth: &Auth, user: &User, session_id: &str) -> Result<String> {
        let now = Utc::now().timestamp();
        {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((signed_user, iat, token)) = recent.get(session_id)
                && *signed_user == user.0
                && now - iat < REUSE_SECONDS.min(self.expiration / 2)
            {
                return Ok(token.clone());
            }
        }
        let token = self.sign_user(auth, user).await?;
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() >= MAX_RECENT {
            recent.clear();
        }
        recent.insert(session_id.to_string(), (user.0.clone(), now, token.clone()));
        Ok(token)
    }

    /// Public keys: `{keys:[{alg,crv,x,kty,kid}]}`; retired keys stay for a 30-day grace.
    pub async fn jwks(&self, auth: &Auth) -> Result<Json> {
        self.key(auth).await?;
        let rows = auth.store.find_many("jwks", &[], FindMany::default()).await?;
        let grace = chrono::Duration::days(30);
        let keys: Vec<Json> = rows
            .iter()
            .filter(|r| r.date("expiresAt").is_none_or(|e| e + grace > Utc::now()))
            .filter_map(|r| {
                let public: Json = serde_json::from_str(r.str("publicKey")?).ok()?;
                let alg = r.str("alg").unwrap_or("EdDSA");
                let mut k = Map::new();
                k.insert("alg".into(), alg.into());
                if let Json::Object(p) = public {
                    k.extend(p);
                }
                k.insert("kid".into(), r.string("id").into());
                Some(Json::Object(k))
            })
            .collect();
        Ok(json!({ "keys": keys }))
    }
}
