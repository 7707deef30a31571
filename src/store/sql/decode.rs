//! Rows decoded into [`Record`]s, each value typed by its field as the dialect stores it.

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::mysql::MySqlRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::db_err;
use crate::store::schema::Field;
use crate::store::{FieldType, Record, StoreResult, Value};

fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok().map(|n| n.and_utc()))
}

fn text_date(s: String) -> StoreResult<Value> {
    parse_date(&s).map(Value::Date).ok_or_else(|| db_err(format!("bad date {s:?}")))
}

pub(super) fn get<'r, T, R>(row: &'r R, idx: usize) -> StoreResult<T>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    row.try_get::<T, _>(idx).map_err(db_err)
}

fn is_int(ty: &str) -> bool {
    ty.contains("INT")
}

/// JSON text of a `json`/array field; text that is not JSON is kept as a string.
fn json_value(s: String) -> Value {
    serde_json::from_str(&s).map(Value::Json).unwrap_or(Value::Text(s))
}

pub(super) fn decode_sqlite(row: &SqliteRow, idx: usize, field: &Field) -> StoreResult<Value> {
    let raw = row.try_get_raw(idx).map_err(db_err)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let int = is_int(&raw.type_info().name().to_ascii_uppercase());
    Ok(match field.ty {
        FieldType::Json | FieldType::StringArray | FieldType::NumberArray => json_value(get(row, idx)?),
        FieldType::String if int => Value::Text(get::<i64, _>(row, idx)?.to_string()),
        FieldType::String => Value::Text(get(row, idx)?),
        FieldType::Number => Value::Int(get(row, idx)?),
        FieldType::Boolean if int => Value::Bool(get::<i64, _>(row, idx)? != 0),
        FieldType::Boolean => Value::Bool(get::<String, _>(row, idx)? == "true"),
        FieldType::Date if int => DateTime::from_timestamp_millis(get(row, idx)?).map_or(Value::Null, Value::Date),
        FieldType::Date => text_date(get(row, idx)?)?,
    })
}

pub(super) fn decode_pg(row: &PgRow, idx: usize, field: &Field) -> StoreResult<Value> {
    let raw = row.try_get_raw(idx).map_err(db_err)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let ty = raw.type_info().name().to_ascii_uppercase();
    Ok(match field.ty {
        FieldType::Json | FieldType::StringArray | FieldType::NumberArray => json_value(get(row, idx)?),
        // Integer ids (serial) are strings everywhere but in their columns.
        FieldType::String => Value::Text(match ty.as_str() {
            "INT2" => get::<i16, _>(row, idx)?.to_string(),
            "INT4" => get::<i32, _>(row, idx)?.to_string(),
            "INT8" => get::<i64, _>(row, idx)?.to_string(),
            _ => get(row, idx)?,
        }),
        FieldType::Number => Value::Int(match ty.as_str() {
            "INT2" => i64::from(get::<i16, _>(row, idx)?),
            "INT4" => i64::from(get::<i32, _>(row, idx)?),
            _ => get::<i64, _>(row, idx)?,
        }),
        FieldType::Boolean => Value::Bool(get(row, idx)?),
        FieldType::Date => match ty.as_str() {
            "TIMESTAMPTZ" => Value::Date(get(row, idx)?),
            "TIMESTAMP" => Value::Date(get::<NaiveDateTime, _>(row, idx)?.and_utc()),
            _ => text_date(get(row, idx)?)?,
        },
    })
}

pub(super) fn decode_mysql(row: &MySqlRow, idx: usize, field: &Field) -> StoreResult<Value> {
    let raw = row.try_get_raw(idx).map_err(db_err)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let ty = raw.type_info().name().to_ascii_uppercase();
    Ok(match field.ty {
        FieldType::Json | FieldType::StringArray | FieldType::NumberArray => json_value(get(row, idx)?),
        FieldType::String if is_int(&ty) => Value::Text(get::<i64, _>(row, idx)?.to_string()),
        FieldType::String => Value::Text(get(row, idx)?),
        FieldType::Number => Value::Int(match ty.as_str() {
            "BIGINT" => get::<i64, _>(row, idx)?,
            "TINYINT" | "BOOLEAN" => i64::from(get::<i8, _>(row, idx)?),
            "SMALLINT" => i64::from(get::<i16, _>(row, idx)?),
            _ => i64::from(get::<i32, _>(row, idx)?),
        }),
        FieldType::Boolean => Value::Bool(match ty.as_str() {
            "BOOLEAN" => get::<bool, _>(row, idx)?,
            _ => get::<i8, _>(row, idx)? != 0,
        }),
        FieldType::Date => match ty.as_str() {
            "TIMESTAMP" => Value::Date(get(row, idx)?),
            "DATETIME" => Value::Date(get::<NaiveDateTime, _>(row, idx)?.and_utc()),
            _ => text_date(get(row, idx)?)?,
        },
    })
}

pub(super) fn records<R>(
    rows: Vec<R>,
    fields: &[Field],
    decode: fn(&R, usize, &Field) -> StoreResult<Value>,
) -> StoreResult<Vec<Record>> {
    rows.iter()
        .map(|row| {
            let mut rec = Record(Vec::with_capacity(fields.len()));
            for (i, f) in fields.iter().enumerate() {
                rec.0.push((f.name.clone(), decode(row, i, f)?));
            }
            Ok(rec)
        })
        .collect()
}

pub(super) fn raw_records<R: Row>(
    rows: Vec<R>,
    decode: fn(&R, usize, &Field) -> StoreResult<Value>,
) -> StoreResult<Vec<Record>> {
    let text = Field::new("", FieldType::String, false);
    rows.iter()
        .map(|row| {
            let cols = row.columns().iter().enumerate();
            cols.map(|(i, c)| Ok((c.name().to_string(), decode(row, i, &text)?)))
                .collect::<StoreResult<_>>()
                .map(Record)
        })
        .collect()
}

/// Picks the row decoder from the connection type.
pub(super) trait Decoder {
    type Row;
    fn decoder(&self) -> fn(&Self::Row, usize, &Field) -> StoreResult<Value>;
}
impl Decoder for sqlx::SqliteConnection {
    type Row = SqliteRow;
    fn decoder(&self) -> fn(&SqliteRow, usize, &Field) -> StoreResult<Value> {
        decode_sqlite
    }
}
impl Decoder for sqlx::PgConnection {
    type Row = PgRow;
    fn decoder(&self) -> fn(&PgRow, usize, &Field) -> StoreResult<Value> {
        decode_pg
    }
}
impl Decoder for sqlx::MySqlConnection {
    type Row = MySqlRow;
    fn decoder(&self) -> fn(&MySqlRow, usize, &Field) -> StoreResult<Value> {
        decode_mysql
    }
}
pub(super) fn decode_for<C: Decoder>(c: &C) -> fn(&C::Row, usize, &Field) -> StoreResult<Value> {
    c.decoder()
}
