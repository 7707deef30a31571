//! Anonymous linking (the anonymous plugin): when an anonymous user signs up for real, the
//! anonymous user is deleted in one transaction whose user delete hooks see `:linkedUserId`,
//! so the app moves its rows; a hook that refuses leaves both users and the rows as they were.
//! On SQLite, PostgreSQL and MariaDB.

use palisade::config::Config;
use palisade::plugins::anonymous::AnonymousConfig;
use palisade::store::hooks::{Hooks, ModelHooksConfig};
use palisade::store::sql::{Dialect, Pool};
use palisade::store::{Ops, Record};
use palisade::testing::dialects;
use serde_json::json;

use crate::hooks::{app_database, count, migrate, raw, serve};

fn moving(cfg: &mut Config) {
    cfg.edit(|a: &mut AnonymousConfig| a.enabled = true);
    let user = ModelHooksConfig {
        before_delete: Some("UPDATE todos SET owner = :linkedUserId WHERE owner = :id".into()),
        ..Default::default()
    };
    cfg.hooks.insert("user".into(), user);
}

fn refusing(cfg: &mut Config) {
    cfg.edit(|a: &mut AnonymousConfig| a.enabled = true);
    let user = ModelHooksConfig {
        before_delete: Some(
            "SELECT CASE WHEN COALESCE(:linkedUserId, '') <> '' THEN 'LINK_REFUSED' END AS error_code, \
             'Linking is closed' AS error_message, 409 AS error_status"
                .into(),
        ),
        ..Default::default()
    };
    cfg.hooks.insert("user".into(), user);
}

async fn owners(pool: &Pool) -> Vec<String> {
    let rows = raw(pool).sql("SELECT owner FROM todos ORDER BY title", &Record::new()).await.unwrap();
    rows.iter().map(|r| r.string("owner")).collect()
}

async fn link_on(d: Dialect, tweak: fn(&mut Config)) -> (Pool, String, serde_json::Value, i64) {
    let (url, pool) = app_database(d).await;
    pool.execute_raw("CREATE TABLE todos (owner VARCHAR(255), title VARCHAR(255))").await.unwrap();
    if d != Dialect::Sqlite {
        migrate(url.as_deref().unwrap(), &tweak, false).await;
    }
    let app = serve(url, tweak, Hooks::new()).await;
    let anon = app.post("/sign-in/anonymous", json!({}), None).await;
    assert_eq!(anon.status, 200, "{d:?}: {}", anon.text);
    let anon_id = anon.json()["user"]["id"].as_str().unwrap().to_string();
    let insert = format!("INSERT INTO todos (owner, title) VALUES ('{anon_id}', 'a'), ('{anon_id}', 'b')");
    pool.execute_raw(&insert).await.unwrap();
    let body = json!({"email": format!("real-{d:?}@example.com"), "password": "password-123", "name": "Real"});
    let r = app.post("/sign-up/email", body, Some(&anon.cookie_header())).await;
    let users = count(&pool, "user").await;
    (pool, anon_id, json!({"status": r.status, "body": r.json()}), users)
}

#[tokio::test]
async fn linking_moves_the_apps_rows_in_the_same_transaction() {
    for d in dialects("anonymous linking") {
        let (pool, anon_id, reply, users) = link_on(d, moving).await;
        assert_eq!(reply["status"], 200, "{d:?}: {reply}");
        let real_id = reply["body"]["user"]["id"].as_str().unwrap().to_string();
        assert_eq!(users, 1, "{d:?}: the anonymous user is gone");
        assert_eq!(owners(&pool).await, [real_id.clone(), real_id], "{d:?}: the todos moved");
        let q = format!("SELECT COUNT(*) AS n FROM session WHERE \"userId\" = '{anon_id}'");
        let q = if d == Dialect::Mysql { q.replace('"', "`") } else { q };
        assert_eq!(raw(&pool).sql(&q, &Record::new()).await.unwrap()[0].string("n"), "0", "{d:?}");
    }
}

#[tokio::test]
async fn a_refusing_link_hook_leaves_both_users_as_they_were() {
    for d in dialects("anonymous linking") {
        let (pool, anon_id, reply, users) = link_on(d, refusing).await;
        assert_eq!(reply["status"], 409, "{d:?}: {reply}");
        assert_eq!(reply["body"], json!({"message": "Linking is closed", "code": "LINK_REFUSED"}), "{d:?}");
        assert_eq!(users, 2, "{d:?}: the anonymous user and the new one");
        assert_eq!(owners(&pool).await, [anon_id.clone(), anon_id], "{d:?}: the todos stay");
    }
}
