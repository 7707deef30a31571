//! A row of `session` (WIRE.md §6).

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::fields::*;
use super::{Fields, JsonOut, ModelError, Out, Row};
use crate::store::Record;

/// A row of `session`. JSON is the row in schema order with `id` last.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub expires_at: DateTime<Utc>,
    pub token: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub user_id: String,
    /// Additional fields, in schema order.
    pub extra: Record,
}

impl Row for Session {
    const MODEL: &'static str = SESSION;
}

impl TryFrom<Record> for Session {
    type Error = ModelError;

    fn try_from(rec: Record) -> Result<Self, ModelError> {
        let mut f = Fields::new(SESSION, rec);
        Ok(Session {
            id: f.text(ID)?,
            expires_at: f.date(EXPIRES_AT)?,
            token: f.text(TOKEN)?,
            created_at: f.date(CREATED_AT)?,
            updated_at: f.date(UPDATED_AT)?,
            ip_address: f.opt_text(IP_ADDRESS)?,
            user_agent: f.opt_text(USER_AGENT)?,
            user_id: f.text(USER_ID)?,
            extra: f.rest(),
        })
    }
}

impl Session {
    pub const MODEL: &'static str = SESSION;

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The row as the store holds it, `id` first.
    pub fn to_record(&self) -> Record {
        Out::new(&self.id, 8 + self.extra.0.len())
            .put(EXPIRES_AT, self.expires_at)
            .put(TOKEN, self.token.as_str())
            .put(CREATED_AT, self.created_at)
            .put(UPDATED_AT, self.updated_at)
            .put(IP_ADDRESS, self.ip_address.clone())
            .put(USER_AGENT, self.user_agent.clone())
            .put(USER_ID, self.user_id.as_str())
            .extra(&self.extra)
            .done()
    }

    pub fn to_json(&self) -> Json {
        JsonOut::new(8 + self.extra.0.len())
            .date(EXPIRES_AT, &self.expires_at)
            .text(TOKEN, &self.token)
            .date(CREATED_AT, &self.created_at)
            .date(UPDATED_AT, &self.updated_at)
            .opt_text(IP_ADDRESS, self.ip_address.as_deref())
            .opt_text(USER_AGENT, self.user_agent.as_deref())
            .text(USER_ID, &self.user_id)
            .extra(&self.extra)
            .done(&self.id)
    }
}
