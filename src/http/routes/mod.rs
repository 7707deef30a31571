//! The table of contents of the core API (WIRE.md §5); each plugin adds its own routes.

mod email;
mod misc;
mod session;
mod sign;
mod user;

use axum::Router;
use axum::routing::get;

use super::{AppState, write};

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/sign-up/email", write(state, sign::sign_up))
        .route("/sign-in/email", write(state, sign::sign_in))
        .route("/sign-out", write(state, sign::sign_out))
        .route("/get-session", get(session::get_session).merge(write(state, session::post_get_session)))
        .route("/list-sessions", get(session::list_sessions))
        .route("/revoke-session", write(state, session::revoke_session))
        .route("/revoke-sessions", write(state, session::revoke_sessions))
        .route("/revoke-other-sessions", write(state, session::revoke_other_sessions))
        .route("/update-user", write(state, user::update_user))
        .route("/change-password", write(state, user::change_password))
        .route("/change-email", write(state, user::change_email))
        .route("/delete-user", write(state, user::delete_user))
        .route("/request-password-reset", write(state, email::request_password_reset))
        .route("/reset-password/{token}", get(email::reset_password_callback))
        .route("/reset-password", write(state, email::reset_password))
        .route("/send-verification-email", write(state, email::send_verification_email))
        .route("/verify-email", get(email::verify_email))
        .route("/ok", get(misc::ok))
        .route("/error", get(misc::error_page))
}
