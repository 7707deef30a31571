//! Finding the caller's session: a plugin's token (the bearer plugin's `Authorization`), else
//! the signed session cookie.

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value as Json};

use super::AppState;
use super::cookies::{DONT_REMEMBER, SESSION_TOKEN};
use super::plugin::{Gate, SignedIn};
use super::reply::Reply;
use crate::auth::RequestMeta;
use crate::store::Record;

use crate::auth::sessions::{self, Lookup};
use crate::auth::{Session, User, users};
use crate::error::{ApiError, Result};

pub struct Current {
    pub session: Session,
    pub user: User,
    pub dont_remember: bool,
}

#[allow(
    clippy::large_enum_variant,
    reason = "made once per request and taken apart at once: a box would only allocate"
)]
pub enum Found {
    /// No usable token (absent, or badly signed): nothing to clear.
    None,
    /// A valid token that names no live session: the client's cookies should be cleared.
    Gone,
    Active(Current),
}

/// The session token the request carries, with its signature checked.
pub fn request_token(state: &AppState, headers: &HeaderMap) -> Option<String> {
    if let Some(t) = state.plugins.iter().find_map(|p| p.session_token(state, headers)) {
        return Some(t);
    }
    let signed = state.cookies.read(headers, SESSION_TOKEN)?;
    state.auth.signer.verify(&signed).map(str::to_string)
}

pub fn dont_remember(state: &AppState, headers: &HeaderMap) -> bool {
    state.cookies.read(headers, DONT_REMEMBER).is_some_and(|v| state.auth.signer.verify(&v) == Some("true"))
}

pub async fn find(state: &AppState, headers: &HeaderMap) -> Result<Found> {
    let Some(token) = request_token(state, headers) else {
        return Ok(Found::None);
    };
    find_token(state, headers, &token).await
}

/// The live session of a (signature-checked) token, from the store.
pub async fn find_token(state: &AppState, headers: &HeaderMap, token: &str) -> Result<Found> {
    Ok(match sessions::lookup(&state.auth, token).await? {
        Lookup::Gone => Found::Gone,
        Lookup::Active(session, user) => {
            Found::Active(Current { session, user, dont_remember: dont_remember(state, headers) })
        }
    })
}

/// The session, or 401 UNAUTHORIZED.
pub async fn require(state: &AppState, headers: &HeaderMap) -> Result<Current> {
    match find(state, headers).await? {
        Found::Active(c) => Ok(c),
        _ => Err(ApiError::unauthorized()),
    }
}

/// The session if there is one (routes where signing in is optional).
pub async fn optional(state: &AppState, headers: &HeaderMap) -> Result<Option<Current>> {
    Ok(match find(state, headers).await? {
        Found::Active(c) => Some(c),
        _ => None,
    })
}

/// The plugins' cookies that go with a session (the cookie cache's copy).
pub fn copy_cookies(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    user: &User,
    dont_remember: bool,
) -> Vec<String> {
    state.plugins.iter().flat_map(|p| p.session_cookies(state, headers, session, user, dont_remember)).collect()
}

/// The plugins' own user fields in a sign-up (`current` unset) or update-user body, checked
/// and added to the row to write.
pub async fn plugin_user_input(
    state: &AppState,
    body: &Map<String, Json>,
    current: Option<&User>,
    row: &mut Record,
) -> Result<()> {
    for plugin in state.plugins.iter() {
        plugin.user_input(state, body, current, row).await?;
    }
    Ok(())
}

/// The plugins' fields for a user the route at `path` is about to create.
pub fn new_user_fields(state: &AppState, path: &str, row: &mut Record) {
    for plugin in state.plugins.iter() {
        plugin.new_user(path, row);
    }
}

/// What a first factor that checked out leads to.
pub enum Opened {
    /// A plugin's gate answered instead (a second factor first): this is the whole reply.
    Challenge(Reply),
    /// The new session, with the cookies the gates add.
    Session(Session, Vec<String>),
}

/// The plugins' gates (a second factor first), then the session: what every sign-in does once
/// its first factor checked out. Routes whose reply is not core sign-in's (the phone-number
/// plugin's `{token, user}`) shape it from here; the others use [`sign_in`].
pub async fn open_session(
    state: &AppState,
    meta: &RequestMeta,
    headers: &HeaderMap,
    user: &User,
    remember_me: bool,
) -> Result<Opened> {
    let mut extra_cookies = Vec::new();
    for plugin in state.plugins.iter() {
        match plugin.sign_in_gate(state, headers, user, remember_me).await? {
            Gate::Challenge(reply) => return Ok(Opened::Challenge(reply)),
            Gate::Proceed(cookies) => extra_cookies.extend(cookies),
        }
    }
    let session = sessions::create(&state.auth, &*state.auth.store, user.id(), !remember_me, meta).await?;
    Ok(Opened::Session(session, extra_cookies))
}

/// The end of every sign-in whose first factor checked out: the plugins' gates (a second
/// factor first), then the session, `{redirect, token, url?, user}` and `Location`.
pub async fn sign_in(
    state: &AppState,
    meta: &RequestMeta,
    headers: &HeaderMap,
    user: &User,
    remember_me: bool,
    callback: Option<String>,
) -> Result<Reply> {
    let (session, extra_cookies) = match open_session(state, meta, headers, user, remember_me).await? {
        Opened::Challenge(reply) => return Ok(reply),
        Opened::Session(session, cookies) => (session, cookies),
    };
    let mut body = Map::new();
    body.insert("redirect".into(), callback.is_some().into());
    body.insert("token".into(), session.token().into());
    if let Some(url) = &callback {
        body.insert("url".into(), url.clone().into());
    }
    body.insert("user".into(), user.to_json());
    let handover = hand_over(state, headers, &session, user, !remember_me);
    let mut reply = Reply::json(Json::Object(body)).session(handover).cookies(extra_cookies);
    if let Some(url) = callback {
        reply = reply.header(header::LOCATION, url);
    }
    Ok(reply)
}

/// A session handed to the client: the cookies to set and the event plugins see.
pub struct Handover {
    pub cookies: Vec<String>,
    pub signed_in: SignedIn,
}

/// Everything that hands a session to the client: the signed token (and `dont_remember`),
/// then the cookie cache, as Better Auth's `setSessionCookie` does.
pub fn hand_over(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    user: &User,
    dont_remember: bool,
) -> Handover {
    let mut cookies = state.cookies.session(&state.auth.signer, session.token(), dont_remember);
    cookies.extend(copy_cookies(state, headers, session, user, dont_remember));
    let prior_token = request_token(state, headers);
    let signed_in =
        SignedIn { session: session.clone(), user: user.clone(), dont_remember, prior_token, request: headers.clone() };
    Handover { cookies, signed_in }
}

/// [`hand_over`] after a write that changed the user: the cached copy (and the event) carry
/// the user as stored now.
pub async fn hand_over_reloading_user(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    dont_remember: bool,
) -> Result<Handover> {
    let user = users::find_by_id(&state.auth, session.user_id()).await?.ok_or_else(ApiError::unauthorized)?;
    Ok(hand_over(state, headers, session, &user, dont_remember))
}
