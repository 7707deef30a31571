//! Cookie names, attributes and signed values exactly as Better Auth writes them (WIRE.md §3):
//! `name=value; Max-Age=N; Path=/; HttpOnly; [Secure; ]SameSite=Lax`.

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
}

impl Cookies {
    /// `__Secure-` prefix and `Secure` when the base URL is https or forced by configuration.
    pub fn new(cookie_prefix: &str, secure: bool, session_max_age: i64) -> Self {
        let prefix = if secure { format!("__Secure-{cookie_prefix}") } else { cookie_prefix.to_string() };
        Self { prefix, secure, session_max_age }
    }

    pub fn name(&self, short: &str) -> String {
        format!("{}.{short}", self.prefix)
    }

    /// A Set-Cookie line; the value is URL-encoded like `encodeURIComponent`.
    pub fn set(&self, short: &str, value: &str, max_age: Option<i64>) -> String {
        let mut s = format!("{}={}", self.name(short), encode_component(value));
        if let Some(age) = max_age {
            s.push_str(&format!("; Max-Age={age}"));
        }
        s.push_str("; Path=/; HttpOnly");
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

    /// Sign-out and dead sessions clear these three, in this order.
    pub fn clear_session(&self) -> Vec<String> {
        [SESSION_TOKEN, SESSION_DATA, DONT_REMEMBER].iter().map(|c| self.clear(c)).collect()
    }

    /// The first value of cookie `short` in the request, URL-decoded.
    pub fn read(&self, headers: &HeaderMap, short: &str) -> Option<String> {
        read_cookie(headers, &self.name(short))
    }

    /// Is this Set-Cookie line a non-empty session cookie? Returns its decoded value.
    pub fn session_value_in(&self, set_cookie: &str) -> Option<String> {
        let rest = set_cookie.strip_prefix(&self.name(SESSION_TOKEN))?.strip_prefix('=')?;
        let value = rest.split(';').next().unwrap_or("");
        (!value.is_empty()).then(|| decode(value))
    }
}

fn decode(v: &str) -> String {
    percent_decode_str(v).decode_utf8_lossy().into_owned()
}

pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| decode(v.trim()))
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
    fn first_occurrence_wins_and_is_decoded() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "x=1; better-auth.session_token=a%2Bb; better-auth.session_token=zz".parse().unwrap());
        assert_eq!(read_cookie(&h, "better-auth.session_token").as_deref(), Some("a+b"));
        assert_eq!(read_cookie(&h, "missing"), None);
    }
}
