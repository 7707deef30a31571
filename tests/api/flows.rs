//! End-to-end flows through HTTP.

use serde_json::json;

use crate::harness::spawn_app;

#[tokio::test]
async fn sign_up_get_session_sign_out() {
    let app = spawn_app().await;
    let (cookie, user) = app.sign_up("Flow@Example.com", "password-123").await;
    assert_eq!(user["email"], "flow@example.com");
    let s = app.get("/get-session", Some(&cookie)).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.json()["user"]["id"], user["id"]);
    assert!(s.headers.get("set-auth-jwt").is_some());
    let out = app.post("/sign-out", json!({}), Some(&cookie)).await;
    assert_eq!(out.json(), json!({"success": true}));
    let after = app.get("/get-session", Some(&cookie)).await;
    assert_eq!(after.text, "null");
    // the dead session's cookies are cleared
    assert_eq!(after.headers.get_all("set-cookie").iter().count(), 3);
}

#[tokio::test]
async fn sign_in_wrong_password_and_unknown_email_look_alike() {
    let app = spawn_app().await;
    app.sign_up("a@example.com", "password-123").await;
    let wrong = app.post("/sign-in/email", json!({"email": "a@example.com", "password": "nope-nope-1"}), None).await;
    let ghost =
        app.post("/sign-in/email", json!({"email": "ghost@example.com", "password": "nope-nope-1"}), None).await;
    assert_eq!((wrong.status, wrong.text.clone()), (ghost.status, ghost.text.clone()));
    assert_eq!(wrong.status, 401);
    let ok = app.post("/sign-in/email", json!({"email": "A@example.com", "password": "password-123"}), None).await;
    assert_eq!(ok.status, 200);
    assert!(ok.headers.get("set-auth-token").is_some());
}

#[tokio::test]
async fn password_reset_flow_uses_the_emailed_token_once() {
    let app = spawn_app().await;
    app.sign_up("r@example.com", "password-123").await;
    let r = app.post("/request-password-reset", json!({"email": "r@example.com"}), None).await;
    assert_eq!(r.status, 200);
    let token = wait_for_token(&app, "reset-password").await;
    let ok = app.post("/reset-password", json!({"token": token, "newPassword": "brand-new-pass"}), None).await;
    assert_eq!(ok.json(), json!({"status": true}));
    let again = app.post("/reset-password", json!({"token": token, "newPassword": "brand-new-pass"}), None).await;
    assert_eq!(again.json()["code"], "INVALID_TOKEN");
    let signin =
        app.post("/sign-in/email", json!({"email": "r@example.com", "password": "brand-new-pass"}), None).await;
    assert_eq!(signin.status, 200);
}

#[tokio::test]
async fn verification_token_verifies_email() {
    let app = spawn_app().await;
    let (cookie, _) = app.sign_up("v@example.com", "password-123").await;
    let r = app.post("/send-verification-email", json!({"email": "v@example.com"}), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = wait_for_token(&app, "verify-email").await;
    let v = app.get(&format!("/verify-email?token={token}"), None).await;
    assert_eq!(v.json(), json!({"status": true, "user": null}));
    let s = app.get("/get-session", Some(&cookie)).await;
    assert_eq!(s.json()["user"]["emailVerified"], true);
}

#[tokio::test]
async fn preflight_answers_trusted_origins_only() {
    let app = spawn_app().await;
    let h = [("origin", crate::harness::ORIGIN), ("access-control-request-method", "POST")];
    let ok = app.request("OPTIONS", "/sign-in/email", None, &h).await;
    assert_eq!(ok.status, 204);
    assert_eq!(ok.headers["access-control-allow-origin"], crate::harness::ORIGIN);
    assert_eq!(ok.headers["access-control-allow-credentials"], "true");
    let evil = app.request("OPTIONS", "/sign-in/email", None, &[("origin", "http://evil.example")]).await;
    assert_eq!((evil.status, evil.text.as_str()), (404, ""));
}

#[tokio::test]
async fn rate_limit_applies_per_client_ip() {
    let app = crate::harness::spawn_with(|c| c.rate_limit.enabled = Some(true)).await;
    let body = json!({"email": "x@example.com", "password": "whatever-1"});
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.post("/sign-in/email", body.clone(), None).await.status);
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
}

pub async fn wait_for_token(app: &crate::harness::TestApp, kind: &str) -> String {
    let path = app.dir.path().join("emails.jsonl");
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Some(line) = text.lines().rev().find(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
        {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            return v["token"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no {kind} email");
}

/// Cross-domain mode: a verification link that signs in (autoSignInAfterVerification) hands
/// the session to the SPA as `?ott=`, which is exchanged once for it; a link for an address
/// already verified signs nobody in.
#[tokio::test]
async fn verification_link_hands_the_session_over_with_a_one_time_token() {
    let app = crate::harness::spawn_with(|cfg| {
        cfg.set_section(&palisade::plugins::cross_domain::CrossDomainConfig(Some("http://localhost:5173".into())));
        cfg.email_verification.auto_sign_in_after_verification = true;
    })
    .await;
    let (cookie, user) = app.sign_up("x@example.com", "password-123").await;
    let r = app.post("/send-verification-email", json!({"email": "x@example.com"}), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = wait_for_token(&app, "verify-email").await;
    let welcome = "http%3A%2F%2Flocalhost%3A5173%2Fwelcome";
    let v = app.get(&format!("/verify-email?token={token}&callbackURL={welcome}"), None).await;
    assert_eq!(v.status, 302);
    let location = v.headers["location"].to_str().unwrap().to_string();
    let ott = location.strip_prefix("http://localhost:5173/welcome?ott=").expect(&location).to_string();
    assert_eq!(ott.len(), 32);

    let first = app.post("/cross-domain/one-time-token/verify", json!({"token": ott}), None).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json()["user"]["id"], user["id"]);
    assert_eq!(first.json()["user"]["emailVerified"], true);
    let again = app.post("/cross-domain/one-time-token/verify", json!({"token": ott}), None).await;
    assert_eq!(again.status, 400, "single use");

    // Verified already: a plain redirect, no new session, no token.
    let v = app.get(&format!("/verify-email?token={token}&callbackURL={welcome}"), None).await;
    assert_eq!(v.headers["location"], "http://localhost:5173/welcome");
}
