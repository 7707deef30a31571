//! Configuration in layers: defaults < `palisade.toml` < environment.
//! Unknown or ill-typed keys are errors that name the key and where it came from.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

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
    /// The plugins' sections (`[plugins.<id>]`), each read by its plugin (`src/plugins/`):
    /// see [`Section`].
    pub plugins: BTreeMap<String, Json>,
    /// Key for the operator endpoints (`POST {base}/jwks/rotate`); `PALISADE_ADMIN_KEY`.
    /// Unset: those endpoints do not exist.
    pub admin_key: Option<String>,
    /// Table and column names, additional fields, id strategy (`src/store/schema_config.rs`).
    #[serde(default)]
    pub schema: crate::store::schema_config::SchemaConfig,
    /// SQL run inside the auth write's transaction, per model and event (`src/store/hooks.rs`).
    #[serde(default)]
    pub hooks: crate::store::hooks::HooksConfig,
    /// Social sign-in providers by id (`[social_providers.<id>]`, `src/auth/social/`).
    pub social_providers: std::collections::BTreeMap<String, SocialProviderConfig>,
    /// Linked accounts: linking rules and OAuth token storage.
    pub account: AccountConfig,
    /// Signed webhooks from an outbox: read by `src/webhooks/` (a [`Section`]).
    pub webhooks: Json,
}

/// What a social provider speaks: a generic OpenID Connect issuer, or a preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocialKind {
    Oidc,
    Github,
    Google,
}

/// A profile value for `map_profile`: a claim name (dotted for nested claims), or a list of
/// them where the first present wins. `name|first` / `name|rest` split a full name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProfileSource {
    One(String),
    FirstOf(Vec<String>),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocialProviderConfig {
    /// Default: the preset named by the id (`github`, `google`), else `oidc`.
    pub kind: Option<SocialKind>,
    /// OpenID Connect issuer; endpoints come from its discovery document.
    pub issuer: Option<String>,
    /// Explicit endpoints override discovered (or preset) ones.
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    /// GitHub's list of the user's addresses.
    pub emails_endpoint: Option<String>,
    pub client_id: String,
    /// Better set by `PALISADE_SOCIAL_<ID>_CLIENT_SECRET`.
    pub client_secret: Option<String>,
    /// Scopes requested besides the provider's defaults.
    pub scopes: Vec<String>,
    pub disable_default_scope: bool,
    /// No new users from this provider.
    pub disable_sign_up: bool,
    /// New users only when the client passes `requestSignUp: true`.
    pub disable_implicit_sign_up: bool,
    /// Copy name, image and mapped fields from the provider on every sign-in.
    pub override_user_info_on_sign_in: bool,
    /// `prompt` sent to the authorization endpoint (e.g. `select_account`).
    pub prompt: Option<String>,
    /// User field ← profile claim (Better Auth's `mapProfileToUser`).
    pub map_profile: std::collections::BTreeMap<String, ProfileSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountConfig {
    /// Store access and refresh tokens encrypted (WIRE.md §15.4).
    pub encrypt_oauth_tokens: bool,
    /// Refresh the stored tokens on every social sign-in.
    pub update_account_on_sign_in: bool,
    pub account_linking: AccountLinkingConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountLinkingConfig {
    pub enabled: bool,
    /// Providers whose accounts link even when they do not vouch for the email.
    pub trusted_providers: Vec<String>,
    pub allow_different_emails: bool,
    pub allow_unlinking_all: bool,
    /// Implicit linking needs the local user's email verified too.
    pub require_local_email_verified: bool,
    /// Copy name, image and mapped fields from the provider when an account is linked.
    pub update_user_info_on_link: bool,
}

impl Default for AccountConfig {
    fn default() -> Self {
        Self { encrypt_oauth_tokens: false, update_account_on_sign_in: true, account_linking: Default::default() }
    }
}

impl Default for AccountLinkingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            trusted_providers: Vec::new(),
            allow_different_emails: false,
            allow_unlinking_all: false,
            require_local_email_verified: true,
            update_user_info_on_link: false,
        }
    }
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
    /// Where the auth tables live beside the app's.
    pub layout: Layout,
}

/// `app`: Better Auth's tables in the app's schema, named as Better Auth names them.
/// `component`: in a namespace of their own: the PostgreSQL schema `auth` (connections search
/// `auth` first, then `public`, so hooks still reach the app's tables), or the table prefix
/// `auth_` on SQLite and MySQL. A `model_name` set in `[schema.*]` is kept as given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    App,
    Component,
}

/// The PostgreSQL schema of the `component` layout; the table prefix elsewhere.
pub const COMPONENT_SCHEMA: &str = "auth";
pub const COMPONENT_PREFIX: &str = "auth_";

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
    /// Better Auth's `sendOnSignUp`: email a verification link after a sign-up (email/password
    /// or social) whose email is not verified. Unset: whether `require_email_verification` is on.
    pub send_on_sign_up: Option<bool>,
    /// Better Auth's `sendOnSignIn`: with `require_email_verification`, a sign-in with the right
    /// password but an unverified email emails a new link (the answer stays 403).
    pub send_on_sign_in: bool,
    /// Better Auth's `autoSignInAfterVerification`: the link that verifies an address also
    /// signs its user in (a new session unless the request already has that user's).
    pub auto_sign_in_after_verification: bool,
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

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    /// `POST /delete-user`; off unless enabled, as in Better Auth (`user.deleteUser.enabled`).
    pub delete_enabled: bool,
    /// `POST /change-email`; off unless enabled, as in Better Auth (`user.changeEmail.enabled`).
    pub change_email_enabled: bool,
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
    /// Better Auth's `rateLimit` table, shared by every node on the database.
    Database,
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
            plugins: BTreeMap::new(),
            admin_key: None,
            schema: Default::default(),
            hooks: Default::default(),
            social_providers: Default::default(),
            account: AccountConfig::default(),
            webhooks: Json::Null,
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
        Self { expires_in: 3600, send_on_sign_up: None, send_on_sign_in: false, auto_sign_in_after_verification: false }
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

/// Plain environment variables with fixed names (PRODUCT.md "Operating interface").
const PLAIN_ENV: &[(&str, &str)] = &[
    ("PALISADE_LISTEN", "listen"),
    ("BASE_URL", "base_url"),
    ("BETTER_AUTH_SECRET", "secret"),
    ("DATABASE_URL", "database.url"),
    ("REDIS_URL", "secondary_storage.url"),
    ("PALISADE_ENV", "env"),
    ("PALISADE_EMAIL_LOG", "email.log"),
    ("PALISADE_JWKS", "plugins.jwt.jwks"),
    ("PALISADE_ADMIN_KEY", "admin_key"),
];

/// The provider part of `PALISADE_SOCIAL_<ID>_CLIENT_SECRET`.
fn social_secret_var(var: &str) -> Option<&str> {
    let id = var.strip_prefix("PALISADE_SOCIAL_")?.strip_suffix("_CLIENT_SECRET")?;
    (!id.is_empty() && !id.contains("__")).then_some(id)
}

/// The environment over `fig`: `PALISADE_<SECTION>__<KEY>`, then the plain variables.
fn merge_env(mut fig: Figment) -> Figment {
    let plain: Vec<&str> = PLAIN_ENV.iter().map(|(v, _)| *v).collect();
    fig = fig.merge(
        Env::prefixed("PALISADE_")
            .filter(move |k| {
                let full = format!("PALISADE_{}", k.as_str().to_ascii_uppercase());
                !plain.contains(&full.as_str())
                    && !["CONFIG", "LOG"].contains(&k.as_str().to_ascii_uppercase().as_str())
                    && social_secret_var(&full).is_none()
            })
            .split("__"),
    );
    for (var, key) in PLAIN_ENV {
        fig = fig.merge(Env::raw().only(&[*var]).map(move |_| (*key).into()));
    }
    fig
}

/// The error for environment values figment cannot read, naming the variables.
fn unreadable_env() -> String {
    let read = |k: &str| k.starts_with("PALISADE_") || PLAIN_ENV.iter().any(|(v, _)| *v == k);
    let suspects: Vec<String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, v)| read(k) && v.contains('\\') && !v.is_ascii())
        .map(|(k, _)| k)
        .collect();
    format!(
        "cannot read the environment variable(s) {}: a quoted value with a `\\` escape after a non-ASCII \
         character (write the character itself instead of an escape)",
        suspects.join(", ")
    )
}

/// A plugin's part of the configuration, kept as read until the plugin parses it into its own
/// type: the plugin's folder owns the type, its defaults and its documentation.
pub trait Section: Serialize + DeserializeOwned + Default {
    /// Where it sits: `plugins.<id>` or a top-level key (`webhooks`).
    const KEY: &'static str;
}

/// A section that does not parse, named by its key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SectionError {
    pub key: &'static str,
    pub message: String,
}

impl Config {
    fn slot(&self, key: &str) -> Option<&Json> {
        match key.split_once('.') {
            Some(("plugins", id)) => self.plugins.get(id),
            None if key == "webhooks" => Some(&self.webhooks),
            _ => None,
        }
    }

    fn slot_mut(&mut self, key: &str) -> Option<&mut Json> {
        match key.split_once('.') {
            Some(("plugins", id)) => Some(self.plugins.entry(id.to_string()).or_insert(Json::Null)),
            None if key == "webhooks" => Some(&mut self.webhooks),
            _ => None,
        }
    }

    /// The section `S` as configured; its defaults where it is absent.
    pub fn section<S: Section>(&self) -> Result<S, SectionError> {
        match self.slot(S::KEY) {
            None | Some(Json::Null) => Ok(S::default()),
            Some(v) => {
                serde_json::from_value(v.clone()).map_err(|e| SectionError { key: S::KEY, message: e.to_string() })
            }
        }
    }

    /// Replaces the section `S` (library and tests: configuration in code).
    pub fn set_section<S: Section>(&mut self, section: &S) {
        if let (Some(slot), Ok(v)) = (self.slot_mut(S::KEY), serde_json::to_value(section)) {
            *slot = v;
        }
    }

    /// Changes the section `S` in place, starting from its defaults when it does not parse.
    pub fn edit<S: Section>(&mut self, f: impl FnOnce(&mut S)) {
        let mut s: S = self.section().unwrap_or_default();
        f(&mut s);
        self.set_section(&s);
    }

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
        // figment 0.10 panics on a quoted environment value with a `\` after a non-ASCII
        // character (it slices at a character index): an operator's error, not a crash.
        let fig = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || merge_env(fig)))
            .map_err(|_| unreadable_env())?;
        let mut cfg =
            fig.extract::<Config>().map_err(|e| e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))?;
        cfg.apply_social_secrets(std::env::vars())?;
        Ok(cfg)
    }

    /// `PALISADE_SOCIAL_<ID>_CLIENT_SECRET` sets the secret of `[social_providers.<id>]`
    /// (id upper-cased, `-` as `_`); one for a provider that is not configured is an error.
    fn apply_social_secrets(&mut self, vars: impl Iterator<Item = (String, String)>) -> Result<(), String> {
        for (var, value) in vars {
            let Some(id) = social_secret_var(&var) else { continue };
            let provider = self
                .social_providers
                .iter_mut()
                .find(|(k, _)| k.to_ascii_uppercase().replace('-', "_") == id)
                .ok_or_else(|| format!("{var} is set but there is no [social_providers.{}]", id.to_lowercase()))?;
            provider.1.client_secret = Some(value);
        }
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    pub fn rate_limit_enabled(&self) -> bool {
        self.rate_limit.enabled.unwrap_or(self.is_production())
    }

    /// The database URL; on PostgreSQL in the `component` layout, with the connection's
    /// `search_path` set to the auth schema first.
    pub fn database_url(&self) -> String {
        let url = self
            .database
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("palisade.db").display()));
        if self.component_schema().is_none() {
            return url;
        }
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options[search_path]={COMPONENT_SCHEMA},public")
    }

    /// The PostgreSQL schema that holds the auth tables, when it is not the app's.
    pub fn component_schema(&self) -> Option<&'static str> {
        let pg = self.database.url.as_deref().is_some_and(|u| u.starts_with("postgres"));
        (self.database.layout == Layout::Component && pg).then_some(COMPONENT_SCHEMA)
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
    fn social_secret_from_environment() {
        let mut cfg = Config::default();
        cfg.social_providers.insert("my-idp".into(), SocialProviderConfig::default());
        let vars = [("PALISADE_SOCIAL_MY_IDP_CLIENT_SECRET".to_string(), "s3".to_string())];
        cfg.apply_social_secrets(vars.into_iter()).unwrap();
        assert_eq!(cfg.social_providers["my-idp"].client_secret.as_deref(), Some("s3"));
        let stray = [("PALISADE_SOCIAL_NOPE_CLIENT_SECRET".to_string(), "x".to_string())];
        assert!(cfg.apply_social_secrets(stray.into_iter()).unwrap_err().contains("social_providers.nope"));
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
