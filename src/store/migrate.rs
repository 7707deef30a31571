//! Schema creation and additive migration. The SQLite DDL reproduces Better Auth's own
//! migration text (WIRE.md §15.1), so tools that read `sqlite_master` see the same schema.

use sqlx::Row;
use sqlx::sqlite::SqlitePool;

use super::schema::{Field, Model};
use super::{FieldType, Schema, StoreError, StoreResult};

fn sqlite_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String => "text",
        FieldType::Number | FieldType::Boolean => "integer",
        FieldType::Date => "date",
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column_def(f: &Field, schema: &Schema) -> String {
    let mut s = format!("{} {}", quote(&f.column), sqlite_type(f.ty));
    if f.required {
        s.push_str(" not null");
    }
    if f.name == "id" {
        s.push_str(" primary key");
    }
    if f.unique {
        s.push_str(" unique");
    }
    if let Some(r) = &f.references {
        let (table, col) = schema
            .model(&r.model)
            .ok()
            .and_then(|m| {
                m.field(&r.field)
                    .ok()
                    .map(|f| (m.table.clone(), f.column.clone()))
            })
            .unwrap_or_else(|| (r.model.clone(), r.field.clone()));
        s.push_str(&format!(" references {} ({})", quote(&table), quote(&col)));
        if r.cascade {
            s.push_str(" on delete cascade");
        }
    }
    s
}

fn create_table(m: &Model, schema: &Schema) -> String {
    let cols: Vec<String> = m.fields.iter().map(|f| column_def(f, schema)).collect();
    format!("CREATE TABLE {} ({})", quote(&m.table), cols.join(", "))
}

fn index_name(m: &Model, f: &Field) -> String {
    format!("{}_{}_idx", m.table, f.column)
}

fn create_index(m: &Model, f: &Field) -> String {
    format!(
        "CREATE INDEX {} on {} ({})",
        quote(&index_name(m, f)),
        quote(&m.table),
        quote(&f.column)
    )
}

/// Every statement that creates the schema from nothing (`palisade generate`).
pub fn generate(schema: &Schema) -> Vec<String> {
    let mut out: Vec<String> = schema
        .models
        .iter()
        .map(|m| create_table(m, schema))
        .collect();
    for m in &schema.models {
        out.extend(
            m.fields
                .iter()
                .filter(|f| f.index)
                .map(|f| create_index(m, f)),
        );
    }
    out
}

/// What the live database lacks: missing tables, columns and indexes. Never drops anything.
pub async fn plan(pool: &SqlitePool, schema: &Schema) -> StoreResult<Vec<String>> {
    let err = |e: sqlx::Error| StoreError::Database(e.to_string());
    let tables: Vec<String> = sqlx::query("select name from sqlite_master where type='table'")
        .fetch_all(pool)
        .await
        .map_err(err)?
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    let indexes: Vec<String> = sqlx::query("select name from sqlite_master where type='index'")
        .fetch_all(pool)
        .await
        .map_err(err)?
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    let mut out = Vec::new();
    for m in &schema.models {
        if !tables.contains(&m.table) {
            out.push(create_table(m, schema));
        } else {
            let sql = format!("PRAGMA table_info({})", quote(&m.table));
            let cols: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .map_err(err)?
                .iter()
                .map(|r| r.get::<String, _>("name"))
                .collect();
            for f in m.fields.iter().filter(|f| !cols.contains(&f.column)) {
                // SQLite cannot add a NOT NULL column without a default: add it nullable.
                let def = column_def(
                    &Field {
                        required: false,
                        unique: false,
                        ..f.clone()
                    },
                    schema,
                );
                out.push(format!("ALTER TABLE {} ADD COLUMN {def}", quote(&m.table)));
            }
        }
        for f in m
            .fields
            .iter()
            .filter(|f| f.index && !indexes.contains(&index_name(m, f)))
        {
            out.push(create_index(m, f));
        }
    }
    Ok(out)
}

/// Applies the plan in one transaction; returns the statements it ran.
pub async fn migrate(pool: &SqlitePool, schema: &Schema) -> StoreResult<Vec<String>> {
    let steps = plan(pool, schema).await?;
    if steps.is_empty() {
        return Ok(steps);
    }
    let err = |e: sqlx::Error| StoreError::Database(e.to_string());
    let mut tx = pool.begin().await.map_err(err)?;
    for s in &steps {
        sqlx::query(sqlx::AssertSqlSafe(s.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
    }
    tx.commit().await.map_err(err)?;
    Ok(steps)
}
