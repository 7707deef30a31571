//! `spawn_app()`: the server on an ephemeral port with a temporary data folder. Which outside
//! services a run has, and fresh databases on them, are `palisade::testing`'s.

use std::path::PathBuf;

use palisade::config::Config;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

pub const SECRET: &str = "integration-test-secret-0123456789-abcdef";
pub const ORIGIN: &str = "http://localhost:5173";

pub struct TestApp {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// `name=value` pairs of the Set-Cookie headers, for a Cookie header.
    pub fn cookie_header(&self) -> String {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|c| c.split(';').next())
            .filter(|nv| !nv.ends_with('='))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

pub fn config(dir: &std::path::Path) -> Config {
    let mut cfg = Config {
        listen: "127.0.0.1:0".into(),
        secret: Some(SECRET.into()),
        data_dir: dir.to_path_buf(),
        trusted_origins: vec![ORIGIN.into()],
        ..Default::default()
    };
    cfg.email.log = Some(dir.join("emails.jsonl"));
    // User deletion on (the conformance configuration) and change of email on.
    cfg.user.delete_enabled = true;
    cfg.user.change_email_enabled = true;
    cfg
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_hooked(tweak, palisade::store::hooks::Hooks::new()).await
}

/// The server with database hooks written in Rust.
pub async fn spawn_hooked(tweak: impl FnOnce(&mut Config), hooks: palisade::store::hooks::Hooks) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = config(dir.path());
    tweak(&mut cfg);
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        if let Err(e) = palisade::app::serve_with(cfg, hooks, Some(tx)).await {
            panic!("server failed: {e}");
        }
    });
    let addr = rx.await.expect("server did not start");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { base: format!("http://{addr}/api/auth"), dir, client }
}

impl TestApp {
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("palisade.db")
    }

    pub async fn request(&self, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        for (k, v) in headers {
            req = req.header(*k, HeaderValue::from_str(v).unwrap());
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        Resp { status, headers, text }
    }

    pub async fn post(&self, path: &str, body: Value, cookie: Option<&str>) -> Resp {
        let mut h = vec![("origin", ORIGIN)];
        if let Some(c) = cookie {
            h.push(("cookie", c));
        }
        self.request("POST", path, Some(&body.to_string()), &h).await
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Resp {
        let h: Vec<(&str, &str)> = cookie.map(|c| vec![("cookie", c)]).unwrap_or_default();
        self.request("GET", path, None, &h).await
    }

    /// Signs up a fresh user; returns (cookie header, user json).
    pub async fn sign_up(&self, email: &str, password: &str) -> (String, Value) {
        let r = self
            .post("/sign-up/email", serde_json::json!({"email": email, "password": password, "name": "T"}), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        (r.cookie_header(), r.json()["user"].clone())
    }

    pub async fn count(&self, table: &str) -> i64 {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", self.db_path().display())).await.unwrap();
        let sql = format!("select count(*) from \"{table}\"");
        let n: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n.0
    }
}
