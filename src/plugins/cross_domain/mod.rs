//! The cross-domain plugin (WIRE.md §13) for SPAs on another origin: cookies travel in the
//! `Better-Auth-Cookie` request header and come back in one `Set-Better-Auth-Cookie` header.
//! A redirect that signs in (a social callback, a verification link) cannot hand its cookie
//! to the SPA, so it carries `?ott=`, a one-time token the SPA exchanges for the session.

mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::auth::Auth;
use crate::config::Section;
use crate::crypto::random_id;
use crate::error::Result;
use crate::http::{AppState, Plugin, write};

/// `[plugins] cross_domain_site_url = "https://app.example"`: the SPA's origin. Set, the
/// plugin is on: the origin is trusted and emailed links land there by default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct CrossDomainConfig(pub Option<String>);

impl Section for CrossDomainConfig {
    const KEY: &'static str = "plugins.cross_domain_site_url";
}

pub struct CrossDomain {
    site_url: String,
}

impl CrossDomain {
    pub fn new(site_url: String) -> Self {
        Self { site_url }
    }
}

impl Plugin for CrossDomain {
    fn id(&self) -> &'static str {
        "cross-domain"
    }

    fn trusted_origins(&self) -> Vec<String> {
        vec![self.site_url.clone()]
    }

    fn site_url(&self) -> Option<String> {
        Some(self.site_url.clone())
    }

    fn exposed_headers(&self) -> &'static [&'static str] {
        &[RESPONSE_HEADER]
    }

    fn routes(self: Arc<Self>, state: &AppState) -> Router<AppState> {
        Router::new().route("/cross-domain/one-time-token/verify", write(state, routes::verify_one_time_token))
    }

    fn wrap(self: Arc<Self>, state: &AppState, api: Router<AppState>) -> Router<AppState> {
        api.layer(middleware::from_fn_with_state(state.clone(), exchange))
    }
}

/// Cookies in `Better-Auth-Cookie` on the way in; the session handed over by `?ott=` on a
/// redirect that signs in, and every `Set-Cookie` moved into one header on the way out.
async fn exchange(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let absorbed = absorb_request_cookies(req.headers_mut());
    let path = req.uri().path().to_string();
    let mut res = next.run(req).await;
    if res.status().is_redirection() && hands_over_session(&path) {
        hand_over_session(&state, &mut res).await;
    }
    if absorbed {
        move_set_cookies(res.headers_mut());
    }
    res
}

/// A redirect that set a session cookie also carries `?ott=` for the SPA.
async fn hand_over_session(state: &AppState, res: &mut Response) {
    let h = res.headers();
    let signed = h
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| state.cookies.session_value_in(c));
    let Some(token) = signed.as_deref().and_then(|s| state.auth.signer.verify(s)) else { return };
    let Some(location) = h.get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string) else { return };
    // The one-time token is a session: it never travels to a place that is not trusted.
    if !state.auth.origins.is_trusted_url(&location) {
        tracing::warn!("cross-domain: no one-time token for an untrusted redirect");
        return;
    }
    match issue_one_time_token(&state.auth, token).await {
        Ok(ott) => {
            if let Ok(v) = HeaderValue::from_str(&with_ott(&location, &ott)) {
                res.headers_mut().insert(header::LOCATION, v);
            }
        }
        // The session cookie is still set on this origin; only the SPA's copy is missing.
        Err(e) => tracing::error!(error = %e, "cross-domain: one-time token not stored"),
    }
}

pub const REQUEST_HEADER: &str = "better-auth-cookie";
pub const RESPONSE_HEADER: &str = "set-better-auth-cookie";

/// Treats `Better-Auth-Cookie` as (more) `Cookie`, unless the request is authorised by a
/// bearer token. Returns whether the header was present at all (even empty): then the
/// response's cookies must be moved by [`move_set_cookies`].
pub fn absorb_request_cookies(headers: &mut HeaderMap) -> bool {
    let Some(extra) = headers.get(REQUEST_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string) else {
        return false;
    };
    if !extra.trim().is_empty() && !headers.contains_key(header::AUTHORIZATION) {
        let merged = match headers.get(header::COOKIE).and_then(|v| v.to_str().ok()) {
            Some(existing) if !existing.is_empty() => format!("{existing}; {extra}"),
            _ => extra,
        };
        if let Ok(v) = HeaderValue::from_str(&merged) {
            headers.insert(header::COOKIE, v);
        }
    }
    true
}

/// Every `Set-Cookie` becomes part of one `Set-Better-Auth-Cookie`, joined with `", "`.
pub fn move_set_cookies(headers: &mut HeaderMap) {
    let cookies: Vec<String> =
        headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect();
    headers.remove(header::SET_COOKIE);
    if !cookies.is_empty()
        && let Ok(v) = HeaderValue::from_str(&cookies.join(", "))
    {
        headers.insert(RESPONSE_HEADER, v);
    }
}

/// One-time tokens live three minutes and are spent by `/cross-domain/one-time-token/verify`.
const ONE_TIME_TOKEN_SECONDS: i64 = 180;

/// Routes whose redirects hand a new session over with `?ott=`: provider callbacks (social,
/// generic OAuth), magic links, and verification links that sign in.
pub fn hands_over_session(path: &str) -> bool {
    ["/callback/", "/oauth2/callback/", "/magic-link/verify", "/verify-email"].iter().any(|p| path.starts_with(p))
}

/// Stores a one-time token for `session_token` (the one-time-token plugin's row).
pub async fn issue_one_time_token(auth: &Auth, session_token: &str) -> Result<String> {
    let token = random_id(32);
    crate::plugins::one_time_token::issue(auth, session_token, &token, ONE_TIME_TOKEN_SECONDS).await?;
    Ok(token)
}

/// `location` with `ott=<token>` in its query (before any fragment).
pub fn with_ott(location: &str, ott: &str) -> String {
    let (base, fragment) = location.split_once('#').map_or((location, None), |(b, f)| (b, Some(f)));
    let sep = if base.contains('?') { '&' } else { '?' };
    let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
    format!("{base}{sep}ott={ott}{fragment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_cookies_both_ways() {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_HEADER, HeaderValue::from_static("a=1"));
        h.insert(header::COOKIE, HeaderValue::from_static("b=2"));
        assert!(absorb_request_cookies(&mut h));
        assert_eq!(h[header::COOKIE], "b=2; a=1");
        let mut res = HeaderMap::new();
        res.append(header::SET_COOKIE, HeaderValue::from_static("x=; Max-Age=0"));
        res.append(header::SET_COOKIE, HeaderValue::from_static("y=1; Max-Age=5"));
        move_set_cookies(&mut res);
        assert!(res.get(header::SET_COOKIE).is_none());
        assert_eq!(res[RESPONSE_HEADER], "x=; Max-Age=0, y=1; Max-Age=5");
        assert!(!absorb_request_cookies(&mut HeaderMap::new()));
    }

    #[test]
    fn ott_goes_into_the_query() {
        assert_eq!(with_ott("http://spa.test/home", "T"), "http://spa.test/home?ott=T");
        assert_eq!(with_ott("http://spa.test/?a=1#top", "T"), "http://spa.test/?a=1&ott=T#top");
        assert!(hands_over_session("/callback/github") && !hands_over_session("/sign-in/social"));
    }
}
