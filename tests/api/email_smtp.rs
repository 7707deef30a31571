//! Real delivery over SMTP to a real SMTP server (Python's aiosmtpd, installed by
//! scripts/test.sh), not a mock. Runs when `TEST_AIOSMTPD=1` says `python3 -m aiosmtpd` works.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use palisade::config::SmtpConfig;
use palisade::testing::{Service, require};
use serde_json::json;

use crate::harness::spawn_with;

struct Smtpd(Child);

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn reset_email_is_delivered_over_smtp() {
    if require(Service::Aiosmtpd, "delivery over SMTP").is_none() {
        return;
    }
    let maildir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir.path().join("box"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 -m aiosmtpd (pip install aiosmtpd; scripts/test.sh does)");
    let _smtpd = Smtpd(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let app = spawn_with(|c| {
        c.email.log = None;
        c.email.smtp =
            Some(SmtpConfig { url: format!("smtp://127.0.0.1:{port}"), from: "Palisade <auth@palisade.test>".into() });
    })
    .await;
    app.sign_up("mail@example.com", "password-123").await;
    let r =
        app.post("/request-password-reset", json!({"email": "mail@example.com", "redirectTo": "/reset"}), None).await;
    assert_eq!(r.status, 200);
    let new_dir = maildir.path().join("box").join("new");
    for _ in 0..100 {
        if let Some(Ok(entry)) = std::fs::read_dir(&new_dir).ok().and_then(|mut d| d.next()) {
            let msg = std::fs::read_to_string(entry.path()).unwrap();
            assert!(msg.contains("To: mail@example.com"), "{msg}");
            assert!(msg.contains("Subject: Reset your password"), "{msg}");
            assert!(msg.contains("/api/auth/reset-password/"), "{msg}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no message reached the SMTP server");
}
