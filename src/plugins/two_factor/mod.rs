//! Better Auth's two-factor plugin without HTTP (WIRE.md §9): TOTP (RFC 6238), backup codes,
//! e-mailed one-time codes, sign-in challenges, trusted devices and the failed-attempt lockout.
//!
//! Storage: one `twoFactor` row per user (`secret` and `backupCodes` encrypted as WIRE.md §15.4,
//! `verified` 0/1 with NULL meaning verified, `failedVerificationCount`, `lockedUntil`), and
//! `verification` rows: `2fa-<20>` → userId and `2fa-attempts-2fa-<20>` → count for a sign-in
//! challenge, `trust-device-<32>` → userId for a trusted device, `2fa-otp-<key>` → code.
//!
//! Functions whose outcome depends on the clock take `now` so tests can fix it.

mod failures;
mod manage;
mod routes;
mod row;
#[cfg(test)]
mod tests;
mod totp;
mod verify;

pub use failures::*;
pub use manage::*;
pub use row::*;
pub use totp::*;
pub use verify::*;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::HeaderMap;
use axum::{Extension, Router};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sha1::Sha1;

use crate::auth::{Auth, RequestMeta, Session, User, sessions, users};
use crate::config::Section;
use crate::crypto::{ct_eq, random_id, random_url_safe, symmetric};
use crate::error::{ApiError, Result};
use crate::http::plugin::{Gate, RateRule};
use crate::http::{AppState, Plugin, write};
use crate::mail::{Email, EmailKind};
use crate::store::schema::{FieldType, ModelSpec, Schema};
use crate::store::{FindMany, Op, Ops, Record, Value, Where};

/// TOTP parameters (Better Auth defaults): 6 digits, 30 s steps, ±1 step accepted.
pub const DIGITS: u32 = 6;
pub const PERIOD: i64 = 30;
const WINDOW: i64 = 1;
/// Length of the random TOTP secret (its UTF-8 bytes are the HMAC key).
const SECRET_LEN: usize = 32;
pub const BACKUP_CODE_COUNT: usize = 10;
/// A sign-in challenge (the `two_factor` cookie and its rows) lives 10 minutes.
pub const CHALLENGE_SECONDS: i64 = 600;
/// Wrong codes allowed per challenge before a new sign-in is needed.
pub const MAX_CHALLENGE_ATTEMPTS: i64 = 5;
/// Failed sign-in verifications (across challenges) before the account is locked.
pub const MAX_FAILED_VERIFICATIONS: i64 = 10;
pub const LOCKOUT_SECONDS: i64 = 15 * 60;
/// A trusted device skips the second factor for 30 days.
pub const TRUST_DEVICE_SECONDS: i64 = 30 * 86_400;
/// E-mailed codes: 6 digits, valid 3 minutes, 5 tries each.
const OTP_DIGITS: usize = 6;
const OTP_SECONDS: i64 = 180;
const OTP_MAX_ATTEMPTS: i64 = 5;

const MODEL: &str = "twoFactor";
const VERIFICATION: &str = "verification";

/// The plugin's error codes (WIRE.md §1).
pub mod errors {
    use crate::error::ApiError;

    macro_rules! errors {
        ($($fn_name:ident => ($status:expr, $code:literal, $msg:literal)),* $(,)?) => {
            $(pub fn $fn_name() -> ApiError { ApiError::new($status, $code, $msg) })*
        };
    }

    errors! {
        totp_already_enabled => (400, "TOTP_ALREADY_ENABLED", "TOTP is already enabled"),
        totp_not_enabled => (400, "TOTP_NOT_ENABLED", "TOTP not enabled"),
        two_factor_not_enabled => (400, "TWO_FACTOR_NOT_ENABLED", "Two factor isn't enabled"),
        backup_codes_not_enabled => (400, "BACKUP_CODES_NOT_ENABLED", "Backup codes aren't enabled"),
        otp_has_expired => (400, "OTP_HAS_EXPIRED", "OTP has expired"),
        too_many_attempts => (400, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE", "Too many attempts. Please request a new code."),
        invalid_code => (401, "INVALID_CODE", "Invalid code"),
        invalid_backup_code => (401, "INVALID_BACKUP_CODE", "Invalid backup code"),
        invalid_two_factor_cookie => (401, "INVALID_TWO_FACTOR_COOKIE", "Invalid two factor cookie"),
        account_locked => (429, "ACCOUNT_TEMPORARILY_LOCKED", "Too many failed verification attempts. Your account is temporarily locked. Please try again later."),
    }
}

/// `[plugins.two_factor]`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TwoFactorConfig {
    pub enabled: bool,
    /// Issuer shown in authenticator apps; defaults to `app_name`.
    pub issuer: Option<String>,
}

impl Default for TwoFactorConfig {
    fn default() -> Self {
        Self { enabled: true, issuer: None }
    }
}

impl Section for TwoFactorConfig {
    const KEY: &'static str = "plugins.two_factor";
}

pub struct TwoFactorPlugin {
    config: TwoFactorConfig,
}

impl TwoFactorPlugin {
    pub fn new(config: TwoFactorConfig) -> Self {
        Self { config }
    }

    /// The name authenticator apps show.
    pub fn issuer(&self, auth: &Auth) -> String {
        self.config.issuer.clone().unwrap_or_else(|| auth.config.app_name.clone())
    }
}

#[async_trait]
impl Plugin for TwoFactorPlugin {
    fn id(&self) -> &'static str {
        "two-factor"
    }

    fn schema(&self, schema: &mut Schema) {
        add_tables(schema);
    }

    fn rate_limits(&self) -> &'static [RateRule] {
        &[RateRule { prefix: "/two-factor/", window_secs: 10, max: 3 }]
    }

    fn routes(self: Arc<Self>, state: &AppState) -> Router<AppState> {
        Router::new()
            .route("/two-factor/enable", write(state, routes::enable))
            .route("/two-factor/get-totp-uri", write(state, routes::get_totp_uri))
            .route("/two-factor/verify-totp", routes::verify(state, routes::CodeKind::Totp))
            .route("/two-factor/verify-backup-code", routes::verify(state, routes::CodeKind::BackupCode))
            .route("/two-factor/generate-backup-codes", write(state, routes::generate_backup_codes))
            .route("/two-factor/disable", write(state, routes::disable))
            .route("/two-factor/send-otp", write(state, routes::send_otp))
            .route("/two-factor/verify-otp", routes::verify(state, routes::CodeKind::Otp))
            .layer(Extension(self))
    }

    async fn sign_in_gate(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        user: &User,
        remember_me: bool,
    ) -> Result<Gate> {
        routes::sign_in_gate(state, headers, user, remember_me).await
    }
}

/// `user.twoFactorEnabled` and the `twoFactor` table (WIRE.md §15.1).
pub fn add_tables(schema: &mut Schema) {
    use FieldType::{Boolean, Date, Number, String};
    schema.add_user_field("twoFactorEnabled", Boolean, Some(Value::Bool(false)));
    schema.add_model(
        ModelSpec::new(MODEL)
            .field("secret", String, true)
            .field("backupCodes", String, true)
            .field("userId", String, true)
            .field("verified", Boolean, false)
            .field("failedVerificationCount", Number, false)
            .field("lockedUntil", Date, false)
            .index("secret")
            .owned_by_user(),
    );
}
