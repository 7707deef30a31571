use axum::extract::Query;
use axum::response::{Html, IntoResponse};
use serde_json::json;

use crate::http::reply::Reply;

pub async fn ok() -> Reply {
    Reply::json(json!({ "ok": true }))
}

/// Where error redirects land when the app gives no error page of its own.
pub async fn error_page(Query(q): Query<Vec<(String, String)>>) -> impl IntoResponse {
    let code = q.iter().find(|(k, _)| k == "error").map(|(_, v)| v.as_str()).unwrap_or("UNKNOWN");
    let code: String = code.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
    Html(format!(
        "<!doctype html><title>Error</title><h1>Something went wrong</h1><p>Error code: <code>{code}</code></p>"
    ))
}
