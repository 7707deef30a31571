//! `[plugins.jwt] alg`: every algorithm signs tokens a relying party verifies from `/jwks`,
//! keys are stored as Better Auth stores them, and the discovery document points at them.

use jsonwebtoken::Algorithm;
use palisade::plugins::jwt::Alg;

use crate::harness::spawn_with;
use crate::jwt_support::{issuer, jwks, kid, origin, verify};

async fn signs_with(alg: Alg, jwa: Algorithm, kty: &str, crv: Option<&str>) {
    let app = spawn_with(|c| c.edit(|s: &mut palisade::plugins::jwt::JwtConfig| s.alg = alg)).await;
    let (cookie, user) = app.sign_up(&format!("{}@algs.example", alg.name().to_lowercase()), "password-123").await;
    let t = app.get("/token", Some(&cookie)).await;
    assert_eq!(t.status, 200, "{}", t.text);
    let token = t.json()["token"].as_str().unwrap().to_string();
    let set = jwks(&app, "/jwks").await;
    let iss = issuer(&app).await;
    let claims = verify(&set, &token, jwa, &iss, &iss).unwrap();
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["email"], user["email"]);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);

    // The row: alg and crv columns, public JWK without private members, encrypted private JWK.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path().display())).await.unwrap();
    let (id, public, private, a, c): (String, String, String, Option<String>, Option<String>) =
        sqlx::query_as("select id, publicKey, privateKey, alg, crv from jwks").fetch_one(&pool).await.unwrap();
    pool.close().await;
    assert_eq!(id, kid(&token));
    assert_eq!(a.as_deref(), Some(alg.name()));
    assert_eq!(c.as_deref(), crv);
    let public: serde_json::Value = serde_json::from_str(&public).unwrap();
    assert_eq!(public["kty"], kty);
    assert!(public.get("d").is_none());
    let hex: String = serde_json::from_str(&private).unwrap();
    let jwk = palisade::crypto::symmetric::decrypt(crate::harness::SECRET.as_bytes(), &hex).unwrap();
    let jwk: serde_json::Value = serde_json::from_str(&jwk).unwrap();
    assert!(jwk["d"].is_string());
}

#[tokio::test]
async fn rs256_ps256_es256_and_eddsa_sign_verifiable_tokens() {
    signs_with(Alg::RS256, Algorithm::RS256, "RSA", None).await;
    signs_with(Alg::PS256, Algorithm::PS256, "RSA", None).await;
    signs_with(Alg::ES256, Algorithm::ES256, "EC", Some("P-256")).await;
    signs_with(Alg::EdDSA, Algorithm::EdDSA, "OKP", Some("Ed25519")).await;
}

#[tokio::test]
async fn issuer_audience_and_expiry_are_configurable() {
    let app = spawn_with(|c| {
        c.edit(|s: &mut palisade::plugins::jwt::JwtConfig| s.issuer = Some("https://auth.example".into()));
        c.edit(|s: &mut palisade::plugins::jwt::JwtConfig| s.audience = Some("my-api".into()));
        c.edit(|s: &mut palisade::plugins::jwt::JwtConfig| s.expiration = 120);
    })
    .await;
    let (cookie, _) = app.sign_up("claims@algs.example", "password-123").await;
    let token = app.get("/token", Some(&cookie)).await.json()["token"].as_str().unwrap().to_string();
    let claims =
        verify(&jwks(&app, "/jwks").await, &token, Algorithm::EdDSA, "https://auth.example", "my-api").unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);
}

#[tokio::test]
async fn discovery_document_and_jwks_caching() {
    let app = spawn_with(|c| {
        c.edit(|s: &mut palisade::plugins::jwt::JwtConfig| s.issuer = Some("https://auth.example".into()))
    })
    .await;
    let j = app.get("/jwks", None).await;
    assert!(j.headers["cache-control"].to_str().unwrap().contains("max-age"));
    let d = app.get("/.well-known/openid-configuration", None).await;
    assert_eq!(d.status, 200, "{}", d.text);
    let doc = d.json();
    assert_eq!(doc["issuer"], "https://auth.example");
    // The harness binds port 0, so the configured base URL (and the documents) name port 0.
    assert!(doc["jwks_uri"].as_str().unwrap().ends_with("/api/auth/jwks"), "{doc}");
    assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!(["EdDSA"]));
    // The root document (outside the base path) redirects to it.
    let root = app.client.get(format!("{}/.well-known/openid-configuration", origin(&app))).send().await.unwrap();
    assert_eq!(root.status(), 302);
    let location = root.headers()["location"].to_str().unwrap();
    assert!(location.ends_with("/api/auth/.well-known/openid-configuration"), "{location}");
}
