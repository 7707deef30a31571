//! `POST /sign-in/username` and `POST /is-username-available` (docs/plugins-wire.md §1).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::json;

use super::{UsernamePlugin, find_user, invalid_username, normalize};
use crate::auth::{RequestMeta, users};
use crate::crypto::password;
use crate::error::{ApiError, Result, codes};
use crate::http::AppState;
use crate::http::extract::Body;
use crate::http::guard::{self, check_url};
use crate::http::reply::Reply;
use crate::http::session;

fn invalid_credentials() -> ApiError {
    ApiError::new(401, "INVALID_USERNAME_OR_PASSWORD", "Invalid username or password")
}

pub async fn sign_in(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<UsernamePlugin>>,
    meta: RequestMeta,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let name = f.string("username");
    let pw = f.string("password");
    let remember_me = f.opt_bool("rememberMe").unwrap_or(true);
    let callback = f.opt_string("callbackURL").map(|c| state.auth.on_site(c));
    f.finish()?;
    check_url(&state, callback.as_deref(), codes::invalid_callback_url)?;
    guard::browser_origin(&state, &headers)?;
    if name.is_empty() || pw.is_empty() {
        return Err(invalid_credentials());
    }
    plugin.check(&name, 422)?;
    if pw.chars().count() > state.auth.config.email_and_password.max_password_length {
        return Err(codes::password_too_long());
    }
    // An unknown name and a wrong password answer alike and cost the same hashing.
    let Some(user) = find_user(&state.auth, &normalize(&name)).await? else {
        password::verify_dummy(pw).await?;
        return Err(invalid_credentials());
    };
    let Some(hash) = users::credential_hash(&state.auth, user.id()).await? else {
        password::verify_dummy(pw).await?;
        return Err(invalid_credentials());
    };
    if !password::verify(hash, pw).await? {
        return Err(invalid_credentials());
    }
    if state.auth.config.email_and_password.require_email_verification && !user.email_verified() {
        return Err(codes::email_not_verified());
    }
    session::sign_in(&state, &meta, &headers, &user, remember_me, callback).await
}

pub async fn is_available(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<UsernamePlugin>>,
    Body(mut f): Body,
) -> Result<Reply> {
    let name = f.string("username");
    f.finish()?;
    if name.is_empty() {
        return Err(invalid_username(422));
    }
    plugin.check(&name, 422)?;
    let available = find_user(&state.auth, &normalize(&name)).await?.is_none();
    Ok(Reply::json(json!({ "available": available })))
}
