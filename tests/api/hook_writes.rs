//! A hook that writes auth rows in the write's transaction (a session's after-create hook
//! patching its own row, a user's after-create or after-update hook patching the user, a
//! session hook bumping a counter on the user): the response and every copy of the rows —
//! the local cache, the cookie cache, secondary storage in Redis — show the rows as committed.
//! SQL hooks from the configuration and Rust hooks, on SQLite, PostgreSQL and MariaDB.

use palisade::app::{self, OnSchema};
use palisade::config::Config;
use palisade::store::hooks::{Event, HookCtx, HookFuture, Hooks, HooksConfig, ModelHooksConfig};
use palisade::store::sql::Dialect;
use palisade::store::{Record, Where};
use serde_json::{Value, json};

use palisade::testing::{Service, dialects, fresh_database, require};

use crate::harness::{Resp, TestApp, spawn_hooked};

/// Where the copies of a session and its user live besides the database.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Copies {
    LocalCache,
    CookieCache,
    Redis,
}

/// The copies this run can check: Redis only when `TEST_REDIS_URL` is set.
fn every_copy(what: &str) -> Vec<Copies> {
    let redis = require(Service::Redis, what).map(|_| Copies::Redis);
    [Copies::LocalCache, Copies::CookieCache].into_iter().chain(redis).collect()
}

const FIELDS: &str = r#"
[schema.user.additional_fields.plan]
type = "string"
default = "free"
input = false
[schema.user.additional_fields.logins]
type = "number"
default = 0
input = false
[schema.session.additional_fields.device]
type = "string"
default = "web"
input = false
"#;

fn schema() -> palisade::store::schema_config::SchemaConfig {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("palisade.toml");
    std::fs::write(&path, FIELDS).expect("write config");
    Config::load(Some(&path)).expect("valid configuration").schema
}

/// An identifier quoted for `d`'s SQL (`user` is a reserved word on PostgreSQL).
fn q(d: Dialect, name: &str) -> String {
    if d == Dialect::Mysql { format!("`{name}`") } else { format!("\"{name}\"") }
}

/// Each hook patches the row it was called for.
fn sql_hooks(d: Dialect) -> HooksConfig {
    let (user, session, id) = (q(d, "user"), q(d, "session"), q(d, "id"));
    let (ip, device, plan) = (q(d, "ipAddress"), q(d, "device"), q(d, "plan"));
    let mut cfg = HooksConfig::new();
    cfg.insert(
        "session".into(),
        ModelHooksConfig {
            after_create: Some(format!(
                "UPDATE {session} SET {ip} = 'sql-hook', {device} = 'patched' WHERE {id} = :id"
            )),
            ..Default::default()
        },
    );
    cfg.insert(
        "user".into(),
        ModelHooksConfig {
            after_create: Some(format!("UPDATE {user} SET {plan} = 'trial' WHERE {id} = :id")),
            after_update: Some(format!("UPDATE {user} SET {plan} = 'edited' WHERE {id} = :id")),
            ..Default::default()
        },
    );
    cfg
}

/// A user hook that sets the user's `plan`, through the transaction's adapter verbs.
fn set_plan(plan: &'static str) -> impl for<'a> Fn(HookCtx<'a>) -> HookFuture<'a> + Send + Sync + 'static {
    move |ctx| {
        Box::pin(async move {
            let by_id = [Where::eq("id", ctx.record.string("id"))];
            ctx.tx.update("user", &by_id, Record::new().with("plan", plan)).await?;
            Ok(None)
        })
    }
}

/// The same patches from Rust, through the adapter verbs of the transaction; the session's
/// hook also counts the sign-in on the user's row (a write to another cached row).
fn rust_hooks(d: Dialect) -> Hooks {
    let bump = format!(
        "UPDATE {u} SET {n} = {n} + 1 WHERE {id} = :uid",
        u = q(d, "user"),
        n = q(d, "logins"),
        id = q(d, "id")
    );
    Hooks::new()
        .on_fn("session", Event::AfterCreate, move |ctx| {
            let bump = bump.clone();
            Box::pin(async move {
                let by_id = [Where::eq("id", ctx.record.string("id"))];
                let patch = Record::new().with("ipAddress", "rust-hook").with("device", "patched");
                ctx.tx.update("session", &by_id, patch).await?;
                ctx.tx.sql(&bump, &Record::new().with("uid", ctx.record.string("userId"))).await?;
                Ok(None)
            })
        })
        .on_fn("user", Event::AfterCreate, set_plan("trial"))
        .on_fn("user", Event::AfterUpdate, set_plan("edited"))
}

async fn serve(d: Dialect, copies: Copies, sql: bool, hooks: Hooks) -> TestApp {
    let url = fresh_database(d).await;
    let rust_user_hooks = !hooks.is_empty();
    let tweak = move |cfg: &mut Config| {
        cfg.database.url = url.clone();
        cfg.schema = schema();
        if sql {
            cfg.hooks = sql_hooks(d);
        }
        match copies {
            Copies::LocalCache => cfg.session.local_cache_ttl = 300,
            Copies::CookieCache => {
                cfg.session.cookie_cache.enabled = true;
                cfg.session.cookie_cache.max_age = 300;
            }
            Copies::Redis => {
                cfg.secondary_storage.url = Service::Redis.value();
            }
        }
    };
    if d != Dialect::Sqlite {
        // Shared servers are migrated by the operator before the server starts.
        let mut cfg = Config::default();
        tweak(&mut cfg);
        let schema = std::sync::Arc::new(app::schema_for(&cfg, rust_user_hooks).unwrap());
        app::open_store(&cfg, schema, OnSchema::Migrate, |_| {}).await.unwrap();
    }
    spawn_hooked(tweak, hooks).await
}

/// `cookie` after the response's Set-Cookie headers (a browser's jar, for one site).
fn merged(cookie: &str, r: &Resp) -> String {
    let mut jar: Vec<(String, String)> =
        cookie.split("; ").filter_map(|nv| nv.split_once('=')).map(|(n, v)| (n.to_string(), v.to_string())).collect();
    for set in r.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
        let Some((name, value)) = set.split(';').next().and_then(|nv| nv.split_once('=')) else { continue };
        jar.retain(|(n, _)| n != name);
        if !value.is_empty() {
            jar.push((name.to_string(), value.to_string()));
        }
    }
    jar.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
}

async fn session_of(app: &TestApp, cookie: &str, label: &str) -> Value {
    let r = app.get("/get-session", Some(cookie)).await;
    assert_eq!(r.status, 200, "{label}: {}", r.text);
    assert!(r.json()["session"].is_object(), "{label}: signed in: {}", r.text);
    r.json()
}

/// Sign-up, get-session twice (the second from the copy), sign-in on a second device,
/// update-user: every answer shows what the hooks wrote. `ip` is the hook's `ipAddress`;
/// `counts_logins`: the session hook also bumps `user.logins`. That write to another row is
/// not in a cookie's copy: sign-in builds it from the user it read before the session was
/// made (as Better Auth does), and the copy is trusted until it expires.
async fn hook_writes_are_seen(app: &TestApp, label: &str, copies: Copies, ip: &str, counts_logins: bool) {
    let counts_logins = counts_logins && copies != Copies::CookieCache;
    let body = json!({"email": "ann@example.com", "password": "password-123", "name": "Ann"});
    let r = app.post("/sign-up/email", body, None).await;
    assert_eq!(r.status, 200, "{label}: {}", r.text);
    assert_eq!(r.json()["user"]["plan"], "trial", "{label}: sign-up answers the user as committed");
    let a = merged("", &r);
    for read in ["first", "second"] {
        let s = session_of(app, &a, label).await;
        assert_eq!(s["session"]["ipAddress"], ip, "{label}: {read} get-session: {s}");
        assert_eq!(s["session"]["device"], "patched", "{label}: {read} get-session");
        assert_eq!(s["user"]["plan"], "trial", "{label}: {read} get-session");
        if counts_logins {
            assert_eq!(s["user"]["logins"], 1, "{label}: {read} get-session");
        }
    }

    let r = app.post("/sign-in/email", json!({"email": "ann@example.com", "password": "password-123"}), None).await;
    assert_eq!(r.status, 200, "{label}: {}", r.text);
    let b = merged("", &r);
    let s = session_of(app, &b, label).await;
    assert_eq!(s["session"]["ipAddress"], ip, "{label}: sign-in's session: {s}");
    assert_eq!(s["session"]["device"], "patched", "{label}");
    if counts_logins {
        assert_eq!(s["user"]["logins"], 2, "{label}: the second device");
        let s = session_of(app, &a, label).await;
        assert_eq!(s["user"]["logins"], 2, "{label}: the first device sees the other session's hook write");
    }

    let r = app.post("/update-user", json!({"name": "Zed"}), Some(&a)).await;
    assert_eq!(r.status, 200, "{label}: {}", r.text);
    let a = merged(&a, &r);
    let s = session_of(app, &a, label).await;
    assert_eq!((&s["user"]["name"], &s["user"]["plan"]), (&json!("Zed"), &json!("edited")), "{label}: {s}");
    // The other device's cookie copy stays as it was until it expires.
    if copies != Copies::CookieCache {
        let s = session_of(app, &b, label).await;
        assert_eq!(s["user"]["plan"], "edited", "{label}: the other device");
    }
}

#[tokio::test]
async fn sql_hook_writes_are_what_the_response_and_every_copy_show() {
    for d in dialects("SQL hook writes") {
        for copies in every_copy("SQL hook writes in Redis") {
            let app = serve(d, copies, true, Hooks::new()).await;
            hook_writes_are_seen(&app, &format!("{d:?} {copies:?} SQL"), copies, "sql-hook", false).await;
        }
    }
}

#[tokio::test]
async fn rust_hook_writes_are_what_the_response_and_every_copy_show() {
    for d in dialects("Rust hook writes") {
        for copies in every_copy("Rust hook writes in Redis") {
            let app = serve(d, copies, false, rust_hooks(d)).await;
            hook_writes_are_seen(&app, &format!("{d:?} {copies:?} Rust"), copies, "rust-hook", true).await;
        }
    }
}
