//! Better Auth's phone-number plugin (docs/plugins-wire.md §8): `user.phoneNumber` (unique)
//! and `user.phoneNumberVerified`, set only by proving the number with a texted code.
//! `POST /phone-number/send-otp` texts a code; `POST /phone-number/verify` checks it and signs
//! the number's user in (or attaches the number to the caller's user); `POST
//! /sign-in/phone-number` signs in with the number and the password; `POST
//! /phone-number/request-password-reset` and `/phone-number/reset-password` reset the password
//! with a code. The texts go through [`sms::Sms`]: a JSON-lines file or an HTTP gateway.

mod otp;
mod routes;
pub mod sms;

use std::sync::Arc;

use async_trait::async_trait;
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::auth::{Auth, User};
use crate::config::{Config, Section, SectionError};
use crate::crypto::random_digits;
use crate::error::{ApiError, Result};
use crate::http::plugin::RateRule;
use crate::http::{AppState, Plugin, write};
use crate::model::Row;
use crate::store::schema::{FieldType, Schema};
use crate::store::{Record, Value, Where};
use otp::Purpose;
use sms::{Sms, SmsConfig, SmsConfigError, Text};

pub const PHONE_NUMBER: &str = "phoneNumber";
pub const VERIFIED: &str = "phoneNumberVerified";

/// `[plugins.phone_number]`, with Better Auth's defaults.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PhoneNumberConfig {
    pub enabled: bool,
    /// Digits in a code.
    pub otp_length: usize,
    /// Seconds a code stays valid.
    pub expires_in: u64,
    /// Wrong codes tried against one code before it is deleted (`TOO_MANY_ATTEMPTS`).
    pub allowed_attempts: u32,
    /// Password sign-in only with a verified number; an unverified one gets a code and
    /// `401 PHONE_NUMBER_NOT_VERIFIED`.
    pub require_verification: bool,
    /// Text the password-reset code (kind `phone-reset-otp`). Off, as in Better Auth without
    /// `sendPasswordResetOTP`: the code is stored but not sent.
    pub send_reset_codes: bool,
    /// How the codes are sent.
    pub sms: SmsConfig,
}

impl Default for PhoneNumberConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            otp_length: 6,
            expires_in: 300,
            allowed_attempts: 3,
            require_verification: false,
            send_reset_codes: false,
            sms: SmsConfig::default(),
        }
    }
}

impl Section for PhoneNumberConfig {
    const KEY: &'static str = "plugins.phone_number";
}

/// Why the plugin does not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Section(#[from] SectionError),
    #[error(transparent)]
    Sms(#[from] SmsConfigError),
    #[error("plugins.phone_number.otp_length: must be between 4 and 12")]
    OtpLength,
}

pub struct PhoneNumberPlugin {
    config: PhoneNumberConfig,
    sms: Sms,
}

impl PhoneNumberPlugin {
    /// The plugin when `[plugins.phone_number]` enables it.
    pub fn from_config(cfg: &Config) -> Result<Option<Self>, ConfigError> {
        let config: PhoneNumberConfig = cfg.section()?;
        if !config.enabled {
            return Ok(None);
        }
        if !(4..=12).contains(&config.otp_length) {
            return Err(ConfigError::OtpLength);
        }
        let sms = Sms::from_config(cfg, &config.sms)?;
        Ok(Some(Self { config, sms }))
    }

    /// Texts a fresh code for `number`, then stores it in place of any pending one: a text
    /// that could not be sent leaves the stored codes as they were.
    async fn send_code(&self, auth: &Auth, number: &str) -> Result<()> {
        let code = random_digits(self.config.otp_length);
        self.sms.send(&Text { kind: "phone-otp", to: number, code: &code }).await.map_err(|e| {
            tracing::error!(error = %e, "phone-number code not sent");
            ApiError::new(502, "FAILED_TO_SEND_OTP", "Failed to send the code")
        })?;
        let ident = otp::identifier(Purpose::Verify, number);
        otp::store(auth, &ident, &code, self.config.expires_in, chrono::Utc::now()).await
    }

    /// Stores a reset code; texts it (after the answer) only to a number that has a user and
    /// when `send_reset_codes` is on, so the answer says nothing about the number.
    async fn reset_code(self: &Arc<Self>, auth: &Auth, number: &str) -> Result<()> {
        let code = random_digits(self.config.otp_length);
        let ident = otp::identifier(Purpose::Reset, number);
        otp::store(auth, &ident, &code, self.config.expires_in, chrono::Utc::now()).await?;
        if self.config.send_reset_codes && find_user(auth, number).await?.is_some() {
            let (plugin, number) = (self.clone(), number.to_string());
            tokio::spawn(async move {
                if let Err(e) = plugin.sms.send(&Text { kind: "phone-reset-otp", to: &number, code: &code }).await {
                    tracing::error!(error = %e, "phone-number reset code not sent");
                }
            });
        }
        Ok(())
    }
}

pub fn is_verified(user: &User) -> bool {
    matches!(user.extra.get(VERIFIED), Some(Value::Bool(true)))
}

/// The user holding `number`.
pub async fn find_user(auth: &Auth, number: &str) -> Result<Option<User>> {
    Ok(User::parse(auth.store.find_one(User::MODEL, &[Where::eq(PHONE_NUMBER, number)]).await?)?)
}

#[async_trait]
impl Plugin for PhoneNumberPlugin {
    fn id(&self) -> &'static str {
        "phone-number"
    }

    fn schema(&self, schema: &mut Schema) {
        if let Some(f) = schema.add_user_field(PHONE_NUMBER, FieldType::String, Some(Value::Null)) {
            f.unique = true;
        }
        if let Some(f) = schema.add_user_field(VERIFIED, FieldType::Boolean, Some(Value::Null)) {
            f.input = false;
        }
    }

    fn rate_limits(&self) -> &'static [RateRule] {
        &[RateRule { prefix: "/phone-number", window_secs: 60, max: 10 }]
    }

    fn routes(self: Arc<Self>, state: &AppState) -> Router<AppState> {
        Router::new()
            .route("/phone-number/send-otp", write(state, routes::send_otp))
            .route("/phone-number/verify", write(state, routes::verify))
            .route("/sign-in/phone-number", write(state, routes::sign_in))
            .route("/phone-number/request-password-reset", write(state, routes::request_password_reset))
            .route("/phone-number/reset-password", write(state, routes::reset_password))
            .layer(Extension(self))
    }

    /// The number is set only by verifying it (§8 "Hooks on core routes"): a sign-up that
    /// carries one is refused, update-user may only clear it (and its verified flag).
    async fn user_input(
        &self,
        _state: &AppState,
        body: &Map<String, Json>,
        current: Option<&User>,
        row: &mut Record,
    ) -> Result<()> {
        match (body.get(PHONE_NUMBER), current) {
            (None | Some(Json::Null), None) | (None, Some(_)) => {}
            (Some(Json::Null), Some(_)) => {
                row.set(PHONE_NUMBER, Value::Null);
                row.set(VERIFIED, false);
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::new(400, "PHONE_NUMBER_CANNOT_BE_UPDATED", "Phone number cannot be updated"));
            }
            // Sign-up: Better Auth refuses the number in its user-create hook, which runs
            // after the body's FIELD_NOT_ALLOWED check (below); on update-user its before hook
            // comes first (above).
            (Some(_), None) if !body.contains_key(VERIFIED) => {
                return Err(ApiError::new(
                    400,
                    "PHONE_NUMBER_CANNOT_BE_SET",
                    "Phone number can only be set by verifying it",
                ));
            }
            (Some(_), None) => {}
        }
        if body.contains_key(VERIFIED) {
            return Err(ApiError::new(400, "FIELD_NOT_ALLOWED", format!("{VERIFIED} is not allowed to be set")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn better_auth_defaults_and_bounds() {
        let d = PhoneNumberConfig::default();
        assert_eq!((d.enabled, d.otp_length, d.expires_in, d.allowed_attempts), (false, 6, 300, 3));
        assert!(!d.require_verification);
        let mut cfg = Config::default();
        assert!(PhoneNumberPlugin::from_config(&cfg).unwrap().is_none());
        cfg.edit(|p: &mut PhoneNumberConfig| {
            p.enabled = true;
            p.otp_length = 2;
        });
        assert!(matches!(PhoneNumberPlugin::from_config(&cfg), Err(ConfigError::OtpLength)));
        cfg.edit(|p: &mut PhoneNumberConfig| p.otp_length = 8);
        assert!(PhoneNumberPlugin::from_config(&cfg).unwrap().is_some());
    }
}
