//! Schema creation and additive migration, per dialect. The DDL reproduces what Better Auth's
//! own migration creates (WIRE.md §15.1, §15.5): same names, types, constraints and indexes,
//! so Better Auth and Palisade can share one database.

use super::schema::{Field, Model};
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

fn column_type(d: Dialect, f: &Field) -> &'static str {
    match (d, f.ty) {
        (Dialect::Sqlite, FieldType::String) => "text",
        (Dialect::Sqlite, FieldType::Number | FieldType::Boolean) => "integer",
        (Dialect::Sqlite, FieldType::Date) => "date",
        (Dialect::Postgres, FieldType::String) => "text",
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
    if f.unique && !adding {
        s.push_str(" unique");
    }
    if let (Some(r), false) = (&f.references, d == Dialect::Mysql) {
        let (table, col) = target(schema, r);
        s.push_str(&format!(" references {} ({})", quote(d, &table), quote(d, &col)));
        if r.cascade {
            s.push_str(" on delete cascade");
        }
    }
    s
}

fn target(schema: &Schema, r: &super::schema::Reference) -> (String, String) {
    schema
        .model(&r.model)
        .ok()
        .and_then(|m| m.field(&r.field).ok().map(|f| (m.table.clone(), f.column.clone())))
        .unwrap_or_else(|| (r.model.clone(), r.field.clone()))
}

fn create_table(d: Dialect, m: &Model, schema: &Schema) -> String {
    let mut parts: Vec<String> = m.fields.iter().map(|f| column_def(d, m, f, schema, false)).collect();
    if d == Dialect::Mysql {
        // InnoDB ignores inline REFERENCES: foreign keys must be table constraints.
        for f in &m.fields {
            if let Some(r) = &f.references {
                let (table, col) = target(schema, r);
                let cascade = if r.cascade { " on delete cascade" } else { "" };
                parts.push(format!(
                    "foreign key ({}) references {} ({}){cascade}",
                    quote(d, &f.column),
                    quote(d, &table),
                    quote(d, &col)
                ));
            }
        }
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
                out.push(format!(
                    "alter table {} add column {}",
                    quote(d, &m.table),
                    column_def(d, m, f, schema, true)
                ));
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
