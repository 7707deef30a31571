//! A row of `verification`: a short-lived value under an identifier (reset tokens, OAuth
//! state, plugin challenges).

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::fields::*;
use super::{Fields, JsonOut, ModelError, Out, Row};
use crate::store::Record;

/// A row of `verification`.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub id: String,
    /// Stored in plain text (WIRE.md §15.2).
    pub identifier: String,
    pub value: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Additional fields, in schema order.
    pub extra: Record,
}

impl Row for Verification {
    const MODEL: &'static str = VERIFICATION;
}

impl TryFrom<Record> for Verification {
    type Error = ModelError;

    fn try_from(rec: Record) -> Result<Self, ModelError> {
        let mut f = Fields::new(VERIFICATION, rec);
        Ok(Verification {
            id: f.text(ID)?,
            identifier: f.text(IDENTIFIER)?,
            value: f.text(VALUE)?,
            expires_at: f.date(EXPIRES_AT)?,
            created_at: f.date(CREATED_AT)?,
            updated_at: f.date(UPDATED_AT)?,
            extra: f.rest(),
        })
    }
}

impl Verification {
    pub const MODEL: &'static str = VERIFICATION;

    /// A new row holding `value` under `identifier` until `expires_at`, created `at`.
    pub fn new_record(identifier: &str, value: &str, expires_at: DateTime<Utc>, at: DateTime<Utc>) -> Record {
        Record::new()
            .with(IDENTIFIER, identifier)
            .with(VALUE, value)
            .with(EXPIRES_AT, expires_at)
            .with(CREATED_AT, at)
            .with(UPDATED_AT, at)
    }

    /// Whether the row is still live at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now
    }

    /// The row as the store holds it, `id` first.
    pub fn to_record(&self) -> Record {
        Out::new(&self.id, 6 + self.extra.0.len())
            .put(IDENTIFIER, self.identifier.as_str())
            .put(VALUE, self.value.as_str())
            .put(EXPIRES_AT, self.expires_at)
            .put(CREATED_AT, self.created_at)
            .put(UPDATED_AT, self.updated_at)
            .extra(&self.extra)
            .done()
    }

    pub fn to_json(&self) -> Json {
        JsonOut::new(6 + self.extra.0.len())
            .text(IDENTIFIER, &self.identifier)
            .text(VALUE, &self.value)
            .date(EXPIRES_AT, &self.expires_at)
            .date(CREATED_AT, &self.created_at)
            .date(UPDATED_AT, &self.updated_at)
            .extra(&self.extra)
            .done(&self.id)
    }
}
