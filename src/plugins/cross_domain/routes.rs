//! `POST /cross-domain/one-time-token/verify` (WIRE.md §13): a one-time token handed to the SPA
//! after a redirect is exchanged, once, for its session.

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::Utc;
use serde_json::json;

use crate::auth::sessions::{self, Lookup};
use crate::error::{ApiError, Result};
use crate::http::AppState;
use crate::http::extract::Body;
use crate::http::reply::Reply;
use crate::store::Where;

pub async fn verify_one_time_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let token = f.string("token");
    f.finish()?;
    let invalid = || ApiError::without_code(400, "Invalid token");
    let filter = [Where::eq("identifier", format!("one-time-token:{token}"))];
    let row = state.auth.store.find_one("verification", &filter).await?.ok_or_else(invalid)?;
    // Single use: only the request that removes the row gets the session.
    if state.auth.store.delete_many("verification", &filter).await? == 0
        || row.date("expiresAt").is_none_or(|e| e <= Utc::now())
    {
        return Err(invalid());
    }
    let Lookup::Active(session, user) = sessions::lookup(&state.auth, &row.string("value")).await? else {
        return Err(invalid());
    };
    let handover = crate::http::session::hand_over(&state, &headers, &session, &user, false);
    Ok(Reply::json(json!({ "session": session.to_json(), "user": user.to_json() })).session(handover))
}
