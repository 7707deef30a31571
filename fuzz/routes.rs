//! Every route, through the whole router: each request starts from a valid body (or query) of
//! its route and is edited, sent with a content type, an origin and credentials that vary.
//! No request may panic or answer 5xx, and every error is Better Auth's JSON error.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, header};
use serde_json::{Value as Json, json};
use tower::ServiceExt;

use crate::fuzz::app::{App, ORIGIN};
use crate::fuzz::generator::Gen;

const PASSWORD: &str = "fuzz-password-123";

/// (method, path, a valid body or query, needs a session).
fn routes() -> Vec<(Method, &'static str, Json)> {
    let post = Method::POST;
    let get = Method::GET;
    vec![
        (
            post.clone(),
            "/sign-up/email",
            json!({"name":"N","email":"a@example.com","password":PASSWORD,"rememberMe":true}),
        ),
        (post.clone(), "/sign-in/email", json!({"email":"a@example.com","password":PASSWORD,"callbackURL":"/home"})),
        (post.clone(), "/sign-out", json!({})),
        (post.clone(), "/get-session", json!({})),
        (post.clone(), "/revoke-session", json!({"token":"abc"})),
        (post.clone(), "/revoke-other-sessions", json!({})),
        (post.clone(), "/update-user", json!({"name":"New","image":null})),
        (
            post.clone(),
            "/change-password",
            json!({"currentPassword":PASSWORD,"newPassword":PASSWORD,"revokeOtherSessions":false}),
        ),
        (post.clone(), "/change-email", json!({"newEmail":"b@example.com","callbackURL":"/done"})),
        (post.clone(), "/delete-user", json!({"password":"wrong-password","callbackURL":"/bye"})),
        (post.clone(), "/request-password-reset", json!({"email":"a@example.com","redirectTo":"/reset"})),
        (post.clone(), "/reset-password", json!({"newPassword":PASSWORD,"token":"tok"})),
        (post.clone(), "/send-verification-email", json!({"email":"a@example.com","callbackURL":"/v"})),
        (post.clone(), "/sign-in/social", json!({"provider":"github","callbackURL":"/","disableRedirect":true})),
        (post.clone(), "/callback/github", json!({"code":"c","state":"s"})),
        (post.clone(), "/link-social", json!({"provider":"google","callbackURL":"/"})),
        (post.clone(), "/unlink-account", json!({"providerId":"github","accountId":"1"})),
        (post.clone(), "/get-access-token", json!({"providerId":"github","accountId":"1"})),
        (post.clone(), "/refresh-token", json!({"providerId":"github","accountId":"1"})),
        (post.clone(), "/two-factor/enable", json!({"password":"wrong-password","issuer":"x"})),
        (post.clone(), "/two-factor/get-totp-uri", json!({"password":"wrong-password"})),
        (post.clone(), "/two-factor/verify-totp", json!({"code":"123456","trustDevice":true})),
        (post.clone(), "/two-factor/verify-backup-code", json!({"code":"abcde-fghij","disableSession":false})),
        (post.clone(), "/two-factor/generate-backup-codes", json!({"password":"wrong-password"})),
        (post.clone(), "/two-factor/disable", json!({"password":"wrong-password"})),
        (post.clone(), "/two-factor/send-otp", json!({"trustDevice":false})),
        (post.clone(), "/two-factor/verify-otp", json!({"code":"123456"})),
        (post.clone(), "/cross-domain/one-time-token/verify", json!({"token":"ott"})),
        (get.clone(), "/get-session", json!({"disableCookieCache":"true"})),
        (get.clone(), "/list-sessions", json!({})),
        (get.clone(), "/reset-password/tok", json!({"callbackURL":"/reset"})),
        (get.clone(), "/verify-email", json!({"token":"t","callbackURL":"/v"})),
        (get.clone(), "/ok", json!({})),
        (get.clone(), "/error", json!({"error":"x"})),
        (get.clone(), "/callback/github", json!({"code":"c","state":"s"})),
        (get.clone(), "/list-accounts", json!({})),
        (get.clone(), "/account-info", json!({"accountId":"1"})),
        (get.clone(), "/token", json!({})),
        (get.clone(), "/jwks", json!({})),
        (get, "/.well-known/openid-configuration", json!({})),
    ]
}

pub struct RoutesTarget {
    app: App,
    routes: Vec<(Method, &'static str, Json)>,
    /// The browser's cookies: `name=value` pairs, kept up to date from every answer.
    jar: Vec<(String, String)>,
    users: u64,
}

impl RoutesTarget {
    pub fn new() -> Self {
        RoutesTarget { app: App::new(), routes: routes(), jar: Vec::new(), users: 0 }
    }

    pub fn run(&mut self, g: &mut Gen) {
        if !self.jar.iter().any(|(n, _)| n.ends_with(".session_token")) {
            self.sign_up();
        }
        let (method, path, seed) = g.pick(&self.routes).clone();
        let mut body = seed;
        if g.below(4) != 0 {
            g.mutate_json(&mut body);
        }
        let path = if g.chance(20) { g.mutate(path) } else { path.to_string() };
        let req = if method == Method::GET { self.get(g, &path, &body) } else { self.post(g, method, &path, &body) };
        let Some(req) = req else { return };
        let (status, headers, text) = self.send(req);
        self.remember(&headers);
        assert!(status < 500, "{status} {text}");
        if (400..500).contains(&status) && status != 404 && !text.is_empty() {
            let v: Json =
                serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status} with a body that is no JSON: {text}"));
            assert!(
                v.get("message").is_some_and(Json::is_string) || v.get("code").is_some_and(Json::is_string),
                "{text}"
            );
        }
    }

    fn post(&self, g: &mut Gen, method: Method, path: &str, body: &Json) -> Option<Request<Body>> {
        let (ct, bytes) = match g.below(10) {
            0 => (Some("application/x-www-form-urlencoded"), form(body)),
            1 => (Some(*g.pick(&["text/plain", "multipart/form-data", "application/xml"])), body.to_string()),
            2 => (None, body.to_string()),
            3 => (Some("application/json"), g.mutate(&body.to_string())),
            _ => (Some("application/json"), body.to_string()),
        };
        let method = if g.chance(30) {
            g.pick(&[Method::PUT, Method::DELETE, Method::GET, Method::PATCH]).clone()
        } else {
            method
        };
        let mut req = Request::builder().method(method).uri(format!("/api/auth{path}"));
        if let Some(ct) = ct {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let mut req = req.body(Body::from(bytes)).ok()?;
        self.credentials(g, req.headers_mut());
        Some(req)
    }

    fn get(&self, g: &mut Gen, path: &str, query: &Json) -> Option<Request<Body>> {
        let q = form(query);
        let uri = if q.is_empty() { format!("/api/auth{path}") } else { format!("/api/auth{path}?{q}") };
        let mut req = Request::builder().method(Method::GET).uri(uri).body(Body::empty()).ok()?;
        self.credentials(g, req.headers_mut());
        Some(req)
    }

    /// Origin (trusted, none, `null`, untrusted) and credentials (the session, none, tampered,
    /// bearer, garbage).
    fn credentials(&self, g: &mut Gen, h: &mut HeaderMap) {
        let origin = match g.below(10) {
            0 => None,
            1 => Some("null".to_string()),
            2 => Some("http://evil.example".to_string()),
            3 => Some(g.mutate(ORIGIN)),
            _ => Some(ORIGIN.to_string()),
        };
        if let Some(o) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
            h.insert(header::ORIGIN, o);
        }
        let jar = self.jar.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
        let cookie = match g.below(10) {
            0 => None,
            1 => Some(g.mutate(&jar)),
            2 => {
                let token = self.session_token().unwrap_or_default();
                if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
                    h.insert(header::AUTHORIZATION, v);
                }
                None
            }
            _ => Some(jar),
        };
        if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert(header::COOKIE, c);
        }
    }

    fn session_token(&self) -> Option<String> {
        let (_, v) = self.jar.iter().find(|(n, _)| n.ends_with(".session_token"))?;
        Some(percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
    }

    fn send(&self, req: Request<Body>) -> (u16, HeaderMap, String) {
        let router = self.app.router.clone();
        self.app.rt.block_on(async move {
            let res = router.oneshot(req).await.expect("the router is infallible");
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap_or_default();
            (status, headers, String::from_utf8_lossy(&bytes).into_owned())
        })
    }

    /// The browser applying the answer's Set-Cookie lines.
    fn remember(&mut self, headers: &HeaderMap) {
        for line in headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let (pair, attrs) = line.split_once(';').unwrap_or((line, ""));
            let Some((name, value)) = pair.split_once('=') else { continue };
            self.jar.retain(|(n, _)| n != name);
            if !attrs.contains("Max-Age=0") && !value.is_empty() {
                self.jar.push((name.to_string(), value.to_string()));
            }
        }
    }

    /// A new user and its session (the last one was signed out, revoked or deleted).
    fn sign_up(&mut self) {
        self.users += 1;
        let body = json!({"name":"Fuzz","email":format!("fuzz{}@example.com", self.users),"password":PASSWORD});
        let req = Request::builder()
            .method(Method::POST)
            .uri("/api/auth/sign-up/email")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, ORIGIN)
            .body(Body::from(body.to_string()))
            .expect("a request");
        let (status, headers, text) = self.send(req);
        assert_eq!(status, 200, "sign-up: {text}");
        self.jar.clear();
        self.remember(&headers);
    }
}

/// A JSON object as `application/x-www-form-urlencoded` (non-strings as their JSON text).
fn form(v: &Json) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    if let Json::Object(m) = v {
        for (k, v) in m {
            match v {
                Json::String(t) => s.append_pair(k, t),
                other => s.append_pair(k, &other.to_string()),
            };
        }
    }
    s.finish()
}
