//! `POST /sign-in/anonymous` and `POST /delete-anonymous-user` (docs/plugins-wire.md §2).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::json;

use super::{AnonymousPlugin, FIELD, is_anonymous};
use crate::auth::{RequestMeta, User, sessions, users};
use crate::crypto::random_id;
use crate::error::{ApiError, Result};
use crate::http::AppState;
use crate::http::extract::CurrentSession;
use crate::http::reply::Reply;
use crate::http::session;
use crate::model::NewUser;
use crate::store::now;

pub async fn sign_in(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<AnonymousPlugin>>,
    meta: RequestMeta,
    headers: HeaderMap,
) -> Result<Reply> {
    if let Some(cur) = session::optional(&state, &headers).await?
        && is_anonymous(&cur.user)
    {
        return Err(ApiError::new(
            400,
            "ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY",
            "Anonymous users cannot sign in again anonymously",
        ));
    }
    let email = format!("{}@{}", random_id(32).to_lowercase(), plugin.config.email_domain);
    let mut row = NewUser { name: "Anonymous".into(), email, email_verified: false, image: None }.into_record(now());
    row.set(FIELD, true);
    session::new_user_fields(&state, "/sign-in/anonymous", &mut row);
    let tx = state.auth.store.begin().await?;
    let user = User::try_from(tx.create(User::MODEL, row).await?)?;
    let created = sessions::create(&state.auth, &*tx, user.id(), false, &meta).await?;
    tx.commit().await?;
    let handover = session::hand_over(&state, &headers, &created, &user, false);
    Ok(Reply::json(json!({ "token": created.token(), "user": user.to_json() })).session(handover))
}

pub async fn delete(
    State(state): State<AppState>,
    CurrentSession(cur): CurrentSession,
    headers: HeaderMap,
) -> Result<Reply> {
    if !is_anonymous(&cur.user) {
        return Err(ApiError::new(403, "USER_IS_NOT_ANONYMOUS", "User is not anonymous"));
    }
    users::delete(&state.auth, cur.user.id()).await?;
    Ok(Reply::json(json!({ "success": true })).cookies(state.cookies.clear_session(&headers)))
}
