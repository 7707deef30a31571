//! Sign-up, sign-in and sign-out by email and password.

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::json;

use crate::auth::{RequestMeta, User, password, users};
use crate::error::{ApiError, Result, codes};
use crate::http::AppState;
use crate::http::extract::{Body, OptionalBody};
use crate::http::guard::{self, check_url};
use crate::http::reply::Reply;
use crate::http::session;

fn require_enabled(state: &AppState) -> Result<()> {
    if state.auth.config.email_and_password.enabled {
        Ok(())
    } else {
        Err(ApiError::new(400, "EMAIL_PASSWORD_DISABLED", "Email and password is not enabled"))
    }
}

pub async fn sign_up(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let name = f.string("name");
    let email = f.email("email");
    let pw = f.non_empty_string("password");
    let image = f.opt_string("image");
    let callback = f.opt_string("callbackURL");
    let remember_me = f.opt_bool("rememberMe").unwrap_or(true);
    let mut additional = f.additional(state.auth.schema.model(User::MODEL)?, true);
    let body = f.finish_with_body()?;
    check_url(&state, callback.as_deref(), codes::invalid_callback_url)?;
    guard::browser_origin(&state, &headers)?;
    require_enabled(&state)?;
    session::plugin_user_input(&state, &body, None, &mut additional).await?;
    session::new_user_fields(&state, "/sign-up/email", &mut additional);
    let input = users::SignUp { name, email, password: pw, image, remember_me, callback_url: callback, additional };
    let (user, session) = users::sign_up(&state.auth, input, &meta).await?;
    let token = session.as_ref().map(|s| s.token().to_string());
    let body = json!({ "token": token, "user": user.to_json() });
    let handover = session.as_ref().map(|s| session::hand_over(&state, &headers, s, &user, !remember_me));
    Ok(Reply::json(body).session(handover))
}

pub async fn sign_in(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let email = f.string("email");
    let pw = f.string("password");
    let callback = f.opt_string("callbackURL").map(|c| state.auth.on_site(c));
    let remember_me = f.opt_bool("rememberMe").unwrap_or(true);
    f.finish()?;
    check_url(&state, callback.as_deref(), codes::invalid_callback_url)?;
    guard::browser_origin(&state, &headers)?;
    require_enabled(&state)?;
    // Better Auth refuses an over-long password after the address's form, before the lookup.
    if crate::auth::is_valid_email(&email)
        && pw.chars().count() > state.auth.config.email_and_password.max_password_length
    {
        return Err(codes::password_too_long());
    }
    let user = password::authenticate(&state.auth, &email, pw, callback.as_deref()).await?;
    session::sign_in(&state, &meta, &headers, &user, remember_me, callback).await
}

/// Always succeeds; deletes the session when there is one and clears the cookies.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalBody(f): OptionalBody,
) -> Result<Reply> {
    f.finish()?;
    let mut cookies = Vec::new();
    for plugin in state.plugins.iter() {
        cookies.extend(plugin.on_sign_out(&state, &headers).await?);
    }
    if let Some(token) = session::request_token(&state, &headers) {
        crate::auth::sessions::revoke_by_token(&state.auth, &token).await?;
    }
    Ok(Reply::json(json!({ "success": true })).cookies(state.cookies.clear_session(&headers)).cookies(cookies))
}
