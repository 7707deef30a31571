//! The plugin's code rows in `verification` (docs/plugins-wire.md §8 "Code records and check"):
//! identifier `phone-number-otp-<number>` (reset: `phone-number-reset-<number>`), value
//! `<code>:<failed attempts>` in plain text, as Better Auth writes them, so either server reads
//! the other's rows.

use chrono::{DateTime, Duration, Utc};

use crate::auth::Auth;
use crate::crypto::ct_eq;
use crate::error::{ApiError, Result};
use crate::model::fields::{ID, IDENTIFIER, UPDATED_AT, VALUE};
use crate::model::{Row, Verification};
use crate::store::{Record, Where};

/// What a code proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Owning the number: verify, sign in, attach it.
    Verify,
    /// A password reset by the number.
    Reset,
}

pub fn identifier(purpose: Purpose, number: &str) -> String {
    match purpose {
        Purpose::Verify => format!("phone-number-otp-{number}"),
        Purpose::Reset => format!("phone-number-reset-{number}"),
    }
}

/// A stored value: the code and how many wrong codes were tried against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub code: String,
    pub attempts: u32,
}

impl Stored {
    /// `<code>:<attempts>`; a value without a readable count counts as used up.
    pub fn parse(value: &str) -> Stored {
        match value.rsplit_once(':') {
            Some((code, n)) => Stored { code: code.into(), attempts: n.parse().unwrap_or(u32::MAX) },
            None => Stored { code: value.into(), attempts: u32::MAX },
        }
    }

    pub fn value(&self) -> String {
        format!("{}:{}", self.code, self.attempts)
    }
}

/// What a row says about a code, before anything is written (steps 2 to 4 of the check).
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Expired,
    TooManyAttempts,
    Wrong,
    Right,
}

/// Better Auth's order: expiry, then attempts, then the code (compared in constant time).
pub fn judge(row: &Verification, code: &str, allowed: u32, now: DateTime<Utc>) -> Verdict {
    let stored = Stored::parse(&row.value);
    if !row.is_live(now) {
        Verdict::Expired
    } else if stored.attempts >= allowed {
        Verdict::TooManyAttempts
    } else if !stored.code.is_empty() && ct_eq(&stored.code, code) {
        Verdict::Right
    } else {
        Verdict::Wrong
    }
}

pub fn not_found() -> ApiError {
    ApiError::new(400, "OTP_NOT_FOUND", "OTP not found")
}

pub fn invalid() -> ApiError {
    ApiError::new(400, "INVALID_OTP", "Invalid OTP")
}

/// Stores a fresh code for `ident`, replacing any pending one.
pub async fn store(auth: &Auth, ident: &str, code: &str, ttl_secs: u64, now: DateTime<Utc>) -> Result<()> {
    let expires = now + Duration::seconds(i64::try_from(ttl_secs).unwrap_or(i64::MAX / 1000));
    let row = Verification::new_record(ident, &format!("{code}:0"), expires, now);
    let tx = auth.store.begin().await?;
    tx.delete_many(Verification::MODEL, &[Where::eq(IDENTIFIER, ident)]).await?;
    tx.create(Verification::MODEL, row).await?;
    tx.commit().await?;
    Ok(())
}

async fn find(auth: &Auth, ident: &str) -> Result<Option<Verification>> {
    Ok(Verification::parse(auth.store.find_one(Verification::MODEL, &[Where::eq(IDENTIFIER, ident)]).await?)?)
}

/// The row as it was read: a write changes it only if no one else did in between.
fn unchanged(row: &Verification) -> [Where; 2] {
    [Where::eq(ID, row.id.as_str()), Where::eq(VALUE, row.value.as_str())]
}

/// Checks `code` against the row of `ident`. A right code is used up when `consume` (else it
/// stays for [`consume`]); a wrong one is counted; an expired or exhausted row is deleted.
/// Each answer rests on a write that saw the row as read: two requests racing on one row
/// cannot both use the code, nor have a wrong guess go uncounted.
pub async fn check(auth: &Auth, ident: &str, code: &str, allowed: u32, consume: bool) -> Result<()> {
    for _ in 0..5 {
        let Some(row) = find(auth, ident).await? else { return Err(not_found()) };
        let by_id = [Where::eq(ID, row.id.as_str())];
        match judge(&row, code, allowed, Utc::now()) {
            Verdict::Expired => {
                auth.store.delete_many(Verification::MODEL, &by_id).await?;
                return Err(ApiError::new(400, "OTP_EXPIRED", "OTP expired"));
            }
            Verdict::TooManyAttempts => {
                auth.store.delete_many(Verification::MODEL, &by_id).await?;
                return Err(ApiError::new(403, "TOO_MANY_ATTEMPTS", "Too many attempts"));
            }
            Verdict::Right if !consume => return Ok(()),
            Verdict::Right => {
                if auth.store.delete_many(Verification::MODEL, &unchanged(&row)).await? == 1 {
                    return Ok(());
                }
            }
            Verdict::Wrong => {
                let mut stored = Stored::parse(&row.value);
                stored.attempts = stored.attempts.saturating_add(1);
                let data = Record::new().with(VALUE, stored.value()).with(UPDATED_AT, Utc::now());
                if auth.store.update_many(Verification::MODEL, &unchanged(&row), data).await? == 1 {
                    return Err(invalid());
                }
            }
        }
    }
    // The row kept changing under us: refuse rather than guess.
    Err(invalid())
}

/// Uses up the code checked by [`check`] without `consume`: only one caller gets `true`.
pub async fn consume(auth: &Auth, ident: &str, code: &str) -> Result<bool> {
    let Some(row) = find(auth, ident).await? else { return Ok(false) };
    if !ct_eq(&Stored::parse(&row.value).code, code) {
        return Ok(false);
    }
    Ok(auth.store.delete_many(Verification::MODEL, &unchanged(&row)).await? == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(value: &str, expires_in: i64, now: DateTime<Utc>) -> Verification {
        Verification {
            id: "v1".into(),
            identifier: identifier(Purpose::Verify, "+1555"),
            value: value.into(),
            expires_at: now + Duration::seconds(expires_in),
            created_at: now,
            updated_at: now,
            extra: Record::new(),
        }
    }

    #[test]
    fn identifiers_and_values_as_better_auth_writes_them() {
        assert_eq!(identifier(Purpose::Verify, "+1 555"), "phone-number-otp-+1 555");
        assert_eq!(identifier(Purpose::Reset, "+1555"), "phone-number-reset-+1555");
        assert_eq!(Stored::parse("123456:2"), Stored { code: "123456".into(), attempts: 2 });
        assert_eq!(Stored { code: "000111".into(), attempts: 0 }.value(), "000111:0");
        assert_eq!(Stored::parse("123456").attempts, u32::MAX);
        assert_eq!(Stored::parse("123456:x").attempts, u32::MAX);
    }

    #[test]
    fn expiry_before_attempts_before_the_code() {
        let now = Utc::now();
        assert_eq!(judge(&row("123456:0", -1, now), "123456", 3, now), Verdict::Expired);
        assert_eq!(judge(&row("123456:3", -1, now), "123456", 3, now), Verdict::Expired);
        assert_eq!(judge(&row("123456:3", 60, now), "123456", 3, now), Verdict::TooManyAttempts);
        assert_eq!(judge(&row("123456:2", 60, now), "123456", 3, now), Verdict::Right);
        assert_eq!(judge(&row("123456:2", 60, now), "654321", 3, now), Verdict::Wrong);
        assert_eq!(judge(&row(":0", 60, now), "", 3, now), Verdict::Wrong);
    }
}
