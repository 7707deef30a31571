//! Running built statements with sqlx on each backend, and decoding rows into [`Record`]s.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sea_query::Values;
use sqlx::Row;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::Mutex;

use super::decode::{decode_for, decode_pg, decode_sqlite, get, raw_records, records};
use super::{Dialect, db_err};
use crate::store::schema::Field;
use crate::store::{Record, StoreError, StoreResult, Value};

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
