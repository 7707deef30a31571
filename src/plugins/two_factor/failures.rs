//! The failed-verification counter and e-mailed codes.

#[allow(unused_imports)]
use super::*;

/// Where an account's failed-verification counter lives: its `twoFactor` row, or, for a user
/// whose only second factor is the e-mailed code (no row), a `verification` row
/// `2fa-lockout-<userId>` holding `{failed}:{lockedUntil ms}`, so the lockout covers every
/// method.
pub enum FailureCounter {
    Row(String),
    Verification(String),
}

/// How long a row-less account's counter is kept after its last change.
pub(super) const COUNTER_SECONDS: i64 = 30 * 24 * 3600;

impl FailureCounter {
    pub fn of(row: Option<&TwoFactor>, user_id: &str) -> FailureCounter {
        match row {
            Some(r) => FailureCounter::Row(r.id.clone()),
            None => FailureCounter::Verification(format!("2fa-lockout-{user_id}")),
        }
    }

    /// The stored record (if any) and the lockout it holds.
    pub(super) async fn read(&self, auth: &Auth, now: DateTime<Utc>) -> Result<(Option<Record>, Lockout)> {
        match self {
            FailureCounter::Row(id) => {
                let Some(rec) = auth.store.find_one(MODEL, &[Where::eq("id", id.as_str())]).await? else {
                    return Err(errors::two_factor_not_enabled());
                };
                let l = Lockout::of(&rec);
                Ok((Some(rec), l))
            }
            FailureCounter::Verification(ident) => {
                // Two first failures at once may each create a row: the oldest one counts.
                let opts = FindMany { sort_by: Some(("createdAt".into(), false)), ..Default::default() };
                let rows = auth.store.find_many(VERIFICATION, &[Where::eq("identifier", ident.as_str())], opts).await?;
                let rec = rows.into_iter().find(|r| r.date("expiresAt").is_some_and(|e| e > now));
                let l = rec.as_ref().map(|r| parse_counter(&r.string("value"))).unwrap_or_default();
                Ok((rec, l))
            }
        }
    }

    /// One compare-and-set from `seen` (read from `rec`) to `next`; false when someone else
    /// changed the counter first.
    pub(super) async fn swap(
        &self,
        auth: &Auth,
        rec: Option<Record>,
        next: Lockout,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        match (self, rec) {
            (FailureCounter::Row(id), Some(rec)) => {
                let filter = [
                    Where::eq("id", id.as_str()),
                    Where::eq(
                        "failedVerificationCount",
                        rec.get("failedVerificationCount").cloned().unwrap_or(Value::Null),
                    ),
                    Where::eq("lockedUntil", rec.get("lockedUntil").cloned().unwrap_or(Value::Null)),
                ];
                let data =
                    Record::new().with("failedVerificationCount", next.failed).with("lockedUntil", next.locked_until);
                Ok(auth.store.update_many(MODEL, &filter, data).await? == 1)
            }
            (FailureCounter::Verification(ident), None) => {
                auth.store
                    .create(VERIFICATION, verification_row(ident, &format_counter(next), COUNTER_SECONDS, now))
                    .await?;
                Ok(true)
            }
            (FailureCounter::Verification(_), Some(rec)) => {
                let filter = [Where::eq("id", rec.string("id")), Where::eq("value", rec.string("value"))];
                let data = Record::new()
                    .with("value", format_counter(next))
                    .with("expiresAt", now + Duration::seconds(COUNTER_SECONDS))
                    .with("updatedAt", now);
                Ok(auth.store.update_many(VERIFICATION, &filter, data).await? == 1)
            }
            (FailureCounter::Row(_), None) => Err(errors::two_factor_not_enabled()),
        }
    }

    /// A success resets the counter and lifts any lock. Unconditional: this request's own
    /// reserved slot (and any parallel failure) is in the counter, not in what was read.
    pub(super) async fn clear(&self, ops: &dyn Ops) -> Result<()> {
        match self {
            FailureCounter::Row(id) => {
                let data = Record::new().with("failedVerificationCount", 0i64).with("lockedUntil", Value::Null);
                ops.update(MODEL, &[Where::eq("id", id.as_str())], data).await?;
            }
            FailureCounter::Verification(ident) => {
                ops.delete_many(VERIFICATION, &[Where::eq("identifier", ident.as_str())]).await?;
            }
        }
        Ok(())
    }
}

pub(super) fn parse_counter(value: &str) -> Lockout {
    let (failed, until) = value.split_once(':').unwrap_or((value, ""));
    let locked_until = until.parse::<i64>().ok().and_then(DateTime::from_timestamp_millis);
    // An unreadable count is treated as the maximum: fail closed.
    Lockout { failed: failed.parse().unwrap_or(MAX_FAILED_VERIFICATIONS), locked_until }
}

pub(super) fn format_counter(l: Lockout) -> String {
    format!("{}:{}", l.failed, l.locked_until.map(|t| t.timestamp_millis().to_string()).unwrap_or_default())
}

/// Counts one failed verification for the account, before the code is checked: a
/// compare-and-set from the counter and lock as read, retried when a parallel request changed
/// them first. The slot that reaches the maximum also sets the lock; while locked it refuses
/// with `ACCOUNT_TEMPORARILY_LOCKED`.
pub async fn reserve_failure(auth: &Auth, counter: &FailureCounter, now: DateTime<Utc>) -> Result<()> {
    for _ in 0..CAS_ROUNDS {
        let (rec, seen) = counter.read(auth, now).await?;
        if seen.is_locked(now) {
            return Err(errors::account_locked());
        }
        if counter.swap(auth, rec, seen.after_failure(now), now).await? {
            return Ok(());
        }
    }
    // Contention this heavy on one account is itself a brute-force attempt.
    Err(errors::account_locked())
}

/// Removes `code` from the row's list; false when it is not there (or was just used).
pub(super) async fn use_backup_code(auth: &Auth, row: &TwoFactor, code: &str) -> Result<bool> {
    let Some(rest) = consume_backup_code(&row.backup_codes, code) else {
        return Ok(false);
    };
    let filter = [Where::eq("id", row.id.as_str()), Where::eq("backupCodes", row.backup_codes_ciphertext.as_str())];
    let data = Record::new().with("backupCodes", encrypt_codes(auth.secret(), &rest));
    Ok(auth.store.update_many(MODEL, &filter, data).await? == 1)
}

// ------------------------------------------------------------------------------ e-mailed codes

/// E-mails a fresh 6-digit code to the subject's user, replacing any pending one. Stored as
/// `{encrypted code}:{attempts}` for 3 minutes.
pub async fn send_otp(auth: &Auth, subject: &Subject, now: DateTime<Utc>) -> Result<()> {
    let code = crate::crypto::random_digits(OTP_DIGITS);
    let ident = otp_identifier(&subject.otp_key());
    let value = format!("{}:0", symmetric::encrypt(auth.secret(), &code));
    let tx = auth.store.begin().await?;
    tx.delete_many(VERIFICATION, &[Where::eq("identifier", ident.as_str())]).await?;
    tx.create(VERIFICATION, verification_row(&ident, &value, OTP_SECONDS, now)).await?;
    tx.commit().await?;
    auth.mailer.send_later(Email::new(EmailKind::TwoFactorOtp, subject.user().email(), String::new(), code));
    Ok(())
}

/// Checks an e-mailed code: used up on success, counted on failure; expired or exhausted
/// codes are removed.
pub(super) async fn check_otp(auth: &Auth, key: &str, code: &str, now: DateTime<Utc>) -> Result<bool> {
    let ident = otp_identifier(key);
    let row = auth.store.find_one(VERIFICATION, &[Where::eq("identifier", ident.as_str())]).await?;
    let Some(row) = row else {
        return Err(errors::otp_has_expired());
    };
    let row_id = row.string("id");
    let by_id = [Where::eq("id", row_id.as_str())];
    if row.date("expiresAt").is_none_or(|e| e <= now) {
        auth.store.delete(VERIFICATION, &by_id).await?;
        return Err(errors::otp_has_expired());
    }
    let old = row.string("value");
    let (stored, count) = old.rsplit_once(':').unwrap_or((old.as_str(), ""));
    let count: i64 = count.parse().unwrap_or(OTP_MAX_ATTEMPTS);
    if count >= OTP_MAX_ATTEMPTS {
        auth.store.delete(VERIFICATION, &by_id).await?;
        return Err(errors::too_many_attempts());
    }
    let expected = symmetric::decrypt(auth.secret(), stored).unwrap_or_default();
    if !expected.is_empty() && ct_eq(&expected, code) {
        // Whoever deletes the row used the code.
        let filter = [Where::eq("id", row_id.as_str()), Where::eq("value", old.as_str())];
        return Ok(auth.store.delete_many(VERIFICATION, &filter).await? == 1);
    }
    let data = Record::new().with("value", format!("{stored}:{}", count + 1)).with("updatedAt", now);
    let filter = [Where::eq("id", row_id.as_str()), Where::eq("value", old.as_str())];
    auth.store.update_many(VERIFICATION, &filter, data).await?;
    Ok(false)
}
