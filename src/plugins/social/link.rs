//! Linking a provider's account to a signed-in user (Better Auth's `/link-social` and
//! `linkOAuthAccount`): through the redirect flow, whose callback ends here, or at once with
//! an ID token the client got from the provider.

use chrono::Utc;

use super::accounts;
use super::error::CallbackError;
use super::flow::{IdTokenInput, update_user_info, verify_client_id_token};
use super::provider::{Profile, Provider, Tokens};
use super::state::Link;
use crate::auth::{Auth, Session, User, sessions, users};
use crate::crypto::symmetric;
use crate::error::{ApiError, Result};

/// The key that seals the link flow's session token inside the state row.
fn link_key(auth: &Auth) -> Vec<u8> {
    [auth.secret(), b":oauth-link-session-token"].concat()
}

pub fn link_for(auth: &Auth, user: &User, session: &Session) -> Link {
    Link {
        email: user.email().to_string(),
        user_id: user.id().to_string(),
        encrypted_session_token: Some(symmetric::encrypt(&link_key(auth), session.token())),
    }
}

/// Why `[account.account_linking]` refuses to link `profile` to the user with `email`.
enum Refusal {
    /// Linking is off, or the provider neither vouches for the email nor is trusted.
    NotAllowed,
    /// Another email than the user's, and `allow_different_emails` is off.
    DifferentEmails,
}

fn refusal(auth: &Auth, provider: &Provider, profile: &Profile, email: &str) -> Option<Refusal> {
    let linking = &auth.config.account.account_linking;
    if (!linking.trusted_providers.contains(&provider.id) && !profile.email_verified) || !linking.enabled {
        return Some(Refusal::NotAllowed);
    }
    let same_email = profile.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email));
    (!same_email && !linking.allow_different_emails).then_some(Refusal::DifferentEmails)
}

/// Better Auth's `linkOAuthAccount`: the session that started the link must still be live;
/// the provider must vouch for the email (or be trusted) and, unless allowed, the email
/// must be the user's; an account already linked elsewhere is refused.
pub async fn link_account(
    auth: &Auth,
    provider: &Provider,
    link: &Link,
    profile: &Profile,
    tokens: &Tokens,
) -> std::result::Result<(), CallbackError> {
    let live = match &link.encrypted_session_token {
        None => true,
        Some(sealed) => match symmetric::decrypt(&link_key(auth), sealed) {
            None => false,
            Some(token) => matches!(
                sessions::lookup(auth, &token).await,
                Ok(sessions::Lookup::Active(s, _)) if s.user_id() == link.user_id && s.expires_at() > Utc::now()
            ),
        },
    };
    if !live {
        return Err(CallbackError::UnableToLinkAccount);
    }
    match refusal(auth, provider, profile, &link.email) {
        Some(Refusal::NotAllowed) => return Err(CallbackError::UnableToLinkAccount),
        Some(Refusal::DifferentEmails) => return Err(CallbackError::EmailDoesNotMatch),
        None => {}
    }
    match accounts::find_by_key(auth, &provider.id, &profile.account_id).await? {
        Some(acc) if acc.user_id != link.user_id => return Err(CallbackError::LinkedToAnotherUser),
        Some(acc) => accounts::refresh_stored(auth, &acc.id, tokens, true).await?,
        None => {
            accounts::create(auth, &*auth.store, &link.user_id, &provider.id, profile, tokens).await?;
        }
    }
    if auth.config.account.account_linking.update_user_info_on_link
        && let Ok(Some(user)) = users::find_by_id(auth, &link.user_id).await
    {
        update_user_info(auth, provider, &user, profile, false).await?;
    }
    Ok(())
}

/// `/link-social` with an ID token: links at once, no redirect.
pub async fn link_with_id_token(auth: &Auth, provider: &Provider, user: &User, input: IdTokenInput) -> Result<()> {
    let (tokens, profile) = verify_client_id_token(provider, &input).await?;
    if let Some(acc) = accounts::find_by_key(auth, &provider.id, &profile.account_id).await? {
        if acc.user_id != user.id {
            return Err(ApiError::new(409, "SOCIAL_ACCOUNT_ALREADY_LINKED", "Social account already linked"));
        }
        return accounts::refresh_stored(auth, &acc.id, &tokens, false).await;
    }
    match refusal(auth, provider, &profile, user.email()) {
        Some(Refusal::NotAllowed) => {
            return Err(ApiError::new(401, "LINKING_NOT_ALLOWED", "Account not linked - linking not allowed"));
        }
        Some(Refusal::DifferentEmails) => {
            return Err(ApiError::new(
                401,
                "LINKING_DIFFERENT_EMAILS_NOT_ALLOWED",
                "Account not linked - different emails not allowed",
            ));
        }
        None => {}
    }
    accounts::create(auth, &*auth.store, user.id(), &provider.id, &profile, &tokens)
        .await
        .map_err(|_| ApiError::new(417, "LINKING_FAILED", "Account not linked - unable to create account"))?;
    Ok(())
}
