//! Every URL-valued input against the redirect-bypass vectors of tests/data/redirect-vectors.json
//! (resolved by Node's WHATWG parser, i.e. as a browser would): a vector marked untrusted is
//! refused with the input's code on every route, and nothing a trusted one leads to (a
//! `Location`, a body `url`, a reset token, a one-time token) reaches an untrusted origin.

use serde_json::{Value, json};

use crate::flows::wait_for_token;
use crate::harness::{Resp, TestApp, spawn_with};

const TRUSTED: [&str; 3] = ["http://localhost:5173", "http://127.0.0.1:*", "http://localhost:*"];

fn vectors() -> Vec<(String, bool)> {
    let table: Value = serde_json::from_str(include_str!("../data/redirect-vectors.json")).expect("vector table");
    let list = table["vectors"].as_array().expect("vectors");
    list.iter().map(|v| (v["input"].as_str().unwrap().to_string(), v["trusted"].as_bool().unwrap())).collect()
}

async fn app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("palisade.toml");
    std::fs::write(
        &path,
        r#"
[social_providers.test]
client_id = "client"
client_secret = "secret"
authorization_endpoint = "https://idp.invalid/authorize"
token_endpoint = "https://idp.invalid/token"
userinfo_endpoint = "https://idp.invalid/userinfo"
"#,
    )
    .expect("write config");
    let loaded = palisade::config::Config::load(Some(&path)).expect("valid configuration");
    spawn_with(move |cfg| {
        cfg.social_providers = loaded.social_providers;
        cfg.trusted_origins = TRUSTED.iter().map(|s| s.to_string()).collect();
        cfg.set_section(&palisade::plugins::cross_domain::CrossDomainConfig(Some("http://localhost:5173".into())));
        cfg.email_verification.auto_sign_in_after_verification = true;
    })
    .await
}

/// Where a browser that got `location` from `page` goes: it must be a trusted origin.
fn assert_lands_trusted(page: &str, location: &str, what: &str) {
    let to = url::Url::parse(page).unwrap().join(location).unwrap_or_else(|e| panic!("{what}: {location:?}: {e}"));
    let origin = to.origin().ascii_serialization();
    let port_ok = origin.starts_with("http://127.0.0.1:") || origin.starts_with("http://localhost:");
    assert!(port_ok && to.username().is_empty(), "{what}: {location:?} lands on {to}");
}

/// The `Location` header as a browser reads it (UTF-8).
fn location(r: &Resp) -> Option<String> {
    r.headers.get("location").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The social provider's authorization page: where sign-in/social rightly sends the browser.
const IDP: &str = "https://idp.invalid/";

/// The answer to `vector` on one input: refused with `code`, or let through (any status but
/// that refusal), never to an untrusted place.
fn judge(app: &TestApp, r: &Resp, vector: &str, trusted: bool, code: &str, what: &str) {
    let refused = r.status == 403 && r.json()["code"] == code;
    assert_eq!(!refused, trusted, "{what} {vector:?}: {} {}", r.status, r.text);
    if let Some(loc) = location(r).filter(|l| !l.starts_with(IDP)) {
        assert_lands_trusted(&app.base, &loc, what);
    }
    if let Some(url) = r.json()["url"].as_str().filter(|u| !u.is_empty() && !u.starts_with(IDP)) {
        assert_lands_trusted(&app.base, url, what);
    }
}

#[tokio::test]
async fn every_url_input_refuses_every_bypass_vector() {
    let app = app().await;
    let (cookie, _) = app.sign_up("owner@x.test", "password-123").await;
    let vectors = vectors();
    assert!(vectors.len() >= 40);
    for (i, (v, trusted)) in vectors.iter().enumerate() {
        let (v, trusted) = (v.as_str(), *trusted);
        let email = format!("u{i}@x.test");
        let body = json!({"email": email, "password": "password-123", "name": "U", "callbackURL": v});
        let r = app.post("/sign-up/email", body, None).await;
        judge(&app, &r, v, trusted, "INVALID_CALLBACK_URL", "sign-up callbackURL");
        let body = json!({"email": "owner@x.test", "password": "password-123", "callbackURL": v});
        let r = app.post("/sign-in/email", body, None).await;
        judge(&app, &r, v, trusted, "INVALID_CALLBACK_URL", "sign-in callbackURL");
        for (field, code) in [
            ("callbackURL", "INVALID_CALLBACK_URL"),
            ("errorCallbackURL", "INVALID_ERROR_CALLBACK_URL"),
            ("newUserCallbackURL", "INVALID_NEW_USER_CALLBACK_URL"),
        ] {
            let r = app.post("/sign-in/social", json!({"provider": "test", field: v}), None).await;
            judge(&app, &r, v, trusted, code, &format!("sign-in/social {field}"));
            let r = app.post("/link-social", json!({"provider": "test", field: v}), Some(&cookie)).await;
            if field == "callbackURL" {
                judge(&app, &r, v, trusted, code, "link-social callbackURL");
            }
        }
        let r = app.post("/send-verification-email", json!({"email": email, "callbackURL": v}), None).await;
        judge(&app, &r, v, trusted, "INVALID_CALLBACK_URL", "send-verification-email callbackURL");
        let body = json!({"newEmail": format!("new{i}@x.test"), "callbackURL": v});
        let r = app.post("/change-email", body, Some(&cookie)).await;
        judge(&app, &r, v, trusted, "INVALID_CALLBACK_URL", "change-email callbackURL");
        let r = app.post("/request-password-reset", json!({"email": "owner@x.test", "redirectTo": v}), None).await;
        judge(&app, &r, v, trusted, "INVALID_REDIRECT_URL", "request-password-reset redirectTo");
        let q = crate::redirects::encode(v);
        let r = app.get(&format!("/reset-password/not-a-token?callbackURL={q}"), None).await;
        judge(&app, &r, v, trusted, "INVALID_CALLBACK_URL", "GET reset-password callbackURL");
        let r = app.get(&format!("/verify-email?token=bad&callbackURL={q}"), None).await;
        judge(&app, &r, v, trusted, "INVALID_CALLBACK_URL", "verify-email callbackURL");
    }
}

/// With a real token: the reset link and the verification link (which signs in and, in
/// cross-domain mode, appends `?ott=`) go only to trusted places, for every trusted vector.
#[tokio::test]
async fn tokens_only_travel_to_trusted_origins() {
    let app = app().await;
    app.sign_up("victim@x.test", "password-123").await;
    for (v, trusted) in vectors() {
        let r = app.post("/request-password-reset", json!({"email": "victim@x.test", "redirectTo": v}), None).await;
        if !trusted {
            assert_eq!(r.status, 403, "{v:?}");
            continue;
        }
        assert_eq!(r.status, 200, "{v:?}: {}", r.text);
        let token = wait_for_token(&app, "reset-password").await;
        let r = app.get(&format!("/reset-password/{token}?callbackURL={}", encode(&v)), None).await;
        let loc = location(&r).unwrap_or_else(|| panic!("{v:?}: no redirect: {} {}", r.status, r.text));
        assert_lands_trusted(&app.base, &loc, "reset link");
    }
    // One fresh user per trusted vector: a link verifies (and signs in) only once.
    for (i, (v, _)) in vectors().into_iter().filter(|(_, t)| *t).enumerate() {
        let email = format!("fresh{i}@x.test");
        let (cookie, _) = app.sign_up(&email, "password-123").await;
        let r = app.post("/send-verification-email", json!({"email": email}), Some(&cookie)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let token = crate::adoption::emailed_token(&app, "verify-email", &email).await;
        let r = app.get(&format!("/verify-email?token={token}&callbackURL={}", encode(&v)), None).await;
        assert!(r.status == 302 || (v.is_empty() && r.status == 200), "{v:?}: {} {}", r.status, r.text);
        if let Some(loc) = location(&r) {
            assert_lands_trusted(&app.base, &loc, "verification link");
        }
    }
}

pub fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}
