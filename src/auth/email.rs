//! Email verification and change of email (WIRE.md §10): the token is an HS256 JWT signed with
//! the secret, `{email, userId, iat, exp}` (plus `updateTo` for a change of email); no row.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::password::encode_component;
use super::users::{self, Verified, normalize_email};
use super::{Auth, User};
use crate::error::{ApiError, Result, codes};
use crate::mail::{Email, EmailKind};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    email: String,
    #[serde(rename = "userId")]
    user_id: String,
    #[serde(rename = "updateTo", skip_serializing_if = "Option::is_none", default)]
    update_to: Option<String>,
    iat: i64,
    exp: i64,
}

fn sign(auth: &Auth, claims: &Claims) -> Result<String> {
    // Header is exactly {"alg":"HS256"}, as Better Auth writes it.
    let header = Header { typ: None, ..Header::new(Algorithm::HS256) };
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(auth.secret()))
        .map_err(|e| ApiError::internal("signing verification token", e))
}

/// Emails a verification link for `user` (to `send_to`, the new address on a change).
fn send(auth: &Auth, user: &User, send_to: &str, update_to: Option<String>, callback: &str) -> Result<()> {
    let iat = Utc::now().timestamp();
    let claims = Claims {
        email: normalize_email(user.email()),
        user_id: user.id().to_string(),
        update_to,
        iat,
        exp: iat + auth.config.email_verification.expires_in,
    };
    let token = sign(auth, &claims)?;
    let url = format!("{}/verify-email?token={token}&callbackURL={}", auth.api_url(), encode_component(callback));
    auth.mailer.send_later(Email::new(EmailKind::VerifyEmail, send_to, url, token));
    Ok(())
}

/// The callback used when the client gives none: the cross-domain site URL, else `/`.
pub fn default_callback(auth: &Auth) -> String {
    auth.site_url.clone().unwrap_or_else(|| "/".into())
}

/// Signed-in request: the email must be the caller's and not yet verified.
pub async fn send_for_session_user(auth: &Auth, user: &User, email: &str, callback: &str) -> Result<()> {
    if normalize_email(email) != user.email() {
        return Err(codes::email_mismatch());
    }
    if user.email_verified() {
        return Err(codes::email_already_verified());
    }
    send(auth, user, user.email(), None, callback)
}

/// Better Auth's `sendOnSignUp ?? requireEmailVerification`: whether a new user with an
/// unverified email is sent a verification link.
pub fn sends_on_sign_up(auth: &Auth) -> bool {
    let cfg = &auth.config;
    cfg.email_verification.send_on_sign_up.unwrap_or(cfg.email_and_password.require_email_verification)
}

/// After a sign-up: a verification link when configured, back to `callback` (default `/`).
pub fn send_after_sign_up(auth: &Auth, user: &User, callback: Option<&str>) -> Result<()> {
    if user.email_verified() || !sends_on_sign_up(auth) {
        return Ok(());
    }
    send(auth, user, user.email(), None, callback.unwrap_or("/"))
}

/// After a sign-in refused for an unverified email (right password): a new link when
/// `send_on_sign_in` is set (Better Auth's `sendOnSignIn`).
pub fn send_after_refused_sign_in(auth: &Auth, user: &User, callback: Option<&str>) -> Result<()> {
    if !auth.config.email_verification.send_on_sign_in {
        return Ok(());
    }
    send(auth, user, user.email(), None, callback.unwrap_or("/"))
}

/// Anonymous request: answers the same whether or not the user exists.
pub async fn send_for_email(auth: &Auth, email: &str, callback: &str) -> Result<()> {
    if let Some(user) = users::find_by_email(auth, email).await?
        && !user.email_verified()
    {
        send(auth, &user, user.email(), None, callback)?;
    }
    Ok(())
}

/// Starts a change of email: a verification link goes to the new address.
pub async fn request_change(auth: &Auth, user: &User, new_email: &str, callback: &str) -> Result<()> {
    let new_email = normalize_email(new_email);
    if new_email == user.email() {
        return Err(ApiError::new(400, "EMAIL_IS_THE_SAME", "Email is the same"));
    }
    if users::find_by_email(auth, &new_email).await?.is_some() {
        return Err(codes::user_already_exists());
    }
    send(auth, user, &new_email, Some(new_email.clone()), callback)
}

/// Verifies a token; marks the email verified (applying a pending change of email).
/// Returns what the verification did, and whether this link verified the address just now
/// (not an email change, not verified before): Better Auth signs in only then.
pub async fn verify(auth: &Auth, token: &str) -> Result<(Verified, bool)> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims = ["exp"].into_iter().map(String::from).collect();
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(auth.secret()), &validation)
        .map_err(|_| ApiError::new(401, "INVALID_TOKEN", "Invalid token"))?
        .claims;
    let user = users::find_by_email(auth, &claims.email)
        .await?
        .filter(|u| u.id() == claims.user_id)
        .ok_or_else(|| ApiError::new(401, "USER_NOT_FOUND", "User not found"))?;
    if claims.update_to.is_none() && user.email_verified() {
        return Ok((Verified { user, adopted: false, password_removed: false }, false));
    }
    let verified = users::verify_email(auth, user.id(), claims.update_to.as_deref()).await?;
    Ok((verified, claims.update_to.is_none()))
}
