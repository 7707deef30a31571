//! Social sign-in (Better Auth's `/sign-in/social`, `/callback/:id`, `/link-social` …):
//! the authorization-code flow with PKCE and state kept in `verification`, a generic
//! OpenID Connect provider found by issuer discovery, and the GitHub and Google presets.
//!
//! `config` — the `[social_providers]` section; `error` — what goes wrong, typed;
//! `provider` — configuration → [`Provider`], authorization URLs, profile mapping;
//! `protocol` — the HTTP calls to a provider (discovery, tokens, userinfo, JWKS-verified ID tokens);
//! `state` — the OAuth state row and cookie; `flow` — sign-in and callback; `link` — linking;
//! `accounts` — linked accounts and their tokens.

pub mod accounts;
pub mod config;
pub mod error;
pub mod flow;
pub mod link;
pub mod protocol;
pub mod provider;
mod routes;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

pub use config::{ConfigError, SocialProviders};
pub use error::ProviderError;
pub use provider::Provider;

use crate::config::Config;

/// The configured providers and the HTTP client they share.
pub struct Providers {
    list: Vec<Arc<Provider>>,
}

impl Providers {
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let SocialProviders(configured) = cfg.section()?;
        if configured.is_empty() {
            return Ok(Self { list: Vec::new() });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // Token and profile endpoints must answer directly (Better Auth refuses redirects too).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("palisade/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ConfigError::Client)?;
        let list = configured
            .iter()
            .map(|(id, pc)| Provider::new(id, pc, http.clone()).map(Arc::new))
            .collect::<Result<_, _>>()?;
        Ok(Self { list })
    }

    pub fn get(&self, id: &str) -> Option<Arc<Provider>> {
        self.list.iter().find(|p| p.id == id).cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn check_schema(&self, schema: &crate::store::Schema) -> Result<(), ConfigError> {
        self.list.iter().try_for_each(|p| p.check_schema(schema))
    }
}

/// Social sign-in as a plugin: its routes, and the providers they use (`[social_providers]`, a
/// core section of Better Auth's options that this plugin owns: [`SocialProviders`]).
pub struct SocialPlugin {
    pub providers: Providers,
}

impl crate::http::Plugin for SocialPlugin {
    fn id(&self) -> &'static str {
        "social"
    }

    fn check_schema(&self, schema: &crate::store::Schema) -> Result<(), crate::http::plugin::StartError> {
        self.providers.check_schema(schema).map_err(Into::into)
    }

    fn routes(self: Arc<Self>, state: &crate::http::AppState) -> axum::Router<crate::http::AppState> {
        use crate::http::write;
        use axum::routing::get;
        axum::Router::new()
            .route("/sign-in/social", write(state, routes::sign_in_social))
            .route("/callback/{id}", get(routes::callback).merge(write(state, routes::callback_post)))
            .route("/link-social", write(state, routes::link_social))
            .route("/list-accounts", get(routes::list_accounts))
            .route("/unlink-account", write(state, routes::unlink_account))
            .route("/get-access-token", write(state, routes::get_access_token))
            .route("/refresh-token", write(state, routes::refresh_token))
            .route("/account-info", get(routes::account_info))
            .layer(axum::Extension(self))
    }
}
