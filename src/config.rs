//! Configuration in layers: defaults < `palisade.toml` < environment.
//! Unknown or ill-typed keys are errors that name the key and where it came from.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `development` or `production` (`PALISADE_ENV`).
    pub env: Environment,
    /// Address to listen on (`PALISADE_LISTEN`).
    pub listen: String,
    /// Public origin of this server (`BASE_URL`); defaults to `http://{listen}`.
    pub base_url: Option<String>,
    pub base_path: String,
    /// HMAC / encryption secret (`BETTER_AUTH_SECRET`).
    pub secret: Option<String>,
    pub app_name: String,
    /// Folder for the default database and the generated development secret.
    pub data_dir: PathBuf,
    pub trusted_origins: Vec<String>,
    pub database: DatabaseConfig,
    pub secondary_storage: SecondaryStorageConfig,
    pub email_and_password: EmailPasswordConfig,
    pub email_verification: EmailVerificationConfig,
    pub session: SessionConfig,
    pub user: UserConfig,
    pub rate_limit: RateLimitConfig,
    pub advanced: AdvancedConfig,
    pub email: EmailConfig,
    pub plugins: PluginsConfig,
    /// Table and column names, additional fields, id strategy (`src/store/schema_config.rs`).
    #[serde(default)]
    pub schema: crate::store::schema_config::SchemaConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path` (default `{data_dir}/palisade.db`); `DATABASE_URL`.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecondaryStorageConfig {
    /// `redis://…` (`REDIS_URL`), or `memory://` for one process.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailPasswordConfig {
    pub enabled: bool,
    pub min_password_length: usize,
    pub max_password_length: usize,
    pub require_email_verification: bool,
    pub revoke_sessions_on_password_reset: bool,
    /// Seconds a password-reset token lives.
    pub reset_password_token_expires_in: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailVerificationConfig {
    /// Seconds an email-verification token lives.
    pub expires_in: i64,
    pub send_on_sign_up: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    pub expires_in: i64,
    pub update_age: i64,
    pub fresh_age: i64,
    /// Seconds a session or user row may be served from this process's memory. Writes made
    /// here invalidate it at once; writes by other processes are seen after at most this long.
    /// 0 turns the cache off.
    pub local_cache_ttl: u64,
    /// The `session_data` cookie (WIRE.md §12).
    pub cookie_cache: CookieCacheConfig,
}

/// Better Auth's `session.cookieCache`: a signed or encrypted copy of the session in a cookie,
/// so get-session can answer without the database until it expires.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CookieCacheConfig {
    pub enabled: bool,
    /// Seconds the cached copy is trusted (also the cookie's Max-Age).
    pub max_age: i64,
    pub strategy: CookieCacheStrategy,
    /// Cached copies written with another version are ignored (bump it to invalidate them all).
    pub version: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieCacheStrategy {
    /// base64url JSON with an HMAC-SHA256 signature (Better Auth's default).
    #[default]
    Compact,
    /// An HS256 JWT signed with the secret.
    Jwt,
    /// A JWE (dir, A256CBC-HS512): the content is not readable by the client.
    Jwe,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    pub delete_enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Default: on in production, off in development (Better Auth's rule, WIRE.md §11).
    pub enabled: Option<bool>,
    /// `memory` (this process) or `secondary-storage` (shared by every node).
    pub storage: RateLimitStorage,
    pub window: u64,
    pub max: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RateLimitStorage {
    #[default]
    Memory,
    SecondaryStorage,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdvancedConfig {
    pub cookie_prefix: String,
    /// Force `__Secure-` cookies and the `Secure` attribute even on an http base URL.
    pub use_secure_cookies: bool,
    /// Peers whose `X-Forwarded-For` is believed (IPs or CIDR ranges).
    pub trusted_proxies: Vec<String>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// JSON-lines file mailer (`PALISADE_EMAIL_LOG`), for development and tests.
    pub log: Option<PathBuf>,
    pub smtp: Option<SmtpConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// `smtp://user:pass@host:port` (STARTTLS when offered is required unless `?tls=none`),
    /// `smtps://…` for implicit TLS.
    pub url: String,
    pub from: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginsConfig {
    pub bearer: bool,
    pub jwt: JwtConfig,
    pub two_factor: TwoFactorConfig,
    /// Site URL of the cross-domain plugin: used as the default `callbackURL` of emails.
    pub cross_domain_site_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    pub enabled: bool,
    /// Seconds a token lives.
    pub expiration: i64,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwoFactorConfig {
    pub enabled: bool,
    /// Issuer shown in authenticator apps; defaults to `app_name`.
    pub issuer: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            listen: "127.0.0.1:3000".into(),
            base_url: None,
            base_path: "/api/auth".into(),
            secret: None,
            app_name: "Palisade".into(),
            data_dir: PathBuf::from("."),
            trusted_origins: Vec::new(),
            database: DatabaseConfig::default(),
            secondary_storage: SecondaryStorageConfig::default(),
            email_and_password: EmailPasswordConfig::default(),
            email_verification: EmailVerificationConfig::default(),
            session: SessionConfig::default(),
            user: UserConfig::default(),
            rate_limit: RateLimitConfig::default(),
            advanced: AdvancedConfig::default(),
            email: EmailConfig::default(),
            plugins: PluginsConfig::default(),
            schema: Default::default(),
        }
    }
}

impl Default for EmailPasswordConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_password_length: 8,
            max_password_length: 128,
            require_email_verification: false,
            revoke_sessions_on_password_reset: false,
            reset_password_token_expires_in: 3600,
        }
    }
}

impl Default for EmailVerificationConfig {
    fn default() -> Self {
        Self { expires_in: 3600, send_on_sign_up: false }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            expires_in: 604_800,
            update_age: 86_400,
            fresh_age: 86_400,
            local_cache_ttl: 5,
            cookie_cache: CookieCacheConfig::default(),
        }
    }
}

impl Default for CookieCacheConfig {
    fn default() -> Self {
        Self { enabled: false, max_age: 300, strategy: CookieCacheStrategy::Compact, version: "1".into() }
    }
}

impl Default for UserConfig {
    fn default() -> Self {
        Self { delete_enabled: true }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { enabled: None, storage: RateLimitStorage::Memory, window: 10, max: 100 }
    }
}

impl Default for AdvancedConfig {
    fn default() -> Self {
        Self {
            cookie_prefix: "better-auth".into(),
            use_secure_cookies: false,
            trusted_proxies: vec!["127.0.0.0/8".into(), "::1".into()],
            max_body_bytes: 64 * 1024,
        }
    }
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            bearer: true,
            jwt: JwtConfig::default(),
            two_factor: TwoFactorConfig::default(),
            cross_domain_site_url: None,
        }
    }
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self { enabled: true, expiration: 900, issuer: None, audience: None }
    }
}

impl Default for TwoFactorConfig {
    fn default() -> Self {
        Self { enabled: true, issuer: None }
    }
}

/// Plain environment variables with fixed names (PRODUCT.md "Operating interface").
const PLAIN_ENV: &[(&str, &str)] = &[
    ("PALISADE_LISTEN", "listen"),
    ("BASE_URL", "base_url"),
    ("BETTER_AUTH_SECRET", "secret"),
    ("DATABASE_URL", "database.url"),
    ("REDIS_URL", "secondary_storage.url"),
    ("PALISADE_ENV", "env"),
    ("PALISADE_EMAIL_LOG", "email.log"),
];

impl Config {
    /// Loads defaults < `file` (if given and present, or `./palisade.toml`) < environment.
    /// Besides the plain variables, `PALISADE_<SECTION>__<KEY>` sets any key, e.g.
    /// `PALISADE_RATE_LIMIT__ENABLED=true`.
    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(format!("configuration file {} does not exist", path.display()));
            }
            Some(path) => fig = fig.merge(Toml::file_exact(path)),
            None if Path::new("palisade.toml").exists() => fig = fig.merge(Toml::file_exact("palisade.toml")),
            None => {}
        }
        let plain: Vec<&str> = PLAIN_ENV.iter().map(|(v, _)| *v).collect();
        fig = fig.merge(
            Env::prefixed("PALISADE_")
                .filter(move |k| {
                    let full = format!("PALISADE_{}", k.as_str().to_ascii_uppercase());
                    !plain.contains(&full.as_str())
                        && !["CONFIG", "LOG"].contains(&k.as_str().to_ascii_uppercase().as_str())
                })
                .split("__"),
        );
        for (var, key) in PLAIN_ENV {
            fig = fig.merge(Env::raw().only(&[*var]).map(move |_| (*key).into()));
        }
        fig.extract::<Config>().map_err(|e| e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    pub fn rate_limit_enabled(&self) -> bool {
        self.rate_limit.enabled.unwrap_or(self.is_production())
    }

    pub fn database_url(&self) -> String {
        self.database.url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("palisade.db").display()))
    }

    pub fn base_url(&self) -> String {
        let url = self.base_url.clone().unwrap_or_else(|| format!("http://{}", self.listen));
        url.trim_end_matches('/').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named_with_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "[session]\nexpires_inn = 5\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err();
        assert!(err.contains("expires_inn"), "{err}");
        assert!(err.contains("p.toml"), "{err}");
    }

    #[test]
    fn ill_typed_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "[rate_limit]\nenabled = \"yes\"\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err();
        assert!(err.contains("rate_limit.enabled"), "{err}");
    }
}
