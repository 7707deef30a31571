//! Password reset and email verification links (WIRE.md §10).

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde_json::{Value as Json, json};

use crate::auth::users::Verified;
use crate::auth::{RequestMeta, email, password, sessions};
use crate::error::{Result, codes};
use crate::http::AppState;
use crate::http::extract::Body;
use crate::http::guard::check_url;
use crate::http::input::Fields;
use crate::http::reply::{Reply, redirect_target};
use crate::http::session;

/// The verification link's callbacks are the app's: with the cross-domain plugin a relative
/// one is on the site, as Better Auth's crossDomain plugin makes it.
fn app_base(state: &AppState) -> &str {
    state.auth.site_url.as_deref().unwrap_or(&state.auth.base_url)
}

pub async fn request_password_reset(State(state): State<AppState>, Body(mut f): Body) -> Result<Reply> {
    let email = f.email("email");
    let redirect_to = f.opt_string("redirectTo");
    f.finish()?;
    check_url(&state, redirect_to.as_deref(), codes::invalid_redirect_url)?;
    password::request_reset(&state.auth, &email, redirect_to.as_deref()).await?;
    Ok(Reply::json(json!({
        "status": true,
        "message": "If this email exists in our system, check your email for the reset link",
    })))
}

/// The link in the email: redirects to the app with the token, or with `error=INVALID_TOKEN`.
pub async fn reset_password_callback(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply> {
    let mut f = Fields::query(q);
    let callback = f.string("callbackURL");
    f.finish()?;
    check_url(&state, Some(&callback), codes::invalid_callback_url)?;
    // An empty callback is absent: errors go to the error page, as in Better Auth.
    let error_page = format!("{}/error", state.auth.api_url());
    let base = &state.auth.base_url;
    let location = match password::reset_token_user(&state.auth, &token).await? {
        Some(_) => redirect_target(base, &callback, Some(("token", &token))),
        None if callback.is_empty() => redirect_target(base, &error_page, Some(("error", "INVALID_TOKEN"))),
        None => redirect_target(base, &callback, Some(("error", "INVALID_TOKEN"))),
    };
    Ok(Reply::redirect(&location))
}

pub async fn reset_password(
    State(state): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
    Body(mut f): Body,
) -> Result<Reply> {
    let new_password = f.string("newPassword");
    let token = f.opt_string("token");
    f.finish()?;
    let token = token.or_else(|| q.into_iter().find(|(k, _)| k == "token").map(|(_, v)| v));
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(codes::invalid_token());
    };
    password::reset(&state.auth, &token, new_password).await?;
    Ok(Reply::json(json!({ "status": true })))
}

pub async fn send_verification_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let address = f.email("email");
    let callback = f.opt_string("callbackURL");
    f.finish()?;
    check_url(&state, callback.as_deref(), codes::invalid_callback_url)?;
    let callback = callback.unwrap_or_else(|| email::default_callback(&state.auth));
    match session::optional(&state, &headers).await? {
        Some(cur) => email::send_for_session_user(&state.auth, &cur.user, &address, &callback).await?,
        None => email::send_for_email(&state.auth, &address, &callback).await?,
    }
    Ok(Reply::json(json!({ "status": true })))
}

pub async fn verify_email(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply> {
    let mut f = Fields::query(q);
    let token = f.string("token");
    let callback = f.opt_string("callbackURL").filter(|c| !c.is_empty());
    f.finish()?;
    check_url(&state, callback.as_deref(), codes::invalid_callback_url)?;
    let (verified, newly) = match (email::verify(&state.auth, &token).await, &callback) {
        (Ok(verified), _) => verified,
        (Err(e), Some(cb)) if e.status < 500 => {
            let code = e.code.as_deref().unwrap_or("INVALID_TOKEN");
            return Ok(Reply::redirect(&redirect_target(app_base(&state), cb, Some(("error", code)))));
        }
        (Err(e), _) => return Err(e),
    };
    let mut handover = None;
    if newly && state.auth.config.email_verification.auto_sign_in_after_verification {
        handover = Some(sign_in_verified(&state, &headers, &verified, &meta).await?);
    }
    // The adopted account's earlier password was removed: the app offers a reset link.
    let reset = verified.password_removed;
    let reply = match callback {
        Some(cb) if reset => {
            Reply::redirect(&redirect_target(app_base(&state), &cb, Some((PASSWORD_RESET, PASSWORD_RESET_REQUIRED))))
        }
        Some(cb) => Reply::redirect(&redirect_target(app_base(&state), &cb, None)),
        None if reset => Reply::json(json!({ "status": true, "user": Json::Null, "passwordReset": "required" })),
        None => Reply::json(json!({ "status": true, "user": Json::Null })),
    };
    Ok(reply.session(handover))
}

/// Added to the verification redirect (`?passwordReset=required`) when verifying the email
/// adopted an existing app user and removed the password set before (see users::verify_email).
pub const PASSWORD_RESET: &str = "passwordReset";
pub const PASSWORD_RESET_REQUIRED: &str = "required";

/// The request's session if it is the verified user's (and survived the verification), else
/// a new one, handed over.
async fn sign_in_verified(
    state: &AppState,
    headers: &HeaderMap,
    verified: &Verified,
    meta: &RequestMeta,
) -> Result<session::Handover> {
    let user = &verified.user;
    if !verified.adopted
        && let Some(cur) = session::optional(state, headers).await?
        && cur.user.email() == user.email()
    {
        return Ok(session::hand_over(state, headers, &cur.session, user, cur.dont_remember));
    }
    let created = sessions::create(&state.auth, &*state.auth.store, user.id(), false, meta).await?;
    Ok(session::hand_over(state, headers, &created, user, false))
}
