//! The cookie cache's decoders (src/plugins/cookie_cache/copy.rs): compact, jwt and jwe copies, whole
//! or chunked, genuine, tampered, or signed by us over a hostile payload.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use palisade::auth::{Session, User};
use palisade::config::{CookieCacheConfig, CookieCacheStrategy};
use palisade::crypto::Signer;
use palisade::crypto::jwe::JweKey;
use palisade::http::cookies::{Cookies, SESSION_DATA};
use palisade::plugins::cookie_cache::{Cached, CookieCache};
use palisade::store::schema::{FieldType, Model};
use palisade::store::{Record, Schema, Value};
use serde_json::Value as Json;

use crate::fuzz::generator::Gen;

const SECRET: &str = "fuzz-cookie-cache-secret-0123456789-abcdef";
const STRATEGIES: [CookieCacheStrategy; 3] =
    [CookieCacheStrategy::Compact, CookieCacheStrategy::Jwt, CookieCacheStrategy::Jwe];

pub struct CookieCacheTarget {
    schema: Schema,
    caches: Vec<CookieCache>,
    others: Vec<CookieCache>,
    cookies: Cookies,
    signer: Signer,
    jwe: JweKey,
}

impl CookieCacheTarget {
    pub fn new() -> Self {
        let make = |secret: &str| -> Vec<CookieCache> {
            STRATEGIES
                .iter()
                .map(|&strategy| {
                    let cfg = CookieCacheConfig { enabled: true, strategy, ..Default::default() };
                    CookieCache::new(&cfg, secret.as_bytes())
                })
                .collect()
        };
        CookieCacheTarget {
            schema: {
                let mut s = Schema::core();
                palisade::plugins::jwt::add_jwks_table(&mut s);
                palisade::plugins::two_factor::add_tables(&mut s);
                s
            },
            caches: make(SECRET),
            others: make("another-cookie-cache-secret-0123456789-xyz"),
            cookies: Cookies::new("better-auth", false, 604_800),
            signer: Signer::new(SECRET),
            jwe: JweKey::derive(SECRET.as_bytes(), "better-auth-session"),
        }
    }

    pub fn run(&mut self, g: &mut Gen) {
        match g.below(4) {
            0 => self.round_trip(g),
            1 => self.chunked(g),
            2 => self.signed_hostile_payload(g),
            _ => self.tampered(g),
        }
    }

    fn sample(&self, g: &mut Gen, big: bool) -> (Session, User) {
        let session = Session::try_from(record(g, self.schema.model("session").expect("session model"), big))
            .expect("session row");
        let user = User::try_from(record(g, self.schema.model("user").expect("user model"), big)).expect("user row");
        (session, user)
    }

    /// Encoded by us, decoded by us: the same rows, usable exactly when Better Auth's rules say;
    /// another secret or another strategy reads nothing.
    fn round_trip(&self, g: &mut Gen) {
        let s = g.below(3);
        let (session, user) = self.sample(g, false);
        let now = now_ms(g);
        let value = self.caches[s].encode(&session, &user, g.bool(), now);
        let got = self.caches[s].decode(&self.schema, &value).expect("our own copy decodes");
        assert_eq!(got.session.to_json(), session.to_json());
        assert_eq!(got.user.to_json(), user.to_json());
        assert_eq!(got.version, "1");
        self.check_usable(g, s, &got, now);
        for other in &self.others {
            assert!(other.decode(&self.schema, &value).is_none(), "another secret decoded a copy");
        }
        let wrong = (s + 1 + g.below(2)) % 3;
        assert!(self.caches[wrong].decode(&self.schema, &value).is_none(), "another strategy decoded a copy");
        let remembered = self.caches[s].decode_remembered(&self.schema, &value).expect("remembered copy");
        assert_eq!(remembered.answer, got.answer);
    }

    fn check_usable(&self, g: &mut Gen, s: usize, got: &Cached, now: i64) {
        let token = if g.bool() { got.session.token().to_string() } else { g.text(10) };
        let at = now + g.i64() % 400_000;
        let expected = token == got.session.token()
            && got.version == "1"
            && got.expires_at_ms >= at
            && got.session.expires_at().timestamp_millis() >= at;
        assert_eq!(self.caches[s].usable(got, &token, at), expected, "usable at {at} for {token:?}");
    }

    /// A copy too big for one cookie is split, sent back in chunks and read whole.
    fn chunked(&self, g: &mut Gen) {
        let s = g.below(3);
        let (session, user) = self.sample(g, true);
        let value = self.caches[s].encode(&session, &user, false, now_ms(g));
        let lines = self.cookies.set_chunked(&HeaderMap::new(), SESSION_DATA, &value, Some(300));
        let pairs: Vec<&str> = lines.iter().filter_map(|l| l.split(';').next()).collect();
        let mut h = HeaderMap::new();
        if !pairs.is_empty() {
            h.insert(header::COOKIE, HeaderValue::from_str(&pairs.join("; ")).expect("ASCII cookie"));
        }
        let Some(read) = self.cookies.read_chunked(&h, SESSION_DATA) else {
            assert!(value.len() > 390_000, "a {} byte copy was not set", value.len());
            return;
        };
        assert_eq!(read, value);
        let direct = self.caches[s].decode(&self.schema, &value).is_some();
        let got = self.caches[s].decode(&self.schema, &read).unwrap_or_else(|| {
            panic!("chunked copy decodes ({:?}, {} bytes, whole decodes: {direct})", STRATEGIES[s], value.len())
        });
        assert_eq!(got.user.to_json(), user.to_json());
    }

    /// A payload we signed or encrypted ourselves, but shaped by an attacker (as if the secret
    /// leaked or an old version wrote it): decoding never panics and what it accepts is whole.
    fn signed_hostile_payload(&self, g: &mut Gen) {
        let s = g.below(3);
        let (session, user) = self.sample(g, false);
        let now = now_ms(g);
        let mut payload = serde_json::json!({
            "session": session.to_json(), "user": user.to_json(), "updatedAt": now, "version": "1",
        });
        g.mutate_json(&mut payload);
        let value = match STRATEGIES[s] {
            CookieCacheStrategy::Compact => {
                let inner = payload.to_string();
                let expires = match g.below(4) {
                    0 => g.text(8),
                    1 => g.i64().to_string(),
                    _ => (now + 300_000).to_string(),
                };
                let signature = self.signer.mac_url_safe(&signed_text(&inner, &expires));
                let outer = format!(r#"{{"session":{inner},"expiresAt":{expires},"signature":"{signature}"}}"#);
                URL_SAFE_NO_PAD.encode(outer)
            }
            CookieCacheStrategy::Jwt => {
                let mut claims = payload.as_object().cloned().unwrap_or_default();
                let exp = if g.chance(4) { g.json(1) } else { Json::from(now / 1000 + 300) };
                claims.insert("exp".into(), exp);
                let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
                jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap_or_default()
            }
            CookieCacheStrategy::Jwe => {
                let mut claims = payload;
                if let Json::Object(m) = &mut claims {
                    m.insert("exp".into(), if g.chance(4) { g.json(1) } else { Json::from(now / 1000 + 300) });
                }
                let text = if g.chance(8) { g.mutate(&claims.to_string()) } else { claims.to_string() };
                self.jwe.encrypt(&text)
            }
        };
        if let Some(got) = self.caches[s].decode(&self.schema, &value) {
            assert!(!got.session.id().is_empty() && !got.user.id().is_empty());
            self.check_usable(g, s, &got, now);
        }
    }

    /// A genuine copy with characters changed: rejected (unless the edit only added the
    /// base64 padding a compact copy ignores), and the memo never answers for it.
    fn tampered(&self, g: &mut Gen) {
        let s = g.below(3);
        let (session, user) = self.sample(g, false);
        let value = self.caches[s].encode(&session, &user, false, now_ms(g));
        let bad = g.mutate(&value);
        let got = self.caches[s].decode(&self.schema, &bad);
        let same =
            bad == value || (STRATEGIES[s] == CookieCacheStrategy::Compact && bad.trim_end_matches('=') == value);
        assert_eq!(got.is_some(), same, "tampered copy {bad:?} of {value:?}");
        self.caches[s].decode_remembered(&self.schema, &value).expect("genuine copy");
        assert_eq!(self.caches[s].decode_remembered(&self.schema, &bad).is_some(), same, "the memo answered");
    }
}

/// `{...inner, expiresAt}` as `JSON.stringify` writes it (the compact strategy's signed text).
fn signed_text(inner: &str, expires_at: &str) -> String {
    let body = inner.trim_end().strip_suffix('}').unwrap_or(inner);
    let sep = if body.trim_end().ends_with('{') { "" } else { "," };
    format!(r#"{body}{sep}"expiresAt":{expires_at}}}"#)
}

fn now_ms(g: &mut Gen) -> i64 {
    // Not in the past: a JWT copy is checked against the clock when decoded.
    Utc::now().timestamp_millis() + (g.next_u64() % 1_000_000) as i64
}

/// A date a database could hold, in whole milliseconds (years 1970 to 9999).
fn date(g: &mut Gen) -> DateTime<Utc> {
    let ms = (g.next_u64() % 253_402_300_799_000) as i64;
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A row of `model` in schema order: required fields always, optional ones present, null or
/// left out; `big` makes a copy that needs chunking.
fn record(g: &mut Gen, model: &Model, big: bool) -> Record {
    let mut rec = Record::new();
    for f in &model.fields {
        if !f.required && f.name != "id" {
            match g.below(3) {
                0 => continue,
                1 => {
                    rec.set(&f.name, Value::Null);
                    continue;
                }
                _ => {}
            }
        }
        let v = match f.ty {
            FieldType::String if f.name == "id" => Value::Text(format!("i{}", g.chars_of(b"abc123", 31))),
            FieldType::String if big && g.chance(3) => Value::Text("x".repeat(g.below(40_000))),
            FieldType::String => Value::Text(g.text(60)),
            FieldType::Number => Value::Int(g.i64()),
            FieldType::Boolean => Value::Bool(g.bool()),
            FieldType::Date => Value::Date(date(g)),
            FieldType::Json => Value::Json(g.json(2)),
            FieldType::StringArray => Value::Json(Json::Array((0..g.len(3)).map(|_| g.text(8).into()).collect())),
            FieldType::NumberArray => Value::Json(Json::Array((0..g.len(3)).map(|_| g.i64().into()).collect())),
        };
        rec.set(&f.name, v);
    }
    rec
}
