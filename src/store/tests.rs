//! The adapter suite: every verb and operator, run against a real SQLite database, a real
//! PostgreSQL server and a real MariaDB/MySQL server (each test on a fresh database).
//! Servers: `TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432) and
//! `TEST_MYSQL_URL` (default mysql://root@127.0.0.1:3306).

use std::sync::Arc;

use super::schema::Plugins;
use super::sql::{Dialect, SqlStore, open};
use super::*;

/// A fresh, empty database on `dialect`'s server; returns its URL.
pub async fn fresh_database(dialect: Dialect) -> String {
    let server = match dialect {
        Dialect::Sqlite => return "sqlite::memory:".into(),
        Dialect::Postgres => std::env::var("TEST_POSTGRES_URL").unwrap_or("postgres://postgres@127.0.0.1:5432".into()),
        Dialect::Mysql => std::env::var("TEST_MYSQL_URL").unwrap_or("mysql://root@127.0.0.1:3306".into()),
    };
    let name = format!("palisade_t_{}", crate::crypto::random_id(12).to_lowercase());
    let admin = open(&format!("{server}/test")).await.expect("test database server reachable");
    admin.execute_raw(&format!("create database {name}")).await.unwrap();
    admin.close().await;
    format!("{server}/{name}")
}

async fn store_on(dialect: Dialect) -> SqlStore {
    let pool = open(&fresh_database(dialect).await).await.unwrap();
    let schema = Arc::new(Schema::better_auth(Plugins { jwt: true, two_factor: true }));
    migrate::migrate(&pool, &schema, |_| {}).await.unwrap();
    assert!(migrate::plan(&pool, &schema).await.unwrap().is_empty(), "migration is idempotent");
    SqlStore::new(pool, schema)
}

async fn store() -> SqlStore {
    store_on(Dialect::Sqlite).await
}

/// Runs each listed `async fn(SqlStore)` once per backend.
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test] async fn $case() { super::$case(super::store_on(super::Dialect::Sqlite).await).await } )* }
        mod postgres { $(#[tokio::test] async fn $case() { super::$case(super::store_on(super::Dialect::Postgres).await).await } )* }
        mod mysql { $(#[tokio::test] async fn $case() { super::$case(super::store_on(super::Dialect::Mysql).await).await } )* }
    };
}

on_every_backend!(
    create_and_find_round_trip_types,
    operators,
    paging_sorting_count,
    update_and_delete,
    unique_violation_is_typed,
    unknown_field_is_an_error_not_a_silent_drop,
    transaction_rolls_back_unless_committed,
);

fn user(id: &str, email: &str, name: &str) -> Record {
    let at = now();
    Record::new()
        .with("id", id)
        .with("name", name)
        .with("email", email)
        .with("emailVerified", false)
        .with("image", Value::Null)
        .with("createdAt", at)
        .with("updatedAt", at)
        .with("twoFactorEnabled", false)
}

async fn seeded(s: SqlStore) -> SqlStore {
    for (i, name) in ["Ada", "Bob", "Cy", "Dee"].iter().enumerate() {
        s.create("user", user(&format!("u{i}"), &format!("{}@x.io", name.to_lowercase()), name)).await.unwrap();
    }
    s
}

async fn create_and_find_round_trip_types(s: SqlStore) {
    let rec = user("u1", "a@x.io", "Ada");
    let created = s.create("user", rec.clone()).await.unwrap();
    let found = s.find_one("user", &[Where::eq("id", "u1")]).await.unwrap().unwrap();
    assert_eq!(created, found);
    assert_eq!(found.get("emailVerified"), Some(&Value::Bool(false)));
    assert_eq!(found.date("createdAt"), rec.date("createdAt"));
}

async fn operators(s: SqlStore) {
    let s = seeded(s).await;
    let names = |rows: Vec<Record>| rows.iter().map(|r| r.string("name")).collect::<Vec<_>>();
    let q = |w: Vec<Where>| {
        let s = &s;
        async move {
            names(
                s.find_many("user", &w, FindMany { sort_by: Some(("name".into(), false)), ..Default::default() })
                    .await
                    .unwrap(),
            )
        }
    };
    assert_eq!(q(vec![Where::new("name", Op::Ne, "Ada")]).await, ["Bob", "Cy", "Dee"]);
    assert_eq!(q(vec![Where::new("name", Op::Lt, "Bob")]).await, ["Ada"]);
    assert_eq!(q(vec![Where::new("name", Op::Lte, "Bob")]).await, ["Ada", "Bob"]);
    assert_eq!(q(vec![Where::new("name", Op::Gt, "Cy")]).await, ["Dee"]);
    assert_eq!(q(vec![Where::new("name", Op::Gte, "Cy")]).await, ["Cy", "Dee"]);
    assert_eq!(q(vec![Where::is_in("name", vec!["Ada".into(), "Cy".into()])]).await, ["Ada", "Cy"]);
    let not_in = Where { values: vec!["Ada".into(), "Cy".into()], ..Where::new("name", Op::NotIn, Value::Null) };
    assert_eq!(q(vec![not_in]).await, ["Bob", "Dee"]);
    assert_eq!(q(vec![Where::new("email", Op::Contains, "bo")]).await, ["Bob"]);
    assert_eq!(q(vec![Where::new("email", Op::StartsWith, "d")]).await, ["Dee"]);
    assert_eq!(q(vec![Where::new("email", Op::EndsWith, "y@x.io")]).await, ["Cy"]);
    assert_eq!(q(vec![Where::new("email", Op::Contains, "%")]).await, Vec::<String>::new());
    let ci = Where { insensitive: true, ..Where::eq("name", "ADA") };
    assert_eq!(q(vec![ci]).await, ["Ada"]);
    // AND terms and OR terms are grouped: verified AND (Cy OR Dee).
    s.update_many(
        "user",
        &[Where::is_in("name", vec!["Ada".into(), "Cy".into()])],
        Record::new().with("emailVerified", true),
    )
    .await
    .unwrap();
    assert_eq!(
        q(vec![Where::eq("emailVerified", true), Where::eq("name", "Cy").or(), Where::eq("name", "Dee").or()]).await,
        ["Cy"]
    );
    assert_eq!(q(vec![Where::eq("name", "Ada").or(), Where::eq("name", "Bob").or()]).await, ["Ada", "Bob"]);
    assert_eq!(q(vec![Where::eq("image", Value::Null), Where::eq("name", "Dee")]).await, ["Dee"]);
}

async fn paging_sorting_count(s: SqlStore) {
    let s = seeded(s).await;
    let opts = FindMany { limit: Some(2), offset: Some(1), sort_by: Some(("name".into(), true)) };
    let rows = s.find_many("user", &[], opts).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.string("name")).collect::<Vec<_>>(), ["Cy", "Bob"]);
    assert_eq!(s.count("user", &[]).await.unwrap(), 4);
    assert_eq!(s.count("user", &[Where::new("name", Op::Gt, "B")]).await.unwrap(), 3);
}

async fn update_and_delete(s: SqlStore) {
    let s = seeded(s).await;
    let updated =
        s.update("user", &[Where::eq("id", "u0")], Record::new().with("name", "Ada L")).await.unwrap().unwrap();
    assert_eq!(updated.string("name"), "Ada L");
    assert!(s.update("user", &[Where::eq("id", "nope")], Record::new().with("name", "x")).await.unwrap().is_none());
    let n = s
        .update_many("user", &[Where::new("name", Op::Gt, "C")], Record::new().with("emailVerified", true))
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(s.count("user", &[Where::eq("emailVerified", true)]).await.unwrap(), 2);
    s.delete("user", &[Where::eq("id", "u0")]).await.unwrap();
    assert_eq!(s.delete_many("user", &[Where::new("name", Op::Ne, "zz")]).await.unwrap(), 3);
    assert_eq!(s.count("user", &[]).await.unwrap(), 0);
}

async fn unique_violation_is_typed(s: SqlStore) {
    let s = seeded(s).await;
    let err = s.create("user", user("u9", "ada@x.io", "Again")).await.unwrap_err();
    assert!(matches!(err, StoreError::Unique(_)), "{err}");
}

async fn unknown_field_is_an_error_not_a_silent_drop(s: SqlStore) {
    let err = s.find_one("user", &[Where::eq("nope", "x")]).await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownField { .. }));
}

async fn transaction_rolls_back_unless_committed(s: SqlStore) {
    let tx = s.begin().await.unwrap();
    tx.create("user", user("t1", "t1@x.io", "T")).await.unwrap();
    assert_eq!(tx.count("user", &[]).await.unwrap(), 1);
    drop(tx);
    assert_eq!(s.count("user", &[]).await.unwrap(), 0);
    let tx = s.begin().await.unwrap();
    tx.create("user", user("t2", "t2@x.io", "T")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(s.count("user", &[]).await.unwrap(), 1);
}

mod cached {
    use std::time::Duration;

    use super::*;
    use crate::store::cache::CachedStore;

    async fn cached(ttl: u64) -> (CachedStore, Store) {
        let inner: Store = Arc::new(store().await);
        (CachedStore::new(inner.clone(), Duration::from_millis(ttl)), inner)
    }

    fn by_id() -> [Where; 1] {
        [Where::eq("id", "u1")]
    }

    #[tokio::test]
    async fn local_writes_are_seen_at_once() {
        let (c, _) = cached(60_000).await;
        c.create("user", user("u1", "a@x.io", "Ada")).await.unwrap();
        assert_eq!(c.find_one("user", &by_id()).await.unwrap().unwrap().string("name"), "Ada");
        c.update("user", &by_id(), Record::new().with("name", "Ada L")).await.unwrap();
        assert_eq!(c.find_one("user", &by_id()).await.unwrap().unwrap().string("name"), "Ada L");
        c.delete("user", &by_id()).await.unwrap();
        assert!(c.find_one("user", &by_id()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn committed_transaction_invalidates_and_rollback_caches_nothing() {
        let (c, _) = cached(60_000).await;
        let tx = c.begin().await.unwrap();
        tx.create("user", user("u1", "a@x.io", "Ada")).await.unwrap();
        assert!(tx.find_one("user", &by_id()).await.unwrap().is_some());
        drop(tx);
        assert!(c.find_one("user", &by_id()).await.unwrap().is_none(), "a rolled-back row is never served");
        c.create("user", user("u1", "a@x.io", "Ada")).await.unwrap();
        c.find_one("user", &by_id()).await.unwrap();
        let tx = c.begin().await.unwrap();
        tx.update("user", &by_id(), Record::new().with("name", "Tx")).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(c.find_one("user", &by_id()).await.unwrap().unwrap().string("name"), "Tx");
    }

    #[tokio::test]
    async fn writes_by_others_are_seen_after_the_ttl() {
        let (c, inner) = cached(100).await;
        c.create("user", user("u1", "a@x.io", "Ada")).await.unwrap();
        c.find_one("user", &by_id()).await.unwrap();
        inner.update("user", &by_id(), Record::new().with("name", "Elsewhere")).await.unwrap();
        assert_eq!(
            c.find_one("user", &by_id()).await.unwrap().unwrap().string("name"),
            "Ada",
            "served from cache within the TTL"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(c.find_one("user", &by_id()).await.unwrap().unwrap().string("name"), "Elsewhere");
    }
}
