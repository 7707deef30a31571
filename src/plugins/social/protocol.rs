//! The HTTP side of OAuth 2.0 / OpenID Connect: discovery, the token endpoint (code and
//! refresh grants, `client_secret_post` as Better Auth sends it), userinfo, GitHub's profile
//! and email APIs, and ID tokens verified against the provider's JWKS.
//! Errors are [`ProviderError`]s for the log; callers map them to Better Auth's error codes.

use std::time::{Duration, Instant};

use chrono::Utc;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value as Json;

use super::config::SocialKind;
use super::error::{HttpError, IdTokenError, ProfileGap, ProviderError};
use super::provider::{BaseProfile, Endpoints, Profile, Provider, Tokens};

/// How long a fetched JWKS is trusted before it is fetched again (an unknown `kid` refetches).
const JWKS_TTL: Duration = Duration::from_secs(600);
/// An ID token naming a key we do not have refetches the JWKS (the provider may have rotated),
/// but at most this often: forged `kid`s must not turn every request into a provider fetch.
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(60);
/// Google's documented maximum ID-token age (Better Auth's `maxTokenAge: "1h"`).
const GOOGLE_MAX_AGE_SECONDS: i64 = 3600;

async fn get_json(req: reqwest::RequestBuilder) -> Result<Json, HttpError> {
    let res = req.header("accept", "application/json").send().await.map_err(HttpError::Send)?;
    let status = res.status();
    let body: Json = res.json().await.map_err(|source| HttpError::NotJson { status, source })?;
    if !status.is_success() {
        return Err(HttpError::Status { status, body });
    }
    Ok(body)
}

/// `what`'s answer at `url`, as JSON.
async fn fetch(what: &'static str, url: &str, req: reqwest::RequestBuilder) -> Result<Json, ProviderError> {
    get_json(req).await.map_err(|source| ProviderError::Http { what, url: url.to_string(), source })
}

/// OpenID Connect Discovery 1.0: the document's `issuer` must be the configured issuer.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Endpoints, ProviderError> {
    let url = format!("{issuer}/.well-known/openid-configuration");
    let doc = match get_json(http.get(&url)).await {
        Ok(doc) => doc,
        Err(source) => return Err(ProviderError::Discovery { url, source }),
    };
    let s = |k: &str| doc.get(k).and_then(Json::as_str).map(str::to_string);
    if s("issuer").as_deref().map(|i| i.trim_end_matches('/')) != Some(issuer) {
        return Err(ProviderError::IssuerMismatch { url, found: s("issuer"), expected: issuer.to_string() });
    }
    Ok(Endpoints {
        issuer: Some(issuer.to_string()),
        authorization: s("authorization_endpoint"),
        token: s("token_endpoint"),
        userinfo: s("userinfo_endpoint"),
        jwks_uri: s("jwks_uri"),
        emails: None,
    })
}

fn seconds(v: Option<&Json>) -> Option<i64> {
    match v? {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Better Auth's `getOAuth2Tokens`: expiries from `expires_in`, scopes split on spaces.
fn tokens_from(data: &Json) -> Tokens {
    let s = |k: &str| data.get(k).and_then(Json::as_str).map(str::to_string);
    let at = |k: &str| seconds(data.get(k)).map(|n| Utc::now() + chrono::Duration::seconds(n));
    let scopes = match data.get("scope") {
        Some(Json::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(Json::Array(a)) => a.iter().filter_map(Json::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    Tokens {
        access_token: s("access_token"),
        refresh_token: s("refresh_token"),
        id_token: s("id_token"),
        access_token_expires_at: at("expires_in"),
        refresh_token_expires_at: at("refresh_token_expires_in"),
        scopes,
    }
}

async fn token_request(p: &Provider, grant: &[(&str, &str)]) -> Result<Tokens, ProviderError> {
    let endpoints = p.endpoints().await?;
    let url = endpoints.token.as_deref().ok_or(ProviderError::NoEndpoint("token endpoint"))?;
    let mut form: Vec<(&str, &str)> = grant.to_vec();
    form.push(("client_id", &p.client_id));
    if let Some(secret) = &p.client_secret {
        form.push(("client_secret", secret));
    }
    let data = fetch("token endpoint", url, p.http.post(url).form(&form)).await?;
    // GitHub answers errors with 200 and an `error` member.
    if let Some(err) = data.get("error") {
        let description = data.get("error_description").cloned().unwrap_or(Json::Null);
        return Err(ProviderError::TokenRefused { error: err.clone(), description });
    }
    if data.get("access_token").and_then(Json::as_str).is_none() {
        return Err(ProviderError::NoAccessToken);
    }
    Ok(tokens_from(&data))
}

pub async fn exchange_code(
    p: &Provider,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<Tokens, ProviderError> {
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", verifier),
        ("redirect_uri", redirect_uri),
    ];
    token_request(p, &grant).await
}

pub async fn refresh(p: &Provider, refresh_token: &str) -> Result<Tokens, ProviderError> {
    token_request(p, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
}

async fn jwks(p: &Provider, endpoints: &Endpoints, force: bool) -> Result<JwkSet, ProviderError> {
    let mut cached = p.jwks.lock().await;
    if let Some((at, set)) = cached.as_ref()
        && at.elapsed() < if force { JWKS_MIN_REFETCH } else { JWKS_TTL }
    {
        return Ok(set.clone());
    }
    let url = endpoints.jwks_uri.as_deref().ok_or(ProviderError::NoEndpoint("jwks_uri"))?;
    let body = fetch("jwks", url, p.http.get(url)).await?;
    let set: JwkSet =
        serde_json::from_value(body).map_err(|source| ProviderError::Jwks { url: url.to_string(), source })?;
    *cached = Some((Instant::now(), set.clone()));
    Ok(set)
}

/// Asymmetric algorithms only: an ID token signed with HS* or `none` is refused.
fn allowed(alg: Algorithm) -> bool {
    use Algorithm::*;
    matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512 | ES256 | ES384 | EdDSA)
}

/// Verifies an ID token: signature by the provider's JWKS key named by `kid`, issuer,
/// audience = client id, expiry (unless `check_exp` is off, for stored tokens), and the
/// nonce when one is expected. Returns its claims.
pub async fn verify_id_token(
    p: &Provider,
    token: &str,
    nonce: Option<&str>,
    check_exp: bool,
) -> Result<Json, ProviderError> {
    let endpoints = p.endpoints().await?;
    let header = jsonwebtoken::decode_header(token).map_err(IdTokenError::Header)?;
    if !allowed(header.alg) {
        return Err(IdTokenError::Algorithm(header.alg).into());
    }
    let mut set = jwks(p, endpoints, false).await?;
    let find = |set: &JwkSet| match &header.kid {
        Some(kid) => set.find(kid).cloned(),
        None if set.keys.len() == 1 => set.keys.first().cloned(),
        None => None,
    };
    let jwk = match find(&set) {
        Some(k) => k,
        None => {
            // The provider may have rotated its keys since the last fetch.
            set = jwks(p, endpoints, true).await?;
            find(&set).ok_or(IdTokenError::UnknownKey)?
        }
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(IdTokenError::Key)?;
    let mut v = Validation::new(header.alg);
    v.set_audience(&[&p.client_id]);
    let issuers = p.issuers(endpoints);
    if issuers.is_empty() {
        return Err(IdTokenError::NoIssuer.into());
    }
    v.set_issuer(&issuers);
    v.validate_exp = check_exp;
    let required: &[&str] = if check_exp { &["exp", "iss", "aud", "sub"] } else { &["iss", "aud", "sub"] };
    v.set_required_spec_claims(required);
    let claims = jsonwebtoken::decode::<Json>(token, &key, &v).map_err(IdTokenError::Invalid)?.claims;
    if let Some(expected) = nonce
        && !claims.get("nonce").and_then(Json::as_str).is_some_and(|n| crate::crypto::ct_eq(n, expected))
    {
        return Err(IdTokenError::Nonce.into());
    }
    if p.kind == SocialKind::Google && check_exp {
        let iat = claims.get("iat").and_then(Json::as_i64).unwrap_or(0);
        if Utc::now().timestamp() - iat > GOOGLE_MAX_AGE_SECONDS {
            return Err(IdTokenError::TooOld.into());
        }
    }
    Ok(claims)
}

fn bool_claim(v: Option<&Json>) -> bool {
    matches!(v, Some(Json::Bool(true))) || v.and_then(Json::as_str) == Some("true")
}

fn str_claim(v: &Json, k: &str) -> Option<String> {
    v.get(k).and_then(Json::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

/// `sub` as a string (some providers send numbers).
fn subject(v: &Json, k: &str) -> Option<String> {
    match v.get(k)? {
        Json::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The profile from OpenID Connect claims (ID token, userinfo, or both merged).
pub fn profile_from_claims(p: &Provider, claims: Json) -> Result<Profile, ProfileGap> {
    let sub = subject(&claims, "sub").ok_or(ProfileGap::NoSubject)?;
    let base = BaseProfile {
        email: str_claim(&claims, "email"),
        email_verified: bool_claim(claims.get("email_verified")),
        name: str_claim(&claims, "name").unwrap_or_default(),
        image: str_claim(&claims, "picture"),
    };
    Ok(p.profile(sub, base, claims))
}

async fn userinfo(p: &Provider, url: &str, access_token: &str) -> Result<Json, ProviderError> {
    fetch("userinfo", url, p.http.get(url).bearer_auth(access_token)).await
}

/// The user behind freshly issued tokens. `nonce` is the one sent with the authorization
/// request (bound into the ID token); `check_exp` is off for tokens read back from storage.
pub async fn fetch_profile(
    p: &Provider,
    tokens: &Tokens,
    nonce: Option<&str>,
    check_exp: bool,
) -> Result<Profile, ProviderError> {
    if p.kind == SocialKind::Github {
        return github_profile(p, tokens.access_token.as_deref().ok_or(ProfileGap::NoAccessToken)?).await;
    }
    let endpoints = p.endpoints().await?;
    let mut claims = match &tokens.id_token {
        Some(id_token) => Some(verify_id_token(p, id_token, nonce, check_exp).await?),
        None if p.kind == SocialKind::Google => return Err(ProfileGap::NoGoogleIdToken.into()),
        None if nonce.is_some() => return Err(ProfileGap::NoIdTokenForNonce.into()),
        None => None,
    };
    if let (Some(url), Some(access)) = (&endpoints.userinfo, &tokens.access_token) {
        let info = userinfo(p, url, access).await?;
        claims = Some(match claims {
            None => info,
            Some(mut id_claims) => {
                // OIDC Core §5.3.2: the userinfo `sub` must be the ID token's.
                if subject(&info, "sub") != subject(&id_claims, "sub") {
                    return Err(ProfileGap::SubjectMismatch.into());
                }
                if let (Some(dst), Json::Object(src)) = (id_claims.as_object_mut(), info) {
                    for (k, v) in src {
                        dst.entry(k).or_insert(v);
                    }
                }
                id_claims
            }
        });
    }
    Ok(profile_from_claims(p, claims.ok_or(ProfileGap::NoClaims)?)?)
}

/// GitHub: `GET /user`, and `GET /user/emails` for the primary address and whether it is
/// verified (Better Auth's github provider).
async fn github_profile(p: &Provider, access_token: &str) -> Result<Profile, ProviderError> {
    let endpoints = p.endpoints().await?;
    let url = endpoints.userinfo.as_deref().ok_or(ProviderError::NoEndpoint("user endpoint"))?;
    let mut user = userinfo(p, url, access_token).await?;
    let emails = match &endpoints.emails {
        Some(url) => userinfo(p, url, access_token).await.ok().and_then(|e| e.as_array().cloned()),
        None => None,
    };
    let emails = emails.unwrap_or_default();
    let mut email = str_claim(&user, "email");
    if email.is_none() {
        let primary = emails.iter().find(|e| bool_claim(e.get("primary"))).or(emails.first());
        email = primary.and_then(|e| str_claim(e, "email"));
        if let (Some(e), Some(obj)) = (&email, user.as_object_mut()) {
            obj.insert("email".into(), Json::String(e.clone()));
        }
    }
    let verified = emails
        .iter()
        .find(|e| email.is_some() && str_claim(e, "email") == email)
        .is_some_and(|e| bool_claim(e.get("verified")));
    let id = subject(&user, "id").ok_or(ProfileGap::NoGithubId)?;
    let base = BaseProfile {
        email,
        email_verified: verified,
        name: str_claim(&user, "name").or_else(|| str_claim(&user, "login")).unwrap_or_default(),
        image: str_claim(&user, "avatar_url"),
    };
    Ok(p.profile(id, base, user))
}

#[cfg(test)]
mod jwks_tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::plugins::social::config::SocialProviderConfig;

    /// A JWKS endpoint on loopback that counts its requests.
    async fn jwks_server() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let body = r#"{"keys":[]}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(format!("{head}{body}").as_bytes()).await;
            }
        });
        (format!("http://{addr}/jwks"), hits)
    }

    /// ID tokens naming unknown keys, one after another: the provider's JWKS is fetched once
    /// (then refetched at most once a minute), not once per token.
    #[tokio::test]
    async fn unknown_kid_refetches_at_most_once_a_minute() {
        let (jwks_uri, hits) = jwks_server().await;
        let pc = SocialProviderConfig {
            client_id: "client".into(),
            authorization_endpoint: Some("http://127.0.0.1:1/authorize".into()),
            token_endpoint: Some("http://127.0.0.1:1/token".into()),
            jwks_uri: Some(jwks_uri),
            ..Default::default()
        };
        let p = Provider::new("oidc", &pc, reqwest::Client::new()).unwrap();
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        for i in 0..20 {
            let token = format!("{}.{}.c2ln", b64(&format!(r#"{{"alg":"RS256","kid":"forged-{i}"}}"#)), b64("{}"));
            let err = verify_id_token(&p, &token, None, true).await.unwrap_err();
            assert!(matches!(err, ProviderError::IdToken(IdTokenError::UnknownKey)), "{err}");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }
}
