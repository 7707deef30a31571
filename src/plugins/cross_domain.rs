//! The cross-domain plugin (WIRE.md §13) for SPAs on another origin: cookies travel in the
//! `Better-Auth-Cookie` request header and come back in one `Set-Better-Auth-Cookie` header.
//! A redirect that signs in (a social callback, a verification link) cannot hand its cookie
//! to the SPA, so it carries `?ott=`, a one-time token the SPA exchanges for the session.

use axum::http::{HeaderMap, HeaderValue, header};
use chrono::Duration;

use crate::auth::Auth;
use crate::crypto::random_id;
use crate::error::Result;
use crate::store::{Record, now};

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

/// Stores a one-time token for `session_token` (verification `one-time-token:<token>`).
pub async fn issue_one_time_token(auth: &Auth, session_token: &str) -> Result<String> {
    let token = random_id(32);
    let at = now();
    let row = Record::new()
        .with("identifier", format!("one-time-token:{token}"))
        .with("value", session_token)
        .with("expiresAt", at + Duration::seconds(ONE_TIME_TOKEN_SECONDS))
        .with("createdAt", at)
        .with("updatedAt", at);
    auth.store.create("verification", row).await?;
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
