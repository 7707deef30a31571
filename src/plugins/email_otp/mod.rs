//! Better Auth's email-otp plugin (docs/plugins-wire.md §7): one-time codes sent by e-mail
//! to sign in, verify the address or reset the password. The codes and their check are in
//! [`otp`]; the routes in `routes`.

pub mod otp;
mod routes;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::{Extension, Router};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::Auth;
use crate::config::{Section, SectionError};
use crate::crypto::random_digits;
use crate::error::Result;
use crate::http::plugin::RateRule;
use crate::http::{AppState, Plugin, write};
use crate::mail::{Email, EmailKind, Text, fill};
use crate::model::Verification;
use crate::store::Transaction;

/// `[plugins.email_otp]`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EmailOtpConfig {
    /// Turns the plugin on: `/email-otp/*` and `POST /sign-in/email-otp`.
    pub enabled: bool,
    /// Digits of a code (Better Auth's `otpLength`), 4 to 12.
    pub otp_length: u8,
    /// Seconds a code stays valid (`expiresIn`).
    pub expires_in: u32,
    /// Wrong codes allowed before the code is void (`allowedAttempts`).
    pub allowed_attempts: u32,
    /// Sign-in codes for existing users only: no code is sent to an unknown address and
    /// `POST /sign-in/email-otp` answers `USER_NOT_FOUND` for one (`disableSignUp`).
    pub disable_sign_up: bool,
    /// Subject of the message sent over SMTP; `{otp}`, `{type}`, `{email}`, `{app_name}`
    /// and `{minutes}` are replaced.
    pub subject: String,
    /// Plain-text body of the message sent over SMTP, with the same placeholders.
    pub body: String,
}

impl Default for EmailOtpConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            otp_length: 6,
            expires_in: 300,
            allowed_attempts: 3,
            disable_sign_up: false,
            subject: "Your {app_name} code".into(),
            body: "Your {app_name} code is {otp}. It is valid for {minutes} minutes.\n\n\
                   If you did not ask for it, ignore this message.\n"
                .into(),
        }
    }
}

impl Section for EmailOtpConfig {
    const KEY: &'static str = "plugins.email_otp";
}

impl EmailOtpConfig {
    /// Settings that would make codes useless.
    pub fn check(&self) -> std::result::Result<(), SectionError> {
        let err = |field: &str, message: &str| {
            let source = <serde_json::Error as serde::de::Error>::custom(message);
            Err(SectionError { key: format!("{}.{field}", Self::KEY), source })
        };
        if !(4..=12).contains(&self.otp_length) {
            return err("otp_length", "must be between 4 and 12");
        }
        if self.expires_in == 0 {
            return err("expires_in", "must be at least 1");
        }
        if self.allowed_attempts == 0 {
            return err("allowed_attempts", "must be at least 1");
        }
        Ok(())
    }
}

pub struct EmailOtp {
    config: EmailOtpConfig,
}

impl EmailOtp {
    pub fn new(config: EmailOtpConfig) -> Self {
        Self { config }
    }

    /// Stores a new code of `kind` for `email` (lower-cased), replacing the previous one,
    /// and mails it to `to`; returns the code.
    pub async fn issue(&self, auth: &Auth, kind: &'static str, email: &str, to: &str) -> Result<String> {
        let code = random_digits(usize::from(self.config.otp_length));
        let now = Utc::now();
        let expires = now + Duration::seconds(i64::from(self.config.expires_in));
        let tx = auth.store.begin().await?;
        otp::store(&*tx, &otp::identifier(kind, email), &code, expires, now).await?;
        tx.commit().await?;
        let mut mail = Email::new(EmailKind::EmailOtp, to, String::new(), code.clone());
        mail.otp_type = Some(kind);
        let minutes = (self.config.expires_in / 60).to_string();
        let values = [
            ("otp", code.as_str()),
            ("type", kind),
            ("email", to),
            ("app_name", &auth.config.app_name),
            ("minutes", &minutes),
        ];
        mail.text = Some(Text { subject: fill(&self.config.subject, &values), body: fill(&self.config.body, &values) });
        auth.mailer.send_later(mail);
        Ok(code)
    }

    /// Checks `code` for `identifier` in `tx`. A failed check's writes (the row deleted, or
    /// its attempts counted) are committed and its error returned; on success the
    /// transaction comes back open, with the code spent in it.
    pub async fn spend(
        &self,
        tx: Box<dyn Transaction>,
        identifier: &str,
        code: &str,
    ) -> Result<(Box<dyn Transaction>, Verification)> {
        match otp::check(&*tx, identifier, code, self.config.allowed_attempts, Utc::now()).await?.into_result() {
            Ok(row) => Ok((tx, row)),
            Err(e) => {
                tx.commit().await?;
                Err(e)
            }
        }
    }
}

/// Three per minute on each route (Better Auth's default).
const RATE_RULES: &[RateRule] = &[
    RateRule { prefix: "/email-otp/send-verification-otp", window_secs: 60, max: 3 },
    RateRule { prefix: "/email-otp/check-verification-otp", window_secs: 60, max: 3 },
    RateRule { prefix: "/email-otp/verify-email", window_secs: 60, max: 3 },
    RateRule { prefix: "/sign-in/email-otp", window_secs: 60, max: 3 },
    RateRule { prefix: "/email-otp/request-password-reset", window_secs: 60, max: 3 },
    RateRule { prefix: "/email-otp/reset-password", window_secs: 60, max: 3 },
    RateRule { prefix: "/forget-password/email-otp", window_secs: 60, max: 3 },
    RateRule { prefix: "/email-otp/request-email-change", window_secs: 60, max: 3 },
    RateRule { prefix: "/email-otp/change-email", window_secs: 60, max: 3 },
];

impl Plugin for EmailOtp {
    fn id(&self) -> &'static str {
        "email-otp"
    }

    fn rate_limits(&self) -> &'static [RateRule] {
        RATE_RULES
    }

    fn routes(self: Arc<Self>, state: &AppState) -> Router<AppState> {
        Router::new()
            .route("/email-otp/send-verification-otp", write(state, routes::send_verification_otp))
            .route("/email-otp/check-verification-otp", write(state, routes::check_verification_otp))
            .route("/email-otp/verify-email", write(state, routes::verify_email))
            .route("/sign-in/email-otp", write(state, routes::sign_in))
            .route("/email-otp/request-password-reset", write(state, routes::request_password_reset))
            .route("/forget-password/email-otp", write(state, routes::request_password_reset))
            .route("/email-otp/reset-password", write(state, routes::reset_password))
            .route("/email-otp/request-email-change", write(state, routes::request_email_change))
            .route("/email-otp/change-email", write(state, routes::change_email))
            .layer(Extension(self))
    }
}
