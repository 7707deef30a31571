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
use axum::handler::Handler;
use axum::middleware;
use axum::routing::{MethodRouter, get, post};

use super::AppState;

/// A POST route behind the checks every write passes before its handler
/// ([`guard::checks`]); only a matched method gets there, so a wrong one stays a plain 404.
fn write<H, T>(state: &AppState, handler: H) -> MethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    post(handler).route_layer(middleware::from_fn_with_state(state.clone(), super::guard::checks))
}

pub fn router(state: &AppState) -> Router<AppState> {
    let mut r = Router::new()
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
        .route("/sign-in/social", write(state, social::sign_in_social))
        .route("/callback/{id}", get(social::callback).merge(write(state, social::callback_post)))
        .route("/link-social", write(state, social::link_social))
        .route("/list-accounts", get(social::list_accounts))
        .route("/unlink-account", write(state, social::unlink_account))
        .route("/get-access-token", write(state, social::get_access_token))
        .route("/refresh-token", write(state, social::refresh_token))
        .route("/account-info", get(social::account_info));
    if state.auth.config.plugins.two_factor.enabled {
        r = r
            .route("/two-factor/enable", write(state, two_factor::enable))
            .route("/two-factor/get-totp-uri", write(state, two_factor::get_totp_uri))
            .route("/two-factor/verify-totp", write(state, two_factor::verify_totp))
            .route("/two-factor/verify-backup-code", write(state, two_factor::verify_backup_code))
            .route("/two-factor/generate-backup-codes", write(state, two_factor::generate_backup_codes))
            .route("/two-factor/disable", write(state, two_factor::disable))
            .route("/two-factor/send-otp", write(state, two_factor::send_otp))
            .route("/two-factor/verify-otp", write(state, two_factor::verify_otp));
    }
    if state.auth.config.plugins.cross_domain_site_url.is_some() {
        r = r.route("/cross-domain/one-time-token/verify", write(state, cross_domain::verify_one_time_token));
    }
    if state.auth.jwt.is_some() {
        r = r
            .route("/token", get(jwt::token))
            .route("/jwks", get(jwt::jwks))
            .route("/.well-known/openid-configuration", get(jwt::openid_configuration));
    }
    if state.auth.config.admin_key.is_some() && (state.auth.jwt.is_some() || state.auth.convex.is_some()) {
        r = r.route("/keys/rotate", write(state, jwt::rotate));
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
