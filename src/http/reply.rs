//! A handler's answer: JSON (or a redirect) plus Set-Cookie lines and extra headers.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value as Json;

use super::plugin::SignedIn;
use super::session::Handover;

enum Body {
    Json(Json),
    /// JSON rendered earlier (get-session from a cookie-cache copy).
    Rendered(Bytes),
    Empty,
}

pub struct Reply {
    status: StatusCode,
    body: Body,
    cookies: Vec<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    signed_in: Option<Box<SignedIn>>,
}

impl Reply {
    pub fn json(body: Json) -> Self {
        Self {
            status: StatusCode::OK,
            body: Body::Json(body),
            cookies: Vec::new(),
            headers: Vec::new(),
            signed_in: None,
        }
    }

    /// An error that still sets cookies (a stale cookie expired with the refusal).
    pub fn from_error(e: crate::error::ApiError) -> Self {
        let (status, body) = e.parts();
        Self { status, body: Body::Json(body), cookies: Vec::new(), headers: Vec::new(), signed_in: None }
    }

    /// 200 with JSON already serialized.
    pub fn rendered_json(body: Bytes) -> Self {
        Self {
            status: StatusCode::OK,
            body: Body::Rendered(body),
            cookies: Vec::new(),
            headers: Vec::new(),
            signed_in: None,
        }
    }

    /// 302 with `Location` and an empty body.
    pub fn redirect(location: &str) -> Self {
        Self { status: StatusCode::FOUND, body: Body::Empty, cookies: Vec::new(), headers: Vec::new(), signed_in: None }
            .header(header::LOCATION, location)
    }

    /// Hands a session to the client: its cookies, and the event plugins see afterwards.
    pub fn session(mut self, handover: impl Into<Option<Handover>>) -> Self {
        if let Some(h) = handover.into() {
            self.cookies.extend(h.cookies);
            self.signed_in = Some(Box::new(h.signed_in));
        }
        self
    }

    pub fn cookies(mut self, cookies: impl IntoIterator<Item = String>) -> Self {
        self.cookies.extend(cookies);
        self
    }

    /// Adds a header; a value that is not a valid header value is left out.
    pub fn header(mut self, name: HeaderName, value: impl AsRef<str>) -> Self {
        if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
            self.headers.push((name, v));
        }
        self
    }

    pub fn header_static(mut self, name: HeaderName, value: &'static str) -> Self {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut res = match self.body {
            Body::Json(body) => super::error::json_response(self.status, body.to_string()),
            Body::Rendered(bytes) => super::error::json_response(self.status, bytes),
            Body::Empty => self.status.into_response(),
        };
        let h = res.headers_mut();
        for c in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        for (name, value) in self.headers {
            h.append(name, value);
        }
        if let Some(signed_in) = self.signed_in {
            res.extensions_mut().insert(*signed_in);
        }
        res
    }
}

/// Where Better Auth sends the browser: `url` resolved against `base` (a relative callback
/// lands on that origin), with `key=value` added to its query, before any fragment.
pub fn redirect_target(base: &str, url: &str, param: Option<(&str, &str)>) -> String {
    match url::Url::parse(base).and_then(|b| b.join(url)) {
        Ok(mut u) => {
            if let Some((key, value)) = param {
                u.query_pairs_mut().append_pair(key, value);
            }
            u.to_string()
        }
        Err(_) => match param {
            Some((key, value)) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}{key}={}", crate::auth::password::encode_component(value))
            }
            None => url.to_string(),
        },
    }
}
