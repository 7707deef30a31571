//! The email-otp routes (docs/plugins-wire.md §7). Addresses are lower-cased first; one that
//! is not an address answers `INVALID_EMAIL` (sign-in: it simply has no code).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value as Json, json};

use super::EmailOtp;
use super::otp::{self, TYPES, errors, identifier};
use crate::auth::passwordless::{self, Proven};
use crate::auth::{RequestMeta, User, is_valid_email, users};
use crate::crypto::password;
use crate::error::{ApiError, Result, codes};
use crate::http::AppState;
use crate::http::extract::Body;
use crate::http::guard;
use crate::http::reply::Reply;
use crate::http::session;
use crate::model::Row;
use crate::model::fields::{EMAIL, EMAIL_VERIFIED, ID, UPDATED_AT, USER_ID};
use crate::store::{Intent, Ops, Record, Where, now};

type Plugin = Extension<Arc<EmailOtp>>;

/// The address lower-cased, or `INVALID_EMAIL`.
fn address(email: &str) -> Result<String> {
    let email = email.to_lowercase();
    if is_valid_email(&email) { Ok(email) } else { Err(codes::invalid_email()) }
}

fn success() -> Reply {
    Reply::json(json!({ "success": true }))
}

/// The user of a (lower-cased) address, read through `ops`.
async fn user_by_email(ops: &dyn Ops, email: &str) -> Result<Option<User>> {
    Ok(User::parse(ops.find_one(User::MODEL, &[Where::eq(EMAIL, email)]).await?)?)
}

/// `POST /email-otp/send-verification-otp`: a code for the address; `{success: true}` whether
/// or not one was sent (only sign-in codes go to unknown addresses).
pub async fn send_verification_otp(
    State(state): State<AppState>,
    Extension(plugin): Plugin,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let email = f.string("email");
    let kind = f.one_of("type", &TYPES);
    f.finish()?;
    let kind = kind.ok_or_else(errors::invalid_otp_type)?;
    guard::browser_origin(&state, &headers)?;
    let email = address(&email)?;
    if kind == "change-email" {
        return Err(errors::invalid_otp_type());
    }
    match users::find_by_email(&state.auth, &email).await? {
        Some(user) => {
            plugin.issue(&state.auth, kind, &email, user.email()).await?;
        }
        None if kind == "sign-in" && !plugin.config.disable_sign_up => {
            plugin.issue(&state.auth, kind, &email, &email).await?;
        }
        // As Better Auth: a code made for nobody is deleted at once.
        None => {
            let filter = [Where::eq(crate::model::fields::IDENTIFIER, identifier(kind, &email))];
            state.auth.store.delete_many(crate::model::Verification::MODEL, &filter).await?;
        }
    }
    Ok(success())
}

/// `POST /sign-in/email-otp`: spends the sign-in code and signs in, creating a verified
/// user for a new address.
pub async fn sign_in(
    State(state): State<AppState>,
    Extension(plugin): Plugin,
    meta: RequestMeta,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let email = f.string("email");
    let code = f.string("otp");
    let name = f.opt_string("name");
    let image = f.opt_string("image");
    let mut additional = f.additional(state.auth.schema.model(User::MODEL)?, false);
    f.finish()?;
    guard::browser_origin(&state, &headers)?;
    session::new_user_fields(&state, "/sign-in/email-otp", &mut additional);
    let email = email.to_lowercase();
    let tx = state.auth.store.begin_with(&Intent::noting_adoption()).await?;
    let (tx, _) = plugin.spend(tx, &identifier("sign-in", &email), &code).await?;
    let sign_up = !plugin.config.disable_sign_up;
    let proven = Proven { email, name: name.unwrap_or_default(), image, additional, sign_up };
    let Some(signed) = passwordless::sign_in(&state.auth, &*tx, proven, &meta).await? else {
        tx.commit().await?;
        return Err(codes::user_not_found());
    };
    tx.commit().await?;
    let body = json!({ "token": signed.session.token(), "user": signed.user.to_json() });
    let handover = session::hand_over(&state, &headers, &signed.session, &signed.user, false);
    Ok(Reply::json(body).session(handover))
}

/// `POST /email-otp/check-verification-otp`: checks a code without spending it.
pub async fn check_verification_otp(
    State(state): State<AppState>,
    Extension(plugin): Plugin,
    Body(mut f): Body,
) -> Result<Reply> {
    let email = f.string("email");
    let kind = f.one_of("type", &TYPES);
    let code = f.string("otp");
    f.finish()?;
    let kind = kind.ok_or_else(errors::invalid_otp_type)?;
    let email = address(&email)?;
    let tx = state.auth.store.begin().await?;
    let (tx, row) = plugin.spend(tx, &identifier(kind, &email), &code).await?;
    otp::put_back(&*tx, &row).await?;
    let user = user_by_email(&*tx, &email).await?;
    tx.commit().await?;
    user.ok_or_else(codes::user_not_found)?;
    Ok(success())
}

/// `POST /email-otp/verify-email`: spends the verification code and marks the address
/// verified; signs in only with `email_verification.auto_sign_in_after_verification`.
pub async fn verify_email(
    State(state): State<AppState>,
    Extension(plugin): Plugin,
    meta: RequestMeta,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let email = f.string("email");
    let code = f.string("otp");
    f.finish()?;
    let email = address(&email)?;
    let intent = Intent::noting_adoption();
    let tx = state.auth.store.begin_with(&intent).await?;
    let (tx, _) = plugin.spend(tx, &identifier("email-verification", &email), &code).await?;
    let Some(user) = user_by_email(&*tx, &email).await? else {
        tx.commit().await?;
        return Err(codes::user_not_found());
    };
    let data = Record::new().with(EMAIL, email.as_str()).with(EMAIL_VERIFIED, true).with(UPDATED_AT, now());
    let verified = users::verify_email_in(&*tx, &intent, user.id(), data).await?;
    let auto_sign_in = state.auth.config.email_verification.auto_sign_in_after_verification;
    let created = match auto_sign_in {
        true => Some(crate::auth::sessions::create(&state.auth, &*tx, user.id(), false, &meta).await?),
        false => None,
    };
    tx.commit().await?;
    let user = verified.user;
    if let Some(s) = created {
        let handover = session::hand_over(&state, &headers, &s, &user, false);
        let body = json!({ "status": true, "token": s.token(), "user": user.to_json() });
        return Ok(Reply::json(body).session(handover));
    }
    // The caller's own session (if any, and still there): its cached copy shows the change.
    let cache = match session::optional(&state, &headers).await? {
        Some(cur) if cur.user.id() == user.id() => {
            session::copy_cookies(&state, &headers, &cur.session, &user, cur.dont_remember)
        }
        _ => Vec::new(),
    };
    Ok(Reply::json(json!({ "status": true, "token": Json::Null, "user": user.to_json() })).cookies(cache))
}

/// `POST /email-otp/request-password-reset` (and the older `/forget-password/email-otp`):
/// a `forget-password` code, sent only when the address has a user.
pub async fn request_password_reset(
    State(state): State<AppState>,
    Extension(plugin): Plugin,
    Body(mut f): Body,
) -> Result<Reply> {
    let email = f.string("email");
    f.finish()?;
    let email = address(&email)?;
    if let Some(user) = users::find_by_email(&state.auth, &email).await? {
        plugin.issue(&state.auth, "forget-password", &email, user.email()).await?;
    }
    Ok(success())
}

/// `POST /email-otp/reset-password`: spends the `forget-password` code and sets the password
/// (making the credential account when the user has none); the address counts as verified.
pub async fn reset_password(
    State(state): State<AppState>,
    Extension(plugin): Plugin,
    Body(mut f): Body,
) -> Result<Reply> {
    let email = f.string("email");
    let code = f.string("otp");
    let new_password = f.string("password");
    f.finish()?;
    let email = address(&email)?;
    users::check_password_length(&state.auth, &new_password)?;
    // Hashed before the transaction: no write lock held through scrypt.
    let hash = password::hash(new_password).await?;
    let tx = state.auth.store.begin().await?;
    let (tx, _) = plugin.spend(tx, &identifier("forget-password", &email), &code).await?;
    let Some(user) = user_by_email(&*tx, &email).await? else {
        tx.commit().await?;
        return Err(codes::user_not_found());
    };
    users::set_password_hash(&*tx, user.id(), &hash).await?;
    if !user.email_verified() {
        let data = Record::new().with(EMAIL_VERIFIED, true).with(UPDATED_AT, now());
        tx.update(User::MODEL, &[Where::eq(ID, user.id())], data).await?;
    }
    if state.auth.config.email_and_password.revoke_sessions_on_password_reset {
        tx.delete_many(crate::auth::Session::MODEL, &[Where::eq(USER_ID, user.id())]).await?;
    }
    tx.commit().await?;
    Ok(success())
}

/// `POST /email-otp/request-email-change`: needs a session; changing the address by code is
/// off (Better Auth's default).
pub async fn request_email_change(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let _new_email = f.string("newEmail");
    let _otp = f.opt_string("otp");
    f.finish()?;
    change_email_refused(&state, &headers).await
}

/// `POST /email-otp/change-email`: as [`request_email_change`].
pub async fn change_email(State(state): State<AppState>, headers: HeaderMap, Body(mut f): Body) -> Result<Reply> {
    let _new_email = f.string("newEmail");
    let _otp = f.string("otp");
    f.finish()?;
    change_email_refused(&state, &headers).await
}

async fn change_email_refused(state: &AppState, headers: &HeaderMap) -> Result<Reply> {
    session::require(state, headers).await?;
    Err::<Reply, ApiError>(errors::change_email_disabled())
}
