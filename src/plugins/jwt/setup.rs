//! `[plugins.jwt]` and `[plugins.convex]`, and from them the issuers over one key ring.

#[allow(unused_imports)]
use super::*;

use serde::{Deserialize, Serialize};

use crate::config::{Section, SectionError};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    pub enabled: bool,
    /// Seconds a token lives.
    pub expiration: i64,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Algorithm of new keys (Better Auth's `jwks.keyPairConfig.alg`): EdDSA, RS256, PS256, ES256.
    pub alg: Alg,
    /// Seconds a rotated key stays published after its last token expired (Better Auth's
    /// `jwks.gracePeriod`).
    pub grace_period: i64,
    /// Seconds after which a new key stops signing and the next one is created (Better Auth's
    /// `jwks.rotationInterval`); unset: keys sign until `palisade keys rotate`.
    pub rotation_interval: Option<i64>,
    /// Seconds a node trusts its cached signing key before checking the database for a
    /// rotation made elsewhere (the CLI, another node).
    pub key_recheck: u64,
    /// Static mode: a JWK Set of private keys (`PALISADE_JWKS`); nothing is stored.
    pub jwks: Option<String>,
    /// `sub` of issued tokens (both profiles): `id` (the auth user's id, Better Auth's choice) or
    /// `app` (the app's canonical id in `user.userId` from a user after-create hook, else the id).
    pub subject: Subject,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            expiration: 900,
            issuer: None,
            audience: None,
            alg: Alg::EdDSA,
            grace_period: 2_592_000,
            rotation_interval: None,
            key_recheck: 5,
            jwks: None,
            subject: Subject::default(),
        }
    }
}

impl Section for JwtConfig {
    const KEY: &'static str = "plugins.jwt";
}

/// The Convex profile (WIRE.md §14): `/convex/token`, `/convex/jwks`, discovery, `convex_jwt`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConvexConfig {
    pub enabled: bool,
    /// `iss` of the tokens and the origin of the discovery document (`CONVEX_SITE_URL`);
    /// default: the base URL.
    pub site_url: Option<String>,
    /// `aud` of the tokens (the `applicationID` of Convex's `auth.config.ts`).
    pub application_id: String,
    /// Seconds a token (and the `convex_jwt` cookie) lives.
    pub expiration: i64,
}

impl Default for ConvexConfig {
    fn default() -> Self {
        Self { enabled: false, site_url: None, application_id: "convex".into(), expiration: 900 }
    }
}

impl Section for ConvexConfig {
    const KEY: &'static str = "plugins.convex";
}

/// What keeps the plugin from starting.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] SectionError),
    #[error("PALISADE_JWKS: {0}")]
    StaticKeys(#[source] super::ring::StaticKeysError),
}

impl JwtPlugin {
    /// The JWT plugin's and the Convex profile's issuers over one key ring; `None` when both
    /// are off.
    pub fn from_config(cfg: &Config) -> std::result::Result<Option<Self>, SetupError> {
        let (j, c): (JwtConfig, ConvexConfig) = (cfg.section()?, cfg.section()?);
        if !j.enabled && !c.enabled {
            return Ok(None);
        }
        let base_url = cfg.base_url();
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
            Some(set) => KeyRing::with_static(opts, set).map_err(SetupError::StaticKeys)?,
            None => KeyRing::new(opts),
        });
        let origin = origin_of(&base_url).unwrap_or_else(|| base_url.clone());
        let jwt = j.enabled.then(|| {
            let iss = j.issuer.clone().unwrap_or_else(|| origin.clone());
            let aud = j.audience.clone().unwrap_or_else(|| origin.clone());
            JwtIssuer {
                subject: j.subject,
                ..JwtIssuer::new(Profile::Jwt, j.alg, iss, aud, j.expiration, ring.clone())
            }
        });
        let convex = c.enabled.then(|| {
            let site = c.site_url.clone().unwrap_or_else(|| base_url.clone());
            let site = site.trim_end_matches('/').to_string();
            let issuer =
                JwtIssuer::new(Profile::Convex, CONVEX_ALG, site, c.application_id.clone(), c.expiration, ring.clone());
            JwtIssuer { subject: j.subject, ..issuer }
        });
        Ok(Some(Self { jwt, convex, ring, rotate_route: cfg.admin_key.is_some() }))
    }
}

/// A JWKS as the `data:` URI a Convex `customJwt` provider takes for `jwks`.
pub fn data_uri(jwks: &Json) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(jwks.to_string());
    format!("data:text/plain;charset=utf-8;base64,{b64}")
}
