//! The signing keys: the current key per algorithm, the published set, rotation and retirement.

#[allow(unused_imports)]
use super::*;

/// A key ready to sign.
pub(super) struct Loaded {
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

/// A static JWK Set (`PALISADE_JWKS`) that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StaticKeysError {
    #[error("static JWKS is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("static JWKS needs a \"keys\" array")]
    NoKeys,
    #[error("static JWKS key {0} has no kid")]
    NoKid(usize),
    #[error("static JWKS key {kid}: unsupported alg {alg}")]
    Alg { kid: String, alg: String },
    #[error("static JWKS key {0}: unsupported key type")]
    KeyType(String),
    #[error("static JWKS key {kid}: {source}")]
    Key { kid: String, source: super::keys::KeyError },
    #[error("static JWKS has no {0} key")]
    Missing(&'static str),
}

impl KeyRing {
    pub fn new(opts: RingOptions) -> Self {
        Self::build(opts, None)
    }

    /// Static mode: a JWK Set of private keys (`{"keys":[…]}`, each with `kid`; `alg` may be
    /// implied by the key type). For each algorithm the first key signs; all are published.
    pub fn with_static(opts: RingOptions, jwks: &str) -> std::result::Result<Self, StaticKeysError> {
        use StaticKeysError as E;
        let set: Json = serde_json::from_str(jwks).map_err(E::NotJson)?;
        let list = set["keys"].as_array().ok_or(E::NoKeys)?;
        let mut fixed = Vec::new();
        for (i, jwk) in list.iter().enumerate() {
            let kid = jwk["kid"].as_str().filter(|k| !k.is_empty()).ok_or(E::NoKid(i))?;
            let alg = match jwk["alg"].as_str() {
                Some(a) => Alg::parse(a).ok_or_else(|| E::Alg { kid: kid.to_string(), alg: a.to_string() })?,
                None => Alg::implied_by(jwk).ok_or_else(|| E::KeyType(kid.to_string()))?,
            };
            let pair = KeyPair::from_private_jwk(alg, jwk).map_err(|source| E::Key { kid: kid.to_string(), source })?;
            fixed.push((kid.to_string(), Arc::new(pair)));
        }
        if let Some(missing) = opts.algs.iter().find(|a| !fixed.iter().any(|(_, p)| p.alg == **a)) {
            return Err(E::Missing(missing.name()));
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

pub(super) fn decrypt_row(auth: &Auth, alg: Alg, row: &Record) -> Result<KeyPair> {
    // The column holds a JSON string literal of the encrypted hex.
    let stored = row.string("privateKey");
    let hex_ct: String = serde_json::from_str(&stored).unwrap_or(stored);
    let jwk = symmetric::decrypt(auth.secret(), &hex_ct)
        .ok_or_else(|| internal("jwks private key cannot be decrypted with the current secret"))?;
    let jwk: Json = serde_json::from_str(&jwk).map_err(internal)?;
    KeyPair::from_private_jwk(alg, &jwk).map_err(internal)
}

pub(super) fn public_entry(alg: &str, crv: Option<&str>, public: &Json, kid: &str) -> Json {
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
