//! Cookie names, attributes and signed values exactly as Better Auth writes them (WIRE.md §3):
//! `name=value; Max-Age=N; Path=/; HttpOnly; [Secure; ]SameSite=Lax`.

use std::borrow::Cow;

use axum::http::{HeaderMap, header};
use percent_encoding::percent_decode_str;

use crate::auth::password::encode_component;
use crate::crypto::Signer;

pub const SESSION_TOKEN: &str = "session_token";
pub const SESSION_DATA: &str = "session_data";
pub const DONT_REMEMBER: &str = "dont_remember";

#[derive(Debug, Clone)]
pub struct Cookies {
    prefix: String,
    secure: bool,
    session_max_age: i64,
    /// The full names of the cookies read on every request, built once.
    common: [(&'static str, String); 3],
}

impl Cookies {
    /// `__Secure-` prefix and `Secure` when the base URL is https or forced by configuration.
    pub fn new(cookie_prefix: &str, secure: bool, session_max_age: i64) -> Self {
        let prefix = if secure { format!("__Secure-{cookie_prefix}") } else { cookie_prefix.to_string() };
        let common = [SESSION_TOKEN, SESSION_DATA, DONT_REMEMBER].map(|c| (c, format!("{prefix}.{c}")));
        Self { prefix, secure, session_max_age, common }
    }

    pub fn name(&self, short: &str) -> Cow<'_, str> {
        match self.common.iter().find(|(c, _)| *c == short) {
            Some((_, full)) => Cow::Borrowed(full),
            None => Cow::Owned(format!("{}.{short}", self.prefix)),
        }
    }

    /// A Set-Cookie line; the value is URL-encoded like `encodeURIComponent`.
    pub fn set(&self, short: &str, value: &str, max_age: Option<i64>) -> String {
        self.set_named(&self.name(short), value, max_age)
    }

    /// [`Cookies::set`] under a full name (no prefix added).
    pub fn set_named(&self, name: &str, value: &str, max_age: Option<i64>) -> String {
        self.line(name, value, max_age, true)
    }

    /// A cookie the page's scripts may read (no `HttpOnly`), under a full name.
    pub fn set_visible(&self, name: &str, value: &str, max_age: Option<i64>) -> String {
        self.line(name, value, max_age, false)
    }

    fn line(&self, name: &str, value: &str, max_age: Option<i64>, http_only: bool) -> String {
        let mut s = format!("{name}={}", encode_component(value));
        if let Some(age) = max_age {
            s.push_str(&format!("; Max-Age={age}"));
        }
        s.push_str(if http_only { "; Path=/; HttpOnly" } else { "; Path=/" });
        if self.secure {
            s.push_str("; Secure");
        }
        s.push_str("; SameSite=Lax");
        s
    }

    pub fn clear(&self, short: &str) -> String {
        self.set(short, "", Some(0))
    }

    /// The session cookie, plus the signed `dont_remember` marker for non-persistent sessions.
    pub fn session(&self, signer: &Signer, token: &str, dont_remember: bool) -> Vec<String> {
        let signed = signer.sign(token);
        if dont_remember {
            vec![self.set(SESSION_TOKEN, &signed, None), self.set(DONT_REMEMBER, &signer.sign("true"), None)]
        } else {
            vec![self.set(SESSION_TOKEN, &signed, Some(self.session_max_age))]
        }
    }

    /// Sign-out and dead sessions clear these three, in this order, plus any chunks of the
    /// cookie cache the request carried (after `session_data`).
    pub fn clear_session(&self, headers: &HeaderMap) -> Vec<String> {
        let mut out = vec![self.clear(SESSION_TOKEN), self.clear(SESSION_DATA)];
        let base = self.name(SESSION_DATA);
        let chunks = self.chunks_in(headers, SESSION_DATA);
        out.extend(chunks.iter().filter(|n| **n != base).map(|n| self.set_named(n, "", Some(0))));
        out.push(self.clear(DONT_REMEMBER));
        out
    }

    /// Whether the request carries cookie `short` or a chunk of it.
    pub fn carries(&self, headers: &HeaderMap, short: &str) -> bool {
        let base = self.name(short);
        cookie_pairs(headers).any(|(name, _)| name == base || chunk_index(&base, name).is_some())
    }

    /// Names of cookie `short` and of its chunks (`short.0`, `short.1`, …) in the request, in
    /// request order.
    pub fn chunks_in(&self, headers: &HeaderMap, short: &str) -> Vec<String> {
        let base = self.name(short);
        let mut names: Vec<String> = Vec::new();
        for (name, _) in cookie_pairs(headers) {
            if (name == base || chunk_index(&base, name).is_some()) && !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        names
    }

    /// Cookie `short`, or its chunks joined in index order (Better Auth's chunked cookies).
    pub fn read_chunked<'h>(&self, headers: &'h HeaderMap, short: &str) -> Option<Cow<'h, str>> {
        if let Some(v) = self.read(headers, short).filter(|v| !v.is_empty()) {
            return Some(v);
        }
        let base = self.name(short);
        let mut chunks: Vec<(usize, String)> = Vec::new();
        for (name, value) in cookie_pairs(headers) {
            if let Some(i) = chunk_index(&base, name)
                && !chunks.iter().any(|(j, _)| *j == i)
            {
                chunks.push((i, decode(value).into_owned()));
            }
        }
        chunks.sort_by_key(|(i, _)| *i);
        (!chunks.is_empty()).then(|| Cow::Owned(chunks.into_iter().map(|(_, v)| v).collect()))
    }

    /// Expires cookie `short` and every chunk of it the request carried.
    pub fn clear_chunked(&self, headers: &HeaderMap, short: &str) -> Vec<String> {
        let base = self.name(short);
        let mut names = self.chunks_in(headers, short);
        if !names.iter().any(|n| *n == base) {
            names.insert(0, base.into_owned());
        }
        names.iter().map(|n| self.set_named(n, "", Some(0))).collect()
    }

    /// Sets cookie `short` to `value`, split into `short.0`, `short.1`, … when one cookie would
    /// pass Better Auth's 4050-byte limit; chunks the request carried that are not rewritten
    /// are expired. Too large for 100 chunks: nothing is set (and old chunks are expired).
    pub fn set_chunked(&self, headers: &HeaderMap, short: &str, value: &str, max_age: Option<i64>) -> Vec<String> {
        let base = self.name(short);
        let mut lines: Vec<(String, String)> =
            self.chunks_in(headers, short).into_iter().map(|n| (n.clone(), self.set_named(&n, "", Some(0)))).collect();
        let mut put = |name: String, line: String| match lines.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = line,
            None => lines.push((name, line)),
        };
        // Room for a value next to the longest chunk name and the attributes.
        let room = MAX_COOKIE_SIZE.saturating_sub(self.set_named(&format!("{base}.99"), "", max_age).len()).max(1);
        let count = value.len().div_ceil(room);
        if count <= 1 {
            put(base.to_string(), self.set_named(&base, value, max_age));
        } else if count <= MAX_CHUNKS {
            for (i, part) in value.as_bytes().chunks(room).enumerate() {
                let name = format!("{base}.{i}");
                let line = self.set_named(&name, &String::from_utf8_lossy(part), max_age);
                put(name, line);
            }
        } else {
            tracing::warn!(cookie = %base, bytes = value.len(), "cookie too large even after chunking: not set");
        }
        lines.into_iter().map(|(_, l)| l).collect()
    }

    /// The first value of cookie `short` in the request, as sent (still URL-encoded).
    pub fn read_raw<'h>(&self, headers: &'h HeaderMap, short: &str) -> Option<&'h str> {
        let name = self.name(short);
        cookie_pairs(headers).find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The first value of cookie `short` in the request, URL-decoded.
    pub fn read<'h>(&self, headers: &'h HeaderMap, short: &str) -> Option<Cow<'h, str>> {
        let name = self.name(short);
        cookie_pairs(headers).find(|(k, _)| *k == name).map(|(_, v)| decode(v))
    }

    /// Is this Set-Cookie line a non-empty session cookie? Returns its decoded value.
    pub fn session_value_in(&self, set_cookie: &str) -> Option<String> {
        let rest = set_cookie.strip_prefix(&*self.name(SESSION_TOKEN))?.strip_prefix('=')?;
        let value = rest.split(';').next().unwrap_or("");
        (!value.is_empty()).then(|| decode(value).into_owned())
    }
}

/// Better Auth's per-cookie ceiling (Safari's limit, less room for attributes) and chunk cap.
const MAX_COOKIE_SIZE: usize = 4050;
const MAX_CHUNKS: usize = 100;

/// `N` when `name` is `{base}.N` with `N` a canonical non-negative integer.
fn chunk_index(base: &str, name: &str) -> Option<usize> {
    let suffix = name.strip_prefix(base)?.strip_prefix('.')?;
    let i: usize = suffix.parse().ok()?;
    (i.to_string() == suffix).then_some(i)
}

/// Every `name=value` pair of the request's Cookie headers (values still encoded).
fn cookie_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
}

/// URL-decoded; borrowed when there is nothing to decode (the usual case: base64url values).
fn decode(v: &str) -> Cow<'_, str> {
    if v.contains('%') { percent_decode_str(v).decode_utf8_lossy() } else { Cow::Borrowed(v) }
}

/// Every cookie of the request, its value URL-decoded.
pub fn all_cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
    cookie_pairs(headers).map(|(k, v)| (k, decode(v)))
}

pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookie_pairs(headers).find(|(k, _)| *k == name).map(|(_, v)| decode(v).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_like_better_auth() {
        let c = Cookies::new("better-auth", false, 604800);
        assert_eq!(
            c.set(SESSION_TOKEN, "a.b+/=", Some(604800)),
            "better-auth.session_token=a.b%2B%2F%3D; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(c.clear(DONT_REMEMBER), "better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax");
        let s = Cookies::new("better-auth", true, 1);
        assert_eq!(
            s.set(SESSION_DATA, "x", None),
            "__Secure-better-auth.session_data=x; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn large_values_are_chunked_and_stale_chunks_expired() {
        let c = Cookies::new("better-auth", false, 604800);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "better-auth.session_data.0=a; better-auth.session_data.1=b; x=1".parse().unwrap());
        assert_eq!(c.read_chunked(&h, SESSION_DATA).as_deref(), Some("ab"));
        let small = c.set_chunked(&h, SESSION_DATA, "v", Some(300));
        assert_eq!(small.len(), 3);
        assert!(small[0].starts_with("better-auth.session_data.0=; Max-Age=0"));
        assert!(small[1].starts_with("better-auth.session_data.1=; Max-Age=0"));
        assert_eq!(small[2], "better-auth.session_data=v; Max-Age=300; Path=/; HttpOnly; SameSite=Lax");
        let big = "x".repeat(9000);
        let lines = c.set_chunked(&HeaderMap::new(), SESSION_DATA, &big, Some(300));
        assert_eq!(lines.len(), 3);
        let mut joined = String::new();
        for (i, l) in lines.iter().enumerate() {
            assert!(l.len() <= MAX_COOKIE_SIZE, "{}", l.len());
            let (nv, _) = l.split_once(';').unwrap();
            let (n, v) = nv.split_once('=').unwrap();
            assert_eq!(n, format!("better-auth.session_data.{i}"));
            joined.push_str(v);
        }
        assert_eq!(joined, big);
        assert_eq!(c.clear_session(&h).len(), 5);
    }

    #[test]
    fn first_occurrence_wins_and_is_decoded() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "x=1; better-auth.session_token=a%2Bb; better-auth.session_token=zz".parse().unwrap());
        assert_eq!(read_cookie(&h, "better-auth.session_token").as_deref(), Some("a+b"));
        assert_eq!(read_cookie(&h, "missing"), None);
    }
}
