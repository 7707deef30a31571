//! `[schema]`: additional fields through sign-up, update-user and every response; fields with
//! `input = false` that no client can set; renamed tables; `uuid` and `serial` ids on the wire.

use palisade::config::Config;
use palisade::store::schema_config::SchemaConfig;
use serde_json::{Value, json};

use crate::harness::{TestApp, spawn_with};

/// `[schema]` as palisade.toml would carry it, loaded through the real configuration path.
fn schema(toml: &str) -> SchemaConfig {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("palisade.toml");
    std::fs::write(&path, toml).expect("write config");
    Config::load(Some(&path)).expect("valid configuration").schema
}

async fn spawn_schema(toml: &str) -> TestApp {
    let s = schema(toml);
    spawn_with(move |cfg| cfg.schema = s).await
}

const FIELDS: &str = r#"
[schema.user.additional_fields.role]
type = "string"
default = "member"
input = false
[schema.user.additional_fields.lang]
type = "string"
default = "en"
[schema.user.additional_fields.age]
type = "number"
[schema.user.additional_fields.born]
type = "date"
[schema.user.additional_fields.prefs]
type = "json"
[schema.user.additional_fields.tags]
type = "string[]"
[schema.session.additional_fields.device]
type = "string"
default = "web"
input = false
"#;

fn sign_up_body(email: &str, extra: Value) -> Value {
    let mut body = json!({"email": email, "password": "password-123", "name": "T"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

/// One column of a table's only row, straight from the database.
async fn stored(app: &TestApp, table: &str, column: &str) -> Option<String> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path().display())).await.unwrap();
    let sql = format!("select \"{column}\" from \"{table}\"");
    let v: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&pool).await.unwrap();
    pool.close().await;
    v
}

#[tokio::test]
async fn sign_up_stores_additional_fields_and_every_response_carries_them() {
    let app = spawn_schema(FIELDS).await;
    let extra = json!({"age": 30, "born": "2000-01-02T03:04:05.006Z", "prefs": {"theme": "dark"}, "tags": ["a", "b"]});
    let r = app.post("/sign-up/email", sign_up_body("f@example.com", extra), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let user = r.json()["user"].clone();
    let keys: Vec<&str> = user.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "name",
            "email",
            "emailVerified",
            "image",
            "createdAt",
            "updatedAt",
            "twoFactorEnabled",
            "age",
            "born",
            "lang",
            "prefs",
            "role",
            "tags",
            "id"
        ],
        "Better Auth's order: model fields, plugin fields, additional fields, id last"
    );
    assert_eq!(user["role"], "member");
    assert_eq!(user["lang"], "en");
    assert_eq!(user["age"], 30);
    assert_eq!(user["born"], "2000-01-02T03:04:05.006Z");
    assert_eq!(user["prefs"], json!({"theme": "dark"}));
    assert_eq!(user["tags"], json!(["a", "b"]));
    // Stored as JSON text on SQLite.
    assert_eq!(stored(&app, "user", "tags").await.as_deref(), Some(r#"["a","b"]"#));

    let cookie = r.cookie_header();
    let s = app.get("/get-session", Some(&cookie)).await.json();
    assert_eq!(s["user"], user);
    assert_eq!(s["session"]["device"], "web", "session additional fields get their default");
    let signin = app.post("/sign-in/email", json!({"email": "f@example.com", "password": "password-123"}), None).await;
    assert_eq!(signin.json()["user"]["tags"], json!(["a", "b"]));
    let listed = app.get("/list-sessions", Some(&cookie)).await.json();
    assert_eq!(listed[0]["device"], "web");
}

#[tokio::test]
async fn additional_fields_are_type_checked_like_zod() {
    let app = spawn_schema(FIELDS).await;
    let bad = json!({"age": "thirty", "born": "yesterday", "tags": ["a", 2], "lang": null, "prefs": [1]});
    let r = app.post("/sign-up/email", sign_up_body("v@example.com", bad), None).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({
            "code": "VALIDATION_ERROR",
            "message": "[body.age] Invalid input: expected number, received string; \
                        [body.born] Invalid input: expected date, received string; \
                        [body.tags.1] Invalid input: expected string, received number"
        })
    );
    let r = app.post("/sign-up/email", sign_up_body("v@example.com", json!({"age": 1.5})), None).await;
    assert_eq!(r.json()["message"], "[body.age] Invalid input: expected int, received number");
    let r = app.post("/sign-up/email", sign_up_body("v@example.com", json!({"tags": "a"})), None).await;
    assert_eq!(r.json()["message"], "[body.tags] Invalid input: expected array, received string");
    // A null optional field is stored as null; nothing was created by the failures above.
    let ok = app.post("/sign-up/email", sign_up_body("v@example.com", json!({"lang": null})), None).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json()["user"]["lang"], Value::Null);
    assert_eq!(app.count("user").await, 1);
}

#[tokio::test]
async fn required_fields_are_enforced_on_sign_up_only() {
    let app = spawn_schema(
        r#"
        [schema.user.additional_fields.plan]
        type = "string"
        required = true
        [schema.user.additional_fields.tier]
        type = "number"
        required = true
        default = 1
        "#,
    )
    .await;
    let r = app.post("/sign-up/email", sign_up_body("q@example.com", json!({})), None).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "[body.plan] Invalid input: expected string, received undefined");
    let r = app.post("/sign-up/email", sign_up_body("q@example.com", json!({"plan": "pro"})), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.json()["user"]["plan"].clone(), r.json()["user"]["tier"].clone()), (json!("pro"), json!(1)));
    let cookie = r.cookie_header();
    let u = app.post("/update-user", json!({"name": "N"}), Some(&cookie)).await;
    assert_eq!(u.status, 200, "a required field need not be sent again: {}", u.text);
    let u = app.post("/update-user", json!({"plan": null}), Some(&cookie)).await;
    assert_eq!(u.json()["message"], "[body.plan] Invalid input: expected string, received null");
}

#[tokio::test]
async fn update_user_sets_additional_fields() {
    let app = spawn_schema(FIELDS).await;
    let r = app.post("/sign-up/email", sign_up_body("u@example.com", json!({})), None).await;
    let cookie = r.cookie_header();
    let u = app.post("/update-user", json!({"lang": "de", "tags": ["x"], "age": null}), Some(&cookie)).await;
    assert_eq!(u.json(), json!({"status": true}));
    let user = app.get("/get-session", Some(&cookie)).await.json()["user"].clone();
    assert_eq!(
        (user["lang"].clone(), user["tags"].clone(), user["age"].clone()),
        (json!("de"), json!(["x"]), Value::Null)
    );
    let bad = app.post("/update-user", json!({"lang": 5}), Some(&cookie)).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["message"], "[body.lang] Invalid input: expected string, received number");
}

/// The hidden-field test (issue 3): a field with `input = false` is never set by a client.
#[tokio::test]
async fn input_false_fields_cannot_be_set_by_any_client_route() {
    let app = spawn_schema(FIELDS).await;
    let attack = json!({"role": "admin", "device": "evil", "emailVerified": true});
    let r = app.post("/sign-up/email", sign_up_body("h@example.com", attack.clone()), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["user"]["role"], "member");
    assert_eq!(r.json()["user"]["emailVerified"], false);
    let cookie = r.cookie_header();

    // Alone, a hidden field is an empty update.
    let only = app.post("/update-user", json!({"role": "admin"}), Some(&cookie)).await;
    assert_eq!((only.status, only.json()), (400, json!({"message": "No fields to update"})));
    let mixed = app.post("/update-user", json!({"name": "H", "role": "admin"}), Some(&cookie)).await;
    assert_eq!(mixed.status, 200, "{}", mixed.text);

    // Every other route that takes a body ignores it too.
    let with = |mut body: Value| {
        if let (Some(b), Some(a)) = (body.as_object_mut(), attack.as_object()) {
            b.extend(a.clone());
        }
        body
    };
    let routes = [
        ("/sign-in/email", json!({"email": "h@example.com", "password": "password-123"})),
        ("/get-session", json!({})),
        ("/change-password", json!({"currentPassword": "password-123", "newPassword": "password-456"})),
        ("/change-email", json!({"newEmail": "h2@example.com"})),
        ("/send-verification-email", json!({"email": "h@example.com"})),
        ("/request-password-reset", json!({"email": "h@example.com"})),
        ("/revoke-other-sessions", json!({})),
        ("/two-factor/enable", json!({"password": "password-456"})),
    ];
    for (path, body) in routes {
        let r = app.post(path, with(body), Some(&cookie)).await;
        assert!(r.status < 500, "{path}: {} {}", r.status, r.text);
    }
    let signin = app.post("/sign-in/email", json!({"email": "h@example.com", "password": "password-456"}), None).await;
    assert_eq!(signin.status, 200, "{}", signin.text);
    let session = app.get("/get-session", Some(&signin.cookie_header())).await.json();
    assert_eq!(session["user"]["role"], "member");
    assert_eq!(session["session"]["device"], "web");
    assert_eq!(stored(&app, "user", "role").await.as_deref(), Some("member"));
}

#[tokio::test]
async fn renamed_tables_and_columns_serve_every_flow() {
    let app = spawn_schema(
        r#"
        [schema.user]
        model_name = "users"
        fields = { email = "email_address", emailVerified = "email_verified", lang = "language" }
        [schema.user.additional_fields.lang]
        type = "string"
        default = "en"
        [schema.session]
        model_name = "sessions"
        fields = { userId = "user_id", token = "session_token" }
        [schema.account]
        model_name = "accounts"
        fields = { userId = "user_id", password = "password_hash" }
        "#,
    )
    .await;
    let (cookie, user) = app.sign_up("Ren@Example.com", "password-123").await;
    assert_eq!((user["email"].clone(), user["lang"].clone()), (json!("ren@example.com"), json!("en")));
    assert_eq!(app.get("/get-session", Some(&cookie)).await.json()["user"]["id"], user["id"]);
    let signin =
        app.post("/sign-in/email", json!({"email": "ren@example.com", "password": "password-123"}), None).await;
    assert_eq!(signin.status, 200, "{}", signin.text);
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("sessions").await, 2);
    assert_eq!(stored(&app, "users", "language").await.as_deref(), Some("en"));
    assert!(stored(&app, "accounts", "password_hash").await.is_some_and(|h| h.len() == 161));
}

#[tokio::test]
async fn serial_ids_are_strings_on_the_wire() {
    let app = spawn_schema("[schema]\nid_strategy = \"serial\"\n").await;
    let (cookie, user) = app.sign_up("s1@example.com", "password-123").await;
    assert_eq!(user["id"], "1");
    let (_, second) = app.sign_up("s2@example.com", "password-123").await;
    assert_eq!(second["id"], "2");
    let s = app.get("/get-session", Some(&cookie)).await;
    assert_eq!(s.status, 200);
    let body = s.json();
    assert_eq!((body["user"]["id"].clone(), body["session"]["userId"].clone()), (json!("1"), json!("1")));
    assert_eq!(body["session"]["id"], "1");
    assert!(s.headers.get("set-auth-jwt").is_some(), "the jwks row got a generated id too");
    let upd = app.post("/update-user", json!({"name": "One"}), Some(&cookie)).await;
    assert_eq!(upd.status, 200);
    assert_eq!(app.get("/get-session", Some(&cookie)).await.json()["user"]["name"], "One");
    let out = app.post("/sign-out", json!({}), Some(&cookie)).await;
    assert_eq!(out.status, 200);
    assert_eq!(app.get("/get-session", Some(&cookie)).await.text, "null");
}

#[tokio::test]
async fn uuid_ids_on_the_wire() {
    let app = spawn_schema("[schema]\nid_strategy = \"uuid\"\n").await;
    let (cookie, user) = app.sign_up("u1@example.com", "password-123").await;
    let id = user["id"].as_str().unwrap_or_default().to_string();
    assert!(palisade::store::schema::is_uuid(&id) && id.as_bytes()[14] == b'4', "{id}");
    let body = app.get("/get-session", Some(&cookie)).await.json();
    assert_eq!(body["user"]["id"], id.as_str());
    assert_eq!(body["session"]["userId"], id.as_str());
    assert!(palisade::store::schema::is_uuid(body["session"]["id"].as_str().unwrap_or_default()));
}
