//! The core schema of Better Auth (WIRE.md §15.1) plus the tables of enabled plugins, shaped by
//! `[schema]` (see [`super::schema_config`]): renamed tables and columns, additional fields and
//! the id strategy. Logical names (model and field) are Better Auth's; `table` and `column` are
//! what the database calls them.

use chrono::{DateTime, NaiveDate, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{Record, StoreError, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldType {
    #[serde(rename = "string")]
    String,
    #[serde(rename = "number")]
    Number,
    #[serde(rename = "boolean")]
    Boolean,
    #[serde(rename = "date")]
    Date,
    #[serde(rename = "json")]
    Json,
    #[serde(rename = "string[]")]
    StringArray,
    #[serde(rename = "number[]")]
    NumberArray,
}

impl FieldType {
    /// Values kept as JSON: text on SQLite, `json` on MySQL, `jsonb` on PostgreSQL.
    pub fn is_json(self) -> bool {
        matches!(self, FieldType::Json | FieldType::StringArray | FieldType::NumberArray)
    }
}

/// `references.on_delete`, with Better Auth's spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OnDelete {
    #[default]
    #[serde(rename = "cascade")]
    Cascade,
    #[serde(rename = "set null", alias = "set_null")]
    SetNull,
    #[serde(rename = "set default", alias = "set_default")]
    SetDefault,
    #[serde(rename = "restrict")]
    Restrict,
    #[serde(rename = "no action", alias = "no_action")]
    NoAction,
}

impl OnDelete {
    pub fn sql(self) -> &'static str {
        match self {
            OnDelete::Cascade => "cascade",
            OnDelete::SetNull => "set null",
            OnDelete::SetDefault => "set default",
            OnDelete::Restrict => "restrict",
            OnDelete::NoAction => "no action",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Reference {
    /// Logical model name.
    pub model: String,
    /// Logical field name.
    pub field: String,
    pub on_delete: OnDelete,
}

/// How an id, or a reference to one, is stored. Ids are strings everywhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Text,
    /// Database-generated integers (`serial`, `database`).
    Integer,
    /// `uuid` on PostgreSQL, text elsewhere.
    Uuid,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub column: String,
    pub ty: FieldType,
    pub required: bool,
    pub unique: bool,
    pub index: bool,
    pub references: Option<Reference>,
    /// Set on `id` and on fields that reference an `id`.
    pub key: Option<KeyType>,
    /// Applied by the adapter on create when the field is absent (Better Auth's `defaultValue`).
    pub default: Option<Value>,
    /// Declared in `[schema.<model>.additional_fields]`.
    pub additional: bool,
    /// For additional fields: whether clients may set it (sign-up, update-user).
    pub input: bool,
    /// A `number` stored as a 64-bit integer (Better Auth's `bigint: true`).
    pub bigint: bool,
}

impl Field {
    pub fn new(name: &str, ty: FieldType, required: bool) -> Field {
        Field {
            name: name.to_string(),
            column: name.to_string(),
            ty,
            required,
            unique: false,
            index: false,
            references: None,
            key: None,
            default: None,
            additional: false,
            input: true,
            bigint: false,
        }
    }

    /// Additional fields a client may send.
    pub fn client_settable(&self) -> bool {
        self.additional && self.input
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub table: String,
    /// `id` first, then the fields in Better Auth's column order, then additional fields.
    pub fields: Vec<Field>,
}

impl Model {
    /// Whether the table has the model's own name (no `model_name` configured).
    pub fn has_default_table(&self) -> bool {
        self.table == self.name
    }

    pub fn field(&self, name: &str) -> Result<&Field, StoreError> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| StoreError::UnknownField { model: self.name.clone(), field: name.to_string() })
    }

    pub(crate) fn field_mut(&mut self, name: &str) -> Option<&mut Field> {
        self.fields.iter_mut().find(|f| f.name == name)
    }
}

/// `[schema] id_strategy`: who makes the id of a new row (Better Auth's
/// `advanced.database.generateId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdStrategy {
    /// 32 characters `[A-Za-z0-9]` (WIRE.md §4).
    #[default]
    Default,
    /// Version-4 UUID strings.
    Uuid,
    /// Integers from the database (auto-increment), strings on the wire.
    Serial,
    /// The database makes the id; here the same columns as `serial`.
    Database,
}

impl IdStrategy {
    /// The id of a new row, or `None` when the database assigns it. Every create goes
    /// through here (the adapter calls it), so one place decides.
    pub fn new_id(self) -> Option<String> {
        match self {
            IdStrategy::Default => Some(crate::crypto::random_id(32)),
            IdStrategy::Uuid => Some(uuid_v4()),
            IdStrategy::Serial | IdStrategy::Database => None,
        }
    }

    pub fn database_generated(self) -> bool {
        matches!(self, IdStrategy::Serial | IdStrategy::Database)
    }

    fn key_type(self) -> KeyType {
        match self {
            IdStrategy::Default => KeyType::Text,
            IdStrategy::Uuid => KeyType::Uuid,
            IdStrategy::Serial | IdStrategy::Database => KeyType::Integer,
        }
    }
}

/// A random (version 4) UUID, lower-case hex with dashes.
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// `8-4-4-4-12` hex digits: what PostgreSQL's `uuid` type accepts here.
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.bytes().all(|c| c.is_ascii_hexdigit()))
}

#[derive(Debug, Clone)]
pub struct Schema {
    pub models: Vec<Model>,
    pub ids: IdStrategy,
}

struct F(&'static str, FieldType, bool);

/// A plugin's table, declared by logical names: `ModelSpec::new("twoFactor").field(..)`.
pub struct ModelSpec(Model);

impl ModelSpec {
    /// A table with its `id`.
    pub fn new(name: &str) -> Self {
        Self(model(name, &[]))
    }

    pub fn field(mut self, name: &str, ty: FieldType, required: bool) -> Self {
        self.0.fields.push(Field::new(name, ty, required));
        self
    }

    pub fn unique(mut self, name: &str) -> Self {
        mark(&mut self.0, name, true, false);
        self
    }

    pub fn index(mut self, name: &str) -> Self {
        mark(&mut self.0, name, false, true);
        self
    }

    /// Its `userId` references `user.id` (indexed; rows go with their user).
    pub fn owned_by_user(mut self) -> Self {
        user_ref(&mut self.0);
        self
    }

    /// Stores the `number` field as a 64-bit integer.
    pub fn bigint(mut self, name: &str) -> Self {
        if let Some(f) = self.0.field_mut(name) {
            f.bigint = true;
        }
        self
    }
}

fn model(name: &str, specs: &[F]) -> Model {
    let mut fields = vec![Field::new("id", FieldType::String, true)];
    fields.extend(specs.iter().map(|s| Field::new(s.0, s.1, s.2)));
    Model { name: name.to_string(), table: name.to_string(), fields }
}

fn user_ref(m: &mut Model) {
    if let Some(f) = m.field_mut("userId") {
        f.index = true;
        f.references = Some(Reference { model: "user".into(), field: "id".into(), on_delete: OnDelete::Cascade });
    }
}

fn mark(m: &mut Model, name: &str, unique: bool, index: bool) {
    if let Some(f) = m.field_mut(name) {
        f.unique |= unique;
        f.index |= index;
    }
}

impl Schema {
    /// Better Auth's four core tables; plugins add theirs ([`Schema::add_model`]).
    pub fn core() -> Schema {
        use FieldType::*;
        let mut user = model(
            "user",
            &[
                F("name", String, true),
                F("email", String, true),
                F("emailVerified", Boolean, true),
                F("image", String, false),
                F("createdAt", Date, true),
                F("updatedAt", Date, true),
            ],
        );
        mark(&mut user, "email", true, false);
        let mut session = model(
            "session",
            &[
                F("expiresAt", Date, true),
                F("token", String, true),
                F("createdAt", Date, true),
                F("updatedAt", Date, true),
                F("ipAddress", String, false),
                F("userAgent", String, false),
                F("userId", String, true),
            ],
        );
        mark(&mut session, "token", true, false);
        user_ref(&mut session);
        let mut account = model(
            "account",
            &[
                F("accountId", String, true),
                F("providerId", String, true),
                F("userId", String, true),
                F("accessToken", String, false),
                F("refreshToken", String, false),
                F("idToken", String, false),
                F("accessTokenExpiresAt", Date, false),
                F("refreshTokenExpiresAt", Date, false),
                F("scope", String, false),
                F("password", String, false),
                F("createdAt", Date, true),
                F("updatedAt", Date, true),
            ],
        );
        user_ref(&mut account);
        let mut verification = model(
            "verification",
            &[
                F("identifier", String, true),
                F("value", String, true),
                F("expiresAt", Date, true),
                F("createdAt", Date, true),
                F("updatedAt", Date, true),
            ],
        );
        mark(&mut verification, "identifier", false, true);
        let models = vec![user, session, account, verification];
        let mut schema = Schema { models, ids: IdStrategy::Default };
        schema.set_ids(IdStrategy::Default);
        schema
    }

    /// Adds a plugin's table (once), typed for the id strategy.
    pub fn add_model(&mut self, spec: ModelSpec) {
        if self.model(&spec.0.name).is_err() {
            self.models.push(spec.0);
            let ids = self.ids;
            self.set_ids(ids);
        }
    }

    /// Adds a plugin's field to `user`, filled with `default` on create when absent.
    /// Returns the field, for further marks (unique).
    pub fn add_user_field(&mut self, name: &str, ty: FieldType, default: Option<Value>) -> Option<&mut Field> {
        let user = self.models.iter_mut().find(|m| m.name == "user")?;
        if user.field(name).is_err() {
            let mut f = Field::new(name, ty, false);
            f.default = default;
            user.fields.push(f);
        }
        user.field_mut(name)
    }

    /// The models whose rows belong to a user (`userId` → `user.id`), deleted with the user.
    pub fn owned_by_user(&self) -> impl Iterator<Item = &str> {
        self.models
            .iter()
            .filter(|m| m.field("userId").is_ok_and(|f| f.references.as_ref().is_some_and(|r| r.model == "user")))
            .map(|m| m.name.as_str())
    }

    /// Adds `user.userId`, the app's canonical id for the user (set by the user's after-create
    /// hook, as the Convex component keeps it); indexed, never settable by clients.
    pub fn add_app_user_id(&mut self) {
        let Some(user) = self.models.iter_mut().find(|m| m.name == "user") else { return };
        if user.field(super::hooks::APP_USER_ID).is_err() {
            let mut f = Field::new(super::hooks::APP_USER_ID, FieldType::String, false);
            f.index = true;
            f.additional = true;
            f.input = false;
            user.fields.push(f);
        }
    }

    /// Adds Better Auth's `rateLimit` table (`rate_limit.storage = "database"`).
    pub fn add_rate_limit(&mut self) {
        if self.model("rateLimit").is_ok() {
            return;
        }
        let mut m = model(
            "rateLimit",
            &[
                F("key", FieldType::String, true),
                F("count", FieldType::Number, true),
                F("lastRequest", FieldType::Number, true),
            ],
        );
        mark(&mut m, "key", true, false);
        if let Some(f) = m.field_mut("lastRequest") {
            f.bigint = true;
        }
        self.models.push(m);
        let ids = self.ids;
        self.set_ids(ids);
    }

    pub fn model(&self, name: &str) -> Result<&Model, StoreError> {
        self.models.iter().find(|m| m.name == name).ok_or_else(|| StoreError::Database(format!("unknown model {name}")))
    }

    /// Types every `id`, and every field that references one, for `ids`.
    pub fn set_ids(&mut self, ids: IdStrategy) {
        self.ids = ids;
        let key = ids.key_type();
        for f in self.models.iter_mut().flat_map(|m| m.fields.iter_mut()) {
            if f.name == "id" || f.references.as_ref().is_some_and(|r| r.field == "id") {
                f.key = Some(key);
            }
        }
    }

    /// What the adapter writes for a new row: the id the strategy makes (a given one is kept,
    /// except that the database makes its own), and the defaults of absent fields (an explicit
    /// null stays null, as with Better Auth's `defaultValue`).
    pub fn prepare_create(&self, model: &Model, mut data: Record) -> Record {
        if self.ids.database_generated() {
            data.0.retain(|(k, _)| k != "id");
        } else if matches!(data.get("id"), None | Some(Value::Null))
            && let Some(id) = self.ids.new_id()
        {
            data.set("id", id);
        }
        for f in &model.fields {
            if let (Some(default), None) = (&f.default, data.get(&f.name)) {
                data.set(&f.name, default.clone());
            }
        }
        data
    }
}

/// Why a JSON value does not fit a field's type: what was expected, at which array element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub expected: &'static str,
    pub index: Option<usize>,
}

fn mismatch(expected: &'static str) -> Mismatch {
    Mismatch { expected, index: None }
}

/// ISO-8601 date-times (`2026-01-02T03:04:05.678Z`) or plain dates (`2026-01-02`, midnight UTC).
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc)).ok().or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|n| n.and_utc())
    })
}

fn array_of(v: &Json, expected: &'static str, ok: fn(&Json) -> bool) -> Result<Value, Mismatch> {
    let Json::Array(items) = v else { return Err(mismatch("array")) };
    match items.iter().position(|x| !ok(x)) {
        Some(i) => Err(Mismatch { expected, index: Some(i) }),
        None => Ok(Value::Json(v.clone())),
    }
}

/// A non-null JSON value as a stored value of type `ty` (zod's checks: integers for numbers,
/// ISO strings for dates).
pub fn value_from_json(ty: FieldType, v: &Json) -> Result<Value, Mismatch> {
    match (ty, v) {
        (FieldType::String, Json::String(s)) => Ok(Value::Text(s.clone())),
        (FieldType::String, _) => Err(mismatch("string")),
        (FieldType::Number, Json::Number(n)) => n.as_i64().map(Value::Int).ok_or(mismatch("int")),
        (FieldType::Number, _) => Err(mismatch("number")),
        (FieldType::Boolean, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (FieldType::Boolean, _) => Err(mismatch("boolean")),
        (FieldType::Date, Json::String(s)) => parse_date(s).map(Value::Date).ok_or(mismatch("date")),
        (FieldType::Date, _) => Err(mismatch("date")),
        (FieldType::Json, _) => Ok(Value::Json(v.clone())),
        (FieldType::StringArray, _) => array_of(v, "string", Json::is_string),
        (FieldType::NumberArray, _) => array_of(v, "number", Json::is_number),
    }
}

/// Tests: the widest default schema, with the jwt and two-factor plugins' tables.
#[cfg(test)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Plugins {
    pub jwt: bool,
    pub two_factor: bool,
}

#[cfg(test)]
impl Schema {
    pub fn better_auth(plugins: Plugins) -> Schema {
        let mut schema = Schema::core();
        if plugins.jwt {
            crate::plugins::jwt::add_jwks_table(&mut schema);
        }
        if plugins.two_factor {
            crate::plugins::two_factor::add_tables(&mut schema);
        }
        schema
    }
}
