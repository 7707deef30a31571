//! The rules of authentication, free of HTTP: users, sessions, passwords, email flows.
//! Every function takes the [`Auth`] context and typed input and returns `Result<_, ApiError>`.

pub mod email;
pub mod origins;
pub mod password;
pub mod passwordless;
pub mod sessions;
pub mod users;

use std::sync::Arc;

use crate::config::Config;
use crate::crypto::Signer;
use crate::mail::Mailer;
use crate::store::{Schema, Store};
use origins::TrustedOrigins;

/// Everything a request needs, built once at start-up and shared.
pub struct Auth {
    pub config: Config,
    pub base_url: String,
    pub store: Store,
    pub schema: Arc<Schema>,
    pub signer: Signer,
    pub origins: TrustedOrigins,
    pub mailer: Mailer,
    /// Where emailed links and redirects land when the client names none, when that is not
    /// this server (the cross-domain plugin's SPA).
    pub site_url: Option<String>,
    /// Sessions in secondary storage (Redis), when configured.
    pub mirror: Option<crate::store::mirror::Mirror>,
}

impl Auth {
    /// A relative callback URL made absolute on the SPA's site, when there is one (the
    /// cross-domain plugin's rule, WIRE.md §13); any other URL as it is.
    pub fn on_site(&self, url: String) -> String {
        match &self.site_url {
            Some(site) if url.starts_with('/') && !url.starts_with("//") => {
                format!("{}{url}", site.trim_end_matches('/'))
            }
            _ => url,
        }
    }

    /// `{baseURL}{basePath}`, e.g. `http://127.0.0.1:3000/api/auth`.
    pub fn api_url(&self) -> String {
        format!("{}{}", self.base_url, self.config.base_path)
    }

    pub fn secret(&self) -> &[u8] {
        self.signer.secret()
    }
}

/// Who is calling, as far as the session row records it (WIRE.md §6).
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The client's address (formatted only when a session records it).
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: String,
}

pub use crate::model::{Session, User};

/// Better Auth's email check (zod's `z.email()` pattern): a plain local part without leading,
/// trailing or doubled dots, and a dotted domain whose last label has 2+ letters.
pub fn is_valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"_'+-.".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && !l.starts_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && labels.last().is_some_and(|t| t.len() >= 2 && t.bytes().all(|b| b.is_ascii_alphabetic()));
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::is_valid_email;

    #[test]
    fn email_syntax() {
        for ok in ["a@b.co", "first.last+tag@sub.example.com", "o'neil@x.io"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in ["nope", "a@b", "@b.co", "a..b@c.co", ".a@b.co", "a@b.c", "a b@c.co", "a@-b.co"] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}
