//! What goes wrong in the social flows. [`ProviderError`]s (a provider that does not answer
//! as it should, a token that does not verify) are logged; the flows answer with Better
//! Auth's codes: a redirect's `?error=` ([`CallbackError::code`]) or an [`ApiError`].

use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::Value as Json;

use crate::error::ApiError;

/// A call to a provider that did not give what it should.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("discovery {url}: {source}")]
    Discovery { url: String, source: HttpError },
    #[error("discovery {url}: issuer {found:?} is not {expected:?}")]
    IssuerMismatch { url: String, found: Option<String>, expected: String },
    /// The endpoint is neither configured, preset nor discovered (e.g. `token endpoint`).
    #[error("no {0}")]
    NoEndpoint(&'static str),
    #[error("authorization endpoint: {0}")]
    AuthorizationUrl(#[source] url::ParseError),
    /// An endpoint's answer: `token endpoint`, `jwks`, `userinfo`.
    #[error("{what} {url}: {source}")]
    Http { what: &'static str, url: String, source: HttpError },
    /// The token endpoint's `error` member (GitHub answers errors with 200).
    #[error("token endpoint: {error} {description}")]
    TokenRefused { error: Json, description: Json },
    #[error("token endpoint: no access_token")]
    NoAccessToken,
    #[error("jwks {url}: {source}")]
    Jwks { url: String, source: serde_json::Error },
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
    /// What the provider says of the user lacks something the profile needs.
    #[error("{0}")]
    Profile(ProfileGap),
}

/// An ID token that does not verify.
#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    #[error("id token header: {0}")]
    Header(#[source] jsonwebtoken::errors::Error),
    #[error("id token algorithm {0:?} is not accepted")]
    Algorithm(Algorithm),
    #[error("id token key not found in the provider's JWKS")]
    UnknownKey,
    #[error("id token key: {0}")]
    Key(#[source] jsonwebtoken::errors::Error),
    #[error("no issuer to check the id token against")]
    NoIssuer,
    #[error("id token: {0}")]
    Invalid(#[source] jsonwebtoken::errors::Error),
    #[error("id token nonce does not match")]
    Nonce,
    #[error("id token is too old")]
    TooOld,
}

/// What a provider's description of the user is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProfileGap {
    #[error("claims without sub")]
    NoSubject,
    #[error("GitHub user without id")]
    NoGithubId,
    #[error("no access token")]
    NoAccessToken,
    #[error("Google answered without an id_token")]
    NoGoogleIdToken,
    #[error("nonce sent but no id_token returned")]
    NoIdTokenForNonce,
    #[error("userinfo sub differs from the id token's")]
    SubjectMismatch,
    #[error("neither an id_token nor a userinfo endpoint")]
    NoClaims,
}

impl From<ProfileGap> for ProviderError {
    fn from(gap: ProfileGap) -> Self {
        ProviderError::Profile(gap)
    }
}

/// A JSON request that failed: not sent, not JSON, or not a success.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Send(#[source] reqwest::Error),
    #[error("HTTP {status}: {source}")]
    NotJson { status: StatusCode, source: reqwest::Error },
    #[error("HTTP {status}: {body}")]
    Status { status: StatusCode, body: Json },
}

/// Why a social sign-in is refused: Better Auth's reasons (`handleOAuthUserInfo`), in words;
/// the callback's `?error=` has `_` for the spaces ([`SignInError::code`]).
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("account not linked")]
    AccountNotLinked,
    #[error("unable to link account")]
    UnableToLinkAccount,
    #[error("signup disabled")]
    SignUpDisabled,
    #[error("unable to create user")]
    UnableToCreateUser(#[source] ApiError),
    /// A database hook refused the new user; its code names the reason
    /// (`ACCOUNT_NOT_LINKED` → "account not linked").
    #[error("{}", .0.to_lowercase().replace('_', " "))]
    Refused(String),
    #[error("internal_server_error")]
    Internal(#[from] ApiError),
}

impl SignInError {
    /// The reason as a callback's `?error=` value.
    pub fn code(&self) -> String {
        self.to_string().replace(' ', "_")
    }

    /// Logs the refusal: an error of ours at `error`, the others at `warn`.
    pub fn log(&self, provider: &str) {
        match self {
            SignInError::Internal(e) | SignInError::UnableToCreateUser(e) => {
                tracing::error!(error = %e, provider, reason = %self, "social sign-in failed");
            }
            _ => tracing::warn!(provider, reason = %self, "social sign-in refused"),
        }
    }
}

/// How a callback fails, before or besides the sign-in: Better Auth's `?error=` codes.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("issuer_mismatch")]
    IssuerMismatch,
    #[error("nonce_binding_missing")]
    NonceBindingMissing,
    #[error("invalid_code")]
    InvalidCode(#[source] ProviderError),
    #[error("unable_to_get_user_info")]
    NoUserInfo(#[source] ProviderError),
    #[error("unable_to_link_account")]
    UnableToLinkAccount,
    /// The store failed while linking (logged; the client sees `unable_to_link_account`).
    #[error("unable_to_link_account")]
    LinkFailed(#[source] ApiError),
    #[error("email_does_not_match")]
    EmailDoesNotMatch,
    #[error("account_already_linked_to_different_user")]
    LinkedToAnotherUser,
}

impl From<ApiError> for CallbackError {
    fn from(e: ApiError) -> Self {
        CallbackError::LinkFailed(e)
    }
}
