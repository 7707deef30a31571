//! `[social_providers.<id>]`: the providers by id, a section of Better Auth's core options
//! (`socialProviders`) that this plugin reads; checked at start-up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{Section, SectionError};
use crate::store::StoreError;

/// What is wrong with `[social_providers]`, named by its key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Section(#[from] SectionError),
    #[error("social providers: HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("social_providers.{id}: client_id is required")]
    NoClientId { id: String },
    #[error(
        "social_providers.{id}: an OpenID Connect provider needs `issuer` (or `authorization_endpoint` and `token_endpoint`)"
    )]
    NoEndpoints { id: String },
    #[error("social_providers.{id}.{key}: {url:?} is not a URL: {reason}")]
    NotUrl { id: String, key: &'static str, url: String, reason: url::ParseError },
    #[error("social_providers.{id}.map_profile: {field:?} is not a user field that a profile may set")]
    NotProfileField { id: String, field: String },
    /// The schema has no user model (a broken build of the schema, not the configuration).
    #[error("social_providers: {0}")]
    Schema(#[source] StoreError),
}

/// Social sign-in providers by id (`[social_providers.<id>]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct SocialProviders(pub BTreeMap<String, SocialProviderConfig>);

impl Section for SocialProviders {
    const KEY: &'static str = "social_providers";
}

/// What a social provider speaks: a generic OpenID Connect issuer, or a preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SocialKind {
    Oidc,
    Github,
    Google,
}

/// A profile value for `map_profile`: a claim name (dotted for nested claims), or a list of
/// them where the first present wins. `name|first` / `name|rest` split a full name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ProfileSource {
    One(String),
    FirstOf(Vec<String>),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SocialProviderConfig {
    /// Default: the preset named by the id (`github`, `google`), else `oidc`.
    pub kind: Option<SocialKind>,
    /// OpenID Connect issuer; endpoints come from its discovery document.
    pub issuer: Option<String>,
    /// Explicit endpoints override discovered (or preset) ones.
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    /// GitHub's list of the user's addresses.
    pub emails_endpoint: Option<String>,
    pub client_id: String,
    /// Better set by `PALISADE_SOCIAL_<ID>_CLIENT_SECRET`.
    pub client_secret: Option<String>,
    /// Scopes requested besides the provider's defaults.
    pub scopes: Vec<String>,
    pub disable_default_scope: bool,
    /// No new users from this provider.
    pub disable_sign_up: bool,
    /// New users only when the client passes `requestSignUp: true`.
    pub disable_implicit_sign_up: bool,
    /// Copy name, image and mapped fields from the provider on every sign-in.
    pub override_user_info_on_sign_in: bool,
    /// `prompt` sent to the authorization endpoint (e.g. `select_account`).
    pub prompt: Option<String>,
    /// User field ← profile claim (Better Auth's `mapProfileToUser`).
    pub map_profile: BTreeMap<String, ProfileSource>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn read(providers: serde_json::Value) -> Result<SocialProviders, SectionError> {
        let cfg = Config { social_providers: providers, ..Config::default() };
        cfg.section::<SocialProviders>()
    }

    #[test]
    fn an_ill_typed_value_is_named_by_its_full_key() {
        let err = read(serde_json::json!({ "github": { "client_id": 5 } })).unwrap_err().to_string();
        assert!(err.starts_with("social_providers.github.client_id: "), "{err}");
        let err = read(serde_json::json!({ "oidc": { "client_id": "c", "scopes": ["a", 1] } })).unwrap_err();
        assert!(err.to_string().starts_with("social_providers.oidc.scopes[1]: "), "{err}");
        let err = read(serde_json::json!({ "oidc": { "client_idd": "c" } })).unwrap_err().to_string();
        assert!(err.contains("social_providers.oidc") && err.contains("client_idd"), "{err}");
        let err = read(serde_json::json!(5)).unwrap_err().to_string();
        assert!(err.starts_with("social_providers: "), "{err}");
    }

    #[test]
    fn absent_is_no_providers() {
        assert!(read(serde_json::Value::Null).unwrap().0.is_empty());
        let p = read(serde_json::json!({ "github": { "client_id": "c" } })).unwrap();
        assert_eq!(p.0["github"].client_id, "c");
    }
}
