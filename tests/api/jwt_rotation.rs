//! Rotation that logs nobody out: a token minted before a rotation still verifies after it,
//! new tokens carry the new `kid` at once, and the old key leaves the JWKS only after its
//! tokens' expiry plus the grace period (short configured lifetimes, not long sleeps).

use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::harness::{TestApp, spawn_with};
use crate::jwt_support::{issuer, jwks, kid, kids, verify};

const ADMIN_KEY: &str = "admin-key-for-rotation-tests-0123456789";
const LIFETIME: i64 = 3;
const GRACE: i64 = 1;

async fn token(app: &TestApp, cookie: &str) -> String {
    let t = app.get("/token", Some(cookie)).await;
    assert_eq!(t.status, 200, "{}", t.text);
    t.json()["token"].as_str().unwrap().to_string()
}

async fn rotate(app: &TestApp, key: Option<&str>) -> (u16, Value) {
    let auth = key.map(|k| format!("Bearer {k}"));
    let h: Vec<(&str, &str)> = auth.as_deref().map(|a| vec![("authorization", a)]).unwrap_or_default();
    let r = app.request("POST", "/keys/rotate", None, &h).await;
    (r.status, r.json())
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_until_they_expire() {
    let app = spawn_with(|c| {
        c.admin_key = Some(ADMIN_KEY.into());
        c.edit(|s: &mut palisade::plugins::jwt::JwtConfig| s.expiration = LIFETIME);
        c.edit(|s: &mut palisade::plugins::jwt::JwtConfig| s.grace_period = GRACE);
    })
    .await;
    let (cookie, _) = app.sign_up("rotate@jwt.example", "password-123").await;
    let before = token(&app, &cookie).await;
    let session_jwt =
        app.get("/get-session", Some(&cookie)).await.headers["set-auth-jwt"].to_str().unwrap().to_string();
    let old_kid = kid(&before);
    assert_eq!(kid(&session_jwt), old_kid);

    // The admin key is required, and compared exactly.
    assert_eq!(rotate(&app, None).await.0, 401);
    assert_eq!(rotate(&app, Some("admin-key-for-rotation-tests-012345678")).await.0, 401);
    let (status, body) = rotate(&app, Some(ADMIN_KEY)).await;
    assert_eq!(status, 200, "{body}");
    let new_kid = body["keys"][0]["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);

    // New tokens use the new key at once, get-session's reused token included.
    assert_eq!(kid(&token(&app, &cookie).await), new_kid);
    let after = app.get("/get-session", Some(&cookie)).await;
    assert_eq!(kid(after.headers["set-auth-jwt"].to_str().unwrap()), new_kid);

    // The token minted before still verifies against the published set.
    let set = jwks(&app, "/jwks").await;
    let iss = issuer(&app).await;
    assert_eq!(kids(&set).len(), 2);
    verify(&set, &before, Algorithm::EdDSA, &iss, &iss).unwrap();

    // Retired after its last token expired plus the grace period.
    tokio::time::sleep(Duration::from_millis(((LIFETIME + GRACE) * 1000 + 600) as u64)).await;
    let set = jwks(&app, "/jwks").await;
    assert_eq!(kids(&set), vec![new_kid.clone()]);
    // Its row is deleted at the next rotation; the key that replaced it is kept while published.
    let (_, body) = rotate(&app, Some(ADMIN_KEY)).await;
    let newest = body["keys"][0]["kid"].as_str().unwrap().to_string();
    let set = jwks(&app, "/jwks").await;
    assert!(kids(&set).contains(&new_kid) && kids(&set).contains(&newest));
    assert_eq!(app.count("jwks").await, 2);
}

#[tokio::test]
async fn a_rotation_by_another_process_is_picked_up() {
    let app = spawn_with(|c| c.edit(|s: &mut palisade::plugins::jwt::JwtConfig| s.key_recheck = 1)).await;
    let (cookie, _) = app.sign_up("cli@jwt.example", "password-123").await;
    let old = kid(&token(&app, &cookie).await);
    // What `palisade keys rotate` does: its own process on the same database.
    let mut cfg = crate::harness::config(app.dir.path());
    cfg.listen = "127.0.0.1:0".into();
    let other = palisade::app::build(cfg).await.unwrap();
    let jwt = palisade::plugins::find::<palisade::plugins::jwt::JwtPlugin>(&other.plugins).unwrap();
    let fresh = jwt.ring.rotate(&other).await.unwrap();
    let mut seen = old.clone();
    for _ in 0..30 {
        seen = kid(&token(&app, &cookie).await);
        if seen != old {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, fresh[0].0);
    assert!(kids(&jwks(&app, "/jwks").await).contains(&old));
}

#[tokio::test]
async fn static_jwks_with_two_keys() {
    use palisade::plugins::jwt::{Alg, KeyPair};
    let (new, old) = (KeyPair::generate(Alg::EdDSA).unwrap(), KeyPair::generate(Alg::EdDSA).unwrap());
    let with_kid = |p: &KeyPair, kid: &str| {
        let mut j = p.private_jwk.clone();
        j["kid"] = json!(kid);
        j
    };
    let set = json!({"keys": [with_kid(&new, "key-2"), with_kid(&old, "key-1")]}).to_string();
    let app = spawn_with(|c| {
        c.edit(|s: &mut palisade::plugins::jwt::JwtConfig| s.jwks = Some(set));
        c.admin_key = Some(ADMIN_KEY.into());
    })
    .await;
    let (cookie, _) = app.sign_up("static@jwt.example", "password-123").await;
    let t = token(&app, &cookie).await;
    assert_eq!(kid(&t), "key-2");
    let published = jwks(&app, "/jwks").await;
    assert_eq!(kids(&published), vec!["key-2".to_string(), "key-1".to_string()]);
    assert!(published.keys.iter().all(|k| serde_json::to_value(k).unwrap().get("d").is_none()));
    // A token of the older key (issued before the operator added key-2) still verifies.
    let exp = chrono::Utc::now().timestamp() + 60;
    let iss = issuer(&app).await;
    let legacy = old.jwt("key-1", &json!({"sub": "u", "exp": exp, "iss": iss, "aud": iss}));
    verify(&published, &legacy, Algorithm::EdDSA, &iss, &iss).unwrap();
    verify(&published, &t, Algorithm::EdDSA, &iss, &iss).unwrap();
    // Nothing is stored, and rotation is the operator's job.
    assert_eq!(app.count("jwks").await, 0);
    let (status, body) = rotate(&app, Some(ADMIN_KEY)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("STATIC_JWKS")));
}
