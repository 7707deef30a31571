//! update-user, change-password, change-email, delete-user.

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::json;

use crate::auth::{RequestMeta, User, email, password, sessions, users};
use crate::error::{ApiError, Result, codes};
use crate::http::AppState;
use crate::http::extract::Body;
use crate::http::guard::check_url;
use crate::http::reply::Reply;
use crate::http::session;

pub async fn update_user(State(state): State<AppState>, headers: HeaderMap, Body(mut f): Body) -> Result<Reply> {
    let name = f.opt_string("name");
    let image = f.nullable_string("image");
    // Better Auth tests the field's truth: `"email": ""` or `null` is no attempt to change it.
    let has_email = f.has_truthy("email");
    // `input = false` fields are not read at all: alone they make an empty update.
    let mut additional = f.additional(state.auth.schema.model(User::MODEL)?, false);
    // Better Auth's order: the session, then the email rule, then the fields' types.
    let cur = session::require(&state, &headers).await?;
    if has_email {
        return Err(codes::email_can_not_be_updated());
    }
    let body = f.finish_with_body()?;
    session::plugin_user_input(&state, &body, Some(&cur.user), &mut additional).await?;
    if name.is_none() && image.is_none() && additional.0.is_empty() {
        return Err(ApiError::without_code(400, "No fields to update"));
    }
    users::update_profile(&state.auth, cur.user.id(), users::ProfileUpdate { name, image, additional }).await?;
    // The session cookie is re-sent (same token), as the reference does.
    let handover = session::hand_over_reloading_user(&state, &headers, &cur.session, cur.dont_remember).await?;
    Ok(Reply::json(json!({ "status": true })).session(handover))
}

pub async fn change_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let current = f.string("currentPassword");
    let new = f.string("newPassword");
    let revoke_other_sessions = f.opt_bool("revokeOtherSessions").unwrap_or(false);
    f.finish()?;
    let cur = session::require(&state, &headers).await?;
    let input = password::ChangePassword { current, new, revoke_other_sessions };
    let replaced = password::change(&state.auth, &cur.user, input, &meta, cur.dont_remember).await?;
    let user = cur.user.to_json();
    Ok(match replaced {
        None => Reply::json(json!({ "token": null, "user": user })),
        Some(s) => {
            let handover = session::hand_over(&state, &headers, &s, &cur.user, cur.dont_remember);
            Reply::json(json!({ "token": s.token(), "user": user })).session(handover)
        }
    })
}

/// Sends a link to the new address; the change happens when it is followed.
pub async fn change_email(State(state): State<AppState>, headers: HeaderMap, Body(mut f): Body) -> Result<Reply> {
    let new_email = f.email("newEmail");
    let callback = f.opt_string("callbackURL");
    f.finish()?;
    check_url(&state, callback.as_deref(), codes::invalid_callback_url)?;
    let cur = session::require(&state, &headers).await?;
    if !state.auth.config.user.change_email_enabled {
        return Err(ApiError::new(400, "CHANGE_EMAIL_DISABLED", "Change email is disabled"));
    }
    let callback = callback.unwrap_or_else(|| email::default_callback(&state.auth));
    email::request_change(&state.auth, &cur.user, &new_email, &callback).await?;
    Ok(Reply::json(json!({ "status": true })))
}

/// With a password, or without one on a fresh session (WIRE.md §5).
pub async fn delete_user(State(state): State<AppState>, headers: HeaderMap, Body(mut f): Body) -> Result<Reply> {
    let pw = f.opt_string("password");
    let callback = f.opt_string("callbackURL");
    f.finish()?;
    check_url(&state, callback.as_deref(), codes::invalid_callback_url)?;
    let cur = session::require(&state, &headers).await?;
    if !state.auth.config.user.delete_enabled {
        return Err(ApiError::new(404, "NOT_FOUND", "Delete user is disabled"));
    }
    match pw {
        Some(pw) => users::check_password(&state.auth, cur.user.id(), pw).await?,
        None => sessions::require_fresh(&state.auth, &cur.session).map_err(|_| codes::session_expired())?,
    }
    users::delete(&state.auth, cur.user.id()).await?;
    Ok(Reply::json(json!({ "success": true, "message": "User deleted" }))
        .cookies(state.cookies.clear_session(&headers)))
}
