//! OAuth state as Better Auth keeps it (its `storeStateStrategy: "database"`, the default):
//! a `verification` row `auth-state:<state>` holding the flow's JSON for 10 minutes, and the
//! same state in the signed `state` cookie (5 minutes), so a callback only completes in the
//! browser that started it. The row is deleted when the callback consumes it.

use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::Auth;
use crate::crypto::{ct_eq, random_url_safe};
use crate::error::{ApiError, Result};
use crate::model::fields::{ID, IDENTIFIER};
use crate::model::{Row, Verification};
use crate::store::{Where, now};

/// Name of the state cookie (`better-auth.state`) and its lifetime.
pub const COOKIE: &str = "state";
pub const COOKIE_MAX_AGE: i64 = 300;
const ROW_TTL_MINUTES: i64 = 10;

/// The user a link flow attaches the account to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub email: String,
    pub user_id: String,
    /// The session that started the link; the callback refuses if it has ended since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_session_token: Option<String>,
}

/// The flow's data, keys in Better Auth's order (`generateState`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateData {
    #[serde(rename = "callbackURL")]
    pub callback_url: String,
    #[serde(rename = "codeVerifier")]
    pub code_verifier: String,
    #[serde(rename = "errorURL", skip_serializing_if = "Option::is_none")]
    pub error_url: Option<String>,
    #[serde(rename = "newUserURL", skip_serializing_if = "Option::is_none")]
    pub new_user_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    /// Milliseconds since the epoch.
    #[serde(rename = "expiresAt")]
    pub expires_at: i64,
    #[serde(rename = "requestSignUp", skip_serializing_if = "Option::is_none")]
    pub request_sign_up: Option<bool>,
    #[serde(rename = "idTokenNonce", skip_serializing_if = "Option::is_none")]
    pub id_token_nonce: Option<String>,
    #[serde(rename = "oauthState", skip_serializing_if = "Option::is_none")]
    pub oauth_state: Option<String>,
}

/// A callback whose state does not check out: Better Auth's code, and the flow's own error
/// URL once the state has been read.
#[derive(Debug)]
pub struct StateError {
    pub code: &'static str,
    pub error_url: Option<String>,
}

fn identifier(state: &str) -> String {
    format!("auth-state:{state}")
}

/// Stores the flow and returns the new state value (32 chars `[A-Za-z0-9_-]`).
pub async fn create(auth: &Auth, mut data: StateData) -> Result<String> {
    let state = random_url_safe(32);
    data.oauth_state = Some(state.clone());
    data.expires_at = (Utc::now() + Duration::minutes(ROW_TTL_MINUTES)).timestamp_millis();
    let value = serde_json::to_string(&data).map_err(|e| ApiError::internal("oauth state", e))?;
    let at = now();
    let row = Verification::new_record(&identifier(&state), &value, at + Duration::minutes(ROW_TTL_MINUTES), at);
    auth.store.create(Verification::MODEL, row).await?;
    Ok(state)
}

/// Reads and deletes the flow for `state`. `cookie_state` is the verified value of the
/// signed state cookie; it must be the same state (constant-time compare).
pub async fn consume(
    auth: &Auth,
    state: &str,
    cookie_state: Option<&str>,
) -> std::result::Result<StateData, StateError> {
    let mismatch = |error_url: Option<String>| StateError { code: "state_mismatch", error_url };
    let internal = StateError { code: "internal_server_error", error_url: None };
    let filter = [Where::eq(IDENTIFIER, identifier(state))];
    let found = auth.store.find_one(Verification::MODEL, &filter).await.map_err(ApiError::from);
    let row = match found.and_then(|r| Ok(Verification::parse(r)?)) {
        Ok(Some(row)) => row,
        Ok(None) => return Err(mismatch(None)),
        Err(e) => {
            tracing::error!(%e, "reading oauth state");
            return Err(internal);
        }
    };
    let data: StateData = serde_json::from_str(&row.value).map_err(|_| mismatch(None))?;
    let own_url = data.error_url.clone();
    if data.oauth_state.as_deref().is_some_and(|s| !ct_eq(s, state)) {
        return Err(mismatch(own_url));
    }
    if !cookie_state.is_some_and(|c| ct_eq(c, state)) {
        return Err(mismatch(own_url));
    }
    if let Err(e) = auth.store.delete(Verification::MODEL, &[Where::eq(ID, row.id.as_str())]).await {
        tracing::error!(%e, "deleting oauth state");
        return Err(internal);
    }
    if data.expires_at < Utc::now().timestamp_millis() {
        return Err(mismatch(own_url));
    }
    Ok(data)
}
