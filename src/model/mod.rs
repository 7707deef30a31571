//! Better Auth's core rows as typed values (WIRE.md §15.1): [`User`], [`Session`], [`Account`]
//! and [`Verification`], each parsed once from the storage [`Record`]. A required field that is
//! missing or of the wrong type is a [`ModelError`], never an empty string. Fields the model does
//! not name (plugin fields such as `twoFactorEnabled`, `[schema]` additional fields) stay in
//! `extra`, in schema order. Names here are logical: custom tables and columns are the
//! schema's business.

mod account;
pub mod fields;
mod session;
mod user;
mod verification;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};

use crate::error::ApiError;
use crate::store::{Record, Value, iso};

pub use account::Account;
pub use session::Session;
pub use user::{NewUser, User};
pub use verification::Verification;

/// A stored row that does not fit its model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{model}.{field}: {problem}")]
pub struct ModelError {
    pub model: &'static str,
    pub field: &'static str,
    pub problem: &'static str,
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        ApiError::internal("stored row", e)
    }
}

/// A row parsed into a model, by its logical model name.
pub trait Row: TryFrom<Record, Error = ModelError> {
    const MODEL: &'static str;

    /// The typed row, if there was one.
    fn parse(rec: Option<Record>) -> Result<Option<Self>, ModelError> {
        rec.map(Self::try_from).transpose()
    }

    /// Every row typed; the first that does not fit is the error.
    fn parse_all(rows: Vec<Record>) -> Result<Vec<Self>, ModelError> {
        rows.into_iter().map(Self::try_from).collect()
    }
}

/// Takes a row apart field by field; what is left over is the model's `extra`.
struct Fields {
    model: &'static str,
    rec: Record,
}

impl Fields {
    fn new(model: &'static str, rec: Record) -> Self {
        Self { model, rec }
    }

    fn err(&self, field: &'static str, problem: &'static str) -> ModelError {
        ModelError { model: self.model, field, problem }
    }

    fn take(&mut self, field: &str) -> Option<Value> {
        let i = self.rec.0.iter().position(|(k, _)| k == field)?;
        Some(self.rec.0.remove(i).1)
    }

    fn text(&mut self, field: &'static str) -> Result<String, ModelError> {
        self.opt_text(field)?.ok_or_else(|| self.err(field, "missing"))
    }

    /// Absent and null are both `None`.
    fn opt_text(&mut self, field: &'static str) -> Result<Option<String>, ModelError> {
        match self.take(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Text(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(field, "not text")),
        }
    }

    fn flag(&mut self, field: &'static str) -> Result<bool, ModelError> {
        match self.take(field) {
            Some(Value::Bool(b)) => Ok(b),
            None | Some(Value::Null) => Err(self.err(field, "missing")),
            Some(_) => Err(self.err(field, "not a boolean")),
        }
    }

    fn date(&mut self, field: &'static str) -> Result<DateTime<Utc>, ModelError> {
        self.opt_date(field)?.ok_or_else(|| self.err(field, "missing"))
    }

    fn opt_date(&mut self, field: &'static str) -> Result<Option<DateTime<Utc>>, ModelError> {
        match self.take(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Date(d)) => Ok(Some(d)),
            Some(_) => Err(self.err(field, "not a date")),
        }
    }

    fn rest(self) -> Record {
        self.rec
    }
}

/// Builds a row back (`to_record`) or its JSON (`to_json`): `id` first in the record, last in
/// JSON, as Better Auth sends rows (the order of `store::record_json`).
struct Out {
    rec: Record,
}

impl Out {
    fn new(id: &str, capacity: usize) -> Self {
        let mut rec = Record(Vec::with_capacity(capacity));
        rec.0.push((fields::ID.to_string(), Value::Text(id.to_string())));
        Self { rec }
    }

    fn put(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.rec.0.push((field.to_string(), value.into()));
        self
    }

    fn extra(mut self, extra: &Record) -> Self {
        self.rec.0.extend(extra.0.iter().cloned());
        self
    }

    fn done(self) -> Record {
        self.rec
    }
}

/// JSON object written straight from typed fields, skipping the intermediate record.
struct JsonOut {
    map: Map<String, Json>,
}

impl JsonOut {
    fn new(capacity: usize) -> Self {
        Self { map: Map::with_capacity(capacity) }
    }

    fn text(mut self, field: &str, value: &str) -> Self {
        self.map.insert(field.to_string(), Json::String(value.to_string()));
        self
    }

    fn opt_text(mut self, field: &str, value: Option<&str>) -> Self {
        self.map.insert(field.to_string(), value.map_or(Json::Null, |s| Json::String(s.to_string())));
        self
    }

    fn flag(mut self, field: &str, value: bool) -> Self {
        self.map.insert(field.to_string(), Json::Bool(value));
        self
    }

    fn date(mut self, field: &str, value: &DateTime<Utc>) -> Self {
        self.map.insert(field.to_string(), Json::String(iso(value)));
        self
    }

    fn opt_date(mut self, field: &str, value: Option<&DateTime<Utc>>) -> Self {
        self.map.insert(field.to_string(), value.map_or(Json::Null, |d| Json::String(iso(d))));
        self
    }

    fn extra(mut self, extra: &Record) -> Self {
        for (k, v) in &extra.0 {
            self.map.insert(k.clone(), v.to_json());
        }
        self
    }

    /// `id` goes last.
    fn done(mut self, id: &str) -> Json {
        self.map.insert(fields::ID.to_string(), Json::String(id.to_string()));
        Json::Object(self.map)
    }
}

#[cfg(test)]
mod tests;
