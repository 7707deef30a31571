//! Proving the second factor: TOTP, backup code or e-mailed code, for a session or a challenge.

#[allow(unused_imports)]
use super::*;

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
    pub(super) fn otp_key(&self) -> String {
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
    pub(super) fn no_change(token: Option<String>, user: User, dont_remember: bool) -> Verified {
        Verified { token, user, new_session: None, dont_remember, challenge_done: false, trust_device: None }
    }
}

pub(super) struct Activation<'a> {
    row: Option<&'a TwoFactor>,
    session: &'a Session,
    dont_remember: bool,
    trust_device: bool,
    meta: &'a RequestMeta,
}

/// First successful code on a session: the flag goes on, the secret counts as verified and
/// the session is replaced, together. Returns the new session and any trust cookie value.
pub(super) async fn activate(auth: &Auth, cx: Activation<'_>, now: DateTime<Utc>) -> Result<(Session, Option<String>)> {
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
pub(super) async fn reserve_attempt(auth: &Auth, challenge: &str, now: DateTime<Utc>) -> Result<()> {
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
pub(super) const CAS_ROUNDS: usize = 64;
