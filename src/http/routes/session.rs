//! get-session and the session list / revoke routes (WIRE.md §5, §6).

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, header};
use serde_json::{Value as Json, json};

use crate::auth::{Session, User, sessions};
use crate::error::{Result, codes};
use crate::http::AppState;
use crate::http::cookies::SESSION_DATA;
use crate::http::extract::{Body, CurrentSession};
use crate::http::plugin::CopyCheck;
use crate::http::reply::Reply;
use crate::http::session::{self, Found};

fn flag(q: &[(String, String)], name: &str) -> bool {
    q.iter().any(|(k, v)| k == name && v == "true")
}

pub async fn get_session(
    State(state): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
    req: Request,
) -> Result<Reply> {
    let reply = answer_get_session(&state, &q, req.headers()).await?;
    Ok(reply.header_static(header::CACHE_CONTROL, "no-store").header_static(header::PRAGMA, "no-cache"))
}

/// Better Auth's get-session (WIRE.md §6, §12): a usable copy of the session the request
/// carries (the cookie cache) answers without the store; otherwise the store answers,
/// refreshes the session when due and re-issues the copy.
async fn answer_get_session(state: &AppState, q: &[(String, String)], headers: &HeaderMap) -> Result<Reply> {
    let allowed = !flag(q, "disableCookieCache");
    // A copy no plugin vouches for (the cache is off) is expired, never trusted.
    let mut expire_copy = state.cookies.carries(headers, SESSION_DATA);
    for plugin in state.plugins.iter() {
        match plugin.session_copy(state, headers, allowed) {
            CopyCheck::Answer(hit) => {
                return with_plugins(state, Reply::rendered_json(hit.answer.clone()), &hit.session, &hit.user).await;
            }
            CopyCheck::Keep => expire_copy = false,
            CopyCheck::Expire => expire_copy = true,
            CopyCheck::Pass => {}
        }
    }
    let Some(token) = session::request_token(state, headers) else {
        return Ok(Reply::json(Json::Null).cookies(expire_if(state, headers, expire_copy)));
    };
    let mut cur = match session::find_token(state, headers, &token).await? {
        Found::Active(cur) => cur,
        _ => return Ok(Reply::json(Json::Null).cookies(state.cookies.clear_session(headers))),
    };
    let mut cookies = Vec::new();
    let mut handover = None;
    if !flag(q, "disableRefresh") && !cur.dont_remember {
        if sessions::refresh_if_due(&state.auth, &mut cur.session).await? {
            handover = Some(session::hand_over(state, headers, &cur.session, &cur.user, false));
        } else {
            cookies = session::copy_cookies(state, headers, &cur.session, &cur.user, false);
        }
    }
    // A fresh copy replaces a bad one; otherwise the bad one is expired.
    let data = state.cookies.name(SESSION_DATA);
    let rewritten = cookies.iter().chain(handover.iter().flat_map(|h| &h.cookies)).any(|c| c.starts_with(&*data));
    cookies.extend(expire_if(state, headers, expire_copy && !rewritten));
    Ok(session_reply(state, cur, cookies).await?.session(handover))
}

fn expire_if(state: &AppState, headers: &HeaderMap, expire: bool) -> Vec<String> {
    if expire { state.cookies.clear_chunked(headers, SESSION_DATA) } else { Vec::new() }
}

/// `{session, user}` plus what plugins add (the JWT plugin's `set-auth-jwt`, WIRE.md §8).
async fn session_reply(state: &AppState, cur: session::Current, cookies: Vec<String>) -> Result<Reply> {
    let reply = Reply::json(json!({ "session": cur.session.to_json(), "user": cur.user.to_json() })).cookies(cookies);
    with_plugins(state, reply, &cur.session, &cur.user).await
}

async fn with_plugins(state: &AppState, mut reply: Reply, session: &Session, user: &User) -> Result<Reply> {
    for plugin in state.plugins.iter() {
        reply = plugin.session_reply(state, session, user, reply).await?;
    }
    Ok(reply)
}

/// POST is only for deferred refresh, which is not enabled (WIRE.md §5).
pub async fn post_get_session() -> Result<Reply> {
    Err(codes::defer_session_required())
}

pub async fn list_sessions(State(state): State<AppState>, CurrentSession(cur): CurrentSession) -> Result<Reply> {
    sessions::require_fresh(&state.auth, &cur.session)?;
    let list = sessions::list_active(&state.auth, cur.user.id()).await?;
    Ok(Reply::json(Json::Array(list.iter().map(|s| s.to_json()).collect())))
}

pub async fn revoke_session(State(state): State<AppState>, headers: HeaderMap, Body(mut f): Body) -> Result<Reply> {
    let token = f.string("token");
    f.finish()?;
    let cur = session::require(&state, &headers).await?;
    sessions::revoke(&state.auth, cur.user.id(), &token).await?;
    // Revoking one's own session signs out here too (cookie cache included).
    let cookies = if token == cur.session.token() { state.cookies.clear_session(&headers) } else { Vec::new() };
    Ok(Reply::json(json!({ "status": true })).cookies(cookies))
}

pub async fn revoke_sessions(
    State(state): State<AppState>,
    CurrentSession(cur): CurrentSession,
    headers: HeaderMap,
) -> Result<Reply> {
    sessions::revoke_all(&state.auth, cur.user.id()).await?;
    Ok(Reply::json(json!({ "status": true })).cookies(state.cookies.clear_session(&headers)))
}

pub async fn revoke_other_sessions(
    State(state): State<AppState>,
    CurrentSession(cur): CurrentSession,
) -> Result<Reply> {
    sessions::revoke_others(&state.auth, cur.user.id(), cur.session.token()).await?;
    Ok(Reply::json(json!({ "status": true })))
}
