//! get-session and the session list / revoke routes (WIRE.md §5, §6).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use serde_json::{Value as Json, json};

use crate::auth::sessions;
use crate::error::{Result, codes};
use crate::http::AppState;
use crate::http::cookies::SESSION_DATA;
use crate::http::input::{Fields, RawBody};
use crate::http::reply::Reply;
use crate::http::session::{self, Found};

fn flag(q: &[(String, String)], name: &str) -> bool {
    q.iter().any(|(k, v)| k == name && v == "true")
}

pub async fn get_session(
    State(state): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Reply> {
    let reply = match session::find(&state, &headers).await? {
        Found::None => Reply::json(Json::Null),
        Found::Gone => Reply::json(Json::Null).cookies(state.cookies.clear_session()),
        Found::Active(mut cur) => {
            let mut cookies = Vec::new();
            if !flag(&q, "disableRefresh")
                && !cur.dont_remember
                && sessions::refresh_if_due(&state.auth, &mut cur.session).await?
            {
                cookies = state.cookies.session(&state.auth.signer, cur.session.token(), false);
            }
            // The cookie cache is off: a stray cache cookie is expired, never trusted (WIRE.md §12).
            if state.cookies.read(&headers, SESSION_DATA).is_some() {
                cookies.push(state.cookies.clear(SESSION_DATA));
            }
            let mut reply =
                Reply::json(json!({ "session": cur.session.to_json(), "user": cur.user.to_json() })).cookies(cookies);
            if let Some(jwt) = &state.auth.jwt {
                reply = reply.header(
                    "set-auth-jwt".parse().expect("static header name"),
                    jwt.for_session(&state.auth, &cur.user, cur.session.id()).await?,
                );
            }
            reply
        }
    };
    Ok(reply.header(header::CACHE_CONTROL, "no-store").header(header::PRAGMA, "no-cache"))
}

/// POST is only for deferred refresh, which is not enabled (WIRE.md §5).
pub async fn post_get_session() -> Result<Reply> {
    Err(codes::defer_session_required())
}

pub async fn list_sessions(State(state): State<AppState>, headers: HeaderMap) -> Result<Reply> {
    let cur = session::require(&state, &headers).await?;
    sessions::require_fresh(&state.auth, &cur.session)?;
    let list = sessions::list_active(&state.auth, cur.user.id()).await?;
    Ok(Reply::json(Json::Array(list.iter().map(|s| s.to_json()).collect())))
}

pub async fn revoke_session(State(state): State<AppState>, headers: HeaderMap, body: RawBody) -> Result<Reply> {
    let cur = session::require(&state, &headers).await?;
    let mut f = Fields::body(body)?;
    let token = f.string("token");
    f.finish()?;
    sessions::revoke(&state.auth, cur.user.id(), &token).await?;
    Ok(Reply::json(json!({ "status": true })))
}

pub async fn revoke_sessions(State(state): State<AppState>, headers: HeaderMap) -> Result<Reply> {
    let cur = session::require(&state, &headers).await?;
    sessions::revoke_all(&state.auth, cur.user.id()).await?;
    Ok(Reply::json(json!({ "status": true })).cookies(state.cookies.clear_session()))
}

pub async fn revoke_other_sessions(State(state): State<AppState>, headers: HeaderMap) -> Result<Reply> {
    let cur = session::require(&state, &headers).await?;
    sessions::revoke_others(&state.auth, cur.user.id(), cur.session.token()).await?;
    Ok(Reply::json(json!({ "status": true })))
}
