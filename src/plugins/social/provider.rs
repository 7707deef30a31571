//! One configured provider: its endpoints (preset, discovered or explicit), scopes, the
//! authorization URL it is sent to, and how its profile maps onto the user.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use tokio::sync::{Mutex, OnceCell};

use super::config::{ConfigError, ProfileSource, SocialKind, SocialProviderConfig};
use super::error::ProviderError;
use crate::model::User;
use crate::store::Schema;
use crate::store::schema::value_from_json;

/// Where a provider answers. Preset and discovered values are overridden by explicit ones.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    pub issuer: Option<String>,
    pub authorization: Option<String>,
    pub token: Option<String>,
    pub userinfo: Option<String>,
    pub jwks_uri: Option<String>,
    pub emails: Option<String>,
}

impl Endpoints {
    fn overlay(mut self, over: &Endpoints) -> Self {
        let pick = |base: &mut Option<String>, o: &Option<String>| {
            if o.is_some() {
                base.clone_from(o);
            }
        };
        pick(&mut self.issuer, &over.issuer);
        pick(&mut self.authorization, &over.authorization);
        pick(&mut self.token, &over.token);
        pick(&mut self.userinfo, &over.userinfo);
        pick(&mut self.jwks_uri, &over.jwks_uri);
        pick(&mut self.emails, &over.emails);
        self
    }
}

const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// The documented endpoints of the presets.
fn preset(kind: SocialKind) -> Endpoints {
    let s = |v: &str| Some(v.to_string());
    match kind {
        SocialKind::Oidc => Endpoints::default(),
        SocialKind::Github => Endpoints {
            issuer: None,
            authorization: s("https://github.com/login/oauth/authorize"),
            token: s("https://github.com/login/oauth/access_token"),
            userinfo: s("https://api.github.com/user"),
            jwks_uri: None,
            emails: s("https://api.github.com/user/emails"),
        },
        SocialKind::Google => Endpoints {
            issuer: s(GOOGLE_ISSUER),
            authorization: s("https://accounts.google.com/o/oauth2/v2/auth"),
            token: s("https://oauth2.googleapis.com/token"),
            userinfo: None,
            jwks_uri: s("https://www.googleapis.com/oauth2/v3/certs"),
            emails: None,
        },
    }
}

fn default_scopes(kind: SocialKind) -> &'static [&'static str] {
    match kind {
        SocialKind::Oidc => &["openid", "email", "profile"],
        SocialKind::Github => &["read:user", "user:email"],
        SocialKind::Google => &["email", "profile", "openid"],
    }
}

/// Tokens from a provider's token endpoint (Better Auth's `getOAuth2Tokens`).
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
}

/// The user as a provider describes them, after the profile mapping.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The provider's stable subject (`sub`, GitHub's numeric `id`): `account.accountId`.
    pub account_id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: String,
    pub image: Option<String>,
    /// Additional user fields from `map_profile`, as JSON to be typed by the schema.
    pub additional: Vec<(String, Json)>,
    /// The provider's own profile (`data` of `/account-info`).
    pub raw: Json,
}

pub struct Provider {
    pub id: String,
    pub kind: SocialKind,
    pub client_id: String,
    pub client_secret: Option<String>,
    scopes: Vec<String>,
    pub disable_sign_up: bool,
    pub disable_implicit_sign_up: bool,
    pub override_user_info: bool,
    prompt: Option<String>,
    map_profile: Vec<(String, Vec<String>)>,
    configured: Endpoints,
    resolved: OnceCell<Endpoints>,
    /// The provider's JWKS and when it was fetched.
    pub(super) jwks: Mutex<Option<(Instant, jsonwebtoken::jwk::JwkSet)>>,
    pub(super) http: reqwest::Client,
}

impl Provider {
    pub fn new(id: &str, pc: &SocialProviderConfig, http: reqwest::Client) -> Result<Self, ConfigError> {
        let kind = pc.kind.unwrap_or(match id {
            "github" => SocialKind::Github,
            "google" => SocialKind::Google,
            _ => SocialKind::Oidc,
        });
        if pc.client_id.is_empty() {
            return Err(ConfigError::NoClientId { id: id.to_string() });
        }
        let configured = Endpoints {
            issuer: pc.issuer.clone().map(|i| i.trim_end_matches('/').to_string()),
            authorization: pc.authorization_endpoint.clone(),
            token: pc.token_endpoint.clone(),
            userinfo: pc.userinfo_endpoint.clone(),
            jwks_uri: pc.jwks_uri.clone(),
            emails: pc.emails_endpoint.clone(),
        };
        if kind == SocialKind::Oidc
            && configured.issuer.is_none()
            && (configured.authorization.is_none() || configured.token.is_none())
        {
            return Err(ConfigError::NoEndpoints { id: id.to_string() });
        }
        let urls = [
            ("issuer", &configured.issuer),
            ("authorization_endpoint", &configured.authorization),
            ("token_endpoint", &configured.token),
            ("userinfo_endpoint", &configured.userinfo),
        ];
        for (key, url) in urls {
            if let Some(url) = url {
                url::Url::parse(url).map_err(|reason| ConfigError::NotUrl {
                    id: id.to_string(),
                    key,
                    url: url.clone(),
                    reason,
                })?;
            }
        }
        let mut scopes: Vec<String> = if pc.disable_default_scope {
            Vec::new()
        } else {
            default_scopes(kind).iter().map(|s| s.to_string()).collect()
        };
        scopes.extend(pc.scopes.iter().cloned());
        let map_profile = pc
            .map_profile
            .iter()
            .map(|(field, src)| {
                let alts = match src {
                    ProfileSource::One(s) => vec![s.clone()],
                    ProfileSource::FirstOf(v) => v.clone(),
                };
                (field.clone(), alts)
            })
            .collect();
        Ok(Self {
            id: id.to_string(),
            kind,
            client_id: pc.client_id.clone(),
            client_secret: pc.client_secret.clone(),
            scopes,
            disable_sign_up: pc.disable_sign_up,
            disable_implicit_sign_up: pc.disable_implicit_sign_up,
            override_user_info: pc.override_user_info_on_sign_in,
            prompt: pc.prompt.clone(),
            map_profile,
            configured,
            resolved: OnceCell::new(),
            jwks: Mutex::new(None),
            http,
        })
    }

    /// Every `map_profile` target must be a user field the schema has.
    pub fn check_schema(&self, schema: &Schema) -> Result<(), ConfigError> {
        let user = schema.model(User::MODEL).map_err(ConfigError::Schema)?;
        for (field, _) in &self.map_profile {
            if user.field(field).is_err() || ["id", "email", "emailVerified"].contains(&field.as_str()) {
                return Err(ConfigError::NotProfileField { id: self.id.clone(), field: field.clone() });
            }
        }
        Ok(())
    }

    /// Does this provider issue ID tokens that can be verified (and so sign in by `idToken`)?
    pub fn has_id_tokens(&self) -> bool {
        self.kind != SocialKind::Github
    }

    /// The expected issuer(s) of ID tokens. Google documents both spellings.
    pub fn issuers(&self, endpoints: &Endpoints) -> Vec<String> {
        match (self.kind, &endpoints.issuer) {
            (SocialKind::Google, _) => vec![GOOGLE_ISSUER.into(), "accounts.google.com".into()],
            (_, Some(iss)) => vec![iss.clone()],
            _ => Vec::new(),
        }
    }

    /// The endpoints, discovering them from the issuer on first use.
    pub async fn endpoints(&self) -> Result<&Endpoints, ProviderError> {
        self.resolved
            .get_or_try_init(|| async {
                let base = match (self.kind, &self.configured.issuer) {
                    (SocialKind::Oidc, Some(issuer)) => super::protocol::discover(&self.http, issuer).await?,
                    (kind, _) => preset(kind),
                };
                Ok(base.overlay(&self.configured))
            })
            .await
    }

    /// Better Auth sends an OIDC nonce only for providers that bind ID tokens to the redirect;
    /// here that is every generic OpenID Connect provider.
    pub fn wants_nonce(&self) -> bool {
        self.kind == SocialKind::Oidc && self.configured.issuer.is_some()
    }

    /// The authorization URL, parameters in Better Auth's order (`createAuthorizationURL`).
    pub async fn authorization_url(&self, req: AuthorizationRequest<'_>) -> Result<String, ProviderError> {
        let endpoints = self.endpoints().await?;
        let base = endpoints.authorization.as_deref().ok_or(ProviderError::NoEndpoint("authorization endpoint"))?;
        let mut url = url::Url::parse(base).map_err(ProviderError::AuthorizationUrl)?;
        let mut scopes = self.scopes.clone();
        scopes.extend(req.extra_scopes.iter().cloned());
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("state", req.state);
            if !scopes.is_empty() {
                q.append_pair("scope", &scopes.join(" "));
            }
            q.append_pair("redirect_uri", req.redirect_uri);
            if let Some(hint) = req.login_hint {
                q.append_pair("login_hint", hint);
            }
            if let Some(nonce) = req.nonce {
                q.append_pair("nonce", nonce);
            }
            if let Some(prompt) = &self.prompt {
                q.append_pair("prompt", prompt);
            }
            q.append_pair("code_challenge_method", "S256")
                .append_pair("code_challenge", &pkce_challenge(req.code_verifier));
            if self.kind == SocialKind::Google {
                q.append_pair("include_granted_scopes", "true");
            }
        }
        Ok(url.into())
    }

    /// Builds the profile from the provider's claims: the standard fields, then `map_profile`,
    /// whose values win (Better Auth spreads `mapProfileToUser` last).
    pub fn profile(&self, account_id: String, base: BaseProfile, raw: Json) -> Profile {
        let mut p = Profile {
            account_id,
            email: base.email,
            email_verified: base.email_verified,
            name: base.name,
            image: base.image,
            additional: Vec::new(),
            raw,
        };
        for (field, sources) in &self.map_profile {
            let Some(value) = sources.iter().find_map(|s| claim(&p.raw, s)) else { continue };
            match field.as_str() {
                "name" => p.name = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string()),
                "image" => p.image = value.as_str().map(str::to_string),
                _ => p.additional.push((field.clone(), value)),
            }
        }
        p
    }

    /// Additional user fields from the profile, typed by the schema; values of the wrong
    /// type are left out (and logged) rather than failing the sign-in.
    pub fn typed_additional(&self, schema: &Schema, profile: &Profile) -> Vec<(String, crate::store::Value)> {
        let Ok(user) = schema.model(User::MODEL) else { return Vec::new() };
        profile
            .additional
            .iter()
            .filter_map(|(name, json)| {
                let field = user.field(name).ok()?;
                match value_from_json(field.ty, json) {
                    Ok(v) => Some((name.clone(), v)),
                    Err(_) => {
                        tracing::warn!(provider = %self.id, field = %name, "mapped profile value has the wrong type");
                        None
                    }
                }
            })
            .collect()
    }
}

/// The standard fields a provider yields before mapping.
pub struct BaseProfile {
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: String,
    pub image: Option<String>,
}

pub struct AuthorizationRequest<'a> {
    pub state: &'a str,
    pub code_verifier: &'a str,
    pub redirect_uri: &'a str,
    pub nonce: Option<&'a str>,
    pub extra_scopes: &'a [String],
    pub login_hint: Option<&'a str>,
}

/// RFC 7636 S256: base64url(SHA-256(verifier)) without padding.
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A claim by dotted path, with `|first` / `|rest` to split a full name at its first space.
fn claim(profile: &Json, source: &str) -> Option<Json> {
    let (path, filter) = match source.split_once('|') {
        Some((p, f)) => (p, Some(f)),
        None => (source, None),
    };
    let mut v = profile;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    if v.is_null() || v.as_str().is_some_and(str::is_empty) {
        return None;
    }
    let Some(filter) = filter else { return Some(v.clone()) };
    let s = v.as_str()?.trim();
    let (first, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
    let out = match filter {
        "first" => first,
        "rest" => rest.trim(),
        _ => return None,
    };
    (!out.is_empty()).then(|| Json::String(out.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7636_example() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn claims_with_fallbacks_and_name_split() {
        let p = json!({"name": "Ada  Lovelace King", "given_name": "", "addr": {"city": "London"}});
        assert_eq!(claim(&p, "given_name"), None);
        assert_eq!(claim(&p, "name|first"), Some(json!("Ada")));
        assert_eq!(claim(&p, "name|rest"), Some(json!("Lovelace King")));
        assert_eq!(claim(&p, "addr.city"), Some(json!("London")));
        assert_eq!(claim(&p, "missing.x"), None);
    }
}
