//! Two-factor brute force (WIRE.md §9): codes guessed past the limits are refused with the
//! documented codes, the lock-out runs out after 15 minutes, and parallel guesses cannot get
//! past the limit. The clock is the `now` the plugin takes, so nothing sleeps. Real SQLite
//! (and PostgreSQL for the parallel case).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use palisade::auth::users::{self, SignUp};
use palisade::auth::{Auth, RequestMeta, User};
use palisade::config::Config;
use palisade::plugins::two_factor::{self as tf, MAX_CHALLENGE_ATTEMPTS, MAX_FAILED_VERIFICATIONS, Method, Subject};
use palisade::store::sql::Dialect;
use palisade::store::{Record, Where};
use palisade::testing::{available, fresh_database};

const PASSWORD: &str = "brute-force-pass-1";

struct Enrolled {
    auth: Arc<Auth>,
    user: User,
    key: Vec<u8>,
    backup: Vec<String>,
    _dir: tempfile::TempDir,
}

/// A user with TOTP active, on a fresh server context over `database_url` (SQLite if None).
async fn enrolled(database_url: Option<String>, t0: DateTime<Utc>) -> Enrolled {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg: Config = crate::harness::config(dir.path());
    cfg.database.url = database_url;
    if cfg.database.url.is_some() {
        let schema = std::sync::Arc::new(palisade::app::schema_for(&cfg, false).unwrap());
        palisade::app::open_store(&cfg, schema, palisade::app::OnSchema::Migrate, |_| {}).await.expect("migrate");
    }
    let auth = palisade::app::build(cfg).await.expect("server context");
    let meta = RequestMeta::default();
    let input = sign_up_input(&format!("brute-{}@example.com", palisade::crypto::random_id(8).to_lowercase()));
    let (user, session) = users::sign_up(&auth, input, &meta).await.expect("sign-up");
    let enabled = tf::enable(&auth, &user, PASSWORD.into(), "Palisade").await.expect("enable");
    let secret = enabled.totp_uri.split("secret=").nth(1).and_then(|s| s.split('&').next()).expect("secret in URI");
    let key = tf::base32_decode(secret).expect("base32");
    let subject = Subject::Session { session: session.expect("session"), user: user.clone(), dont_remember: false };
    tf::verify(&auth, subject, Method::Totp(tf::totp_at(&key, t0.timestamp())), false, &meta, t0)
        .await
        .expect("first code activates 2FA");
    let user = users::find_by_id(&auth, user.id()).await.expect("read").expect("user");
    Enrolled { auth: auth.auth.clone(), user, key, backup: enabled.backup_codes, _dir: dir }
}

/// A sign-up with the test password.
fn sign_up_input(email: &str) -> SignUp {
    SignUp {
        name: "Brute".into(),
        email: email.into(),
        password: PASSWORD.into(),
        image: None,
        remember_me: true,
        callback_url: None,
        additional: Record::new(),
    }
}

impl Enrolled {
    /// A six-digit code valid at no step of the accepted window around `at`.
    fn wrong_code(&self, at: DateTime<Utc>) -> String {
        let valid: Vec<String> = [-30, 0, 30].iter().map(|d| tf::totp_at(&self.key, at.timestamp() + d)).collect();
        (0..).map(|i| format!("{:06}", 111_111 * (i % 10))).find(|c| !valid.contains(c)).expect("a wrong code")
    }

    async fn challenge(&self, at: DateTime<Utc>) -> String {
        tf::start_challenge(&self.auth, self.user.id(), at).await.expect("challenge")
    }

    /// The outcome of one guess on `challenge` at `at`: Ok, or the error's (status, code).
    async fn guess(&self, challenge: &str, method: Method, at: DateTime<Utc>) -> Result<(), (u16, &'static str)> {
        let subject = Subject::Challenge { id: challenge.to_string(), user: self.user.clone(), dont_remember: false };
        match tf::verify(&self.auth, subject, method, false, &RequestMeta::default(), at).await {
            Ok(v) => {
                assert!(v.new_session.is_some(), "a completed challenge signs in");
                Ok(())
            }
            // The plugin's codes are static strings.
            Err(e) => Err((e.status, if let Some(std::borrow::Cow::Borrowed(c)) = e.code { c } else { "" })),
        }
    }

    async fn counter(&self) -> (i64, Option<DateTime<Utc>>) {
        let row = self.auth.store.find_one("twoFactor", &[Where::eq("userId", self.user.id())]).await.unwrap();
        let row = row.expect("twoFactor row");
        (row.int("failedVerificationCount").unwrap_or(0), row.date("lockedUntil"))
    }
}

/// Whole seconds, so stored dates compare exactly on every backend.
fn clock() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("valid time")
}

const INVALID_CODE: (u16, &str) = (401, "INVALID_CODE");
const LOCKED: (u16, &str) = (429, "ACCOUNT_TEMPORARILY_LOCKED");
const TOO_MANY: (u16, &str) = (400, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE");

#[tokio::test]
async fn guesses_past_the_limits_are_refused_and_the_lockout_expires() {
    let t0 = clock();
    let e = enrolled(None, t0).await;
    let wrong = e.wrong_code(t0);

    // Per challenge: five wrong codes, then a new sign-in is needed.
    let c1 = e.challenge(t0).await;
    for _ in 0..MAX_CHALLENGE_ATTEMPTS {
        assert_eq!(e.guess(&c1, Method::Totp(wrong.clone()), t0).await, Err(INVALID_CODE));
    }
    let right = tf::totp_at(&e.key, t0.timestamp());
    assert_eq!(e.guess(&c1, Method::Totp(right.clone()), t0).await, Err(TOO_MANY), "even the right code");
    assert_eq!(e.counter().await, (MAX_CHALLENGE_ATTEMPTS, None));

    // Per account: the tenth failure (across challenges, TOTP or backup code) locks it.
    let c2 = e.challenge(t0).await;
    for _ in MAX_CHALLENGE_ATTEMPTS..MAX_FAILED_VERIFICATIONS - 1 {
        assert_eq!(e.guess(&c2, Method::Totp(wrong.clone()), t0).await, Err(INVALID_CODE));
    }
    let bad_backup = Method::BackupCode { code: "aaaaa-bbbbb".into(), disable_session: false };
    assert_eq!(e.guess(&c2, bad_backup, t0).await, Err((401, "INVALID_BACKUP_CODE")));
    let lock_end = t0 + Duration::seconds(tf::LOCKOUT_SECONDS);
    assert_eq!(e.counter().await, (MAX_FAILED_VERIFICATIONS, Some(lock_end)));

    // Locked: right codes are refused too, until fifteen minutes have passed.
    let c3 = e.challenge(t0).await;
    assert_eq!(e.guess(&c3, Method::Totp(right.clone()), t0).await, Err(LOCKED));
    let backup = Method::BackupCode { code: e.backup[0].clone(), disable_session: false };
    assert_eq!(e.guess(&c3, backup, t0).await, Err(LOCKED));
    let almost = lock_end - Duration::seconds(1);
    let c4 = e.challenge(almost).await;
    let code_then = |at: DateTime<Utc>| tf::totp_at(&e.key, at.timestamp());
    assert_eq!(e.guess(&c4, Method::Totp(code_then(almost)), almost).await, Err(LOCKED));

    // Expired: a wrong code counts from one again, and the right one signs in and clears it.
    assert_eq!(e.guess(&c4, Method::Totp(e.wrong_code(lock_end)), lock_end).await, Err(INVALID_CODE));
    assert_eq!(e.counter().await, (1, None));
    assert_eq!(e.guess(&c4, Method::Totp(code_then(lock_end)), lock_end).await, Ok(()));
    assert_eq!(e.counter().await, (0, None));
}

/// Thirty wrong guesses at once, each on its own challenge: exactly the allowed ten are
/// checked; the rest are refused as locked, and the counter stops at the maximum.
async fn parallel_guesses_stop_at_the_limit(database_url: Option<String>) {
    let t0 = clock();
    let e = Arc::new(enrolled(database_url, t0).await);
    let wrong = e.wrong_code(t0);
    let mut challenges = Vec::new();
    for _ in 0..30 {
        challenges.push(e.challenge(t0).await);
    }
    let tasks: Vec<_> = challenges
        .into_iter()
        .map(|c| {
            let (e, wrong) = (e.clone(), wrong.clone());
            tokio::spawn(async move { e.guess(&c, Method::Totp(wrong), t0).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("task"));
    }
    let checked = outcomes.iter().filter(|o| **o == Err(INVALID_CODE)).count();
    let locked = outcomes.iter().filter(|o| **o == Err(LOCKED)).count();
    assert_eq!(
        (checked, locked),
        (MAX_FAILED_VERIFICATIONS as usize, 30 - MAX_FAILED_VERIFICATIONS as usize),
        "{outcomes:?}"
    );
    assert_eq!(e.counter().await.0, MAX_FAILED_VERIFICATIONS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_cannot_pass_the_limit_sqlite() {
    parallel_guesses_stop_at_the_limit(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_cannot_pass_the_limit_postgres() {
    if !available(Dialect::Postgres, "parallel two-factor guesses") {
        return;
    }
    parallel_guesses_stop_at_the_limit(fresh_database(Dialect::Postgres).await).await;
}

/// The last e-mailed one-time code in the server's mail log.
async fn last_otp(dir: &std::path::Path, before: usize) -> (String, usize) {
    let path = dir.join("emails.jsonl");
    for _ in 0..200 {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let codes: Vec<String> = text
            .lines()
            .filter(|l| l.contains("\"kind\":\"two-factor-otp\""))
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["token"].as_str().unwrap().to_string())
            .collect();
        if codes.len() > before {
            return (codes.last().unwrap().clone(), codes.len());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no two-factor code e-mailed");
}

/// Two-factor by e-mailed code only (no `twoFactor` row): the account lockout still applies.
/// Each send-otp gives a fresh code with its own five tries, but the tenth failure across
/// codes locks the account and then even the right code is refused, until the lock runs out.
#[tokio::test]
async fn otp_only_two_factor_is_covered_by_the_account_lockout() {
    let t0 = clock();
    let dir = tempfile::tempdir().expect("temp dir");
    let auth = palisade::app::build(crate::harness::config(dir.path())).await.expect("server context");
    let meta = RequestMeta::default();
    let input = sign_up_input("otp-only@example.com");
    let (user, session) = users::sign_up(&auth, input, &meta).await.expect("sign-up");
    let subject = Subject::Session { session: session.expect("session"), user: user.clone(), dont_remember: false };
    let fresh = |s: &Subject| match s {
        Subject::Session { session, user, dont_remember } => {
            Subject::Session { session: session.clone(), user: user.clone(), dont_remember: *dont_remember }
        }
        Subject::Challenge { id, user, dont_remember } => {
            Subject::Challenge { id: id.clone(), user: user.clone(), dont_remember: *dont_remember }
        }
    };
    tf::send_otp(&auth, &subject, t0).await.expect("send");
    let (code, mut sent) = last_otp(dir.path(), 0).await;
    tf::verify(&auth, subject, Method::Otp(code), false, &meta, t0).await.expect("the code turns 2FA on");
    let user = users::find_by_id(&auth, user.id()).await.unwrap().unwrap();
    assert!(auth.store.find_one("twoFactor", &[Where::eq("userId", user.id())]).await.unwrap().is_none());

    let code_err = |e: palisade::error::ApiError| (e.status, e.code.unwrap_or_default().to_string());
    let mut failures = 0;
    while failures < MAX_FAILED_VERIFICATIONS {
        let id = tf::start_challenge(&auth, user.id(), t0).await.unwrap();
        let challenge = Subject::Challenge { id, user: user.clone(), dont_remember: false };
        tf::send_otp(&auth, &challenge, t0).await.unwrap();
        let (code, n) = last_otp(dir.path(), sent).await;
        sent = n;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..4.min(MAX_FAILED_VERIFICATIONS - failures) {
            let e = tf::verify(&auth, fresh(&challenge), Method::Otp(wrong.into()), false, &meta, t0).await;
            assert_eq!(code_err(e.err().expect("wrong code")), (401, "INVALID_CODE".into()));
            failures += 1;
        }
    }
    let id = tf::start_challenge(&auth, user.id(), t0).await.unwrap();
    let challenge = Subject::Challenge { id, user: user.clone(), dont_remember: false };
    tf::send_otp(&auth, &challenge, t0).await.unwrap();
    let (code, _) = last_otp(dir.path(), sent).await;
    let e = tf::verify(&auth, fresh(&challenge), Method::Otp(code.clone()), false, &meta, t0).await;
    assert_eq!(code_err(e.err().expect("locked")), (429, "ACCOUNT_TEMPORARILY_LOCKED".into()));
    // After fifteen minutes the right code signs in (the code itself lives three minutes, so
    // this one has expired: a fresh one is sent).
    let later = t0 + Duration::seconds(tf::LOCKOUT_SECONDS);
    let id = tf::start_challenge(&auth, user.id(), later).await.unwrap();
    let challenge = Subject::Challenge { id, user: user.clone(), dont_remember: false };
    tf::send_otp(&auth, &challenge, later).await.unwrap();
    let (code, _) = last_otp(dir.path(), sent + 1).await;
    let ok = tf::verify(&auth, fresh(&challenge), Method::Otp(code), false, &meta, later).await.expect("signs in");
    assert!(ok.new_session.is_some());
}
