use chrono::{Duration, Utc};

use super::otp::{self, Checked, parse_value};
use super::*;
use crate::store::Ops;
// All of this file is test code; the attribute also marks it so for ../shared/tools/structure.py
// (the library's plugins do not use app).
#[cfg(test)]
use crate::app;

#[test]
fn values_split_at_the_last_colon() {
    assert_eq!(parse_value("123456:0"), ("123456", 0));
    assert_eq!(parse_value("123456:2"), ("123456", 2));
    assert_eq!(parse_value("a:b:3"), ("a:b", 3));
    assert_eq!(parse_value("123456"), ("123456", 0));
    assert_eq!(parse_value("123456:x"), ("123456", 0));
    assert_eq!(otp::identifier("sign-in", "a@b.co"), "sign-in-otp-a@b.co");
}

#[test]
fn config_is_checked() {
    assert!(EmailOtpConfig::default().check().is_ok());
    assert!(EmailOtpConfig { otp_length: 3, ..Default::default() }.check().is_err());
    assert!(EmailOtpConfig { allowed_attempts: 0, ..Default::default() }.check().is_err());
    assert_eq!(random_digits(6).len(), 6);
    assert!(random_digits(8).bytes().all(|b| b.is_ascii_digit()));
}

/// An in-memory SQLite store with the core schema.
async fn store() -> (tempfile::TempDir, crate::store::Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = crate::config::Config { data_dir: dir.path().to_path_buf(), ..Default::default() };
    cfg.secret = Some("unit-test-secret-0123456789-abcdefghijkl".into());
    let app = app::build(cfg).await.expect("server context");
    (dir, app.auth.store.clone())
}

async fn value(ops: &dyn Ops, id: &str) -> Option<String> {
    use crate::model::{Row, Verification};
    let filter = [crate::store::Where::eq("identifier", id)];
    Verification::parse(ops.find_one(Verification::MODEL, &filter).await.expect("read")).expect("row").map(|r| r.value)
}

#[tokio::test]
async fn three_wrong_codes_then_too_many_attempts() {
    let (_dir, store) = store().await;
    let now = Utc::now();
    let id = otp::identifier("sign-in", "a@b.co");
    otp::store(&*store, &id, "123456", now + Duration::minutes(5), now).await.unwrap();
    assert_eq!(value(&*store, &id).await.as_deref(), Some("123456:0"));
    for n in 1..=3 {
        assert!(matches!(otp::check(&*store, &id, "000000", 3, now).await.unwrap(), Checked::Wrong));
        assert_eq!(value(&*store, &id).await, Some(format!("123456:{n}")));
    }
    // The right code comes too late: the row is gone for good.
    assert!(matches!(otp::check(&*store, &id, "123456", 3, now).await.unwrap(), Checked::TooMany));
    assert_eq!(value(&*store, &id).await, None);
    assert!(matches!(otp::check(&*store, &id, "123456", 3, now).await.unwrap(), Checked::Missing));
}

#[tokio::test]
async fn right_code_is_spent_once_and_expired_codes_are_deleted() {
    let (_dir, store) = store().await;
    let now = Utc::now();
    let id = otp::identifier("forget-password", "a@b.co");
    otp::store(&*store, &id, "654321", now + Duration::minutes(5), now).await.unwrap();
    // A new code replaces the old one.
    otp::store(&*store, &id, "111111", now + Duration::minutes(5), now).await.unwrap();
    assert!(matches!(otp::check(&*store, &id, "654321", 3, now).await.unwrap(), Checked::Wrong));
    let Checked::Valid(row) = otp::check(&*store, &id, "111111", 3, now).await.unwrap() else { panic!("valid") };
    assert_eq!(value(&*store, &id).await, None, "spent");
    // A check route puts it back unchanged.
    otp::put_back(&*store, &row).await.unwrap();
    assert_eq!(value(&*store, &id).await.as_deref(), Some("111111:1"));
    let later = now + Duration::minutes(6);
    assert!(matches!(otp::check(&*store, &id, "111111", 3, later).await.unwrap(), Checked::Expired));
    assert_eq!(value(&*store, &id).await, None, "an expired code is deleted");
    let err = Checked::Expired.into_result().unwrap_err();
    assert_eq!((err.status, err.code.as_deref()), (400, Some("OTP_EXPIRED")));
    let err = Checked::TooMany.into_result().unwrap_err();
    assert_eq!((err.status, err.code.as_deref()), (403, Some("TOO_MANY_ATTEMPTS")));
}
