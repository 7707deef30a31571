//! Email/password sign-in, password change and password reset (WIRE.md §5, §10).

use std::sync::Arc;

use chrono::{Duration, Utc};

use super::users::{self, check_password_length, normalize_email};
use super::{Auth, RequestMeta, Session, User, is_valid_email, sessions};
use crate::crypto::{password, random_id};
use crate::error::{Result, codes};
use crate::mail::{Email, EmailKind};
use crate::model::fields::IDENTIFIER;
use crate::model::{Row, Verification};
use crate::store::{Where, now};

/// Signs in by email and password, without creating the session: the caller decides what
/// comes next (a session, or a second factor first). An unknown email and a wrong password
/// answer alike and cost the same scrypt work. `callback` is where a verification link sent
/// on a refusal for an unverified email leads.
pub async fn authenticate(auth: &Auth, email: &str, candidate: String, callback: Option<&str>) -> Result<User> {
    if !is_valid_email(email) {
        return Err(codes::invalid_email());
    }
    let Some(user) = users::find_by_email(auth, email).await? else {
        password::verify_dummy(candidate).await?;
        return Err(codes::invalid_email_or_password());
    };
    let Some(hash) = users::credential_hash(auth, user.id()).await? else {
        password::verify_dummy(candidate).await?;
        return Err(codes::invalid_email_or_password());
    };
    if !password::verify(hash, candidate).await? {
        return Err(codes::invalid_email_or_password());
    }
    if auth.config.email_and_password.require_email_verification && !user.email_verified() {
        super::email::send_after_refused_sign_in(auth, &user, callback)?;
        return Err(codes::email_not_verified());
    }
    Ok(user)
}

pub struct ChangePassword {
    pub current: String,
    pub new: String,
    pub revoke_other_sessions: bool,
}

/// Returns the replacement session when other sessions were revoked (all of the user's
/// sessions, the caller's included, are replaced by one new session).
pub async fn change(
    auth: &Auth,
    user: &User,
    input: ChangePassword,
    meta: &RequestMeta,
    dont_remember: bool,
) -> Result<Option<Session>> {
    check_password_length(auth, &input.new)?;
    users::check_password(auth, user.id(), input.current).await?;
    users::set_password(auth, user.id(), input.new).await?;
    if !input.revoke_other_sessions {
        return Ok(None);
    }
    sessions::revoke_all(auth, user.id()).await?;
    Ok(Some(sessions::create(auth, &*auth.store, user.id(), dont_remember, meta).await?))
}

fn reset_identifier(token: &str) -> String {
    format!("reset-password:{token}")
}

/// Emails a reset link when the user exists; says nothing either way. Both cases cost the
/// request the same: one lookup, then the rest in a task of its own after the answer (the known
/// user's token row and link; for an unknown email a lookup of a token that does not exist, as
/// Better Auth fakes it), so the time to answer does not tell whether the address has an account.
pub async fn request_reset(auth: &Arc<Auth>, email: &str, redirect_to: Option<&str>) -> Result<()> {
    let user = users::find_by_email(auth, &normalize_email(email)).await?;
    let (auth, redirect_to) = (auth.clone(), redirect_to.map(str::to_string));
    tokio::spawn(async move {
        let done = match user {
            Some(user) => send_reset_link(&auth, &user, redirect_to.as_deref()).await,
            None => reset_token_user(&auth, &random_id(24)).await.map(|_| ()),
        };
        if let Err(e) = done {
            tracing::error!(error = %e, "password reset request");
        }
    });
    Ok(())
}

async fn send_reset_link(auth: &Auth, user: &User, redirect_to: Option<&str>) -> Result<()> {
    let token = random_id(24);
    let at = now();
    let ttl = auth.config.email_and_password.reset_password_token_expires_in;
    let row = Verification::new_record(&reset_identifier(&token), user.id(), at + Duration::seconds(ttl), at);
    auth.store.create(Verification::MODEL, row).await?;
    let callback = redirect_to.map(encode_component).unwrap_or_default();
    let url = format!("{}/reset-password/{token}?callbackURL={callback}", auth.api_url());
    auth.mailer.send_later(Email::new(EmailKind::ResetPassword, user.email(), url, token));
    Ok(())
}

/// The user id a live reset token belongs to.
pub async fn reset_token_user(auth: &Auth, token: &str) -> Result<Option<String>> {
    let filter = [Where::eq(IDENTIFIER, reset_identifier(token))];
    let row = Verification::parse(auth.store.find_one(Verification::MODEL, &filter).await?)?;
    Ok(row.filter(|r| r.is_live(Utc::now())).map(|r| r.value))
}

/// Consumes the token and sets the new password. Sessions survive unless configured otherwise.
pub async fn reset(auth: &Auth, token: &str, new_password: String) -> Result<()> {
    check_password_length(auth, &new_password)?;
    let Some(user_id) = reset_token_user(auth, token).await? else {
        return Err(codes::invalid_token());
    };
    // Delete first: of two concurrent resets with one token, only one sees a row to remove.
    let filter = [Where::eq(IDENTIFIER, reset_identifier(token))];
    let removed = auth.store.delete_many(Verification::MODEL, &filter).await?;
    if removed == 0 {
        return Err(codes::invalid_token());
    }
    users::set_password(auth, &user_id, new_password).await?;
    if auth.config.email_and_password.revoke_sessions_on_password_reset {
        sessions::revoke_all(auth, &user_id).await?;
    }
    Ok(())
}

/// JavaScript's `encodeURIComponent`.
pub fn encode_component(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'!')
        .remove(b'~')
        .remove(b'*')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')');
    utf8_percent_encode(s, SET).to_string()
}
