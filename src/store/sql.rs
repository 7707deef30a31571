//! The SQL adapter: statements built with sea-query (proper quoting), run with sqlx.
//! SQLite encodes dates as ISO-8601 text and booleans as 0/1, as Better Auth does (WIRE.md §15.2).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_query::{
    Alias, Asterisk, Cond, Expr, ExprTrait, Func, LikeExpr, Order, Query, SimpleExpr,
    SqliteQueryBuilder, Values,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, TypeInfo, ValueRef};
use tokio::sync::Mutex;

use super::schema::{Field, Model};
use super::{
    Adapter, Connector, FieldType, FindMany, Op, Ops, Record, Schema, StoreError, StoreResult,
    Transaction, Value, Where, iso,
};

/// Opens (creating if missing) a SQLite database in WAL mode.
pub async fn open_sqlite(url: &str) -> StoreResult<SqlitePool> {
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(db_err)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(false);
    let memory = url.contains(":memory:") || url.contains("mode=memory");
    SqlitePoolOptions::new()
        // An in-memory database lives in one connection; a file is shared by several.
        .max_connections(if memory { 1 } else { 8 })
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(opts)
        .await
        .map_err(db_err)
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

fn map_sqlx(e: sqlx::Error) -> StoreError {
    match e.as_database_error() {
        Some(d) if d.is_unique_violation() => StoreError::Unique(d.message().to_string()),
        _ => db_err(e),
    }
}

/// Runs built statements on a pool or inside a transaction.
#[async_trait]
trait Exec: Send + Sync {
    async fn rows(&self, sql: String, values: Vec<Param>) -> Result<Vec<SqliteRow>, sqlx::Error>;
    async fn exec(&self, sql: String, values: Vec<Param>) -> Result<u64, sqlx::Error>;
}

/// A bound parameter, detached from sea-query's (non-`Send`) value type.
enum Param {
    Int(Option<i64>),
    Text(Option<String>),
}

fn params(values: Values) -> Vec<Param> {
    values
        .0
        .into_iter()
        .map(|v| match v {
            sea_query::Value::BigInt(i) => Param::Int(i),
            sea_query::Value::Int(i) => Param::Int(i.map(i64::from)),
            sea_query::Value::Unsigned(i) => Param::Int(i.map(i64::from)),
            sea_query::Value::BigUnsigned(i) => {
                Param::Int(i.map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
            }
            sea_query::Value::Bool(b) => Param::Int(b.map(i64::from)),
            sea_query::Value::String(s) => Param::Text(s),
            other => Param::Text(Some(format!("{other:?}"))),
        })
        .collect()
}

fn bind(
    sql: String,
    params: Vec<Param>,
) -> sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    // The SQL text comes from sea-query with every value bound as a parameter.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for p in params {
        q = match p {
            Param::Int(i) => q.bind(i),
            Param::Text(s) => q.bind(s),
        };
    }
    q
}

struct PoolExec(SqlitePool);

#[async_trait]
impl Exec for PoolExec {
    async fn rows(&self, sql: String, values: Vec<Param>) -> Result<Vec<SqliteRow>, sqlx::Error> {
        bind(sql, values).fetch_all(&self.0).await
    }
    async fn exec(&self, sql: String, values: Vec<Param>) -> Result<u64, sqlx::Error> {
        Ok(bind(sql, values).execute(&self.0).await?.rows_affected())
    }
}

struct TxExec(Mutex<Option<sqlx::Transaction<'static, sqlx::Sqlite>>>);

impl TxExec {
    fn closed() -> sqlx::Error {
        sqlx::Error::Protocol("transaction already finished".into())
    }
}

#[async_trait]
impl Exec for TxExec {
    async fn rows(&self, sql: String, values: Vec<Param>) -> Result<Vec<SqliteRow>, sqlx::Error> {
        let mut guard = self.0.lock().await;
        let tx = guard.as_mut().ok_or_else(Self::closed)?;
        bind(sql, values).fetch_all(&mut **tx).await
    }
    async fn exec(&self, sql: String, values: Vec<Param>) -> Result<u64, sqlx::Error> {
        let mut guard = self.0.lock().await;
        let tx = guard.as_mut().ok_or_else(Self::closed)?;
        Ok(bind(sql, values).execute(&mut **tx).await?.rows_affected())
    }
}

/// Better Auth's adapter verbs over any [`Exec`].
struct SqlOps<E> {
    exec: E,
    schema: Arc<Schema>,
}

fn encode(field: &Field, v: &Value) -> sea_query::Value {
    match (v, field.ty) {
        (Value::Null, FieldType::Number) => sea_query::Value::BigInt(None),
        (Value::Null, _) => sea_query::Value::String(None),
        (Value::Bool(b), _) => sea_query::Value::BigInt(Some(i64::from(*b))),
        (Value::Int(i), _) => sea_query::Value::BigInt(Some(*i)),
        (Value::Text(s), _) => sea_query::Value::String(Some(s.clone())),
        (Value::Date(d), _) => sea_query::Value::String(Some(iso(d))),
    }
}

fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

fn decode(row: &SqliteRow, idx: usize, field: &Field) -> StoreResult<Value> {
    let raw = row.try_get_raw(idx).map_err(db_err)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let is_int = raw.type_info().name() == "INTEGER";
    let text = |row: &SqliteRow| row.try_get::<String, _>(idx).map_err(db_err);
    let int = |row: &SqliteRow| row.try_get::<i64, _>(idx).map_err(db_err);
    Ok(match field.ty {
        FieldType::String => Value::Text(if is_int {
            int(row)?.to_string()
        } else {
            text(row)?
        }),
        FieldType::Number => Value::Int(int(row)?),
        FieldType::Boolean => Value::Bool(if is_int {
            int(row)? != 0
        } else {
            text(row)? == "true"
        }),
        FieldType::Date if is_int => {
            DateTime::from_timestamp_millis(int(row)?).map_or(Value::Null, Value::Date)
        }
        FieldType::Date => {
            let s = text(row)?;
            Value::Date(parse_date(&s).ok_or_else(|| db_err(format!("bad date {s:?}")))?)
        }
    })
}

fn column(f: &Field) -> Expr {
    Expr::col(Alias::new(&f.column))
}

fn like_pattern(op: Op, s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    match op {
        Op::Contains => format!("%{escaped}%"),
        Op::StartsWith => format!("{escaped}%"),
        _ => format!("%{escaped}"),
    }
}

fn term(model: &Model, w: &Where) -> StoreResult<SimpleExpr> {
    let f = model.field(&w.field)?;
    let fold = w.insensitive && f.ty == FieldType::String;
    let lhs: SimpleExpr = if fold {
        Func::lower(column(f)).into()
    } else {
        column(f)
    };
    let val = |v: &Value| -> SimpleExpr {
        let e: SimpleExpr = Expr::val(encode(f, v));
        if fold { Func::lower(e).into() } else { e }
    };
    if w.value == Value::Null && matches!(w.op, Op::Eq | Op::Ne) {
        return Ok(if w.op == Op::Eq {
            lhs.is_null()
        } else {
            lhs.is_not_null()
        });
    }
    Ok(match w.op {
        Op::Eq => lhs.eq(val(&w.value)),
        Op::Ne => lhs.ne(val(&w.value)),
        Op::Lt => lhs.lt(val(&w.value)),
        Op::Lte => lhs.lte(val(&w.value)),
        Op::Gt => lhs.gt(val(&w.value)),
        Op::Gte => lhs.gte(val(&w.value)),
        Op::In => lhs.is_in(w.values.iter().map(val)),
        Op::NotIn => lhs.is_not_in(w.values.iter().map(val)),
        Op::Contains | Op::StartsWith | Op::EndsWith => {
            let text = w.value.as_str().unwrap_or_default();
            let pattern = like_pattern(
                w.op,
                &if fold {
                    text.to_lowercase()
                } else {
                    text.to_string()
                },
            );
            lhs.like(LikeExpr::new(pattern).escape('\\'))
        }
    })
}

/// AND terms and OR terms are grouped as Better Auth does: `(and…) AND (or…)`.
fn condition(model: &Model, filter: &[Where]) -> StoreResult<Cond> {
    let mut all = Cond::all();
    let mut any = Cond::any();
    let mut has_or = false;
    for w in filter {
        let t = term(model, w)?;
        match w.connector {
            Connector::And => all = all.add(t),
            Connector::Or => {
                has_or = true;
                any = any.add(t)
            }
        }
    }
    Ok(if has_or { all.add(any) } else { all })
}

impl<E: Exec> SqlOps<E> {
    fn model(&self, name: &str) -> StoreResult<&Model> {
        self.schema.model(name)
    }

    async fn select(
        &self,
        model: &Model,
        filter: &[Where],
        opts: &FindMany,
    ) -> StoreResult<Vec<Record>> {
        let mut q = Query::select();
        q.from(Alias::new(&model.table))
            .columns(model.fields.iter().map(|f| Alias::new(&f.column)))
            .cond_where(condition(model, filter)?);
        if let Some((field, desc)) = &opts.sort_by {
            let f = model.field(field)?;
            q.order_by(
                Alias::new(&f.column),
                if *desc { Order::Desc } else { Order::Asc },
            );
        }
        if let Some(l) = opts.limit {
            q.limit(l);
        }
        if let Some(o) = opts.offset {
            if opts.limit.is_none() {
                q.limit(i64::MAX as u64);
            }
            q.offset(o);
        }
        let (sql, values) = q.build(SqliteQueryBuilder);
        let rows = self
            .exec
            .rows(sql, params(values))
            .await
            .map_err(map_sqlx)?;
        rows.iter()
            .map(|row| {
                let mut rec = Record(Vec::with_capacity(model.fields.len()));
                for (i, f) in model.fields.iter().enumerate() {
                    rec.0.push((f.name.clone(), decode(row, i, f)?));
                }
                Ok(rec)
            })
            .collect()
    }
}

#[async_trait]
impl<E: Exec> Ops for SqlOps<E> {
    async fn create(&self, model: &str, data: Record) -> StoreResult<Record> {
        let model = self.model(model)?;
        let mut cols = Vec::new();
        let mut vals: Vec<SimpleExpr> = Vec::new();
        for (name, v) in &data.0 {
            let f = model.field(name)?;
            cols.push(Alias::new(&f.column));
            vals.push(Expr::val(encode(f, v)));
        }
        let (sql, values) = Query::insert()
            .into_table(Alias::new(&model.table))
            .columns(cols)
            .values(vals)
            .map_err(db_err)?
            .build(SqliteQueryBuilder);
        self.exec
            .exec(sql, params(values))
            .await
            .map_err(map_sqlx)?;
        // Return every field of the model, in schema order, missing ones as null.
        let mut out = Record(Vec::with_capacity(model.fields.len()));
        for f in &model.fields {
            out.0.push((
                f.name.clone(),
                data.get(&f.name).cloned().unwrap_or(Value::Null),
            ));
        }
        Ok(out)
    }

    async fn find_one(&self, model: &str, filter: &[Where]) -> StoreResult<Option<Record>> {
        let model = self.model(model)?;
        let opts = FindMany {
            limit: Some(1),
            ..Default::default()
        };
        Ok(self.select(model, filter, &opts).await?.into_iter().next())
    }

    async fn find_many(
        &self,
        model: &str,
        filter: &[Where],
        opts: FindMany,
    ) -> StoreResult<Vec<Record>> {
        let model = self.model(model)?;
        self.select(model, filter, &opts).await
    }

    async fn count(&self, model: &str, filter: &[Where]) -> StoreResult<u64> {
        let model = self.model(model)?;
        let (sql, values) = Query::select()
            .expr(Func::count(Expr::col(Asterisk)))
            .from(Alias::new(&model.table))
            .cond_where(condition(model, filter)?)
            .build(SqliteQueryBuilder);
        let rows = self
            .exec
            .rows(sql, params(values))
            .await
            .map_err(map_sqlx)?;
        let n: i64 = rows
            .first()
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db_err)?
            .unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn update(
        &self,
        model: &str,
        filter: &[Where],
        data: Record,
    ) -> StoreResult<Option<Record>> {
        let Some(mut found) = self.find_one(model, filter).await? else {
            return Ok(None);
        };
        let id = found.get("id").cloned().unwrap_or(Value::Null);
        self.update_many(model, &[Where::eq("id", id)], data.clone())
            .await?;
        for (k, v) in data.0 {
            found.set(&k, v);
        }
        Ok(Some(found))
    }

    async fn update_many(&self, model: &str, filter: &[Where], data: Record) -> StoreResult<u64> {
        let model = self.model(model)?;
        let mut sets = Vec::new();
        for (name, v) in &data.0 {
            let f = model.field(name)?;
            sets.push((
                Alias::new(&f.column),
                SimpleExpr::from(Expr::val(encode(f, v))),
            ));
        }
        if sets.is_empty() {
            return Ok(0);
        }
        let (sql, values) = Query::update()
            .table(Alias::new(&model.table))
            .values(sets)
            .cond_where(condition(model, filter)?)
            .build(SqliteQueryBuilder);
        self.exec.exec(sql, params(values)).await.map_err(map_sqlx)
    }

    async fn delete(&self, model: &str, filter: &[Where]) -> StoreResult<()> {
        self.delete_many(model, filter).await.map(|_| ())
    }

    async fn delete_many(&self, model: &str, filter: &[Where]) -> StoreResult<u64> {
        let model = self.model(model)?;
        let (sql, values) = Query::delete()
            .from_table(Alias::new(&model.table))
            .cond_where(condition(model, filter)?)
            .build(SqliteQueryBuilder);
        self.exec.exec(sql, params(values)).await.map_err(map_sqlx)
    }
}

/// The SQLite-backed store.
pub struct SqlStore {
    pool: SqlitePool,
    ops: SqlOps<PoolExec>,
}

impl SqlStore {
    pub fn new(pool: SqlitePool, schema: Arc<Schema>) -> Self {
        Self {
            pool: pool.clone(),
            ops: SqlOps {
                exec: PoolExec(pool),
                schema,
            },
        }
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

macro_rules! delegate_ops {
    ($ty:ty, $inner:ident) => {
        #[async_trait]
        impl Ops for $ty {
            async fn create(&self, m: &str, d: Record) -> StoreResult<Record> {
                self.$inner.create(m, d).await
            }
            async fn find_one(&self, m: &str, w: &[Where]) -> StoreResult<Option<Record>> {
                self.$inner.find_one(m, w).await
            }
            async fn find_many(
                &self,
                m: &str,
                w: &[Where],
                o: FindMany,
            ) -> StoreResult<Vec<Record>> {
                self.$inner.find_many(m, w, o).await
            }
            async fn count(&self, m: &str, w: &[Where]) -> StoreResult<u64> {
                self.$inner.count(m, w).await
            }
            async fn update(&self, m: &str, w: &[Where], d: Record) -> StoreResult<Option<Record>> {
                self.$inner.update(m, w, d).await
            }
            async fn update_many(&self, m: &str, w: &[Where], d: Record) -> StoreResult<u64> {
                self.$inner.update_many(m, w, d).await
            }
            async fn delete(&self, m: &str, w: &[Where]) -> StoreResult<()> {
                self.$inner.delete(m, w).await
            }
            async fn delete_many(&self, m: &str, w: &[Where]) -> StoreResult<u64> {
                self.$inner.delete_many(m, w).await
            }
        }
    };
}

delegate_ops!(SqlStore, ops);

#[async_trait]
impl Adapter for SqlStore {
    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        // IMMEDIATE takes the write lock up front, so concurrent writers wait (busy timeout)
        // instead of failing when a read transaction tries to upgrade.
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_sqlx)?;
        Ok(Box::new(SqlTransaction {
            ops: SqlOps {
                exec: TxExec(Mutex::new(Some(tx))),
                schema: self.ops.schema.clone(),
            },
        }))
    }
}

struct SqlTransaction {
    ops: SqlOps<TxExec>,
}

delegate_ops!(SqlTransaction, ops);

#[async_trait]
impl Transaction for SqlTransaction {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let tx = self
            .ops
            .exec
            .0
            .lock()
            .await
            .take()
            .ok_or_else(|| db_err("transaction finished"))?;
        tx.commit().await.map_err(map_sqlx)
    }
}
