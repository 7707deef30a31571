//! The `where` builder (src/store/sql/mod.rs `condition`): clauses of every operator, value
//! type and connector on every model, built for each dialect.
//!
//! Every value must be a bound parameter: a marker put in each value never shows in the SQL
//! text, and the SQL has exactly one placeholder per bound value.

use palisade::store::schema::{FieldType, IdStrategy};
use palisade::store::sql::{Dialect, condition};
use palisade::store::{Connector, Op, Schema, Value, Where};
use sea_query::{Alias, Expr, MysqlQueryBuilder, PostgresQueryBuilder, Query, SqliteQueryBuilder, Values};

use crate::fuzz::generator::Gen;

const MARKER: &str = "zq'x\"y`--MARK";
const OPS: [Op; 11] =
    [Op::Eq, Op::Ne, Op::Lt, Op::Lte, Op::Gt, Op::Gte, Op::In, Op::NotIn, Op::Contains, Op::StartsWith, Op::EndsWith];

pub struct WhereTarget {
    schemas: Vec<Schema>,
}

impl WhereTarget {
    pub fn new() -> Self {
        let schemas = [IdStrategy::Default, IdStrategy::Uuid, IdStrategy::Serial]
            .into_iter()
            .map(|ids| {
                let mut s = Schema::core();
                palisade::plugins::jwt::add_jwks_table(&mut s);
                palisade::plugins::two_factor::add_tables(&mut s);
                s.set_ids(ids);
                s
            })
            .collect();
        WhereTarget { schemas }
    }

    pub fn run(&mut self, g: &mut Gen) {
        let schema = g.pick(&self.schemas);
        let model = g.pick(&schema.models);
        let d = *g.pick(&[Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql]);
        let mut filter = Vec::new();
        let mut unknown = false;
        for _ in 0..g.len(6) {
            let (name, ty) = if g.chance(25) {
                unknown = true;
                (g.text(8), FieldType::String)
            } else {
                let f = g.pick(&model.fields);
                (f.name.clone(), f.ty)
            };
            let op = *g.pick(&OPS);
            let mut w = Where::new(&name, op, value(g, ty));
            if matches!(op, Op::In | Op::NotIn) {
                w.values = (0..g.len(5)).map(|_| value(g, ty)).collect();
            }
            w.connector = if g.bool() { Connector::And } else { Connector::Or };
            w.insensitive = g.bool();
            filter.push(w);
        }
        let cond = match condition(d, model, &filter) {
            Ok(c) => c,
            Err(e) => {
                assert!(unknown && filter.iter().any(|w| model.field(&w.field).is_err()), "{e}");
                return;
            }
        };
        assert!(filter.iter().all(|w| model.field(&w.field).is_ok()), "an unknown field was accepted");
        let mut q = Query::select();
        q.expr(Expr::cust("1")).from(Alias::new(&model.table)).cond_where(cond);
        let (sql, values) = match d {
            Dialect::Sqlite => q.build(SqliteQueryBuilder),
            Dialect::Postgres => q.build(PostgresQueryBuilder),
            Dialect::Mysql => q.build(MysqlQueryBuilder),
        };
        assert!(!sql.to_lowercase().contains("mark"), "a value was written into the SQL: {sql}");
        let placeholders = match d {
            Dialect::Postgres => pg_placeholders(&sql, values.0.len()),
            _ => sql.matches('?').count(),
        };
        assert_eq!(placeholders, values.0.len(), "{d:?}: {sql}");
        assert_eq!(values.0.len(), expected_values(&filter), "{d:?}: {sql}");
        assert_no_marker_lost(&values);
    }
}

/// `$1` … `$n` each present; returns how many `$` the SQL has.
fn pg_placeholders(sql: &str, n: usize) -> usize {
    for i in 1..=n {
        assert!(sql.contains(&format!("${i}")), "${i} missing in {sql}");
    }
    sql.matches('$').count()
}

/// One bound value per compared value; `= NULL` and `<> NULL` become `IS [NOT] NULL`.
fn expected_values(filter: &[Where]) -> usize {
    filter
        .iter()
        .map(|w| match w.op {
            // sea-query writes an empty list as `1 = 2` (or `1 = 1`), both bound.
            Op::In | Op::NotIn if w.values.is_empty() => 2,
            Op::In | Op::NotIn => w.values.len(),
            Op::Eq | Op::Ne if w.value == Value::Null => 0,
            _ => 1,
        })
        .sum()
}

/// Bound text values are whole strings (not cut or re-quoted).
fn assert_no_marker_lost(values: &Values) {
    for v in &values.0 {
        if let sea_query::Value::String(Some(s)) = v
            && s.contains("MARK")
        {
            assert!(s.contains(MARKER) || s.contains(&MARKER.to_lowercase()), "{s:?}");
        }
    }
}

/// A value for a field of type `ty`: usually of that type, sometimes not.
fn value(g: &mut Gen, ty: FieldType) -> Value {
    let ty = if g.chance(5) { *g.pick(&[FieldType::String, FieldType::Number, FieldType::Boolean]) } else { ty };
    if g.chance(8) {
        return Value::Null;
    }
    match ty {
        FieldType::String => {
            let mut s = g.text(20);
            if g.bool() {
                s.push_str(MARKER);
            }
            Value::Text(s)
        }
        FieldType::Number => Value::Int(g.i64()),
        FieldType::Boolean => Value::Bool(g.bool()),
        FieldType::Date => {
            Value::Date(chrono::DateTime::from_timestamp(g.i64() % 10_000_000_000, 0).unwrap_or_default())
        }
        FieldType::Json | FieldType::StringArray | FieldType::NumberArray => Value::Json(g.json(2)),
    }
}
