//! `/token`, `/jwks` and the discovery document of the JWT plugin (WIRE.md §8), and the
//! admin-key-protected key rotation.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Jwt, JwtPlugin, Profile};
use crate::error::{ApiError, Result};
use crate::http::AppState;
use crate::http::extract::CurrentSession;
use crate::http::reply::Reply;

/// Verifiers may cache the key set this long; a rotated key stays published far longer.
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

pub async fn token(
    State(state): State<AppState>,
    Extension(plugin): Jwt,
    CurrentSession(cur): CurrentSession,
) -> Result<Reply> {
    let token = plugin.issuer(Profile::Jwt)?.sign_user(&state.auth, &cur.user, cur.session.id()).await?;
    Ok(Reply::json(json!({ "token": token })))
}

/// The public keys of `profile`'s issuer (`/jwks`, `/convex/jwks`).
pub(super) async fn jwks_of(state: &AppState, plugin: &JwtPlugin, profile: Profile) -> Result<Reply> {
    let keys = plugin.issuer(profile)?.jwks(&state.auth).await?;
    Ok(Reply::json(keys).header(header::CACHE_CONTROL, JWKS_CACHE_CONTROL))
}

pub async fn jwks(State(state): State<AppState>, Extension(plugin): Jwt) -> Result<Reply> {
    jwks_of(&state, &plugin, Profile::Jwt).await
}

pub async fn openid_configuration(State(state): State<AppState>, Extension(plugin): Jwt) -> Result<Reply> {
    let doc = plugin.issuer(Profile::Jwt)?.openid_configuration(&state.auth.api_url(), "/jwks");
    Ok(Reply::json(doc).header(header::CACHE_CONTROL, JWKS_CACHE_CONTROL))
}

/// `Authorization: Bearer <admin key>`, compared in constant time (digests, so the length
/// of the key does not show either).
fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<()> {
    let expected =
        state.auth.config.admin_key.as_deref().filter(|k| !k.is_empty()).ok_or_else(ApiError::unauthorized)?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .unwrap_or("");
    let digest = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
    if crate::crypto::ct_eq(&digest(given), &digest(expected)) { Ok(()) } else { Err(ApiError::unauthorized()) }
}

/// `POST /keys/rotate`: new signing keys now; the old ones stay published until their
/// tokens expire (plus the grace period).
pub async fn rotate(State(state): State<AppState>, Extension(plugin): Jwt, headers: HeaderMap) -> Result<Reply> {
    require_admin(&state, &headers)?;
    let fresh = plugin.ring.rotate(&state.auth).await?;
    let keys: Vec<_> = fresh.iter().map(|(kid, alg)| json!({"kid": kid, "alg": alg.name()})).collect();
    Ok(Reply::json(json!({ "keys": keys })))
}
