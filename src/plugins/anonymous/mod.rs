//! Better Auth's anonymous plugin (docs/plugins-wire.md §2): `POST /sign-in/anonymous` makes a
//! user with a placeholder email (`user.isAnonymous`), `POST /delete-anonymous-user` removes
//! it, and when the anonymous user later signs in or up for real, it is removed in one
//! transaction whose user delete hooks see `linkedUserId`: the app moves its rows there.

mod routes;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use serde::{Deserialize, Serialize};

use crate::auth::sessions::{self, Lookup};
use crate::auth::{Auth, User, users};
use crate::config::Section;
use crate::error::Result;
use crate::http::plugin::SignedIn;
use crate::http::{AppState, Plugin, write};
use crate::store::Value;
use crate::store::schema::{FieldType, Schema};

pub const FIELD: &str = "isAnonymous";

/// `[plugins.anonymous]`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AnonymousConfig {
    pub enabled: bool,
    /// Domain of the placeholder email (`<id>@<domain>`).
    pub email_domain: String,
    /// Keep the anonymous user when it signs in for real (its rows stay with it).
    pub keep_linked_users: bool,
}

impl Default for AnonymousConfig {
    fn default() -> Self {
        Self { enabled: false, email_domain: "anonymous.placeholder.invalid".into(), keep_linked_users: false }
    }
}

impl Section for AnonymousConfig {
    const KEY: &'static str = "plugins.anonymous";
}

pub struct AnonymousPlugin {
    config: AnonymousConfig,
}

impl AnonymousPlugin {
    pub fn new(config: AnonymousConfig) -> Self {
        Self { config }
    }
}

pub fn is_anonymous(user: &User) -> bool {
    matches!(user.extra.get(FIELD), Some(Value::Bool(true)))
}

/// Routes after which an anonymous caller that now holds a real user's session is linked.
const LINKING_ROUTES: &[&str] = &[
    "/sign-in",
    "/sign-up",
    "/callback",
    "/magic-link/verify",
    "/email-otp/verify-email",
    "/one-tap/callback",
    "/passkey/verify-authentication",
    "/phone-number/verify",
    "/verify-email",
];

/// The anonymous user behind `prior_token` goes, its rows handed to `user` by the app's hooks
/// in the same transaction ([`users::delete_linked`]).
async fn link(auth: &Auth, prior_token: &str, user: &User) -> Result<()> {
    let Lookup::Active(_, anonymous) = sessions::lookup(auth, prior_token).await? else { return Ok(()) };
    if !is_anonymous(&anonymous) || anonymous.id() == user.id() || is_anonymous(user) {
        return Ok(());
    }
    users::delete_linked(auth, anonymous.id(), user.id()).await
}

#[async_trait]
impl Plugin for AnonymousPlugin {
    fn id(&self) -> &'static str {
        "anonymous"
    }

    fn schema(&self, schema: &mut Schema) {
        if let Some(f) = schema.add_user_field(FIELD, FieldType::Boolean, Some(Value::Bool(false))) {
            f.input = false;
        }
    }

    fn routes(self: Arc<Self>, state: &AppState) -> Router<AppState> {
        Router::new()
            .route("/sign-in/anonymous", write(state, routes::sign_in))
            .route("/delete-anonymous-user", write(state, routes::delete))
            .layer(axum::Extension(self))
    }

    fn sees_sign_ins(&self) -> bool {
        !self.config.keep_linked_users
    }

    async fn after_sign_in(&self, state: &AppState, path: &str, signed_in: &SignedIn) -> Result<Vec<String>> {
        if let Some(prior) = &signed_in.prior_token
            && prior != signed_in.session.token()
            && LINKING_ROUTES.iter().any(|r| path.starts_with(r))
        {
            link(&state.auth, prior, &signed_in.user).await?;
        }
        Ok(Vec::new())
    }
}
