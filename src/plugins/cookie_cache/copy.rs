//! Better Auth's cookie cache (WIRE.md §12): the session and its user, stamped with `updatedAt`
//! and a `version`, carried in the `session_data` cookie so get-session can answer without the
//! database until the copy expires. Three encodings, all readable by Better Auth and written
//! the way it writes them:
//! * `compact`: base64url(`{"session":{session,user,updatedAt,version},"expiresAt":ms,"signature"}`)
//!   with `signature` = base64url HMAC-SHA256(secret, the inner object with `expiresAt` appended);
//! * `jwt`: HS256 JWT over `{session,user,updatedAt,version,iat,exp}`;
//! * `jwe`: the same claims plus `jti`, encrypted (dir, A256CBC-HS512, HKDF key, salt
//!   `better-auth-session`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};

use crate::auth::{Session, User};
use crate::config::{CookieCacheConfig, CookieCacheStrategy};
use crate::crypto::jwe::JweKey;
use crate::crypto::{Signer, ct_eq};
use crate::http::plugin::SessionCopy;
use crate::store::schema::{Model, value_from_json};
use crate::store::{Record, Schema, Value};

const JWE_SALT: &str = "better-auth-session";
/// Better Auth stamps a "don't remember me" compact copy with one minute (its fallback when
/// the cookie has no Max-Age), the JWT forms with the configured default.
const NO_MAX_AGE_COMPACT_SECONDS: i64 = 60;

pub struct CookieCache {
    strategy: CookieCacheStrategy,
    max_age: i64,
    version: String,
    signer: Signer,
    jwt_encoding: EncodingKey,
    jwt_decoding: DecodingKey,
    jwe: JweKey,
    /// Copies already checked, by the tail of the cookie value (see [`memo_key`]): a client
    /// sends the same copy until it expires, so the signature check, the parse and the
    /// rendering of the answer are done once per copy, not per request.
    checked: Mutex<HashMap<String, (String, Arc<Cached>)>>,
}

/// The memo's key: the value's last bytes, which hold the signature (compact, jwt) or the
/// authentication tag (jwe), so two copies that check out never share it. Hashing 64 bytes
/// instead of the whole ~1 KB value; a hit is confirmed against the whole value.
fn memo_key(value: &str) -> &str {
    value.get(value.len().saturating_sub(64)..).unwrap_or(value)
}

/// Bound of [`CookieCache::checked`]; it is emptied when full.
const MAX_CHECKED: usize = 10_000;

/// A cached copy whose signature (or encryption) checked out; derefs to the session, user and
/// rendered answer get-session serves.
pub struct Cached {
    pub copy: Arc<SessionCopy>,
    /// Milliseconds since the epoch after which the copy must not be used.
    pub expires_at_ms: i64,
    pub version: String,
    /// The session cookie's value for this copy's token (`token.signature`): a request whose
    /// session cookie equals it is this session's, with no HMAC to compute per request.
    pub signed_token: String,
    /// [`Cached::signed_token`] as it appears in a Cookie header (URL-encoded).
    pub signed_token_cookie: String,
}

impl std::ops::Deref for Cached {
    type Target = SessionCopy;
    fn deref(&self) -> &SessionCopy {
        &self.copy
    }
}

impl CookieCache {
    pub fn new(cfg: &CookieCacheConfig, secret: &[u8]) -> CookieCache {
        CookieCache {
            strategy: cfg.strategy,
            max_age: cfg.max_age,
            version: cfg.version.clone(),
            signer: Signer::new(&String::from_utf8_lossy(secret)),
            jwt_encoding: EncodingKey::from_secret(secret),
            jwt_decoding: DecodingKey::from_secret(secret),
            jwe: JweKey::derive(secret, JWE_SALT),
            checked: Mutex::new(HashMap::new()),
        }
    }

    /// [`CookieCache::decode`], remembering copies that checked out (never failures).
    pub fn decode_remembered(&self, schema: &Schema, value: &str) -> Option<Arc<Cached>> {
        let key = memo_key(value);
        if let Some((whole, hit)) = self.checked.lock().unwrap_or_else(|p| p.into_inner()).get(key)
            && whole == value
        {
            return Some(hit.clone());
        }
        let cached = Arc::new(self.decode(schema, value)?);
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        if checked.len() >= MAX_CHECKED {
            checked.clear();
        }
        checked.insert(key.to_string(), (value.to_string(), cached.clone()));
        Some(cached)
    }

    /// The cookie's Max-Age: none (a browser-session cookie) when the session is not remembered.
    pub fn cookie_max_age(&self, dont_remember: bool) -> Option<i64> {
        (!dont_remember).then_some(self.max_age)
    }

    /// The cookie value for `session` and `user`, stamped at `now_ms`.
    pub fn encode(&self, session: &Session, user: &User, dont_remember: bool, now_ms: i64) -> String {
        let mut data = Map::new();
        data.insert("session".into(), session.to_json());
        data.insert("user".into(), user.to_json());
        data.insert("updatedAt".into(), now_ms.into());
        data.insert("version".into(), self.version.clone().into());
        match self.strategy {
            CookieCacheStrategy::Compact => {
                let ttl = if dont_remember { NO_MAX_AGE_COMPACT_SECONDS } else { self.max_age };
                self.encode_compact(&Json::Object(data).to_string(), now_ms + ttl * 1000)
            }
            CookieCacheStrategy::Jwt | CookieCacheStrategy::Jwe => {
                let iat = now_ms.div_euclid(1000);
                data.insert("iat".into(), iat.into());
                data.insert("exp".into(), (iat + self.max_age).into());
                if self.strategy == CookieCacheStrategy::Jwt {
                    let header = Header { typ: None, ..Header::new(Algorithm::HS256) };
                    return jsonwebtoken::encode(&header, &data, &self.jwt_encoding).unwrap_or_default();
                }
                data.insert("jti".into(), crate::store::schema::uuid_v4().into());
                self.jwe.encrypt(&Json::Object(data).to_string())
            }
        }
    }

    /// `inner` is the serialized `{session,user,updatedAt,version}`; the signed text is the
    /// same object with `"expiresAt"` appended, exactly as `JSON.stringify` writes it.
    fn encode_compact(&self, inner: &str, expires_at: i64) -> String {
        use base64::Engine;
        let signature = self.signer.mac_url_safe(&signed_text(inner, &expires_at.to_string()));
        let outer = format!(r#"{{"session":{inner},"expiresAt":{expires_at},"signature":"{signature}"}}"#);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(outer)
    }

    /// Checks and parses a cookie value; `None` when it is forged, garbled or not ours.
    /// Expiry and the session token are checked by [`Cached::usable`].
    pub fn decode(&self, schema: &Schema, value: &str) -> Option<Cached> {
        let (payload, expires_at_ms) = match self.strategy {
            CookieCacheStrategy::Compact => self.decode_compact(value)?,
            CookieCacheStrategy::Jwt => {
                let mut v = Validation::new(Algorithm::HS256);
                v.leeway = 0;
                v.validate_aud = false;
                v.set_required_spec_claims(&["exp"]);
                let claims = jsonwebtoken::decode::<Json>(value, &self.jwt_decoding, &v).ok()?.claims;
                let exp = claims.get("exp")?.as_i64()?;
                (claims, exp.checked_mul(1000)?)
            }
            CookieCacheStrategy::Jwe => {
                let claims: Json = serde_json::from_str(&self.jwe.decrypt(value)?).ok()?;
                let exp = claims.get("exp")?.as_i64()?;
                (claims, exp.checked_mul(1000)?)
            }
        };
        let session = Session::try_from(record(schema.model("session").ok()?, payload.get("session")?)?).ok()?;
        let user = User::try_from(record(schema.model("user").ok()?, payload.get("user")?)?).ok()?;
        payload.get("updatedAt")?.as_f64()?;
        let version = match payload.get("version") {
            None | Some(Json::Null) => "1".to_string(),
            Some(v) => v.as_str()?.to_string(),
        };
        // The typed rows require token, userId, email, name and expiresAt.
        if session.id().is_empty() || user.id().is_empty() {
            return None;
        }
        let answer = Json::from_iter([("session".to_string(), session.to_json()), ("user".into(), user.to_json())]);
        let signed_token = self.signer.sign(session.token());
        let signed_token_cookie = crate::auth::password::encode_component(&signed_token);
        let answer = Bytes::from(answer.to_string());
        let copy = Arc::new(SessionCopy { session, user, answer });
        Some(Cached { copy, signed_token, signed_token_cookie, expires_at_ms, version })
    }

    fn decode_compact(&self, value: &str) -> Option<(Json, i64)> {
        use base64::Engine;
        #[derive(Deserialize)]
        struct Outer<'a> {
            #[serde(borrow)]
            session: &'a RawValue,
            #[serde(rename = "expiresAt", borrow)]
            expires_at: &'a RawValue,
            signature: String,
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).ok()?;
        let outer: Outer = serde_json::from_slice(&bytes).ok()?;
        let expires_at: i64 = outer.expires_at.get().parse().ok()?;
        let expected = self.signer.mac_url_safe(&signed_text(outer.session.get(), outer.expires_at.get()));
        if !ct_eq(&expected, &outer.signature) {
            return None;
        }
        Some((serde_json::from_str(outer.session.get()).ok()?, expires_at))
    }

    /// Whether a checked copy may answer for the request's `token` at `now_ms` (Better Auth's
    /// rules: same token, current version, neither the copy nor the session expired).
    pub fn usable(&self, cached: &Cached, token: &str, now_ms: i64) -> bool {
        ct_eq(cached.session.token(), token)
            && cached.version == self.version
            && cached.expires_at_ms >= now_ms
            && cached.session.expires_at().timestamp_millis() >= now_ms
    }
}

/// `{...inner, expiresAt}` as `JSON.stringify` writes it: the key appended before the brace.
fn signed_text(inner: &str, expires_at: &str) -> String {
    let body = inner.trim_end().strip_suffix('}').unwrap_or(inner);
    let sep = if body.trim_end().ends_with('{') { "" } else { "," };
    format!(r#"{body}{sep}"expiresAt":{expires_at}}}"#)
}

/// A JSON object as a row of `model`, in schema order; fields it lacks are left out. `None`
/// when a value does not fit its field's type.
fn record(model: &Model, obj: &Json) -> Option<Record> {
    let obj = obj.as_object()?;
    let mut rec = Record::new();
    for f in &model.fields {
        match obj.get(&f.name) {
            None => {}
            Some(Json::Null) => rec.set(&f.name, Value::Null),
            Some(v) => rec.set(&f.name, value_from_json(f.ty, v).ok()?),
        }
    }
    Some(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::Plugins;

    const SECRET: &[u8] = b"cookie-cache-secret-0123456789-abcdefgh";

    fn sample() -> (Session, User) {
        let at = crate::store::schema::parse_date("2030-01-02T03:04:05.678Z").unwrap();
        let session = Record::new()
            .with("id", "s1")
            .with("expiresAt", at)
            .with("token", "tok")
            .with("createdAt", at)
            .with("updatedAt", at)
            .with("ipAddress", Value::Null)
            .with("userAgent", "ua \"quoted\" é")
            .with("userId", "u1");
        let user = Record::new()
            .with("id", "u1")
            .with("name", "N")
            .with("email", "n@x.io")
            .with("emailVerified", false)
            .with("image", Value::Null)
            .with("createdAt", at)
            .with("updatedAt", at)
            .with("twoFactorEnabled", false);
        (Session::try_from(session).unwrap(), User::try_from(user).unwrap())
    }

    fn cache(strategy: CookieCacheStrategy) -> CookieCache {
        let cfg = CookieCacheConfig { enabled: true, strategy, ..Default::default() };
        CookieCache::new(&cfg, SECRET)
    }

    #[test]
    fn every_strategy_round_trips_and_rejects_another_secret() {
        let schema = Schema::better_auth(Plugins { jwt: true, two_factor: true });
        let (s, u) = sample();
        let now = chrono::Utc::now().timestamp_millis();
        for strategy in [CookieCacheStrategy::Compact, CookieCacheStrategy::Jwt, CookieCacheStrategy::Jwe] {
            let c = cache(strategy);
            let v = c.encode(&s, &u, false, now);
            let got = c.decode(&schema, &v).expect("decodes");
            assert_eq!(got.session.to_json(), s.to_json(), "{strategy:?}");
            assert_eq!(got.user.to_json(), u.to_json(), "{strategy:?}");
            assert!(c.usable(&got, "tok", now), "{strategy:?}");
            assert!(!c.usable(&got, "other", now));
            assert!(!c.usable(&got, "tok", now + 301_000));
            let other = CookieCache::new(&CookieCacheConfig { strategy, ..Default::default() }, b"another-secret-000");
            assert!(other.decode(&schema, &v).is_none(), "{strategy:?}");
        }
    }

    #[test]
    fn compact_signs_the_inner_object_with_expires_at_appended() {
        let c = cache(CookieCacheStrategy::Compact);
        let (s, u) = sample();
        let v = c.encode(&s, &u, false, 1_000);
        use base64::Engine;
        let outer: Json =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&v).unwrap()).unwrap();
        assert_eq!(outer.as_object().unwrap().keys().collect::<Vec<_>>(), ["session", "expiresAt", "signature"]);
        assert_eq!(outer["expiresAt"], 301_000);
        let mut signed = outer["session"].clone();
        signed.as_object_mut().unwrap().insert("expiresAt".into(), 301_000.into());
        assert_eq!(
            outer["signature"],
            Signer::new(std::str::from_utf8(SECRET).unwrap()).mac_url_safe(&signed.to_string())
        );
        // "Don't remember me": one minute.
        let short = c.encode(&s, &u, true, 1_000);
        let outer: Json =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&short).unwrap()).unwrap();
        assert_eq!(outer["expiresAt"], 61_000);
    }

    #[test]
    fn signed_text_appends_like_json_stringify() {
        assert_eq!(signed_text(r#"{"a":1}"#, "5"), r#"{"a":1,"expiresAt":5}"#);
        assert_eq!(signed_text("{}", "5"), r#"{"expiresAt":5}"#);
    }
}
