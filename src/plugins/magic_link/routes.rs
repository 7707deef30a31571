//! The magic-link routes (docs/plugins-wire.md §6).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde_json::json;

use super::{Links, MagicLink};
use crate::auth::RequestMeta;
use crate::error::{Result, codes};
use crate::http::AppState;
use crate::http::extract::Body;
use crate::http::guard::{self, check_url};
use crate::http::input::Fields;
use crate::http::reply::{Reply, redirect_target};
use crate::http::session::{self, hand_over};

/// `POST /sign-in/magic-link`: `{status: true}` whether or not the address has a user.
pub async fn sign_in(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<MagicLink>>,
    headers: HeaderMap,
    Body(mut f): Body,
) -> Result<Reply> {
    let email = f.email("email");
    let name = f.opt_string("name");
    let callback = f.opt_string("callbackURL").filter(|u| !u.is_empty());
    let new_user = f.opt_string("newUserCallbackURL").filter(|u| !u.is_empty());
    let error = f.opt_string("errorCallbackURL").filter(|u| !u.is_empty());
    // Only the application's own sender would read it; checked for its shape.
    let _metadata = f.opt_object("metadata");
    f.finish()?;
    check_url(&state, callback.as_deref(), codes::invalid_callback_url)?;
    check_url(&state, new_user.as_deref(), codes::invalid_new_user_callback_url)?;
    check_url(&state, error.as_deref(), codes::invalid_error_callback_url)?;
    guard::browser_origin(&state, &headers)?;
    plugin.send(&state.auth, &email, name.as_deref(), &Links { callback, new_user, error }).await?;
    Ok(Reply::json(json!({ "status": true })))
}

/// `GET /magic-link/verify`: signs in and answers `{token, user, session}`, or redirects to
/// the callback (the new-user one for a new user); a refused link redirects to the error URL
/// with `?error=<code>`.
pub async fn verify(
    State(state): State<AppState>,
    Extension(plugin): Extension<Arc<MagicLink>>,
    meta: RequestMeta,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Reply> {
    let mut f = Fields::query(q);
    let token = f.string("token");
    let callback = f.opt_string("callbackURL").filter(|u| !u.is_empty());
    let new_user = f.opt_string("newUserCallbackURL").filter(|u| !u.is_empty());
    let error = f.opt_string("errorCallbackURL").filter(|u| !u.is_empty());
    f.finish()?;
    // Any of the three untrusted is the same error here, before the token is looked at.
    for url in [&callback, &new_user, &error] {
        check_url(&state, url.as_deref(), codes::invalid_callback_url)?;
    }
    let base = &state.auth.base_url;
    let callback_or_root = callback.as_deref().unwrap_or("/");
    let mut fields = crate::store::Record::new();
    session::new_user_fields(&state, "/magic-link/verify", &mut fields);
    let signed = match plugin.verify(&state.auth, fields, &token, &meta, chrono::Utc::now()).await? {
        Ok(signed) => signed,
        Err(code) => {
            let error_url = error.as_deref().unwrap_or(callback_or_root);
            return Ok(Reply::redirect(&redirect_target(base, error_url, Some(("error", &code)))));
        }
    };
    let handover = hand_over(&state, &headers, &signed.session, &signed.user, false);
    let reply = match &callback {
        None => Reply::json(json!({
            "token": signed.session.token(),
            "user": signed.user.to_json(),
            "session": signed.session.to_json(),
        })),
        Some(cb) => {
            let target = if signed.is_new { new_user.as_deref().unwrap_or(cb) } else { cb };
            Reply::redirect(&redirect_target(base, target, None))
        }
    };
    Ok(reply.session(handover))
}
