//! Social sign-in end to end. The OpenID Connect provider is the real `oidc-provider`
//! (tests/oidc/provider.mjs), driven through its login and consent pages by HTTP like a
//! browser; GitHub and Google are a local server answering with their documented shapes
//! (tests/oidc/presets.mjs), since their hosts cannot be reached from here.

use std::path::Path;
use std::process::Stdio;

use palisade::config::Config;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use palisade::testing::{Service, require};

use crate::harness::{Resp, SECRET, TestApp, spawn_with};

const CLIENT_ID: &str = "palisade-test";
const CLIENT_SECRET: &str = "palisade-test-secret-0123456789";

/// A Node test server from tests/oidc, stopped when dropped.
pub(crate) struct NodeServer {
    _child: Child,
    pub(crate) url: String,
}

/// `script` started, or `None` (and one line saying so) when this run has no `TEST_OIDC`.
pub(crate) async fn node(script: &str) -> Option<NodeServer> {
    require(Service::Oidc, "social sign-in")?;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
    assert!(
        dir.join("node_modules/oidc-provider").exists(),
        "tests/oidc/node_modules is missing: run `npm ci` in tests/oidc (scripts/test.sh does)"
    );
    let mut child = Command::new("node")
        .arg(script)
        .arg("0")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node is installed");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = loop {
        let line = lines.next_line().await.expect("read").unwrap_or_else(|| panic!("{script} exited early"));
        if let Some(u) = line.strip_prefix("READY ") {
            break u.to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(NodeServer { _child: child, url })
}

/// The server with `toml` (social providers, account and schema sections) loaded through the
/// real configuration path.
pub(crate) async fn spawn_toml(toml: &str) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("palisade.toml");
    std::fs::write(&path, toml).expect("write config");
    let loaded = Config::load(Some(&path)).expect("valid configuration");
    spawn_with(move |cfg| {
        cfg.social_providers = loaded.social_providers;
        cfg.account = loaded.account;
        cfg.schema = loaded.schema;
        cfg.hooks = loaded.hooks;
        cfg.plugins = loaded.plugins;
    })
    .await
}

fn oidc_toml(issuer: &str, extra: &str) -> String {
    format!(
        r#"
[social_providers.oidc]
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
map_profile = {{ firstName = ["given_name", "name|first"], lastName = ["family_name", "name|rest"] }}

[social_providers.oidc-tampered]
issuer = "{issuer}"
token_endpoint = "{issuer}/tampered/token"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"

[schema.user.additional_fields.firstName]
type = "string"
required = false
[schema.user.additional_fields.lastName]
type = "string"
required = false
{extra}"#
    )
}

/// A browser at the provider: keeps the provider's cookies, follows its redirects, and
/// submits its login and consent forms.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn location(r: &reqwest::Response, base: &str) -> String {
    let loc = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    if loc.starts_with('/') { format!("{base}{loc}") } else { loc }
}

/// From the authorization URL to the redirect back to Palisade (`…/callback/<id>?code=…`),
/// signing in as `login` when the provider asks.
async fn authorize(b: &reqwest::Client, issuer: &str, auth_url: &str, login: &str) -> String {
    let mut url = auth_url.to_string();
    for _ in 0..10 {
        if !url.starts_with(issuer) {
            return url;
        }
        let r = b.get(&url).send().await.expect("provider");
        if r.status().is_redirection() {
            url = location(&r, issuer);
            continue;
        }
        let html = r.text().await.unwrap();
        let action = html.split("action=\"").nth(1).and_then(|s| s.split('"').next()).expect("a form");
        let form: Vec<(&str, &str)> = if html.contains("name=\"prompt\" value=\"login\"") {
            vec![("prompt", "login"), ("login", login), ("password", "any")]
        } else {
            vec![("prompt", "consent")]
        };
        let target = url::Url::parse(&url).unwrap().join(action).unwrap();
        let r = b.post(target).form(&form).send().await.expect("submit");
        assert!(r.status().is_redirection(), "provider form: {}", r.status());
        url = location(&r, issuer);
    }
    panic!("the provider never redirected back");
}

fn state_cookie(r: &Resp) -> String {
    r.cookie_header().split("; ").find(|c| c.starts_with("better-auth.state=")).expect("state cookie").to_string()
}

/// Starts a flow: (authorization URL, state cookie).
pub(crate) async fn start(app: &TestApp, body: Value) -> (String, String) {
    let r = app.post("/sign-in/social", body, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    (r.json()["url"].as_str().unwrap().to_string(), state_cookie(&r))
}

/// Palisade's callback, as the browser follows the provider's redirect with its cookies.
async fn finish(app: &TestApp, callback_url: &str, cookie: Option<&str>) -> Resp {
    let path = callback_url.split("/api/auth").nth(1).expect("a Palisade URL");
    app.get(path, cookie).await
}

pub(crate) fn loc(r: &Resp) -> &str {
    r.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default()
}

pub(crate) fn session_cookie(r: &Resp) -> String {
    r.cookie_header().split("; ").find(|c| c.starts_with("better-auth.session_token=")).unwrap_or_default().to_string()
}

pub(crate) async fn sql(app: &TestApp, query: &str) -> Vec<sqlx::sqlite::SqliteRow> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path().display())).await.unwrap();
    let rows = sqlx::query(sqlx::AssertSqlSafe(query.to_string())).fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows
}

async fn one(app: &TestApp, query: &str) -> Option<String> {
    use sqlx::Row;
    sql(app, query).await.first().and_then(|r| r.try_get::<Option<String>, _>(0).ok().flatten())
}

/// A full sign-in through the provider: the callback's response.
async fn sign_in(app: &TestApp, b: &reqwest::Client, issuer: &str, login: &str, body: Value) -> Resp {
    let (url, cookie) = start(app, body).await;
    let back = authorize(b, issuer, &url, login).await;
    finish(app, &back, Some(&cookie)).await
}

#[tokio::test]
async fn oidc_new_user_sign_in_again_and_tokens() {
    let Some(idp) = node("provider.mjs").await else { return };
    let app = spawn_toml(&oidc_toml(&idp.url, "")).await;
    let body = json!({"provider": "oidc", "callbackURL": "/dashboard", "newUserCallbackURL": "/welcome"});

    // The start: {url, redirect}, Location, the signed state cookie, the state row.
    let r = app.post("/sign-in/social", body.clone(), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let url = r.json()["url"].as_str().unwrap().to_string();
    assert_eq!(r.json()["redirect"], true);
    assert_eq!(loc(&r), url);
    assert!(url.starts_with(&format!("{}/auth?response_type=code&client_id={CLIENT_ID}&state=", idp.url)), "{url}");
    for p in ["scope=openid+email+profile", "code_challenge_method=S256", "code_challenge=", "nonce=", "redirect_uri="]
    {
        assert!(url.contains(p), "{p} in {url}");
    }
    let set = r.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(
        set.iter().any(
            |c| c.starts_with("better-auth.state=") && c.ends_with("; Max-Age=300; Path=/; HttpOnly; SameSite=Lax")
        ),
        "{set:?}"
    );
    let state = url.split("state=").nth(1).unwrap().split('&').next().unwrap();
    let value = one(&app, &format!("select value from verification where identifier = 'auth-state:{state}'")).await;
    let value: Value = serde_json::from_str(&value.expect("state row")).unwrap();
    assert_eq!(value["callbackURL"], "/dashboard");
    assert_eq!(value["newUserURL"], "/welcome");
    assert_eq!(value["oauthState"], state);
    assert_eq!(value["codeVerifier"].as_str().unwrap().len(), 128);

    // A new user: created with the mapped profile, sent to newUserCallbackURL.
    let b = browser();
    let back = authorize(&b, &idp.url, &url, "ada.lovelace@example.com").await;
    assert!(back.contains("/api/auth/callback/oidc?code="), "{back}");
    let r = finish(&app, &back, Some(&state_cookie(&r))).await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert_eq!(loc(&r), "/welcome");
    let cookie = session_cookie(&r);
    assert!(!cookie.is_empty());
    let set = r.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(set.contains(&"better-auth.state=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax".to_string()), "{set:?}");
    let s = app.get("/get-session", Some(&cookie)).await.json();
    let user = &s["user"];
    assert_eq!(user["email"], "ada.lovelace@example.com");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["emailVerified"], true);
    assert_eq!(user["firstName"], "Ada");
    assert_eq!(user["lastName"], "Lovelace");
    let account = sql(
        &app,
        "select accountId, providerId, accessToken, refreshToken, idToken, accessTokenExpiresAt, scope from account",
    )
    .await;
    assert_eq!(account.len(), 1);
    {
        use sqlx::Row;
        let a = &account[0];
        assert_eq!(a.get::<String, _>(0), "ada.lovelace@example.com");
        assert_eq!(a.get::<String, _>(1), "oidc");
        assert!(a.get::<Option<String>, _>(2).is_some() && a.get::<Option<String>, _>(3).is_some());
        assert_eq!(a.get::<Option<String>, _>(4).unwrap().split('.').count(), 3);
        assert!(a.get::<Option<String>, _>(5).unwrap().ends_with('Z'));
        assert_eq!(a.get::<Option<String>, _>(6).as_deref(), Some("openid,email,profile"));
    }
    assert_eq!(app.count("verification").await, 0, "the state row is consumed");

    // Signing in again (the provider remembers the browser): the same user, callbackURL.
    let r = sign_in(&app, &b, &idp.url, "ada.lovelace@example.com", body.clone()).await;
    assert_eq!((r.status, loc(&r)), (302, "/dashboard"));
    assert_eq!((app.count("user").await, app.count("account").await, app.count("session").await), (1, 1, 2));

    // The linked account and its tokens.
    let list = app.get("/list-accounts", Some(&cookie)).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["providerId"], "oidc");
    assert_eq!(list[0]["scopes"], json!(["openid", "email", "profile"]));
    assert!(list[0].get("accessToken").is_none() && list[0].get("scope").is_none());
    let id = list[0]["id"].as_str().unwrap();
    let t = app.post("/get-access-token", json!({"accountId": id}), Some(&cookie)).await;
    assert_eq!(t.status, 200, "{}", t.text);
    let stored = one(&app, "select accessToken from account").await.unwrap();
    assert_eq!(t.json()["accessToken"], stored.as_str());
    let rt = app.post("/refresh-token", json!({"accountId": id}), Some(&cookie)).await;
    assert_eq!(rt.status, 200, "{}", rt.text);
    assert_ne!(rt.json()["accessToken"], stored.as_str(), "a new access token from the provider");
    assert_eq!(one(&app, "select accessToken from account").await.as_deref(), rt.json()["accessToken"].as_str());
    let info = app.get(&format!("/account-info?accountId={id}"), Some(&cookie)).await;
    assert_eq!(info.status, 200, "{}", info.text);
    assert_eq!(info.json()["user"]["email"], "ada.lovelace@example.com");
    assert_eq!(info.json()["data"]["sub"], "ada.lovelace@example.com");
    assert_eq!(info.json()["account"]["id"], id);
    let other = app.post("/get-access-token", json!({"accountId": "nope"}), Some(&cookie)).await;
    assert_eq!((other.status, other.json()["code"].as_str()), (400, Some("ACCOUNT_NOT_FOUND")));
    let last = app.post("/unlink-account", json!({"accountId": id}), Some(&cookie)).await;
    assert_eq!((last.status, last.json()["code"].as_str()), (400, Some("FAILED_TO_UNLINK_LAST_ACCOUNT")));
}

/// Verifies the address of a user who signed up with a password, through the real email link.
async fn verify_email(app: &TestApp, email: &str) {
    let r = app.post("/send-verification-email", json!({"email": email}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut url = None;
    for _ in 0..50 {
        let log = std::fs::read_to_string(app.dir.path().join("emails.jsonl")).unwrap_or_default();
        url = log
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|m| m["to"] == email)
            .and_then(|m| m["url"].as_str().map(String::from));
        if url.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let url = url.expect("verification email");
    let r = app.get(url.split("/api/auth").nth(1).unwrap(), None).await;
    assert!(r.status == 200 || r.status == 302, "{}", r.text);
}

#[tokio::test]
async fn oidc_links_existing_user_only_on_verified_email() {
    let Some(idp) = node("provider.mjs").await else { return };
    let app = spawn_toml(&oidc_toml(&idp.url, "")).await;
    let body = json!({"provider": "oidc", "callbackURL": "/home", "errorCallbackURL": "/oops"});

    // An email/password user whose address is not verified yet: no implicit linking.
    let (_, grace) = app.sign_up("grace.hopper@example.com", "password123").await;
    let r = sign_in(&app, &browser(), &idp.url, "grace.hopper@example.com", body.clone()).await;
    assert_eq!(loc(&r), "/oops?error=account_not_linked");
    assert!(session_cookie(&r).is_empty());
    // Verified locally and by the provider: the account is linked to the same user.
    verify_email(&app, "grace.hopper@example.com").await;
    let r = sign_in(&app, &browser(), &idp.url, "grace.hopper@example.com", body.clone()).await;
    assert_eq!(loc(&r), "/home");
    let s = app.get("/get-session", Some(&session_cookie(&r))).await.json();
    assert_eq!(s["user"]["id"], grace["id"]);
    let providers = sql(&app, "select providerId from account order by providerId").await;
    assert_eq!(providers.len(), 2, "credential + oidc");

    // The provider does not vouch for this address: refused, nothing linked or signed in.
    app.sign_up("unverified.user@example.com", "password123").await;
    verify_email(&app, "unverified.user@example.com").await;
    let sessions = app.count("session").await;
    let r = sign_in(&app, &browser(), &idp.url, "unverified.user@example.com", body.clone()).await;
    assert_eq!(loc(&r), "/oops?error=account_not_linked");
    assert_eq!(app.count("session").await, sessions);
    assert_eq!(
        one(&app, "select count(*) || '' from account where accountId = 'unverified.user@example.com'")
            .await
            .as_deref(),
        Some("0")
    );

    // Explicit linking while signed in, then unlinking.
    let (cookie, _) = app.sign_up("linus@example.com", "password123").await;
    let r = app.post("/link-social", json!({"provider": "oidc", "callbackURL": "/settings"}), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let state = format!("{}; {}", cookie, state_cookie(&r));
    let back = authorize(&browser(), &idp.url, r.json()["url"].as_str().unwrap(), "linus@example.com").await;
    let done = finish(&app, &back, Some(&state)).await;
    assert_eq!((done.status, loc(&done)), (302, "/settings"));
    let list = app.get("/list-accounts", Some(&cookie)).await.json();
    let oidc = list.as_array().unwrap().iter().find(|a| a["providerId"] == "oidc").expect("linked").clone();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let r = app.post("/unlink-account", json!({"accountId": oidc["id"]}), Some(&cookie)).await;
    assert_eq!(r.json(), json!({"status": true}));
    // Another user's provider account cannot be linked to a second user.
    let (other, _) = app.sign_up("someone@example.com", "password123").await;
    let r = app
        .post(
            "/link-social",
            json!({"provider": "oidc", "callbackURL": "/settings", "errorCallbackURL": "/oops"}),
            Some(&other),
        )
        .await;
    let state = format!("{}; {}", other, state_cookie(&r));
    let back = authorize(&browser(), &idp.url, r.json()["url"].as_str().unwrap(), "grace.hopper@example.com").await;
    let done = finish(&app, &back, Some(&state)).await;
    assert_eq!(loc(&done), "/oops?error=email_does_not_match");
}

#[tokio::test]
async fn oidc_refuses_tampered_state_replayed_code_and_bad_signature() {
    let Some(idp) = node("provider.mjs").await else { return };
    let app = spawn_toml(&oidc_toml(&idp.url, "")).await;
    let body = json!({"provider": "oidc", "callbackURL": "/home", "errorCallbackURL": "http://localhost:5173/error"});
    let b = browser();
    // The default error page, `{baseURL}/api/auth/error` (the test server's base URL names port 0).
    let error_page = "http://127.0.0.1:0/api/auth/error";

    // A tampered state names no flow: the default error page, no session.
    let (url, cookie) = start(&app, body.clone()).await;
    let back = authorize(&b, &idp.url, &url, "alan.kay@example.com").await;
    let state = back.split("state=").nth(1).unwrap().split('&').next().unwrap().to_string();
    let flipped = format!("{}{}", if state.starts_with('A') { "B" } else { "A" }, &state[1..]);
    let r = finish(&app, &back.replace(&state, &flipped), Some(&cookie)).await;
    assert_eq!((r.status, loc(&r)), (302, format!("{error_page}?error=state_mismatch").as_str()));
    assert!(session_cookie(&r).is_empty());
    // The right state from another browser (no state cookie): refused to the flow's error URL.
    let r = finish(&app, &back, None).await;
    assert_eq!(loc(&r), "http://localhost:5173/error?error=state_mismatch");
    // The genuine callback still completes once.
    let r = finish(&app, &back, Some(&cookie)).await;
    assert_eq!((r.status, loc(&r)), (302, "/home"));
    // Replaying it: the state is spent.
    let r = finish(&app, &back, Some(&cookie)).await;
    assert_eq!(loc(&r), format!("{error_page}?error=state_mismatch"));
    assert!(session_cookie(&r).is_empty());
    // Replaying its code in a fresh flow: the provider refuses the used code.
    let code = back.split("code=").nth(1).unwrap().split('&').next().unwrap();
    let (url2, cookie2) = start(&app, body.clone()).await;
    let state2 = url2.split("state=").nth(1).unwrap().split('&').next().unwrap();
    let r = app.get(&format!("/callback/oidc?code={code}&state={state2}"), Some(&cookie2)).await;
    assert_eq!(loc(&r), "http://localhost:5173/error?error=invalid_code");
    assert!(session_cookie(&r).is_empty());
    assert_eq!(app.count("session").await, 1);

    // The provider reports an error: passed on with its description.
    let (_, cookie3) = start(&app, body.clone()).await;
    let state3 =
        one(&app, "select substr(identifier, 12) from verification order by createdAt desc limit 1").await.unwrap();
    let r = app
        .get(
            &format!("/callback/oidc?error=access_denied&error_description=User%20said%20no&state={state3}"),
            Some(&cookie3),
        )
        .await;
    assert_eq!(loc(&r), "http://localhost:5173/error?error=access_denied&error_description=User+said+no");

    // An ID token whose signature does not verify: no user.
    let users = app.count("user").await;
    let tampered = json!({"provider": "oidc-tampered", "callbackURL": "/home", "errorCallbackURL": "/oops"});
    let r = sign_in(&app, &browser(), &idp.url, "mallory@example.com", tampered).await;
    assert_eq!(loc(&r), "/oops?error=unable_to_get_user_info");
    assert_eq!(app.count("user").await, users);

    // No open redirects, unknown providers.
    for (field, code) in [
        ("callbackURL", "INVALID_CALLBACK_URL"),
        ("errorCallbackURL", "INVALID_ERROR_CALLBACK_URL"),
        ("newUserCallbackURL", "INVALID_NEW_USER_CALLBACK_URL"),
    ] {
        let r = app.post("/sign-in/social", json!({"provider": "oidc", field: "https://evil.example/x"}), None).await;
        assert_eq!((r.status, r.json()["code"].as_str()), (403, Some(code)), "{field}");
    }
    let r = app.post("/sign-in/social", json!({"provider": "nope"}), None).await;
    assert_eq!(r.text, r#"{"message":"Provider not found","code":"PROVIDER_NOT_FOUND"}"#);
    assert_eq!(r.status, 404);
    let r = app.get("/callback/oidc", None).await;
    assert_eq!(loc(&r), format!("{error_page}?error=state_not_found"));
    let r = app.post("/sign-in/social", json!({"provider": "oidc", "scopes": "x"}), None).await;
    assert_eq!(r.json()["message"], "[body.scopes] Invalid input: expected array, received string");
    let r = app.get("/list-accounts", None).await;
    assert_eq!(r.status, 401);
}

pub(crate) fn presets_toml(base: &str) -> String {
    format!(
        r#"
[social_providers.github]
client_id = "gh-client"
client_secret = "gh-secret"
authorization_endpoint = "{base}/github/login/oauth/authorize"
token_endpoint = "{base}/github/login/oauth/access_token"
userinfo_endpoint = "{base}/github/user"
emails_endpoint = "{base}/github/user/emails"

[social_providers.google]
client_id = "google-client.apps.googleusercontent.com"
client_secret = "google-secret"
token_endpoint = "{base}/google/token"
jwks_uri = "{base}/google/oauth2/v3/certs"

[account]
encrypt_oauth_tokens = true
"#
    )
}

/// The state of a started flow (from its authorization URL).
pub(crate) fn state_of(url: &str) -> String {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned()
}

#[tokio::test]
async fn github_preset_against_its_documented_shapes() {
    let Some(presets) = node("presets.mjs").await else { return };
    let app = spawn_toml(&presets_toml(&presets.url)).await;
    let (url, cookie) = start(&app, json!({"provider": "github", "callbackURL": "/gh"})).await;
    assert!(url.starts_with(&format!(
        "{}/github/login/oauth/authorize?response_type=code&client_id=gh-client&state=",
        presets.url
    )));
    assert!(url.contains("scope=read%3Auser+user%3Aemail") && url.contains("code_challenge_method=S256"), "{url}");
    assert!(!url.contains("nonce="));
    let r = app.get(&format!("/callback/github?code=gh-octocat&state={}", state_of(&url)), Some(&cookie)).await;
    assert_eq!((r.status, loc(&r)), (302, "/gh"));
    let cookie = session_cookie(&r);
    let user = app.get("/get-session", Some(&cookie)).await.json()["user"].clone();
    assert_eq!(user["email"], "octocat@github.example", "the primary address from /user/emails");
    assert_eq!(user["emailVerified"], true);
    assert_eq!(user["name"], "The Octocat");
    assert_eq!(user["image"], "https://avatars.githubusercontent.com/u/583231?v=4");
    assert_eq!(one(&app, "select accountId from account").await.as_deref(), Some("583231"));
    let id = app.get("/list-accounts", Some(&cookie)).await.json()[0]["id"].as_str().unwrap().to_string();
    let info = app.get(&format!("/account-info?accountId={id}"), Some(&cookie)).await.json();
    assert_eq!(info["data"]["login"], "octocat");

    // No name: the login; an unverified primary address.
    let (url, cookie) = start(&app, json!({"provider": "github"})).await;
    let r = app.get(&format!("/callback/github?code=gh-ghost&state={}", state_of(&url)), Some(&cookie)).await;
    let user = app.get("/get-session", Some(&session_cookie(&r))).await.json()["user"].clone();
    assert_eq!((user["name"].as_str(), user["emailVerified"].as_bool()), (Some("ghost"), Some(false)));
    let home = loc(&r);
    assert!(
        home.starts_with("http://127.0.0.1:") && !home.contains("/api"),
        "no callbackURL: the base URL, not {home}"
    );

    // A code GitHub rejects (200 with an error member).
    let (url, cookie) = start(&app, json!({"provider": "github", "errorCallbackURL": "/e"})).await;
    let r = app.get(&format!("/callback/github?code=gh-nobody&state={}", state_of(&url)), Some(&cookie)).await;
    assert_eq!(loc(&r), "/e?error=invalid_code");
    // GitHub has no ID tokens.
    let r = app.post("/sign-in/social", json!({"provider": "github", "idToken": {"token": "x"}}), None).await;
    assert_eq!((r.status, r.json()["code"].as_str()), (404, Some("ID_TOKEN_NOT_SUPPORTED")));
}

#[tokio::test]
async fn google_preset_code_flow_id_token_and_encrypted_tokens() {
    let Some(presets) = node("presets.mjs").await else { return };
    let app = spawn_toml(&presets_toml(&presets.url)).await;
    let (url, cookie) = start(&app, json!({"provider": "google", "callbackURL": "/g"})).await;
    assert!(
        url.starts_with("https://accounts.google.com/o/oauth2/v2/auth?response_type=code&client_id=google-client"),
        "{url}"
    );
    assert!(url.contains("scope=email+profile+openid") && url.ends_with("&include_granted_scopes=true"), "{url}");
    let r = app
        .get(&format!("/callback/google?code=g-alan.turing@example.com&state={}", state_of(&url)), Some(&cookie))
        .await;
    assert_eq!((r.status, loc(&r)), (302, "/g"));
    let cookie = session_cookie(&r);
    let user = app.get("/get-session", Some(&cookie)).await.json()["user"].clone();
    assert_eq!((user["name"].as_str(), user["emailVerified"].as_bool()), (Some("Alan Turing"), Some(true)));
    assert_eq!(user["image"], "https://lh3.googleusercontent.com/a/alan.turing");

    // Tokens at rest are encrypted (WIRE.md §15.4) and come back in clear.
    let stored = one(&app, "select accessToken from account").await.unwrap();
    assert!(!stored.starts_with("ya29.") && stored.bytes().all(|b| b.is_ascii_hexdigit()), "{stored}");
    let clear = palisade::crypto::symmetric::decrypt(SECRET.as_bytes(), &stored).expect("decrypts with the secret");
    assert!(clear.starts_with("ya29."), "{clear}");
    let id = app.get("/list-accounts", Some(&cookie)).await.json()[0]["id"].as_str().unwrap().to_string();
    let t = app.post("/get-access-token", json!({"accountId": id}), Some(&cookie)).await.json();
    assert!(t["accessToken"].as_str().unwrap().starts_with("ya29.a0-alan.turing@example.com"), "{t}");
    assert!(t["idToken"].as_str().is_some());
    let refresh = one(&app, "select refreshToken from account").await.unwrap();
    assert!(!refresh.starts_with("1//"));
    let rt = app.post("/refresh-token", json!({"accountId": id}), Some(&cookie)).await.json();
    assert_eq!(rt["refreshToken"], "1//r-alan.turing@example.com", "{rt}");

    // Sign-in with an ID token the front end got from Google.
    let token = reqwest::get(format!("{}/google/test/id-token?email=grace@example.com&nonce=n-1", presets.url))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post("/sign-in/social", json!({"provider": "google", "idToken": {"token": token, "nonce": "n-1"}}), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["redirect"], false);
    assert_eq!(r.json()["user"]["email"], "grace@example.com");
    assert!(!session_cookie(&r).is_empty());
    let wrong_nonce = app
        .post("/sign-in/social", json!({"provider": "google", "idToken": {"token": token, "nonce": "n-2"}}), None)
        .await;
    assert_eq!(wrong_nonce.text, r#"{"message":"Invalid token","code":"INVALID_TOKEN"}"#);
    let mut forged = token.clone();
    forged.push('x');
    let r = app.post("/sign-in/social", json!({"provider": "google", "idToken": {"token": forged}}), None).await;
    assert_eq!((r.status, r.json()["code"].as_str()), (401, Some("INVALID_TOKEN")));
}

/// Gradual migration with the built-in `adopt` hook: a verified social email adopts the app's
/// existing user; an email the provider did not verify is refused (nothing is written), as the
/// Convex integration's migration guide does.
#[tokio::test]
async fn adoption_refuses_an_email_the_provider_did_not_verify() {
    let Some(presets) = node("presets.mjs").await else { return };
    let hooks = r#"
[hooks.user]
adopt = "SELECT id FROM app_users WHERE email = :email"
after_create = "INSERT INTO app_users (email) VALUES (:email) RETURNING id"
"#;
    let app = spawn_toml(&format!("{}{hooks}", presets_toml(&presets.url))).await;
    sql(&app, "CREATE TABLE app_users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT UNIQUE)").await;
    sql(&app, "INSERT INTO app_users (id, email) VALUES (41, 'ghost@github.example'), (42, 'octocat@github.example')")
        .await;

    // ghost's address is unverified at GitHub: refused, and no auth row is left.
    let (url, cookie) = start(&app, json!({"provider": "github", "errorCallbackURL": "/e"})).await;
    let r = app.get(&format!("/callback/github?code=gh-ghost&state={}", state_of(&url)), Some(&cookie)).await;
    assert_eq!(loc(&r), "/e?error=account_not_linked");
    assert_eq!(one(&app, "select count(*) || '' from user").await.as_deref(), Some("0"));
    assert_eq!(one(&app, "select count(*) || '' from account").await.as_deref(), Some("0"));

    // octocat's is verified: the app's user 42 is adopted, no app row is added.
    let (url, cookie) = start(&app, json!({"provider": "github"})).await;
    let r = app.get(&format!("/callback/github?code=gh-octocat&state={}", state_of(&url)), Some(&cookie)).await;
    let user = app.get("/get-session", Some(&session_cookie(&r))).await.json()["user"].clone();
    assert_eq!((user["email"].as_str(), user["userId"].as_str()), (Some("octocat@github.example"), Some("42")));
    assert_eq!(one(&app, "select count(*) || '' from app_users").await.as_deref(), Some("2"));

    // An email/password sign-up with a new address gets a new app row.
    let body = json!({"email": "new@example.com", "password": "password-123", "name": "New"});
    let r = app.post("/sign-up/email", body, None).await;
    assert_eq!(r.json()["user"]["userId"], "43");
}

/// Cross-domain mode: the provider's callback redirects to the SPA (relative callbackURL made
/// absolute on the site URL) with `?ott=`, which the SPA exchanges once for the session.
#[tokio::test]
async fn social_callback_hands_the_session_to_the_spa_with_a_one_time_token() {
    let Some(presets) = node("presets.mjs").await else { return };
    let toml =
        format!("{}\n[plugins]\ncross_domain_site_url = \"http://localhost:5173\"\n", presets_toml(&presets.url));
    let app = spawn_toml(&toml).await;
    let (url, cookie) = start(&app, json!({"provider": "github", "callbackURL": "/gh"})).await;
    let r = app.get(&format!("/callback/github?code=gh-octocat&state={}", state_of(&url)), Some(&cookie)).await;
    assert_eq!(r.status, 302);
    let ott =
        loc(&r).strip_prefix("http://localhost:5173/gh?ott=").unwrap_or_else(|| panic!("{}", loc(&r))).to_string();
    let s = app.post("/cross-domain/one-time-token/verify", json!({"token": ott}), None).await;
    assert_eq!(s.json()["user"]["email"], "octocat@github.example", "{}", s.text);
    let again = app.post("/cross-domain/one-time-token/verify", json!({"token": ott}), None).await;
    assert_eq!(again.status, 400);
    // A failed callback hands nothing over.
    let (url, cookie) = start(&app, json!({"provider": "github", "errorCallbackURL": "/e"})).await;
    let r = app.get(&format!("/callback/github?code=gh-nobody&state={}", state_of(&url)), Some(&cookie)).await;
    assert!(!loc(&r).contains("ott="), "{}", loc(&r));
}
