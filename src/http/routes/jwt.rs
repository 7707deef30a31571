use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde_json::json;

use crate::error::{ApiError, Result};
use crate::http::AppState;
use crate::http::reply::Reply;
use crate::http::session;

fn issuer(state: &AppState) -> Result<&crate::plugins::jwt::JwtIssuer> {
    state.auth.jwt.as_ref().ok_or_else(|| ApiError::new(404, "NOT_FOUND", "JWT plugin is disabled"))
}

pub async fn token(State(state): State<AppState>, headers: HeaderMap) -> Result<Reply> {
    let cur = session::require(&state, &headers).await?;
    let token = issuer(&state)?.sign_user(&state.auth, &cur.user).await?;
    Ok(Reply::json(json!({ "token": token })))
}

pub async fn jwks(State(state): State<AppState>) -> Result<Reply> {
    let keys = issuer(&state)?.jwks(&state.auth).await?;
    Ok(Reply::json(keys).header(header::CACHE_CONTROL, "public, max-age=300"))
}
