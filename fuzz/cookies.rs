//! Cookie headers (src/http/cookies.rs) and cookie signatures (`crypto::Signer`).

use axum::http::{HeaderMap, HeaderValue, header};
use palisade::crypto::Signer;
use palisade::http::cookies::{Cookies, DONT_REMEMBER, SESSION_DATA, SESSION_TOKEN, read_cookie};

use crate::fuzz::generator::Gen;

pub const SECRET: &str = "fuzz-secret-0123456789-abcdefghijklmnop";
const SHORTS: &[&str] = &[SESSION_TOKEN, SESSION_DATA, DONT_REMEMBER, "two_factor", "x"];
/// Base64url: what the cookie cache and session tokens put in cookies.
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Browsers and Better Auth keep a cookie line under this many bytes.
const MAX_COOKIE_SIZE: usize = 4050;

pub struct CookiesTarget {
    jars: [Cookies; 2],
    signer: Signer,
    other: Signer,
}

impl CookiesTarget {
    pub fn new() -> Self {
        CookiesTarget {
            jars: [Cookies::new("better-auth", false, 604_800), Cookies::new("my-app", true, 60)],
            signer: Signer::new(SECRET),
            other: Signer::new("another-secret-0123456789-abcdefghijkl"),
        }
    }

    pub fn run(&mut self, g: &mut Gen) {
        match g.below(5) {
            0 => self.signatures(g),
            1 | 2 => self.parse_header(g),
            3 => self.set_then_read(g),
            _ => self.chunk_round_trip(g),
        }
    }

    /// Signed values verify; a changed character, another secret or garbage do not.
    fn signatures(&self, g: &mut Gen) {
        let value = g.text(64);
        let signed = self.signer.sign(&value);
        assert_eq!(self.signer.verify(&signed), Some(value.as_str()), "own signature must verify");
        assert_eq!(self.other.verify(&signed), None, "another secret's signature must not verify");
        let mut chars: Vec<char> = signed.chars().collect();
        let i = g.below(chars.len());
        let replacement = *g.pick(&['A', 'B', '0', '+', '/', '=', '.', 'x', 'é']);
        chars[i] = if chars[i] == replacement { '_' } else { replacement };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(self.signer.verify(&tampered), None, "tampered {tampered:?} of {signed:?} verified");
        // Whatever verifies is exactly `value.signature(value)`.
        let garbage = if g.bool() { g.mutate(&signed) } else { g.text(80) };
        if let Some(v) = self.signer.verify(&garbage) {
            assert_eq!(garbage, self.signer.sign(v), "verify accepted something sign does not make");
        }
    }

    /// A Cookie header built from pieces (our names, chunk names, encodings, separators).
    fn cookie_header(&self, g: &mut Gen, jar: &Cookies) -> String {
        let mut parts = Vec::new();
        for _ in 0..g.len(8) {
            let short = *g.pick(SHORTS);
            let name = match g.below(5) {
                0 => jar.name(short).into_owned(),
                1 => format!(
                    "{}.{}",
                    jar.name(short),
                    g.pick(&["0", "1", "2", "10", "01", "+1", "-1", "99", "100", "x", ""])
                ),
                2 => g.mutate(&jar.name(short)),
                3 => g.text(10),
                _ => format!("{}.{}", jar.name(short), g.below(4)),
            };
            let value = match g.below(4) {
                0 => self.signer.sign(&g.chars_of(B64URL, 40)),
                1 => g.chars_of(B64URL, 80),
                2 => palisade::auth::password::encode_component(&g.text(30)),
                _ => g.text(30),
            };
            let sep = *g.pick(&["=", " = ", "=", "==", ""]);
            parts.push(format!("{name}{sep}{value}"));
        }
        parts.join(*g.pick(&["; ", ";", " ; ", ";;", ", "]))
    }

    fn headers(&self, g: &mut Gen, jar: &Cookies) -> HeaderMap {
        let mut h = HeaderMap::new();
        for _ in 0..1 + g.below(2) {
            let raw = self.cookie_header(g, jar);
            // Bytes a client could send: invalid header values are refused before us.
            if let Ok(v) = HeaderValue::from_bytes(raw.as_bytes()) {
                h.append(header::COOKIE, v);
            }
        }
        h
    }

    /// Reading a hostile Cookie header never panics and the readers agree with each other.
    fn parse_header(&self, g: &mut Gen) {
        let jar = g.pick(&self.jars);
        let h = self.headers(g, jar);
        for short in SHORTS {
            let full = jar.name(short);
            let read = jar.read(&h, short);
            assert_eq!(read_cookie(&h, &full).as_deref(), read.as_deref(), "read and read_cookie disagree");
            assert_eq!(jar.read_raw(&h, short).is_some(), read.is_some());
            let chunks = jar.chunks_in(&h, short);
            assert_eq!(jar.carries(&h, short), !chunks.is_empty(), "carries and chunks_in disagree");
            let whole = jar.read_chunked(&h, short);
            if let Some(v) = read.as_deref().filter(|v| !v.is_empty()) {
                assert_eq!(whole.as_deref(), Some(v), "a whole cookie wins over chunks");
            }
            let cleared = jar.clear_chunked(&h, short);
            assert!(cleared.iter().all(|l| l.contains("=; Max-Age=0")), "{cleared:?}");
        }
        let extra = jar.chunks_in(&h, SESSION_DATA).iter().filter(|n| **n != jar.name(SESSION_DATA)).count();
        assert_eq!(jar.clear_session(&h).len(), 3 + extra);
    }

    /// What `set` writes, a browser sends back, and `read` gives the same value.
    fn set_then_read(&self, g: &mut Gen) {
        let jar = g.pick(&self.jars);
        let short = *g.pick(SHORTS);
        let value = g.text(200);
        let line = jar.set(short, &value, g.bool().then_some(5));
        let pair = line.split(';').next().unwrap_or_default();
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(pair).expect("an encoded cookie is a valid header value"));
        assert_eq!(jar.read(&h, short).as_deref(), Some(value.as_str()), "{line}");
        if short == SESSION_TOKEN {
            assert_eq!(jar.session_value_in(&line), (!value.is_empty()).then(|| value.clone()));
        }
    }

    /// `set_chunked` over whatever chunks a browser holds leaves it holding exactly the new
    /// value, each line within the size limit.
    fn chunk_round_trip(&self, g: &mut Gen) {
        let jar = g.pick(&self.jars);
        let mut browser: Vec<(String, String)> = Vec::new();
        for _ in 0..g.len(5) {
            let name = match g.below(3) {
                0 => jar.name(SESSION_DATA).into_owned(),
                _ => format!("{}.{}", jar.name(SESSION_DATA), g.below(6)),
            };
            if !browser.iter().any(|(n, _)| *n == name) {
                browser.push((name, g.chars_of(B64URL, 50)));
            }
        }
        let len = match g.below(4) {
            0 => g.below(50),
            1 => 3_900 + g.below(300),
            2 => g.below(40_000),
            _ => *g.pick(&[0, 1, 3_990, 3_991, 7_980, 7_981, 394_000, 399_000, 420_000]),
        };
        let base64 = g.below(4) != 0;
        let value: String = (0..len)
            .map(|_| if base64 { *g.pick(B64URL) as char } else { (b' ' + g.below(95) as u8) as char })
            .collect();
        let lines = jar.set_chunked(&headers_of(&browser), SESSION_DATA, &value, Some(300));
        for line in &lines {
            apply_set_cookie(&mut browser, line);
            if base64 {
                assert!(line.len() <= MAX_COOKIE_SIZE, "a {} byte cookie line", line.len());
            }
        }
        let sent = headers_of(&browser);
        let read = jar.read_chunked(&sent, SESSION_DATA);
        let fits = lines.iter().any(|l| !l.contains("=; Max-Age=0"));
        if fits {
            assert_eq!(read.as_deref(), Some(value.as_str()).filter(|v| !v.is_empty()), "chunks do not join back");
        } else {
            assert!(read.is_none() || value.is_empty(), "an unset value left a cookie behind");
        }
    }
}

/// A browser's Cookie header for its jar.
fn headers_of(browser: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    let line = browser.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
    if !line.is_empty() {
        h.insert(header::COOKIE, HeaderValue::from_str(&line).expect("jar lines are ASCII"));
    }
    h
}

/// A browser applying a Set-Cookie line: `Max-Age=0` removes, anything else sets.
fn apply_set_cookie(browser: &mut Vec<(String, String)>, line: &str) {
    let (pair, attrs) = line.split_once(';').unwrap_or((line, ""));
    let (name, value) = pair.split_once('=').expect("a Set-Cookie line has name=value");
    browser.retain(|(n, _)| n != name);
    if !attrs.contains("Max-Age=0") {
        browser.push((name.to_string(), value.to_string()));
    }
}
