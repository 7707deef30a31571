//! The yardstick of `bench/run.sh`: a bare axum handler answering a small JSON, on the same
//! runtime set-up as `palisade serve` (multi-threaded tokio, HTTP/1). Palisade's get-session
//! with the cookie cache is measured against it in the same run.
//!
//! cargo run --release --example bare_axum -- [host:port]   (default 127.0.0.1:4302)

use axum::Router;
use axum::routing::get;
use serde_json::json;

#[tokio::main]
async fn main() {
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:4302".into());
    let answer = || async { axum::Json(json!({ "session": { "ok": true } })) };
    let app = Router::new().route("/api/auth/get-session", get(answer)).route("/api/auth/ok", get(answer));
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("listen {listen}: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("serve: {e}");
        std::process::exit(1);
    }
}
