//! What handlers take instead of repeating their opening: the request's metadata, a body in
//! Better Auth's shape, and the caller's session.
//!
//! Better Auth validates a body before it looks at the session, so a handler that takes a
//! body checks the session itself after reading its fields ([`super::session::require`]);
//! [`CurrentSession`] is for routes without one.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;

use super::AppState;
use super::input::{Fields, RawBody};
use super::session::{self, Current};
use crate::auth::RequestMeta;
use crate::error::ApiError;

/// Set by the guard on every request under the base path.
impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(parts.extensions.get::<RequestMeta>().cloned().unwrap_or_default())
    }
}

/// A JSON object body (`400` in Better Auth's words otherwise); its fields are read next.
pub struct Body(pub Fields);

impl FromRequest<AppState> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        Fields::body(RawBody::from_request(req, state).await?).map(Body)
    }
}

/// A body that may be absent (sign-out): absent reads as `{}`.
pub struct OptionalBody(pub Fields);

impl FromRequest<AppState> for OptionalBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        Fields::optional_body(RawBody::from_request(req, state).await?).map(OptionalBody)
    }
}

/// The caller's active session, else `401 UNAUTHORIZED`.
pub struct CurrentSession(pub Current);

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        session::require(state, &parts.headers).await.map(CurrentSession)
    }
}
