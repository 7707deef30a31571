//! Body decoding (src/http/input.rs): `RawBody` over content types and JSON or form bytes,
//! then the `Fields` readers every route validates with.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, header};
use palisade::auth::is_valid_email;
use palisade::http::input::{Fields, RawBody};
use serde_json::{Map, Value as Json};

use crate::fuzz::app::App;
use crate::fuzz::generator::Gen;

/// Field names the routes read.
pub const KEYS: &[&str] = &[
    "email",
    "password",
    "name",
    "callbackURL",
    "rememberMe",
    "image",
    "token",
    "newPassword",
    "currentPassword",
    "code",
    "provider",
    "redirectTo",
    "revokeOtherSessions",
    "trustDevice",
    "idToken",
    "accountId",
    "errorCallbackURL",
    "newUserCallbackURL",
];
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON",
    " application/json ;",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded;charset=UTF-8",
    "text/plain",
    "multipart/form-data; boundary=x",
    "application/jsonx",
    "application/json+x",
    "",
    ";",
    "*/*",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Json,
    Form,
    Other,
}

pub struct BodyTarget {
    app: App,
    max: usize,
}

impl BodyTarget {
    pub fn new() -> Self {
        let app = App::new();
        let max = app.state.auth.config.advanced.max_body_bytes;
        BodyTarget { app, max }
    }

    pub fn run(&mut self, g: &mut Gen) {
        let ct: Option<String> = match g.below(8) {
            0 => None,
            1 => {
                let c = *g.pick(CONTENT_TYPES);
                Some(g.mutate(c))
            }
            _ => Some(g.pick(CONTENT_TYPES).to_string()),
        };
        let ct = ct.filter(|c| HeaderValue::from_str(c).is_ok());
        // Forms only where a browser form lands (Better Auth's rule); the router strips the base path.
        let path = if g.chance(2) { "/sign-in/email" } else { "/update-user" };
        let form_ok = path == "/sign-in/email";
        // Read as the server does: lossily, so non-ASCII bytes make an unknown media type.
        let media = ct.as_deref().map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let kind = match media.as_deref() {
            None => Kind::Json,
            Some("application/json") => Kind::Json,
            Some("application/x-www-form-urlencoded") if form_ok => Kind::Form,
            Some(_) => Kind::Other,
        };
        let (bytes, sent) = body(g, kind);
        let mut req = Request::builder().method("POST").uri(path);
        if let Some(c) = &ct {
            req = req.header(header::CONTENT_TYPE, c.as_str());
        }
        let req = req.body(Body::from(bytes.clone())).expect("a request");
        let got = self.app.rt.block_on(RawBody::from_request(req, &self.app.state));
        if bytes.len() > self.max {
            assert_eq!(got.err().map(|e| e.status), Some(413), "{} bytes", bytes.len());
            return;
        }
        // No body, or a body without a Content-Type: nothing is read (Better Auth's order).
        if bytes.is_empty() || ct.is_none() {
            assert!(got.is_ok_and(|raw| raw.0.is_none()), "no body read ({ct:?}, {} bytes)", bytes.len());
            return;
        }
        let raw = match (kind, got) {
            (Kind::Other, got) => {
                assert_eq!(got.err().map(|e| e.status), Some(415), "content type {ct:?} on {path}");
                return;
            }
            (_, got) if bytes.iter().all(u8::is_ascii_whitespace) => {
                assert!(got.is_ok_and(|raw| raw.0.is_none()), "a blank body is no body");
                return;
            }
            (Kind::Json, got) => match serde_json::from_slice::<Json>(&bytes) {
                Ok(v) => {
                    let raw = got.expect("valid JSON is accepted");
                    assert_eq!(raw.0.as_ref(), Some(&v));
                    raw
                }
                Err(_) => {
                    assert_eq!(got.err().map(|e| e.status), Some(400), "invalid JSON {bytes:?}");
                    return;
                }
            },
            (Kind::Form, got) => {
                let raw = got.expect("a form body is always accepted");
                if let Some(sent) = sent {
                    assert_eq!(raw.0.as_ref(), Some(&Json::Object(sent)), "form fields");
                }
                raw
            }
        };
        fields(g, raw);
    }
}

/// Bytes for a body of `kind`: a route-like object (encoded as the content type says),
/// anything JSON, edited bytes, blanks or too much. Returns the form fields when sent intact.
fn body(g: &mut Gen, kind: Kind) -> (Vec<u8>, Option<Map<String, Json>>) {
    let mut obj = Map::new();
    for _ in 0..g.len(6) {
        let v = match g.below(4) {
            0 => Json::Bool(g.bool()),
            1 => g.json(2),
            _ => Json::String(if g.bool() { format!("{}@example.com", g.ident(8)) } else { g.text(30) }),
        };
        obj.insert(g.pick(KEYS).to_string(), v);
    }
    let mut v = Json::Object(obj);
    if g.chance(3) {
        g.mutate_json(&mut v);
    }
    match g.below(12) {
        0 => return (g.pick(&[&b""[..], b" ", b"\r\n\t ", b"\x0c"]).to_vec(), None),
        1 => return (vec![b' '; 64 * 1024 + g.below(3) - 1], None),
        2 if g.chance(4) => {
            return (format!("{{\"a\":\"{}\"}}", "x".repeat(64 * 1024 + g.below(5) - 8)).into_bytes(), None);
        }
        3 => return (g.mutate(&v.to_string()).into_bytes(), None),
        _ => {}
    }
    if kind == Kind::Form || g.chance(10) {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        let mut sent = Map::new();
        for (k, val) in v.as_object().into_iter().flatten() {
            let s = match val {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            form.append_pair(k, &s);
            sent.insert(k.clone(), Json::String(s));
        }
        return (form.finish().into_bytes(), Some(sent).filter(|_| v.is_object()));
    }
    let text = if g.chance(4) { serde_json::to_string_pretty(&v).unwrap_or_default() } else { v.to_string() };
    let pad = *g.pick(&["", " ", "\n", "\t"]);
    (format!("{pad}{text}{pad}").into_bytes(), None)
}

/// `Fields` readers in random order: each reports an issue exactly when the value has the
/// wrong type (or is no email), and the final error names every such key.
fn fields(g: &mut Gen, raw: RawBody) {
    let optional = g.bool();
    let value = raw.0.clone();
    let f = if optional { Fields::optional_body(raw) } else { Fields::body(raw) };
    let mut f = match (&value, f) {
        (Some(Json::Object(_)), Ok(f)) => f,
        (None, Ok(f)) if optional => f,
        (_, Err(e)) => {
            assert!(!(matches!(value, Some(Json::Object(_))) || optional && value.is_none()));
            assert!(e.status == 400 && e.message.starts_with("[body] Invalid input: expected object"), "{e}");
            return;
        }
        (_, Ok(_)) => panic!("a body that is no object was accepted: {value:?}"),
    };
    let map = match value {
        Some(Json::Object(m)) => m,
        _ => Map::new(),
    };
    let mut failing: Vec<String> = Vec::new();
    for _ in 0..g.len(6) {
        let key = if g.chance(4) { g.text(6) } else { g.pick(KEYS).to_string() };
        let v = map.get(&key);
        let bad = match g.below(6) {
            0 => {
                assert_eq!(f.string(&key), v.and_then(Json::as_str).unwrap_or(""));
                !matches!(v, Some(Json::String(_)))
            }
            1 => {
                f.opt_string(&key);
                v.is_some_and(|v| !v.is_string())
            }
            2 => {
                f.nullable_string(&key);
                v.is_some_and(|v| !v.is_string() && !v.is_null())
            }
            3 => {
                assert_eq!(f.opt_bool(&key), v.and_then(Json::as_bool));
                v.is_some_and(|v| !v.is_boolean())
            }
            4 => {
                f.email(&key);
                !v.and_then(Json::as_str).is_some_and(is_valid_email)
            }
            _ => {
                assert_eq!(f.has_truthy(&key), v.is_some_and(palisade::http::input::truthy));
                false
            }
        };
        if bad {
            failing.push(key);
        }
    }
    match f.finish() {
        Ok(()) => assert!(failing.is_empty(), "issues with {failing:?} went unreported"),
        Err(e) => {
            assert!(!failing.is_empty(), "an issue with no cause: {e}");
            assert_eq!(e.status, 400);
            for k in &failing {
                assert!(e.message.contains(&format!("[body.{k}]")), "{k:?} not named in {e}");
            }
        }
    }
}
