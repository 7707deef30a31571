//! The magic-link and email-otp plugins over HTTP (docs/plugins-wire.md §6, §7): the main
//! flows and their failure paths (a link or code used twice, expired, guessed too often; sign-up
//! closed), and what proving an address does to an unverified account.

use std::time::Duration;

use palisade::config::Config;
use palisade::plugins::email_otp::EmailOtpConfig;
use palisade::plugins::magic_link::MagicLinkConfig;
use serde_json::{Value, json};

use crate::harness::{TestApp, spawn_with};

fn plugins_on(cfg: &mut Config, link: MagicLinkConfig, otp: EmailOtpConfig) {
    cfg.set_section(&MagicLinkConfig { enabled: true, ..link });
    cfg.set_section(&EmailOtpConfig { enabled: true, ..otp });
}

async fn spawn(link: MagicLinkConfig, otp: EmailOtpConfig) -> TestApp {
    spawn_with(|cfg| plugins_on(cfg, link, otp)).await
}

/// The `n`-th (0-based) message of `kind` to `to`, waiting for it.
async fn message(app: &TestApp, kind: &str, to: &str, n: usize) -> Value {
    let path = app.dir.path().join("emails.jsonl");
    for _ in 0..150 {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let hits: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["kind"] == kind && m["to"] == to)
            .collect();
        if let Some(m) = hits.get(n) {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no {kind} message #{n} to {to}");
}

fn location(r: &crate::harness::Resp) -> String {
    r.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

#[tokio::test]
async fn magic_link_signs_in_once_and_expires() {
    let app = spawn(MagicLinkConfig { expires_in: 1, ..Default::default() }, EmailOtpConfig::default()).await;
    let r = app.post("/sign-in/magic-link", json!({"email": "Link@Example.com", "name": "Link"}), None).await;
    assert_eq!((r.status, r.json()), (200, json!({"status": true})));
    let m = message(&app, "magic-link", "Link@Example.com", 0).await;
    let token = m["token"].as_str().unwrap().to_string();
    assert!(m["url"].as_str().unwrap().contains(&format!("/magic-link/verify?token={token}&callbackURL=%2F")));
    let r = app.get(&format!("/magic-link/verify?token={token}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["user"]["email"], "link@example.com");
    assert_eq!(body["user"]["emailVerified"], true);
    assert_eq!(body["user"]["name"], "Link");
    assert_eq!(body["session"]["token"], body["token"]);
    assert!(r.cookie_header().contains("session_token="));
    // Used: the error URL, no cookie.
    let r = app.get(&format!("/magic-link/verify?token={token}&callbackURL=/home"), None).await;
    assert_eq!(r.status, 302);
    assert!(location(&r).ends_with("/home?error=INVALID_TOKEN"), "{}", location(&r));
    assert!(r.headers.get("set-cookie").is_none());
    // Expired: the same, and the row is gone.
    app.post("/sign-in/magic-link", json!({"email": "link@example.com"}), None).await;
    let late = message(&app, "magic-link", "link@example.com", 0).await["token"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = app.get(&format!("/magic-link/verify?token={late}&errorCallbackURL=/oops"), None).await;
    assert!(location(&r).ends_with("/oops?error=INVALID_TOKEN"), "{}", location(&r));
    assert_eq!(app.count("verification").await, 0);
    assert_eq!(app.count("user").await, 1);
}

#[tokio::test]
async fn magic_link_with_sign_up_closed_refuses_new_addresses() {
    let app = spawn(MagicLinkConfig { disable_sign_up: true, ..Default::default() }, EmailOtpConfig::default()).await;
    app.post("/sign-in/magic-link", json!({"email": "new@example.com"}), None).await;
    let token = message(&app, "magic-link", "new@example.com", 0).await["token"].as_str().unwrap().to_string();
    let r = app.get(&format!("/magic-link/verify?token={token}&callbackURL=/in"), None).await;
    assert!(location(&r).ends_with("/in?error=new_user_signup_disabled"), "{}", location(&r));
    assert_eq!(app.count("user").await, 0);
    assert_eq!(app.count("session").await, 0);
}

#[tokio::test]
async fn magic_link_bad_input() {
    let app = spawn(MagicLinkConfig::default(), EmailOtpConfig::default()).await;
    let r = app.post("/sign-in/magic-link", json!({"email": "nope"}), None).await;
    assert_eq!((r.status, r.json()["code"].clone()), (400, json!("VALIDATION_ERROR")));
    let r = app.post("/sign-in/magic-link", json!({"email": "a@b.co", "metadata": "x"}), None).await;
    assert_eq!(r.status, 400);
    let r = app
        .post("/sign-in/magic-link", json!({"email": "a@b.co", "errorCallbackURL": "https://evil.test"}), None)
        .await;
    assert_eq!((r.status, r.json()["code"].clone()), (403, json!("INVALID_ERROR_CALLBACK_URL")));
    let r = app.get("/magic-link/verify?token=x&newUserCallbackURL=https://evil.test/", None).await;
    assert_eq!((r.status, r.json()["code"].clone()), (403, json!("INVALID_CALLBACK_URL")));
    assert_eq!(app.count("verification").await, 0);
}

/// Sends a code of `kind` to `email` and returns it (the `n`-th such message).
async fn code(app: &TestApp, email: &str, kind: &str, n: usize) -> String {
    let r = app.post("/email-otp/send-verification-otp", json!({"email": email, "type": kind}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let m = message(app, "email-otp", email, n).await;
    assert_eq!(m["type"], kind);
    m["otp"].as_str().unwrap().to_string()
}

fn other(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

#[tokio::test]
async fn otp_attempts_reuse_and_expiry() {
    let app = spawn(MagicLinkConfig::default(), EmailOtpConfig { expires_in: 1, ..Default::default() }).await;
    let email = "otp@example.com";
    let otp = code(&app, email, "sign-in", 0).await;
    for _ in 0..3 {
        let r = app.post("/sign-in/email-otp", json!({"email": email, "otp": other(&otp)}), None).await;
        assert_eq!((r.status, r.json()["code"].clone()), (400, json!("INVALID_OTP")));
    }
    let r = app.post("/sign-in/email-otp", json!({"email": email, "otp": otp}), None).await;
    assert_eq!((r.status, r.json()["code"].clone()), (403, json!("TOO_MANY_ATTEMPTS")));
    assert_eq!(app.count("user").await, 0);
    // A new code signs in, once.
    let otp = code(&app, email, "sign-in", 1).await;
    let r = app.post("/sign-in/email-otp", json!({"email": email, "otp": otp, "name": "O"}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["user"]["emailVerified"], true);
    let r = app.post("/sign-in/email-otp", json!({"email": email, "otp": otp}), None).await;
    assert_eq!(r.json()["code"], "INVALID_OTP");
    // Expired.
    let otp = code(&app, email, "sign-in", 2).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = app.post("/sign-in/email-otp", json!({"email": email, "otp": otp}), None).await;
    assert_eq!((r.status, r.json()["code"].clone()), (400, json!("OTP_EXPIRED")));
    assert_eq!(app.count("verification").await, 0);
}

#[tokio::test]
async fn otp_sign_in_revokes_what_an_unverified_account_had() {
    let app = spawn(MagicLinkConfig::default(), EmailOtpConfig::default()).await;
    let (cookie, user) = app.sign_up("taken@example.com", "password-123").await;
    let otp = code(&app, "taken@example.com", "sign-in", 0).await;
    let r = app.post("/sign-in/email-otp", json!({"email": "TAKEN@example.com", "otp": otp}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["user"]["id"], user["id"]);
    assert_eq!(app.get("/get-session", Some(&cookie)).await.text, "null");
    let r = app.post("/sign-in/email", json!({"email": "taken@example.com", "password": "password-123"}), None).await;
    assert_eq!(r.status, 401);
    assert_eq!(app.count("account").await, 0);
    assert_eq!(app.count("session").await, 1);
}

#[tokio::test]
async fn otp_password_reset_sets_a_first_password() {
    let app = spawn(MagicLinkConfig::default(), EmailOtpConfig::default()).await;
    let email = "nopass@example.com";
    let otp = code(&app, email, "sign-in", 0).await;
    assert_eq!(app.post("/sign-in/email-otp", json!({"email": email, "otp": otp}), None).await.status, 200);
    let r = app.post("/email-otp/request-password-reset", json!({"email": email}), None).await;
    assert_eq!(r.json(), json!({"success": true}));
    let otp = message(&app, "email-otp", email, 1).await["otp"].as_str().unwrap().to_string();
    let short = app.post("/email-otp/reset-password", json!({"email": email, "otp": otp, "password": "x"}), None).await;
    assert_eq!(short.json()["code"], "PASSWORD_TOO_SHORT");
    let body = json!({"email": email, "otp": otp, "password": "first-pass-123"});
    assert_eq!(app.post("/email-otp/reset-password", body.clone(), None).await.status, 200);
    assert_eq!(app.post("/email-otp/reset-password", body, None).await.json()["code"], "INVALID_OTP");
    let r = app.post("/sign-in/email", json!({"email": email, "password": "first-pass-123"}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn otp_sign_up_closed_and_check_without_spending() {
    let app = spawn(MagicLinkConfig::default(), EmailOtpConfig { disable_sign_up: true, ..Default::default() }).await;
    let r = app
        .post("/email-otp/send-verification-otp", json!({"email": "ghost@example.com", "type": "sign-in"}), None)
        .await;
    assert_eq!(r.json(), json!({"success": true}));
    assert_eq!(app.count("verification").await, 0, "no code for an unknown address");
    app.sign_up("known@example.com", "password-123").await;
    let otp = code(&app, "known@example.com", "email-verification", 0).await;
    let check = json!({"email": "known@example.com", "type": "email-verification", "otp": otp});
    assert_eq!(app.post("/email-otp/check-verification-otp", check.clone(), None).await.status, 200);
    assert_eq!(app.post("/email-otp/check-verification-otp", check, None).await.status, 200, "not spent");
    let r = app.post("/email-otp/verify-email", json!({"email": "known@example.com", "otp": otp}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.json()["token"].clone(), r.json()["user"]["emailVerified"].clone()), (Value::Null, json!(true)));
    let r =
        app.post("/email-otp/send-verification-otp", json!({"email": "known@example.com", "type": "x"}), None).await;
    assert_eq!(r.json()["code"], "VALIDATION_ERROR");
}
