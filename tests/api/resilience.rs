//! A backing service going away mid-run: a clear 5xx with a code, no panic, and recovery
//! when it returns, with nothing acknowledged lost (the database is the source of truth).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
