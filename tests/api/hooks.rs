//! Database hooks run inside the auth write's transaction, on SQLite, PostgreSQL and MariaDB:
//! SQL hooks from the configuration keep an app table in step, refuse or rewrite a write, and
//! a hook that fails leaves no row of its operation behind (counted, table by table).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use palisade::app::{self, OnSchema};
use palisade::config::Config;
use palisade::error::ApiError;
use palisade::store::hooks::{Event, Hooks, ModelHooksConfig};
use palisade::store::sql::{Dialect, Pool, SqlStore, open};
use palisade::store::{Ops, Record, Schema, Where};
use serde_json::json;

use palisade::testing::{dialects, fresh_database};

use crate::harness::{TestApp, spawn_hooked};

/// A fresh database with the app's own tables; returns its URL (`None`: the temp-dir SQLite file).
pub async fn app_database(d: Dialect) -> (Option<String>, Pool) {
    let Some(url) = fresh_database(d).await else {
        let dir = tempfile::tempdir().unwrap().keep();
        let url = format!("sqlite://{}/app.db", dir.display());
        let pool = open(&url).await.unwrap();
        create_app_tables(&pool, "INTEGER PRIMARY KEY AUTOINCREMENT").await;
        return (Some(url), pool);
    };
    let pool = open(&url).await.unwrap();
    let key = if d == Dialect::Postgres { "SERIAL PRIMARY KEY" } else { "INTEGER PRIMARY KEY AUTO_INCREMENT" };
    create_app_tables(&pool, key).await;
    (Some(url), pool)
}

async fn create_app_tables(pool: &Pool, key: &str) {
    pool.execute_raw(&format!("CREATE TABLE app_users (id {key}, email VARCHAR(255) UNIQUE, name VARCHAR(255))"))
        .await
        .unwrap();
    pool.execute_raw("CREATE TABLE app_logins (user_id VARCHAR(255), session_id VARCHAR(255))").await.unwrap();
}

/// Serves `cfg` on the database at `url`, migrating it first as an operator would.
pub async fn serve(url: Option<String>, tweak: impl FnOnce(&mut Config), hooks: Hooks) -> TestApp {
    let url2 = url.clone();
    let app = spawn_hooked(
        move |cfg| {
            cfg.database.url = url2;
            tweak(cfg);
        },
        hooks,
    )
    .await;
    let _ = url;
    app
}

pub async fn migrate(url: &str, tweak: &dyn Fn(&mut Config), app_user_id: bool) {
    let mut cfg = Config::default();
    cfg.database.url = Some(url.into());
    tweak(&mut cfg);
    let schema = Arc::new(app::schema_for(&cfg, app_user_id).unwrap());
    app::open_store(&cfg, schema, OnSchema::Migrate, |_| {}).await.unwrap();
}

/// A store on `pool` for the test's own SQL.
pub fn raw(pool: &Pool) -> SqlStore {
    SqlStore::new(pool.clone(), Arc::new(Schema::core()))
}

pub async fn count(pool: &Pool, table: &str) -> i64 {
    let store = raw(pool);
    let q = match pool.dialect() {
        Dialect::Mysql => format!("SELECT COUNT(*) AS n FROM `{table}`"),
        _ => format!("SELECT COUNT(*) AS n FROM \"{table}\""),
    };
    let rows = store.sql(&q, &Record::new()).await.unwrap();
    rows[0].string("n").parse().unwrap()
}

async fn counts(pool: &Pool) -> [i64; 5] {
    [
        count(pool, "user").await,
        count(pool, "account").await,
        count(pool, "session").await,
        count(pool, "app_users").await,
        count(pool, "app_logins").await,
    ]
}

/// `counts` in the `component` layout: the auth tables in schema `auth` (PostgreSQL) or
/// prefixed `auth_`; the app's where they were.
async fn component_counts(pool: &Pool) -> [i64; 5] {
    let store = raw(pool);
    let mut out = [0; 5];
    for (i, t) in ["user", "account", "session"].into_iter().enumerate() {
        let q = match pool.dialect() {
            Dialect::Postgres => format!("SELECT COUNT(*) AS n FROM auth.\"{t}\""),
            Dialect::Mysql => format!("SELECT COUNT(*) AS n FROM `auth_{t}`"),
            Dialect::Sqlite => format!("SELECT COUNT(*) AS n FROM \"auth_{t}\""),
        };
        out[i] = store.sql(&q, &Record::new()).await.unwrap()[0].string("n").parse().unwrap();
    }
    out[3] = count(pool, "app_users").await;
    out[4] = count(pool, "app_logins").await;
    out
}

fn component(cfg: &mut Config) {
    sql_hooks(cfg);
    cfg.database.layout = palisade::config::Layout::Component;
}

/// `layout = "component"`: the auth tables live apart from the app's, and the hooks still
/// write the app's tables in the auth write's transaction.
async fn component_layout_on(d: Dialect) {
    let (url, pool) = app_database(d).await;
    if d != Dialect::Sqlite {
        migrate(url.as_deref().unwrap(), &component, false).await;
    }
    let app = serve(url, component, Hooks::new()).await;
    let body = json!({"email": "ann@example.com", "password": "password-123", "name": "Ann"});
    let r = app.post("/sign-up/email", body, None).await;
    assert_eq!(r.status, 200, "{d:?}: {}", r.text);
    assert!(r.json()["user"]["userId"].is_string(), "{d:?}: the app's id");
    assert_eq!(component_counts(&pool).await, [1, 1, 1, 1, 1], "{d:?}");
    // Nothing of Better Auth's is in the app's namespace.
    let app_tables = match d {
        Dialect::Postgres => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
        Dialect::Mysql => {
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = database() AND table_name NOT LIKE 'auth\\_%'"
        }
        Dialect::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'auth\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%'"
        }
    };
    let n = raw(&pool).sql(app_tables, &Record::new()).await.unwrap()[0].string("n");
    assert_eq!(n, "2", "{d:?}: only app_users and app_logins are the app's");

    // A failing app insert still rolls the auth rows back.
    raw(&pool)
        .sql("INSERT INTO app_users (email, name) VALUES ('dup@example.com', 'x')", &Record::new())
        .await
        .unwrap();
    let body = json!({"email": "dup@example.com", "password": "password-123", "name": "Dup"});
    let r = app.post("/sign-up/email", body, None).await;
    assert_eq!((r.status, r.json()["code"].as_str()), (500, Some("HOOK_FAILED")), "{d:?}");
    assert_eq!(component_counts(&pool).await, [1, 1, 1, 2, 1], "{d:?}");
}

#[tokio::test]
async fn component_layout_keeps_auth_tables_apart_on_every_backend() {
    for d in dialects("component layout") {
        component_layout_on(d).await;
    }
}

fn sql_hooks(cfg: &mut Config) {
    let user = ModelHooksConfig {
        before_create: Some(
            "SELECT upper(:name) AS name, \
             CASE WHEN :email LIKE '%@blocked.test' THEN 'DOMAIN_BLOCKED' END AS error_code, \
             'Sign-ups from this domain are closed' AS error_message, 403 AS error_status"
                .into(),
        ),
        after_create: Some("INSERT INTO app_users (email, name) VALUES (:email, :name) RETURNING id".into()),
        after_update: Some("UPDATE app_users SET name = :name WHERE id = CAST(:userId AS INTEGER)".into()),
        before_delete: Some("DELETE FROM app_users WHERE id = CAST(:userId AS INTEGER)".into()),
        ..Default::default()
    };
    let session = ModelHooksConfig {
        after_create: Some("INSERT INTO app_logins (user_id, session_id) VALUES (:userId, :id)".into()),
        ..Default::default()
    };
    cfg.hooks.insert("user".into(), user);
    cfg.hooks.insert("session".into(), session);
    cfg.edit(|s: &mut palisade::plugins::jwt::JwtConfig| s.subject = palisade::plugins::jwt::Subject::App);
}

async fn sql_hooks_on(d: Dialect) {
    let (url, pool) = app_database(d).await;
    if d != Dialect::Sqlite {
        migrate(url.as_deref().unwrap(), &sql_hooks, false).await;
    }
    let app = serve(url, sql_hooks, Hooks::new()).await;
    let body = json!({"email": "ann@example.com", "password": "password-123", "name": "Ann"});
    let r = app.post("/sign-up/email", body, None).await;
    assert_eq!(r.status, 200, "{d:?}: {}", r.text);
    let user = &r.json()["user"];
    assert_eq!(user["name"], "ANN", "{d:?}: the before hook rewrote the name");
    let app_id = user["userId"].as_str().expect("userId is the app's id").to_string();
    let store = raw(&pool);
    let rows = store.sql("SELECT name FROM app_users WHERE email = 'ann@example.com'", &Record::new()).await.unwrap();
    assert_eq!(rows[0].str("name"), Some("ANN"));
    assert_eq!(counts(&pool).await, [1, 1, 1, 1, 1], "{d:?}");
    // Tokens for the app's backend name the app's user (`plugins.jwt.subject = "app"`).
    let token = app.get("/token", Some(&r.cookie_header())).await.json()["token"].as_str().unwrap().to_string();
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["sub"], app_id.as_str(), "{d:?}");

    // A before hook refuses: the client gets its status, code and message; nothing is written.
    let body = json!({"email": "bo@blocked.test", "password": "password-123", "name": "Bo"});
    let r = app.post("/sign-up/email", body, None).await;
    assert_eq!(r.status, 403, "{d:?}: {}", r.text);
    assert_eq!(r.json(), json!({"message": "Sign-ups from this domain are closed", "code": "DOMAIN_BLOCKED"}));
    assert_eq!(counts(&pool).await, [1, 1, 1, 1, 1], "{d:?}");

    // The app row insert fails (its email is taken there): the whole sign-up rolls back.
    store.sql("INSERT INTO app_users (email, name) VALUES ('dup@example.com', 'x')", &Record::new()).await.unwrap();
    let body = json!({"email": "dup@example.com", "password": "password-123", "name": "Dup"});
    let r = app.post("/sign-up/email", body, None).await;
    assert_eq!(r.status, 500, "{d:?}: {}", r.text);
    assert_eq!(r.json()["code"], "HOOK_FAILED");
    assert_eq!(counts(&pool).await, [1, 1, 1, 2, 1], "{d:?}: no user, account or session of the failed sign-up");

    // Updates follow; deletion removes the app row in the same transaction.
    let r = app.post("/sign-in/email", json!({"email": "ann@example.com", "password": "password-123"}), None).await;
    let cookie = r.cookie_header();
    assert_eq!(counts(&pool).await, [1, 1, 2, 2, 2], "{d:?}");
    let r = app.post("/update-user", json!({"name": "Annie"}), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{d:?}: {}", r.text);
    let q = format!("SELECT name FROM app_users WHERE id = {app_id}");
    assert_eq!(store.sql(&q, &Record::new()).await.unwrap()[0].str("name"), Some("Annie"));
    let r = app.post("/delete-user", json!({"password": "password-123"}), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{d:?}: {}", r.text);
    assert_eq!(counts(&pool).await, [0, 0, 0, 1, 2], "{d:?}: ann's app row went with her");
}

#[tokio::test]
async fn sql_hooks_keep_the_app_table_in_step_on_every_backend() {
    for d in dialects("SQL hooks") {
        sql_hooks_on(d).await;
    }
}

/// Rust hooks (library mode): the app user is created in the transaction; the session hook
/// fails on its third call, and that sign-up leaves nothing. The user's before_delete records
/// how many sessions and accounts the user still has when it runs.
fn rust_hooks(calls: Arc<AtomicUsize>, seen_at_delete: Arc<Mutex<Vec<u64>>>) -> Hooks {
    Hooks::new()
        .on_fn("user", Event::BeforeDelete, move |ctx| {
            let seen = seen_at_delete.clone();
            Box::pin(async move {
                let owned = [Where::eq("userId", ctx.record.string("id"))];
                let rows = [ctx.tx.count("session", &owned).await?, ctx.tx.count("account", &owned).await?];
                seen.lock().unwrap().extend(rows);
                Ok(None)
            })
        })
        // Gradual migration: an app user with this email already exists: adopt it (the
        // built-in policy waits for a verified email), else create one.
        .adopt_fn(
            |ctx| {
                Box::pin(async move {
                    let params = Record::new().with("email", ctx.record.string("email"));
                    Ok(ctx.tx.sql("SELECT id FROM app_users WHERE email = :email", &params).await?.into_iter().next())
                })
            },
            |ctx| {
                Box::pin(async move {
                    let sql = "INSERT INTO app_users (email, name) VALUES (:email, :name) RETURNING id";
                    let params =
                        Record::new().with("email", ctx.record.string("email")).with("name", ctx.record.string("name"));
                    Ok(ctx.tx.sql(sql, &params).await?.into_iter().next())
                })
            },
        )
        .on_fn("session", Event::AfterCreate, move |ctx| {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move {
                if n == 3 {
                    return Err(ApiError::new(409, "THIRD_TIME", "The third session is refused"));
                }
                let params = Record::new().with("u", ctx.record.string("userId")).with("s", ctx.record.string("id"));
                ctx.tx.sql("INSERT INTO app_logins (user_id, session_id) VALUES (:u, :s)", &params).await?;
                Ok(None)
            })
        })
}

async fn rust_hooks_on(d: Dialect) {
    let (url, pool) = app_database(d).await;
    if d != Dialect::Sqlite {
        migrate(url.as_deref().unwrap(), &|_| {}, true).await;
    }
    let store = raw(&pool);
    store.sql("INSERT INTO app_users (email, name) VALUES ('old@example.com', 'Old')", &Record::new()).await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen_at_delete = Arc::new(Mutex::new(Vec::new()));
    let app = serve(url, |_| {}, rust_hooks(calls.clone(), seen_at_delete.clone())).await;
    let mut statuses = Vec::new();
    for email in ["old@example.com", "new@example.com", "third@example.com", "fourth@example.com"] {
        let r =
            app.post("/sign-up/email", json!({"email": email, "password": "password-123", "name": "N"}), None).await;
        if email == "old@example.com" {
            // Not adopted while the email is unverified (tests/api/adoption.rs verifies it).
            assert_eq!(r.json()["user"]["userId"], serde_json::Value::Null, "{d:?}: adoption deferred");
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, [200, 200, 409, 200], "{d:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    // 3 users (the third rolled back), app users: old + new + fourth.
    assert_eq!(counts(&pool).await, [3, 3, 3, 3, 3], "{d:?}");

    // The user's before_delete runs before any of the user's rows go (two sessions, one account).
    let sign_in = json!({"email": "new@example.com", "password": "password-123"});
    let cookie = app.post("/sign-in/email", sign_in, None).await.cookie_header();
    let r = app.post("/delete-user", json!({"password": "password-123"}), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{d:?}: {}", r.text);
    assert_eq!(*seen_at_delete.lock().unwrap(), [2, 1], "{d:?}: sessions, accounts seen by before_delete");
    assert_eq!(count(&pool, "user").await, 2, "{d:?}");
}

#[tokio::test]
async fn rust_hooks_share_the_transaction_and_a_failure_leaves_nothing() {
    for d in dialects("Rust hooks") {
        rust_hooks_on(d).await;
    }
}
