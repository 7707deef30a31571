//! Better Auth's one-time-token plugin (docs/plugins-wire.md §3): a signed-in client asks for a
//! token (`GET /one-time-token/generate`) that another client exchanges, once, within three
//! minutes, for the same session (`POST /one-time-token/verify`). The cross-domain plugin's
//! `?ott=` hand-over uses the same tokens ([`issue`], [`redeem`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::Auth;
use crate::auth::sessions::{self, Lookup};
use crate::config::Section;
use crate::crypto::random_url_safe;
use crate::error::{ApiError, Result};
use crate::http::extract::{Body, CurrentSession};
use crate::http::reply::Reply;
use crate::http::{AppState, Plugin, session, write};
use crate::store::{Record, Where, now};

/// `[plugins.one_time_token]`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OneTimeTokenConfig {
    pub enabled: bool,
    /// Seconds a token stays valid.
    pub expires_in: i64,
}

impl Default for OneTimeTokenConfig {
    fn default() -> Self {
        Self { enabled: false, expires_in: 180 }
    }
}

impl Section for OneTimeTokenConfig {
    const KEY: &'static str = "plugins.one_time_token";
}

pub struct OneTimeToken {
    config: OneTimeTokenConfig,
}

impl OneTimeToken {
    pub fn new(config: OneTimeTokenConfig) -> Self {
        Self { config }
    }
}

impl Plugin for OneTimeToken {
    fn id(&self) -> &'static str {
        "one-time-token"
    }

    fn routes(self: Arc<Self>, state: &AppState) -> Router<AppState> {
        Router::new()
            .route("/one-time-token/generate", get(generate))
            .route("/one-time-token/verify", write(state, verify))
            .layer(Extension(self))
    }
}

fn identifier(token: &str) -> String {
    format!("one-time-token:{token}")
}

/// Stores `token` for `session_token` (verification `one-time-token:<token>`).
pub async fn issue(auth: &Auth, session_token: &str, token: &str, lifetime_secs: i64) -> Result<()> {
    let at = now();
    let row = Record::new()
        .with("identifier", identifier(token))
        .with("value", session_token)
        .with("expiresAt", at + Duration::seconds(lifetime_secs))
        .with("createdAt", at)
        .with("updatedAt", at);
    auth.store.create("verification", row).await?;
    Ok(())
}

/// Spends `token`: only the request that removes its row gets the session, with its cookies.
pub async fn redeem(state: &AppState, headers: &HeaderMap, token: &str) -> Result<Reply> {
    let invalid = || ApiError::without_code(400, "Invalid token");
    let filter = [Where::eq("identifier", identifier(token))];
    let row = state.auth.store.find_one("verification", &filter).await?.ok_or_else(invalid)?;
    if state.auth.store.delete_many("verification", &filter).await? == 0
        || row.date("expiresAt").is_none_or(|e| e <= Utc::now())
    {
        return Err(invalid());
    }
    let Lookup::Active(found, user) = sessions::lookup(&state.auth, &row.string("value")).await? else {
        return Err(ApiError::without_code(400, "Session not found"));
    };
    let handover = session::hand_over(state, headers, &found, &user, false);
    Ok(Reply::json(json!({ "session": found.to_json(), "user": user.to_json() })).session(handover))
}

async fn generate(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<OneTimeToken>>,
    CurrentSession(cur): CurrentSession,
) -> Result<Reply> {
    let token = random_url_safe(32);
    issue(&state.auth, cur.session.token(), &token, plugin.config.expires_in).await?;
    Ok(Reply::json(json!({ "token": token })))
}

async fn verify(State(state): State<AppState>, headers: HeaderMap, Body(mut f): Body) -> Result<Reply> {
    let token = f.string("token");
    f.finish()?;
    redeem(&state, &headers, &token).await
}
