//! Better Auth's plugins, one folder each. A plugin owns its configuration section (a
//! [`Section`](crate::config::Section)), its tables, its routes and the extension points of
//! [`Plugin`](crate::http::Plugin) it needs. Adding one touches its folder and [`registry`].

pub mod anonymous;
pub mod bearer;
pub mod cookie_cache;
pub mod cross_domain;
pub mod email_otp;
pub mod jwt;
pub mod last_login_method;
pub mod magic_link;
pub mod multi_session;
pub mod one_time_token;
pub mod phone_number;
pub mod social;
pub mod two_factor;
pub mod username;
pub mod webhooks;

use std::sync::Arc;

use crate::config::{Config, SectionError};
use crate::http::{Plugin, Plugins};

/// The `[plugins]` keys a plugin reads; any other is a mistake in the configuration.
const KNOWN_KEYS: &[&str] = &[
    "bearer",
    "jwt",
    "convex",
    "two_factor",
    "cross_domain_site_url",
    "username",
    "magic_link",
    "email_otp",
    "last_login_method",
    "anonymous",
    "one_time_token",
    "multi_session",
    "phone_number",
];

/// What keeps the plugins from starting.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Section(#[from] SectionError),
    #[error(transparent)]
    Jwt(#[from] jwt::SetupError),
    #[error(transparent)]
    Webhooks(#[from] webhooks::ConfigError),
    #[error(transparent)]
    Social(#[from] social::ConfigError),
    #[error(transparent)]
    PhoneNumber(#[from] phone_number::ConfigError),
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
    let providers = social::Providers::from_config(cfg)?;
    list.push(Arc::new(social::SocialPlugin { providers }));
    if let Some(cache) = cookie_cache::CookieCachePlugin::from_config(cfg) {
        list.push(Arc::new(cache));
    }
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
    let username: username::UsernameConfig = cfg.section()?;
    if username.enabled {
        list.push(Arc::new(username::UsernamePlugin::new(username)));
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
    let anonymous: anonymous::AnonymousConfig = cfg.section()?;
    if anonymous.enabled {
        list.push(Arc::new(anonymous::AnonymousPlugin::new(anonymous)));
    }
    if let Some(phone) = phone_number::PhoneNumberPlugin::from_config(cfg)? {
        list.push(Arc::new(phone));
    }
    let ott: one_time_token::OneTimeTokenConfig = cfg.section()?;
    if ott.enabled {
        list.push(Arc::new(one_time_token::OneTimeToken::new(ott)));
    }
    let multi: multi_session::MultiSessionConfig = cfg.section()?;
    if multi.enabled {
        list.push(Arc::new(multi_session::MultiSession::new(multi)));
    }
    let last_login: last_login_method::LastLoginMethodConfig = cfg.section()?;
    if last_login.enabled {
        list.push(Arc::new(last_login_method::LastLoginMethod::new(last_login)));
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
        of::<social::SocialProviders>(),
        of::<bearer::BearerConfig>(),
        of::<jwt::JwtConfig>(),
        of::<jwt::ConvexConfig>(),
        of::<two_factor::TwoFactorConfig>(),
        of::<magic_link::MagicLinkConfig>(),
        of::<email_otp::EmailOtpConfig>(),
        of::<cross_domain::CrossDomainConfig>(),
        of::<username::UsernameConfig>(),
        of::<last_login_method::LastLoginMethodConfig>(),
        of::<anonymous::AnonymousConfig>(),
        of::<one_time_token::OneTimeTokenConfig>(),
        of::<multi_session::MultiSessionConfig>(),
        of::<phone_number::PhoneNumberConfig>(),
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
