//! `POST /cross-domain/one-time-token/verify` (WIRE.md §13): a one-time token handed to the SPA
//! after a redirect is exchanged, once, for its session (the one-time-token plugin's rules).

use axum::extract::State;
use axum::http::HeaderMap;

use crate::error::Result;
use crate::http::AppState;
use crate::http::extract::Body;
use crate::http::reply::Reply;
use crate::plugins::one_time_token;

pub async fn verify_one_time_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let token = f.string("token");
    f.finish()?;
    one_time_token::redeem(&state, &headers, &token).await
}
