//! Running built statements with sqlx on each backend, and decoding rows into [`Record`]s.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_query::Values;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Column, Row, TypeInfo, ValueRef};
use tokio::sync::Mutex;

use super::{Dialect, db_err};
use crate::store::schema::Field;
use crate::store::{FieldType, Record, StoreError, StoreResult, Value};

/// Runs statements on a pool or inside a transaction.
#[async_trait]
pub trait Exec: Send + Sync {
    async fn fetch(&self, sql: String, values: Values, fields: &[Field]) -> StoreResult<Vec<Record>>;
    async fn count(&self, sql: String, values: Values) -> StoreResult<i64>;
    async fn exec(&self, sql: String, values: Values) -> StoreResult<u64>;
    /// Runs an INSERT; with `id`, returns the id the database generated for the row.
    async fn insert(&self, sql: String, values: Values, id: Option<&Field>) -> StoreResult<Option<Value>>;
    /// Rows of configured SQL (hooks), by column name; integers and text are read, as text.
    async fn fetch_raw(&self, sql: String, values: Values) -> StoreResult<Vec<Record>>;
}

#[derive(Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    Mysql(MySqlPool),
}

/// Opens a pool for `sqlite://…` (created if missing, WAL), `postgres://…` or `mysql://…`.
/// Switching a file to WAL needs a moment without other writers; another process that holds
/// the file (Better Auth beside Palisade during a migration) answers "database is locked"
/// even with a busy timeout, so opening waits and retries for up to ten seconds.
async fn connect_sqlite(pool: SqlitePoolOptions, opts: SqliteConnectOptions) -> StoreResult<sqlx::SqlitePool> {
    let mut attempt = 0;
    loop {
        match pool.clone().connect_with(opts.clone()).await {
            // SQLITE_BUSY and its extended codes (the low byte is 5).
            Err(sqlx::Error::Database(e))
                if e.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| c & 0xff == 5) && attempt < 50 =>
            {
                attempt += 1;
                tracing::warn!(attempt, "the SQLite file is locked by another process; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other.map_err(db_err),
        }
    }
}

pub async fn open(url: &str) -> StoreResult<Pool> {
    let dialect = Dialect::from_url(url)
        .ok_or_else(|| db_err(format!("unsupported database URL {url:?} (sqlite://, postgres://, mysql://)")))?;
    Ok(match dialect {
        Dialect::Sqlite => {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(db_err)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(false);
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let pool_options = SqlitePoolOptions::new()
                // An in-memory database lives in one connection; a file is shared by several.
                .max_connections(if memory { 1 } else { 8 })
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            Pool::Sqlite(connect_sqlite(pool_options, opts).await?)
        }
        Dialect::Postgres => Pool::Postgres(
            PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(db_err)?,
        ),
        Dialect::Mysql => {
            // Timestamps are exchanged in UTC, as Better Auth writes them.
            let pool = MySqlPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .after_connect(|conn, _| {
                    Box::pin(async move { sqlx::Executor::execute(conn, "SET time_zone = '+00:00'").await.map(|_| ()) })
                })
                .connect(url)
                .await
                .map_err(db_err)?;
            Pool::Mysql(pool)
        }
    })
}

pub fn map_sqlx(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match e {
        E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
            StoreError::Unavailable(format!("database ({e})"))
        }
        _ => match e.as_database_error() {
            Some(d) if d.is_unique_violation() => StoreError::Unique(d.message().to_string()),
            _ => db_err(e),
        },
    }
}

/// Binds sea-query's values in order; typed nulls stay typed.
macro_rules! bind_values {
    ($sql:expr, $values:expr) => {{
        // The SQL text comes from sea-query, with every value bound as a parameter.
        let mut q = sqlx::query(sqlx::AssertSqlSafe($sql));
        for v in $values.0 {
            use sea_query::Value as Q;
            q = match v {
                Q::Bool(b) => q.bind(b),
                Q::TinyInt(i) => q.bind(i.map(i64::from)),
                Q::SmallInt(i) => q.bind(i.map(i64::from)),
                Q::Int(i) => q.bind(i.map(i64::from)),
                Q::BigInt(i) => q.bind(i),
                Q::Unsigned(i) => q.bind(i.map(i64::from)),
                Q::BigUnsigned(i) => q.bind(i.map(|u| i64::try_from(u).unwrap_or(i64::MAX))),
                Q::String(s) => q.bind(s),
                Q::ChronoDateTimeUtc(d) => q.bind(d),
                other => q.bind(Some(format!("{other:?}"))),
            };
        }
        q
    }};
}

fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok().map(|n| n.and_utc()))
}

fn text_date(s: String) -> StoreResult<Value> {
    parse_date(&s).map(Value::Date).ok_or_else(|| db_err(format!("bad date {s:?}")))
}

fn get<'r, T, R>(row: &'r R, idx: usize) -> StoreResult<T>
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

fn decode_sqlite(row: &SqliteRow, idx: usize, field: &Field) -> StoreResult<Value> {
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

fn decode_pg(row: &PgRow, idx: usize, field: &Field) -> StoreResult<Value> {
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

fn decode_mysql(row: &MySqlRow, idx: usize, field: &Field) -> StoreResult<Value> {
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

fn records<R>(
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

fn raw_records<R: Row>(rows: Vec<R>, decode: fn(&R, usize, &Field) -> StoreResult<Value>) -> StoreResult<Vec<Record>> {
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

/// One implementation for a pool and for a transaction: `$conn` yields the executor.
macro_rules! exec_impl {
    ($self:ident, $conn:ident => $run:expr) => {{
        match $self {
            Conn::Sqlite($conn) => $run,
            Conn::Postgres($conn) => $run,
            Conn::Mysql($conn) => $run,
        }
    }};
}

impl Pool {
    pub fn dialect(&self) -> Dialect {
        match self {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
            Pool::Mysql(_) => Dialect::Mysql,
        }
    }

    pub async fn begin(&self) -> StoreResult<TxExec> {
        let tx = match self {
            // IMMEDIATE takes SQLite's write lock up front, so concurrent writers wait (busy
            // timeout) instead of failing when a read transaction tries to upgrade.
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await.map_err(map_sqlx)?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await.map_err(map_sqlx)?),
            Pool::Mysql(p) => Tx::Mysql(p.begin().await.map_err(map_sqlx)?),
        };
        Ok(TxExec(Mutex::new(Some(tx))))
    }

    /// Runs a raw statement (migrations), not a user-influenced one.
    pub async fn execute_raw(&self, sql: &str) -> StoreResult<()> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Pool::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            Pool::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            Pool::Mysql(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        }
        .map_err(map_sqlx)
    }

    /// First column of every row of a raw query, as text (migration introspection).
    pub async fn strings(&self, sql: &str, arg: Option<&str>) -> StoreResult<Vec<String>> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        let arg = arg.map(str::to_string);
        macro_rules! run {
            ($p:expr) => {{
                let mut q = sqlx::query(sql);
                if let Some(a) = arg {
                    q = q.bind(a);
                }
                q.fetch_all($p)
                    .await
                    .map_err(map_sqlx)?
                    .iter()
                    .map(|r| r.try_get::<String, _>(0).map_err(db_err))
                    .collect()
            }};
        }
        match self {
            Pool::Sqlite(p) => run!(p),
            Pool::Postgres(p) => run!(p),
            Pool::Mysql(p) => run!(p),
        }
    }

    pub async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
            Pool::Mysql(p) => p.close().await,
        }
    }
}

enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    Mysql(sqlx::Transaction<'static, sqlx::MySql>),
}

pub struct TxExec(Mutex<Option<Tx>>);

impl TxExec {
    pub async fn commit(&self) -> StoreResult<()> {
        let tx = self.0.lock().await.take().ok_or_else(|| db_err("transaction already finished"))?;
        match tx {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
            Tx::Mysql(t) => t.commit().await,
        }
        .map_err(map_sqlx)
    }
}

/// Borrowed executors: a pool, or the connection of an open transaction.
enum Conn<'a> {
    Sqlite(&'a mut sqlx::SqliteConnection),
    Postgres(&'a mut sqlx::PgConnection),
    Mysql(&'a mut sqlx::MySqlConnection),
}

async fn fetch_on(conn: Conn<'_>, sql: String, values: Values, fields: &[Field]) -> StoreResult<Vec<Record>> {
    exec_impl!(conn, c => {
        let rows = bind_values!(sql, values).fetch_all(&mut *c).await.map_err(map_sqlx)?;
        records(rows, fields, decode_for(&*c))
    })
}

async fn fetch_raw_on(conn: Conn<'_>, sql: String, values: Values) -> StoreResult<Vec<Record>> {
    exec_impl!(conn, c => {
        let rows = bind_values!(sql, values).fetch_all(&mut *c).await.map_err(map_sqlx)?;
        raw_records(rows, decode_for(&*c))
    })
}

async fn count_on(conn: Conn<'_>, sql: String, values: Values) -> StoreResult<i64> {
    exec_impl!(conn, c => {
        let row = bind_values!(sql, values).fetch_one(&mut *c).await.map_err(map_sqlx)?;
        get::<i64, _>(&row, 0)
    })
}

async fn exec_on(conn: Conn<'_>, sql: String, values: Values) -> StoreResult<u64> {
    exec_impl!(conn, c => {
        Ok(bind_values!(sql, values).execute(&mut *c).await.map_err(map_sqlx)?.rows_affected())
    })
}

/// `LAST_INSERT_ID()` of MySQL comes back in the statement's own OK packet; SQLite and
/// PostgreSQL return the id with `RETURNING`. Either way the same connection or transaction.
async fn insert_on(conn: Conn<'_>, sql: String, values: Values, id: Option<&Field>) -> StoreResult<Option<Value>> {
    let Some(id) = id else {
        exec_on(conn, sql, values).await?;
        return Ok(None);
    };
    match conn {
        Conn::Mysql(c) => {
            let done = bind_values!(sql, values).execute(&mut *c).await.map_err(map_sqlx)?;
            Ok(Some(Value::Text(done.last_insert_id().to_string())))
        }
        Conn::Sqlite(c) => {
            let row = bind_values!(sql, values).fetch_one(&mut *c).await.map_err(map_sqlx)?;
            decode_sqlite(&row, 0, id).map(Some)
        }
        Conn::Postgres(c) => {
            let row = bind_values!(sql, values).fetch_one(&mut *c).await.map_err(map_sqlx)?;
            decode_pg(&row, 0, id).map(Some)
        }
    }
}

/// Picks the row decoder from the connection type.
trait Decoder {
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
fn decode_for<C: Decoder>(c: &C) -> fn(&C::Row, usize, &Field) -> StoreResult<Value> {
    c.decoder()
}

/// Runs `$body` with `$c: Conn` borrowed from a pool connection or the open transaction.
macro_rules! on_pool {
    ($pool:expr, $c:ident => $body:expr) => {
        match $pool {
            Pool::Sqlite(p) => {
                let mut conn = p.acquire().await.map_err(map_sqlx)?;
                let $c = Conn::Sqlite(&mut conn);
                $body
            }
            Pool::Postgres(p) => {
                let mut conn = p.acquire().await.map_err(map_sqlx)?;
                let $c = Conn::Postgres(&mut conn);
                $body
            }
            Pool::Mysql(p) => {
                let mut conn = p.acquire().await.map_err(map_sqlx)?;
                let $c = Conn::Mysql(&mut conn);
                $body
            }
        }
    };
}

macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {{
        let mut guard = $tx.0.lock().await;
        let $c = match guard.as_mut().ok_or_else(|| db_err("transaction already finished"))? {
            Tx::Sqlite(t) => Conn::Sqlite(&mut **t),
            Tx::Postgres(t) => Conn::Postgres(&mut **t),
            Tx::Mysql(t) => Conn::Mysql(&mut **t),
        };
        $body
    }};
}

macro_rules! exec_via {
    ($ty:ty, $on:ident) => {
        #[async_trait]
        impl Exec for $ty {
            async fn fetch(&self, sql: String, values: Values, fields: &[Field]) -> StoreResult<Vec<Record>> {
                $on!(self, c => fetch_on(c, sql, values, fields).await)
            }
            async fn count(&self, sql: String, values: Values) -> StoreResult<i64> {
                $on!(self, c => count_on(c, sql, values).await)
            }
            async fn exec(&self, sql: String, values: Values) -> StoreResult<u64> {
                $on!(self, c => exec_on(c, sql, values).await)
            }
            async fn insert(&self, sql: String, values: Values, id: Option<&Field>) -> StoreResult<Option<Value>> {
                $on!(self, c => insert_on(c, sql, values, id).await)
            }
            async fn fetch_raw(&self, sql: String, values: Values) -> StoreResult<Vec<Record>> {
                $on!(self, c => fetch_raw_on(c, sql, values).await)
            }
        }
    };
}

exec_via!(Pool, on_pool);
exec_via!(TxExec, on_tx);
