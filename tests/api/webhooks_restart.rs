//! Webhooks survive restarts, with the real binary on SQLite, PostgreSQL and MariaDB: events
//! written while the receiver is down stay in the outbox when the server stops (SIGTERM) or
//! dies (SIGKILL), and a new server process delivers them once the receiver is up. Failed
//! events are listed and retried with `palisade webhooks list | retry`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use palisade::store::sql::{Dialect, SqlStore, open};
use palisade::store::{Ops, Record, Schema, Value};
use serde_json::json;
use tokio::process::{Child, Command};

use palisade::testing::{dialects, fresh_database};

use crate::harness::{ORIGIN, SECRET};
use crate::webhooks::{PASSWORD, Receiver, WH_SECRET};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A configuration file and a database shared by the processes of one test.
struct Setup {
    dir: tempfile::TempDir,
    database_url: String,
    receiver_port: u16,
}

/// One `palisade serve` process; killed if the test fails midway.
struct Server {
    child: Child,
    base: String,
}

impl Setup {
    async fn new(d: Dialect) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let receiver_port = free_port();
        let database_url =
            fresh_database(d).await.unwrap_or_else(|| format!("sqlite://{}/palisade.db", dir.path().display()));
        let toml = format!(
            r#"data_dir = "{dir}"
trusted_origins = ["{ORIGIN}"]
[webhooks]
max_attempts = 1000
backoff_base = 0.2
backoff_max = 0.5
timeout = 2
poll_interval = 0.2
[[webhooks.endpoints]]
url = "http://127.0.0.1:{receiver_port}/hook"
secret = "{WH_SECRET}"
"#,
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("palisade.toml"), toml).unwrap();
        Setup { dir, database_url, receiver_port }
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_palisade"));
        c.args(args)
            .env("PALISADE_CONFIG", self.dir.path().join("palisade.toml"))
            .env("DATABASE_URL", &self.database_url)
            .env("BETTER_AUTH_SECRET", SECRET)
            .env("PALISADE_ENV", "development")
            .env("PALISADE_LOG", "info")
            .kill_on_drop(true);
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    /// Runs a CLI command to its end; returns its output lines.
    async fn cli(&self, args: &[&str]) -> Vec<String> {
        let out = self.command(args, &[]).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "palisade {args:?}: {stderr}");
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
    }

    /// `palisade webhooks list --status <status>`, as tab-separated fields.
    async fn list(&self, status: &str) -> Vec<Vec<String>> {
        let lines = self.cli(&["webhooks", "list", "--status", status]).await;
        lines.iter().map(|l| l.split('\t').map(str::to_string).collect()).collect()
    }

    /// Polls `list(status)` until `ok` holds (at most 20 s).
    async fn wait_list(&self, status: &str, ok: impl Fn(&[Vec<String>]) -> bool) -> Vec<Vec<String>> {
        for _ in 0..100 {
            let rows = self.list(status).await;
            if ok(&rows) {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("webhooks list --status {status}: {:?}", self.list(status).await)
    }

    /// A delivered and a failed row from 40 days ago: the next server removes the first
    /// (`keep_delivered_days` = 30) and keeps the second.
    async fn plant_old_rows(&self) {
        let mut schema = Schema::core();
        palisade::plugins::webhooks::add_outbox(&mut schema);
        let store = SqlStore::new(open(&self.database_url).await.unwrap(), std::sync::Arc::new(schema));
        let old = chrono::Utc::now() - chrono::Duration::days(40);
        for (id, status) in [("old-delivered", "delivered"), ("old-failed", "failed")] {
            let row = Record::new()
                .with("id", id)
                .with("endpoint", format!("http://127.0.0.1:{}/hook", self.receiver_port))
                .with("type", "user.created")
                .with("payload", "{}")
                .with("status", status)
                .with("attempts", 1i64)
                .with("createdAt", old)
                .with("deliveredAt", if status == "delivered" { Value::Date(old) } else { Value::Null });
            store.create("webhookEvent", row).await.unwrap();
        }
    }

    fn log(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("server-{n}.log"))
    }

    /// `palisade serve` on a free port, once it answers.
    async fn serve(&self, n: usize, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let base = format!("http://{listen}");
        let log = std::fs::File::create(self.log(n)).unwrap();
        let mut env = env.to_vec();
        env.extend([("PALISADE_LISTEN", listen.as_str()), ("BASE_URL", base.as_str())]);
        let child = self.command(&["serve"], &env).stdout(Stdio::null()).stderr(log).spawn().unwrap();
        let mut server = Server { child, base: format!("{base}/api/auth") };
        for _ in 0..100 {
            if reqwest::get(format!("{}/ok", server.base)).await.is_ok_and(|r| r.status() == 200) {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("server {n} exited ({status}): {}", std::fs::read_to_string(self.log(n)).unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server {n} did not start: {}", std::fs::read_to_string(self.log(n)).unwrap_or_default())
    }
}

impl Server {
    async fn sign_up(&self, email: &str) {
        let body = json!({"email": email, "password": PASSWORD, "name": "W"});
        let client = reqwest::Client::new();
        let r = client.post(format!("{}/sign-up/email", self.base)).header("origin", ORIGIN).json(&body);
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }

    /// SIGTERM: the server drains and the worker stops; the process exits cleanly.
    async fn stop(mut self) {
        let pid = self.child.id().expect("running").to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await;
        assert!(status.expect("stopped within 15 s").unwrap().success());
    }

    /// SIGKILL: no chance to finish anything.
    async fn crash(mut self) {
        self.child.kill().await.unwrap();
    }
}

async fn restart_on(d: Dialect) {
    let setup = Setup::new(d).await;
    if d != Dialect::Sqlite {
        // The operator's step on a shared database; it creates the outbox table too.
        setup.cli(&["migrate"]).await;
    }
    // 1. The receiver is down and one attempt is all there is: the events fail, and stay.
    let first = setup.serve(1, &[("PALISADE_WEBHOOKS__MAX_ATTEMPTS", "1")]).await;
    first.sign_up("failed@example.com").await;
    let failed = setup.wait_list("failed", |rows| rows.len() == 2).await;
    assert!(
        failed.iter().all(|r| r[4] == "1" && r[5] == "-" && r[8] != "-"),
        "{d:?}: attempts 1, an error: {failed:?}"
    );
    first.stop().await;

    // 2. Still down; a new server writes events that are retried, then it is killed.
    let second = setup.serve(2, &[]).await;
    second.sign_up("pending@example.com").await;
    setup.wait_list("pending", |rows| rows.len() == 2 && rows.iter().all(|r| r[4] != "0")).await;
    second.crash().await;

    // 3. The operator retries the failed events; the receiver comes up; a third server sends all.
    for row in &failed {
        assert_eq!(setup.cli(&["webhooks", "retry", &row[0]]).await, [format!("{}\tdue now", row[0])]);
    }
    setup.plant_old_rows().await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", setup.receiver_port)).await.unwrap();
    let receiver = Receiver::on(listener, WH_SECRET);
    let third = setup.serve(3, &[]).await;
    let got = receiver.accepted(4).await;
    assert!(got.iter().all(|g| g.valid), "{d:?}: {got:#?}");
    let mut seen: Vec<(String, String)> = got
        .iter()
        .map(|g| {
            let email =
                g.body["data"]["email"].as_str().map_or_else(|| g.body["data"]["userId"].to_string(), String::from);
            (g.ty().to_string(), email)
        })
        .collect();
    seen.sort();
    let kinds: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(kinds, ["session.created", "session.created", "user.created", "user.created"], "{d:?}");
    let emails: Vec<&str> = seen.iter().filter(|(t, _)| t == "user.created").map(|(_, e)| e.as_str()).collect();
    assert_eq!(emails, ["failed@example.com", "pending@example.com"], "{d:?}");
    let delivered = setup.wait_list("delivered", |rows| rows.len() == 4).await;
    assert!(delivered.iter().all(|r| r[5] == "200" && r[7].starts_with("delivered ")), "{d:?}: {delivered:?}");
    assert!(setup.list("pending").await.is_empty(), "{d:?}");
    let failed: Vec<String> = setup.list("failed").await.into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(failed, ["old-failed"], "{d:?}: the old delivered row was removed, the failed one kept");
    third.stop().await;
}

#[tokio::test]
async fn webhooks_survive_a_restart_on_every_backend() {
    for d in dialects("webhooks across restarts") {
        restart_on(d).await;
    }
}
