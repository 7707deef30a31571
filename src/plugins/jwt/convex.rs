//! The Convex profile (WIRE.md §14): `/convex/token`, `/convex/jwks`, its discovery document,
//! the root discovery redirect, and the `convex_jwt` cookie that follows the session.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::routes::JWKS_CACHE_CONTROL;
use super::{Jwt, JwtPlugin, Profile};
use crate::auth::sessions::{self, Lookup};
use crate::error::Result;
use crate::http::AppState;
use crate::http::extract::CurrentSession;
use crate::http::reply::Reply;
use crate::http::session::{self, Found};

/// Cookie `{prefix}.convex_jwt`: the current token for server-side rendering (not signed).
pub const COOKIE: &str = "convex_jwt";

pub async fn token(
    State(state): State<AppState>,
    Extension(plugin): Jwt,
    CurrentSession(cur): CurrentSession,
) -> Result<Reply> {
    let convex = plugin.issuer(Profile::Convex)?;
    let token = convex.for_session(&state.auth, &cur.user, cur.session.id()).await?;
    let cookie = state.cookies.set(COOKIE, &token, Some(convex.expiration));
    Ok(Reply::json(json!({ "token": token })).cookies([cookie]))
}

pub async fn jwks(State(state): State<AppState>, Extension(plugin): Jwt) -> Result<Reply> {
    super::routes::jwks_of(&state, &plugin, Profile::Convex).await
}

/// Issuer = the site URL; `jwks_uri` on the site URL too, as Convex fetches it from there.
pub async fn openid_configuration(State(state): State<AppState>, Extension(plugin): Jwt) -> Result<Reply> {
    let convex = plugin.issuer(Profile::Convex)?;
    let api = format!("{}{}", convex.issuer, state.auth.config.base_path);
    Ok(Reply::json(convex.openid_configuration(&api, "/convex/jwks")).header(header::CACHE_CONTROL, JWKS_CACHE_CONTROL))
}

/// `GET /.well-known/openid-configuration` at the root (outside the base path), where a relying
/// party looks for an issuer's metadata: 302 to the Convex document (as the Convex component
/// does), or to the JWT plugin's when Convex is off.
pub async fn root_discovery(State(state): State<AppState>, Extension(plugin): Jwt) -> Response {
    let auth = &state.auth;
    let target = match (&plugin.convex, &plugin.jwt) {
        (Some(c), _) => format!("{}{}/convex/.well-known/openid-configuration", c.issuer, auth.config.base_path),
        (None, Some(_)) => format!("{}/.well-known/openid-configuration", auth.api_url()),
        (None, None) => return crate::http::error::empty_404(),
    };
    Reply::redirect(&target).into_response()
}

/// Paths after which the cookie is (re)issued from the session they leave behind.
fn issues_cookie(path: &str) -> bool {
    const PREFIXES: [&str; 9] = [
        "/sign-in",
        "/sign-up",
        "/callback",
        "/oauth2/callback",
        "/magic-link/verify",
        "/email-otp/verify-email",
        "/phone-number/verify",
        "/siwe/verify",
        "/update-session",
    ];
    PREFIXES.iter().any(|p| path.starts_with(p))
}

/// The `convex_jwt` cookie: set whenever a response leaves a session (sign-in, sign-up,
/// callbacks, get-session with a session), cleared on sign-out, delete-user and a get-session
/// without one.
pub async fn cookie(State((state, plugin)): State<(AppState, Arc<JwtPlugin>)>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let get_session = path.starts_with("/get-session");
    let clears = path.starts_with("/sign-out") || path.starts_with("/delete-user");
    if !(get_session || clears || issues_cookie(&path)) {
        return next.run(req).await;
    }
    let headers = req.headers().clone();
    let mut res = next.run(req).await;
    let line = if clears {
        Some(state.cookies.clear(COOKIE))
    } else {
        let new_token = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| state.cookies.session_value_in(c))
            .and_then(|signed| state.auth.signer.verify(&signed).map(str::to_string));
        match cookie_line(&state, &plugin, &headers, new_token, &path).await {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!(error = %e.message, "convex_jwt cookie not issued");
                None
            }
        }
    };
    if let Some(v) = line.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The session the response leaves: a new session cookie it sets, else (get-session,
/// update-session) the request's own.
async fn cookie_line(
    state: &AppState,
    plugin: &JwtPlugin,
    req: &HeaderMap,
    new_token: Option<String>,
    path: &str,
) -> Result<Option<String>> {
    let convex = plugin.issuer(Profile::Convex)?;
    let get_session = path.starts_with("/get-session");
    let active = match new_token {
        Some(token) => match sessions::lookup(&state.auth, &token).await? {
            Lookup::Active(session, user) => Some((session, user)),
            Lookup::Gone => None,
        },
        None if get_session || path.starts_with("/update-session") => match session::find(state, req).await? {
            Found::Active(cur) => Some((cur.session, cur.user)),
            _ => None,
        },
        None => None,
    };
    Ok(match active {
        // No app id yet (`subject = "app"`): no token, as without a session.
        Some((session, user)) if convex.subject_of(&user).is_ok() => {
            let token = convex.for_session(&state.auth, &user, session.id()).await?;
            Some(state.cookies.set(COOKIE, &token, Some(convex.expiration)))
        }
        _ if get_session => Some(state.cookies.clear(COOKIE)),
        _ => None,
    })
}
