//! What every request passes through before and after its handler: client address, CORS
//! preflight, rate limiting, origin/CSRF checks (WIRE.md §2, §11), and CORS on the way out
//! (exposing the plugins' response headers, WIRE.md §1).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;

use super::AppState;
use super::error::empty_404;
use super::input::{ParsedBody, read_body, truthy};
use crate::auth::RequestMeta;
use crate::auth::origins::origin_of;
use crate::error::{ApiError, codes};

/// An IP address or CIDR range.
#[derive(Debug, Clone)]
pub struct IpRange {
    net: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn parse(s: &str) -> Option<IpRange> {
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let ip: IpAddr = s.parse().ok()?;
                (ip, if ip.is_ipv4() { 32 } else { 128 })
            }
        };
        Some(IpRange { net: ip, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (a, b, bits): (u128, u128, u32) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n) as u128, u32::from(i) as u128, 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            (IpAddr::V4(n), IpAddr::V6(i)) => match i.to_ipv4_mapped() {
                Some(i) => (u32::from(n) as u128, u32::from(i) as u128, 32),
                None => return false,
            },
            _ => return false,
        };
        let prefix = u32::from(self.prefix).min(bits);
        if prefix == 0 {
            return true;
        }
        let shift = bits - prefix;
        (a >> shift) == (b >> shift)
    }
}

/// The client address: `X-Forwarded-For` is believed only from a trusted proxy, walking the
/// list from the right past other trusted proxies.
fn client_ip(state: &AppState, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    let peer = peer?;
    let trusted = |ip: IpAddr| state.proxies.iter().any(|r| r.contains(ip));
    if !trusted(peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some(forwarded.iter().rev().copied().find(|ip| !trusted(*ip)).or(forwarded.first().copied()).unwrap_or(peer))
}

/// `Origin`, else the origin of `Referer`; `Some("null")` is kept to be refused.
fn request_origin(headers: &HeaderMap) -> Option<String> {
    let h = |n: header::HeaderName| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    h(header::ORIGIN).or_else(|| h(header::REFERER).map(|r| origin_of(&r).unwrap_or_else(|| "null".into())))
}

fn check_origin(state: &AppState, origin: Option<&str>) -> Result<(), ApiError> {
    match origin {
        None | Some("null") | Some("") => Err(codes::missing_or_null_origin()),
        Some(o) if state.auth.origins.is_trusted_origin(o) => Ok(()),
        Some(_) => Err(codes::invalid_origin()),
    }
}

/// WIRE.md §2: cookie-less sign-in/sign-up is checked when a browser is evidently involved
/// (Origin, Referer or Sec-Fetch-* present). Called by those handlers after the body is
/// validated, Better Auth's place for it; cookie-bearing writes were checked in [`checks`].
pub fn browser_origin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if headers.contains_key(header::COOKIE) {
        return Ok(());
    }
    let origin = request_origin(headers);
    let fetch = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if fetch("sec-fetch-site") == Some("cross-site") && fetch("sec-fetch-mode") == Some("navigate") {
        return Err(codes::cross_site_navigation());
    }
    let browser = ["sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest"].iter().any(|n| headers.contains_key(*n));
    if browser || origin.is_some() {
        return check_origin(state, origin.as_deref());
    }
    Ok(())
}

/// A handler's own check of a URL-valued input: relative or on a trusted origin (WIRE.md §2);
/// an empty one is absent, as in Better Auth.
pub fn check_url(state: &AppState, url: Option<&str>, err: fn() -> ApiError) -> Result<(), ApiError> {
    match url {
        Some(u) if !u.is_empty() && !state.auth.origins.is_trusted_url(u) => Err(err()),
        _ => Ok(()),
    }
}

/// URL-valued inputs Better Auth judges before anything else, in its order, each with its
/// error for an untrusted value.
type Refusal = fn() -> ApiError;
const URL_FIELDS: [(&str, Refusal); 4] = [
    ("callbackURL", codes::invalid_callback_url),
    ("redirectTo", codes::invalid_redirect_url),
    ("errorCallbackURL", codes::invalid_error_callback_url),
    ("newUserCallbackURL", codes::invalid_new_user_callback_url),
];

/// Every URL-valued field of a write (body first, else query): a string, and trusted.
fn check_url_fields(state: &AppState, body: Option<&Json>, query: Option<&str>) -> Result<(), ApiError> {
    let query: Vec<(String, String)> =
        query.map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    // Better Auth reads `body.x || query.x`: a falsy body value falls through to the query.
    for (name, untrusted) in URL_FIELDS {
        let from_body = body.and_then(|b| b.get(name)).filter(|v| truthy(v)).cloned();
        let from_query =
            || query.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| Json::String(v.clone()));
        match from_body.or_else(from_query) {
            None => {}
            Some(Json::String(url)) if state.auth.origins.is_trusted_url(&url) => {}
            Some(Json::String(_)) => return Err(untrusted()),
            Some(_) => return Err(ApiError::without_code(400, format!("Invalid {name}: expected a string"))),
        }
    }
    Ok(())
}

/// What a write to a known route passes before its handler, in Better Auth's order: the
/// body's size, media type and JSON; the Origin of a cookie-bearing request; then every
/// URL-valued field. Unknown routes and methods never get here (404 first).
pub async fn checks(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return next.run(req).await;
    }
    match pre_handler(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn pre_handler(state: &AppState, req: Request) -> Result<Request, ApiError> {
    // POST get-session answers 405 whatever its body; only its Origin is judged.
    let req = if req.uri().path() == "/get-session" { req } else { read_body(req, state).await? };
    let headers = req.headers();
    if headers.contains_key(header::COOKIE) {
        check_origin(state, request_origin(headers).as_deref())?;
    }
    let body = req.extensions().get::<ParsedBody>().and_then(|b| b.0.as_ref());
    check_url_fields(state, body, req.uri().query())?;
    Ok(req)
}

fn preflight(state: &AppState, origin: Option<&str>, headers: &HeaderMap) -> Response {
    let Some(origin) = origin.filter(|o| state.auth.origins.is_trusted_origin(o)) else {
        return empty_404();
    };
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    allow_origin(h, origin);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
    let requested = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        requested.unwrap_or(HeaderValue::from_static("content-type, authorization, better-auth-cookie")),
    );
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    res
}

fn allow_origin(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn too_many(retry_after: u64) -> Response {
    let mut res = ApiError::without_code(429, "Too many requests. Please try again later.").into_response();
    res.headers_mut().insert("x-retry-after", HeaderValue::from(retry_after));
    res
}

/// `Access-Control-Expose-Headers`: the plugins' headers this response has; CORS headers for
/// trusted cross-origin callers.
fn finish(state: &AppState, res: &mut Response, origin: Option<&str>) {
    let h = res.headers_mut();
    let exposed: Vec<&str> =
        state.plugins.iter().flat_map(|p| p.exposed_headers()).copied().filter(|n| h.contains_key(*n)).collect();
    if let Ok(v) = HeaderValue::from_str(&exposed.join(", "))
        && !exposed.is_empty()
    {
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
    if let Some(o) = origin.filter(|o| state.auth.origins.is_trusted_origin(o) && o.starts_with("http")) {
        allow_origin(h, o);
    }
}

pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let headers = req.headers();
    let ip = client_ip(&state, peer, headers);
    let origin = request_origin(headers);
    if req.method() == Method::OPTIONS {
        return preflight(&state, headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()), headers);
    }
    if let Some(limiter) = &state.limiter {
        let key = ip.map_or_else(|| "no-ip".to_string(), |ip| ip.to_string());
        match limiter.check(&key, req.uri().path()).await {
            Ok(Ok(())) => {}
            Ok(Err(wait)) => return too_many(wait),
            Err(e) => return crate::error::ApiError::from(e).into_response(),
        }
    }
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let meta = RequestMeta { ip, user_agent };
    req.extensions_mut().insert(meta);
    let mut res = next.run(req).await;
    finish(&state, &mut res, origin.as_deref());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_ranges() {
        let r = IpRange::parse("127.0.0.0/8").unwrap();
        assert!(r.contains("127.1.2.3".parse().unwrap()));
        assert!(!r.contains("10.0.0.1".parse().unwrap()));
        assert!(IpRange::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(IpRange::parse("bogus").is_none());
    }
}
