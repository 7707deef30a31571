//! Trusted origins (WIRE.md §2): the base URL's origin plus configured patterns, where `*`
//! matches any run of characters (e.g. `http://127.0.0.1:*`) and `?` one character.

use url::Url;

#[derive(Debug, Clone)]
pub struct TrustedOrigins {
    patterns: Vec<String>,
}

/// `scheme://host[:port]` of an absolute URL, or `None`.
pub fn origin_of(url: &str) -> Option<String> {
    let u = Url::parse(url).ok()?;
    match u.origin() {
        url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..])),
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p.eq_ignore_ascii_case(t) => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

impl TrustedOrigins {
    pub fn new(base_url: &str, configured: &[String]) -> Self {
        let mut patterns: Vec<String> = origin_of(base_url).into_iter().collect();
        for p in configured {
            let p = p.trim_end_matches('/');
            // Plain origins are normalised; wildcard patterns are kept as written.
            let normalised = if p.contains(['*', '?']) { None } else { origin_of(p) };
            patterns.push(normalised.unwrap_or_else(|| p.to_string()));
        }
        Self { patterns }
    }

    pub fn add(&mut self, origin: &str) {
        if let Some(o) = origin_of(origin) {
            self.patterns.push(o);
        }
    }

    /// Is this origin (`scheme://host:port`) trusted?
    pub fn is_trusted_origin(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.patterns.iter().any(|p| glob(p.as_bytes(), origin.as_bytes()))
    }

    /// A URL-valued input (callbackURL, redirectTo…): a same-site relative path, or an
    /// absolute URL on a trusted origin.
    pub fn is_trusted_url(&self, url: &str) -> bool {
        if url.starts_with('/') {
            return !url.starts_with("//") && !url.contains('\\');
        }
        origin_of(url).is_some_and(|o| self.is_trusted_origin(&o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_paths() {
        let t = TrustedOrigins::new(
            "http://127.0.0.1:3000",
            &["http://localhost:5173".into(), "http://127.0.0.1:*".into(), "https://*.example.com".into()],
        );
        assert!(t.is_trusted_origin("http://127.0.0.1:3000"));
        assert!(t.is_trusted_origin("http://127.0.0.1:9999"));
        assert!(t.is_trusted_origin("http://localhost:5173"));
        assert!(t.is_trusted_origin("https://app.example.com"));
        assert!(!t.is_trusted_origin("http://evil.example"));
        assert!(!t.is_trusted_origin("http://localhost:5174"));
        assert!(t.is_trusted_url("/dashboard"));
        assert!(!t.is_trusted_url("//evil.example/x"));
        assert!(t.is_trusted_url("http://localhost:5173/home?x=1"));
        assert!(!t.is_trusted_url("http://evil.example/cb"));
        assert!(!t.is_trusted_url("javascript:alert(1)"));
    }
}
