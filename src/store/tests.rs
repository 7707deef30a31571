//! The adapter suite: every verb and operator, run against a real SQLite database, a real
//! PostgreSQL server and a real MariaDB/MySQL server (each test on a fresh database).
//! PostgreSQL and MariaDB run when `TEST_POSTGRES_URL` / `TEST_MYSQL_URL` are set (see
//! src/testing.rs); SQLite always.

use std::sync::Arc;

use chrono::DateTime;

use super::schema::{self, Plugins};
use super::schema_config::SchemaConfig;
use super::sql::{Dialect, SqlStore, open};
use super::*;
// All of this file is test code; the attribute also marks it so for ../shared/tools/structure.py
// (whose import graph is the library's, where store does not use testing).
#[cfg(test)]
use crate::testing::{available, fresh_database};

/// A fresh, empty database on `dialect` (SQLite: in memory); returns its URL.
async fn database_url(dialect: Dialect) -> String {
    fresh_database(dialect).await.unwrap_or_else(|| "sqlite::memory:".into())
}

async fn store_on(dialect: Dialect) -> SqlStore {
    store_with(dialect, Schema::better_auth(Plugins { jwt: true, two_factor: true })).await
}

async fn store_with(dialect: Dialect, schema: Schema) -> SqlStore {
    let pool = open(&database_url(dialect).await).await.unwrap();
    let schema = Arc::new(schema);
    migrate::migrate(&pool, &schema, |_| {}).await.unwrap();
    assert!(migrate::plan(&pool, &schema).await.unwrap().is_empty(), "migration is idempotent");
    SqlStore::new(pool, schema)
}

async fn store() -> SqlStore {
    store_on(Dialect::Sqlite).await
}

const SUITE: &str = "store suite";

/// Runs `case` on a fresh store on `dialect`, when this run has that server.
async fn on<F: Future<Output = ()>>(dialect: Dialect, case: impl FnOnce(SqlStore) -> F) {
    if available(dialect, SUITE) {
        case(store_on(dialect).await).await;
    }
}

/// Runs `case` (which builds its own store) on `dialect`, when this run has that server.
async fn on_dialect<F: Future<Output = ()>>(dialect: Dialect, case: impl FnOnce(Dialect) -> F) {
    if available(dialect, SUITE) {
        case(dialect).await;
    }
}

/// Runs each listed `async fn(SqlStore)` once per backend.
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test] async fn $case() { super::on(super::Dialect::Sqlite, super::$case).await } )* }
        mod postgres { $(#[tokio::test] async fn $case() { super::on(super::Dialect::Postgres, super::$case).await } )* }
        mod mysql { $(#[tokio::test] async fn $case() { super::on(super::Dialect::Mysql, super::$case).await } )* }
    };
}

/// Like `on_every_backend!` for cases that build their own store: `async fn(Dialect)`.
macro_rules! on_every_dialect {
    ($($case:ident),* $(,)?) => {
        mod sqlite_schema { $(#[tokio::test] async fn $case() { super::on_dialect(super::Dialect::Sqlite, super::$case).await } )* }
        mod postgres_schema { $(#[tokio::test] async fn $case() { super::on_dialect(super::Dialect::Postgres, super::$case).await } )* }
        mod mysql_schema { $(#[tokio::test] async fn $case() { super::on_dialect(super::Dialect::Mysql, super::$case).await } )* }
    };
}

on_every_dialect!(
    renamed_tables_and_columns,
    additional_fields_round_trip_every_type,
    uuid_ids,
    serial_ids,
    serial_ids_in_a_transaction,
    migration_adds_configured_fields,
);

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

/// The schema `toml` (the `[schema]` table's body) configures, with both plugins.
fn configured(toml: &str) -> Schema {
    use figment::providers::{Format, Toml};
    let cfg: SchemaConfig = figment::Figment::from(Toml::string(toml)).extract().expect("valid [schema]");
    let mut schema = Schema::better_auth(Plugins { jwt: true, two_factor: true });
    schema.configure(&cfg).expect("configured");
    schema
}

/// A user record without an id (the strategy makes it).
fn new_user(email: &str) -> Record {
    let mut u = user("", email, "N");
    u.0.retain(|(k, _)| k != "id");
    u
}

async fn renamed_tables_and_columns(d: Dialect) {
    let s = store_with(
        d,
        configured(
            r#"
            [user]
            model_name = "members"
            fields = { email = "email_address", nickname = "nick_name" }
            [user.additional_fields.nickname]
            type = "string"
            [session]
            model_name = "member_sessions"
            fields = { userId = "member_id", token = "session_token" }
            "#,
        ),
    )
    .await;
    let u = s.create("user", new_user("r@x.io").with("nickname", "Rae")).await.unwrap();
    let at = now();
    let session = Record::new()
        .with("expiresAt", at)
        .with("token", "tok")
        .with("createdAt", at)
        .with("updatedAt", at)
        .with("userId", u.string("id"));
    s.create("session", session).await.unwrap();
    let found = s.find_one("user", &[Where::new("email", Op::StartsWith, "r@")]).await.unwrap().unwrap();
    assert_eq!(found.str("nickname"), Some("Rae"));
    let by_user = s.find_many("session", &[Where::eq("userId", u.string("id"))], FindMany::default()).await.unwrap();
    assert_eq!(by_user.len(), 1);
    s.update_many("session", &[Where::eq("token", "tok")], Record::new().with("token", "tok2")).await.unwrap();
    assert_eq!(s.delete_many("session", &[Where::eq("token", "tok2")]).await.unwrap(), 1);
    // The database's own names: lower-case, so unquoted SQL reads them on every dialect.
    let raw = s.pool().strings("select email_address from members", None).await.unwrap();
    assert_eq!(raw, ["r@x.io"]);
    assert!(s.pool().strings("select member_id from member_sessions", None).await.unwrap().is_empty());
}

async fn additional_fields_round_trip_every_type(d: Dialect) {
    let s = store_with(
        d,
        configured(
            r#"
            [user.additional_fields.role]
            type = "string"
            default = "member"
            input = false
            [user.additional_fields.age]
            type = "number"
            [user.additional_fields.vip]
            type = "boolean"
            default = false
            [user.additional_fields.born]
            type = "date"
            [user.additional_fields.prefs]
            type = "json"
            [user.additional_fields.tags]
            type = "string[]"
            [user.additional_fields.scores]
            type = "number[]"
            default = [1, 2]
            [user.additional_fields.code]
            type = "string"
            unique = true
            "#,
        ),
    )
    .await;
    let born = DateTime::parse_from_rfc3339("1990-05-06T07:08:09.123Z").unwrap().with_timezone(&chrono::Utc);
    let prefs = serde_json::json!({"theme": "dark", "n": [1, {"deep": null}]});
    let rec = new_user("t@x.io")
        .with("age", 42i64)
        .with("born", born)
        .with("prefs", Value::Json(prefs.clone()))
        .with("tags", Value::Json(serde_json::json!(["a", "b"])))
        .with("code", "C1");
    let created = s.create("user", rec).await.unwrap();
    let found = s.find_one("user", &[Where::eq("id", created.string("id"))]).await.unwrap().unwrap();
    assert_eq!(created, found, "create returns what find reads back");
    assert_eq!(found.str("role"), Some("member"), "default applied");
    assert_eq!(found.int("age"), Some(42));
    assert_eq!(found.get("vip"), Some(&Value::Bool(false)));
    assert_eq!(found.date("born"), Some(born));
    assert_eq!(found.get("prefs"), Some(&Value::Json(prefs)));
    assert_eq!(found.get("tags"), Some(&Value::Json(serde_json::json!(["a", "b"]))));
    assert_eq!(found.get("scores"), Some(&Value::Json(serde_json::json!([1, 2]))));
    // Updates, filters and the unique constraint of an additional field.
    let data = Record::new().with("age", 43i64).with("vip", true).with("tags", Value::Json(serde_json::json!([])));
    let updated = s.update("user", &[Where::eq("code", "C1")], data).await.unwrap().unwrap();
    assert_eq!(updated.int("age"), Some(43));
    assert_eq!(s.count("user", &[Where::new("age", Op::Gt, 42i64), Where::eq("vip", true)]).await.unwrap(), 1);
    let again = s.find_one("user", &[Where::eq("code", "C1")]).await.unwrap().unwrap();
    assert_eq!(again.get("tags"), Some(&Value::Json(serde_json::json!([]))));
    let err = s.create("user", new_user("u@x.io").with("code", "C1")).await.unwrap_err();
    assert!(matches!(err, StoreError::Unique(_)), "{err}");
    let bare = s.create("user", new_user("v@x.io")).await.unwrap();
    assert_eq!(bare.get("prefs"), Some(&Value::Null));
    assert_eq!(s.find_one("user", &[Where::eq("id", bare.string("id"))]).await.unwrap().unwrap(), bare);
}

fn session_of(user_id: &str, token: &str) -> Record {
    let at = now();
    Record::new()
        .with("expiresAt", at)
        .with("token", token)
        .with("createdAt", at)
        .with("updatedAt", at)
        .with("userId", user_id)
}

async fn uuid_ids(d: Dialect) {
    let s = store_with(d, configured("id_strategy = \"uuid\"")).await;
    let u = s.create("user", new_user("q@x.io")).await.unwrap();
    let id = u.string("id");
    assert!(schema::is_uuid(&id) && id.as_bytes()[14] == b'4', "{id}");
    let sess = s.create("session", session_of(&id, "t1")).await.unwrap();
    assert!(schema::is_uuid(&sess.string("id")));
    assert_eq!(s.find_one("user", &[Where::eq("id", id.as_str())]).await.unwrap().unwrap(), u);
    let mine = s.find_many("session", &[Where::eq("userId", id.as_str())], FindMany::default()).await.unwrap();
    assert_eq!(mine, [sess]);
    // An id that cannot be a uuid names no row (PostgreSQL would reject it as a uuid).
    assert!(s.find_one("user", &[Where::eq("id", "not-a-uuid")]).await.unwrap().is_none());
    assert_eq!(s.delete_many("session", &[Where::is_in("userId", vec![id.into(), "x".into()])]).await.unwrap(), 1);
}

async fn serial_ids(d: Dialect) {
    let s = store_with(d, configured("id_strategy = \"serial\"")).await;
    let a = s.create("user", new_user("a@x.io")).await.unwrap();
    // A given id is the database's to make.
    let b = s.create("user", new_user("b@x.io").with("id", "ignored")).await.unwrap();
    assert_eq!((a.string("id").as_str(), b.string("id").as_str()), ("1", "2"));
    let sess = s.create("session", session_of("2", "t1")).await.unwrap();
    assert_eq!(sess.string("id"), "1");
    assert_eq!(sess.string("userId"), "2");
    let found = s.find_one("session", &[Where::eq("userId", "2")]).await.unwrap().unwrap();
    assert_eq!(found, sess, "ids read back as strings");
    assert_eq!(s.find_one("user", &[Where::eq("id", "2")]).await.unwrap().unwrap(), b);
    assert!(s.find_one("user", &[Where::eq("id", "abc")]).await.unwrap().is_none());
    let ids = vec![Value::from("1"), Value::from("2")];
    assert_eq!(s.count("user", &[Where::is_in("id", ids)]).await.unwrap(), 2);
    s.update("user", &[Where::eq("id", "1")], Record::new().with("name", "One")).await.unwrap();
    assert_eq!(s.find_one("user", &[Where::eq("name", "One")]).await.unwrap().unwrap().string("id"), "1");
}

async fn serial_ids_in_a_transaction(d: Dialect) {
    let s = store_with(d, configured("id_strategy = \"database\"")).await;
    s.create("user", new_user("a@x.io")).await.unwrap();
    let tx = s.begin().await.unwrap();
    let u = tx.create("user", new_user("b@x.io")).await.unwrap();
    let sess = tx.create("session", session_of(&u.string("id"), "t1")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(u.string("id"), "2", "the id generated inside the transaction");
    assert_eq!(s.find_one("session", &[Where::eq("token", "t1")]).await.unwrap().unwrap(), sess);
}

async fn migration_adds_configured_fields(d: Dialect) {
    let pool = open(&database_url(d).await).await.unwrap();
    let base = Schema::better_auth(Plugins { jwt: true, two_factor: true });
    migrate::migrate(&pool, &base, |_| {}).await.unwrap();
    let grown = configured(
        r#"
        [session.additional_fields.code]
        type = "string"
        unique = true
        [session.additional_fields.owner]
        type = "string"
        references = { model = "user", on_delete = "set null" }
        [session.additional_fields.tags]
        type = "string[]"
        "#,
    );
    let steps = migrate::migrate(&pool, &grown, |_| {}).await.unwrap();
    assert!(steps.iter().filter(|s| s.contains("add column")).count() == 3, "{steps:#?}");
    assert!(migrate::plan(&pool, &grown).await.unwrap().is_empty(), "idempotent");
    let s = SqlStore::new(pool, Arc::new(grown));
    let u = s.create("user", new_user("m@x.io")).await.unwrap();
    s.create("session", session_of(&u.string("id"), "t1").with("code", "K").with("owner", u.string("id")))
        .await
        .unwrap();
    let err = s.create("session", session_of(&u.string("id"), "t2").with("code", "K")).await.unwrap_err();
    assert!(matches!(err, StoreError::Unique(_)), "the added column is unique: {err}");
}

/// Compare-and-set through [`HookedStore`](super::hooks::HookedStore) with SQL hooks on the
/// counter models, on every backend, with real concurrency (a file, not a one-connection
/// in-memory database, on SQLite): the conditional update stays atomic, and the hooks run
/// once per row the update actually changed.
mod hooked {
    use tokio::sync::Barrier;

    use super::*;
    use crate::store::hooks::{HookedStore, Hooks, HooksConfig, ModelHooksConfig};

    const RACERS: usize = 12;

    /// The change racer `i` tries to make.
    type Racer = fn(usize) -> Record;

    struct Fixture {
        store: Store,
        raw: SqlStore,
        _dir: tempfile::TempDir,
    }

    /// Each update of `verification`, `twoFactor` and `rateLimit` logs the row in the app's
    /// `hook_log`, in the update's transaction.
    async fn fixture(d: Dialect) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = match d {
            Dialect::Sqlite => format!("sqlite://{}/cas.db", dir.path().display()),
            _ => database_url(d).await,
        };
        let pool = open(&url).await.unwrap();
        let mut schema = Schema::better_auth(Plugins { jwt: false, two_factor: true });
        schema.add_rate_limit();
        let schema = Arc::new(schema);
        migrate::migrate(&pool, &schema, |_| {}).await.unwrap();
        pool.execute_raw("CREATE TABLE hook_log (model VARCHAR(64), row_id VARCHAR(255))").await.unwrap();
        let mut cfg = HooksConfig::new();
        for model in ["verification", "twoFactor", "rateLimit"] {
            let sql = format!("INSERT INTO hook_log (model, row_id) VALUES ('{model}', :id)");
            cfg.insert(model.into(), ModelHooksConfig { after_update: Some(sql), ..Default::default() });
        }
        let hooks = Hooks::from_config(&cfg, &schema).unwrap();
        let inner: Store = Arc::new(SqlStore::new(pool.clone(), schema.clone()));
        let store = Arc::new(HookedStore::new(inner, hooks, schema.clone()));
        Fixture { store, raw: SqlStore::new(pool, schema), _dir: dir }
    }

    /// One row of each counter model, every counter at 0; returns their ids.
    async fn seed(s: &Store) -> [String; 3] {
        let at = now();
        s.create("user", user("u1", "a@x.io", "Ada")).await.unwrap();
        let v = Record::new()
            .with("id", "v1")
            .with("identifier", "attempts-x")
            .with("value", "0")
            .with("expiresAt", at + chrono::Duration::hours(1))
            .with("createdAt", at)
            .with("updatedAt", at);
        s.create("verification", v).await.unwrap();
        let tf = Record::new()
            .with("id", "t1")
            .with("secret", "s")
            .with("backupCodes", "codes-0")
            .with("userId", "u1")
            .with("failedVerificationCount", 0i64)
            .with("lockedUntil", Value::Null);
        s.create("twoFactor", tf).await.unwrap();
        let rl = Record::new()
            .with("id", "r1")
            .with("key", "/sign-in|1.2.3.4")
            .with("count", 0i64)
            .with("lastRequest", 0i64);
        s.create("rateLimit", rl).await.unwrap();
        ["v1".into(), "t1".into(), "r1".into()]
    }

    async fn logged(f: &Fixture, model: &str) -> u64 {
        let q = "SELECT COUNT(*) AS n FROM hook_log WHERE model = :model";
        let rows = f.raw.sql(q, &Record::new().with("model", model)).await.unwrap();
        rows[0].string("n").parse().unwrap()
    }

    /// `RACERS` tasks released at once, each running `update_many(model, filter, data(i))`;
    /// returns the rows each changed.
    async fn race(s: &Store, model: &'static str, filter: Vec<Where>, data: impl Fn(usize) -> Record) -> Vec<u64> {
        let start = Arc::new(Barrier::new(RACERS));
        let tasks: Vec<_> = (0..RACERS)
            .map(|i| {
                let (s, filter, data, start) = (s.clone(), filter.clone(), data(i), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    s.update_many(model, &filter, data).await.unwrap()
                })
            })
            .collect();
        let mut changed = Vec::new();
        for t in tasks {
            changed.push(t.await.unwrap());
        }
        changed
    }

    /// The counter as a number, whichever type the field has.
    fn number(v: &Value) -> i64 {
        match v {
            Value::Int(i) => *i,
            Value::Text(s) => s.parse().unwrap(),
            other => panic!("not a counter: {other:?}"),
        }
    }

    /// Raises `field` of the row by one with a compare-and-set, read again after each loss, as
    /// the rate limiter and the two-factor attempt counters do.
    async fn increment(s: Store, model: &'static str, id: String, field: &'static str, start: Arc<Barrier>) -> usize {
        start.wait().await;
        for round in 1.. {
            let row = s.find_one(model, &[Where::eq("id", id.as_str())]).await.unwrap().unwrap();
            let seen = row.get(field).cloned().unwrap();
            let next = match &seen {
                Value::Text(_) => Value::Text((number(&seen) + 1).to_string()),
                _ => Value::Int(number(&seen) + 1),
            };
            let filter = [Where::eq("id", id.as_str()), Where::eq(field, seen)];
            if s.update_many(model, &filter, Record::new().with(field, next)).await.unwrap() == 1 {
                return round;
            }
            assert!(round < 1000, "{model}: starved");
        }
        unreachable!()
    }

    async fn one_compare_and_set_wins(d: Dialect) {
        let f = fixture(d).await;
        let [v, t, r] = seed(&f.store).await;
        let cases: [(&str, Vec<Where>, Racer); 3] = [
            ("verification", vec![Where::eq("id", v), Where::eq("value", "0")], |i| {
                Record::new().with("value", format!("won-{i}"))
            }),
            ("twoFactor", vec![Where::eq("id", t), Where::eq("backupCodes", "codes-0")], |i| {
                Record::new().with("backupCodes", format!("codes-{}", i + 1))
            }),
            (
                "rateLimit",
                vec![Where::eq("key", "/sign-in|1.2.3.4"), Where::eq("count", 0i64), Where::eq("lastRequest", 0i64)],
                |i| Record::new().with("count", 1i64).with("lastRequest", i as i64 + 1),
            ),
        ];
        for (model, filter, data) in cases {
            let changed = race(&f.store, model, filter, data).await;
            assert_eq!(changed.iter().sum::<u64>(), 1, "{d:?} {model}: exactly one wins: {changed:?}");
            assert_eq!(logged(&f, model).await, 1, "{d:?} {model}: the hook ran for the winner only");
        }
        let rl = f.raw.find_one("rateLimit", &[Where::eq("id", r)]).await.unwrap().unwrap();
        assert_eq!(rl.int("count"), Some(1), "{d:?}");
    }

    async fn counters_lose_no_increment(d: Dialect) {
        let f = fixture(d).await;
        let ids = seed(&f.store).await;
        let counters = [("verification", "value"), ("twoFactor", "failedVerificationCount"), ("rateLimit", "count")];
        for ((model, field), id) in counters.into_iter().zip(ids) {
            let start = Arc::new(Barrier::new(RACERS));
            let tasks: Vec<_> = (0..RACERS)
                .map(|_| tokio::spawn(increment(f.store.clone(), model, id.clone(), field, start.clone())))
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let row = f.raw.find_one(model, &[Where::eq("id", id.as_str())]).await.unwrap().unwrap();
            assert_eq!(number(row.get(field).unwrap()), RACERS as i64, "{d:?} {model}: no increment lost");
            assert_eq!(logged(&f, model).await, RACERS as u64, "{d:?} {model}: one hook run per increment");
        }
    }

    macro_rules! on_every_dialect_concurrently {
        ($($case:ident),*) => {
            mod sqlite { $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $case() { tokio::time::timeout(std::time::Duration::from_secs(60), crate::store::tests::on_dialect(super::Dialect::Sqlite, super::$case)).await.unwrap() } )* }
            mod postgres { $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $case() { tokio::time::timeout(std::time::Duration::from_secs(60), crate::store::tests::on_dialect(super::Dialect::Postgres, super::$case)).await.unwrap() } )* }
            mod mysql { $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $case() { tokio::time::timeout(std::time::Duration::from_secs(60), crate::store::tests::on_dialect(super::Dialect::Mysql, super::$case)).await.unwrap() } )* }
        };
    }

    on_every_dialect_concurrently!(one_compare_and_set_wins, counters_lose_no_increment);
}
