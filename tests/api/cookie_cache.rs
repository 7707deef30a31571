//! Cookie cache (WIRE.md §12) in its three strategies: get-session answers from the cookie
//! while it is valid (a revoked session stays visible), `disableCookieCache` goes to the
//! store, tampering and sign-out expire it, and large copies are chunked.

use palisade::config::CookieCacheStrategy;
use serde_json::json;

use crate::harness::{Resp, TestApp, spawn_with};

const DATA: &str = "better-auth.session_data";

async fn spawn_cache(strategy: CookieCacheStrategy) -> TestApp {
    spawn_with(move |c| {
        c.session.cookie_cache.enabled = true;
        c.session.cookie_cache.strategy = strategy;
    })
    .await
}

/// The Set-Cookie lines of `resp` whose name starts with `prefix`.
fn set_cookies<'a>(resp: &'a Resp, prefix: &str) -> Vec<&'a str> {
    resp.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|c| c.starts_with(prefix))
        .collect()
}

/// Signs up and in again; revokes the second session from the first. Returns the second
/// session's cookies (token + cache) and token.
async fn revoked_second_session(app: &TestApp, email: &str) -> (String, String) {
    let (first, _) = app.sign_up(email, "password-123").await;
    let second = app.post("/sign-in/email", json!({"email": email, "password": "password-123"}), None).await;
    assert_eq!(set_cookies(&second, DATA).len(), 1, "sign-in sets the cache");
    let token = second.json()["token"].as_str().unwrap().to_string();
    let r = app.post("/revoke-session", json!({"token": token}), Some(&first)).await;
    assert_eq!(r.json(), json!({"status": true}));
    (second.cookie_header(), token)
}

/// A browser's cookie jar after `resp`: set cookies replace, expired ones leave.
fn merge(jar: &str, resp: &Resp) -> String {
    let mut pairs: Vec<(String, String)> =
        jar.split("; ").filter_map(|p| p.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect();
    for line in resp.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
        let (k, v) = line.split(';').next().unwrap().split_once('=').unwrap();
        pairs.retain(|(n, _)| n != k);
        if !line.contains("Max-Age=0") {
            pairs.push((k.into(), v.into()));
        }
    }
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
}

#[tokio::test]
async fn every_strategy_answers_from_the_cookie_until_bypassed() {
    for strategy in [CookieCacheStrategy::Compact, CookieCacheStrategy::Jwt, CookieCacheStrategy::Jwe] {
        let app = spawn_cache(strategy).await;
        let (cookie, token) = revoked_second_session(&app, "cache@example.com").await;
        let cached = app.get("/get-session", Some(&cookie)).await;
        assert_eq!(cached.json()["session"]["token"], token, "{strategy:?}: served from the cookie");
        assert!(set_cookies(&cached, DATA).is_empty(), "{strategy:?}: a cache hit sets nothing");
        assert!(cached.headers.get("set-auth-jwt").is_some());
        let fresh = app.get("/get-session?disableCookieCache=true", Some(&cookie)).await;
        assert_eq!(fresh.text, "null", "{strategy:?}: the store knows it is revoked");
        assert!(set_cookies(&fresh, DATA).iter().any(|c| c.contains("Max-Age=0")));
    }
}

#[tokio::test]
async fn jwt_and_jwe_values_have_their_shape() {
    let app = spawn_cache(CookieCacheStrategy::Jwt).await;
    let up = app
        .post("/sign-up/email", json!({"email": "j@example.com", "password": "password-123", "name": "J"}), None)
        .await;
    let line = set_cookies(&up, DATA)[0].to_string();
    let value = line.split(';').next().unwrap().split_once('=').unwrap().1;
    assert_eq!(value.split('.').count(), 3, "a JWS");
    assert!(line.contains("Max-Age=300"));
    let app = spawn_cache(CookieCacheStrategy::Jwe).await;
    let up = app
        .post("/sign-up/email", json!({"email": "e@example.com", "password": "password-123", "name": "E"}), None)
        .await;
    let line = set_cookies(&up, DATA)[0].to_string();
    let value = line.split(';').next().unwrap().split_once('=').unwrap().1;
    assert_eq!(value.split('.').count(), 5, "a JWE");
    assert!(!value.contains("e@example.com"));
}

#[tokio::test]
async fn a_tampered_copy_is_expired_and_the_store_answers() {
    let app = spawn_cache(CookieCacheStrategy::Jwe).await;
    let (cookie, _) = app.sign_up("t@example.com", "password-123").await;
    let forged = cookie.replace(&format!("{DATA}="), &format!("{DATA}=x"));
    let r = app.get("/get-session", Some(&forged)).await;
    assert_eq!(r.json()["user"]["email"], "t@example.com");
    let lines = set_cookies(&r, DATA);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(!lines[0].contains("Max-Age=0"), "a fresh copy replaces the bad one");
}

#[tokio::test]
async fn large_copies_are_chunked_and_read_back() {
    let app = spawn_cache(CookieCacheStrategy::Compact).await;
    let (first, _) = app.sign_up("big@example.com", "password-123").await;
    let r = app.post("/update-user", json!({"name": "N".repeat(6000)}), Some(&first)).await;
    let chunks = set_cookies(&r, &format!("{DATA}."));
    assert_eq!(chunks.len(), 3, "{chunks:?}");
    assert!(chunks.iter().all(|c| c.len() <= 4050));
    // The chunked copy answers (the session is then revoked, so only the cookie knows it).
    let cookie = merge(&first, &r);
    let own = app.get("/get-session", Some(&cookie)).await.json()["session"]["token"].clone();
    let other = app.post("/sign-in/email", json!({"email": "big@example.com", "password": "password-123"}), None).await;
    app.post("/revoke-session", json!({"token": own}), Some(&other.cookie_header())).await;
    let cached = app.get("/get-session", Some(&cookie)).await;
    assert_eq!(cached.json()["user"]["name"].as_str().map(str::len), Some(6000));
    // Sign-out expires the token, the copy and every chunk.
    let out = app.post("/sign-out", json!({}), Some(&cookie)).await;
    let cleared = set_cookies(&out, DATA);
    assert_eq!(cleared.len(), 4, "{cleared:?}");
    assert!(cleared.iter().all(|c| c.contains("Max-Age=0")));
}

#[tokio::test]
async fn revoking_the_own_session_clears_the_copy() {
    let app = spawn_cache(CookieCacheStrategy::Compact).await;
    let up = app
        .post("/sign-up/email", json!({"email": "own@example.com", "password": "password-123", "name": "O"}), None)
        .await;
    let token = up.json()["token"].as_str().unwrap().to_string();
    let r = app.post("/revoke-session", json!({"token": token}), Some(&up.cookie_header())).await;
    assert!(set_cookies(&r, DATA).iter().any(|c| c.contains("Max-Age=0")));
}
