//! Linked accounts and their provider tokens: `account` rows with `accessToken`,
//! `refreshToken`, `idToken`, expiries and `scope` (comma-joined), access and refresh tokens
//! encrypted when `account.encrypt_oauth_tokens` is on (WIRE.md §15.4, as Better Auth's
//! `setTokenUtil`). Routes: list-accounts, unlink-account, get-access-token, refresh-token,
//! account-info.

use chrono::{Duration, Utc};
use serde_json::{Map, Value as Json, json};

use super::Providers;
use super::protocol;
use super::provider::{Profile, Tokens};
use crate::auth::Auth;
use crate::crypto::symmetric;
use crate::error::{ApiError, Result};
use crate::model::fields::*;
use crate::model::{Account, Row};
use crate::store::{FindMany, Ops, Record, Value, Where, iso, now};

/// A token as it is stored.
pub fn seal(auth: &Auth, token: &str) -> String {
    if auth.config.account.encrypt_oauth_tokens { symmetric::encrypt(auth.secret(), token) } else { token.to_string() }
}

/// A stored token in clear. Like Better Auth, a value that does not look encrypted (stored
/// before encryption was turned on) is returned as it is.
pub fn unseal(auth: &Auth, stored: &str) -> Result<String> {
    let looks_sealed =
        stored.len().is_multiple_of(2) && !stored.is_empty() && stored.bytes().all(|b| b.is_ascii_hexdigit());
    if !auth.config.account.encrypt_oauth_tokens || !looks_sealed {
        return Ok(stored.to_string());
    }
    symmetric::decrypt(auth.secret(), stored).ok_or_else(|| ApiError::internal("oauth token", "cannot decrypt"))
}

fn sealed(auth: &Auth, token: &Option<String>) -> Value {
    token.as_deref().map(|t| seal(auth, t)).into()
}

fn scope_of(scopes: &[String]) -> Option<String> {
    (!scopes.is_empty()).then(|| scopes.join(","))
}

fn scopes_json(scope: Option<&str>) -> Json {
    let list: Vec<&str> = scope.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    json!(list)
}

pub async fn find_by_key(auth: &Auth, provider_id: &str, account_id: &str) -> Result<Option<Account>> {
    let filter = [Where::eq(PROVIDER_ID, provider_id), Where::eq(ACCOUNT_ID, account_id)];
    Ok(Account::parse(auth.store.find_one(Account::MODEL, &filter).await?)?)
}

/// A new linked account for `user_id` (through `ops`: the store or a sign-up transaction).
pub async fn create(
    auth: &Auth,
    ops: &dyn Ops,
    user_id: &str,
    provider_id: &str,
    profile: &Profile,
    tokens: &Tokens,
) -> Result<Account> {
    let at = now();
    let rec = Record::new()
        .with(ACCOUNT_ID, profile.account_id.clone())
        .with(PROVIDER_ID, provider_id)
        .with(USER_ID, user_id)
        .with(ACCESS_TOKEN, sealed(auth, &tokens.access_token))
        .with(REFRESH_TOKEN, sealed(auth, &tokens.refresh_token))
        .with(ID_TOKEN, tokens.id_token.clone())
        .with(ACCESS_TOKEN_EXPIRES_AT, tokens.access_token_expires_at)
        .with(REFRESH_TOKEN_EXPIRES_AT, tokens.refresh_token_expires_at)
        .with(SCOPE, scope_of(&tokens.scopes))
        .with(CREATED_AT, at)
        .with(UPDATED_AT, at);
    Ok(Account::try_from(ops.create(Account::MODEL, rec).await?)?)
}

/// Writes the tokens a provider just issued onto an existing account; absent values keep
/// the stored ones. Scopes are merged only when linking (Better Auth leaves `scope` alone
/// on sign-in).
pub async fn refresh_stored(auth: &Auth, account_row_id: &str, tokens: &Tokens, merge_scope: bool) -> Result<()> {
    let mut data = Record::new();
    if let Some(t) = &tokens.id_token {
        data.set(ID_TOKEN, t.clone());
    }
    if let Some(t) = &tokens.access_token {
        data.set(ACCESS_TOKEN, seal(auth, t));
    }
    if let Some(t) = &tokens.refresh_token {
        data.set(REFRESH_TOKEN, seal(auth, t));
    }
    if let Some(d) = tokens.access_token_expires_at {
        data.set(ACCESS_TOKEN_EXPIRES_AT, d);
    }
    if let Some(d) = tokens.refresh_token_expires_at {
        data.set(REFRESH_TOKEN_EXPIRES_AT, d);
    }
    let filter = [Where::eq(ID, account_row_id)];
    if merge_scope && !tokens.scopes.is_empty() {
        let stored = Account::parse(auth.store.find_one(Account::MODEL, &filter).await?)?.and_then(|a| a.scope);
        let mut merged: Vec<String> =
            stored.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        for s in &tokens.scopes {
            if !merged.contains(s) {
                merged.push(s.clone());
            }
        }
        data.set(SCOPE, merged.join(","));
    }
    data.set(UPDATED_AT, now());
    auth.store.update(Account::MODEL, &filter, data).await?;
    Ok(())
}

pub async fn for_user(auth: &Auth, user_id: &str) -> Result<Vec<Account>> {
    let rows = auth.store.find_many(Account::MODEL, &[Where::eq(USER_ID, user_id)], FindMany::default()).await?;
    Ok(Account::parse_all(rows)?)
}

/// `GET /list-accounts`: every account without tokens, `scope` as `scopes: string[]`.
pub async fn list(auth: &Auth, user_id: &str) -> Result<Json> {
    let rows = for_user(auth, user_id).await?;
    let out: Vec<Json> = rows
        .iter()
        .map(|a| {
            let mut j = a.to_public_json();
            if let Some(obj) = j.as_object_mut() {
                obj.insert("scopes".into(), scopes_json(a.scope.as_deref()));
            }
            j
        })
        .collect();
    Ok(Json::Array(out))
}

fn account_not_found() -> ApiError {
    ApiError::new(400, "ACCOUNT_NOT_FOUND", "Account not found")
}

/// `POST /unlink-account {accountId}` (the account row's id): never the last account unless allowed.
pub async fn unlink(auth: &Auth, user_id: &str, account_row_id: &str) -> Result<()> {
    let rows = for_user(auth, user_id).await?;
    if rows.len() == 1 && !auth.config.account.account_linking.allow_unlinking_all {
        return Err(ApiError::new(400, "FAILED_TO_UNLINK_LAST_ACCOUNT", "You can't unlink your last account"));
    }
    let acc = rows.iter().find(|a| a.id == account_row_id).ok_or_else(account_not_found)?;
    auth.store.delete(Account::MODEL, &[Where::eq(ID, acc.id.as_str())]).await?;
    Ok(())
}

async fn owned(auth: &Auth, user_id: &str, account_row_id: &str) -> Result<Account> {
    let filter = [Where::eq(ID, account_row_id), Where::eq(USER_ID, user_id)];
    Account::parse(auth.store.find_one(Account::MODEL, &filter).await?)?.ok_or_else(account_not_found)
}

fn provider_for(providers: &Providers, acc: &Account) -> Result<std::sync::Arc<super::Provider>> {
    let id = &acc.provider_id;
    providers
        .get(id)
        .ok_or_else(|| ApiError::new(400, "PROVIDER_NOT_SUPPORTED", format!("Provider {id} is not supported.")))
}

/// Calls the refresh grant and stores what it returns; returns the new tokens.
async fn refresh_now(
    auth: &Auth,
    providers: &Providers,
    acc: &Account,
    refresh_token: &str,
    err: fn() -> ApiError,
) -> Result<Tokens> {
    let provider = provider_for(providers, acc)?;
    let tokens = protocol::refresh(&provider, refresh_token).await.map_err(|e| {
        tracing::warn!(provider = %provider.id, error = %e, "token refresh refused");
        err()
    })?;
    refresh_stored(auth, &acc.id, &tokens, false).await?;
    Ok(tokens)
}

fn failed_access_token() -> ApiError {
    ApiError::new(400, "FAILED_TO_GET_ACCESS_TOKEN", "Failed to get a valid access token")
}

fn failed_refresh() -> ApiError {
    ApiError::new(400, "FAILED_TO_REFRESH_ACCESS_TOKEN", "Failed to refresh access token")
}

/// A usable access token: refreshed first when it expires within 5 seconds and a refresh
/// token is stored (Better Auth's `getValidAccessToken`).
async fn valid_tokens(
    auth: &Auth,
    providers: &Providers,
    acc: &Account,
) -> Result<(Option<String>, Option<chrono::DateTime<Utc>>, Option<String>)> {
    provider_for(providers, acc)?;
    let expires = acc.access_token_expires_at;
    let expiring = expires.is_some_and(|e| e - Utc::now() < Duration::seconds(5));
    if let (true, Some(stored)) = (expiring, acc.refresh_token.as_deref()) {
        let refresh = unseal(auth, stored).map_err(|_| failed_access_token())?;
        let t = refresh_now(auth, providers, acc, &refresh, failed_access_token).await?;
        let id_token = t.id_token.or_else(|| acc.id_token.clone());
        return Ok((t.access_token, t.access_token_expires_at.or(expires), id_token));
    }
    let access = acc.access_token.as_deref().map(|t| unseal(auth, t)).transpose().map_err(|_| failed_access_token())?;
    Ok((access, expires, acc.id_token.clone()))
}

/// `POST /get-access-token {accountId}` → `{accessToken, accessTokenExpiresAt, scopes, idToken}`.
pub async fn access_token(auth: &Auth, providers: &Providers, user_id: &str, account_row_id: &str) -> Result<Json> {
    let acc = owned(auth, user_id, account_row_id).await?;
    let (access, expires, id_token) = valid_tokens(auth, providers, &acc).await?;
    let mut out = Map::new();
    out.insert("accessToken".into(), access.unwrap_or_default().into());
    if let Some(e) = expires {
        out.insert("accessTokenExpiresAt".into(), iso(&e).into());
    }
    out.insert("scopes".into(), scopes_json(acc.scope.as_deref()));
    if let Some(t) = id_token {
        out.insert("idToken".into(), t.into());
    }
    Ok(Json::Object(out))
}

/// `POST /refresh-token {accountId}`: always calls the provider's refresh grant.
pub async fn refresh_token(auth: &Auth, providers: &Providers, user_id: &str, account_row_id: &str) -> Result<Json> {
    let acc = owned(auth, user_id, account_row_id).await?;
    // Every provider here speaks the refresh grant, so TOKEN_REFRESH_NOT_SUPPORTED never applies.
    provider_for(providers, &acc)?;
    let stored = acc
        .refresh_token
        .as_deref()
        .ok_or_else(|| ApiError::new(400, "REFRESH_TOKEN_NOT_FOUND", "Refresh token not found"))?;
    let old_refresh = unseal(auth, stored).map_err(|_| failed_refresh())?;
    let t = refresh_now(auth, providers, &acc, &old_refresh, failed_refresh).await?;
    let mut out = Map::new();
    let opt_date = |d: Option<chrono::DateTime<Utc>>| d.map_or(Json::Null, |d| iso(&d).into());
    out.insert("accessToken".into(), t.access_token.clone().into());
    out.insert("refreshToken".into(), t.refresh_token.clone().unwrap_or(old_refresh).into());
    out.insert("accessTokenExpiresAt".into(), opt_date(t.access_token_expires_at));
    out.insert("refreshTokenExpiresAt".into(), opt_date(t.refresh_token_expires_at.or(acc.refresh_token_expires_at)));
    out.insert("scope".into(), acc.scope.clone().into());
    out.insert("idToken".into(), t.id_token.or_else(|| acc.id_token.clone()).into());
    out.insert("providerId".into(), acc.provider_id.clone().into());
    out.insert("accountId".into(), acc.id.clone().into());
    // Better Auth omits undefined members.
    out.retain(|_, v| !v.is_null());
    Ok(Json::Object(out))
}

/// `GET /account-info?accountId=` → `{user:{name,email,image,emailVerified}, data, account}`:
/// the profile the provider gives for the stored (refreshed if due) token.
pub async fn account_info(auth: &Auth, providers: &Providers, user_id: &str, account_row_id: &str) -> Result<Json> {
    let acc = owned(auth, user_id, account_row_id).await?;
    let provider = providers.get(&acc.provider_id).ok_or_else(|| {
        ApiError::new(400, "PROVIDER_NOT_CONFIGURED", "Account is not associated with a configured social provider.")
    })?;
    let (access, _, id_token) = valid_tokens(auth, providers, &acc).await?;
    let Some(access) = access.filter(|a| !a.is_empty()) else {
        return Err(ApiError::new(400, "ACCESS_TOKEN_NOT_FOUND", "Access token not found"));
    };
    let tokens = Tokens { access_token: Some(access), id_token, ..Default::default() };
    let profile = protocol::fetch_profile(&provider, &tokens, None, false).await.map_err(|e| {
        tracing::warn!(provider = %provider.id, error = %e, "account info");
        ApiError::new(401, "FAILED_TO_GET_USER_INFO", "Failed to get user info")
    })?;
    Ok(json!({
        "user": {
            "name": profile.name,
            "email": profile.email,
            "image": profile.image,
            "emailVerified": profile.email_verified,
        },
        "data": profile.raw,
        "account": { "id": acc.id, "providerId": acc.provider_id, "accountId": acc.account_id },
    }))
}
