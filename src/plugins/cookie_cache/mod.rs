//! The cookie cache (Better Auth's `session.cookieCache`, WIRE.md §12), configured in
//! `[session.cookie_cache]` as Better Auth configures it: a signed copy of the session and its
//! user in the `session_data` cookie, set with every session handed over and renewed by
//! get-session, which answers from it without the store while it is valid. The encodings are
//! in [`copy`].

mod copy;

pub use copy::{Cached, CookieCache};

use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, header};

use crate::auth::{Session, User};
use crate::config::{Config, CookieCacheConfig};
use crate::crypto::ct_eq;
use crate::http::cookies::{SESSION_DATA, SESSION_TOKEN};
use crate::http::plugin::CopyCheck;
use crate::http::{AppState, Plugin, session};

pub struct CookieCachePlugin {
    config: CookieCacheConfig,
    /// Keyed with the server's secret on first use (the registry is built before it is known).
    keyed: OnceLock<CookieCache>,
}

impl CookieCachePlugin {
    /// The plugin when `[session.cookie_cache] enabled`.
    pub fn from_config(cfg: &Config) -> Option<Self> {
        let config = cfg.session.cookie_cache.clone();
        config.enabled.then(|| Self { config, keyed: OnceLock::new() })
    }

    fn cache(&self, state: &AppState) -> &CookieCache {
        self.keyed.get_or_init(|| CookieCache::new(&self.config, state.auth.secret()))
    }

    /// The request's copy for `token`, if it checks out and is still usable. Only get-session
    /// trusts it; other routes read the store.
    fn for_token(&self, state: &AppState, headers: &HeaderMap, token: &str) -> Option<Arc<Cached>> {
        let value = state.cookies.read_chunked(headers, SESSION_DATA)?;
        let cached = self.cache(state).decode_remembered(&state.auth.schema, &value)?;
        self.cache(state).usable(&cached, token, chrono::Utc::now().timestamp_millis()).then_some(cached)
    }

    /// The fast path: the copy, when the session cookie is the copy's own (the value signing
    /// the copy's token gives, compared in constant time): no HMAC per request.
    fn for_cookie(&self, state: &AppState, headers: &HeaderMap) -> Option<Arc<Cached>> {
        let raw = state.cookies.read_raw(headers, SESSION_TOKEN)?;
        let value = state.cookies.read_chunked(headers, SESSION_DATA)?;
        let cached = self.cache(state).decode_remembered(&state.auth.schema, &value)?;
        // As sent (the usual case), else decoded: a client may encode the value differently.
        let ours = ct_eq(raw, &cached.signed_token_cookie)
            || state.cookies.read(headers, SESSION_TOKEN).is_some_and(|s| ct_eq(&s, &cached.signed_token));
        let now = chrono::Utc::now().timestamp_millis();
        (ours && self.cache(state).usable(&cached, cached.session.token(), now)).then_some(cached)
    }
}

impl Plugin for CookieCachePlugin {
    fn id(&self) -> &'static str {
        "cookie-cache"
    }

    fn session_copy(&self, state: &AppState, headers: &HeaderMap, allowed: bool) -> CopyCheck {
        if !allowed || !state.cookies.carries(headers, SESSION_DATA) {
            return CopyCheck::Keep;
        }
        // The common case first: the session cookie and its copy, no bearer token.
        if !headers.contains_key(header::AUTHORIZATION)
            && let Some(hit) = self.for_cookie(state, headers)
        {
            return CopyCheck::Answer(hit.copy.clone());
        }
        let Some(token) = session::request_token(state, headers) else { return CopyCheck::Keep };
        match self.for_token(state, headers, &token) {
            Some(hit) => CopyCheck::Answer(hit.copy.clone()),
            None => CopyCheck::Expire,
        }
    }

    fn session_cookies(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        session: &Session,
        user: &User,
        dont_remember: bool,
    ) -> Vec<String> {
        let cache = self.cache(state);
        let value = cache.encode(session, user, dont_remember, chrono::Utc::now().timestamp_millis());
        state.cookies.set_chunked(headers, SESSION_DATA, &value, cache.cookie_max_age(dont_remember))
    }
}
