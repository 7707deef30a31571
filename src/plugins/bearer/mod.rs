//! The bearer plugin (WIRE.md §7): a request names its session in
//! `Authorization: Bearer <token.sig | url-encoded | raw token>`, and a response that sets the
//! session cookie also carries the signed token in `set-auth-token`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

use crate::config::Section;
use crate::http::{AppState, Plugin};

/// `[plugins] bearer = true` (on by default, as in the conformance profile).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct BearerConfig(pub bool);

impl Default for BearerConfig {
    fn default() -> Self {
        Self(true)
    }
}

impl Section for BearerConfig {
    const KEY: &'static str = "plugins.bearer";
}

pub struct Bearer;

const RESPONSE_HEADER: &str = "set-auth-token";

impl Plugin for Bearer {
    fn id(&self) -> &'static str {
        "bearer"
    }

    fn exposed_headers(&self) -> &'static [&'static str] {
        &[RESPONSE_HEADER]
    }

    fn session_token(&self, state: &AppState, headers: &HeaderMap) -> Option<String> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, raw) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let raw = raw.trim();
        let raw =
            if raw.contains('%') { percent_decode_str(raw).decode_utf8().ok()?.into_owned() } else { raw.to_string() };
        if raw.contains('.') {
            state.auth.signer.verify(&raw).map(str::to_string)
        } else if raw.is_empty() {
            None
        } else {
            // A raw token is accepted as if the server had signed it (WIRE.md §7).
            Some(raw)
        }
    }

    fn wrap(self: Arc<Self>, state: &AppState, api: Router<AppState>) -> Router<AppState> {
        api.layer(middleware::from_fn_with_state(state.clone(), set_auth_token))
    }
}

/// A newly set session cookie is also handed over as `set-auth-token`.
async fn set_auth_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let token = h
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| state.cookies.session_value_in(c));
    if let Some(v) = token.and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert(RESPONSE_HEADER, v);
    }
    res
}
