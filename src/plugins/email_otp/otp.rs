//! The codes themselves (docs/plugins-wire.md §7, "OTP records and the shared check"): one
//! `verification` row per purpose and address, `identifier = "<type>-otp-<email>"`,
//! `value = "<otp>:<failed attempts>"` (plain, Better Auth's default storage).

use chrono::{DateTime, Utc};

use crate::crypto::ct_eq;
use crate::error::{ApiError, Result};
use crate::model::fields::IDENTIFIER;
use crate::model::{Row, Verification};
use crate::store::{Ops, Where};

/// What a code is for (the body's `type`).
pub const TYPES: [&str; 4] = ["email-verification", "sign-in", "forget-password", "change-email"];

/// The plugin's error codes.
pub mod errors {
    use crate::error::ApiError;

    pub fn otp_expired() -> ApiError {
        ApiError::new(400, "OTP_EXPIRED", "OTP expired")
    }

    pub fn invalid_otp() -> ApiError {
        ApiError::new(400, "INVALID_OTP", "Invalid OTP")
    }

    pub fn too_many_attempts() -> ApiError {
        ApiError::new(403, "TOO_MANY_ATTEMPTS", "Too many attempts")
    }

    pub fn invalid_otp_type() -> ApiError {
        ApiError::without_code(400, "Invalid OTP type")
    }

    pub fn change_email_disabled() -> ApiError {
        ApiError::without_code(400, "Change email with OTP is disabled")
    }
}

/// `<type>-otp-<email>`; `email` already lower-cased.
pub fn identifier(kind: &str, email: &str) -> String {
    format!("{kind}-otp-{email}")
}

/// A stored value: the code and the failed attempts, split at the last colon (an attempt
/// count that does not parse counts as none, as `parseInt` would leave it falsy).
pub fn parse_value(value: &str) -> (&str, u32) {
    match value.rsplit_once(':') {
        Some((code, attempts)) => (code, attempts.parse().unwrap_or(0)),
        None => (value, 0),
    }
}

/// What checking a code found.
#[derive(Debug)]
pub enum Checked {
    /// The right code: its row is spent (deleted) in the caller's transaction.
    Valid(Verification),
    Expired,
    Missing,
    /// Too many wrong codes before this one: the row is gone.
    TooMany,
    /// A wrong code: the row is back with one more failed attempt.
    Wrong,
}

impl Checked {
    /// The error a failed check answers.
    pub fn into_result(self) -> Result<Verification> {
        match self {
            Checked::Valid(row) => Ok(row),
            Checked::Expired => Err(errors::otp_expired()),
            Checked::Missing | Checked::Wrong => Err(errors::invalid_otp()),
            Checked::TooMany => Err(errors::too_many_attempts()),
        }
    }
}

/// Better Auth's `verifyOTP`: an expired row is deleted (`OTP_EXPIRED`); a live one is
/// spent, and when `allowed` wrong codes came before, stays spent (`TOO_MANY_ATTEMPTS`);
/// a wrong code puts it back with one more attempt. Only the request that deletes the row
/// goes on, so two requests never both spend one code.
pub async fn check(ops: &dyn Ops, identifier: &str, otp: &str, allowed: u32, now: DateTime<Utc>) -> Result<Checked> {
    let filter = [Where::eq(IDENTIFIER, identifier)];
    let Some(row) = Verification::parse(ops.find_one(Verification::MODEL, &filter).await?)? else {
        return Ok(Checked::Missing);
    };
    let spent = ops.delete_many(Verification::MODEL, &filter).await? > 0;
    if !row.is_live(now) {
        return Ok(Checked::Expired);
    }
    if !spent {
        return Ok(Checked::Missing);
    }
    let (code, attempts) = parse_value(&row.value);
    if attempts >= allowed {
        return Ok(Checked::TooMany);
    }
    if !ct_eq(code, otp) {
        let value = format!("{code}:{}", attempts.saturating_add(1));
        let again = Verification::new_record(identifier, &value, row.expires_at, now);
        ops.create(Verification::MODEL, again).await?;
        return Ok(Checked::Wrong);
    }
    Ok(Checked::Valid(row))
}

/// Puts a spent row back unchanged ("check" routes verify without consuming).
pub async fn put_back(ops: &dyn Ops, row: &Verification) -> Result<()> {
    let again = Verification::new_record(&row.identifier, &row.value, row.expires_at, row.created_at);
    ops.create(Verification::MODEL, again).await.map(|_| ()).map_err(ApiError::from)
}

/// Stores a new code for `identifier`, replacing any earlier one.
pub async fn store(
    ops: &dyn Ops,
    identifier: &str,
    otp: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    ops.delete_many(Verification::MODEL, &[Where::eq(IDENTIFIER, identifier)]).await?;
    let row = Verification::new_record(identifier, &format!("{otp}:0"), expires_at, now);
    ops.create(Verification::MODEL, row).await.map(|_| ()).map_err(ApiError::from)
}
