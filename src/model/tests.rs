use super::*;
use crate::store::record_json;

fn at(s: &str) -> DateTime<Utc> {
    crate::store::schema::parse_date(s).expect("test date")
}

fn user_row() -> Record {
    Record::new()
        .with("id", "u1")
        .with("name", "N")
        .with("email", "n@x.io")
        .with("emailVerified", false)
        .with("image", Value::Null)
        .with("createdAt", at("2030-01-02T03:04:05.678Z"))
        .with("updatedAt", at("2030-01-02T03:04:06.000Z"))
        .with("twoFactorEnabled", true)
        .with("nickname", "nick")
}

fn session_row() -> Record {
    Record::new()
        .with("id", "s1")
        .with("expiresAt", at("2030-01-09T03:04:05.678Z"))
        .with("token", "tok")
        .with("createdAt", at("2030-01-02T03:04:05.678Z"))
        .with("updatedAt", at("2030-01-02T03:04:05.678Z"))
        .with("ipAddress", "")
        .with("userAgent", Value::Null)
        .with("userId", "u1")
        .with("tenant", 7i64)
}

fn account_row() -> Record {
    Record::new()
        .with("id", "a1")
        .with("accountId", "g-1")
        .with("providerId", "google")
        .with("userId", "u1")
        .with("accessToken", "at")
        .with("refreshToken", Value::Null)
        .with("idToken", "it")
        .with("accessTokenExpiresAt", at("2030-01-02T04:04:05.678Z"))
        .with("refreshTokenExpiresAt", Value::Null)
        .with("scope", "openid,email")
        .with("password", Value::Null)
        .with("createdAt", at("2030-01-02T03:04:05.678Z"))
        .with("updatedAt", at("2030-01-02T03:04:05.678Z"))
}

fn verification_row() -> Record {
    Record::new()
        .with("id", "v1")
        .with("identifier", "reset-password:abc")
        .with("value", "u1")
        .with("expiresAt", at("2030-01-02T04:04:05.678Z"))
        .with("createdAt", at("2030-01-02T03:04:05.678Z"))
        .with("updatedAt", at("2030-01-02T03:04:05.678Z"))
}

/// JSON and record round trips reproduce the stored row exactly (order included).
#[test]
fn round_trips() {
    let row = user_row();
    let user = User::try_from(row.clone()).unwrap();
    assert!(user.extra.bool("twoFactorEnabled"));
    assert_eq!(user.to_json().to_string(), record_json(&row, &[]).to_string());
    assert_eq!(user.to_record(), row);

    let row = session_row();
    let session = Session::try_from(row.clone()).unwrap();
    assert_eq!(session.ip_address.as_deref(), Some(""));
    assert_eq!(session.to_json().to_string(), record_json(&row, &[]).to_string());
    assert_eq!(session.to_record(), row);

    let row = account_row();
    let account = Account::try_from(row.clone()).unwrap();
    assert_eq!(account.to_json().to_string(), record_json(&row, &[]).to_string());
    let hidden = [
        "accessToken",
        "refreshToken",
        "idToken",
        "accessTokenExpiresAt",
        "refreshTokenExpiresAt",
        "password",
        "scope",
    ];
    assert_eq!(account.to_public_json().to_string(), record_json(&row, &hidden).to_string());
    assert_eq!(account.to_record(), row);

    let row = verification_row();
    let v = Verification::try_from(row.clone()).unwrap();
    assert_eq!(v.to_json().to_string(), record_json(&row, &[]).to_string());
    assert_eq!(v.to_record(), row);
}

/// A required field that is missing or ill-typed is an error, never an empty value.
#[test]
fn required_fields() {
    let mut row = user_row();
    row.0.retain(|(k, _)| k != "id");
    let e = User::try_from(row).unwrap_err();
    assert_eq!((e.model, e.field, e.problem), ("user", "id", "missing"));

    let e = User::try_from(user_row().with("emailVerified", Value::Null)).unwrap_err();
    assert_eq!(e.field, "emailVerified");
    let e = Session::try_from(session_row().with("token", 3i64)).unwrap_err();
    assert_eq!((e.field, e.problem), ("token", "not text"));
    let e = Session::try_from(session_row().with("expiresAt", "soon")).unwrap_err();
    assert_eq!((e.field, e.problem), ("expiresAt", "not a date"));
    // Optional fields may be absent or null.
    let mut row = account_row();
    row.0.retain(|(k, _)| k != "scope");
    assert_eq!(Account::try_from(row).unwrap().scope, None);
}

#[test]
fn new_rows() {
    let t = at("2030-01-02T03:04:05.678Z");
    let rec = NewUser { name: "N".into(), email: "n@x.io".into(), email_verified: false, image: None }.into_record(t);
    let names: Vec<&str> = rec.0.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["name", "email", "emailVerified", "image", "createdAt", "updatedAt"]);
    let rec = Account::credential_record("u1", "h", t);
    assert_eq!(rec.str("providerId"), Some("credential"));
    assert_eq!(rec.str("accountId"), Some("u1"));
    assert!(Verification::new_record("i", "v", t, t).date("expiresAt").is_some());
}
