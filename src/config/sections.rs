//! The core sections of [`Config`](super::Config): their types and defaults.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AccountConfig {
    /// Store access and refresh tokens encrypted (WIRE.md §15.4).
    pub encrypt_oauth_tokens: bool,
    /// Refresh the stored tokens on every social sign-in.
    pub update_account_on_sign_in: bool,
    pub account_linking: AccountLinkingConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    App,
    Component,
}

/// The PostgreSQL schema of the `component` layout; the table prefix elsewhere.
pub const COMPONENT_SCHEMA: &str = "auth";
pub const COMPONENT_PREFIX: &str = "auth_";

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SecondaryStorageConfig {
    /// `redis://…` (`REDIS_URL`), or `memory://` for one process.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CookieCacheConfig {
    pub enabled: bool,
    /// Seconds the cached copy is trusted (also the cookie's Max-Age).
    pub max_age: i64,
    pub strategy: CookieCacheStrategy,
    /// Cached copies written with another version are ignored (bump it to invalidate them all).
    pub version: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    /// `POST /delete-user`; off unless enabled, as in Better Auth (`user.deleteUser.enabled`).
    pub delete_enabled: bool,
    /// `POST /change-email`; off unless enabled, as in Better Auth (`user.changeEmail.enabled`).
    pub change_email_enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Default: on in production, off in development (Better Auth's rule, WIRE.md §11).
    pub enabled: Option<bool>,
    /// `memory` (this process) or `secondary-storage` (shared by every node).
    pub storage: RateLimitStorage,
    pub window: u64,
    pub max: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RateLimitStorage {
    #[default]
    Memory,
    SecondaryStorage,
    /// Better Auth's `rateLimit` table, shared by every node on the database.
    Database,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// JSON-lines file mailer (`PALISADE_EMAIL_LOG`), for development and tests.
    pub log: Option<PathBuf>,
    pub smtp: Option<SmtpConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// `smtp://user:pass@host:port` (STARTTLS when offered is required unless `?tls=none`),
    /// `smtps://…` for implicit TLS.
    pub url: String,
    pub from: String,
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
