//! Better Auth's plugins, one folder each. A plugin owns its configuration section (a
//! [`Section`](crate::config::Section)), its tables, its routes and the extension points of
//! [`Plugin`](crate::http::Plugin) it needs. Adding one touches its folder and [`registry`].

pub mod bearer;
pub mod cross_domain;
pub mod email_otp;
pub mod jwt;
pub mod magic_link;
pub mod social;
pub mod two_factor;
pub mod webhooks;

use std::sync::Arc;

use crate::config::{Config, SectionError};
use crate::http::{Plugin, Plugins};

/// The `[plugins]` keys a plugin reads; any other is a mistake in the configuration.
const KNOWN_KEYS: &[&str] =
    &["bearer", "jwt", "convex", "two_factor", "magic_link", "email_otp", "cross_domain_site_url"];

/// What keeps the plugins from starting.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Section(#[from] SectionError),
    #[error(transparent)]
    Jwt(#[from] jwt::SetupError),
    #[error(transparent)]
    Webhooks(#[from] webhooks::ConfigError),
    /// `[social_providers]` (its checks still report in words).
    #[error("{0}")]
    Social(String),
    #[error("plugins.{0}: no such plugin (known: {known})", known = KNOWN_KEYS.join(", "))]
    Unknown(String),
}

/// The enabled plugins, in the order they wrap requests: the cross-domain plugin after the
/// others that set cookies, so it sees every one; webhooks last, so its hooks run after all
/// the others and an event carries what they wrote.
pub fn registry(cfg: &Config) -> Result<Plugins, RegistryError> {
    if let Some(unknown) = cfg.plugins.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        return Err(RegistryError::Unknown(unknown.clone()));
    }
    let mut list: Vec<Arc<dyn Plugin>> = Vec::new();
    let providers = social::Providers::from_config(cfg).map_err(RegistryError::Social)?;
    list.push(Arc::new(social::SocialPlugin { providers }));
    if cfg.section::<bearer::BearerConfig>()?.0 {
        list.push(Arc::new(bearer::Bearer));
    }
    if let Some(jwt) = jwt::JwtPlugin::from_config(cfg)? {
        list.push(Arc::new(jwt));
    }
    let two_factor: two_factor::TwoFactorConfig = cfg.section()?;
    if two_factor.enabled {
        list.push(Arc::new(two_factor::TwoFactorPlugin::new(two_factor)));
    }
    let magic_link: magic_link::MagicLinkConfig = cfg.section()?;
    if magic_link.enabled {
        list.push(Arc::new(magic_link::MagicLink::new(magic_link)));
    }
    let email_otp: email_otp::EmailOtpConfig = cfg.section()?;
    if email_otp.enabled {
        email_otp.check()?;
        list.push(Arc::new(email_otp::EmailOtp::new(email_otp)));
    }
    if let Some(site) = cfg.section::<cross_domain::CrossDomainConfig>()?.0 {
        list.push(Arc::new(cross_domain::CrossDomain::new(site)));
    }
    if let Some(w) = webhooks::WebhooksPlugin::from_config(cfg)? {
        list.push(Arc::new(w));
    }
    Ok(list.into())
}

/// Every plugin's configuration section with its JSON Schema, for the configuration reference.
pub fn section_schemas() -> Vec<(&'static str, schemars::Schema)> {
    fn of<S: crate::config::Section>() -> (&'static str, schemars::Schema) {
        (S::KEY, schemars::schema_for!(S))
    }
    vec![
        of::<bearer::BearerConfig>(),
        of::<jwt::JwtConfig>(),
        of::<jwt::ConvexConfig>(),
        of::<two_factor::TwoFactorConfig>(),
        of::<magic_link::MagicLinkConfig>(),
        of::<email_otp::EmailOtpConfig>(),
        of::<cross_domain::CrossDomainConfig>(),
        of::<webhooks::WebhooksConfig>(),
    ]
}

/// A plugin of the list by its type (the CLI's key commands, tests).
pub fn find<P: Plugin>(plugins: &Plugins) -> Option<&P> {
    plugins.iter().find_map(|p| {
        let any: &dyn std::any::Any = p.as_ref();
        any.downcast_ref::<P>()
    })
}
