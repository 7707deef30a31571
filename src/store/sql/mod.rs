//! The SQL adapter: statements built per dialect with sea-query (proper quoting, every value a
//! bound parameter), run with sqlx on SQLite, PostgreSQL or MySQL/MariaDB. Values are stored the
//! way Better Auth stores them on each dialect (WIRE.md §15.2, §15.5): ISO-8601 text and 0/1 on
//! SQLite; native timestamps and booleans on PostgreSQL and MySQL.

mod decode;
mod exec;
#[doc(hidden)]
pub mod named;

use std::sync::Arc;

use async_trait::async_trait;
use sea_query::{
    Alias, Asterisk, Cond, Expr, ExprTrait, Func, LikeExpr, LockType, MysqlQueryBuilder, Order, PostgresQueryBuilder,
    Query, QueryStatementWriter, SimpleExpr, SqliteQueryBuilder, Values,
};

use exec::{Exec, TxExec};
pub use exec::{Pool, open};

use super::schema::{Field, KeyType, Model, is_uuid};
use super::{
    Adapter, Connector, FieldType, FindMany, Intent, Op, Ops, Record, Schema, StoreError, StoreResult, Transaction,
    Value, Where, iso,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl Dialect {
    pub fn from_url(url: &str) -> Option<Dialect> {
        let scheme = url.split(':').next()?;
        match scheme {
            "sqlite" => Some(Dialect::Sqlite),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::Mysql),
            _ => None,
        }
    }

    fn build(self, stmt: &impl QueryStatementWriter) -> (String, Values) {
        match self {
            Dialect::Sqlite => stmt.build(SqliteQueryBuilder),
            Dialect::Postgres => stmt.build(PostgresQueryBuilder),
            Dialect::Mysql => stmt.build(MysqlQueryBuilder),
        }
    }
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

/// Better Auth's adapter verbs over any [`Exec`].
pub struct SqlOps<E> {
    exec: E,
    dialect: Dialect,
    schema: Arc<Schema>,
}

/// Integer ids are strings everywhere but in their columns; text that is no integer can name
/// no row, so it becomes a null that matches nothing.
fn integer_key(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Text(s) => s.parse().ok(),
        _ => None,
    }
}

/// A value as this dialect stores it in a column of `field`'s type (nulls typed, for
/// PostgreSQL's strict parameter typing).
fn encode(d: Dialect, field: &Field, v: &Value) -> sea_query::Value {
    use sea_query::Value as Q;
    let sqlite = d == Dialect::Sqlite;
    if field.key == Some(KeyType::Integer) {
        return Q::BigInt(integer_key(v));
    }
    if field.ty.is_json() {
        return Q::String((*v != Value::Null).then(|| v.to_json().to_string()));
    }
    if field.key == Some(KeyType::Uuid) && d == Dialect::Postgres {
        // Same reasoning as integer ids: PostgreSQL rejects a malformed uuid outright.
        return Q::String(v.as_str().filter(|s| is_uuid(s)).map(str::to_string));
    }
    match v {
        Value::Null => match field.ty {
            FieldType::String | FieldType::Json | FieldType::StringArray | FieldType::NumberArray => Q::String(None),
            FieldType::Number => Q::BigInt(None),
            FieldType::Boolean if sqlite => Q::BigInt(None),
            FieldType::Boolean => Q::Bool(None),
            FieldType::Date if sqlite => Q::String(None),
            FieldType::Date => Q::ChronoDateTimeUtc(None),
        },
        Value::Bool(b) if sqlite => Q::BigInt(Some(i64::from(*b))),
        Value::Bool(b) => Q::Bool(Some(*b)),
        Value::Int(i) => Q::BigInt(Some(*i)),
        Value::Text(s) => Q::String(Some(s.clone())),
        Value::Date(dt) if sqlite => Q::String(Some(iso(dt))),
        Value::Date(dt) => Q::ChronoDateTimeUtc(Some(*dt)),
        Value::Json(j) => Q::String(Some(j.to_string())),
    }
}

fn column(f: &Field) -> Expr {
    Expr::col(Alias::new(&f.column))
}

/// PostgreSQL types exchanged as text here (sqlx is built without their codecs): written
/// through a cast, read as `CAST(… AS text)`.
fn pg_type(d: Dialect, f: &Field) -> Option<&'static str> {
    match d {
        Dialect::Postgres if f.ty.is_json() => Some("jsonb"),
        Dialect::Postgres if f.key == Some(KeyType::Uuid) => Some("uuid"),
        _ => None,
    }
}

/// A bound value for `f`'s column.
fn param(d: Dialect, f: &Field, v: &Value) -> SimpleExpr {
    let e = Expr::val(encode(d, f, v));
    match pg_type(d, f) {
        Some(ty) => e.cast_as(ty),
        None => e,
    }
}

/// The expression a column is read through, so every decoder sees a type it knows.
fn read_expr(d: Dialect, f: &Field) -> SimpleExpr {
    match d {
        _ if pg_type(d, f).is_some() => column(f).cast_as("text"),
        // sqlx reads MySQL's JSON type only as bytes; CHAR is text on MySQL and MariaDB.
        Dialect::Mysql if f.ty.is_json() => column(f).cast_as("char"),
        _ => column(f),
    }
}

fn like_pattern(op: Op, s: &str) -> String {
    // `!` escapes: the same meaning on every dialect (MySQL treats a backslash specially).
    let escaped = s.replace('!', "!!").replace('%', "!%").replace('_', "!_");
    match op {
        Op::Contains => format!("%{escaped}%"),
        Op::StartsWith => format!("{escaped}%"),
        _ => format!("%{escaped}"),
    }
}

fn term(d: Dialect, model: &Model, w: &Where) -> StoreResult<SimpleExpr> {
    let f = model.field(&w.field)?;
    // Integer and uuid ids have no case (and PostgreSQL no lower() for them).
    let fold = w.insensitive && f.ty == FieldType::String && matches!(f.key, None | Some(KeyType::Text));
    let like = matches!(w.op, Op::Contains | Op::StartsWith | Op::EndsWith);
    let col = if like { read_expr(d, f) } else { column(f) };
    let lhs: SimpleExpr = if fold { Func::lower(col).into() } else { col };
    let val = |v: &Value| -> SimpleExpr {
        let e = param(d, f, v);
        if fold { Func::lower(e).into() } else { e }
    };
    if w.value == Value::Null && matches!(w.op, Op::Eq | Op::Ne) {
        return Ok(if w.op == Op::Eq { lhs.is_null() } else { lhs.is_not_null() });
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
            let text = if fold { text.to_lowercase() } else { text.to_string() };
            lhs.like(LikeExpr::new(like_pattern(w.op, &text)).escape('!'))
        }
    })
}

/// AND terms and OR terms are grouped as Better Auth does: `(and…) AND (or…)`.
#[doc(hidden)]
pub fn condition(d: Dialect, model: &Model, filter: &[Where]) -> StoreResult<Cond> {
    let mut all = Cond::all();
    let mut any = Cond::any();
    let mut has_or = false;
    for w in filter {
        let t = term(d, model, w)?;
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

    /// Rows of `model`; `lock` takes them FOR UPDATE.
    async fn select(&self, model: &Model, filter: &[Where], opts: &FindMany, lock: bool) -> StoreResult<Vec<Record>> {
        let d = self.dialect;
        let mut q = Query::select();
        q.from(Alias::new(&model.table))
            .exprs(model.fields.iter().map(|f| read_expr(d, f)))
            .cond_where(condition(d, model, filter)?);
        if lock {
            // Not written by SQLite's builder, whose transactions hold the write lock anyway.
            q.lock(LockType::Update);
        }
        if let Some((field, desc)) = &opts.sort_by {
            let f = model.field(field)?;
            q.order_by(Alias::new(&f.column), if *desc { Order::Desc } else { Order::Asc });
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
        let (sql, values) = d.build(&q);
        self.exec.fetch(sql, values, &model.fields).await
    }
}

#[async_trait]
impl<E: Exec> Ops for SqlOps<E> {
    async fn create(&self, model: &str, data: Record) -> StoreResult<Record> {
        let d = self.dialect;
        let model = self.model(model)?;
        let mut data = self.schema.prepare_create(model, data);
        let mut cols = Vec::new();
        let mut vals: Vec<SimpleExpr> = Vec::new();
        for (name, v) in &data.0 {
            let f = model.field(name)?;
            cols.push(Alias::new(&f.column));
            vals.push(param(d, f, v));
        }
        let mut q = Query::insert();
        q.into_table(Alias::new(&model.table)).columns(cols).values(vals).map_err(db_err)?;
        // The database makes the id: read it back on the same connection (MySQL has no RETURNING).
        let generated = if self.schema.ids.database_generated() { Some(model.field("id")?) } else { None };
        if let (Some(id), false) = (generated, d == Dialect::Mysql) {
            q.returning_col(Alias::new(&id.column));
        }
        let (sql, values) = d.build(&q);
        if let Some(id) = self.exec.insert(sql, values, generated).await? {
            data.set("id", id);
        }
        // Every field of the model, in schema order, missing ones as null.
        let mut out = Record(Vec::with_capacity(model.fields.len()));
        for f in &model.fields {
            out.0.push((f.name.clone(), data.get(&f.name).cloned().unwrap_or(Value::Null)));
        }
        Ok(out)
    }

    async fn find_one(&self, model: &str, filter: &[Where]) -> StoreResult<Option<Record>> {
        let model = self.model(model)?;
        let opts = FindMany { limit: Some(1), ..Default::default() };
        Ok(self.select(model, filter, &opts, false).await?.into_iter().next())
    }

    async fn find_many(&self, model: &str, filter: &[Where], opts: FindMany) -> StoreResult<Vec<Record>> {
        let model = self.model(model)?;
        self.select(model, filter, &opts, false).await
    }

    async fn find_for_update(&self, model: &str, filter: &[Where]) -> StoreResult<Vec<Record>> {
        let model = self.model(model)?;
        // By id: every transaction takes the locks of several rows in the same order.
        let opts = FindMany { sort_by: Some(("id".into(), false)), ..Default::default() };
        self.select(model, filter, &opts, true).await
    }

    async fn count(&self, model: &str, filter: &[Where]) -> StoreResult<u64> {
        let d = self.dialect;
        let model = self.model(model)?;
        let mut q = Query::select();
        q.expr(Func::count(Expr::col(Asterisk)))
            .from(Alias::new(&model.table))
            .cond_where(condition(d, model, filter)?);
        let (sql, values) = d.build(&q);
        let n = self.exec.count(sql, values).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn update(&self, model: &str, filter: &[Where], data: Record) -> StoreResult<Option<Record>> {
        let Some(mut found) = self.find_one(model, filter).await? else {
            return Ok(None);
        };
        let id = found.get("id").cloned().unwrap_or(Value::Null);
        self.update_many(model, &[Where::eq("id", id)], data.clone()).await?;
        for (k, v) in data.0 {
            found.set(&k, v);
        }
        Ok(Some(found))
    }

    async fn update_many(&self, model: &str, filter: &[Where], data: Record) -> StoreResult<u64> {
        let d = self.dialect;
        let model = self.model(model)?;
        let mut sets = Vec::new();
        for (name, v) in &data.0 {
            let f = model.field(name)?;
            sets.push((Alias::new(&f.column), param(d, f, v)));
        }
        if sets.is_empty() {
            return Ok(0);
        }
        let mut q = Query::update();
        q.table(Alias::new(&model.table)).values(sets).cond_where(condition(d, model, filter)?);
        let (sql, values) = d.build(&q);
        self.exec.exec(sql, values).await
    }

    async fn delete(&self, model: &str, filter: &[Where]) -> StoreResult<()> {
        self.delete_many(model, filter).await.map(|_| ())
    }

    async fn delete_many(&self, model: &str, filter: &[Where]) -> StoreResult<u64> {
        let d = self.dialect;
        let model = self.model(model)?;
        let mut q = Query::delete();
        q.from_table(Alias::new(&model.table)).cond_where(condition(d, model, filter)?);
        let (sql, values) = d.build(&q);
        self.exec.exec(sql, values).await
    }

    async fn sql(&self, sql: &str, params: &Record) -> StoreResult<Vec<Record>> {
        let (text, names) = named::rewrite(self.dialect, sql);
        let mut values = Vec::with_capacity(names.len());
        for name in &names {
            let v = params.get(name).ok_or_else(|| db_err(format!("unknown parameter :{name}")))?;
            values.push(encode(self.dialect, &Field::new(name, plain_type(v), false), v));
        }
        self.exec.fetch_raw(text, Values(values)).await
    }
}

/// The column type a free-standing parameter is bound as.
fn plain_type(v: &Value) -> FieldType {
    match v {
        Value::Null | Value::Text(_) => FieldType::String,
        Value::Bool(_) => FieldType::Boolean,
        Value::Int(_) => FieldType::Number,
        Value::Date(_) => FieldType::Date,
        Value::Json(_) => FieldType::Json,
    }
}

/// The SQL-backed store on any of the three dialects; in a transaction, the same verbs run
/// on the transaction's connection (`SqlOps<TxExec>`).
pub type SqlStore = SqlOps<Pool>;

impl SqlStore {
    pub fn new(pool: Pool, schema: Arc<Schema>) -> Self {
        let dialect = pool.dialect();
        SqlOps { exec: pool, dialect, schema }
    }

    pub fn pool(&self) -> &Pool {
        &self.exec
    }

    async fn open_tx(&self) -> StoreResult<Box<dyn Transaction>> {
        let exec = self.exec.begin().await?;
        Ok(Box::new(SqlOps { exec, dialect: self.dialect, schema: self.schema.clone() }))
    }
}

#[async_trait]
impl Adapter for SqlStore {
    async fn begin_with(&self, _: &Intent) -> StoreResult<Box<dyn Transaction>> {
        self.open_tx().await
    }
    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        self.open_tx().await
    }
}

#[async_trait]
impl Transaction for SqlOps<TxExec> {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.exec.commit().await
    }
}
