//! Tokens of one profile (JWT plugin or Convex): claims, `sub`, reuse within a minute.

#[allow(unused_imports)]
use super::*;

/// Which claims a token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// WIRE.md §8: `iat`, every user field, `sub`, `exp`, `iss`, `aud`.
    Jwt,
    /// WIRE.md §14: `iat`, user fields minus `id` and `image`, `sessionId`, `sub`, `exp`, `iss`, `aud`.
    Convex,
}

/// Convex verifies `customJwt` providers with RS256 only (WIRE.md §14).
pub const CONVEX_ALG: Alg = Alg::RS256;

/// A get-session / Convex token is reused for this long while the user is unchanged: it still
/// has at least `expiration - REUSE_SECONDS` to live, and signing is the costliest step.
pub(super) const REUSE_SECONDS: i64 = 60;
pub(super) const MAX_RECENT: usize = 100_000;

/// The user as signed, when, under which key generation, and the token.
pub(super) type Recent = (User, i64, u64, String);

/// Tokens of one profile.
/// Which id a token's `sub` carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    #[default]
    Id,
    App,
}

pub struct JwtIssuer {
    pub subject: Subject,
    pub issuer: String,
    pub audience: String,
    pub expiration: i64,
    pub alg: Alg,
    pub profile: Profile,
    pub ring: Arc<KeyRing>,
    pub(super) recent: std::sync::Mutex<HashMap<String, Recent>>,
}

impl JwtIssuer {
    pub fn new(
        profile: Profile,
        alg: Alg,
        issuer: String,
        audience: String,
        expiration: i64,
        ring: Arc<KeyRing>,
    ) -> Self {
        Self { subject: Subject::Id, issuer, audience, expiration, alg, profile, ring, recent: Default::default() }
    }

    /// The token's `sub`: the auth user's id, or with `subject = "app"` the app's id. Never the
    /// auth id in its place (the two id spaces may overlap: that would name someone else), and
    /// never empty: a user without an app id yet gets no token, 403 `EMAIL_NOT_VERIFIED` while
    /// the email is unverified (its adoption waits for that), else 403 `APP_USER_NOT_LINKED`.
    pub fn subject_of<'a>(&self, user: &'a User) -> Result<&'a str> {
        if self.subject == Subject::Id {
            return Ok(user.id());
        }
        match user.extra.str(crate::store::hooks::APP_USER_ID).filter(|id| !id.is_empty()) {
            Some(id) => Ok(id),
            None if !user.email_verified() => Err(crate::error::codes::email_not_verified()),
            None => Err(ApiError::new(403, "APP_USER_NOT_LINKED", "The user has no app user")),
        }
    }

    fn claims(&self, user: &User, session_id: &str, iat: i64) -> Result<Json> {
        let mut claims = Map::new();
        claims.insert("iat".into(), iat.into());
        if let Json::Object(fields) = user.to_json() {
            match self.profile {
                Profile::Jwt => claims.extend(fields),
                Profile::Convex => claims.extend(fields.into_iter().filter(|(k, _)| k != "id" && k != "image")),
            }
        }
        if self.profile == Profile::Convex {
            claims.insert("sessionId".into(), session_id.into());
        }
        claims.insert("sub".into(), self.subject_of(user)?.into());
        claims.insert("exp".into(), (iat + self.expiration).into());
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("aud".into(), self.audience.clone().into());
        Ok(Json::Object(claims))
    }

    /// A freshly signed token for this user and session.
    pub async fn sign_user(&self, auth: &Auth, user: &User, session_id: &str) -> Result<String> {
        let claims = self.claims(user, session_id, Utc::now().timestamp())?;
        let (kid, pair) = self.ring.signer(auth, self.alg).await?;
        if matches!(self.alg, Alg::RS256 | Alg::PS256) {
            // RSA signing takes a millisecond or more: keep it off the async workers.
            return tokio::task::spawn_blocking(move || pair.jwt(&kid, &claims)).await.map_err(internal);
        }
        Ok(pair.jwt(&kid, &claims))
    }

    /// The token of a get-session or `/convex/token`: a fresh one, or the one signed for this
    /// session in the last minute if the user and the signing key have not changed since.
    pub async fn for_session(&self, auth: &Auth, user: &User, session_id: &str) -> Result<String> {
        let now = Utc::now().timestamp();
        // Asking for the key first lets a rotation seen elsewhere bump the generation.
        self.ring.signer(auth, self.alg).await?;
        let generation = self.ring.generation();
        {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((signed_user, iat, g, token)) = recent.get(session_id)
                && *g == generation
                && signed_user == user
                && now - iat < REUSE_SECONDS.min(self.expiration / 2)
            {
                return Ok(token.clone());
            }
        }
        let token = self.sign_user(auth, user, session_id).await?;
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() >= MAX_RECENT {
            recent.clear();
        }
        recent.insert(session_id.to_string(), (user.clone(), now, generation, token.clone()));
        Ok(token)
    }

    /// The JWKS this profile publishes: every key for the JWT plugin (as Better Auth does),
    /// only its own algorithm's keys for Convex.
    pub async fn jwks(&self, auth: &Auth) -> Result<Json> {
        let only = (self.profile == Profile::Convex).then_some(self.alg);
        self.ring.jwks(auth, only).await
    }

    /// OpenID Provider metadata for relying parties that discover keys from the issuer.
    /// `authorization_endpoint`, `response_types_supported` and `subject_types_supported` are
    /// required by OpenID Connect Discovery (strict parsers refuse a document without them);
    /// the values are those of Better Auth's document for the Convex profile.
    pub fn openid_configuration(&self, api_url: &str, jwks_path: &str) -> Json {
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": format!("{api_url}/oauth2/authorize"),
            "jwks_uri": format!("{api_url}{jwks_path}"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.alg.name()],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "email", "email_verified", "name"],
        })
    }
}
