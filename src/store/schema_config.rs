//! `[schema]` in palisade.toml: Better Auth's per-model `modelName`, `fields` (renames) and
//! `additionalFields`, and `advanced.database.generateId` as `id_strategy`. Checked as the
//! configuration loads, so a typo is an error that names the model and field, never a silent
//! no-op.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::Value;
use super::schema::{Field, FieldType, IdStrategy, Model, OnDelete, Reference, Schema, parse_date, value_from_json};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(try_from = "RawSchema")]
pub struct SchemaConfig {
    pub id_strategy: IdStrategy,
    /// By logical model name (`user`, `twoFactor`, …); written `[schema.user]`,
    /// `[schema.two_factor]`.
    #[serde(flatten)]
    pub models: BTreeMap<String, ModelConfig>,
}

/// `[schema]` as written, before [`SchemaConfig::check`].
#[derive(Default)]
struct RawSchema {
    id_strategy: IdStrategy,
    models: BTreeMap<String, ModelConfig>,
}

/// Read key by key (not through `flatten`, which buffers): an ill-typed value deeper down is
/// reported with its full key, e.g. `schema.user.additional_fields.role.unique`.
impl<'de> Deserialize<'de> for RawSchema {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawSchema;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of `id_strategy` and one table per model")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawSchema, A::Error> {
                let mut raw = RawSchema::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "id_strategy" {
                        raw.id_strategy = map.next_value()?;
                    } else {
                        raw.models.insert(key, map.next_value()?);
                    }
                }
                Ok(raw)
            }
        }
        d.deserialize_map(Visitor)
    }
}

/// `two_factor` → `twoFactor`: the logical name of a model written in snake case.
fn logical_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

impl TryFrom<RawSchema> for SchemaConfig {
    type Error = SchemaConfigError;

    fn try_from(r: RawSchema) -> Result<Self, SchemaConfigError> {
        let models = r.models.into_iter().map(|(k, v)| (logical_name(&k), v)).collect();
        let cfg = SchemaConfig { id_strategy: r.id_strategy, models };
        cfg.check()?;
        Ok(cfg)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// The table's name (Better Auth's `modelName`).
    pub model_name: Option<String>,
    /// Logical field name → column name (Better Auth's `fields`); additional fields too.
    pub fields: BTreeMap<String, String>,
    /// Better Auth's `additionalFields`, by logical name. They follow the model's own fields
    /// in alphabetical order (TOML tables carry no order).
    pub additional_fields: BTreeMap<String, FieldConfig>,
}

fn yes() -> bool {
    true
}

fn id() -> String {
    "id".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    /// string | number | boolean | date | json | string[] | number[]
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Must be given on sign-up unless there is a default; `not null` in new tables.
    #[serde(default)]
    pub required: bool,
    /// A value of the field's type, written on create when the field is absent.
    #[serde(default)]
    pub default: Option<Json>,
    /// `false`: clients can never set it; it gets its default.
    #[serde(default = "yes")]
    pub input: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub references: Option<ReferenceConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceConfig {
    /// Logical model name (`user`, `session`, …).
    pub model: String,
    #[serde(default = "id")]
    pub field: String,
    #[serde(default)]
    pub on_delete: OnDelete,
}

/// A `[schema]` mistake, naming the model and field.
#[derive(Debug, thiserror::Error)]
pub enum SchemaConfigError {
    #[error("[schema] model {model}: {problem}")]
    Model { model: String, problem: ModelProblem },
    #[error("[schema] model {0}: no such table")]
    NoSuchModel(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ModelProblem {
    #[error("model_name is empty")]
    EmptyModelName,
    #[error("additional field {0} is already a field of the model")]
    AlreadyAField(String),
    #[error("additional field {field}: {problem}")]
    AdditionalField { field: String, problem: FieldProblem },
    #[error("fields: {0} is not a field of the model")]
    UnknownField(String),
    #[error("fields: the column of {0} is empty")]
    EmptyColumn(String),
}

#[derive(Debug, thiserror::Error)]
pub enum FieldProblem {
    #[error("{0:?} is not a date-time with a time zone")]
    NotADateTime(String),
    #[error("element {index} of the default is not a {expected}")]
    ElementNotA { index: usize, expected: &'static str },
    #[error("the default is not a {0}")]
    DefaultNotA(&'static str),
    #[error("required with input = false needs a default")]
    RequiredWithoutDefault,
    #[error("references an unknown model {0}")]
    UnknownReference(String),
}

/// A configured default as a stored value. TOML date-times reach here as figment's
/// `{"$__toml_private_datetime": "…"}`.
fn default_value(ty: FieldType, v: &Json) -> Result<Value, FieldProblem> {
    if let (FieldType::Date, Some(s)) = (ty, v.get("$__toml_private_datetime").and_then(Json::as_str)) {
        return parse_date(s).map(Value::Date).ok_or_else(|| FieldProblem::NotADateTime(s.to_string()));
    }
    value_from_json(ty, v).map_err(|m| match m.index {
        Some(index) => FieldProblem::ElementNotA { index, expected: m.expected },
        None => FieldProblem::DefaultNotA(m.expected),
    })
}

impl SchemaConfig {
    /// What can be checked as the configuration loads: the core tables' fields, and the
    /// plain mistakes in any table's section. Plugin tables are checked against the built
    /// schema ([`Schema::configure`]).
    fn check(&self) -> Result<(), SchemaConfigError> {
        let core = Schema::core();
        for (name, mc) in &self.models {
            let checked = match core.model(name) {
                Ok(model) => mc.check(model, &core),
                Err(_) => mc.check_plain(),
            };
            checked.map_err(|problem| SchemaConfigError::Model { model: name.clone(), problem })?;
        }
        Ok(())
    }
}

impl ModelConfig {
    fn check_plain(&self) -> Result<(), ModelProblem> {
        if self.model_name.as_deref().is_some_and(str::is_empty) {
            return Err(ModelProblem::EmptyModelName);
        }
        if let Some((logical, _)) = self.fields.iter().find(|(_, column)| column.is_empty()) {
            return Err(ModelProblem::EmptyColumn(logical.clone()));
        }
        Ok(())
    }

    fn check(&self, model: &Model, full: &Schema) -> Result<(), ModelProblem> {
        self.check_plain()?;
        for (name, fc) in &self.additional_fields {
            if model.field(name).is_ok() {
                return Err(ModelProblem::AlreadyAField(name.clone()));
            }
            fc.check(full).map_err(|problem| ModelProblem::AdditionalField { field: name.clone(), problem })?;
        }
        for logical in self.fields.keys() {
            if model.field(logical).is_err() && !self.additional_fields.contains_key(logical) {
                return Err(ModelProblem::UnknownField(logical.clone()));
            }
        }
        Ok(())
    }

    fn apply(&self, m: &mut Model) {
        if let Some(table) = &self.model_name {
            m.table = table.clone();
        }
        m.fields.extend(self.additional_fields.iter().map(|(name, fc)| fc.field(name)));
        for (logical, column) in &self.fields {
            if let Some(f) = m.field_mut(logical) {
                f.column = column.clone();
            }
        }
    }
}

impl FieldConfig {
    fn check(&self, full: &Schema) -> Result<(), FieldProblem> {
        if let Some(d) = &self.default {
            default_value(self.ty, d)?;
        }
        if self.required && !self.input && self.default.is_none() {
            return Err(FieldProblem::RequiredWithoutDefault);
        }
        if let Some(r) = &self.references {
            full.model(&r.model).map_err(|_| FieldProblem::UnknownReference(r.model.clone()))?;
        }
        Ok(())
    }

    fn field(&self, name: &str) -> Field {
        let mut f = Field::new(name, self.ty, self.required);
        f.unique = self.unique;
        f.additional = true;
        f.input = self.input;
        // Checked when the configuration loaded.
        f.default = self.default.as_ref().and_then(|d| default_value(self.ty, d).ok());
        f.references = self.references.as_ref().map(|r| Reference {
            model: r.model.clone(),
            field: r.field.clone(),
            on_delete: r.on_delete,
        });
        f
    }
}

impl Schema {
    /// Shapes the core and plugin tables by `[schema]`. A section for a table no enabled
    /// plugin has is an error (a typo, or configuration left for a plugin turned off).
    pub fn configure(&mut self, cfg: &SchemaConfig) -> Result<(), SchemaConfigError> {
        let full = self.clone();
        for (name, mc) in &cfg.models {
            let model = full.model(name).map_err(|_| SchemaConfigError::NoSuchModel(name.clone()))?;
            mc.check(model, &full).map_err(|problem| SchemaConfigError::Model { model: name.clone(), problem })?;
            if let Some(m) = self.models.iter_mut().find(|m| &m.name == name) {
                mc.apply(m);
            }
        }
        self.set_ids(cfg.id_strategy);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;
    use crate::store::migrate;
    use crate::store::schema::KeyType;
    use crate::store::schema::Plugins;
    use crate::store::sql::Dialect;

    fn load(toml: &str) -> Result<SchemaConfig, String> {
        Figment::from(Toml::string(toml)).extract().map_err(|e| e.to_string())
    }

    const ALL: Plugins = Plugins { jwt: true, two_factor: true };

    fn configured(plugins: Plugins, cfg: &SchemaConfig) -> Schema {
        let mut schema = Schema::better_auth(plugins);
        schema.configure(cfg).unwrap();
        schema
    }

    #[test]
    fn no_configuration_changes_nothing() {
        for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
            let configured = configured(ALL, &load("").unwrap());
            assert_eq!(migrate::generate(d, &configured), migrate::generate(d, &Schema::better_auth(ALL)));
        }
        let sqlite = migrate::generate(Dialect::Sqlite, &configured(ALL, &SchemaConfig::default()));
        assert_eq!(
            sqlite[1],
            "create table \"session\" (\"id\" text not null primary key, \"expiresAt\" date not null, \"token\" text \
             not null unique, \"createdAt\" date not null, \"updatedAt\" date not null, \"ipAddress\" text, \
             \"userAgent\" text, \"userId\" text not null references \"user\" (\"id\") on delete cascade)"
        );
    }

    #[test]
    fn mistakes_name_the_model_and_field() {
        let cases = [
            ("[user]\nfields = { nope = \"x\" }", "model user: fields: nope is not a field of the model"),
            ("[user.additional_fields.email]\ntype = \"string\"", "additional field email is already a field"),
            ("[session.additional_fields.n]\ntype = \"number\"\ndefault = \"x\"", "n: the default is not a number"),
            (
                "[user.additional_fields.t]\ntype = \"string[]\"\ndefault = [1]",
                "element 0 of the default is not a string",
            ),
            ("[user.additional_fields.r]\ntype = \"string\"\nrequired = true\ninput = false", "needs a default"),
            ("[user.additional_fields.o]\ntype = \"string\"\nreferences = { model = \"org\" }", "unknown model org"),
            ("[user.additional_fields.a]\ntype = \"string\"\nindex = true", "index"),
            ("[two_factor]\nmodel_name = \"\"", "model twoFactor: model_name is empty"),
        ];
        for (toml, says) in cases {
            let err = load(toml).unwrap_err();
            assert!(err.contains(says), "{toml}: {err}");
        }
    }

    #[test]
    fn an_ill_typed_value_is_named_by_its_full_key() {
        let err = load("[user.additional_fields.role]\ntype = \"string\"\nunique = \")5\"").unwrap_err();
        assert!(err.contains("user.additional_fields.role.unique"), "{err}");
    }

    #[test]
    fn configured_fields_are_typed() {
        let cfg = load(
            "id_strategy = \"serial\"\n\
             [user]\nmodel_name = \"users\"\nfields = { email = \"mail\", born = \"birth\" }\n\
             [user.additional_fields.born]\ntype = \"date\"\ndefault = 2000-01-02T03:04:05Z\n\
             [user.additional_fields.seen]\ntype = \"date\"\ndefault = \"2001-02-03\"\n\
             [session.additional_fields.owner]\ntype = \"string\"\nreferences = { model = \"user\" }\n",
        )
        .unwrap();
        let schema = configured(Plugins::default(), &cfg);
        let user = schema.model("user").unwrap();
        assert_eq!((user.table.as_str(), user.field("email").unwrap().column.as_str()), ("users", "mail"));
        let born = user.field("born").unwrap();
        assert_eq!(born.column, "birth");
        assert_eq!(born.default, parse_date("2000-01-02T03:04:05Z").map(Value::Date));
        assert_eq!(user.field("seen").unwrap().default, parse_date("2001-02-03T00:00:00Z").map(Value::Date));
        let owner = schema.model("session").unwrap().field("owner").unwrap();
        assert_eq!(owner.key, Some(KeyType::Integer), "references to ids follow the strategy");
    }
}
