//! Better Auth's username plugin (docs/plugins-wire.md §1): `user.username` (unique, stored
//! lower-cased) and `user.displayUsername` (as typed), set at sign-up and by update-user,
//! `POST /sign-in/username` and `POST /is-username-available`.

mod routes;

use std::sync::Arc;

use async_trait::async_trait;
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::auth::{Auth, User};
use crate::config::Section;
use crate::error::{ApiError, Result};
use crate::http::{AppState, Plugin, write};
use crate::model::Row;
use crate::store::schema::{FieldType, Schema};
use crate::store::{Record, Value, Where};

pub const USERNAME: &str = "username";
pub const DISPLAY_USERNAME: &str = "displayUsername";

/// `[plugins.username]`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UsernameConfig {
    pub enabled: bool,
    /// Shortest username accepted (in UTF-16 units, as JavaScript counts).
    pub min_length: usize,
    /// Longest username accepted.
    pub max_length: usize,
}

impl Default for UsernameConfig {
    fn default() -> Self {
        Self { enabled: false, min_length: 3, max_length: 30 }
    }
}

impl Section for UsernameConfig {
    const KEY: &'static str = "plugins.username";
}

pub struct UsernamePlugin {
    config: UsernameConfig,
}

impl UsernamePlugin {
    pub fn new(config: UsernameConfig) -> Self {
        Self { config }
    }

    /// Better Auth's checks, in its order, on the name as sent: length, then characters.
    /// The error's status is the caller's (422 on the plugin's routes, 400 on the core's).
    pub fn check(&self, name: &str, status: u16) -> Result<()> {
        let len = name.encode_utf16().count();
        if len < self.config.min_length {
            return Err(ApiError::new(status, "USERNAME_TOO_SHORT", "Username is too short"));
        }
        if len > self.config.max_length {
            return Err(ApiError::new(status, "USERNAME_TOO_LONG", "Username is too long"));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            return Err(invalid_username(status));
        }
        Ok(())
    }
}

pub fn invalid_username(status: u16) -> ApiError {
    ApiError::new(status, "INVALID_USERNAME", "Username is invalid")
}

fn taken() -> ApiError {
    ApiError::new(400, "USERNAME_IS_ALREADY_TAKEN", "Username is already taken. Please try another.")
}

/// The stored form of a username.
pub fn normalize(name: &str) -> String {
    name.to_lowercase()
}

/// The user holding `name` (already normalised).
pub async fn find_user(auth: &Auth, name: &str) -> Result<Option<User>> {
    Ok(User::parse(auth.store.find_one(User::MODEL, &[Where::eq(USERNAME, name)]).await?)?)
}

#[async_trait]
impl Plugin for UsernamePlugin {
    fn id(&self) -> &'static str {
        "username"
    }

    fn schema(&self, schema: &mut Schema) {
        if let Some(f) = schema.add_user_field(USERNAME, FieldType::String, Some(Value::Null)) {
            f.unique = true;
        }
        schema.add_user_field(DISPLAY_USERNAME, FieldType::String, Some(Value::Null));
    }

    fn routes(self: Arc<Self>, state: &AppState) -> Router<AppState> {
        Router::new()
            .route("/sign-in/username", write(state, routes::sign_in))
            .route("/is-username-available", write(state, routes::is_available))
            .layer(Extension(self))
    }

    async fn user_input(
        &self,
        state: &AppState,
        body: &Map<String, Json>,
        current: Option<&User>,
        row: &mut Record,
    ) -> Result<()> {
        let display = body.get(DISPLAY_USERNAME);
        let mut name = body.get(USERNAME).cloned();
        // Sign-up with only a display name: it is the username too when it would pass.
        if current.is_none()
            && name.is_none()
            && let Some(Json::String(d)) = display
            && self.check(d, 400).is_ok()
        {
            name = Some(Json::String(d.clone()));
        }
        match &name {
            Some(Json::String(n)) => {
                self.check(n, 400)?;
                let stored = normalize(n);
                if let Some(holder) = find_user(&state.auth, &stored).await?
                    && current.is_none_or(|c| c.id() != holder.id())
                {
                    return Err(taken());
                }
                row.set(USERNAME, stored);
                if current.is_none() && display.is_none() {
                    row.set(DISPLAY_USERNAME, n.clone());
                }
            }
            Some(Json::Null) => row.set(USERNAME, Value::Null),
            // Better Auth hands a non-string to the database, which refuses it.
            Some(_) if current.is_none() => {
                return Err(ApiError::new(422, "FAILED_TO_CREATE_USER", "Failed to create user"));
            }
            Some(_) => return Err(ApiError::new(422, "FAILED_TO_UPDATE_USER", "Failed to update user")),
            None => {}
        }
        match display {
            Some(Json::String(d)) => row.set(DISPLAY_USERNAME, d.clone()),
            Some(Json::Null) => row.set(DISPLAY_USERNAME, Value::Null),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_length_before_characters() {
        let p = UsernamePlugin::new(UsernameConfig::default());
        let code = |n: &str| p.check(n, 422).err().and_then(|e| e.code).map(|c| c.to_string());
        assert_eq!(code(""), Some("USERNAME_TOO_SHORT".into()));
        assert_eq!(code("a-"), Some("USERNAME_TOO_SHORT".into()));
        assert_eq!(code(&"a".repeat(31)), Some("USERNAME_TOO_LONG".into()));
        assert_eq!(code("has space"), Some("INVALID_USERNAME".into()));
        assert_eq!(code("Mixed.Case_9"), None);
        assert_eq!(normalize("Mixed.Case_9"), "mixed.case_9");
    }
}
