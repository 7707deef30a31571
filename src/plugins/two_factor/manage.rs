//! Enabling, disabling and backup codes; sign-in challenges and trusted devices.

#[allow(unused_imports)]
use super::*;

// ------------------------------------------------------------------------------ management

pub struct Enabled {
    pub totp_uri: String,
    pub backup_codes: Vec<String>,
}

/// Creates (or replaces) the unverified row. 2FA becomes active with the first TOTP verified
/// on a session ([`verify`]).
/// Starts enrolment; `issuer` names the app in authenticators.
pub async fn enable(auth: &Auth, user: &User, password: String, issuer: &str) -> Result<Enabled> {
    users::check_password(auth, user.id(), password).await?;
    if two_factor_enabled(user) && find(auth, user.id()).await?.is_some_and(|r| r.verified) {
        return Err(errors::totp_already_enabled());
    }
    let (rec, secret, backup_codes) = new_record(auth.secret(), user.id());
    let tx = auth.store.begin().await?;
    tx.delete_many(MODEL, &[Where::eq("userId", user.id())]).await?;
    tx.create(MODEL, rec).await?;
    tx.commit().await?;
    Ok(Enabled { totp_uri: totp_uri(issuer, user.email(), secret.as_bytes()), backup_codes })
}

pub async fn totp_uri_for(auth: &Auth, user: &User, password: String, issuer: &str) -> Result<String> {
    let row = find(auth, user.id()).await?.ok_or_else(errors::totp_not_enabled)?;
    users::check_password(auth, user.id(), password).await?;
    Ok(totp_uri(issuer, user.email(), &row.key))
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

pub(super) async fn rotate_session(
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

pub(super) fn verification_row(identifier: &str, value: &str, ttl: i64, at: DateTime<Utc>) -> Record {
    Record::new()
        .with("identifier", identifier)
        .with("value", value)
        .with("expiresAt", at + Duration::seconds(ttl))
        .with("createdAt", at)
        .with("updatedAt", at)
}

pub(super) async fn live_row(auth: &Auth, identifier: &str, now: DateTime<Utc>) -> Result<Option<Record>> {
    let row = auth.store.find_one(VERIFICATION, &[Where::eq("identifier", identifier)]).await?;
    Ok(row.filter(|r| r.date("expiresAt").is_some_and(|e| e > now)))
}

pub(super) fn attempts_identifier(challenge: &str) -> String {
    format!("2fa-attempts-{challenge}")
}

pub(super) fn otp_identifier(key: &str) -> String {
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

pub(super) const TRUST_PREFIX: &str = "trust-device-";

/// The (unsigned) `trust_device` cookie value for a new device id: `{hmac}!{id}`.
pub(super) fn trust_value(auth: &Auth, user_id: &str, id: &str) -> String {
    let h = auth.signer.mac_url_safe(&format!("{user_id}!{id}"));
    format!("{h}!{id}")
}

pub(super) async fn create_trusted_device(
    auth: &Auth,
    ops: &dyn Ops,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<String> {
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
