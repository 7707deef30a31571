//! Better Auth's two-factor plugin without HTTP (WIRE.md §9): TOTP (RFC 6238), backup codes,
//! e-mailed one-time codes, sign-in challenges, trusted devices and the failed-attempt lockout.
//!
//! Storage: one `twoFactor` row per user (`secret` and `backupCodes` encrypted as WIRE.md §15.4,
//! `verified` 0/1 with NULL meaning verified, `failedVerificationCount`, `lockedUntil`), and
//! `verification` rows: `2fa-<20>` → userId and `2fa-attempts-2fa-<20>` → count for a sign-in
//! challenge, `trust-device-<32>` → userId for a trusted device, `2fa-otp-<key>` → code.
//!
//! Functions whose outcome depends on the clock take `now` so tests can fix it.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::Value as Json;
use sha1::Sha1;

use crate::auth::{Auth, RequestMeta, Session, User, sessions, users};
use crate::crypto::{ct_eq, random_id, random_url_safe, symmetric};
use crate::error::{ApiError, Result};
use crate::mail::{Email, EmailKind};
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

// ------------------------------------------------------------------------------ TOTP

/// RFC 4226 HOTP with HMAC-SHA1, `digits` decimal digits (zero-padded).
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let bin = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    let code = u64::from(bin) % 10u64.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// RFC 6238 TOTP at `unix_seconds` (30 s steps, 6 digits).
pub fn totp_at(key: &[u8], unix_seconds: i64) -> String {
    hotp(key, step(unix_seconds), DIGITS)
}

fn step(unix_seconds: i64) -> u64 {
    u64::try_from(unix_seconds.div_euclid(PERIOD)).unwrap_or(0)
}

/// Accepts the code of the current step or of one step either side; compares in constant time.
pub fn verify_totp(key: &[u8], code: &str, now: DateTime<Utc>) -> bool {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let current = step(now.timestamp());
    let mut ok = false;
    for delta in -WINDOW..=WINDOW {
        let Some(counter) = current.checked_add_signed(delta) else {
            continue;
        };
        ok |= ct_eq(&hotp(key, counter, DIGITS), code);
    }
    ok
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// RFC 4648 base32, case-insensitive, padding and spaces ignored; `None` on other characters.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = BASE32.iter().position(|x| *x == c.to_ascii_uppercase())? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// `otpauth://totp/{issuer}:{email}?secret=…&issuer=…&digits=6&period=30` (WIRE.md §9): the
/// label parts like `encodeURIComponent`, the query like `URLSearchParams`.
pub fn totp_uri(issuer: &str, email: &str, key: &[u8]) -> String {
    use crate::auth::password::encode_component;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("secret", &base32_encode(key))
        .append_pair("issuer", issuer)
        .append_pair("digits", &DIGITS.to_string())
        .append_pair("period", &PERIOD.to_string())
        .finish();
    format!("otpauth://totp/{}:{}?{query}", encode_component(issuer), encode_component(email))
}

// ------------------------------------------------------------------------------ backup codes

/// Ten `xxxxx-xxxxx` codes over `[A-Za-z0-9]`.
pub fn generate_backup_codes() -> Vec<String> {
    (0..BACKUP_CODE_COUNT)
        .map(|_| {
            let raw = random_id(10);
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect()
}

/// The codes with `code` removed, or `None` when it is not among them. Every entry is
/// compared, so the time taken does not tell which one matched.
pub fn consume_backup_code(codes: &[String], code: &str) -> Option<Vec<String>> {
    let mut found = None;
    for (i, c) in codes.iter().enumerate() {
        if ct_eq(c, code) && found.is_none() {
            found = Some(i);
        }
    }
    let i = found?;
    let mut rest = codes.to_vec();
    rest.remove(i);
    Some(rest)
}

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
    backup_codes_ciphertext: String,
}

fn undecryptable() -> ApiError {
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
fn parse_codes(plain: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(plain) {
        Ok(v) => v,
        Err(_) => plain.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
    }
}

fn encrypt_codes(server_secret: &[u8], codes: &[String]) -> String {
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

fn issuer(auth: &Auth) -> String {
    auth.config.plugins.two_factor.issuer.clone().unwrap_or_else(|| auth.config.app_name.clone())
}

fn two_factor_enabled(user: &User) -> bool {
    user.extra.bool("twoFactorEnabled")
}

// ------------------------------------------------------------------------------ management

pub struct Enabled {
    pub totp_uri: String,
    pub backup_codes: Vec<String>,
}

/// Creates (or replaces) the unverified row. 2FA becomes active with the first TOTP verified
/// on a session ([`verify`]).
pub async fn enable(auth: &Auth, user: &User, password: String, issuer_override: Option<String>) -> Result<Enabled> {
    users::check_password(auth, user.id(), password).await?;
    if two_factor_enabled(user) && find(auth, user.id()).await?.is_some_and(|r| r.verified) {
        return Err(errors::totp_already_enabled());
    }
    let (rec, secret, backup_codes) = new_record(auth.secret(), user.id());
    let tx = auth.store.begin().await?;
    tx.delete_many(MODEL, &[Where::eq("userId", user.id())]).await?;
    tx.create(MODEL, rec).await?;
    tx.commit().await?;
    let issuer = issuer_override.unwrap_or_else(|| issuer(auth));
    Ok(Enabled { totp_uri: totp_uri(&issuer, user.email(), secret.as_bytes()), backup_codes })
}

pub async fn totp_uri_for(auth: &Auth, user: &User, password: String) -> Result<String> {
    let row = find(auth, user.id()).await?.ok_or_else(errors::totp_not_enabled)?;
    users::check_password(auth, user.id(), password).await?;
    Ok(totp_uri(&issuer(auth), user.email(), &row.key))
}

/// Replaces all backup codes.
pub async fn regenerate_backup_codes(auth: &Auth, user: &User, password: String) -> Result<Vec<String>> {
    if !two_factor_enabled(user) {
        return Err(errors::two_factor_not_enabled());
    }
    users::check_password(auth, user.id(), password).await?;
    let codes = generate_backup_codes();
    let data = Record::new().with("backupCodes", encrypt_codes(auth.secret(), &codes));
    let n = auth.store.update_many(MODEL, &[Where::eq("userId", user.id())], data).await?;
    if n == 0 {
        return Err(errors::two_factor_not_enabled());
    }
    Ok(codes)
}

/// Turns 2FA off: the row and the user's trusted devices go, the flag is cleared, and the
/// caller's session is replaced by a new one — all in one transaction.
pub async fn disable(
    auth: &Auth,
    user: &User,
    session: &Session,
    password: String,
    dont_remember: bool,
    meta: &RequestMeta,
) -> Result<Session> {
    users::check_password(auth, user.id(), password).await?;
    let tx = auth.store.begin().await?;
    let at = crate::store::now();
    tx.update(
        "user",
        &[Where::eq("id", user.id())],
        Record::new().with("twoFactorEnabled", false).with("updatedAt", at),
    )
    .await?;
    tx.delete_many(MODEL, &[Where::eq("userId", user.id())]).await?;
    tx.delete_many(
        VERIFICATION,
        &[Where::new("identifier", Op::StartsWith, TRUST_PREFIX), Where::eq("value", user.id())],
    )
    .await?;
    let fresh = rotate_session(auth, &*tx, session, dont_remember, meta).await?;
    tx.commit().await?;
    Ok(fresh)
}

async fn rotate_session(
    auth: &Auth,
    ops: &dyn Ops,
    old: &Session,
    dont_remember: bool,
    meta: &RequestMeta,
) -> Result<Session> {
    let fresh = sessions::create(auth, ops, old.user_id(), dont_remember, meta).await?;
    ops.delete("session", &[Where::eq("id", old.id())]).await?;
    Ok(fresh)
}

// ------------------------------------------------------------------------------ verification rows

fn verification_row(identifier: &str, value: &str, ttl: i64, at: DateTime<Utc>) -> Record {
    Record::new()
        .with("identifier", identifier)
        .with("value", value)
        .with("expiresAt", at + Duration::seconds(ttl))
        .with("createdAt", at)
        .with("updatedAt", at)
}

async fn live_row(auth: &Auth, identifier: &str, now: DateTime<Utc>) -> Result<Option<Record>> {
    let row = auth.store.find_one(VERIFICATION, &[Where::eq("identifier", identifier)]).await?;
    Ok(row.filter(|r| r.date("expiresAt").is_some_and(|e| e > now)))
}

fn attempts_identifier(challenge: &str) -> String {
    format!("2fa-attempts-{challenge}")
}

fn otp_identifier(key: &str) -> String {
    format!("2fa-otp-{key}")
}

// ------------------------------------------------------------------------------ sign-in

/// Starts a sign-in challenge: returns the `2fa-<20>` id the `two_factor` cookie carries.
pub async fn start_challenge(auth: &Auth, user_id: &str, now: DateTime<Utc>) -> Result<String> {
    let id = format!("2fa-{}", random_url_safe(20));
    let tx = auth.store.begin().await?;
    tx.create(VERIFICATION, verification_row(&id, user_id, CHALLENGE_SECONDS, now)).await?;
    tx.create(VERIFICATION, verification_row(&attempts_identifier(&id), "0", CHALLENGE_SECONDS, now)).await?;
    tx.commit().await?;
    Ok(id)
}

/// The user a live challenge belongs to.
pub async fn challenge_user(auth: &Auth, challenge: &str, now: DateTime<Utc>) -> Result<User> {
    let row = live_row(auth, challenge, now).await?.ok_or_else(errors::invalid_two_factor_cookie)?;
    users::find_by_id(auth, row.str("value").unwrap_or_default()).await?.ok_or_else(errors::invalid_two_factor_cookie)
}

const TRUST_PREFIX: &str = "trust-device-";

/// The (unsigned) `trust_device` cookie value for a new device id: `{hmac}!{id}`.
fn trust_value(auth: &Auth, user_id: &str, id: &str) -> String {
    let h = auth.signer.mac_url_safe(&format!("{user_id}!{id}"));
    format!("{h}!{id}")
}

async fn create_trusted_device(auth: &Auth, ops: &dyn Ops, user_id: &str, now: DateTime<Utc>) -> Result<String> {
    let id = format!("{TRUST_PREFIX}{}", random_url_safe(32));
    ops.create(VERIFICATION, verification_row(&id, user_id, TRUST_DEVICE_SECONDS, now)).await?;
    Ok(trust_value(auth, user_id, &id))
}

/// Checks a (signature-verified) `trust_device` cookie value for `user_id`. A valid one is
/// used up and replaced: returns the new cookie value.
pub async fn use_trusted_device(auth: &Auth, user_id: &str, value: &str, now: DateTime<Utc>) -> Result<Option<String>> {
    let Some((mac, id)) = value.split_once('!') else {
        return Ok(None);
    };
    if !id.starts_with(TRUST_PREFIX) || !ct_eq(mac, &auth.signer.mac_url_safe(&format!("{user_id}!{id}"))) {
        return Ok(None);
    }
    let Some(row) = live_row(auth, id, now).await? else {
        return Ok(None);
    };
    if row.str("value") != Some(user_id) {
        return Ok(None);
    }
    let tx = auth.store.begin().await?;
    // Only the request that removes the old row gets a new one.
    if tx.delete_many(VERIFICATION, &[Where::eq("identifier", id)]).await? == 0 {
        return Ok(None);
    }
    let fresh = create_trusted_device(auth, &*tx, user_id, now).await?;
    tx.commit().await?;
    Ok(Some(fresh))
}

// ------------------------------------------------------------------------------ verifying

/// Who is proving the second factor.
pub enum Subject {
    /// A signed-in user: enabling 2FA, or checking a code.
    Session { session: Session, user: User, dont_remember: bool },
    /// A sign-in waiting on its second factor (the `two_factor` cookie).
    Challenge { id: String, user: User, dont_remember: bool },
}

impl Subject {
    pub fn user(&self) -> &User {
        match self {
            Subject::Session { user, .. } | Subject::Challenge { user, .. } => user,
        }
    }

    /// Names the pending e-mailed code: the challenge, or `{userId}!{sessionId}`.
    fn otp_key(&self) -> String {
        match self {
            Subject::Session { session, user, .. } => format!("{}!{}", user.id(), session.id()),
            Subject::Challenge { id, .. } => id.clone(),
        }
    }
}

pub enum Method {
    Totp(String),
    BackupCode { code: String, disable_session: bool },
    Otp(String),
}

/// A successful verification.
pub struct Verified {
    /// The token to report: the new session's, or the caller's current one.
    pub token: Option<String>,
    pub user: User,
    /// A session to set as the cookie (new sign-in or rotation).
    pub new_session: Option<Session>,
    pub dont_remember: bool,
    /// The challenge was completed: the `two_factor` cookie should be cleared.
    pub challenge_done: bool,
    /// The unsigned `trust_device` cookie value, when the device was trusted.
    pub trust_device: Option<String>,
}

/// Checks `method` for `subject`. For a challenge this enforces the lockout and the per-
/// challenge attempt limit and, on success, creates the session; for a signed-in user whose
/// 2FA is not active yet (or whose secret is unverified), success activates it and rotates
/// the session.
pub async fn verify(
    auth: &Auth,
    subject: Subject,
    method: Method,
    trust_device: bool,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<Verified> {
    let row = find(auth, subject.user().id()).await?;
    let challenge = matches!(subject, Subject::Challenge { .. });
    // Every sign-in verification counts against the account, whatever the method.
    let counter = challenge.then(|| FailureCounter::of(row.as_ref(), subject.user().id()));
    // The row already read holds its lock; only a row-less account's counter needs reading.
    let locked = match (&counter, &row) {
        (Some(_), Some(r)) => r.lockout.is_locked(now),
        (Some(c), None) => c.read(auth, now).await?.1.is_locked(now),
        (None, _) => false,
    };
    if locked {
        return Err(errors::account_locked());
    }
    // Which row must exist for the method.
    match (&method, &row) {
        (Method::Totp(_), None) => return Err(errors::totp_not_enabled()),
        (Method::Totp(_), Some(r)) if challenge && !r.verified => {
            return Err(errors::totp_not_enabled());
        }
        (Method::BackupCode { .. }, None) => return Err(errors::backup_codes_not_enabled()),
        _ => {}
    }
    if let (Subject::Challenge { id, .. }, Method::Totp(_) | Method::BackupCode { .. }) = (&subject, &method) {
        reserve_attempt(auth, id, now).await?;
    }
    // Each guess on a sign-in takes one of the account's failure slots before it is checked
    // (given back on success), so parallel guesses cannot get past the limit.
    if let Some(c) = &counter {
        reserve_failure(auth, c, now).await?;
    }
    let ok = match (&method, &row) {
        (Method::Totp(code), Some(r)) => verify_totp(&r.key, code, now),
        (Method::BackupCode { code, .. }, Some(r)) => use_backup_code(auth, r, code).await?,
        (Method::Otp(code), _) => check_otp(auth, &subject.otp_key(), code, now).await?,
        _ => false,
    };
    if !ok {
        return Err(match method {
            Method::BackupCode { .. } => errors::invalid_backup_code(),
            _ => errors::invalid_code(),
        });
    }
    let backup_only = matches!(method, Method::BackupCode { disable_session: true, .. });
    match subject {
        Subject::Session { session, user, dont_remember } => {
            let activates = matches!(method, Method::Totp(_) | Method::Otp(_))
                && (!two_factor_enabled(&user) || row.as_ref().is_some_and(|r| !r.verified));
            if !activates {
                let token = session.token().to_string();
                return Ok(Verified::no_change(Some(token), user, dont_remember));
            }
            let cx = Activation { row: row.as_ref(), session: &session, dont_remember, trust_device, meta };
            let (fresh, trust) = activate(auth, cx, now).await?;
            // The reply shows the user as it was before this call (WIRE.md §9).
            Ok(Verified {
                token: Some(fresh.token().to_string()),
                user,
                new_session: Some(fresh),
                dont_remember,
                challenge_done: false,
                trust_device: trust,
            })
        }
        Subject::Challenge { user, .. } if backup_only => {
            // The code is used up and counts as a success, but nobody is signed in.
            if let Some(c) = &counter {
                c.clear(&*auth.store).await?;
            }
            Ok(Verified::no_change(None, user, false))
        }
        Subject::Challenge { id, user, dont_remember } => {
            let tx = auth.store.begin().await?;
            if let Some(c) = &counter {
                c.clear(&*tx).await?;
            }
            // Only the request that removes the challenge completes it.
            let removed = tx.delete_many(VERIFICATION, &[Where::eq("identifier", id.as_str())]).await?;
            if removed == 0 {
                return Err(errors::invalid_two_factor_cookie());
            }
            let leftovers = vec![attempts_identifier(&id).into(), otp_identifier(&id).into()];
            tx.delete_many(VERIFICATION, &[Where::is_in("identifier", leftovers)]).await?;
            let session = sessions::create(auth, &*tx, user.id(), dont_remember, meta).await?;
            let trust =
                if trust_device { Some(create_trusted_device(auth, &*tx, user.id(), now).await?) } else { None };
            tx.commit().await?;
            Ok(Verified {
                token: Some(session.token().to_string()),
                user,
                new_session: Some(session),
                dont_remember,
                challenge_done: true,
                trust_device: trust,
            })
        }
    }
}

impl Verified {
    fn no_change(token: Option<String>, user: User, dont_remember: bool) -> Verified {
        Verified { token, user, new_session: None, dont_remember, challenge_done: false, trust_device: None }
    }
}

struct Activation<'a> {
    row: Option<&'a TwoFactor>,
    session: &'a Session,
    dont_remember: bool,
    trust_device: bool,
    meta: &'a RequestMeta,
}

/// First successful code on a session: the flag goes on, the secret counts as verified and
/// the session is replaced, together. Returns the new session and any trust cookie value.
async fn activate(auth: &Auth, cx: Activation<'_>, now: DateTime<Utc>) -> Result<(Session, Option<String>)> {
    let user_id = cx.session.user_id();
    let tx = auth.store.begin().await?;
    let data = Record::new().with("twoFactorEnabled", true).with("updatedAt", crate::store::now());
    tx.update("user", &[Where::eq("id", user_id)], data).await?;
    if let Some(r) = cx.row {
        let data = Record::new().with("verified", true);
        tx.update(MODEL, &[Where::eq("id", r.id.as_str())], data).await?;
    }
    let fresh = rotate_session(auth, &*tx, cx.session, cx.dont_remember, cx.meta).await?;
    let trust = if cx.trust_device { Some(create_trusted_device(auth, &*tx, user_id, now).await?) } else { None };
    tx.commit().await?;
    Ok((fresh, trust))
}

/// Counts one try against the challenge; refuses once the limit is reached. The count is
/// raised with a compare-and-set so parallel guesses cannot share one slot.
async fn reserve_attempt(auth: &Auth, challenge: &str, now: DateTime<Utc>) -> Result<()> {
    let ident = attempts_identifier(challenge);
    for _ in 0..8 {
        let Some(row) = live_row(auth, &ident, now).await? else {
            auth.store.create(VERIFICATION, verification_row(&ident, "1", CHALLENGE_SECONDS, now)).await?;
            return Ok(());
        };
        let old = row.string("value");
        let count: i64 = old.parse().unwrap_or(MAX_CHALLENGE_ATTEMPTS);
        if count >= MAX_CHALLENGE_ATTEMPTS {
            return Err(errors::too_many_attempts());
        }
        let data = Record::new().with("value", (count + 1).to_string()).with("updatedAt", now);
        let filter = [Where::eq("id", row.string("id")), Where::eq("value", old.as_str())];
        if auth.store.update_many(VERIFICATION, &filter, data).await? == 1 {
            return Ok(());
        }
    }
    Err(errors::too_many_attempts())
}

/// Rounds of compare-and-set before giving up on a counter that keeps changing underfoot.
const CAS_ROUNDS: usize = 64;

/// Where an account's failed-verification counter lives: its `twoFactor` row, or, for a user
/// whose only second factor is the e-mailed code (no row), a `verification` row
/// `2fa-lockout-<userId>` holding `{failed}:{lockedUntil ms}`, so the lockout covers every
/// method.
pub enum FailureCounter {
    Row(String),
    Verification(String),
}

/// How long a row-less account's counter is kept after its last change.
const COUNTER_SECONDS: i64 = 30 * 24 * 3600;

impl FailureCounter {
    pub fn of(row: Option<&TwoFactor>, user_id: &str) -> FailureCounter {
        match row {
            Some(r) => FailureCounter::Row(r.id.clone()),
            None => FailureCounter::Verification(format!("2fa-lockout-{user_id}")),
        }
    }

    /// The stored record (if any) and the lockout it holds.
    async fn read(&self, auth: &Auth, now: DateTime<Utc>) -> Result<(Option<Record>, Lockout)> {
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
    async fn swap(&self, auth: &Auth, rec: Option<Record>, next: Lockout, now: DateTime<Utc>) -> Result<bool> {
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
    async fn clear(&self, ops: &dyn Ops) -> Result<()> {
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

fn parse_counter(value: &str) -> Lockout {
    let (failed, until) = value.split_once(':').unwrap_or((value, ""));
    let locked_until = until.parse::<i64>().ok().and_then(DateTime::from_timestamp_millis);
    // An unreadable count is treated as the maximum: fail closed.
    Lockout { failed: failed.parse().unwrap_or(MAX_FAILED_VERIFICATIONS), locked_until }
}

fn format_counter(l: Lockout) -> String {
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
async fn use_backup_code(auth: &Auth, row: &TwoFactor, code: &str) -> Result<bool> {
    let Some(rest) = consume_backup_code(&row.backup_codes, code) else {
        return Ok(false);
    };
    let filter = [Where::eq("id", row.id.as_str()), Where::eq("backupCodes", row.backup_codes_ciphertext.as_str())];
    let data = Record::new().with("backupCodes", encrypt_codes(auth.secret(), &rest));
    Ok(auth.store.update_many(MODEL, &filter, data).await? == 1)
}

// ------------------------------------------------------------------------------ e-mailed codes

fn random_digits(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect()
}

/// E-mails a fresh 6-digit code to the subject's user, replacing any pending one. Stored as
/// `{encrypted code}:{attempts}` for 3 minutes.
pub async fn send_otp(auth: &Auth, subject: &Subject, now: DateTime<Utc>) -> Result<()> {
    let code = random_digits(OTP_DIGITS);
    let ident = otp_identifier(&subject.otp_key());
    let value = format!("{}:0", symmetric::encrypt(auth.secret(), &code));
    let tx = auth.store.begin().await?;
    tx.delete_many(VERIFICATION, &[Where::eq("identifier", ident.as_str())]).await?;
    tx.create(VERIFICATION, verification_row(&ident, &value, OTP_SECONDS, now)).await?;
    tx.commit().await?;
    auth.mailer.send_later(Email {
        kind: EmailKind::TwoFactorOtp,
        to: subject.user().email().to_string(),
        url: String::new(),
        token: code,
    });
    Ok(())
}

/// Checks an e-mailed code: used up on success, counted on failure; expired or exhausted
/// codes are removed.
async fn check_otp(auth: &Auth, key: &str, code: &str, now: DateTime<Utc>) -> Result<bool> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).expect("valid timestamp")
    }

    #[test]
    fn totp_matches_rfc6238_sha1_vectors() {
        let key = b"12345678901234567890";
        for (t, code8) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(hotp(key, step(t), 8), code8, "t={t}");
            assert_eq!(totp_at(key, t), code8[2..], "t={t}");
        }
    }

    #[test]
    fn hotp_matches_rfc4226_vectors() {
        let key = b"12345678901234567890";
        let expected = ["755224", "287082", "359152", "969429", "338314"];
        for (i, code) in expected.iter().enumerate() {
            assert_eq!(hotp(key, i as u64, 6), *code);
        }
    }

    #[test]
    fn totp_window_is_one_step_either_side() {
        let key = b"abcdefghijklmnopqrstuvwxyz012345";
        let now = at(1_700_000_015);
        let code_at = |t: i64| totp_at(key, t);
        assert!(verify_totp(key, &code_at(1_700_000_015), now));
        assert!(verify_totp(key, &code_at(1_700_000_015 - 30), now));
        assert!(verify_totp(key, &code_at(1_700_000_015 + 30), now));
        assert!(!verify_totp(key, &code_at(1_700_000_015 - 60), now));
        assert!(!verify_totp(key, &code_at(1_700_000_015 + 60), now));
        assert!(!verify_totp(key, "12345", now));
        assert!(!verify_totp(key, "abcdef", now));
    }

    #[test]
    fn base32_round_trip_and_rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), enc);
            assert_eq!(base32_decode(enc).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(base32_decode("mzxw6ytboi======").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(base32_decode("MZ1"), None);
        // A 32-byte secret encodes to 52 characters (WIRE.md §9).
        assert_eq!(base32_encode(&[0u8; 32]).len(), 52);
    }

    #[test]
    fn uri_encodes_like_better_auth() {
        let uri = totp_uri("Better Auth Peer", "a+b@x.io", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/Better%20Auth%20Peer:a%2Bb%40x.io?secret=MZXW6YTBOI&issuer=Better+Auth+Peer&digits=6&period=30"
        );
    }

    #[test]
    fn backup_codes_have_the_documented_shape() {
        let codes = generate_backup_codes();
        assert_eq!(codes.len(), 10);
        for c in &codes {
            let b = c.as_bytes();
            assert_eq!(b.len(), 11, "{c}");
            assert_eq!(b[5], b'-');
            assert!(b[..5].iter().chain(&b[6..]).all(u8::is_ascii_alphanumeric));
        }
        let rest = consume_backup_code(&codes, &codes[3]).expect("present");
        assert_eq!(rest.len(), 9);
        assert!(!rest.contains(&codes[3]));
        assert!(consume_backup_code(&rest, &codes[3]).is_none());
        assert!(consume_backup_code(&codes, "xxxxx-xxxxx").is_none());
    }

    #[test]
    fn row_round_trips_through_encryption() {
        let server = b"conformance-secret-0123456789-abcdefghijklmnop";
        let (rec, secret, codes) = new_record(server, "user1");
        assert_eq!(secret.len(), 32);
        let stored = rec.str("secret").unwrap_or_default();
        assert_eq!(stored.len(), 144, "(24 + 32 + 16) bytes as hex");
        assert!(stored.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let row = TwoFactor::from_record(server, &rec).expect("decrypts");
        assert_eq!(row.key, secret.as_bytes());
        assert_eq!(row.backup_codes, codes);
        assert!(!row.verified);
        assert_eq!(row.lockout, Lockout::default());
        assert_eq!(row.user_id, "user1");
        assert!(TwoFactor::from_record(b"another secret", &rec).is_err());

        // NULL `verified` counts as verified; an imported base32 secret is decoded.
        let legacy =
            rec.clone().with("verified", Value::Null).with("secret", symmetric::encrypt(server, "base32:MZXW6YTBOI"));
        let row = TwoFactor::from_record(server, &legacy).expect("decrypts");
        assert!(row.verified);
        assert_eq!(row.key, b"foobar");
    }

    #[test]
    fn lockout_after_ten_failures_expires_after_fifteen_minutes() {
        let t0 = at(1_700_000_000);
        let mut l = Lockout::default();
        for i in 1..MAX_FAILED_VERIFICATIONS {
            l = l.after_failure(t0);
            assert_eq!(l.failed, i);
            assert!(!l.is_locked(t0));
        }
        l = l.after_failure(t0);
        assert_eq!(l.failed, MAX_FAILED_VERIFICATIONS);
        assert_eq!(l.locked_until, Some(t0 + Duration::minutes(15)));
        assert!(l.is_locked(t0 + Duration::minutes(14)));
        let later = t0 + Duration::minutes(15);
        assert!(!l.is_locked(later));
        // After the lock has run out, counting starts again from one.
        let next = l.after_failure(later);
        assert_eq!(next.failed, 1);
        assert_eq!(next.locked_until, None);
    }
}
