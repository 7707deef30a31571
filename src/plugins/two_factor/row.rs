//! The failed-attempt lockout and the `twoFactor` row (secret and backup codes encrypted).

#[allow(unused_imports)]
use super::*;

// ------------------------------------------------------------------------------ lockout

/// The failed-verification counter of a `twoFactor` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lockout {
    pub failed: i64,
    pub locked_until: Option<DateTime<Utc>>,
}

impl Lockout {
    /// The counter and lock of a stored `twoFactor` row (NULL count = 0).
    pub fn of(rec: &Record) -> Lockout {
        Lockout { failed: rec.int("failedVerificationCount").unwrap_or(0), locked_until: rec.date("lockedUntil") }
    }

    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }

    /// The state after one more failure. A lock that has run out starts the count afresh;
    /// reaching the maximum locks the account for 15 minutes.
    pub fn after_failure(&self, now: DateTime<Utc>) -> Lockout {
        let expired = self.locked_until.is_some_and(|t| t <= now);
        let failed = if expired { 1 } else { self.failed + 1 };
        let locked_until = if failed >= MAX_FAILED_VERIFICATIONS {
            Some(now + Duration::seconds(LOCKOUT_SECONDS))
        } else if expired {
            None
        } else {
            self.locked_until
        };
        Lockout { failed, locked_until }
    }
}

// ------------------------------------------------------------------------------ the row

/// A decrypted `twoFactor` row.
#[derive(Debug, Clone)]
pub struct TwoFactor {
    pub id: String,
    pub user_id: String,
    /// The HMAC key: the UTF-8 bytes of the stored secret, or the decoded bytes of an
    /// imported `base32:<SECRET>`.
    pub key: Vec<u8>,
    pub backup_codes: Vec<String>,
    pub verified: bool,
    pub lockout: Lockout,
    /// The stored ciphertext, so a code is consumed only if nobody changed the list meanwhile.
    pub(super) backup_codes_ciphertext: String,
}

pub(super) fn undecryptable() -> ApiError {
    ApiError::internal("twoFactor", "stored two-factor secret cannot be decrypted with the current secret")
}

impl TwoFactor {
    /// Decrypts a stored row with the server secret.
    pub fn from_record(server_secret: &[u8], rec: &Record) -> Result<TwoFactor> {
        let secret =
            symmetric::decrypt(server_secret, rec.str("secret").unwrap_or_default()).ok_or_else(undecryptable)?;
        let key = match secret.strip_prefix("base32:") {
            Some(b32) => base32_decode(b32).ok_or_else(undecryptable)?,
            None => secret.into_bytes(),
        };
        let ciphertext = rec.string("backupCodes");
        let codes = symmetric::decrypt(server_secret, &ciphertext).ok_or_else(undecryptable)?;
        Ok(TwoFactor {
            id: rec.string("id"),
            user_id: rec.string("userId"),
            key,
            backup_codes: parse_codes(&codes),
            // NULL (rows from before the column existed) counts as verified.
            verified: !matches!(rec.get("verified"), Some(Value::Bool(false))),
            lockout: Lockout::of(rec),
            backup_codes_ciphertext: ciphertext,
        })
    }
}

/// A JSON array of codes; a bare comma-separated list is read too.
pub(super) fn parse_codes(plain: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(plain) {
        Ok(v) => v,
        Err(_) => plain.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
    }
}

pub(super) fn encrypt_codes(server_secret: &[u8], codes: &[String]) -> String {
    symmetric::encrypt(server_secret, &Json::from(codes.to_vec()).to_string())
}

/// A new, unverified row for `user_id` with a fresh secret and backup codes.
pub fn new_record(server_secret: &[u8], user_id: &str) -> (Record, String, Vec<String>) {
    let secret = random_url_safe(SECRET_LEN);
    let codes = generate_backup_codes();
    let rec = Record::new()
        .with("secret", symmetric::encrypt(server_secret, &secret))
        .with("backupCodes", encrypt_codes(server_secret, &codes))
        .with("userId", user_id)
        .with("verified", false)
        .with("failedVerificationCount", 0i64)
        .with("lockedUntil", Value::Null);
    (rec, secret, codes)
}

pub async fn find(auth: &Auth, user_id: &str) -> Result<Option<TwoFactor>> {
    auth.store
        .find_one(MODEL, &[Where::eq("userId", user_id)])
        .await?
        .map(|rec| TwoFactor::from_record(auth.secret(), &rec))
        .transpose()
}

pub fn two_factor_enabled(user: &User) -> bool {
    user.extra.bool("twoFactorEnabled")
}
