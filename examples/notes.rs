//! Library mode: Palisade inside an axum app that has its own `users` and `notes` tables.
//!
//! Sign-up creates the app's user in a hook that runs inside the sign-up transaction; its id
//! is the canonical user id (kept in `user.userId`). A signed-in user sees only their notes.
//!
//! ```text
//! cargo run --release --example notes          # http://127.0.0.1:3000
//! curl -c jar -H 'content-type: application/json' -d '{"email":"a@b.c","password":"password-1","name":"A"}' \
//!      http://127.0.0.1:3000/api/auth/sign-up/email
//! curl -b jar -H 'content-type: application/json' -d '{"body":"hello"}' http://127.0.0.1:3000/notes
//! curl -b jar http://127.0.0.1:3000/notes
//! ```

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use palisade::app;
use palisade::auth::Auth;
use palisade::config::Config;
use palisade::error::ApiError;
use palisade::http::{AppState, session};
use palisade::store::Record;
use palisade::store::hooks::{APP_USER_ID, Event, Hooks};
use serde_json::{Value, json};

/// The app's own tables, beside the auth tables in the same SQLite file.
const APP_TABLES: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT UNIQUE NOT NULL, name TEXT)",
    "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY AUTOINCREMENT, owner INTEGER NOT NULL, body TEXT NOT NULL)",
];

/// Creates the app's user with the auth user, in the same transaction; returns its id.
pub fn hooks() -> Hooks {
    Hooks::new().on_fn("user", Event::AfterCreate, |ctx| {
        Box::pin(async move {
            let sql = "INSERT INTO users (email, name) VALUES (:email, :name) RETURNING id";
            let params =
                Record::new().with("email", ctx.record.string("email")).with("name", ctx.record.string("name"));
            Ok(ctx.tx.sql(sql, &params).await?.into_iter().next())
        })
    })
}

/// Any start-up error; printed by `main`.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Palisade's API under `/api/auth` and the app's `/notes`.
pub async fn build(cfg: Config) -> Result<(Arc<Auth>, Router), Error> {
    let built = app::build_with(cfg, hooks()).await?;
    let auth = built.auth.clone();
    for ddl in APP_TABLES {
        auth.store.sql(ddl, &Record::new()).await?;
    }
    let state = built.state()?;
    let notes = Router::new().route("/notes", get(list).post(add)).with_state(state.clone());
    Ok((auth, notes.merge(palisade::http::router(state))))
}

/// The signed-in user's app id.
async fn owner(state: &AppState, headers: &HeaderMap) -> Result<Record, ApiError> {
    let current = session::require(state, headers).await?;
    let id = current.user.extra.string(APP_USER_ID);
    Ok(Record::new().with("owner", id.parse::<i64>().map_err(|_| ApiError::unauthorized())?))
}

async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let params = owner(&state, &headers).await?;
    let rows = state.auth.store.sql("SELECT id, body FROM notes WHERE owner = :owner ORDER BY id", &params).await?;
    let notes: Vec<Value> = rows.iter().map(|r| json!({"id": r.string("id"), "body": r.string("body")})).collect();
    Ok(Json(json!({ "notes": notes })))
}

async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let text =
        body["body"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| ApiError::validation("body is required"))?;
    let params = owner(&state, &headers).await?.with("body", text);
    let rows =
        state.auth.store.sql("INSERT INTO notes (owner, body) VALUES (:owner, :body) RETURNING id", &params).await?;
    Ok(Json(json!({ "id": rows.first().map(|r| r.string("id")) })))
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let cfg = Config::load(None)?;
    let listen = cfg.listen.clone();
    let (_, router) = build(cfg).await?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("notes app on http://{listen}");
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
    Ok(())
}
