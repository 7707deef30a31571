//! Trusted origins (WIRE.md §2): the base URL's origin plus configured patterns, where `*`
//! matches any run of characters (e.g. `http://127.0.0.1:*`) and `?` one character.
//!
//! URL-valued inputs (`callbackURL`, `redirectTo`, …) are judged the way a browser will resolve
//! them (WHATWG URL parsing, the `url` crate): a browser strips tabs and newlines, reads `\` as
//! `/` and accepts `https:host` without slashes, so a string that merely *looks* relative can
//! land on another origin. Only two shapes are accepted, and both resolve to the same origin
//! whatever page the browser is on:
//! - a path-absolute reference (`/path?query#fragment`), as Better Auth accepts them;
//! - an absolute `http(s)://` URL whose origin is trusted, without user info.

use url::Url;

/// An `Origin` longer than this is not an origin anyone serves (hosts are at most 253 bytes):
/// refusing it bounds the work of matching patterns.
const MAX_ORIGIN_LEN: usize = 512;

#[derive(Debug, Clone)]
pub struct TrustedOrigins {
    /// The base URL's origin: where relative references land.
    base: Url,
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

/// Does `text` match `pattern` (`*` any run, `?` one character, ASCII case-insensitive)?
/// Greedy with one backtrack point (the last `*`): O(pattern × text) at worst, never
/// exponential in the number of stars.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last star swallow one more character and retry from there.
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    p = sp + 1;
                    t = st + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Characters a browser drops or rewrites before resolving a URL (C0 controls, DEL, tab, CR,
/// LF, spaces) and other whitespace: refused anywhere in a URL-valued input.
fn has_control_or_space(s: &str) -> bool {
    s.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// A path-absolute reference that every browser resolves on the page's own origin: `/` not
/// followed by `/`, no `\` (read as `/`), no encoded slash or backslash in the path (servers
/// that decode it turn `/%2f%2fevil` into `//evil`) — Better Auth's rule for relative URLs.
fn is_safe_path(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('/') else { return false };
    if rest.starts_with('/') || s.contains('\\') {
        return false;
    }
    let path = s.split(['?', '#']).next().unwrap_or(s).to_ascii_lowercase();
    !path.contains("%2f") && !path.contains("%5c")
}

/// `scheme://` at the start, ASCII letters only: rules out `https:evil` and `http:/evil`,
/// which a browser resolves differently depending on the page it is on.
fn has_http_authority(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

impl TrustedOrigins {
    /// `base_url` must be absolute (checked when the configuration loads).
    pub fn new(base_url: &str, configured: &[String]) -> Self {
        let base = Url::parse(base_url).unwrap_or_else(|_| Url::parse("http://localhost/").expect("valid URL"));
        let mut patterns: Vec<String> = origin_of(base_url).into_iter().collect();
        for p in configured {
            let p = p.trim_end_matches('/');
            // Plain origins are normalised; wildcard patterns are kept as written.
            let normalised = if p.contains(['*', '?']) { None } else { origin_of(p) };
            patterns.push(normalised.unwrap_or_else(|| p.to_string()));
        }
        Self { base, patterns }
    }

    pub fn add(&mut self, origin: &str) {
        if let Some(o) = origin_of(origin) {
            self.patterns.push(o);
        }
    }

    /// Is this origin (an `Origin` header, `scheme://host:port`) trusted? It is parsed as a
    /// browser would and its serialisation matched, so `http://localhost:*` trusts
    /// `http://localhost:5173` but not `http://localhost:5173.evil.example` (no valid port:
    /// not an origin at all). Other schemes (`myapp://`, for mobile apps) must match a pattern
    /// exactly.
    pub fn is_trusted_origin(&self, origin: &str) -> bool {
        if origin.len() > MAX_ORIGIN_LEN {
            return false;
        }
        match Url::parse(origin) {
            Ok(u) if matches!(u.origin(), url::Origin::Tuple(..)) => {
                let o = u.origin().ascii_serialization();
                self.patterns.iter().any(|p| glob(p.as_bytes(), o.as_bytes()))
            }
            Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                let raw = origin.trim_end_matches('/');
                self.patterns.iter().any(|p| !p.contains(['*', '?']) && p.eq_ignore_ascii_case(raw))
            }
            _ => false,
        }
    }

    /// A URL-valued input (callbackURL, redirectTo…): a safe path on this server, or an
    /// absolute http(s) URL on a trusted origin (see the module comment). The empty string
    /// is the base URL itself.
    pub fn is_trusted_url(&self, url: &str) -> bool {
        self.resolve_trusted(url).is_some()
    }

    /// Where a browser on the base URL's origin goes with `url`, when that is trusted.
    pub fn resolve_trusted(&self, url: &str) -> Option<Url> {
        if has_control_or_space(url) || url.contains('\\') {
            return None;
        }
        let resolved = if url.is_empty() || is_safe_path(url) {
            self.base.join(url).ok()?
        } else if has_http_authority(url) {
            Url::parse(url).ok()?
        } else {
            return None;
        };
        let clean = resolved.username().is_empty() && resolved.password().is_none();
        let origin = resolved.origin();
        let trusted = matches!(origin, url::Origin::Tuple(..))
            && matches!(resolved.scheme(), "http" | "https")
            && self.is_trusted_origin(&origin.ascii_serialization());
        (clean && trusted).then_some(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> TrustedOrigins {
        TrustedOrigins::new(
            "http://127.0.0.1:3000",
            &["http://localhost:5173".into(), "http://127.0.0.1:*".into(), "https://*.example.com".into()],
        )
    }

    #[test]
    fn wildcards_and_paths() {
        let t = origins();
        assert!(t.is_trusted_origin("http://127.0.0.1:3000"));
        assert!(t.is_trusted_origin("http://127.0.0.1:9999"));
        assert!(t.is_trusted_origin("http://localhost:5173"));
        assert!(t.is_trusted_origin("https://app.example.com"));
        assert!(!t.is_trusted_origin("http://evil.example"));
        assert!(!t.is_trusted_origin("http://localhost:5174"));
        // A wildcard port never reaches into the host (found by the differential fuzzer).
        for bad in ["http://127.0.0.1:1.evil.example", "http://127.0.0.1.evil:1", "http://127.0.0.1:1@evil", "null"] {
            assert!(!t.is_trusted_origin(bad), "{bad}");
        }
        assert!(t.is_trusted_origin("HTTP://LOCALHOST:5173/"));
        assert!(t.is_trusted_url("/dashboard"));
        assert!(!t.is_trusted_url("//evil.example/x"));
        assert!(t.is_trusted_url("http://localhost:5173/home?x=1"));
        assert!(!t.is_trusted_url("http://evil.example/cb"));
        assert!(!t.is_trusted_url("javascript:alert(1)"));
    }

    #[test]
    fn glob_semantics() {
        assert!(glob(b"a*b?d", b"aXXbcd"));
        assert!(glob(b"*", b""));
        assert!(glob(b"**a**", b"bab"));
        assert!(!glob(b"a*b", b"acbc"));
        assert!(glob(b"A*", b"abc"));
        assert!(!glob(b"?", b""));
    }

    /// Many stars against a long header: quadratic at worst, and the header is capped.
    #[test]
    fn glob_does_not_backtrack_exponentially() {
        let pattern = "http://*a*a*a*a*a*a*a*a*b".as_bytes();
        let text = format!("http://{}", "a".repeat(20_000));
        let started = std::time::Instant::now();
        assert!(!glob(pattern, text.as_bytes()));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let t = TrustedOrigins::new("http://x.test", &["http://*a*a*a*a*a*b".into()]);
        assert!(!t.is_trusted_origin(&text));
    }

    /// The vector table (tests/data/redirect-vectors.json, written from Node's `new URL`, a
    /// browser's parser): we resolve each as Node does, accept exactly the ones marked trusted,
    /// and whatever we accept resolves to a trusted origin.
    #[test]
    fn redirect_vectors_as_a_browser_resolves_them() {
        let table: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/redirect-vectors.json")).expect("vector table");
        let base = table["base"].as_str().expect("base");
        let t = TrustedOrigins::new(
            base,
            &["http://localhost:5173".into(), "http://127.0.0.1:*".into(), "http://localhost:*".into()],
        );
        let vectors = table["vectors"].as_array().expect("vectors");
        assert!(vectors.len() >= 40, "at least 40 vectors");
        let mut failures = Vec::new();
        for v in vectors {
            let input = v["input"].as_str().expect("input");
            let ours = Url::parse(base).ok().and_then(|b| b.join(input).ok()).map(|u| u.to_string());
            let expected = v["trusted"].as_bool().expect("trusted");
            // rust-url refuses a few inputs browsers resolve (`///host`: WHATWG skips the extra
            // slashes); harmless when the vector is refused anyway, a failure otherwise.
            let parser_refuses = ours.is_none() && !expected;
            if ours.as_deref() != v["browser"].as_str() && !parser_refuses {
                failures.push(format!("{input:?}: resolves to {ours:?}, Node to {}", v["browser"]));
            }
            match t.resolve_trusted(input) {
                Some(u) if !expected => failures.push(format!("{input:?}: accepted ({u}), must be refused")),
                Some(u) if Some(u.as_str()) != v["browser"].as_str() => {
                    failures.push(format!("{input:?}: accepted as {u}, a browser goes to {}", v["browser"]))
                }
                None if expected => failures.push(format!("{input:?}: refused, must be accepted")),
                _ => {}
            }
        }
        assert!(failures.is_empty(), "{} of {} vectors fail:\n{}", failures.len(), vectors.len(), failures.join("\n"));
    }
}
