//! Renders [`ApiError`] in Better Auth's shape: `{"message", "code"}` (key order as on the wire).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

pub fn json_response(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    let mut res = (status, body.into()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

impl ApiError {
    /// The status and `{"message", "code"}` body.
    pub fn parts(self) -> (StatusCode, serde_json::Value) {
        let mut body = serde_json::Map::new();
        body.insert("message".into(), self.message.into());
        if let Some(code) = self.code {
            body.insert("code".into(), code.into_owned().into());
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, serde_json::Value::Object(body))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.parts();
        json_response(status, body.to_string())
    }
}

/// Unknown path or wrong method: 404 with an empty body and no Content-Type (WIRE.md §1).
pub fn empty_404() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

pub async fn not_found() -> Response {
    empty_404()
}
