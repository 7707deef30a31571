//! Better Auth's multi-session plugin (docs/plugins-wire.md §4): every session a browser signs
//! in also gets a `<session cookie>_multi-<token>` cookie (up to `maximum_sessions` accounts,
//! one session per user), so the browser can list its accounts, switch between them and
//! revoke one; sign-out signs all of them out.

mod routes;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};

use crate::auth::sessions::{self, Lookup};
use crate::auth::{Session, User};
use crate::config::Section;
use crate::error::Result;
use crate::http::cookies::{SESSION_TOKEN, all_cookies};
use crate::http::plugin::SignedIn;
use crate::http::{AppState, Plugin, write};

/// `[plugins.multi_session]`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MultiSessionConfig {
    pub enabled: bool,
    /// Accounts one browser holds at once; a further sign-in is active but not listed.
    pub maximum_sessions: usize,
}

impl Default for MultiSessionConfig {
    fn default() -> Self {
        Self { enabled: false, maximum_sessions: 5 }
    }
}

impl Section for MultiSessionConfig {
    const KEY: &'static str = "plugins.multi_session";
}

pub struct MultiSession {
    config: MultiSessionConfig,
}

impl MultiSession {
    pub fn new(config: MultiSessionConfig) -> Self {
        Self { config }
    }
}

/// A multi-session cookie of the request whose signature checks out.
struct Held {
    name: String,
    token: String,
}

fn marker(state: &AppState) -> String {
    format!("{}_multi-", state.cookies.name(SESSION_TOKEN))
}

fn cookie_name(state: &AppState, token: &str) -> String {
    format!("{}{}", marker(state), token.to_lowercase())
}

/// Every multi-session cookie the request carries, signed or not, by name.
fn carried(state: &AppState, headers: &HeaderMap) -> Vec<(String, String)> {
    let marker = marker(state);
    all_cookies(headers).filter(|(k, _)| k.starts_with(&marker)).map(|(k, v)| (k.to_string(), v.into_owned())).collect()
}

/// The request's multi-session cookies whose signatures check out.
fn held(state: &AppState, headers: &HeaderMap) -> Vec<Held> {
    carried(state, headers)
        .into_iter()
        .filter_map(|(name, v)| state.auth.signer.verify(&v).map(|t| Held { name, token: t.to_string() }))
        .collect()
}

fn set_cookie(state: &AppState, token: &str) -> String {
    let signed = state.auth.signer.sign(token);
    state.cookies.set_named(&cookie_name(state, token), &signed, Some(state.auth.config.session.expires_in))
}

fn expire(state: &AppState, name: &str) -> String {
    state.cookies.set_named(name, "", Some(0))
}

/// The live session and user of a held cookie.
async fn live(state: &AppState, token: &str) -> Result<Option<(Session, User)>> {
    Ok(match sessions::lookup(&state.auth, token).await? {
        Lookup::Active(s, u) => Some((s, u)),
        Lookup::Gone => None,
    })
}

#[async_trait]
impl Plugin for MultiSession {
    fn id(&self) -> &'static str {
        "multi-session"
    }

    fn routes(self: Arc<Self>, state: &AppState) -> Router<AppState> {
        Router::new()
            .route("/multi-session/list-device-sessions", get(routes::list))
            .route("/multi-session/set-active", write(state, routes::set_active))
            .route("/multi-session/revoke", write(state, routes::revoke))
            .layer(Extension(self))
    }

    fn sees_sign_ins(&self) -> bool {
        true
    }

    /// The new session's cookie; the browser's older sessions of the same user go.
    async fn after_sign_in(&self, state: &AppState, _path: &str, signed_in: &SignedIn) -> Result<Vec<String>> {
        let name = cookie_name(state, signed_in.session.token());
        let carried = carried(state, &signed_in.request);
        if carried.iter().any(|(n, _)| *n == name) {
            return Ok(Vec::new());
        }
        let mut cookies = Vec::new();
        for h in held(state, &signed_in.request) {
            if let Some((s, _)) = live(state, &h.token).await?
                && s.user_id() == signed_in.user.id()
            {
                sessions::revoke_by_token(&state.auth, &h.token).await?;
                cookies.push(expire(state, &h.name));
            }
        }
        if carried.len() - cookies.len() < self.config.maximum_sessions {
            cookies.push(set_cookie(state, signed_in.session.token()));
        }
        Ok(cookies)
    }

    async fn on_sign_out(&self, state: &AppState, headers: &HeaderMap) -> Result<Vec<String>> {
        let mut cookies = Vec::new();
        for h in held(state, headers) {
            sessions::revoke_by_token(&state.auth, &h.token).await?;
            cookies.push(expire(state, &h.name));
        }
        Ok(cookies)
    }
}
