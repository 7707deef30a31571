//! The extension points the core calls, and nothing else: a plugin (one folder under
//! `src/plugins/`, registered in `plugins::registry`) implements the ones it needs; every
//! method has a pass-through default.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};

use super::AppState;
use super::reply::Reply;
use crate::auth::{Session, User};
use crate::error::Result;
use crate::store::hooks::Hooks;
use crate::store::{Record, Schema};
use serde_json::{Map, Value as Json};

/// A stricter rate-limit rule: requests whose path starts with `prefix` (WIRE.md §11).
#[derive(Debug, Clone, Copy)]
pub struct RateRule {
    pub prefix: &'static str,
    pub window_secs: u64,
    pub max: u64,
}

/// What sign-in does next for a user whose credentials checked out.
pub enum Gate {
    /// Something else is needed first (a second factor): this is the whole reply.
    Challenge(Reply),
    /// Go on and create the session; these cookies go along.
    Proceed(Vec<String>),
}

/// A session this response hands to the client (sign-in, sign-up, a provider callback, a
/// refreshed cookie…), as plugins see it once the handler is done.
#[derive(Clone)]
pub struct SignedIn {
    pub session: Session,
    pub user: User,
    pub dont_remember: bool,
    /// The session token the request came with (an anonymous user signing in for real).
    pub prior_token: Option<String>,
    /// The request's headers (its cookies).
    pub request: HeaderMap,
}

/// A session get-session can answer from the request alone (the cookie cache's copy).
pub struct SessionCopy {
    pub session: Session,
    pub user: User,
    /// `{"session":…,"user":…}` as get-session answers it, rendered once.
    pub answer: bytes::Bytes,
}

/// What a plugin makes of the session copy a get-session request carries.
pub enum CopyCheck {
    /// Not its business.
    Pass,
    /// Its copy, not used this time: leave the cookie alone.
    Keep,
    /// A copy that must not be trusted: expire the cookie.
    Expire,
    /// The answer.
    Answer(Arc<SessionCopy>),
}

/// Why a plugin's background work did not start (each plugin has its own error type).
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// Work a plugin runs beside the server (a delivery worker); stopped on shutdown.
#[async_trait]
pub trait Background: Send {
    async fn stop(self: Box<Self>);
}

#[async_trait]
pub trait Plugin: std::any::Any + Send + Sync {
    /// The plugin's id, as in its configuration section (`[plugins.<id>]`).
    fn id(&self) -> &'static str;

    /// Tables and fields it adds to the core schema, before `[schema]` renames them.
    fn schema(&self, schema: &mut Schema) {
        let _ = schema;
    }

    /// Checks its configuration against the built schema (fields it maps must exist).
    fn check_schema(&self, schema: &Schema) -> std::result::Result<(), StartError> {
        let _ = schema;
        Ok(())
    }

    /// Database hooks it runs in the auth write's transaction (after the app's own).
    fn hooks(&self) -> Option<Hooks> {
        None
    }

    /// Origins it trusts besides the configured ones.
    fn trusted_origins(&self) -> Vec<String> {
        Vec::new()
    }

    /// Where emailed links and redirects land when the client names no callback (the SPA of
    /// the cross-domain plugin).
    fn site_url(&self) -> Option<String> {
        None
    }

    /// Stricter rate-limit rules for its routes.
    fn rate_limits(&self) -> &'static [RateRule] {
        &[]
    }

    /// Its routes under the base path; POST routes through [`write`].
    fn routes(self: Arc<Self>, state: &AppState) -> Router<AppState> {
        let _ = state;
        Router::new()
    }

    /// Its routes outside the base path (the root OpenID discovery).
    fn root_routes(self: Arc<Self>, state: &AppState) -> Router<AppState> {
        let _ = state;
        Router::new()
    }

    /// Wraps every route under the base path (after all routes are in): request and response
    /// headers and cookies. Plugins wrap in registry order, the last outermost.
    fn wrap(self: Arc<Self>, state: &AppState, api: Router<AppState>) -> Router<AppState> {
        let _ = state;
        api
    }

    /// Response headers a cross-origin caller may read, when present.
    fn exposed_headers(&self) -> &'static [&'static str] {
        &[]
    }

    /// get-session, before the store: a copy of the session the request carries (`allowed`
    /// false: the caller asked for the store, `?disableCookieCache=true`).
    fn session_copy(&self, state: &AppState, headers: &HeaderMap, allowed: bool) -> CopyCheck {
        let _ = (state, headers, allowed);
        CopyCheck::Pass
    }

    /// Cookies that go with every session handed to the client, and are renewed by
    /// get-session (the cookie cache's copy).
    fn session_cookies(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        session: &Session,
        user: &User,
        dont_remember: bool,
    ) -> Vec<String> {
        let _ = (state, headers, session, user, dont_remember);
        Vec::new()
    }

    /// The session token when the request names it another way than the cookie (bearer).
    fn session_token(&self, state: &AppState, headers: &HeaderMap) -> Option<String> {
        let _ = (state, headers);
        None
    }

    /// After the password (or another first factor) checked out, before the session exists.
    async fn sign_in_gate(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        user: &User,
        remember_me: bool,
    ) -> Result<Gate> {
        let _ = (state, headers, user, remember_me);
        Ok(Gate::Proceed(Vec::new()))
    }

    /// Its own user fields in a sign-up (`current` unset) or update-user body (`username`):
    /// checked, normalised and set on `row`, the fields to write.
    async fn user_input(
        &self,
        state: &AppState,
        body: &Map<String, Json>,
        current: Option<&User>,
        row: &mut Record,
    ) -> Result<()> {
        let _ = (state, body, current, row);
        Ok(())
    }

    /// On sign-out, before the core deletes the session: cookies to add (other sessions of
    /// this browser it signs out too).
    async fn on_sign_out(&self, state: &AppState, headers: &HeaderMap) -> Result<Vec<String>> {
        let _ = (state, headers);
        Ok(Vec::new())
    }

    /// Fields it sets on a user the route at `path` is about to create (the sign-in method).
    fn new_user(&self, path: &str, row: &mut Record) {
        let _ = (path, row);
    }

    /// The get-session reply for an active session (the JWT plugin's `set-auth-jwt`).
    async fn session_reply(&self, state: &AppState, session: &Session, user: &User, reply: Reply) -> Result<Reply> {
        let _ = (state, session, user);
        Ok(reply)
    }

    /// Whether [`Plugin::after_sign_in`] does anything (the core skips the layer otherwise).
    fn sees_sign_ins(&self) -> bool {
        false
    }

    /// After a handler handed a session to the client, before the reply leaves: cookies to
    /// add. `path` is the route's, under the base path (`/sign-in/email`). An error replaces
    /// the reply.
    async fn after_sign_in(&self, state: &AppState, path: &str, signed_in: &SignedIn) -> Result<Vec<String>> {
        let _ = (state, path, signed_in);
        Ok(Vec::new())
    }

    /// Starts its background work once the server listens.
    fn start(&self, state: &AppState) -> std::result::Result<Option<Box<dyn Background>>, StartError> {
        let _ = state;
        Ok(None)
    }
}

/// The enabled plugins, in registry order.
pub type Plugins = Arc<[Arc<dyn Plugin>]>;

/// A POST route behind the checks every write passes before its handler
/// ([`super::guard::checks`]); only a matched method gets there, so a wrong one stays a 404.
pub fn write<H, T>(state: &AppState, handler: H) -> MethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    post(handler).route_layer(middleware::from_fn_with_state(state.clone(), super::guard::checks))
}

/// The layer that shows plugins each session a reply hands over ([`Plugin::after_sign_in`]);
/// inside the plugins' own wraps, so their cookies are moved and copied like the handler's.
pub async fn after_sign_in(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let uri = req.uri().clone();
    let mut res = next.run(req).await;
    let Some(signed_in) = res.extensions_mut().remove::<SignedIn>() else { return res };
    for plugin in state.plugins.iter() {
        match plugin.after_sign_in(&state, uri.path(), &signed_in).await {
            Ok(cookies) => {
                for c in cookies {
                    if let Ok(v) = HeaderValue::from_str(&c) {
                        res.headers_mut().append(header::SET_COOKIE, v);
                    }
                }
            }
            Err(e) => return e.into_response(),
        }
    }
    res
}
