//! A backing service going away mid-run: a clear 5xx with a code, no panic, and recovery
//! when it returns, with nothing acknowledged lost (the database is the source of truth).
//! Each test starts a private server from the installed binaries, so it runs when the
//! service's variable says the service is installed (`palisade::testing`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use palisade::testing::{Service, require};

use crate::harness::spawn_with;

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(port: u16) -> Redis {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (../shared/services.sh installs it)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Redis(child)
}

#[tokio::test]
async fn redis_outage_is_a_503_and_recovers() {
    if require(Service::Redis, "Redis outage (starts its own redis-server)").is_none() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let redis = start_redis(port);
    let app = spawn_with(|c| c.secondary_storage.url = Some(format!("redis://127.0.0.1:{port}"))).await;
    let (cookie, user) = app.sign_up("outage@example.com", "password-123").await;
    assert_eq!(app.get("/get-session", Some(&cookie)).await.json()["user"]["id"], user["id"]);

    drop(redis);
    let down = app.get("/get-session", Some(&cookie)).await;
    assert_eq!(down.status, 503, "{}", down.text);
    assert_eq!(down.json()["code"], "SERVICE_UNAVAILABLE");

    let _redis = start_redis(port);
    let mut last = None;
    for _ in 0..50 {
        let r = app.get("/get-session", Some(&cookie)).await;
        if r.status == 200 {
            last = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back = last.expect("get-session recovers when Redis returns");
    assert_eq!(back.json()["user"]["id"], user["id"], "the session survived: it lives in the database");
}

/// A private PostgreSQL server (its own data folder and port) that the test can stop.
struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
}

/// PostgreSQL's binaries (Debian keeps them out of PATH) run as the `postgres` user: the
/// server refuses to run as root.
fn pg(tool: &str, args: &str) -> std::process::ExitStatus {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| d.filter_map(Result::ok).map(|e| e.path().join("bin").join(tool)).find(|p| p.exists()))
        .unwrap_or_else(|| tool.into());
    Command::new("su")
        .args(["postgres", "-s", "/bin/sh", "-c", &format!("{} {args}", bin.display())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("su postgres")
}

impl Postgres {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Command::new("chown").args(["postgres", &dir.path().display().to_string()]).status().unwrap();
        assert!(pg("initdb", &format!("-A trust -U postgres -D {}/data", dir.path().display())).success());
        let pg = Postgres { dir, port };
        pg.up();
        pg
    }

    fn ctl(&self, action: &str) -> bool {
        let d = self.dir.path().display();
        let opts = format!("-p {} -k {d} -c listen_addresses=127.0.0.1", self.port);
        pg("pg_ctl", &format!("-D {d}/data -l {d}/log -w -o '{opts}' {action}")).success()
    }

    fn up(&self) {
        assert!(self.ctl("start"), "PostgreSQL started");
    }

    fn down(&self) {
        assert!(self.ctl("-m immediate stop"), "PostgreSQL stopped");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.ctl("-m immediate stop");
    }
}

/// The database stops under a running server: answers are 503 SERVICE_UNAVAILABLE (no panic,
/// no hang), and when it returns so does the service, with the acknowledged sign-up intact.
#[tokio::test]
async fn database_outage_is_a_503_and_recovers() {
    if require(Service::Postgres, "database outage (starts its own PostgreSQL server)").is_none() {
        return;
    }
    let db = Postgres::start();
    let url = db.url();
    let mut cfg = palisade::config::Config::default();
    cfg.database.url = Some(url.clone());
    let schema = std::sync::Arc::new(palisade::app::schema_for(&cfg, false).unwrap());
    palisade::app::open_store(&cfg, schema, palisade::app::OnSchema::Migrate, |_| {}).await.unwrap();
    let app = spawn_with(|c| {
        c.database.url = Some(url);
        c.session.local_cache_ttl = 0;
    })
    .await;
    let (cookie, user) = app.sign_up("db-outage@example.com", "password-123").await;

    db.down();
    let down = app.get("/get-session", Some(&cookie)).await;
    assert_eq!(down.status, 503, "{}", down.text);
    assert_eq!(down.json()["code"], "SERVICE_UNAVAILABLE");
    let body = serde_json::json!({"email": "db-outage@example.com", "password": "password-123"});
    let r = app.post("/sign-in/email", body.clone(), None).await;
    assert_eq!(r.status, 503, "{}", r.text);

    db.up();
    let mut back = None;
    for _ in 0..50 {
        let r = app.get("/get-session", Some(&cookie)).await;
        if r.status == 200 {
            back = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let back = back.expect("get-session recovers when the database returns");
    assert_eq!(back.json()["user"]["id"], user["id"], "the acknowledged sign-up survived");
    assert_eq!(app.post("/sign-in/email", body, None).await.status, 200);
}
