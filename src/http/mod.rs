//! The HTTP face: one router per route group, merged here under the base path.
//! Handlers parse input, call `auth::*`, and shape the reply; the rules live in `auth`.

pub mod cookies;
pub mod error;
pub mod extract;
pub mod guard;
pub mod input;
pub mod plugin;
pub mod rate_limit;
pub mod reply;
pub mod session;

mod routes;

use std::sync::Arc;

use axum::Router;
use axum::middleware;

use crate::auth::Auth;
use crate::config::RateLimitStorage;
use cookies::Cookies;
use guard::IpRange;
pub use plugin::{Plugin, Plugins, write};
use rate_limit::RateLimiter;

/// What every handler gets; one shared allocation, so the per-request clone axum makes is a
/// single reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub auth: Arc<Auth>,
    pub cookies: Cookies,
    pub limiter: Option<RateLimiter>,
    pub proxies: Vec<IpRange>,
    /// The enabled plugins, in registry order.
    pub plugins: Plugins,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// A configuration the HTTP layer cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("rate_limit.storage = \"secondary-storage\" needs [secondary_storage] url")]
    NoSecondaryStorage,
    #[error("advanced.trusted_proxies: {0:?} is not an IP or CIDR range")]
    Proxy(String),
}

impl AppState {
    pub fn new(auth: Arc<Auth>, plugins: Plugins) -> Result<Self, StateError> {
        let cfg = &auth.config;
        let secure = cfg.advanced.use_secure_cookies || auth.base_url.starts_with("https://");
        let cookies = Cookies::new(&cfg.advanced.cookie_prefix, secure, cfg.session.expires_in);
        let limiter = if cfg.rate_limit_enabled() {
            let (window, max) = (cfg.rate_limit.window, cfg.rate_limit.max);
            let rules: Vec<_> = plugins.iter().flat_map(|p| p.rate_limits().iter().copied()).collect();
            Some(
                match (cfg.rate_limit.storage, &auth.mirror) {
                    (RateLimitStorage::Memory, _) => RateLimiter::new(window, max),
                    (RateLimitStorage::SecondaryStorage, Some(m)) => RateLimiter::shared(window, max, m.storage()),
                    (RateLimitStorage::Database, _) => RateLimiter::database(window, max, auth.store.clone()),
                    (RateLimitStorage::SecondaryStorage, None) => {
                        return Err(StateError::NoSecondaryStorage);
                    }
                }
                .with_rules(rules),
            )
        } else {
            None
        };
        let proxies = cfg
            .advanced
            .trusted_proxies
            .iter()
            .map(|p| IpRange::parse(p).ok_or_else(|| StateError::Proxy(p.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(Arc::new(Shared { auth, cookies, limiter, proxies, plugins })))
    }
}

/// The whole API, mounted at the configured base path (default `/api/auth`).
pub fn router(state: AppState) -> Router {
    let base_path = state.auth.config.base_path.clone();
    let mut api = routes::router(&state);
    let mut root = Router::new();
    for p in state.plugins.iter() {
        api = api.merge(p.clone().routes(&state));
        root = root.merge(p.clone().root_routes(&state));
    }
    if state.plugins.iter().any(|p| p.sees_sign_ins()) {
        api = api.layer(middleware::from_fn_with_state(state.clone(), plugin::after_sign_in));
    }
    for p in state.plugins.iter() {
        api = p.clone().wrap(&state, api);
    }
    let api = api
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state.clone());
    Router::new().nest(&base_path, api).merge(root.with_state(state)).fallback(error::not_found)
}
