//! The Convex profile (WIRE.md §14): RS256 tokens with `aud` "convex" and `iss` the site URL,
//! its own JWKS and discovery document, the root redirect, the `convex_jwt` cookie.

use jsonwebtoken::Algorithm;

use crate::harness::{TestApp, spawn_with};
use crate::jwt_support::{jwks, kid, origin, verify};

const SITE: &str = "https://example.convex.site";

async fn convex_app() -> TestApp {
    spawn_with(|c| {
        c.edit(|s: &mut palisade::plugins::jwt::ConvexConfig| s.enabled = true);
        c.edit(|s: &mut palisade::plugins::jwt::ConvexConfig| s.site_url = Some(SITE.into()));
    })
    .await
}

fn cookie_line(r: &crate::harness::Resp, name: &str) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("better-auth.{name}=")))
        .map(str::to_string)
}

#[tokio::test]
async fn convex_token_verifies_as_convex_does() {
    let app = convex_app().await;
    let signup = app
        .post(
            "/sign-up/email",
            serde_json::json!({"email": "cvx@convex.example", "password": "password-123", "name": "C"}),
            None,
        )
        .await;
    assert_eq!(signup.status, 200, "{}", signup.text);
    let user = signup.json()["user"].clone();
    let set_cookie = cookie_line(&signup, "convex_jwt").expect("convex_jwt set on sign-up");
    assert!(set_cookie.contains("Max-Age=900"), "{set_cookie}");
    let cookie = signup.cookie_header();

    let r = app.get("/convex/token", Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(cookie_line(&r, "convex_jwt").is_some());
    let token = r.json()["token"].as_str().unwrap().to_string();
    let set = jwks(&app, "/convex/jwks").await;
    assert!(set.keys.iter().all(|k| k.common.key_algorithm.map(|a| format!("{a:?}")) == Some("RS256".into())));
    let claims = verify(&set, &token, Algorithm::RS256, SITE, "convex").unwrap();
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["email"], user["email"]);
    assert!(claims.get("id").is_none() && claims.get("image").is_none(), "{claims}");
    assert!(claims["sessionId"].is_string());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    let order: Vec<&str> = claims.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(order.first(), Some(&"iat"));
    assert_eq!(&order[order.len() - 5..], ["sessionId", "sub", "exp", "iss", "aud"]);

    // The JWT plugin keeps its EdDSA key; /jwks publishes both, /convex/jwks only RS256.
    let t = app.get("/token", Some(&cookie)).await.json()["token"].as_str().unwrap().to_string();
    assert_ne!(kid(&t), kid(&token));
    assert_eq!(jwks(&app, "/jwks").await.keys.len(), 2);
    assert_eq!(set.keys.len(), 1);

    // get-session renews the cookie; sign-out clears it.
    let g = app.get("/get-session", Some(&cookie)).await;
    assert!(cookie_line(&g, "convex_jwt").unwrap().contains("Max-Age=900"));
    let out = app.post("/sign-out", serde_json::json!({}), Some(&cookie)).await;
    assert_eq!(
        cookie_line(&out, "convex_jwt").unwrap(),
        "better-auth.convex_jwt=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
    );
    let anon = app.get("/get-session", None).await;
    assert!(cookie_line(&anon, "convex_jwt").unwrap().contains("Max-Age=0"));
    assert_eq!(app.get("/convex/token", None).await.status, 401);
}

#[tokio::test]
async fn convex_discovery_and_root_redirect() {
    let app = convex_app().await;
    let d = app.get("/convex/.well-known/openid-configuration", None).await;
    assert_eq!(d.status, 200);
    let doc = d.json();
    assert_eq!(doc["issuer"], SITE);
    assert_eq!(doc["jwks_uri"], format!("{SITE}/api/auth/convex/jwks"));
    assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!(["RS256"]));
    let root = app.client.get(format!("{}/.well-known/openid-configuration", origin(&app))).send().await.unwrap();
    assert_eq!(root.status(), 302);
    assert_eq!(root.headers()["location"], format!("{SITE}/api/auth/convex/.well-known/openid-configuration").as_str());
}

#[tokio::test]
async fn failed_sign_in_sets_no_convex_cookie() {
    let app = convex_app().await;
    app.sign_up("nope@convex.example", "password-123").await;
    let bad = app
        .post("/sign-in/email", serde_json::json!({"email": "nope@convex.example", "password": "wrong-pass-1"}), None)
        .await;
    assert_eq!(bad.status, 401);
    assert!(cookie_line(&bad, "convex_jwt").is_none());
    let good = app
        .post("/sign-in/email", serde_json::json!({"email": "nope@convex.example", "password": "password-123"}), None)
        .await;
    assert!(cookie_line(&good, "convex_jwt").unwrap().contains("Max-Age=900"));
}
