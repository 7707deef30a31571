//! Better Auth's magic-link plugin (docs/plugins-wire.md §6): `POST /sign-in/magic-link` mails
//! a single-use link, `GET /magic-link/verify` spends it and signs the address's owner in
//! (creating the user when the address is new).
//!
//! Storage, as Better Auth writes it (default plain tokens): a `verification` row
//! `identifier = "magic-link:<32 letters>"`, `value = {"type":"magic-link","email":<as typed>,
//! "name"?:…}` (JSON text), `expiresAt = now + expires_in`; deleted when used.

mod routes;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::auth::password::encode_component;
use crate::auth::passwordless::{self, Proven, SignedIn};
use crate::auth::{Auth, RequestMeta};
use crate::config::Section;
use crate::crypto::random_letters;
use crate::error::Result;
use crate::http::plugin::RateRule;
use crate::http::{AppState, Plugin, write};
use crate::mail::{Email, EmailKind, Text, fill};
use crate::model::fields::IDENTIFIER;
use crate::model::{Row, Verification};
use crate::store::{Intent, Record, Where, now};

/// `[plugins.magic_link]`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MagicLinkConfig {
    /// Turns the plugin on: `POST /sign-in/magic-link` and `GET /magic-link/verify`.
    pub enabled: bool,
    /// Seconds a link stays valid (Better Auth's `expiresIn`).
    pub expires_in: u32,
    /// Links sign in existing users only: an unknown address ends at the error URL with
    /// `error=new_user_signup_disabled` (Better Auth's `disableSignUp`).
    pub disable_sign_up: bool,
    /// Subject of the message sent over SMTP; `{app_name}` and `{email}` are replaced.
    pub subject: String,
    /// Plain-text body of the message sent over SMTP; `{url}`, `{email}`, `{app_name}` and
    /// `{minutes}` (the link's lifetime) are replaced.
    pub body: String,
}

impl Default for MagicLinkConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            expires_in: 300,
            disable_sign_up: false,
            subject: "Sign in to {app_name}".into(),
            body: "Sign in to {app_name} with this link (valid for {minutes} minutes):\n\n{url}\n\n\
                   If you did not ask for it, ignore this message.\n"
                .into(),
        }
    }
}

impl Section for MagicLinkConfig {
    const KEY: &'static str = "plugins.magic_link";
}

const PREFIX: &str = "magic-link:";
/// Length of a token (`[A-Za-z]`).
const TOKEN_LEN: usize = 32;

/// Where a verified link leads, as the link carries them (absent ones are left out).
#[derive(Debug, Default, Clone)]
pub struct Links {
    pub callback: Option<String>,
    pub new_user: Option<String>,
    pub error: Option<String>,
}

/// Why a link did not sign in: the `error` of the redirect to the error URL.
pub type Refusal = String;

pub struct MagicLink {
    config: MagicLinkConfig,
}

impl MagicLink {
    pub fn new(config: MagicLinkConfig) -> Self {
        Self { config }
    }

    /// Stores a token for `email` (as typed) and mails the link to it; returns the token.
    pub async fn send(&self, auth: &Auth, email: &str, name: Option<&str>, links: &Links) -> Result<String> {
        let token = random_letters(TOKEN_LEN);
        let at = now();
        let expires = at + Duration::seconds(i64::from(self.config.expires_in));
        let row = Verification::new_record(&format!("{PREFIX}{token}"), &stored_value(email, name), expires, at);
        auth.store.create(Verification::MODEL, row).await?;
        let url = link(auth, &token, links);
        let mut mail = Email::new(EmailKind::MagicLink, email, url.clone(), token.clone());
        let minutes = (self.config.expires_in / 60).to_string();
        let values =
            [("url", url.as_str()), ("email", email), ("app_name", &auth.config.app_name), ("minutes", &minutes)];
        mail.text = Some(Text { subject: fill(&self.config.subject, &values), body: fill(&self.config.body, &values) });
        auth.mailer.send_later(mail);
        Ok(token)
    }

    /// Spends `token` and signs its address's owner in, in one transaction: `Ok(Err(_))` is a
    /// refusal for the error redirect (the token unknown, used or expired: `INVALID_TOKEN`).
    /// `new_user`: the plugins' fields for a user the link creates.
    pub async fn verify(
        &self,
        auth: &Auth,
        new_user: Record,
        token: &str,
        meta: &RequestMeta,
        at: DateTime<Utc>,
    ) -> Result<std::result::Result<SignedIn, Refusal>> {
        let filter = [Where::eq(IDENTIFIER, format!("{PREFIX}{token}"))];
        let intent = Intent::noting_adoption();
        let tx = auth.store.begin_with(&intent).await?;
        let row = Verification::parse(tx.find_one(Verification::MODEL, &filter).await?)?;
        let invalid = || Ok(Err("INVALID_TOKEN".to_string()));
        let Some(row) = row else { return invalid() };
        // Single use: only the request that removes the row goes on.
        if tx.delete_many(Verification::MODEL, &filter).await? == 0 {
            return invalid();
        }
        let Some((email, name)) = row.is_live(at).then(|| parse_value(&row.value)).flatten() else {
            // An expired or unreadable row is gone for good.
            tx.commit().await?;
            return invalid();
        };
        let sign_up = !self.config.disable_sign_up;
        let proven = Proven { email, name: name.unwrap_or_default(), image: None, additional: new_user, sign_up };
        match passwordless::sign_in(auth, &*tx, proven, meta).await {
            Ok(Some(signed)) => {
                tx.commit().await?;
                Ok(Ok(signed))
            }
            Ok(None) => {
                // Better Auth spends the token before it finds sign-up closed.
                tx.commit().await?;
                Ok(Err("new_user_signup_disabled".into()))
            }
            // A refusal (a hook's, a lost race for the address) names its code in the redirect.
            Err(e) if e.status < 500 => Ok(Err(e.code.as_deref().unwrap_or("failed_to_create_user").to_string())),
            Err(e) => Err(e),
        }
    }
}

/// `{"type":"magic-link","email":…,"name":…}`, `name` left out when not given.
fn stored_value(email: &str, name: Option<&str>) -> String {
    let mut m = Map::new();
    m.insert("type".into(), "magic-link".into());
    m.insert("email".into(), email.into());
    if let Some(n) = name {
        m.insert("name".into(), n.into());
    }
    Json::Object(m).to_string()
}

/// The address and name a stored value holds.
fn parse_value(value: &str) -> Option<(String, Option<String>)> {
    let v: Json = serde_json::from_str(value).ok()?;
    let email = v.get("email")?.as_str()?.to_string();
    let name = v.get("name").and_then(Json::as_str).map(str::to_string);
    Some((email, name))
}

/// `<api>/magic-link/verify?token=…&callbackURL=…[&newUserCallbackURL=…][&errorCallbackURL=…]`.
/// With the cross-domain plugin, relative URLs lead to its site (the default one too).
fn link(auth: &Auth, token: &str, links: &Links) -> String {
    let site = auth.site_url.as_deref();
    let callback = match (&links.callback, site) {
        (Some(c), _) => on_site(site, c),
        (None, Some(s)) => s.to_string(),
        (None, None) => "/".to_string(),
    };
    let mut url =
        format!("{}/magic-link/verify?token={token}&callbackURL={}", auth.api_url(), encode_component(&callback));
    for (key, value) in [("newUserCallbackURL", &links.new_user), ("errorCallbackURL", &links.error)] {
        if let Some(v) = value {
            url.push_str(&format!("&{key}={}", encode_component(&on_site(site, v))));
        }
    }
    url
}

/// A path made absolute on the cross-domain site, when there is one.
fn on_site(site: Option<&str>, url: &str) -> String {
    match site {
        Some(s) if url.starts_with('/') && !url.starts_with("//") => format!("{}{url}", s.trim_end_matches('/')),
        _ => url.to_string(),
    }
}

impl Plugin for MagicLink {
    fn id(&self) -> &'static str {
        "magic-link"
    }

    fn rate_limits(&self) -> &'static [RateRule] {
        &[
            RateRule { prefix: "/sign-in/magic-link", window_secs: 60, max: 5 },
            RateRule { prefix: "/magic-link/verify", window_secs: 60, max: 5 },
        ]
    }

    fn routes(self: Arc<Self>, state: &AppState) -> Router<AppState> {
        Router::new()
            .route("/sign-in/magic-link", write(state, routes::sign_in))
            .route("/magic-link/verify", get(routes::verify))
            .layer(Extension(self))
    }
}
