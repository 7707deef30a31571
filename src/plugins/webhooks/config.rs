//! `[webhooks]`: where events go and how deliveries are retried; checked at start-up.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::EventType;
use super::sign::{Secret, SecretError};
use crate::config::SectionError;

/// What is wrong with `[webhooks]`, named by its key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Section(#[from] SectionError),
    #[error("webhooks.{key}: {problem}")]
    Retry { key: &'static str, problem: &'static str },
    #[error("webhooks.endpoints[{index}].url: {problem}")]
    Url { index: usize, problem: UrlError },
    #[error("webhooks.endpoints[{index}].url: {url} is listed twice")]
    Twice { index: usize, url: String },
    #[error("webhooks.endpoints[{index}].secret: {problem}")]
    Secret { index: usize, problem: SecretError },
}

/// An endpoint URL that cannot be posted to.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("{url:?} is not a URL ({reason})")]
    NotUrl { url: String, reason: url::ParseError },
    #[error("{0:?} is not an http(s) URL")]
    NotHttp(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Receivers; none: no outbox table, no hooks, no worker.
    pub endpoints: Vec<EndpointConfig>,
    /// Attempts before a row is marked `failed` (kept in the log; `palisade webhooks retry`).
    pub max_attempts: u32,
    /// Seconds before the first retry; doubled on each further failure (with jitter).
    pub backoff_base: f64,
    /// Longest wait between two attempts, in seconds.
    pub backoff_max: f64,
    /// Seconds a receiver has to answer one delivery.
    pub timeout: f64,
    /// Seconds between two looks for due rows (rows of other nodes, retries, restarts); this
    /// node's own events are sent as soon as their transaction commits.
    pub poll_interval: f64,
    /// Days a delivered row stays in the log; 0 keeps it for ever. Failed rows are kept.
    pub keep_delivered_days: u32,
}

impl crate::config::Section for WebhooksConfig {
    const KEY: &'static str = "webhooks";
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            max_attempts: 10,
            backoff_base: 5.0,
            backoff_max: 3600.0,
            timeout: 10.0,
            poll_interval: 1.0,
            keep_delivered_days: 30,
        }
    }
}

#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// `http://` or `https://`; the rows of the outbox name their endpoint by this URL.
    pub url: String,
    /// `whsec_<base64>` (Standard Webhooks).
    pub secret: String,
    /// Events sent here; empty: all of them.
    #[serde(default)]
    pub events: Vec<EventType>,
}

/// The configuration is printed in debug output at times: the secret stays out of it.
impl fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointConfig").field("url", &self.url).field("events", &self.events).finish_non_exhaustive()
    }
}

/// A checked endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub secret: Secret,
    events: Vec<EventType>,
}

impl Endpoint {
    pub fn wants(&self, ty: EventType) -> bool {
        self.events.is_empty() || self.events.contains(&ty)
    }
}

/// The retry settings as durations.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
    pub timeout: Duration,
    pub poll: Duration,
    /// `None`: delivered rows are kept for ever.
    pub keep_delivered: Option<chrono::Duration>,
}

fn seconds(key: &'static str, v: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or(ConfigError::Retry { key, problem: "must be a positive number of seconds" })
}

impl WebhooksConfig {
    pub fn retry(&self) -> Result<Retry, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::Retry { key: "max_attempts", problem: "must be at least 1" });
        }
        let retry = Retry {
            max_attempts: self.max_attempts,
            base: seconds("backoff_base", self.backoff_base)?,
            max: seconds("backoff_max", self.backoff_max)?,
            timeout: seconds("timeout", self.timeout)?,
            poll: seconds("poll_interval", self.poll_interval)?,
            keep_delivered: (self.keep_delivered_days > 0)
                .then(|| chrono::Duration::days(i64::from(self.keep_delivered_days))),
        };
        if retry.max < retry.base {
            return Err(ConfigError::Retry { key: "backoff_max", problem: "must not be below backoff_base" });
        }
        Ok(retry)
    }

    /// Each endpoint parsed; errors name the endpoint by position and never show a secret.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>, ConfigError> {
        let mut out: Vec<Endpoint> = Vec::with_capacity(self.endpoints.len());
        for (index, e) in self.endpoints.iter().enumerate() {
            check_url(&e.url).map_err(|problem| ConfigError::Url { index, problem })?;
            if out.iter().any(|o| o.url == e.url) {
                return Err(ConfigError::Twice { index, url: e.url.clone() });
            }
            let secret = Secret::parse(&e.secret).map_err(|problem| ConfigError::Secret { index, problem })?;
            out.push(Endpoint { url: e.url.clone(), secret, events: e.events.clone() });
        }
        Ok(out)
    }
}

fn check_url(s: &str) -> Result<(), UrlError> {
    let url = url::Url::parse(s).map_err(|reason| UrlError::NotUrl { url: s.to_string(), reason })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(UrlError::NotHttp(s.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(url: &str, secret: &str) -> WebhooksConfig {
        let endpoint = EndpointConfig { url: url.into(), secret: secret.into(), events: vec![] };
        WebhooksConfig { endpoints: vec![endpoint], ..Default::default() }
    }

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn webhook_endpoints_are_checked() {
        assert!(with("https://app.example.com/hooks", SECRET).endpoints().is_ok());
        let err = with("ftp://app.example.com", SECRET).endpoints().unwrap_err().to_string();
        assert!(err.starts_with("webhooks.endpoints[0].url:"), "{err}");
        let err = with("not a url", SECRET).endpoints().unwrap_err().to_string();
        assert!(err.contains("not a URL"), "{err}");
        let err = with("https://app.example.com", "whsec_c2hvcnQ=").endpoints().unwrap_err().to_string();
        assert!(err.starts_with("webhooks.endpoints[0].secret:") && !err.contains("c2hvcnQ"), "{err}");
        let mut twice = with("https://a.example.com", SECRET);
        twice.endpoints.push(twice.endpoints[0].clone());
        assert!(twice.endpoints().unwrap_err().to_string().contains("listed twice"));
        assert!(!format!("{twice:?}").contains("MfKQ9r8G"), "no secret in debug output");
    }

    #[test]
    fn webhook_retry_settings_are_checked() {
        let mut cfg = WebhooksConfig::default();
        assert_eq!(cfg.retry().unwrap().base, Duration::from_secs(5));
        cfg.backoff_max = 1.0;
        assert!(cfg.retry().unwrap_err().to_string().contains("backoff_max"));
        cfg.timeout = -1.0;
        assert!(cfg.retry().unwrap_err().to_string().contains("webhooks.timeout"));
    }
}
