//! Better Auth's last-login-method plugin (docs/plugins-wire.md §5): a sign-in by a known
//! method leaves the method in a cookie the page can read, and, with `store_in_database`, in
//! `user.lastLoginMethod`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::auth::{User, users};
use crate::config::Section;
use crate::error::{ApiError, Result};
use crate::http::plugin::SignedIn;
use crate::http::{AppState, Plugin};
use crate::store::schema::{FieldType, Schema};
use crate::store::{Record, Value};

pub const FIELD: &str = "lastLoginMethod";
/// The cookie's name is fixed: neither the cookie prefix nor `__Secure-` applies.
pub const COOKIE: &str = "better-auth.last_used_login_method";
const COOKIE_MAX_AGE: i64 = 30 * 24 * 3600;

/// `[plugins.last_login_method]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LastLoginMethodConfig {
    pub enabled: bool,
    /// Also keep the method in `user.lastLoginMethod`.
    pub store_in_database: bool,
}

impl Section for LastLoginMethodConfig {
    const KEY: &'static str = "plugins.last_login_method";
}

pub struct LastLoginMethod {
    config: LastLoginMethodConfig,
}

impl LastLoginMethod {
    pub fn new(config: LastLoginMethodConfig) -> Self {
        Self { config }
    }
}

/// The method a sign-in route stands for; routes not listed (username, anonymous, phone,
/// one-time token) are not tracked, as in Better Auth.
pub fn method_of(path: &str) -> Option<&str> {
    match path {
        "/sign-up/email" | "/sign-in/email" => Some("email"),
        "/magic-link/verify" => Some("magic-link"),
        "/sign-in/email-otp" => Some("email-otp"),
        "/one-tap/callback" => Some("google"),
        "/passkey/verify-authentication" => Some("passkey"),
        p if p.contains("siwe") => Some("siwe"),
        p => p.strip_prefix("/callback/").or_else(|| p.strip_prefix("/oauth2/callback/")).filter(|id| !id.is_empty()),
    }
}

#[async_trait]
impl Plugin for LastLoginMethod {
    fn id(&self) -> &'static str {
        "last-login-method"
    }

    fn schema(&self, schema: &mut Schema) {
        if self.config.store_in_database {
            schema.add_user_field(FIELD, FieldType::String, Some(Value::Null));
        }
    }

    async fn user_input(
        &self,
        _state: &AppState,
        body: &Map<String, Json>,
        _current: Option<&User>,
        _row: &mut Record,
    ) -> Result<()> {
        if self.config.store_in_database && body.contains_key(FIELD) {
            return Err(ApiError::new(400, "FIELD_NOT_ALLOWED", format!("{FIELD} is not allowed to be set")));
        }
        Ok(())
    }

    fn new_user(&self, path: &str, row: &mut Record) {
        if let (true, Some(method)) = (self.config.store_in_database, method_of(path)) {
            row.set(FIELD, method);
        }
    }

    fn sees_sign_ins(&self) -> bool {
        true
    }

    async fn after_sign_in(&self, state: &AppState, path: &str, signed_in: &SignedIn) -> Result<Vec<String>> {
        let Some(method) = method_of(path) else { return Ok(Vec::new()) };
        let stored = signed_in.user.extra.get(FIELD);
        if self.config.store_in_database && !matches!(stored, Some(Value::Text(m)) if m == method) {
            let additional = Record::new().with(FIELD, method);
            let update = users::ProfileUpdate { name: None, image: None, additional };
            users::update_profile(&state.auth, signed_in.user.id(), update).await?;
        }
        Ok(vec![state.cookies.set_visible(COOKIE, method, Some(COOKIE_MAX_AGE))])
    }
}

#[cfg(test)]
mod tests {
    use super::method_of;

    #[test]
    fn methods_by_route() {
        assert_eq!(method_of("/sign-in/email"), Some("email"));
        assert_eq!(method_of("/callback/github"), Some("github"));
        assert_eq!(method_of("/oauth2/callback/generic"), Some("generic"));
        assert_eq!(method_of("/sign-in/username"), None);
        assert_eq!(method_of("/callback/"), None);
    }
}
