//! Gradual migration never hands an app user to someone who has not proven the address, on
//! SQLite, PostgreSQL and MariaDB, with the configured SQL `adopt` hook and with Rust hooks
//! (`Hooks::adopt_fn`): an unverified sign-up with an app user's email gets no app id and no
//! token; the owner's verification adopts the row and shuts out the pre-hijacker (sessions
//! revoked, password removed, `?passwordReset=required`); the owner resets and gets tokens
//! naming the app user. Also `send_on_sign_up` / `send_on_sign_in`.

use base64::Engine;
use palisade::config::Config;
use palisade::plugins::jwt::Subject;
use palisade::store::hooks::{Hooks, ModelHooksConfig};
use palisade::store::sql::{Dialect, Pool};
use palisade::store::{Ops, Record, Value};
use serde_json::{Value as Json, json};

use crate::harness::{Resp, TestApp, spawn_with};
use palisade::testing::dialects;

use crate::hooks::{app_database, count, migrate, raw, serve};

const VICTIM: &str = "victim@example.com";
const ATTACKER_PASSWORD: &str = "attacker-chose-this";

/// Tokens name the app's user; the Convex profile is on too.
fn tokens_name_app_users(cfg: &mut Config) {
    cfg.edit(|s: &mut palisade::plugins::jwt::JwtConfig| s.subject = Subject::App);
    cfg.edit(|s: &mut palisade::plugins::jwt::ConvexConfig| s.enabled = true);
    cfg.edit(|s: &mut palisade::plugins::jwt::ConvexConfig| s.site_url = Some("https://example.convex.site".into()));
}

fn sql_adopt(cfg: &mut Config) {
    let user = ModelHooksConfig {
        adopt: Some("SELECT id FROM app_users WHERE email = :email".into()),
        after_create: Some("INSERT INTO app_users (email, name) VALUES (:email, :name) RETURNING id".into()),
        ..Default::default()
    };
    cfg.hooks.insert("user".into(), user);
    tokens_name_app_users(cfg);
}

fn rust_adopt() -> Hooks {
    Hooks::new().adopt_fn(
        |ctx| {
            Box::pin(async move {
                let params = Record::new().with("email", ctx.record.string("email"));
                Ok(ctx.tx.sql("SELECT id FROM app_users WHERE email = :email", &params).await?.into_iter().next())
            })
        },
        |ctx| {
            Box::pin(async move {
                let sql = "INSERT INTO app_users (email, name) VALUES (:email, :name) RETURNING id";
                let params =
                    Record::new().with("email", ctx.record.string("email")).with("name", ctx.record.string("name"));
                Ok(ctx.tx.sql(sql, &params).await?.into_iter().next())
            })
        },
    )
}

/// A value read back by raw SQL (integer or text, by backend) as text.
fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::Int(i)) => i.to_string(),
        Some(Value::Text(s)) => s.clone(),
        other => panic!("not an id: {other:?}"),
    }
}

async fn app_id_of(pool: &Pool, email: &str) -> String {
    let params = Record::new().with("email", email);
    let rows = raw(pool).sql("SELECT id FROM app_users WHERE email = :email", &params).await.unwrap();
    text(rows[0].get("id"))
}

/// The token of the last `kind` email sent to `to`, waiting for it.
pub async fn emailed_token(app: &TestApp, kind: &str, to: &str) -> String {
    for _ in 0..150 {
        if let Some(token) = emails(app, kind, to).last() {
            return token.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no {kind} email to {to}");
}

/// Tokens of the `kind` emails sent to `to` so far.
fn emails(app: &TestApp, kind: &str, to: &str) -> Vec<String> {
    let log = std::fs::read_to_string(app.dir.path().join("emails.jsonl")).unwrap_or_default();
    log.lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|e| e["kind"] == kind && e["to"] == to)
        .map(|e| e["token"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn sub(r: &Resp) -> String {
    let token = r.json()["token"].as_str().unwrap_or_else(|| panic!("no token: {}", r.text)).to_string();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Json =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sub"].as_str().unwrap().to_string()
}

fn code(r: &Resp) -> (u16, String) {
    (r.status, r.json()["code"].as_str().unwrap_or_default().to_string())
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> Resp {
    app.post("/sign-in/email", json!({"email": email, "password": password}), None).await
}

async fn pre_hijacking_on(d: Dialect, rust: bool) {
    let label = format!("{d:?}, {} hooks", if rust { "Rust" } else { "SQL" });
    let (url, pool) = app_database(d).await;
    let tweak: fn(&mut Config) = if rust { tokens_name_app_users } else { sql_adopt };
    if d != Dialect::Sqlite {
        migrate(url.as_deref().unwrap(), &tweak, rust).await;
    }
    raw(&pool)
        .sql("INSERT INTO app_users (email, name) VALUES (:e, 'Victim')", &Record::new().with("e", VICTIM))
        .await
        .unwrap();
    let victim_app_id = app_id_of(&pool, VICTIM).await;
    let app = serve(url, tweak, if rust { rust_adopt() } else { Hooks::new() }).await;

    // The attacker signs up with the victim's address and a password of their own.
    let body = json!({"email": VICTIM, "password": ATTACKER_PASSWORD, "name": "Mallory"});
    let r = app.post("/sign-up/email", body, None).await;
    assert_eq!(r.status, 200, "{label}: {}", r.text);
    assert_eq!(r.json()["user"]["userId"], Json::Null, "{label}: no app id while unverified");
    let attacker = r.cookie_header();
    assert_eq!(count(&pool, "app_users").await, 1, "{label}: no new app row either");
    // No token at all: neither the victim's app id nor the auth id in its place.
    let unverified = (403, "EMAIL_NOT_VERIFIED".to_string());
    assert_eq!(code(&app.get("/token", Some(&attacker)).await), unverified, "{label}");
    assert_eq!(code(&app.get("/convex/token", Some(&attacker)).await), unverified, "{label}");
    let s = app.get("/get-session", Some(&attacker)).await;
    assert_eq!(s.json()["user"]["email"], VICTIM, "{label}: the session itself stands");
    assert!(s.headers.get("set-auth-jwt").is_none(), "{label}: no token with the session");
    assert!(!s.cookie_header().contains("convex_jwt="), "{label}: no Convex cookie");
    let second = sign_in(&app, VICTIM, ATTACKER_PASSWORD).await;
    assert_eq!(second.status, 200, "{label}: {}", second.text);
    let second = second.cookie_header();

    // Someone with an address no app user has gets a new app user at once.
    let (other, other_user) = app.sign_up("fresh@example.com", "password-123").await;
    let other_app_id = other_user["userId"].as_str().expect("a new app id").to_string();
    assert_eq!(other_app_id, app_id_of(&pool, "fresh@example.com").await, "{label}");
    assert_eq!(sub(&app.get("/token", Some(&other)).await), other_app_id, "{label}");

    // The attacker has the link sent; the owner of the mailbox clicks it.
    let r = app.post("/send-verification-email", json!({"email": VICTIM}), Some(&attacker)).await;
    assert_eq!(r.status, 200, "{label}: {}", r.text);
    let token = emailed_token(&app, "verify-email", VICTIM).await;
    let v = app.get(&format!("/verify-email?token={token}&callbackURL=%2Fwelcome"), None).await;
    assert_eq!(v.status, 302, "{label}: {}", v.text);
    let location = v.headers["location"].to_str().unwrap();
    assert!(location.ends_with("/welcome?passwordReset=required"), "{label}: {location}");
    assert_eq!(count(&pool, "app_users").await, 2, "{label}: adopted, not duplicated");

    // Every session from before the verification is gone; the attacker's password fails as
    // a wrong one does.
    for cookie in [&attacker, &second] {
        assert_eq!(app.get("/get-session", Some(cookie)).await.json(), Json::Null, "{label}");
        assert_eq!(app.get("/token", Some(cookie)).await.status, 401, "{label}");
    }
    assert_eq!(count(&pool, "session").await, 1, "{label}: only fresh@'s session is left");
    let stale = sign_in(&app, VICTIM, ATTACKER_PASSWORD).await;
    let wrong = sign_in(&app, VICTIM, "never-was-the-password").await;
    assert_eq!((stale.status, stale.text.clone()), (wrong.status, wrong.text), "{label}");
    assert_eq!(code(&stale), (401, "INVALID_EMAIL_OR_PASSWORD".into()), "{label}");

    // The owner sets a password through the emailed link; tokens name the adopted app user.
    let r = app.post("/request-password-reset", json!({"email": VICTIM, "redirectTo": "/reset"}), None).await;
    assert_eq!(r.status, 200, "{label}: {}", r.text);
    let reset = emailed_token(&app, "reset-password", VICTIM).await;
    let r = app.post("/reset-password", json!({"newPassword": "owner-password-1", "token": reset}), None).await;
    assert_eq!(r.status, 200, "{label}: {}", r.text);
    let owner = sign_in(&app, VICTIM, "owner-password-1").await;
    assert_eq!(owner.json()["user"]["userId"], victim_app_id.as_str(), "{label}");
    let owner = owner.cookie_header();
    assert_eq!(sub(&app.get("/token", Some(&owner)).await), victim_app_id, "{label}");
    let convex = app.get("/convex/token", Some(&owner)).await;
    assert_eq!(sub(&convex), victim_app_id, "{label}");

    // Verifying an address that adopted nothing shuts nobody out.
    app.post("/send-verification-email", json!({"email": "fresh@example.com"}), Some(&other)).await;
    let token = emailed_token(&app, "verify-email", "fresh@example.com").await;
    let v = app.get(&format!("/verify-email?token={token}&callbackURL=%2Fwelcome"), None).await;
    assert!(v.headers["location"].to_str().unwrap().ends_with("/welcome"), "{label}");
    assert_eq!(app.get("/get-session", Some(&other)).await.json()["user"]["emailVerified"], true, "{label}");
    assert!(sign_in(&app, "fresh@example.com", "password-123").await.status == 200, "{label}");
}

#[tokio::test]
async fn pre_hijacking_fails_with_sql_hooks_on_every_backend() {
    for d in dialects("adoption with SQL hooks") {
        pre_hijacking_on(d, false).await;
    }
}

#[tokio::test]
async fn pre_hijacking_fails_with_rust_hooks_on_every_backend() {
    for d in dialects("adoption with Rust hooks") {
        pre_hijacking_on(d, true).await;
    }
}

/// A verification whose adoption fails (here the app's query refuses it) leaves the email
/// unverified and every session and the password in place: one transaction.
#[tokio::test]
async fn a_failed_adoption_leaves_the_email_unverified() {
    let (url, pool) = app_database(Dialect::Sqlite).await;
    raw(&pool)
        .sql("INSERT INTO app_users (email, name) VALUES (:e, 'Victim')", &Record::new().with("e", VICTIM))
        .await
        .unwrap();
    let fails_on_verify = |cfg: &mut Config| {
        let user = ModelHooksConfig {
            adopt: Some(
                "SELECT id, CASE WHEN :emailVerified THEN 'ADOPTION_CLOSED' END AS error_code \
                 FROM app_users WHERE email = :email"
                    .into(),
            ),
            ..Default::default()
        };
        cfg.hooks.insert("user".into(), user);
        tokens_name_app_users(cfg);
    };
    let app = serve(url, fails_on_verify, Hooks::new()).await;
    let (cookie, _) = app.sign_up(VICTIM, ATTACKER_PASSWORD).await;
    app.post("/send-verification-email", json!({"email": VICTIM}), Some(&cookie)).await;
    let token = emailed_token(&app, "verify-email", VICTIM).await;
    let v = app.get(&format!("/verify-email?token={token}"), None).await;
    assert_eq!(code(&v), (400, "ADOPTION_CLOSED".into()), "{}", v.text);
    let s = app.get("/get-session", Some(&cookie)).await.json();
    assert_eq!((s["user"]["emailVerified"].as_bool(), s["user"]["userId"].as_str()), (Some(false), None));
    assert_eq!(sign_in(&app, VICTIM, ATTACKER_PASSWORD).await.status, 200);
}

/// Better Auth's `sendOnSignUp` (unset: follows `requireEmailVerification`) and `sendOnSignIn`.
#[tokio::test]
async fn verification_emails_on_sign_up_and_refused_sign_in() {
    let settle = || tokio::time::sleep(std::time::Duration::from_millis(300));
    let body = |email: &str| json!({"email": email, "password": "password-123", "name": "N", "callbackURL": "/hi"});

    // Defaults: no email on sign-up.
    let app = spawn_with(|_| {}).await;
    assert_eq!(app.post("/sign-up/email", body("a@example.com"), None).await.status, 200);
    settle().await;
    assert!(emails(&app, "verify-email", "a@example.com").is_empty());

    // send_on_sign_up: the link leads to the sign-up's callbackURL and verifies.
    let app = spawn_with(|c| c.email_verification.send_on_sign_up = Some(true)).await;
    assert_eq!(app.post("/sign-up/email", body("b@example.com"), None).await.status, 200);
    let token = emailed_token(&app, "verify-email", "b@example.com").await;
    let v = app.get(&format!("/verify-email?token={token}&callbackURL=%2Fhi"), None).await;
    assert!(v.headers["location"].to_str().unwrap().ends_with("/hi"));
    let log = std::fs::read_to_string(app.dir.path().join("emails.jsonl")).unwrap();
    assert!(log.contains("callbackURL=%2Fhi"), "{log}");

    // Required verification, send_on_sign_up unset: sent on sign-up (Better Auth's default);
    // a sign-in with the right password is refused and sends nothing without send_on_sign_in.
    let app = spawn_with(|c| c.email_and_password.require_email_verification = true).await;
    assert_eq!(app.post("/sign-up/email", body("c@example.com"), None).await.status, 200);
    emailed_token(&app, "verify-email", "c@example.com").await;
    assert_eq!(code(&sign_in(&app, "c@example.com", "password-123").await), (403, "EMAIL_NOT_VERIFIED".into()));
    settle().await;
    assert_eq!(emails(&app, "verify-email", "c@example.com").len(), 1);

    // send_on_sign_in: each refused sign-in with the right password sends a new link; a wrong
    // password sends nothing; send_on_sign_up = false sends nothing on sign-up.
    let app = spawn_with(|c| {
        c.email_and_password.require_email_verification = true;
        c.email_verification.send_on_sign_up = Some(false);
        c.email_verification.send_on_sign_in = true;
    })
    .await;
    assert_eq!(app.post("/sign-up/email", body("d@example.com"), None).await.status, 200);
    assert_eq!(
        code(&sign_in(&app, "d@example.com", "wrong-password").await),
        (401, "INVALID_EMAIL_OR_PASSWORD".into())
    );
    settle().await;
    assert!(emails(&app, "verify-email", "d@example.com").is_empty());
    assert_eq!(code(&sign_in(&app, "d@example.com", "password-123").await), (403, "EMAIL_NOT_VERIFIED".into()));
    let token = emailed_token(&app, "verify-email", "d@example.com").await;
    app.get(&format!("/verify-email?token={token}"), None).await;
    assert_eq!(sign_in(&app, "d@example.com", "password-123").await.status, 200);
}

/// The other way an email becomes verified: a social sign-in whose provider vouches for the
/// address links to the local user (here allowed while the local email is unverified). The
/// adoption runs then, and the pre-hijacker's sessions and password go in that transaction.
#[tokio::test]
async fn a_social_sign_in_that_verifies_the_email_adopts_and_shuts_out_the_rest() {
    use crate::social::{loc, node, presets_toml, session_cookie, spawn_toml, sql, start, state_of};
    let Some(presets) = node("presets.mjs").await else { return };
    let hooks = r#"
[account.account_linking]
require_local_email_verified = false

[hooks.user]
adopt = "SELECT id FROM app_users WHERE email = :email"
after_create = "INSERT INTO app_users (email) VALUES (:email) RETURNING id"
"#;
    let app = spawn_toml(&format!("{}{hooks}", presets_toml(&presets.url))).await;
    sql(&app, "CREATE TABLE app_users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT UNIQUE)").await;
    sql(&app, "INSERT INTO app_users (id, email) VALUES (42, 'octocat@github.example')").await;

    let (attacker, user) = app.sign_up("octocat@github.example", ATTACKER_PASSWORD).await;
    assert_eq!(user["userId"], Json::Null, "deferred");
    let (url, cookie) = start(&app, json!({"provider": "github", "callbackURL": "/home"})).await;
    let r = app.get(&format!("/callback/github?code=gh-octocat&state={}", state_of(&url)), Some(&cookie)).await;
    assert_eq!(loc(&r), "/home", "{}", r.text);
    let owner = app.get("/get-session", Some(&session_cookie(&r))).await.json()["user"].clone();
    assert_eq!((owner["userId"].as_str(), owner["emailVerified"].as_bool()), (Some("42"), Some(true)));
    assert_eq!(app.get("/get-session", Some(&attacker)).await.json(), Json::Null);
    assert_eq!(code(&sign_in(&app, "octocat@github.example", ATTACKER_PASSWORD).await).0, 401);
    assert_eq!(app.count("session").await, 1, "only the provider sign-in's session");
}
