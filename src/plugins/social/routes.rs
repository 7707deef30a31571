//! Social sign-in routes (Better Auth's `/sign-in/social`, `/callback/:id`, `/link-social`,
//! `/list-accounts`, `/unlink-account`, `/get-access-token`, `/refresh-token`,
//! `/account-info`); the rules are in the modules beside this one.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};

use super::SocialPlugin;
use super::flow::{self, CallbackQuery, IdTokenInput, Start};
use super::{accounts, link, state as oauth_state};
use crate::auth::{RequestMeta, sessions};
use crate::error::{ApiError, Result, codes};
use crate::http::extract::{Body, CurrentSession};
use crate::http::guard::check_url;
use crate::http::input::{Fields, RawBody};
use crate::http::reply::Reply;
use crate::http::session;
use crate::http::{AppState, guard};

/// `idToken` and `scopes` are an object and an array, which [`Fields`] does not read; they
/// are checked here with the same zod-style messages.
struct Extra {
    /// zod's union of known names or any string: a non-string is just "Invalid input".
    provider: String,
    id_token: Option<IdTokenInput>,
    scopes: Vec<String>,
}

fn issue(key: &str, expected: &str, got: &Json) -> String {
    let got = match got {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    };
    format!("[body.{key}] Invalid input: expected {expected}, received {got}")
}

fn extra(body: &RawBody) -> Result<Extra> {
    let empty = Map::new();
    let map = body.0.as_ref().and_then(Json::as_object).unwrap_or(&empty);
    let mut issues = Vec::new();
    let provider = match map.get("provider") {
        Some(Json::String(p)) => p.clone(),
        _ => {
            issues.push("[body.provider] Invalid input".to_string());
            String::new()
        }
    };
    let scopes = match map.get("scopes") {
        None => Vec::new(),
        Some(Json::Array(a)) if a.iter().all(Json::is_string) => {
            a.iter().filter_map(Json::as_str).map(String::from).collect()
        }
        Some(v) => {
            issues.push(issue("scopes", "array", v));
            Vec::new()
        }
    };
    let id_token = match map.get("idToken") {
        None => None,
        Some(Json::Object(o)) => {
            let s = |k: &str| o.get(k).and_then(Json::as_str).map(String::from);
            match s("token") {
                Some(token) => Some(IdTokenInput {
                    token,
                    nonce: s("nonce"),
                    access_token: s("accessToken"),
                    refresh_token: s("refreshToken"),
                }),
                None => {
                    issues.push(issue("idToken.token", "string", o.get("token").unwrap_or(&Json::Null)));
                    None
                }
            }
        }
        Some(v) => {
            issues.push(issue("idToken", "object", v));
            None
        }
    };
    if issues.is_empty() {
        Ok(Extra { provider, id_token, scopes })
    } else {
        Err(ApiError::validation(issues.join("; ")))
    }
}

/// The crossDomain plugin sends relative or missing callback URLs to its site (WIRE.md §13).
fn cross_domain_callback(state: &AppState, url: Option<String>) -> Option<String> {
    let Some(site) = &state.auth.site_url else { return url };
    let site = site.trim_end_matches('/');
    match url {
        None => Some(site.to_string()),
        Some(u) if u.starts_with('/') && !u.starts_with("//") => Some(format!("{site}{u}")),
        other => other,
    }
}

struct StartBody {
    provider: String,
    start: Start,
    disable_redirect: bool,
    extra: Extra,
}

fn start_body(state: &AppState, body: RawBody) -> Result<StartBody> {
    if !matches!(body.0, Some(Json::Object(_))) {
        // Not an object: Fields reports it in zod's words.
        Fields::body(body)?;
        return Err(ApiError::validation("[body] Invalid input"));
    }
    let extra = extra(&body)?;
    let mut f = Fields::body(body)?;
    let callback_url = f.opt_string("callbackURL");
    let error_callback_url = f.opt_string("errorCallbackURL");
    let new_user_callback_url = f.opt_string("newUserCallbackURL");
    let disable_redirect = f.opt_bool("disableRedirect").unwrap_or(false);
    let request_sign_up = f.opt_bool("requestSignUp");
    let login_hint = f.opt_string("loginHint");
    f.finish()?;
    check_url(state, callback_url.as_deref(), codes::invalid_callback_url)?;
    check_url(state, error_callback_url.as_deref(), codes::invalid_error_callback_url)?;
    check_url(state, new_user_callback_url.as_deref(), codes::invalid_new_user_callback_url)?;
    let start = Start {
        callback_url: cross_domain_callback(state, callback_url),
        error_callback_url,
        new_user_callback_url,
        scopes: extra.scopes.clone(),
        login_hint,
        request_sign_up,
        link: None,
    };
    Ok(StartBody { provider: extra.provider.clone(), start, disable_redirect, extra })
}

/// `{url, redirect}`, the signed state cookie, and `Location` unless `disableRedirect`.
async fn redirect_reply(
    state: &AppState,
    plugin: &SocialPlugin,
    provider: &str,
    start: Start,
    disable_redirect: bool,
) -> Result<Reply> {
    let provider = plugin.providers.require(provider)?;
    let (url, oauth) = flow::start(&state.auth, &provider, start).await?;
    let cookie =
        state.cookies.set(oauth_state::COOKIE, &state.auth.signer.sign(&oauth), Some(oauth_state::COOKIE_MAX_AGE));
    let mut reply = Reply::json(json!({ "url": url, "redirect": !disable_redirect })).cookies([cookie]);
    if !disable_redirect {
        reply = reply.header(header::LOCATION, url);
    }
    Ok(reply)
}

pub async fn sign_in_social(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<SocialPlugin>>,
    meta: RequestMeta,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Reply> {
    let b = start_body(&state, body)?;
    // Better Auth names an unknown provider before it looks at the caller's origin.
    plugin.providers.require(&b.provider)?;
    guard::browser_origin(&state, &headers)?;
    let Some(id_token) = b.extra.id_token else {
        return redirect_reply(&state, &plugin, &b.provider, b.start, b.disable_redirect).await;
    };
    let provider = plugin.providers.require(&b.provider)?;
    let request_sign_up = b.start.request_sign_up == Some(true);
    let callback = b.start.callback_url.as_deref();
    let signed =
        flow::sign_in_with_id_token(&state.auth, &provider, id_token, request_sign_up, callback, &meta).await?;
    let handover = session::hand_over(&state, &headers, &signed.session, &signed.user, false);
    let body = json!({ "redirect": false, "token": signed.session.token(), "user": signed.user.to_json() });
    Ok(Reply::json(body).session(handover))
}

pub async fn callback(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<SocialPlugin>>,
    meta: RequestMeta,
    Path(provider): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Reply {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let q = CallbackQuery {
        code: get("code"),
        state: get("state"),
        error: get("error"),
        error_description: get("error_description"),
        iss: get("iss"),
    };
    let cookie = state.cookies.read(&headers, oauth_state::COOKIE);
    let cookie_state = cookie.as_deref().and_then(|c| state.auth.signer.verify(c));
    let end = flow::callback(&state.auth, &plugin.providers, &provider, q, cookie_state, &meta).await;
    let mut reply = Reply::redirect(&end.location);
    if end.clear_state_cookie {
        reply = reply.cookies([state.cookies.clear(oauth_state::COOKIE)]);
    }
    if let Some((signed, user)) = &end.signed_in {
        reply = reply.session(session::hand_over(&state, &headers, signed, user, false));
    }
    reply
}

/// Providers answering with `response_mode=form_post` POST here: the parameters are moved
/// to a GET of the same route, as Better Auth does.
pub async fn callback_post(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    body: RawBody,
) -> Reply {
    let mut params = url::form_urlencoded::Serializer::new(String::new());
    if let Some(Json::Object(map)) = &body.0 {
        for (k, v) in map.iter().filter(|(k, _)| !query.iter().any(|(q, _)| q == *k)) {
            if let Some(s) = v.as_str() {
                params.append_pair(k, s);
            }
        }
    }
    for (k, v) in &query {
        params.append_pair(k, v);
    }
    let location = format!("{}/callback/{}?{}", state.auth.api_url(), provider, params.finish());
    Reply::redirect(&location)
}

pub async fn link_social(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<SocialPlugin>>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Reply> {
    let mut b = start_body(&state, body)?;
    let cur = session::require(&state, &headers).await?;
    if let Some(id_token) = b.extra.id_token {
        let provider = plugin.providers.require(&b.provider)?;
        link::link_with_id_token(&state.auth, &provider, &cur.user, id_token).await?;
        return Ok(Reply::json(json!({ "url": "", "status": true, "redirect": false })));
    }
    b.start.link = Some(link::link_for(&state.auth, &cur.user, &cur.session));
    redirect_reply(&state, &plugin, &b.provider, b.start, b.disable_redirect).await
}

pub async fn list_accounts(State(state): State<AppState>, CurrentSession(cur): CurrentSession) -> Result<Reply> {
    Ok(Reply::json(accounts::list(&state.auth, cur.user.id()).await?))
}

/// `{accountId}` and the caller's session, checked in Better Auth's order: the body first.
pub struct AccountRequest {
    id: String,
    cur: session::Current,
}

impl FromRequest<AppState> for AccountRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self> {
        let headers = req.headers().clone();
        let Body(mut f) = Body::from_request(req, state).await?;
        let id = f.string("accountId");
        f.finish()?;
        let cur = session::require(state, &headers).await?;
        Ok(Self { id, cur })
    }
}

pub async fn unlink_account(
    State(state): State<AppState>,
    AccountRequest { id, cur }: AccountRequest,
) -> Result<Reply> {
    sessions::require_fresh(&state.auth, &cur.session)?;
    accounts::unlink(&state.auth, cur.user.id(), &id).await?;
    Ok(Reply::json(json!({ "status": true })))
}

type Social = Extension<Arc<SocialPlugin>>;

pub async fn get_access_token(
    State(state): State<AppState>,
    Extension(plugin): Social,
    AccountRequest { id, cur }: AccountRequest,
) -> Result<Reply> {
    Ok(Reply::json(accounts::access_token(&state.auth, &plugin.providers, cur.user.id(), &id).await?))
}

pub async fn refresh_token(
    State(state): State<AppState>,
    Extension(plugin): Social,
    AccountRequest { id, cur }: AccountRequest,
) -> Result<Reply> {
    Ok(Reply::json(accounts::refresh_token(&state.auth, &plugin.providers, cur.user.id(), &id).await?))
}

pub async fn account_info(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<SocialPlugin>>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let mut f = Fields::query(q);
    let id = f.string("accountId");
    f.finish()?;
    // Better Auth answers this route's missing session with a bare 401.
    let session::Found::Active(cur) = session::find(&state, &headers).await? else {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    };
    Ok(Reply::json(accounts::account_info(&state.auth, &plugin.providers, cur.user.id(), &id).await?).into_response())
}
