//! The webhook outbox on SQLite, PostgreSQL and MariaDB: events reach a receiver started by the
//! test, which checks each Standard Webhooks signature with its own HMAC code; an event rolls
//! back with its write; a refused delivery is retried; events written while the receiver is
//! down survive the server's stop (and a SIGKILL) and are sent by a new server process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use palisade::app::{self, OnSchema};
use palisade::config::Config;
use palisade::error::ApiError;
use palisade::plugins::webhooks::{EndpointConfig, EventType, WebhooksConfig, log};
use palisade::store::hooks::{Event, Hooks};
use palisade::store::sql::{Dialect, SqlStore, open};
use palisade::store::{Record, Where};
use serde_json::{Value, json};
use sha2::Sha256;

use palisade::testing::{dialects, fresh_database};

use crate::harness::{TestApp, spawn_hooked};

pub const WH_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WH_SECRET_2: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const PASSWORD: &str = "password-123";

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub valid: bool,
    pub answered: u16,
    pub body: Value,
}

impl Delivery {
    pub fn ty(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }
}

/// A webhook receiver: verifies signatures with `secret`, answers 500 to the first
/// `fail_first` requests, then 200.
pub struct Receiver {
    url: String,
    secret: String,
    seen: Mutex<Vec<Delivery>>,
    fail_first: AtomicUsize,
}

impl Receiver {
    async fn start(secret: &str) -> Arc<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::on(listener, secret)
    }

    pub fn on(listener: tokio::net::TcpListener, secret: &str) -> Arc<Receiver> {
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let me =
            Arc::new(Receiver { url, secret: secret.into(), seen: Mutex::default(), fail_first: AtomicUsize::new(0) });
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(me.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        me
    }

    pub fn seen(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap().clone()
    }

    /// The accepted deliveries, once there are `n` of them (at most 20 s).
    pub async fn accepted(&self, n: usize) -> Vec<Delivery> {
        let accepted = || self.seen().into_iter().filter(|d| d.answered == 200).collect::<Vec<_>>();
        for _ in 0..200 {
            if accepted().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let got = accepted();
        assert_eq!(got.len(), n, "accepted deliveries: {:#?}", self.seen());
        got
    }

    /// The Standard Webhooks check, written here independently of the server's code.
    fn verify(&self, headers: &HeaderMap, body: &str) -> bool {
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let (id, ts, signatures) = (h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"));
        let Ok(sent_at) = ts.parse::<i64>() else { return false };
        if (chrono::Utc::now().timestamp() - sent_at).abs() > 300 || id.is_empty() {
            return false;
        }
        let key = STANDARD.decode(self.secret.trim_start_matches("whsec_")).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.{ts}.{body}").as_bytes());
        let expected = STANDARD.encode(mac.finalize().into_bytes());
        signatures.split(' ').any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
    }
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: String) -> StatusCode {
    let valid = r.verify(&headers, &body);
    let fail = r.fail_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let answered = if fail { 500 } else { 200 };
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let body = serde_json::from_str(&body).unwrap_or(Value::Null);
    r.seen.lock().unwrap().push(Delivery { id, valid, answered, body });
    StatusCode::from_u16(answered).unwrap()
}

fn endpoint(url: &str, secret: &str, events: Vec<EventType>) -> EndpointConfig {
    EndpointConfig { url: url.into(), secret: secret.into(), events }
}

/// Small back-off and a fast poll, so retries happen within the test.
fn webhooks(endpoints: Vec<EndpointConfig>) -> WebhooksConfig {
    WebhooksConfig {
        endpoints,
        max_attempts: 10,
        backoff_base: 0.2,
        backoff_max: 0.5,
        timeout: 2.0,
        poll_interval: 0.2,
        ..Default::default()
    }
}

/// Serves `webhooks` (plus Rust hooks) on a fresh database, migrated first as an operator would.
async fn serve(d: Dialect, wh: WebhooksConfig, hooks: Hooks) -> (TestApp, SqlStore) {
    let url = fresh_database(d).await;
    let mut cfg = Config::default();
    cfg.set_section(&wh);
    cfg.database.url = url.clone();
    let schema = Arc::new(app::schema_for(&cfg, hooks.sets_app_user_id()).unwrap());
    if url.is_some() {
        app::open_store(&cfg, schema.clone(), OnSchema::Migrate, |_| {}).await.unwrap();
    }
    let db = url.clone();
    let app = spawn_hooked(
        move |c| {
            c.database.url = db;
            c.set_section(&wh);
        },
        hooks,
    )
    .await;
    let url = url.unwrap_or_else(|| format!("sqlite://{}", app.db_path().display()));
    (app, SqlStore::new(open(&url).await.unwrap(), schema))
}

async fn outbox(store: &SqlStore) -> Vec<Record> {
    log::list(store, None, 1000).await.unwrap()
}

async fn sign_in(app: &TestApp, email: &str) -> String {
    let r = app.post("/sign-in/email", json!({"email": email, "password": PASSWORD}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.cookie_header()
}

/// sign-up, update-user, sign-in, sign-out, delete-user → the five kinds of events, signed,
/// with the API's JSON (no session token); the second endpoint only gets what it asked for.
async fn events_on(d: Dialect) {
    let (all, deletions) = (Receiver::start(WH_SECRET).await, Receiver::start(WH_SECRET_2).await);
    let wh = webhooks(vec![
        endpoint(&all.url, WH_SECRET, vec![]),
        endpoint(&deletions.url, WH_SECRET_2, vec![EventType::UserDeleted]),
    ]);
    let (app, store) = serve(d, wh, Hooks::new()).await;
    let (cookie, user) = app.sign_up("ev@example.com", PASSWORD).await;
    let r = app.post("/update-user", json!({"name": "Eve"}), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{d:?}: {}", r.text);
    let second = sign_in(&app, "ev@example.com").await;
    assert_eq!(app.post("/sign-out", json!({}), Some(&second)).await.status, 200);
    let r = app.post("/delete-user", json!({"password": PASSWORD}), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{d:?}: {}", r.text);

    let got = all.accepted(7).await;
    assert!(got.iter().all(|g| g.valid), "{d:?}: every signature verifies: {got:#?}");
    let mut types: Vec<&str> = got.iter().map(Delivery::ty).collect();
    types.sort_unstable();
    let expected = [
        "session.created",
        "session.created",
        "session.revoked",
        "session.revoked",
        "user.created",
        "user.deleted",
        "user.updated",
    ];
    assert_eq!(types, expected, "{d:?}");
    let by_type = |t: &str| got.iter().filter(|g| g.ty() == t).map(|g| &g.body).collect::<Vec<_>>();
    let created = by_type("user.created")[0];
    assert_eq!(created["data"]["email"], "ev@example.com", "{d:?}");
    assert_eq!(created["data"]["id"], user["id"], "{d:?}");
    assert!(created["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{created}");
    assert_eq!(by_type("user.updated")[0]["data"]["name"], "Eve", "{d:?}");
    assert_eq!(by_type("user.deleted")[0]["data"]["id"], user["id"], "{d:?}");
    for s in by_type("session.created").into_iter().chain(by_type("session.revoked")) {
        assert_eq!(s["data"]["userId"], user["id"], "{d:?}");
        assert!(s["data"]["id"].is_string() && s["data"].get("token").is_none(), "{d:?}: no token: {s}");
    }
    let revoked: Vec<_> = by_type("session.revoked").iter().map(|s| s["data"]["id"].clone()).collect();
    assert_ne!(revoked[0], revoked[1], "{d:?}: both sessions revoked");

    let only = deletions.accepted(1).await;
    assert!(only[0].valid && only[0].ty() == "user.deleted", "{d:?}: {only:?}");
    let rows = outbox(&store).await;
    assert_eq!(rows.len(), 8, "{d:?}: one row per event and endpoint");
    assert!(rows.iter().all(|r| r.str("status") == Some("delivered") && r.int("attempts") == Some(1)), "{d:?}");
}

#[tokio::test]
async fn webhooks_deliver_signed_events_on_every_backend() {
    for d in dialects("webhook delivery") {
        events_on(d).await;
    }
}

/// The app's id from a user hook; a session hook that refuses sign-ups of `refused@…` (after
/// the user and its `user.created` row were written); a user hook that refuses deletion of
/// `kept@…` (no event of the refused deletion may go out).
fn refusing_hooks() -> Hooks {
    Hooks::new()
        .on_fn("user", Event::AfterCreate, |ctx| {
            Box::pin(
                async move { Ok(Some(Record::new().with("userId", format!("app-{}", ctx.record.string("name"))))) },
            )
        })
        .on_fn("session", Event::AfterCreate, |ctx| {
            Box::pin(async move {
                let user = ctx.tx.find_one("user", &[Where::eq("id", ctx.record.string("userId"))]).await?;
                if user.is_some_and(|u| u.string("email").starts_with("refused@")) {
                    return Err(ApiError::new(409, "REFUSED", "No session for you"));
                }
                Ok(None)
            })
        })
        .on_fn("user", Event::BeforeDelete, |ctx| {
            Box::pin(async move {
                if ctx.record.string("email").starts_with("kept@") {
                    return Err(ApiError::new(403, "KEPT", "This user stays"));
                }
                Ok(None)
            })
        })
}

async fn rollback_and_retry_on(d: Dialect) {
    let receiver = Receiver::start(WH_SECRET).await;
    receiver.fail_first.store(1, Ordering::SeqCst);
    let (app, store) = serve(d, webhooks(vec![endpoint(&receiver.url, WH_SECRET, vec![])]), refusing_hooks()).await;
    let body = json!({"email": "refused@example.com", "password": PASSWORD, "name": "R"});
    let r = app.post("/sign-up/email", body, None).await;
    assert_eq!(r.status, 409, "{d:?}: {}", r.text);
    assert!(outbox(&store).await.is_empty(), "{d:?}: the user.created row rolled back with the sign-up");

    let body = json!({"email": "kept@example.com", "password": PASSWORD, "name": "K"});
    let r = app.post("/sign-up/email", body, None).await;
    assert_eq!(r.status, 200, "{d:?}: {}", r.text);
    let cookie = r.cookie_header();
    let r = app.post("/delete-user", json!({"password": PASSWORD}), Some(&cookie)).await;
    assert_eq!(r.status, 403, "{d:?}: {}", r.text);

    // The first request was answered 500: that event came again, with the same id.
    let got = receiver.accepted(2).await;
    assert!(receiver.seen().iter().all(|g| g.valid), "{d:?}");
    let mut types: Vec<&str> = got.iter().map(Delivery::ty).collect();
    types.sort_unstable();
    assert_eq!(types, ["session.created", "user.created"], "{d:?}: no session.revoked of the refused deletion");
    let created = got.iter().find(|g| g.ty() == "user.created").unwrap();
    assert_eq!(created.body["data"]["userId"], "app-K", "{d:?}: the event sees the app's id");
    let seen = receiver.seen();
    assert_eq!((seen.len(), seen[0].answered), (3, 500), "{d:?}: {seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.id == seen[0].id).count(), 2, "{d:?}");
    let rows = outbox(&store).await;
    assert_eq!(rows.len(), 2, "{d:?}: {rows:?}");
    let retried = rows.iter().find(|r| r.string("id") == seen[0].id).unwrap();
    assert_eq!(retried.int("attempts"), Some(2), "{d:?}");
    assert_eq!((retried.str("status"), retried.int("lastStatus")), (Some("delivered"), Some(200)), "{d:?}");
    assert!(retried.date("deliveredAt").is_some() && retried.get("lastError") == Some(&palisade::store::Value::Null));
}

#[tokio::test]
async fn webhooks_roll_back_with_the_write_and_are_retried_on_every_backend() {
    for d in dialects("webhook rollback and retry") {
        rollback_and_retry_on(d).await;
    }
}
