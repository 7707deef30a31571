//! The multi-session routes (docs/plugins-wire.md §4): list the browser's accounts, make one
//! active, revoke one.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value as Json, json};

use super::{cookie_name, expire, held, live};
use crate::auth::sessions;
use crate::error::{ApiError, Result};
use crate::http::AppState;
use crate::http::extract::Body;
use crate::http::reply::Reply;
use crate::http::session;

fn invalid_token() -> ApiError {
    ApiError::new(401, "INVALID_SESSION_TOKEN", "Invalid session token")
}

/// The signed token of the browser's multi-session cookie for `token` (any letter case).
fn held_token(state: &AppState, headers: &HeaderMap, token: &str) -> Option<(String, String)> {
    let name = cookie_name(state, token);
    held(state, headers).into_iter().find(|h| h.name == name).map(|h| (h.name, h.token))
}

pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Reply> {
    let mut users = HashSet::new();
    let mut out = Vec::new();
    for h in held(&state, &headers) {
        if let Some((s, u)) = live(&state, &h.token).await?
            && users.insert(u.id().to_string())
        {
            out.push(json!({ "session": s.to_json(), "user": u.to_json() }));
        }
    }
    Ok(Reply::json(Json::Array(out)))
}

pub async fn set_active(State(state): State<AppState>, headers: HeaderMap, Body(mut f): Body) -> Result<Reply> {
    let token = f.string("sessionToken");
    f.finish()?;
    let (name, token) = held_token(&state, &headers, &token).ok_or_else(invalid_token)?;
    let Some((s, u)) = live(&state, &token).await? else {
        return Ok(Reply::from_error(invalid_token()).cookies([expire(&state, &name)]));
    };
    let handover = session::hand_over(&state, &headers, &s, &u, false);
    Ok(Reply::json(json!({ "session": s.to_json(), "user": u.to_json() })).session(handover))
}

pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, Body(mut f): Body) -> Result<Reply> {
    let token = f.string("sessionToken");
    f.finish()?;
    let cur = session::require(&state, &headers).await?;
    let (name, token) = held_token(&state, &headers, &token).ok_or_else(invalid_token)?;
    sessions::revoke_by_token(&state.auth, &token).await?;
    let mut reply = Reply::json(json!({ "status": true })).cookies([expire(&state, &name)]);
    if token != cur.session.token() {
        return Ok(reply);
    }
    // The active session went: the next account of the browser takes over, if any.
    for h in held(&state, &headers).into_iter().filter(|h| h.token != token) {
        if let Some((s, u)) = live(&state, &h.token).await? {
            let handover = session::hand_over(&state, &headers, &s, &u, false);
            return Ok(reply.session(handover));
        }
    }
    reply = reply.cookies(state.cookies.clear_session(&headers));
    Ok(reply)
}
