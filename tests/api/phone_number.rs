//! The phone-number plugin (docs/plugins-wire.md §8): codes through the message file and
//! through a real HTTP gateway, attaching a number, signing in with it, and the ways a code
//! fails (expired, too many attempts, reused, raced), the unique number and the hooks on
//! sign-up and update-user.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, Uri};
use palisade::config::Config;
use palisade::plugins::phone_number::PhoneNumberConfig;
use palisade::plugins::phone_number::sms::SmsTransport;
use serde_json::{Value, json};

use crate::harness::{TestApp, spawn_with};

fn enabled(cfg: &mut Config) {
    cfg.edit(|p: &mut PhoneNumberConfig| p.enabled = true);
}

/// The last code texted to `number`, from the message file.
fn last_code(app: &TestApp, number: &str) -> Option<String> {
    let text = std::fs::read_to_string(app.dir.path().join("emails.jsonl")).unwrap_or_default();
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|m| m["kind"] == "phone-otp" && m["to"] == number)
        .map(|m| m["code"].as_str().unwrap().to_string())
}

async fn send(app: &TestApp, number: &str) -> String {
    let r = app.post("/phone-number/send-otp", json!({ "phoneNumber": number }), None).await;
    assert_eq!((r.status, r.json()), (200, json!({"message": "code sent"})), "{}", r.text);
    last_code(app, number).expect("a phone-otp line")
}

async fn verify(app: &TestApp, body: Value, cookie: Option<&str>) -> (u16, Value) {
    let r = app.post("/phone-number/verify", body, cookie).await;
    (r.status, r.json())
}

fn code_of(v: &Value) -> &str {
    v["code"].as_str().unwrap_or_default()
}

/// A signed-up user with `number` attached and verified: (cookie, user id).
async fn with_number(app: &TestApp, email: &str, number: &str) -> (String, String) {
    let (cookie, user) = app.sign_up(email, "phone-pass-123").await;
    let code = send(app, number).await;
    let (status, body) =
        verify(app, json!({"phoneNumber": number, "code": code, "updatePhoneNumber": true}), Some(&cookie)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["user"]["phoneNumber"].as_str(), &body["user"]["phoneNumberVerified"]),
        (Some(number), &json!(true))
    );
    (cookie, user["id"].as_str().unwrap().to_string())
}

async fn sql(app: &TestApp, query: &str) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path().display())).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(query.to_string())).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn attach_verify_and_sign_in_with_the_number() {
    let app = spawn_with(enabled).await;
    let (_, id) = with_number(&app, "phone@example.com", "+15550100").await;
    // The number's code signs its user in.
    let code = send(&app, "+15550100").await;
    let (status, body) = verify(&app, json!({"phoneNumber": "+15550100", "code": code}), None).await;
    assert_eq!((status, body["user"]["id"].as_str()), (200, Some(id.as_str())));
    assert!(body["token"].is_string());
    let r = app
        .post("/sign-in/phone-number", json!({"phoneNumber": "+15550100", "password": "phone-pass-123"}), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let keys: Vec<String> = r.json().as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["token", "user"]);
    let s = app.get("/get-session", Some(&r.cookie_header())).await.json();
    assert_eq!(s["user"]["phoneNumber"], "+15550100");
    let wrong =
        app.post("/sign-in/phone-number", json!({"phoneNumber": "+15550100", "password": "nope-nope-1"}), None).await;
    assert_eq!((wrong.status, code_of(&wrong.json())), (401, "INVALID_PHONE_NUMBER_OR_PASSWORD"));
}

#[tokio::test]
async fn expired_code_is_refused_and_removed() {
    let app = spawn_with(enabled).await;
    let code = send(&app, "+15550101").await;
    sql(&app, "update verification set expiresAt = '2000-01-01T00:00:00.000Z' where identifier = 'phone-number-otp-+15550101'")
        .await;
    let (status, body) = verify(&app, json!({"phoneNumber": "+15550101", "code": code}), None).await;
    assert_eq!((status, code_of(&body)), (400, "OTP_EXPIRED"));
    let (status, body) = verify(&app, json!({"phoneNumber": "+15550101", "code": code}), None).await;
    assert_eq!((status, code_of(&body)), (400, "OTP_NOT_FOUND"));
}

#[tokio::test]
async fn three_wrong_codes_then_too_many_attempts_and_a_used_code_is_gone() {
    let app = spawn_with(enabled).await;
    with_number(&app, "tries@example.com", "+15550102").await;
    let code = send(&app, "+15550102").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for n in 1..=3 {
        let (status, body) = verify(&app, json!({"phoneNumber": "+15550102", "code": wrong}), None).await;
        assert_eq!((status, code_of(&body)), (400, "INVALID_OTP"), "attempt {n}");
    }
    let (status, body) = verify(&app, json!({"phoneNumber": "+15550102", "code": code}), None).await;
    assert_eq!((status, code_of(&body)), (403, "TOO_MANY_ATTEMPTS"));
    assert_eq!(app.count("verification").await, 0);
    // Reuse: a right code works once.
    let code = send(&app, "+15550102").await;
    let body = json!({"phoneNumber": "+15550102", "code": code, "disableSession": true});
    assert_eq!(verify(&app, body.clone(), None).await.0, 200);
    let (status, body) = verify(&app, body, None).await;
    assert_eq!((status, code_of(&body)), (400, "OTP_NOT_FOUND"));
}

#[tokio::test]
async fn parallel_requests_use_a_code_once_and_count_every_wrong_guess() {
    let app = Arc::new(spawn_with(enabled).await);
    with_number(&app, "race@example.com", "+15550103").await;
    let code = send(&app, "+15550103").await;
    let body = json!({"phoneNumber": "+15550103", "code": code, "disableSession": true});
    let tries = (0..6).map(|_| {
        let (app, body) = (app.clone(), body.clone());
        tokio::spawn(async move { verify(&app, body, None).await.0 })
    });
    let statuses: Vec<u16> = futures_join(tries).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    let code = send(&app, "+15550103").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let tries = (0..8).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { verify(&app, json!({"phoneNumber": "+15550103", "code": wrong}), None).await })
    });
    let answers: Vec<(u16, Value)> = futures_join(tries).await;
    let counted = answers.iter().filter(|(_, b)| code_of(b) == "INVALID_OTP").count();
    assert!(counted <= 3, "{answers:?}");
}

async fn futures_join<T: Send + 'static>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_number_belongs_to_one_user_and_is_set_only_by_verifying_it() {
    let app = spawn_with(enabled).await;
    with_number(&app, "owner@example.com", "+15550104").await;
    let (other, _) = app.sign_up("other@example.com", "phone-pass-123").await;
    let code = send(&app, "+15550104").await;
    let (status, body) =
        verify(&app, json!({"phoneNumber": "+15550104", "code": code, "updatePhoneNumber": true}), Some(&other)).await;
    assert_eq!((status, code_of(&body)), (400, "PHONE_NUMBER_EXIST"));
    assert_eq!(app.get("/get-session", Some(&other)).await.json()["user"]["phoneNumber"], Value::Null);
    // Straight into the table: the column is unique.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path().display())).await.unwrap();
    let dup = sqlx::query("update \"user\" set phoneNumber = '+15550104' where email = 'other@example.com'")
        .execute(&pool)
        .await;
    assert!(dup.is_err());
    pool.close().await;
    let body =
        json!({"email": "new@example.com", "password": "phone-pass-123", "name": "N", "phoneNumber": "+15550199"});
    let r = app.post("/sign-up/email", body, None).await;
    assert_eq!((r.status, code_of(&r.json())), (400, "PHONE_NUMBER_CANNOT_BE_SET"));
    let r = app.post("/update-user", json!({"phoneNumber": "+15550199"}), Some(&other)).await;
    assert_eq!((r.status, code_of(&r.json())), (400, "PHONE_NUMBER_CANNOT_BE_UPDATED"));
    let r = app.post("/update-user", json!({"phoneNumberVerified": true}), Some(&other)).await;
    assert_eq!((r.status, code_of(&r.json())), (400, "FIELD_NOT_ALLOWED"));
}

/// What the gateway received: path, auth header, body.
type Seen = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

/// An SMS gateway on 127.0.0.1:0 that records each request and answers `status`.
async fn gateway(status: StatusCode) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/{*path}",
        axum::routing::post(move |uri: Uri, headers: HeaderMap, body: axum::Json<Value>| {
            let record = record.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
                record.lock().unwrap().push((uri.path().to_string(), auth, body.0));
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/api/sms"), seen)
}

fn through_gateway(url: String) -> impl FnOnce(&mut Config) {
    move |cfg: &mut Config| {
        cfg.email.log = None;
        cfg.edit(|p: &mut PhoneNumberConfig| {
            p.enabled = true;
            p.sms.transport = Some(SmsTransport::Http);
            p.sms.url = Some(url);
            p.sms.auth_header = Some("Authorization".into());
            p.sms.auth_value = Some("Bearer gw-key".into());
            p.sms.message = "Your Palisade code: {code}".into();
        });
    }
}

#[tokio::test]
async fn codes_through_an_http_gateway() {
    let (url, seen) = gateway(StatusCode::ACCEPTED).await;
    let app = spawn_with(through_gateway(url)).await;
    let r = app.post("/phone-number/send-otp", json!({"phoneNumber": "+15550105"}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (path, auth, body) = seen.lock().unwrap()[0].clone();
    assert_eq!((path.as_str(), auth.as_deref()), ("/api/sms", Some("Bearer gw-key")));
    let code = body["code"].as_str().unwrap().to_string();
    assert_eq!(body, json!({"to": "+15550105", "code": code, "message": format!("Your Palisade code: {code}")}));
    // The code the gateway got is the stored one.
    let (cookie, _) = app.sign_up("gw@example.com", "phone-pass-123").await;
    let (status, _) =
        verify(&app, json!({"phoneNumber": "+15550105", "code": code, "updatePhoneNumber": true}), Some(&cookie)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_failing_gateway_is_a_clear_error_and_leaves_the_codes_as_they_were() {
    let (url, seen) = gateway(StatusCode::INTERNAL_SERVER_ERROR).await;
    let app = spawn_with(through_gateway(url)).await;
    let r = app.post("/phone-number/send-otp", json!({"phoneNumber": "+15550106"}), None).await;
    assert_eq!(r.status, 502, "{}", r.text);
    assert_eq!(r.json(), json!({"code": "FAILED_TO_SEND_OTP", "message": "Failed to send the code"}));
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(app.count("verification").await, 0);
}

#[tokio::test]
async fn unverified_numbers_get_a_code_instead_of_a_session_when_verification_is_required() {
    let app = spawn_with(|cfg| {
        cfg.edit(|p: &mut PhoneNumberConfig| {
            p.enabled = true;
            p.require_verification = true;
        })
    })
    .await;
    with_number(&app, "unverified@example.com", "+15550107").await;
    sql(&app, "update \"user\" set phoneNumberVerified = 0 where email = 'unverified@example.com'").await;
    let before = last_code(&app, "+15550107");
    let body = json!({"phoneNumber": "+15550107", "password": "phone-pass-123"});
    let r = app.post("/sign-in/phone-number", body.clone(), None).await;
    assert_eq!((r.status, code_of(&r.json())), (401, "PHONE_NUMBER_NOT_VERIFIED"));
    assert!(r.cookie_header().is_empty());
    let code = last_code(&app, "+15550107").unwrap();
    assert_ne!(Some(&code), before.as_ref());
    assert_eq!(verify(&app, json!({"phoneNumber": "+15550107", "code": code}), None).await.0, 200);
    assert_eq!(app.post("/sign-in/phone-number", body, None).await.status, 200);
}

#[tokio::test]
async fn password_reset_with_a_texted_code() {
    let app = spawn_with(|cfg| {
        cfg.edit(|p: &mut PhoneNumberConfig| {
            p.enabled = true;
            p.send_reset_codes = true;
        })
    })
    .await;
    with_number(&app, "reset@example.com", "+15550108").await;
    let r = app.post("/phone-number/request-password-reset", json!({"phoneNumber": "+15550108"}), None).await;
    assert_eq!((r.status, r.json()), (200, json!({"status": true})));
    // Texted after the answer.
    let mut code = None;
    for _ in 0..50 {
        let text = std::fs::read_to_string(app.dir.path().join("emails.jsonl")).unwrap_or_default();
        code = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|m| m["kind"] == "phone-reset-otp" && m["to"] == "+15550108")
            .map(|m| m["code"].as_str().unwrap().to_string());
        if code.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let code = code.expect("a phone-reset-otp line");
    let reset = |otp: &str, pw: &str| json!({"phoneNumber": "+15550108", "otp": otp, "newPassword": pw});
    let r = app.post("/phone-number/reset-password", reset(&code, "short"), None).await;
    assert_eq!((r.status, code_of(&r.json())), (400, "PASSWORD_TOO_SHORT"));
    let r = app.post("/phone-number/reset-password", reset(&code, "brand-new-pass-1"), None).await;
    assert_eq!((r.status, r.json()), (200, json!({"status": true})), "{}", r.text);
    let r = app.post("/phone-number/reset-password", reset(&code, "brand-new-pass-2"), None).await;
    assert_eq!((r.status, code_of(&r.json())), (400, "OTP_NOT_FOUND"));
    let sign_in = |pw: &str| json!({"phoneNumber": "+15550108", "password": pw});
    assert_eq!(app.post("/sign-in/phone-number", sign_in("brand-new-pass-1"), None).await.status, 200);
    assert_eq!(app.post("/sign-in/phone-number", sign_in("phone-pass-123"), None).await.status, 401);
    // An unknown number answers the same and is texted nothing.
    let r = app.post("/phone-number/request-password-reset", json!({"phoneNumber": "+15550199"}), None).await;
    assert_eq!((r.status, r.json()), (200, json!({"status": true})));
}
