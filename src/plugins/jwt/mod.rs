//! The JWT plugin (WIRE.md §8) and the Convex profile (WIRE.md §14): short-lived tokens for
//! the app's backend, signed with keys from the `jwks` table (private JWK encrypted as WIRE.md
//! §15.4, readable by Better Auth both ways) or from a static JWK Set in the environment.
//!
//! Rotation keeps everybody signed in: a rotated key stops signing at once (its `expiresAt`
//! is set to now, which Better Auth also honours) but stays published until every token it
//! signed has expired, plus a grace period; then it is retired.

pub mod keys;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json, json};

use crate::auth::origins::origin_of;
use crate::auth::{Auth, User};
use crate::config::Config;
use crate::crypto::symmetric;
use crate::error::{ApiError, Result};
use crate::store::{FindMany, Ops, Record, Where, now};
pub use keys::{Alg, KeyPair};

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal("jwt", e)
}

/// A key ready to sign.
struct Loaded {
    kid: String,
    pair: Arc<KeyPair>,
    expires_at: Option<DateTime<Utc>>,
    checked: Instant,
}

/// How the key ring behaves (from `[plugins.jwt]` and the profiles in use).
pub struct RingOptions {
    /// The algorithm of rows whose `alg` is NULL (Better Auth: `keyPairConfig.alg`).
    pub default_alg: Alg,
    /// The algorithms that sign (one current key each); `keys rotate` renews them all.
    pub algs: Vec<Alg>,
    /// Seconds a retired key stays published after its last token expired.
    pub grace_period: i64,
    /// The longest token lifetime of the profiles, in seconds.
    pub max_lifetime: i64,
    /// New keys stop signing after this many seconds (Better Auth's `rotationInterval`).
    pub rotation_interval: Option<i64>,
    /// How long this process trusts its cached current key before asking the database
    /// again, so a rotation made elsewhere (CLI, another node) is picked up.
    pub recheck: Duration,
}

/// The signing keys: current key per algorithm, the published set, rotation.
pub struct KeyRing {
    opts: RingOptions,
    /// Static mode: `(kid, key)` from the environment, never stored.
    fixed: Option<Vec<(String, Arc<KeyPair>)>>,
    current: std::sync::RwLock<HashMap<Alg, Arc<Loaded>>>,
    creating: tokio::sync::Mutex<()>,
    /// Bumped whenever a current key changes: tokens kept for reuse are dropped.
    generation: AtomicU64,
}

/// One row of `keys list`.
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    pub created_at: Option<DateTime<Utc>>,
    /// `None` while the key signs; else when it stopped.
    pub expires_at: Option<DateTime<Utc>>,
    pub published: bool,
}

impl KeyRing {
    pub fn new(opts: RingOptions) -> Self {
        Self::build(opts, None)
    }

    /// Static mode: a JWK Set of private keys (`{"keys":[…]}`, each with `kid`; `alg` may be
    /// implied by the key type). For each algorithm the first key signs; all are published.
    pub fn with_static(opts: RingOptions, jwks: &str) -> std::result::Result<Self, String> {
        let set: Json = serde_json::from_str(jwks).map_err(|e| format!("static JWKS is not JSON: {e}"))?;
        let list = set["keys"].as_array().ok_or("static JWKS needs a \"keys\" array")?;
        let mut fixed = Vec::new();
        for (i, jwk) in list.iter().enumerate() {
            let kid = jwk["kid"].as_str().filter(|k| !k.is_empty()).ok_or(format!("static JWKS key {i} has no kid"))?;
            let alg = match jwk["alg"].as_str() {
                Some(a) => Alg::parse(a).ok_or(format!("static JWKS key {kid}: unsupported alg {a}"))?,
                None => Alg::implied_by(jwk).ok_or(format!("static JWKS key {kid}: unsupported key type"))?,
            };
            let pair = KeyPair::from_private_jwk(alg, jwk).map_err(|e| format!("static JWKS key {kid}: {e}"))?;
            fixed.push((kid.to_string(), Arc::new(pair)));
        }
        if let Some(missing) = opts.algs.iter().find(|a| !fixed.iter().any(|(_, p)| p.alg == **a)) {
            return Err(format!("static JWKS has no {} key", missing.name()));
        }
        Ok(Self::build(opts, Some(fixed)))
    }

    fn build(opts: RingOptions, fixed: Option<Vec<(String, Arc<KeyPair>)>>) -> Self {
        Self { opts, fixed, current: Default::default(), creating: Default::default(), generation: AtomicU64::new(0) }
    }

    pub fn is_static(&self) -> bool {
        self.fixed.is_some()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn cached(&self, alg: Alg) -> Option<Arc<Loaded>> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        let l = current.get(&alg)?;
        let fresh = l.checked.elapsed() < self.opts.recheck && l.expires_at.is_none_or(|e| e > Utc::now());
        fresh.then(|| l.clone())
    }

    /// The key that signs `alg` now: the newest live row of that algorithm, created on first
    /// use as Better Auth does.
    pub async fn signer(&self, auth: &Auth, alg: Alg) -> Result<(String, Arc<KeyPair>)> {
        if let Some(fixed) = &self.fixed {
            return fixed
                .iter()
                .find(|(_, p)| p.alg == alg)
                .map(|(kid, p)| (kid.clone(), p.clone()))
                .ok_or_else(|| internal(format!("the static JWKS has no {} key", alg.name())));
        }
        if let Some(l) = self.cached(alg) {
            return Ok((l.kid.clone(), l.pair.clone()));
        }
        let _guard = self.creating.lock().await;
        if let Some(l) = self.cached(alg) {
            return Ok((l.kid.clone(), l.pair.clone()));
        }
        let rows = auth.store.find_many("jwks", &[], FindMany::default()).await?;
        let newest = rows
            .iter()
            .filter(|r| self.row_alg(r) == Some(alg) && r.date("expiresAt").is_none_or(|e| e > Utc::now()))
            .max_by_key(|r| r.date("createdAt"));
        let previous = self.current.read().unwrap_or_else(|p| p.into_inner()).get(&alg).cloned();
        let loaded = match newest {
            Some(row) => {
                let kid = row.string("id");
                let pair = match previous.as_ref().filter(|p| p.kid == kid) {
                    Some(p) => p.pair.clone(),
                    None => Arc::new(decrypt_row(auth, alg, row)?),
                };
                Loaded { kid, pair, expires_at: row.date("expiresAt"), checked: Instant::now() }
            }
            None => self.create(auth, auth.store.as_ref(), alg).await?,
        };
        if previous.as_ref().is_none_or(|p| p.kid != loaded.kid) {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        let loaded = Arc::new(loaded);
        self.current.write().unwrap_or_else(|p| p.into_inner()).insert(alg, loaded.clone());
        Ok((loaded.kid.clone(), loaded.pair.clone()))
    }

    fn row_alg(&self, row: &Record) -> Option<Alg> {
        match row.str("alg") {
            Some(a) => Alg::parse(a),
            None => Some(self.opts.default_alg),
        }
    }

    async fn create(&self, auth: &Auth, store: &dyn Ops, alg: Alg) -> Result<Loaded> {
        // RSA key generation takes a while: off the async workers.
        let pair = tokio::task::spawn_blocking(move || KeyPair::generate(alg)).await.map_err(internal)?;
        let pair = pair.map_err(internal)?;
        let encrypted = symmetric::encrypt(auth.secret(), &pair.private_jwk.to_string());
        let created = now();
        let expires_at = self.opts.rotation_interval.map(|s| created + chrono::Duration::seconds(s));
        let mut row = Record::new()
            .with("publicKey", pair.public_jwk.to_string())
            .with("privateKey", Json::String(encrypted).to_string())
            .with("createdAt", created)
            .with("alg", alg.name());
        if let Some(crv) = alg.crv() {
            row.set("crv", crv);
        }
        if let Some(e) = expires_at {
            row.set("expiresAt", e);
        }
        // The id (the JWT `kid`) comes from the adapter (the configured id strategy).
        let row = store.create("jwks", row).await?;
        Ok(Loaded { kid: row.string("id"), pair: Arc::new(pair), expires_at, checked: Instant::now() })
    }

    /// Published while it signs, and afterwards until its last token expired plus the grace.
    fn published(&self, expires_at: Option<DateTime<Utc>>) -> bool {
        let linger = chrono::Duration::seconds(self.opts.max_lifetime + self.opts.grace_period);
        expires_at.is_none_or(|e| e + linger > Utc::now())
    }

    /// The public JWK Set, limited to `only` when given (`{alg, crv, …publicKey, kid}`).
    pub async fn jwks(&self, auth: &Auth, only: Option<Alg>) -> Result<Json> {
        if let Some(fixed) = &self.fixed {
            let keys = fixed
                .iter()
                .filter(|(_, p)| only.is_none_or(|a| a == p.alg))
                .map(|(kid, p)| public_entry(p.alg.name(), None, &p.public_jwk, kid))
                .collect();
            return Ok(json!({ "keys": Json::Array(keys) }));
        }
        for alg in only.map_or_else(|| self.opts.algs.clone(), |a| vec![a]) {
            self.signer(auth, alg).await?;
        }
        let rows = auth.store.find_many("jwks", &[], FindMany::default()).await?;
        let keys = rows
            .iter()
            .filter(|r| self.published(r.date("expiresAt")))
            .filter_map(|r| {
                let alg = self.row_alg(r)?;
                if only.is_some_and(|a| a != alg) {
                    return None;
                }
                let public: Json = serde_json::from_str(r.str("publicKey")?).ok()?;
                Some(public_entry(alg.name(), r.str("crv"), &public, &r.string("id")))
            })
            .collect();
        Ok(json!({ "keys": Json::Array(keys) }))
    }

    /// New keys for every signing algorithm; the keys they replace stop signing now and are
    /// retired after their tokens' lifetime plus the grace period. Retired rows are deleted.
    pub async fn rotate(&self, auth: &Auth) -> Result<Vec<(String, Alg)>> {
        if self.is_static() {
            return Err(ApiError::new(
                400,
                "STATIC_JWKS",
                "Keys come from the static JWKS: rotate by putting the new key first and keeping the old one until its tokens expire",
            ));
        }
        let _guard = self.creating.lock().await;
        let tx = auth.store.begin().await?;
        let old = tx.find_many("jwks", &[], FindMany::default()).await?;
        let mut fresh = Vec::new();
        for alg in &self.opts.algs {
            fresh.push(self.create(auth, tx.as_ref(), *alg).await?);
        }
        let stamp = now();
        for row in &old {
            let id = row.string("id");
            if !self.published(row.date("expiresAt")) {
                tx.delete("jwks", &[Where::eq("id", id.as_str())]).await?;
            } else if row.date("expiresAt").is_none_or(|e| e > stamp) {
                tx.update("jwks", &[Where::eq("id", id.as_str())], Record::new().with("expiresAt", stamp)).await?;
            }
        }
        tx.commit().await?;
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        current.clear();
        let out = fresh.iter().map(|l| (l.kid.clone(), l.pair.alg)).collect();
        for l in fresh {
            current.insert(l.pair.alg, Arc::new(l));
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        tracing::info!(keys = ?out, "jwks rotated");
        Ok(out)
    }

    /// Every stored (or static) key with its state, newest first.
    pub async fn list(&self, auth: &Auth) -> Result<Vec<KeyInfo>> {
        if let Some(fixed) = &self.fixed {
            return Ok(fixed
                .iter()
                .map(|(kid, p)| KeyInfo {
                    kid: kid.clone(),
                    alg: p.alg.name().into(),
                    created_at: None,
                    expires_at: None,
                    published: true,
                })
                .collect());
        }
        let opts = FindMany { sort_by: Some(("createdAt".into(), true)), ..Default::default() };
        let rows = auth.store.find_many("jwks", &[], opts).await?;
        Ok(rows
            .iter()
            .map(|r| KeyInfo {
                kid: r.string("id"),
                alg: self.row_alg(r).map_or_else(|| r.string("alg"), |a| a.name().into()),
                created_at: r.date("createdAt"),
                expires_at: r.date("expiresAt"),
                published: self.published(r.date("expiresAt")),
            })
            .collect())
    }
}

fn decrypt_row(auth: &Auth, alg: Alg, row: &Record) -> Result<KeyPair> {
    // The column holds a JSON string literal of the encrypted hex.
    let stored = row.string("privateKey");
    let hex_ct: String = serde_json::from_str(&stored).unwrap_or(stored);
    let jwk = symmetric::decrypt(auth.secret(), &hex_ct)
        .ok_or_else(|| internal("jwks private key cannot be decrypted with the current secret"))?;
    let jwk: Json = serde_json::from_str(&jwk).map_err(internal)?;
    KeyPair::from_private_jwk(alg, &jwk).map_err(internal)
}

fn public_entry(alg: &str, crv: Option<&str>, public: &Json, kid: &str) -> Json {
    let mut k = Map::new();
    k.insert("alg".into(), alg.into());
    if let Some(crv) = crv {
        k.insert("crv".into(), crv.into());
    }
    if let Json::Object(p) = public {
        k.extend(
            p.iter()
                .filter(|(name, _)| !["d", "p", "q", "dp", "dq", "qi"].contains(&name.as_str()))
                .map(|(name, v)| (name.clone(), v.clone())),
        );
    }
    k.insert("kid".into(), kid.into());
    Json::Object(k)
}

/// Which claims a token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// WIRE.md §8: `iat`, every user field, `sub`, `exp`, `iss`, `aud`.
    Jwt,
    /// WIRE.md §14: `iat`, user fields minus `id` and `image`, `sessionId`, `sub`, `exp`, `iss`, `aud`.
    Convex,
}

/// Convex verifies `customJwt` providers with RS256 only (WIRE.md §14).
pub const CONVEX_ALG: Alg = Alg::RS256;

/// A get-session / Convex token is reused for this long while the user is unchanged: it still
/// has at least `expiration - REUSE_SECONDS` to live, and signing is the costliest step.
const REUSE_SECONDS: i64 = 60;
const MAX_RECENT: usize = 100_000;

/// The user as signed, when, under which key generation, and the token.
type Recent = (User, i64, u64, String);

/// Tokens of one profile.
/// Which id a token's `sub` carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    #[default]
    Id,
    App,
}

pub struct JwtIssuer {
    pub subject: Subject,
    pub issuer: String,
    pub audience: String,
    pub expiration: i64,
    pub alg: Alg,
    pub profile: Profile,
    pub ring: Arc<KeyRing>,
    recent: std::sync::Mutex<HashMap<String, Recent>>,
}

impl JwtIssuer {
    pub fn new(
        profile: Profile,
        alg: Alg,
        issuer: String,
        audience: String,
        expiration: i64,
        ring: Arc<KeyRing>,
    ) -> Self {
        Self { subject: Subject::Id, issuer, audience, expiration, alg, profile, ring, recent: Default::default() }
    }

    /// The token's `sub`: the auth user's id, or with `subject = "app"` the app's id. Never the
    /// auth id in its place (the two id spaces may overlap: that would name someone else), and
    /// never empty: a user without an app id yet gets no token, 403 `EMAIL_NOT_VERIFIED` while
    /// the email is unverified (its adoption waits for that), else 403 `APP_USER_NOT_LINKED`.
    pub fn subject_of<'a>(&self, user: &'a User) -> Result<&'a str> {
        if self.subject == Subject::Id {
            return Ok(user.id());
        }
        match user.extra.str(crate::store::hooks::APP_USER_ID).filter(|id| !id.is_empty()) {
            Some(id) => Ok(id),
            None if !user.email_verified() => Err(crate::error::codes::email_not_verified()),
            None => Err(ApiError::new(403, "APP_USER_NOT_LINKED", "The user has no app user")),
        }
    }

    fn claims(&self, user: &User, session_id: &str, iat: i64) -> Result<Json> {
        let mut claims = Map::new();
        claims.insert("iat".into(), iat.into());
        if let Json::Object(fields) = user.to_json() {
            match self.profile {
                Profile::Jwt => claims.extend(fields),
                Profile::Convex => claims.extend(fields.into_iter().filter(|(k, _)| k != "id" && k != "image")),
            }
        }
        if self.profile == Profile::Convex {
            claims.insert("sessionId".into(), session_id.into());
        }
        claims.insert("sub".into(), self.subject_of(user)?.into());
        claims.insert("exp".into(), (iat + self.expiration).into());
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("aud".into(), self.audience.clone().into());
        Ok(Json::Object(claims))
    }

    /// A freshly signed token for this user and session.
    pub async fn sign_user(&self, auth: &Auth, user: &User, session_id: &str) -> Result<String> {
        let claims = self.claims(user, session_id, Utc::now().timestamp())?;
        let (kid, pair) = self.ring.signer(auth, self.alg).await?;
        if matches!(self.alg, Alg::RS256 | Alg::PS256) {
            // RSA signing takes a millisecond or more: keep it off the async workers.
            return tokio::task::spawn_blocking(move || pair.jwt(&kid, &claims)).await.map_err(internal);
        }
        Ok(pair.jwt(&kid, &claims))
    }

    /// The token of a get-session or `/convex/token`: a fresh one, or the one signed for this
    /// session in the last minute if the user and the signing key have not changed since.
    pub async fn for_session(&self, auth: &Auth, user: &User, session_id: &str) -> Result<String> {
        let now = Utc::now().timestamp();
        // Asking for the key first lets a rotation seen elsewhere bump the generation.
        self.ring.signer(auth, self.alg).await?;
        let generation = self.ring.generation();
        {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((signed_user, iat, g, token)) = recent.get(session_id)
                && *g == generation
                && signed_user == user
                && now - iat < REUSE_SECONDS.min(self.expiration / 2)
            {
                return Ok(token.clone());
            }
        }
        let token = self.sign_user(auth, user, session_id).await?;
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() >= MAX_RECENT {
            recent.clear();
        }
        recent.insert(session_id.to_string(), (user.clone(), now, generation, token.clone()));
        Ok(token)
    }

    /// The JWKS this profile publishes: every key for the JWT plugin (as Better Auth does),
    /// only its own algorithm's keys for Convex.
    pub async fn jwks(&self, auth: &Auth) -> Result<Json> {
        let only = (self.profile == Profile::Convex).then_some(self.alg);
        self.ring.jwks(auth, only).await
    }

    /// OpenID Provider metadata for relying parties that discover keys from the issuer.
    /// `authorization_endpoint`, `response_types_supported` and `subject_types_supported` are
    /// required by OpenID Connect Discovery (strict parsers refuse a document without them);
    /// the values are those of Better Auth's document for the Convex profile.
    pub fn openid_configuration(&self, api_url: &str, jwks_path: &str) -> Json {
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": format!("{api_url}/oauth2/authorize"),
            "jwks_uri": format!("{api_url}{jwks_path}"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.alg.name()],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "email", "email_verified", "name"],
        })
    }
}

/// The key ring shared by the JWT plugin and the Convex profile, if either is on.
pub fn ring(auth: &Auth) -> Option<&Arc<KeyRing>> {
    auth.jwt.as_ref().or(auth.convex.as_ref()).map(|j| &j.ring)
}

/// The JWT plugin's and the Convex profile's issuers, over one key ring, from the configuration.
pub fn issuers(cfg: &Config, base_url: &str) -> std::result::Result<(Option<JwtIssuer>, Option<JwtIssuer>), String> {
    let (j, c) = (&cfg.plugins.jwt, &cfg.plugins.convex);
    if !j.enabled && !c.enabled {
        return Ok((None, None));
    }
    let mut algs = Vec::new();
    if j.enabled {
        algs.push(j.alg);
    }
    if c.enabled && !algs.contains(&CONVEX_ALG) {
        algs.push(CONVEX_ALG);
    }
    let lifetimes = [j.enabled.then_some(j.expiration), c.enabled.then_some(c.expiration)];
    let opts = RingOptions {
        default_alg: j.alg,
        algs,
        grace_period: j.grace_period,
        max_lifetime: lifetimes.into_iter().flatten().max().unwrap_or(0),
        rotation_interval: j.rotation_interval,
        recheck: Duration::from_secs(j.key_recheck),
    };
    let ring = Arc::new(match j.jwks.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(set) => KeyRing::with_static(opts, set).map_err(|e| format!("PALISADE_JWKS: {e}"))?,
        None => KeyRing::new(opts),
    });
    let origin = origin_of(base_url).unwrap_or_else(|| base_url.to_string());
    let jwt = j.enabled.then(|| {
        let iss = j.issuer.clone().unwrap_or_else(|| origin.clone());
        let aud = j.audience.clone().unwrap_or_else(|| origin.clone());
        JwtIssuer { subject: j.subject, ..JwtIssuer::new(Profile::Jwt, j.alg, iss, aud, j.expiration, ring.clone()) }
    });
    let convex = c.enabled.then(|| {
        let site = c.site_url.clone().unwrap_or_else(|| base_url.to_string());
        let site = site.trim_end_matches('/').to_string();
        let issuer =
            JwtIssuer::new(Profile::Convex, CONVEX_ALG, site, c.application_id.clone(), c.expiration, ring.clone());
        JwtIssuer { subject: j.subject, ..issuer }
    });
    Ok((jwt, convex))
}

/// A JWKS as the `data:` URI a Convex `customJwt` provider takes for `jwks`.
pub fn data_uri(jwks: &Json) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(jwks.to_string());
    format!("data:text/plain;charset=utf-8;base64,{b64}")
}
