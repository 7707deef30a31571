//! A row of `account`: a credential (email/password) or a provider's linked account.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::fields::*;
use super::{Fields, JsonOut, ModelError, Out, Row};
use crate::store::Record;

/// A row of `account`.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: String,
    /// The provider's id for the user (the user's own id for the credential account).
    pub account_id: String,
    pub provider_id: String,
    pub user_id: String,
    /// Stored sealed when `account.encrypt_oauth_tokens` is on (WIRE.md §15.4).
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// Comma-joined scopes.
    pub scope: Option<String>,
    /// The password hash (WIRE.md §15.3), credential accounts only.
    pub password: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Additional fields, in schema order.
    pub extra: Record,
}

impl Row for Account {
    const MODEL: &'static str = ACCOUNT;
}

impl TryFrom<Record> for Account {
    type Error = ModelError;

    fn try_from(rec: Record) -> Result<Self, ModelError> {
        let mut f = Fields::new(ACCOUNT, rec);
        Ok(Account {
            id: f.text(ID)?,
            account_id: f.text(ACCOUNT_ID)?,
            provider_id: f.text(PROVIDER_ID)?,
            user_id: f.text(USER_ID)?,
            access_token: f.opt_text(ACCESS_TOKEN)?,
            refresh_token: f.opt_text(REFRESH_TOKEN)?,
            id_token: f.opt_text(ID_TOKEN)?,
            access_token_expires_at: f.opt_date(ACCESS_TOKEN_EXPIRES_AT)?,
            refresh_token_expires_at: f.opt_date(REFRESH_TOKEN_EXPIRES_AT)?,
            scope: f.opt_text(SCOPE)?,
            password: f.opt_text(PASSWORD)?,
            created_at: f.date(CREATED_AT)?,
            updated_at: f.date(UPDATED_AT)?,
            extra: f.rest(),
        })
    }
}

impl Account {
    pub const MODEL: &'static str = ACCOUNT;
    /// `providerId` of the email/password account (WIRE.md §15.2).
    pub const CREDENTIAL: &'static str = "credential";

    /// A new email/password account: `accountId` is the user's id, no tokens.
    pub fn credential_record(user_id: &str, hash: &str, at: DateTime<Utc>) -> Record {
        Record::new()
            .with(ACCOUNT_ID, user_id)
            .with(PROVIDER_ID, Self::CREDENTIAL)
            .with(USER_ID, user_id)
            .with(PASSWORD, hash)
            .with(CREATED_AT, at)
            .with(UPDATED_AT, at)
    }

    /// The row as the store holds it, `id` first.
    pub fn to_record(&self) -> Record {
        Out::new(&self.id, 14 + self.extra.0.len())
            .put(ACCOUNT_ID, self.account_id.as_str())
            .put(PROVIDER_ID, self.provider_id.as_str())
            .put(USER_ID, self.user_id.as_str())
            .put(ACCESS_TOKEN, self.access_token.clone())
            .put(REFRESH_TOKEN, self.refresh_token.clone())
            .put(ID_TOKEN, self.id_token.clone())
            .put(ACCESS_TOKEN_EXPIRES_AT, self.access_token_expires_at)
            .put(REFRESH_TOKEN_EXPIRES_AT, self.refresh_token_expires_at)
            .put(SCOPE, self.scope.clone())
            .put(PASSWORD, self.password.clone())
            .put(CREATED_AT, self.created_at)
            .put(UPDATED_AT, self.updated_at)
            .extra(&self.extra)
            .done()
    }

    /// The row without tokens, expiries, scope or password (Better Auth's `parseAccountOutput`),
    /// `id` last.
    pub fn to_public_json(&self) -> Json {
        JsonOut::new(6 + self.extra.0.len())
            .text(ACCOUNT_ID, &self.account_id)
            .text(PROVIDER_ID, &self.provider_id)
            .text(USER_ID, &self.user_id)
            .date(CREATED_AT, &self.created_at)
            .date(UPDATED_AT, &self.updated_at)
            .extra(&self.extra)
            .done(&self.id)
    }

    /// The whole row as JSON, `id` last.
    pub fn to_json(&self) -> Json {
        JsonOut::new(14 + self.extra.0.len())
            .text(ACCOUNT_ID, &self.account_id)
            .text(PROVIDER_ID, &self.provider_id)
            .text(USER_ID, &self.user_id)
            .opt_text(ACCESS_TOKEN, self.access_token.as_deref())
            .opt_text(REFRESH_TOKEN, self.refresh_token.as_deref())
            .opt_text(ID_TOKEN, self.id_token.as_deref())
            .opt_date(ACCESS_TOKEN_EXPIRES_AT, self.access_token_expires_at.as_ref())
            .opt_date(REFRESH_TOKEN_EXPIRES_AT, self.refresh_token_expires_at.as_ref())
            .opt_text(SCOPE, self.scope.as_deref())
            .opt_text(PASSWORD, self.password.as_deref())
            .date(CREATED_AT, &self.created_at)
            .date(UPDATED_AT, &self.updated_at)
            .extra(&self.extra)
            .done(&self.id)
    }
}
