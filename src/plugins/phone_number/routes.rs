//! The phone-number plugin's routes (docs/plugins-wire.md §8).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::json;

use super::otp::{self, Purpose};
use super::{PHONE_NUMBER, PhoneNumberPlugin, VERIFIED, find_user, is_verified};
use crate::auth::{Auth, RequestMeta, User, sessions, users};
use crate::crypto::password;
use crate::error::{ApiError, Result, codes};
use crate::http::AppState;
use crate::http::extract::Body;
use crate::http::guard;
use crate::http::reply::Reply;
use crate::http::session::{self, Opened};
use crate::model::fields::{ID, PROVIDER_ID, UPDATED_AT, USER_ID};
use crate::model::{Account, Row};
use crate::store::{Record, StoreError, Where, now};

fn invalid_credentials() -> ApiError {
    ApiError::new(401, "INVALID_PHONE_NUMBER_OR_PASSWORD", "Invalid phone number or password")
}

fn number_exists() -> ApiError {
    ApiError::new(400, "PHONE_NUMBER_EXIST", "Phone number already exists")
}

/// `POST /phone-number/send-otp`: `{"message":"code sent"}` once the text is out.
pub async fn send_otp(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<PhoneNumberPlugin>>,
    Body(mut f): Body,
) -> Result<Reply> {
    let number = f.string("phoneNumber");
    f.finish()?;
    plugin.send_code(&state.auth, &number).await?;
    Ok(Reply::json(json!({ "message": "code sent" })))
}

/// Writes `data` on the user; a number another user took meanwhile is `PHONE_NUMBER_EXIST`.
async fn update_user(auth: &Auth, user_id: &str, data: Record) -> Result<User> {
    let data = data.with(UPDATED_AT, now());
    match auth.store.update(User::MODEL, &[Where::eq(ID, user_id)], data).await {
        Err(StoreError::Unique(_)) => Err(number_exists()),
        other => User::parse(other?)?.ok_or_else(failed_to_update),
    }
}

fn failed_to_update() -> ApiError {
    ApiError::new(500, "FAILED_TO_UPDATE_USER", "Failed to update user")
}

/// `POST /phone-number/verify`: the code is used up first, whatever follows.
pub async fn verify(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<PhoneNumberPlugin>>,
    meta: RequestMeta,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let number = f.string("phoneNumber");
    let code = f.string("code");
    let disable_session = f.opt_bool("disableSession").unwrap_or(false);
    let update_number = f.opt_bool("updatePhoneNumber").unwrap_or(false);
    f.finish()?;
    let ident = otp::identifier(Purpose::Verify, &number);
    otp::check(&state.auth, &ident, &code, plugin.config.allowed_attempts, true).await?;
    if update_number {
        // Attach the number to the caller's user; the session stays, no cookie is set.
        let Some(cur) = session::optional(&state, &headers).await? else {
            return Err(ApiError::new(401, "USER_NOT_FOUND", "User not found"));
        };
        if find_user(&state.auth, &number).await?.is_some() {
            return Err(number_exists());
        }
        let data = Record::new().with(PHONE_NUMBER, number.as_str()).with(VERIFIED, true);
        let user = update_user(&state.auth, cur.user.id(), data).await?;
        return Ok(Reply::json(json!({ "status": true, "token": cur.session.token(), "user": user.to_json() })));
    }
    // No sign-up on verification: a number without a user fails as Better Auth's update does.
    let Some(user) = find_user(&state.auth, &number).await? else { return Err(failed_to_update()) };
    let user = update_user(&state.auth, user.id(), Record::new().with(VERIFIED, true)).await?;
    if disable_session {
        return Ok(Reply::json(json!({ "status": true, "token": null, "user": user.to_json() })));
    }
    let created = sessions::create(&state.auth, &*state.auth.store, user.id(), false, &meta).await?;
    let handover = session::hand_over(&state, &headers, &created, &user, false);
    Ok(Reply::json(json!({ "status": true, "token": created.token(), "user": user.to_json() })).session(handover))
}

/// `POST /sign-in/phone-number`: `{token, user}` (no `redirect`), through the plugins' gates.
pub async fn sign_in(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<PhoneNumberPlugin>>,
    meta: RequestMeta,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let number = f.string("phoneNumber");
    let pw = f.string("password");
    let remember_me = f.opt_bool("rememberMe").unwrap_or(true);
    f.finish()?;
    guard::browser_origin(&state, &headers)?;
    if pw.chars().count() > state.auth.config.email_and_password.max_password_length {
        return Err(codes::password_too_long());
    }
    // An unknown number and a wrong password answer alike and cost the same hashing.
    let Some(user) = find_user(&state.auth, &number).await? else {
        password::verify_dummy(pw).await?;
        return Err(invalid_credentials());
    };
    if plugin.config.require_verification && !is_verified(&user) {
        plugin.send_code(&state.auth, &number).await?;
        return Err(ApiError::new(401, "PHONE_NUMBER_NOT_VERIFIED", "Phone number not verified"));
    }
    let filter = [Where::eq(USER_ID, user.id()), Where::eq(PROVIDER_ID, Account::CREDENTIAL)];
    let Some(account) = Account::parse(state.auth.store.find_one(Account::MODEL, &filter).await?)? else {
        password::verify_dummy(pw).await?;
        return Err(invalid_credentials());
    };
    let Some(hash) = account.password else {
        return Err(ApiError::new(401, "UNEXPECTED_ERROR", "Unexpected error"));
    };
    if !password::verify(hash, pw).await? {
        return Err(invalid_credentials());
    }
    match session::open_session(&state, &meta, &headers, &user, remember_me).await? {
        Opened::Challenge(reply) => Ok(reply),
        Opened::Session(created, cookies) => {
            let handover = session::hand_over(&state, &headers, &created, &user, !remember_me);
            let body = json!({ "token": created.token(), "user": user.to_json() });
            Ok(Reply::json(body).session(handover).cookies(cookies))
        }
    }
}

/// `POST /phone-number/request-password-reset`: `{"status":true}` whatever the number.
pub async fn request_password_reset(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<PhoneNumberPlugin>>,
    Body(mut f): Body,
) -> Result<Reply> {
    let number = f.string("phoneNumber");
    f.finish()?;
    plugin.reset_code(&state.auth, &number).await?;
    Ok(Reply::json(json!({ "status": true })))
}

/// `POST /phone-number/reset-password`: the password's length, then the code (checked, and
/// used up only once the user is known), then the new password.
pub async fn reset_password(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<PhoneNumberPlugin>>,
    Body(mut f): Body,
) -> Result<Reply> {
    let number = f.string("phoneNumber");
    let code = f.string("otp");
    let new_password = f.string("newPassword");
    f.finish()?;
    let auth = &state.auth;
    users::check_password_length(auth, &new_password)?;
    let ident = otp::identifier(Purpose::Reset, &number);
    otp::check(auth, &ident, &code, plugin.config.allowed_attempts, false).await?;
    let Some(user) = find_user(auth, &number).await? else {
        return Err(ApiError::new(400, "UNEXPECTED_ERROR", "Unexpected error"));
    };
    // Of two resets with one code, only the one that removes the row writes a password.
    if !otp::consume(auth, &ident, &code).await? {
        return Err(otp::not_found());
    }
    users::set_password(auth, user.id(), new_password).await?;
    if auth.config.email_and_password.revoke_sessions_on_password_reset {
        sessions::revoke_all(auth, user.id()).await?;
    }
    Ok(Reply::json(json!({ "status": true })))
}
