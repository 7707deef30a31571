//! Sessions (WIRE.md §6): 32-char tokens, 7-day expiry (1 day without "remember me"),
//! sliding refresh after `updateAge`, freshness for sensitive operations.

use chrono::{Duration, Utc};

use super::{Auth, RequestMeta, Session, User};
use crate::crypto::random_id;
use crate::error::{ApiError, Result, codes};
use crate::model::Row;
use crate::model::fields::{CREATED_AT, EXPIRES_AT, ID, IP_ADDRESS, TOKEN, UPDATED_AT, USER_AGENT, USER_ID};
use crate::store::{FindMany, Op, Ops, Record, Where, now};

/// Lifetime of a "don't remember me" session (Better Auth: one day).
const DONT_REMEMBER_SECONDS: i64 = 86_400;

/// Creates a session row through `ops` (the store, or the transaction of a sign-up).
pub async fn create(
    auth: &Auth,
    ops: &dyn Ops,
    user_id: &str,
    dont_remember: bool,
    meta: &RequestMeta,
) -> Result<Session> {
    let at = now();
    let ttl = if dont_remember { DONT_REMEMBER_SECONDS } else { auth.config.session.expires_in };
    // The id comes from the adapter (the configured strategy).
    let rec = Record::new()
        .with(EXPIRES_AT, at + Duration::seconds(ttl))
        .with(TOKEN, random_id(32))
        .with(CREATED_AT, at)
        .with(UPDATED_AT, at)
        .with(IP_ADDRESS, meta.ip.map(|i| i.to_string()).unwrap_or_default())
        .with(USER_AGENT, meta.user_agent.clone())
        .with(USER_ID, user_id);
    Ok(Session::try_from(ops.create(Session::MODEL, rec).await?)?)
}

/// What a token resolves to.
#[allow(
    clippy::large_enum_variant,
    reason = "made once per request and taken apart at once: a box would only allocate"
)]
pub enum Lookup {
    Active(Session, User),
    /// The token was validly signed but names no live session (or its user is gone).
    Gone,
}

/// Finds the live session for `token` with its user; an expired row is deleted. With
/// secondary storage, a live session is answered from there without the database.
pub async fn lookup(auth: &Auth, token: &str) -> Result<Lookup> {
    if let Some(mirror) = &auth.mirror
        && let Some(pair) = mirror.get(token).await?
        && let Some((session, user)) = mirrored(pair)
        && session.expires_at > Utc::now()
    {
        return Ok(Lookup::Active(session, user));
    }
    let Some(session) = Session::parse(auth.store.find_one(Session::MODEL, &[Where::eq(TOKEN, token)]).await?)? else {
        return Ok(Lookup::Gone);
    };
    if session.expires_at <= Utc::now() {
        auth.store.delete(Session::MODEL, &[Where::eq(ID, session.id())]).await?;
        return Ok(Lookup::Gone);
    }
    let Some(user) = User::parse(auth.store.find_one(User::MODEL, &[Where::eq(ID, session.user_id())]).await?)? else {
        return Ok(Lookup::Gone);
    };
    if let Some(mirror) = &auth.mirror {
        publish(auth, mirror, &session, &user).await?;
    }
    Ok(Lookup::Active(session, user))
}

/// A mirrored pair typed; one that does not fit is skipped (the database answers instead).
fn mirrored((session, user): (Record, Record)) -> Option<(Session, User)> {
    match (Session::try_from(session), User::try_from(user)) {
        (Ok(s), Ok(u)) => Some((s, u)),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "unusable session in secondary storage");
            None
        }
    }
}

/// Publishes a session read from the database, then checks it still exists: a revocation
/// that raced with this read has either already deleted the row (we withdraw the entry) or
/// will remove the entry itself after its write.
async fn publish(auth: &Auth, mirror: &crate::store::mirror::Mirror, session: &Session, user: &User) -> Result<()> {
    let row = session.to_record();
    mirror.put(&row, &user.to_record()).await?;
    if auth.store.find_one(Session::MODEL, &[Where::eq(ID, session.id())]).await?.is_none() {
        mirror.withdraw(&row).await?;
    }
    Ok(())
}

/// Slides the expiry forward when the session is older than `updateAge`; returns whether
/// it did (the caller then re-sends the cookie).
pub async fn refresh_if_due(auth: &Auth, session: &mut Session) -> Result<bool> {
    let cfg = &auth.config.session;
    let due = session.expires_at - Duration::seconds(cfg.expires_in) + Duration::seconds(cfg.update_age);
    if Utc::now() < due {
        return Ok(false);
    }
    let at = now();
    let data = Record::new().with(EXPIRES_AT, at + Duration::seconds(cfg.expires_in)).with(UPDATED_AT, at);
    if let Some(updated) =
        Session::parse(auth.store.update(Session::MODEL, &[Where::eq(ID, session.id())], data).await?)?
    {
        *session = updated;
    }
    Ok(true)
}

/// Sensitive routes require a session younger than `freshAge`.
pub fn require_fresh(auth: &Auth, session: &Session) -> Result<()> {
    let fresh_age = auth.config.session.fresh_age;
    if fresh_age > 0 && Utc::now() - session.created_at > Duration::seconds(fresh_age) {
        return Err(codes::session_not_fresh());
    }
    Ok(())
}

pub async fn list_active(auth: &Auth, user_id: &str) -> Result<Vec<Session>> {
    let filter = [Where::eq(USER_ID, user_id), Where::new(EXPIRES_AT, Op::Gt, now())];
    let rows = auth.store.find_many(Session::MODEL, &filter, FindMany::default()).await?;
    Ok(Session::parse_all(rows)?)
}

/// Revokes one of the user's own sessions; other users' tokens are silently left alone.
pub async fn revoke(auth: &Auth, user_id: &str, token: &str) -> Result<()> {
    let filter = [Where::eq(TOKEN, token), Where::eq(USER_ID, user_id)];
    auth.store.delete(Session::MODEL, &filter).await.map_err(ApiError::from)
}

pub async fn revoke_by_token(auth: &Auth, token: &str) -> Result<()> {
    auth.store.delete(Session::MODEL, &[Where::eq(TOKEN, token)]).await.map_err(ApiError::from)
}

pub async fn revoke_all(auth: &Auth, user_id: &str) -> Result<()> {
    auth.store.delete_many(Session::MODEL, &[Where::eq(USER_ID, user_id)]).await?;
    Ok(())
}

pub async fn revoke_others(auth: &Auth, user_id: &str, keep_token: &str) -> Result<()> {
    let filter = [Where::eq(USER_ID, user_id), Where::new(TOKEN, Op::Ne, keep_token)];
    auth.store.delete_many(Session::MODEL, &filter).await?;
    Ok(())
}
