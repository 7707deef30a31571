//! The table of contents of the API (WIRE.md §5).

mod convex;
mod cross_domain;
mod email;
mod jwt;
mod misc;
mod session;
mod sign;
mod social;
mod two_factor;
mod user;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use super::AppState;

pub fn router(state: &AppState) -> Router<AppState> {
    let mut r = Router::new()
        .route("/sign-up/email", post(sign::sign_up))
        .route("/sign-in/email", post(sign::sign_in))
        .route("/sign-out", post(sign::sign_out))
        .route("/get-session", get(session::get_session).post(session::post_get_session))
        .route("/list-sessions", get(session::list_sessions))
        .route("/revoke-session", post(session::revoke_session))
        .route("/revoke-sessions", post(session::revoke_sessions))
        .route("/revoke-other-sessions", post(session::revoke_other_sessions))
        .route("/update-user", post(user::update_user))
        .route("/change-password", post(user::change_password))
        .route("/change-email", post(user::change_email))
        .route("/delete-user", post(user::delete_user))
        .route("/request-password-reset", post(email::request_password_reset))
        .route("/reset-password/{token}", get(email::reset_password_callback))
        .route("/reset-password", post(email::reset_password))
        .route("/send-verification-email", post(email::send_verification_email))
        .route("/verify-email", get(email::verify_email))
        .route("/ok", get(misc::ok))
        .route("/error", get(misc::error_page))
        .route("/sign-in/social", post(social::sign_in_social))
        .route("/callback/{id}", get(social::callback).post(social::callback_post))
        .route("/link-social", post(social::link_social))
        .route("/list-accounts", get(social::list_accounts))
        .route("/unlink-account", post(social::unlink_account))
        .route("/get-access-token", post(social::get_access_token))
        .route("/refresh-token", post(social::refresh_token))
        .route("/account-info", get(social::account_info));
    if state.auth.config.plugins.two_factor.enabled {
        r = r
            .route("/two-factor/enable", post(two_factor::enable))
            .route("/two-factor/get-totp-uri", post(two_factor::get_totp_uri))
            .route("/two-factor/verify-totp", post(two_factor::verify_totp))
            .route("/two-factor/verify-backup-code", post(two_factor::verify_backup_code))
            .route("/two-factor/generate-backup-codes", post(two_factor::generate_backup_codes))
            .route("/two-factor/disable", post(two_factor::disable))
            .route("/two-factor/send-otp", post(two_factor::send_otp))
            .route("/two-factor/verify-otp", post(two_factor::verify_otp));
    }
    if state.auth.config.plugins.cross_domain_site_url.is_some() {
        r = r.route("/cross-domain/one-time-token/verify", post(cross_domain::verify_one_time_token));
    }
    if state.auth.jwt.is_some() {
        r = r
            .route("/token", get(jwt::token))
            .route("/jwks", get(jwt::jwks))
            .route("/.well-known/openid-configuration", get(jwt::openid_configuration));
    }
    if state.auth.config.admin_key.is_some() && (state.auth.jwt.is_some() || state.auth.convex.is_some()) {
        r = r.route("/keys/rotate", post(jwt::rotate));
    }
    if state.auth.convex.is_some() {
        r = r
            .route("/convex/token", get(convex::token))
            .route("/convex/jwks", get(convex::jwks))
            .route("/convex/.well-known/openid-configuration", get(convex::openid_configuration))
            .layer(middleware::from_fn_with_state(state.clone(), convex::cookie));
    }
    r
}

/// Routes outside the base path: the root OpenID discovery redirect (WIRE.md §14).
pub fn root(state: &AppState) -> Router {
    if state.auth.jwt.is_none() && state.auth.convex.is_none() {
        return Router::new();
    }
    Router::new().route("/.well-known/openid-configuration", get(convex::root_discovery)).with_state(state.clone())
}
