//! The JWT plugin (WIRE.md §8) and the Convex profile (WIRE.md §14): short-lived tokens for
//! the app's backend, signed with keys from the `jwks` table (private JWK encrypted as WIRE.md
//! §15.4, readable by Better Auth both ways) or from a static JWK Set in the environment.
//!
//! Rotation keeps everybody signed in: a rotated key stops signing at once (its `expiresAt`
//! is set to now, which Better Auth also honours) but stays published until every token it
//! signed has expired, plus a grace period; then it is retired.

mod convex;
mod issuer;
pub mod keys;
mod ring;
mod routes;
mod setup;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json, json};

use crate::auth::origins::origin_of;
use crate::auth::{Auth, Session, User};
use crate::config::Config;
use crate::crypto::symmetric;
use crate::error::{ApiError, Result};
use crate::http::reply::Reply;
use crate::http::{AppState, write};
use crate::store::{FindMany, Ops, Record, Where, now};
pub use keys::{Alg, KeyPair};

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal("jwt", e)
}

pub use issuer::*;
pub use ring::*;
pub use setup::*;

/// The JWT plugin with the Convex profile: the two share the key ring and the `jwks` table.
pub struct JwtPlugin {
    /// `/token`, `/jwks`, `set-auth-jwt` (when `[plugins.jwt] enabled`).
    pub jwt: Option<JwtIssuer>,
    /// `/convex/*` and the `convex_jwt` cookie (when `[plugins.convex] enabled`).
    pub convex: Option<JwtIssuer>,
    pub ring: Arc<KeyRing>,
    /// `POST /keys/rotate` exists only with an admin key.
    rotate_route: bool,
}

/// The plugin as its handlers take it.
type Jwt = Extension<Arc<JwtPlugin>>;

impl JwtPlugin {
    /// The issuer of `profile`, else 404 (its routes exist only when it is on).
    fn issuer(&self, profile: Profile) -> Result<&JwtIssuer> {
        let (issuer, what) = match profile {
            Profile::Jwt => (&self.jwt, "JWT plugin"),
            Profile::Convex => (&self.convex, "Convex profile"),
        };
        issuer.as_ref().ok_or_else(|| ApiError::new(404, "NOT_FOUND", format!("{what} is disabled")))
    }

    /// The issuer whose keys `keys export-jwks` prints: Convex's with `convex`, else the JWT
    /// plugin's (every key).
    pub fn exported(&self, convex: bool) -> Option<&JwtIssuer> {
        if convex { self.convex.as_ref() } else { self.jwt.as_ref().or(self.convex.as_ref()) }
    }
}

#[async_trait::async_trait]
impl crate::http::Plugin for JwtPlugin {
    fn id(&self) -> &'static str {
        "jwt"
    }

    /// Better Auth's `jwks` table (WIRE.md §15.1).
    fn schema(&self, schema: &mut crate::store::Schema) {
        add_jwks_table(schema);
    }

    fn exposed_headers(&self) -> &'static [&'static str] {
        &["set-auth-jwt"]
    }

    fn routes(self: Arc<Self>, state: &AppState) -> Router<AppState> {
        let mut r = Router::new();
        if self.jwt.is_some() {
            r = r
                .route("/token", get(routes::token))
                .route("/jwks", get(routes::jwks))
                .route("/.well-known/openid-configuration", get(routes::openid_configuration));
        }
        if self.rotate_route {
            r = r.route("/keys/rotate", write(state, routes::rotate));
        }
        if self.convex.is_some() {
            r = r
                .route("/convex/token", get(convex::token))
                .route("/convex/jwks", get(convex::jwks))
                .route("/convex/.well-known/openid-configuration", get(convex::openid_configuration));
        }
        r.layer(Extension(self))
    }

    fn root_routes(self: Arc<Self>, _state: &AppState) -> Router<AppState> {
        Router::new().route("/.well-known/openid-configuration", get(convex::root_discovery)).layer(Extension(self))
    }

    fn wrap(self: Arc<Self>, state: &AppState, api: Router<AppState>) -> Router<AppState> {
        if self.convex.is_none() {
            return api;
        }
        api.layer(axum::middleware::from_fn_with_state((state.clone(), self), convex::cookie))
    }

    /// `set-auth-jwt` on get-session (WIRE.md §8).
    async fn session_reply(&self, state: &AppState, session: &Session, user: &User, reply: Reply) -> Result<Reply> {
        let Some(jwt) = &self.jwt else { return Ok(reply) };
        // No app id yet (`subject = "app"`): the session stands, without a token.
        if jwt.subject_of(user).is_err() {
            return Ok(reply);
        }
        let token = jwt.for_session(&state.auth, user, session.id()).await?;
        Ok(reply.header(axum::http::HeaderName::from_static("set-auth-jwt"), token))
    }
}

/// Adds Better Auth's `jwks` table.
pub fn add_jwks_table(schema: &mut crate::store::Schema) {
    use crate::store::FieldType::{Date, String};
    schema.add_model(
        crate::store::schema::ModelSpec::new("jwks")
            .field("publicKey", String, true)
            .field("privateKey", String, true)
            .field("createdAt", Date, true)
            .field("expiresAt", Date, false)
            .field("alg", String, false)
            .field("crv", String, false),
    );
}
