//! Configuration in layers: defaults < `palisade.toml` < environment.
//! Unknown or ill-typed keys are errors that name the key and where it came from.

mod load;
mod sections;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

pub use load::{LoadError, env_var};
pub use sections::*;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `development` or `production` (`PALISADE_ENV`).
    pub env: Environment,
    /// Address to listen on (`PALISADE_LISTEN`).
    pub listen: String,
    /// Public origin of this server (`BASE_URL`); defaults to `http://{listen}`.
    pub base_url: Option<String>,
    pub base_path: String,
    /// HMAC / encryption secret (`BETTER_AUTH_SECRET`).
    pub secret: Option<String>,
    pub app_name: String,
    /// Folder for the default database and the generated development secret.
    pub data_dir: PathBuf,
    pub trusted_origins: Vec<String>,
    pub database: DatabaseConfig,
    pub secondary_storage: SecondaryStorageConfig,
    pub email_and_password: EmailPasswordConfig,
    pub email_verification: EmailVerificationConfig,
    pub session: SessionConfig,
    pub user: UserConfig,
    pub rate_limit: RateLimitConfig,
    pub advanced: AdvancedConfig,
    pub email: EmailConfig,
    /// The plugins' sections (`[plugins.<id>]`), each read by its plugin (`src/plugins/`):
    /// see [`Section`].
    pub plugins: BTreeMap<String, Json>,
    /// Key for the operator endpoints (`POST {base}/jwks/rotate`); `PALISADE_ADMIN_KEY`.
    /// Unset: those endpoints do not exist.
    pub admin_key: Option<String>,
    /// Table and column names, additional fields, id strategy (`src/store/schema_config.rs`).
    #[serde(default)]
    #[schemars(with = "Json")]
    pub schema: crate::store::schema_config::SchemaConfig,
    /// SQL run inside the auth write's transaction, per model and event (`src/store/hooks.rs`).
    #[serde(default)]
    #[schemars(with = "Json")]
    pub hooks: crate::store::hooks::HooksConfig,
    /// Social sign-in providers by id (`[social_providers.<id>]`): read by `src/plugins/social/`
    /// (a [`Section`]).
    #[schemars(with = "BTreeMap<String, Json>")]
    pub social_providers: Json,
    /// Linked accounts: linking rules and OAuth token storage.
    pub account: AccountConfig,
    /// Signed webhooks from an outbox: read by `src/plugins/webhooks/` (a [`Section`]).
    pub webhooks: Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            listen: "127.0.0.1:3000".into(),
            base_url: None,
            base_path: "/api/auth".into(),
            secret: None,
            app_name: "Palisade".into(),
            data_dir: PathBuf::from("."),
            trusted_origins: Vec::new(),
            database: DatabaseConfig::default(),
            secondary_storage: SecondaryStorageConfig::default(),
            email_and_password: EmailPasswordConfig::default(),
            email_verification: EmailVerificationConfig::default(),
            session: SessionConfig::default(),
            user: UserConfig::default(),
            rate_limit: RateLimitConfig::default(),
            advanced: AdvancedConfig::default(),
            email: EmailConfig::default(),
            plugins: BTreeMap::new(),
            admin_key: None,
            schema: Default::default(),
            hooks: Default::default(),
            social_providers: Json::Null,
            account: AccountConfig::default(),
            webhooks: Json::Null,
        }
    }
}

/// A plugin's part of the configuration, kept as read until the plugin parses it into its own
/// type: the plugin's folder owns the type, its defaults and its documentation.
pub trait Section: Serialize + DeserializeOwned + Default + schemars::JsonSchema {
    /// Where it sits: `plugins.<id>` or a top-level key (`webhooks`, `social_providers`).
    const KEY: &'static str;
}

/// A section that does not parse, named by the full key of the value at fault
/// (`social_providers.github.client_id`).
#[derive(Debug, thiserror::Error)]
#[error("{key}: {source}")]
pub struct SectionError {
    pub key: String,
    pub source: serde_json::Error,
}

impl SectionError {
    fn at(section: &str, e: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let key = match e.path().to_string() {
            path if path == "." => section.to_string(),
            path if path.starts_with('[') => format!("{section}{path}"),
            path => format!("{section}.{path}"),
        };
        Self { key, source: e.into_inner() }
    }
}

impl Config {
    fn slot(&self, key: &str) -> Option<&Json> {
        match key.split_once('.') {
            Some(("plugins", id)) => self.plugins.get(id),
            None if key == "webhooks" => Some(&self.webhooks),
            None if key == "social_providers" => Some(&self.social_providers),
            _ => None,
        }
    }

    fn slot_mut(&mut self, key: &str) -> Option<&mut Json> {
        match key.split_once('.') {
            Some(("plugins", id)) => Some(self.plugins.entry(id.to_string()).or_insert(Json::Null)),
            None if key == "webhooks" => Some(&mut self.webhooks),
            None if key == "social_providers" => Some(&mut self.social_providers),
            _ => None,
        }
    }

    /// The section `S` as configured; its defaults where it is absent.
    pub fn section<S: Section>(&self) -> Result<S, SectionError> {
        match self.slot(S::KEY) {
            None | Some(Json::Null) => Ok(S::default()),
            Some(v) => serde_path_to_error::deserialize(v.clone()).map_err(|e| SectionError::at(S::KEY, e)),
        }
    }

    /// Replaces the section `S` (library and tests: configuration in code).
    pub fn set_section<S: Section>(&mut self, section: &S) {
        if let (Some(slot), Ok(v)) = (self.slot_mut(S::KEY), serde_json::to_value(section)) {
            *slot = v;
        }
    }

    /// Changes the section `S` in place, starting from its defaults when it does not parse.
    pub fn edit<S: Section>(&mut self, f: impl FnOnce(&mut S)) {
        let mut s: S = self.section().unwrap_or_default();
        f(&mut s);
        self.set_section(&s);
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    pub fn rate_limit_enabled(&self) -> bool {
        self.rate_limit.enabled.unwrap_or(self.is_production())
    }

    /// The database URL; on PostgreSQL in the `component` layout, with the connection's
    /// `search_path` set to the auth schema first.
    pub fn database_url(&self) -> String {
        let url = self
            .database
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("palisade.db").display()));
        if self.component_schema().is_none() {
            return url;
        }
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options[search_path]={COMPONENT_SCHEMA},public")
    }

    /// The PostgreSQL schema that holds the auth tables, when it is not the app's.
    pub fn component_schema(&self) -> Option<&'static str> {
        let pg = self.database.url.as_deref().is_some_and(|u| u.starts_with("postgres"));
        (self.database.layout == Layout::Component && pg).then_some(COMPONENT_SCHEMA)
    }

    pub fn base_url(&self) -> String {
        let url = self.base_url.clone().unwrap_or_else(|| format!("http://{}", self.listen));
        url.trim_end_matches('/').to_string()
    }
}
