//! Storage behind one trait with Better Auth's adapter verbs (create, findOne, findMany, count,
//! update, updateMany, delete, deleteMany) and `where` clauses of `{field, operator, value,
//! connector}`. All auth logic goes through [`Ops`]; backends build SQL per dialect.

pub mod cache;
pub mod hooks;
pub mod layer;
pub mod migrate;
pub mod mirror;
pub mod schema;
pub mod schema_config;
pub mod secondary;
pub mod sql;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};

pub use schema::{FieldType, Schema};

use crate::error::ApiError;

/// A stored value, typed by the schema; each backend encodes it for its dialect.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    Date(DateTime<Utc>),
    /// `json`, `string[]` and `number[]` fields (additional fields).
    Json(serde_json::Value),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Text(s) => s.clone().into(),
            Value::Date(d) => iso(d).into(),
            Value::Json(j) => j.clone(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<DateTime<Utc>> for Value {
    fn from(d: DateTime<Utc>) -> Self {
        Value::Date(d)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map_or(Value::Null, Into::into)
    }
}

/// ISO-8601 UTC with milliseconds, as Better Auth writes dates (WIRE.md §4, §15.2).
pub fn iso(d: &DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Current time truncated to milliseconds, so stored and returned values agree exactly.
pub fn now() -> DateTime<Utc> {
    let n = Utc::now();
    DateTime::from_timestamp_millis(n.timestamp_millis()).unwrap_or(n)
}

/// One row by logical field name, in schema order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record(pub Vec<(String, Value)>);

impl Record {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    pub fn with(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.set(field, value);
        self
    }

    pub fn set(&mut self, field: &str, value: impl Into<Value>) {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k == field) {
            Some(slot) => slot.1 = value,
            None => self.0.push((field.to_string(), value)),
        }
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == field).map(|(_, v)| v)
    }

    pub fn str(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(Value::as_str)
    }

    pub fn string(&self, field: &str) -> String {
        self.str(field).unwrap_or_default().to_string()
    }

    pub fn bool(&self, field: &str) -> bool {
        matches!(self.get(field), Some(Value::Bool(true)))
    }

    pub fn int(&self, field: &str) -> Option<i64> {
        match self.get(field) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    pub fn date(&self, field: &str) -> Option<DateTime<Utc>> {
        match self.get(field) {
            Some(Value::Date(d)) => Some(*d),
            _ => None,
        }
    }
}

/// Record → JSON object with `id` moved last and `hidden` fields left out.
pub fn record_json(rec: &Record, hidden: &[&str]) -> serde_json::Value {
    let mut map = serde_json::Map::with_capacity(rec.0.len());
    let mut id = None;
    for (k, v) in &rec.0 {
        if k == "id" {
            id = Some(v.to_json());
        } else if !hidden.contains(&k.as_str()) {
            map.insert(k.clone(), v.to_json());
        }
    }
    if let Some(id) = id {
        map.insert("id".into(), id);
    }
    serde_json::Value::Object(map)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Connector {
    #[default]
    And,
    Or,
}

/// A `where` clause term. `values` holds the list for `In`/`NotIn`.
#[derive(Debug, Clone, PartialEq)]
pub struct Where {
    pub field: String,
    pub op: Op,
    pub value: Value,
    pub values: Vec<Value>,
    pub connector: Connector,
    /// Case-insensitive comparison of text.
    pub insensitive: bool,
}

impl Where {
    pub fn new(field: &str, op: Op, value: impl Into<Value>) -> Self {
        Self {
            field: field.to_string(),
            op,
            value: value.into(),
            values: Vec::new(),
            connector: Connector::And,
            insensitive: false,
        }
    }

    pub fn eq(field: &str, value: impl Into<Value>) -> Self {
        Self::new(field, Op::Eq, value)
    }

    pub fn is_in(field: &str, values: Vec<Value>) -> Self {
        Self { values, ..Self::new(field, Op::In, Value::Null) }
    }

    pub fn or(mut self) -> Self {
        self.connector = Connector::Or;
        self
    }
}

#[derive(Debug, Clone, Default)]
pub struct FindMany {
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    /// Field and descending?
    pub sort_by: Option<(String, bool)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error("unknown field {field} on model {model}")]
    UnknownField { model: String, field: String },
    #[error("database error: {0}")]
    Database(String),
    /// A backing service (database or secondary storage) cannot be reached right now.
    #[error("{0} is unavailable")]
    Unavailable(String),
    /// A database hook refused the write; the error goes to the client as it is.
    #[error("refused by a hook: {0}")]
    Refused(ApiError),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Refused(err) = e {
            return err;
        }
        if let StoreError::Unavailable(what) = &e {
            tracing::error!(%what, "backing service unavailable");
            return ApiError::new(
                503,
                "SERVICE_UNAVAILABLE",
                "A backing service is unavailable. Please try again later.",
            );
        }
        ApiError::internal("storage", e)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Better Auth's adapter verbs, on the database or inside a transaction.
#[async_trait]
pub trait Ops: Send + Sync {
    async fn create(&self, model: &str, data: Record) -> StoreResult<Record>;
    async fn find_one(&self, model: &str, filter: &[Where]) -> StoreResult<Option<Record>>;
    async fn find_many(&self, model: &str, filter: &[Where], opts: FindMany) -> StoreResult<Vec<Record>>;
    async fn count(&self, model: &str, filter: &[Where]) -> StoreResult<u64>;
    /// Updates matching rows and returns the first updated row.
    async fn update(&self, model: &str, filter: &[Where], data: Record) -> StoreResult<Option<Record>>;
    async fn update_many(&self, model: &str, filter: &[Where], data: Record) -> StoreResult<u64>;
    async fn delete(&self, model: &str, filter: &[Where]) -> StoreResult<()>;
    async fn delete_many(&self, model: &str, filter: &[Where]) -> StoreResult<u64>;
    /// Runs configured SQL (hooks, app tables) with `:name` parameters taken from `params`;
    /// returns its rows by column name. Writes made this way bypass caches of auth rows.
    async fn sql(&self, sql: &str, params: &Record) -> StoreResult<Vec<Record>> {
        let _ = (sql, params);
        Err(StoreError::Database("this store does not run SQL".into()))
    }
    /// The rows `filter` matches, locked until the transaction ends (`SELECT … FOR UPDATE`):
    /// a concurrent conditional update waits, then no longer matches, so a write that names
    /// the rows found stays one compare-and-set. SQLite transactions take the write lock at
    /// BEGIN, and outside a transaction there is nothing to hold: a plain read there.
    async fn find_for_update(&self, model: &str, filter: &[Where]) -> StoreResult<Vec<Record>> {
        self.find_many(model, filter, FindMany::default()).await
    }
    /// Whether writes to `model` run database hooks. A hook may write any row in the write's
    /// transaction, so the layers that keep copies of rows (local cache, secondary storage)
    /// drop more than the rows written when this is true.
    fn hooked(&self, model: &str) -> bool {
        let _ = model;
        false
    }
}

/// A unit of work: every write through it commits together or not at all.
#[async_trait]
pub trait Transaction: Ops {
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}

#[async_trait]
pub trait Adapter: Ops {
    /// Opens a transaction for `intent`, which every layer sees.
    async fn begin_with(&self, intent: &Intent) -> StoreResult<Box<dyn Transaction>>;

    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        self.begin_with(&Intent::NONE).await
    }
}

/// What a transaction is opened for, told explicitly to the layers that act on it (the
/// hooks); a plain `begin()` has none of it.
#[derive(Debug, Clone, Default)]
pub struct Intent {
    /// Social sign-in with this provider writes: the adoption policy refuses to adopt an app
    /// user for an email the provider did not verify.
    pub social_provider: Option<String>,
    /// The rows of a model this transaction deletes together with the rows that belong to
    /// them: their before_delete hooks run as it opens, while all of those rows are there.
    pub deletes: Option<(String, Vec<Where>)>,
    /// Set when a write of the transaction adopted an existing app user (a verified email):
    /// the caller then shuts out whoever held the account before.
    pub adopted: Option<Arc<AtomicBool>>,
    /// The user an anonymous user being deleted is linked into (its delete hooks get it as
    /// `linkedUserId`, to move the app's rows).
    pub linked_to: Option<String>,
}

impl Intent {
    /// A plain transaction.
    pub const NONE: Intent = Intent { social_provider: None, deletes: None, adopted: None, linked_to: None };

    pub fn social(provider: &str) -> Self {
        Self { social_provider: Some(provider.to_string()), ..Self::default() }
    }

    pub fn deleting(model: &str, filter: &[Where]) -> Self {
        Self { deletes: Some((model.to_string(), filter.to_vec())), ..Self::default() }
    }

    /// Whether a write reported an adoption ([`Intent::adopted`]).
    pub fn noting_adoption() -> Self {
        Self { adopted: Some(Arc::default()), ..Self::default() }
    }

    pub fn was_adopted(&self) -> bool {
        self.adopted.as_ref().is_some_and(|a| a.load(Ordering::Relaxed))
    }

    pub fn note_adopted(&self) {
        if let Some(a) = &self.adopted {
            a.store(true, Ordering::Relaxed);
        }
    }
}

pub type Store = Arc<dyn Adapter>;

#[cfg(test)]
pub(crate) mod tests;
