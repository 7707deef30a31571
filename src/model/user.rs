//! A row of `user`.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::fields::*;
use super::{Fields, JsonOut, ModelError, Out, Row};
use crate::store::{Record, Value};

/// A row of `user`. JSON is the row in schema order with `id` last, as Better Auth sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub name: String,
    /// Stored lower-case (WIRE.md §15.2).
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Plugin fields (`twoFactorEnabled`, the app's `userId`) and additional fields, in schema order.
    pub extra: Record,
}

impl Row for User {
    const MODEL: &'static str = USER;
}

impl TryFrom<Record> for User {
    type Error = ModelError;

    fn try_from(rec: Record) -> Result<Self, ModelError> {
        let mut f = Fields::new(USER, rec);
        Ok(User {
            id: f.text(ID)?,
            name: f.text(NAME)?,
            email: f.text(EMAIL)?,
            email_verified: f.flag(EMAIL_VERIFIED)?,
            image: f.opt_text(IMAGE)?,
            created_at: f.date(CREATED_AT)?,
            updated_at: f.date(UPDATED_AT)?,
            extra: f.rest(),
        })
    }
}

impl User {
    pub const MODEL: &'static str = USER;

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn email(&self) -> &str {
        &self.email
    }

    pub fn email_verified(&self) -> bool {
        self.email_verified
    }

    /// The row as the store holds it, `id` first.
    pub fn to_record(&self) -> Record {
        Out::new(&self.id, 8 + self.extra.0.len())
            .put(NAME, self.name.as_str())
            .put(EMAIL, self.email.as_str())
            .put(EMAIL_VERIFIED, self.email_verified)
            .put(IMAGE, self.image.clone())
            .put(CREATED_AT, self.created_at)
            .put(UPDATED_AT, self.updated_at)
            .extra(&self.extra)
            .done()
    }

    pub fn to_json(&self) -> Json {
        JsonOut::new(8 + self.extra.0.len())
            .text(NAME, &self.name)
            .text(EMAIL, &self.email)
            .flag(EMAIL_VERIFIED, self.email_verified)
            .opt_text(IMAGE, self.image.as_deref())
            .date(CREATED_AT, &self.created_at)
            .date(UPDATED_AT, &self.updated_at)
            .extra(&self.extra)
            .done(&self.id)
    }
}

/// The core fields of a user about to be created; the adapter makes the id.
pub struct NewUser {
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
}

impl NewUser {
    /// The row to create, created and updated `at`.
    pub fn into_record(self, at: DateTime<Utc>) -> Record {
        Record::new()
            .with(NAME, self.name)
            .with(EMAIL, self.email)
            .with(EMAIL_VERIFIED, self.email_verified)
            .with(IMAGE, Value::from(self.image))
            .with(CREATED_AT, at)
            .with(UPDATED_AT, at)
    }
}
