//! Helpers of the JWT tests: decode headers, verify tokens against a served JWKS.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::harness::TestApp;

pub fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

pub async fn jwks(app: &TestApp, path: &str) -> JwkSet {
    let r = app.get(path, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    serde_json::from_str(&r.text).unwrap()
}

pub fn kids(set: &JwkSet) -> Vec<String> {
    set.keys.iter().filter_map(|k| k.common.key_id.clone()).collect()
}

/// Verifies signature, `exp`, `iss` and `aud` the way a relying party does: key by `kid`.
pub fn verify(set: &JwkSet, token: &str, alg: Algorithm, iss: &str, aud: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    assert_eq!(header.alg, alg);
    let kid = header.kid.ok_or("no kid")?;
    let jwk: &Jwk = set.find(&kid).ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(alg);
    v.set_issuer(&[iss]);
    v.set_audience(&[aud]);
    v.leeway = 0;
    jsonwebtoken::decode::<Value>(token, &key, &v).map(|d| d.claims).map_err(|e| e.to_string())
}

/// The server's origin (where the root discovery redirect lives).
pub fn origin(app: &TestApp) -> String {
    app.base.trim_end_matches("/api/auth").to_string()
}

/// The JWT plugin's `iss` (also the default `aud`: the base URL's origin), as a relying party
/// learns it from the discovery document.
pub async fn issuer(app: &TestApp) -> String {
    let doc = app.get("/.well-known/openid-configuration", None).await.json();
    doc["issuer"].as_str().unwrap().to_string()
}
