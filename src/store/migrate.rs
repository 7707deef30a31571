//! Schema creation and additive migration, per dialect. The DDL reproduces what Better Auth's
//! own migration creates (WIRE.md §15.1, §15.5): same names, types, constraints and indexes,
//! so Better Auth and Palisade can share one database.

use super::schema::{Field, KeyType, Model, Reference};
use super::sql::{Dialect, Pool};
use super::{FieldType, Schema, StoreResult};

fn quote(d: Dialect, name: &str) -> String {
    match d {
        Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// Better Auth gives these columns a database default of the current time.
fn defaults_to_now(model: &Model, f: &Field) -> bool {
    let m = model.name.as_str();
    (f.name == "createdAt" && ["user", "session", "account", "verification"].contains(&m))
        || (f.name == "updatedAt" && ["user", "verification"].contains(&m))
}

/// Ids and references to them under the `uuid`, `serial` and `database` strategies.
fn key_type(d: Dialect, f: &Field) -> Option<&'static str> {
    Some(match (f.key?, d) {
        (KeyType::Text, _) => return None,
        (KeyType::Integer, Dialect::Postgres) if f.name == "id" => "serial",
        (KeyType::Integer, _) => "integer",
        (KeyType::Uuid, Dialect::Postgres) => "uuid",
        (KeyType::Uuid, Dialect::Mysql) => "varchar(36)",
        (KeyType::Uuid, Dialect::Sqlite) => "text",
    })
}

/// The rest of a database-generated integer primary key, per dialect.
fn serial_key(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => " primary key autoincrement",
        Dialect::Postgres => " not null primary key",
        Dialect::Mysql => " not null auto_increment primary key",
    }
}

fn column_type(d: Dialect, f: &Field) -> &'static str {
    if let Some(t) = key_type(d, f) {
        return t;
    }
    use FieldType::{Json, NumberArray, StringArray};
    match (d, f.ty) {
        (Dialect::Sqlite, Json | StringArray | NumberArray) => "text",
        (Dialect::Postgres, Json | StringArray | NumberArray) => "jsonb",
        (Dialect::Mysql, Json | StringArray | NumberArray) => "json",
        (Dialect::Sqlite, FieldType::String) => "text",
        (Dialect::Sqlite, FieldType::Number | FieldType::Boolean) => "integer",
        (Dialect::Sqlite, FieldType::Date) => "date",
        (Dialect::Postgres, FieldType::String) => "text",
        (Dialect::Postgres | Dialect::Mysql, FieldType::Number) if f.bigint => "bigint",
        (Dialect::Postgres, FieldType::Number) => "integer",
        (Dialect::Postgres, FieldType::Boolean) => "boolean",
        (Dialect::Postgres, FieldType::Date) => "timestamptz",
        // MySQL needs bounded strings for keys and indexes.
        (Dialect::Mysql, FieldType::String) if f.name == "id" || f.references.is_some() => "varchar(36)",
        (Dialect::Mysql, FieldType::String)
            if f.unique || f.index || ["name", "email", "token"].contains(&f.name.as_str()) =>
        {
            "varchar(255)"
        }
        (Dialect::Mysql, FieldType::String) => "text",
        (Dialect::Mysql, FieldType::Number) => "integer",
        (Dialect::Mysql, FieldType::Boolean) => "tinyint(1)",
        (Dialect::Mysql, FieldType::Date) => "timestamp(3)",
    }
}

fn column_def(d: Dialect, model: &Model, f: &Field, schema: &Schema, adding: bool) -> String {
    let mut s = format!("{} {}", quote(d, &f.column), column_type(d, f));
    if f.name == "id" && f.key == Some(KeyType::Integer) {
        return s + serial_key(d);
    }
    if f.name == "id" && f.key == Some(KeyType::Uuid) && d == Dialect::Postgres {
        // Rows written by other programs get one too (Better Auth leaves uuids to PostgreSQL).
        s.push_str(" default gen_random_uuid()");
    }
    let now = defaults_to_now(model, f) && d != Dialect::Sqlite;
    if now {
        s.push_str(if d == Dialect::Mysql { " default current_timestamp(3)" } else { " default CURRENT_TIMESTAMP" });
    }
    // A column added to an existing table cannot be NOT NULL without a default.
    if f.required && (!adding || now) {
        s.push_str(" not null");
    } else if d == Dialect::Mysql && f.ty == FieldType::Date {
        s.push_str(" null");
    }
    if f.name == "id" {
        s.push_str(" primary key");
    }
    // SQLite cannot add a UNIQUE column to a table: `add_column` adds a unique index instead.
    if f.unique && !(adding && d == Dialect::Sqlite) {
        s.push_str(" unique");
    }
    if let (Some(r), false) = (&f.references, d == Dialect::Mysql) {
        let (table, col) = target(schema, r);
        s.push_str(&format!(" references {} ({}) on delete {}", quote(d, &table), quote(d, &col), r.on_delete.sql()));
    }
    s
}

/// InnoDB ignores inline REFERENCES: on MySQL foreign keys are table constraints.
fn foreign_key(d: Dialect, f: &Field, r: &Reference, schema: &Schema) -> String {
    let (table, col) = target(schema, r);
    format!(
        "foreign key ({}) references {} ({}) on delete {}",
        quote(d, &f.column),
        quote(d, &table),
        quote(d, &col),
        r.on_delete.sql()
    )
}

/// A column missing from an existing table, with its unique index and foreign key where the
/// dialect cannot declare them in the column.
fn add_column(d: Dialect, m: &Model, f: &Field, schema: &Schema) -> Vec<String> {
    let table = quote(d, &m.table);
    let mut out = vec![format!("alter table {table} add column {}", column_def(d, m, f, schema, true))];
    if f.unique && d == Dialect::Sqlite {
        let name = quote(d, &format!("{}_{}_key", m.table, f.column));
        out.push(format!("create unique index {name} on {table} ({})", quote(d, &f.column)));
    }
    if let (Some(r), Dialect::Mysql) = (&f.references, d) {
        out.push(format!("alter table {table} add {}", foreign_key(d, f, r, schema)));
    }
    out
}

fn target(schema: &Schema, r: &Reference) -> (String, String) {
    schema
        .model(&r.model)
        .ok()
        .and_then(|m| m.field(&r.field).ok().map(|f| (m.table.clone(), f.column.clone())))
        .unwrap_or_else(|| (r.model.clone(), r.field.clone()))
}

fn create_table(d: Dialect, m: &Model, schema: &Schema) -> String {
    let mut parts: Vec<String> = m.fields.iter().map(|f| column_def(d, m, f, schema, false)).collect();
    if d == Dialect::Mysql {
        parts.extend(m.fields.iter().filter_map(|f| f.references.as_ref().map(|r| foreign_key(d, f, r, schema))));
    }
    let suffix = if d == Dialect::Mysql { " engine=InnoDB default charset=utf8mb4" } else { "" };
    format!("create table {} ({}){suffix}", quote(d, &m.table), parts.join(", "))
}

fn index_name(m: &Model, f: &Field) -> String {
    format!("{}_{}_idx", m.table, f.column)
}

fn create_index(d: Dialect, m: &Model, f: &Field) -> String {
    format!("create index {} on {} ({})", quote(d, &index_name(m, f)), quote(d, &m.table), quote(d, &f.column))
}

/// Every statement that creates the schema from nothing (`palisade generate`).
pub fn generate(d: Dialect, schema: &Schema) -> Vec<String> {
    let mut out: Vec<String> = schema.models.iter().map(|m| create_table(d, m, schema)).collect();
    for m in &schema.models {
        out.extend(m.fields.iter().filter(|f| f.index).map(|f| create_index(d, m, f)));
    }
    out
}

const TABLES: [&str; 3] = [
    "select name from sqlite_master where type = 'table'",
    "select table_name::text from information_schema.tables where table_schema = current_schema()",
    "select table_name from information_schema.tables where table_schema = database()",
];
const COLUMNS: [&str; 3] = [
    "select name from pragma_table_info(?)",
    "select column_name::text from information_schema.columns where table_schema = current_schema() and table_name = $1",
    "select column_name from information_schema.columns where table_schema = database() and table_name = ?",
];
const INDEXES: [&str; 3] = [
    "select name from sqlite_master where type = 'index'",
    "select indexname::text from pg_indexes where schemaname = current_schema()",
    "select distinct index_name from information_schema.statistics where table_schema = database()",
];

fn pick(d: Dialect, q: &[&'static str; 3]) -> &'static str {
    match d {
        Dialect::Sqlite => q[0],
        Dialect::Postgres => q[1],
        Dialect::Mysql => q[2],
    }
}

/// What the live database lacks: missing tables, columns and indexes. Never drops or
/// rewrites anything.
pub async fn plan(pool: &Pool, schema: &Schema) -> StoreResult<Vec<String>> {
    let d = pool.dialect();
    let tables = pool.strings(pick(d, &TABLES), None).await?;
    let indexes = pool.strings(pick(d, &INDEXES), None).await?;
    let mut out = Vec::new();
    for m in &schema.models {
        if !tables.contains(&m.table) {
            out.push(create_table(d, m, schema));
        } else {
            let cols = pool.strings(pick(d, &COLUMNS), Some(&m.table)).await?;
            for f in m.fields.iter().filter(|f| !cols.contains(&f.column)) {
                out.extend(add_column(d, m, f, schema));
            }
        }
        for f in m.fields.iter().filter(|f| f.index && !indexes.contains(&index_name(m, f))) {
            out.push(create_index(d, m, f));
        }
    }
    Ok(out)
}

/// Applies the plan, reporting each statement before it runs; returns what it ran.
pub async fn migrate(pool: &Pool, schema: &Schema, progress: impl Fn(&str)) -> StoreResult<Vec<String>> {
    let steps = plan(pool, schema).await?;
    for s in &steps {
        progress(s);
        pool.execute_raw(s).await?;
    }
    Ok(steps)
}
