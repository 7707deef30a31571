//! The two-factor plugin's routes (WIRE.md §9) and its sign-in gate. The rules live in the
//! modules beside this one, free of HTTP.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::MethodRouter;
use serde_json::{Map, Value as Json, json};

use super::{self as tf, Method, Subject, TwoFactorPlugin, Verified, errors};
use crate::auth::{RequestMeta, User};
use crate::error::{ApiError, Result};
use crate::http::cookies::{DONT_REMEMBER, SESSION_DATA, SESSION_TOKEN};
use crate::http::extract::Body;
use crate::http::input::{Fields, RawBody};
use crate::http::plugin::Gate;
use crate::http::reply::Reply;
use crate::http::session;
use crate::http::{AppState, write};
use crate::store::now;

pub const TWO_FACTOR_COOKIE: &str = "two_factor";
pub const TRUST_DEVICE_COOKIE: &str = "trust_device";

/// A user with 2FA on gets a challenge instead of a session, unless the request presents a
/// valid `trust_device` cookie, which is then replaced.
pub async fn sign_in_gate(state: &AppState, headers: &HeaderMap, user: &User, remember_me: bool) -> Result<Gate> {
    let auth = &state.auth;
    if !tf::two_factor_enabled(user) {
        return Ok(Gate::Proceed(Vec::new()));
    }
    let at = now();
    if let Some(value) = state
        .cookies
        .read(headers, TRUST_DEVICE_COOKIE)
        .and_then(|signed| auth.signer.verify(&signed).map(str::to_string))
        && let Some(fresh) = tf::use_trusted_device(auth, user.id(), &value, at).await?
    {
        return Ok(Gate::Proceed(vec![trust_cookie(state, &fresh)]));
    }
    let id = tf::start_challenge(auth, user.id(), at).await?;
    let mut cookies = Vec::new();
    if !remember_me {
        // Read back when the challenge completes, so the session is not persistent.
        cookies.push(state.cookies.set(DONT_REMEMBER, &auth.signer.sign("true"), None));
    }
    cookies.push(state.cookies.clear(SESSION_TOKEN));
    cookies.push(state.cookies.clear(SESSION_DATA));
    cookies.push(state.cookies.set(TWO_FACTOR_COOKIE, &auth.signer.sign(&id), Some(tf::CHALLENGE_SECONDS)));
    let body = json!({ "twoFactorRedirect": true, "twoFactorMethods": ["totp"] });
    Ok(Gate::Challenge(Reply::json(body).cookies(cookies)))
}

fn trust_cookie(state: &AppState, value: &str) -> String {
    state.cookies.set(TRUST_DEVICE_COOKIE, &state.auth.signer.sign(value), Some(tf::TRUST_DEVICE_SECONDS))
}

/// The signed-in user, else the sign-in challenge named by the `two_factor` cookie.
async fn subject(state: &AppState, headers: &HeaderMap) -> Result<Subject> {
    if let Some(cur) = session::optional(state, headers).await? {
        return Ok(Subject::Session { session: cur.session, user: cur.user, dont_remember: cur.dont_remember });
    }
    let id = state
        .cookies
        .read(headers, TWO_FACTOR_COOKIE)
        .and_then(|signed| state.auth.signer.verify(&signed).map(str::to_string))
        .ok_or_else(errors::invalid_two_factor_cookie)?;
    let user = tf::challenge_user(&state.auth, &id, now()).await?;
    Ok(Subject::Challenge { id, user, dont_remember: session::dont_remember(state, headers) })
}

/// `{token, user}` plus the cookies the outcome calls for.
async fn verified_reply(state: &AppState, headers: &HeaderMap, v: Verified) -> Result<Reply> {
    let mut body = Map::new();
    if let Some(token) = &v.token {
        body.insert("token".into(), token.clone().into());
    }
    body.insert("user".into(), v.user.to_json());
    let mut cookies = Vec::new();
    // The reply shows the user as before; the cached copy is the user as stored now.
    let handover = match &v.new_session {
        Some(s) => Some(session::hand_over_reloading_user(state, headers, s, v.dont_remember).await?),
        None => None,
    };
    if v.challenge_done {
        cookies.push(state.cookies.clear(TWO_FACTOR_COOKIE));
    }
    if let Some(t) = &v.trust_device {
        cookies.push(trust_cookie(state, t));
    }
    Ok(Reply::json(Json::Object(body)).session(handover).cookies(cookies))
}

pub async fn enable(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<TwoFactorPlugin>>,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let password = f.string("password");
    let issuer = f.opt_string("issuer");
    let method = f.opt_string("method");
    f.finish()?;
    if method.as_deref().is_some_and(|m| m != "totp") {
        return Err(ApiError::validation("[body.method] Invalid input: expected \"totp\""));
    }
    let cur = session::require(&state, &headers).await?;
    let issuer = issuer.unwrap_or_else(|| plugin.issuer(&state.auth));
    let out = tf::enable(&state.auth, &cur.user, password, &issuer).await?;
    Ok(Reply::json(json!({
        "method": "totp",
        "totpURI": out.totp_uri,
        "backupCodes": out.backup_codes,
    })))
}

pub async fn get_totp_uri(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<TwoFactorPlugin>>,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let password = f.string("password");
    f.finish()?;
    let cur = session::require(&state, &headers).await?;
    let uri = tf::totp_uri_for(&state.auth, &cur.user, password, &plugin.issuer(&state.auth)).await?;
    Ok(Reply::json(json!({ "totpURI": uri })))
}

pub async fn generate_backup_codes(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let password = f.string("password");
    f.finish()?;
    let cur = session::require(&state, &headers).await?;
    let codes = tf::regenerate_backup_codes(&state.auth, &cur.user, password).await?;
    Ok(Reply::json(json!({ "status": true, "backupCodes": codes })))
}

pub async fn disable(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let password = f.string("password");
    f.finish()?;
    let cur = session::require(&state, &headers).await?;
    let fresh = tf::disable(&state.auth, &cur.user, &cur.session, password, cur.dont_remember, &meta).await?;
    // Trusted-device rows are gone too; a leftover trust cookie is inert.
    let handover = session::hand_over_reloading_user(&state, &headers, &fresh, cur.dont_remember).await?;
    Ok(Reply::json(json!({ "status": true })).session(handover))
}

pub async fn send_otp(State(state): State<AppState>, headers: HeaderMap, body: RawBody) -> Result<Reply> {
    // `trustDevice` may be sent; it only matters on verify-otp.
    let mut f = Fields::optional_body(body)?;
    let _ = f.opt_bool("trustDevice");
    f.finish()?;
    let who = subject(&state, &headers).await?;
    tf::send_otp(&state.auth, &who, now()).await?;
    Ok(Reply::json(json!({ "status": true })))
}

/// What a verify route checks its `code` as.
#[derive(Debug, Clone, Copy)]
pub enum CodeKind {
    Totp,
    /// Also reads `disableSession`.
    BackupCode,
    Otp,
}

impl CodeKind {
    fn method(self, code: String, f: &mut Fields) -> Method {
        match self {
            CodeKind::Totp => Method::Totp(code),
            CodeKind::BackupCode => {
                Method::BackupCode { code, disable_session: f.opt_bool("disableSession").unwrap_or(false) }
            }
            CodeKind::Otp => Method::Otp(code),
        }
    }
}

/// A verify route (`/two-factor/verify-totp`, `-backup-code`, `-otp`): `{code, trustDevice?}`
/// checked as `kind` for a session or a sign-in challenge.
pub fn verify(state: &AppState, kind: CodeKind) -> MethodRouter<AppState> {
    write(state, move |State(state): State<AppState>, meta: RequestMeta, headers: HeaderMap, Body(f): Body| {
        verify_code(state, meta, headers, f, kind)
    })
}

async fn verify_code(
    state: AppState,
    meta: RequestMeta,
    headers: HeaderMap,
    mut f: Fields,
    kind: CodeKind,
) -> Result<Reply> {
    let code = f.string("code");
    let trust = f.opt_bool("trustDevice").unwrap_or(false);
    let method = kind.method(code, &mut f);
    f.finish()?;
    let who = subject(&state, &headers).await?;
    let v = tf::verify(&state.auth, who, method, trust, &meta, now()).await?;
    verified_reply(&state, &headers, v).await
}
