use super::*;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("valid timestamp")
}

#[test]
fn totp_matches_rfc6238_sha1_vectors() {
    let key = b"12345678901234567890";
    for (t, code8) in [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(hotp(key, step(t), 8), code8, "t={t}");
        assert_eq!(totp_at(key, t), code8[2..], "t={t}");
    }
}

#[test]
fn hotp_matches_rfc4226_vectors() {
    let key = b"12345678901234567890";
    let expected = ["755224", "287082", "359152", "969429", "338314"];
    for (i, code) in expected.iter().enumerate() {
        assert_eq!(hotp(key, i as u64, 6), *code);
    }
}

#[test]
fn totp_window_is_one_step_either_side() {
    let key = b"abcdefghijklmnopqrstuvwxyz012345";
    let now = at(1_700_000_015);
    let code_at = |t: i64| totp_at(key, t);
    assert!(verify_totp(key, &code_at(1_700_000_015), now));
    assert!(verify_totp(key, &code_at(1_700_000_015 - 30), now));
    assert!(verify_totp(key, &code_at(1_700_000_015 + 30), now));
    assert!(!verify_totp(key, &code_at(1_700_000_015 - 60), now));
    assert!(!verify_totp(key, &code_at(1_700_000_015 + 60), now));
    assert!(!verify_totp(key, "12345", now));
    assert!(!verify_totp(key, "abcdef", now));
}

#[test]
fn base32_round_trip_and_rfc4648_vectors() {
    for (plain, enc) in [
        ("", ""),
        ("f", "MY"),
        ("fo", "MZXQ"),
        ("foo", "MZXW6"),
        ("foob", "MZXW6YQ"),
        ("fooba", "MZXW6YTB"),
        ("foobar", "MZXW6YTBOI"),
    ] {
        assert_eq!(base32_encode(plain.as_bytes()), enc);
        assert_eq!(base32_decode(enc).as_deref(), Some(plain.as_bytes()));
    }
    assert_eq!(base32_decode("mzxw6ytboi======").as_deref(), Some(&b"foobar"[..]));
    assert_eq!(base32_decode("MZ1"), None);
    // A 32-byte secret encodes to 52 characters (WIRE.md §9).
    assert_eq!(base32_encode(&[0u8; 32]).len(), 52);
}

#[test]
fn uri_encodes_like_better_auth() {
    let uri = totp_uri("Better Auth Peer", "a+b@x.io", b"foobar");
    assert_eq!(
        uri,
        "otpauth://totp/Better%20Auth%20Peer:a%2Bb%40x.io?secret=MZXW6YTBOI&issuer=Better+Auth+Peer&digits=6&period=30"
    );
}

#[test]
fn backup_codes_have_the_documented_shape() {
    let codes = generate_backup_codes();
    assert_eq!(codes.len(), 10);
    for c in &codes {
        let b = c.as_bytes();
        assert_eq!(b.len(), 11, "{c}");
        assert_eq!(b[5], b'-');
        assert!(b[..5].iter().chain(&b[6..]).all(u8::is_ascii_alphanumeric));
    }
    let rest = consume_backup_code(&codes, &codes[3]).expect("present");
    assert_eq!(rest.len(), 9);
    assert!(!rest.contains(&codes[3]));
    assert!(consume_backup_code(&rest, &codes[3]).is_none());
    assert!(consume_backup_code(&codes, "xxxxx-xxxxx").is_none());
}

#[test]
fn row_round_trips_through_encryption() {
    let server = b"conformance-secret-0123456789-abcdefghijklmnop";
    let (rec, secret, codes) = new_record(server, "user1");
    assert_eq!(secret.len(), 32);
    let stored = rec.str("secret").unwrap_or_default();
    assert_eq!(stored.len(), 144, "(24 + 32 + 16) bytes as hex");
    assert!(stored.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let row = TwoFactor::from_record(server, &rec).expect("decrypts");
    assert_eq!(row.key, secret.as_bytes());
    assert_eq!(row.backup_codes, codes);
    assert!(!row.verified);
    assert_eq!(row.lockout, Lockout::default());
    assert_eq!(row.user_id, "user1");
    assert!(TwoFactor::from_record(b"another secret", &rec).is_err());

    // NULL `verified` counts as verified; an imported base32 secret is decoded.
    let legacy =
        rec.clone().with("verified", Value::Null).with("secret", symmetric::encrypt(server, "base32:MZXW6YTBOI"));
    let row = TwoFactor::from_record(server, &legacy).expect("decrypts");
    assert!(row.verified);
    assert_eq!(row.key, b"foobar");
}

#[test]
fn lockout_after_ten_failures_expires_after_fifteen_minutes() {
    let t0 = at(1_700_000_000);
    let mut l = Lockout::default();
    for i in 1..MAX_FAILED_VERIFICATIONS {
        l = l.after_failure(t0);
        assert_eq!(l.failed, i);
        assert!(!l.is_locked(t0));
    }
    l = l.after_failure(t0);
    assert_eq!(l.failed, MAX_FAILED_VERIFICATIONS);
    assert_eq!(l.locked_until, Some(t0 + Duration::minutes(15)));
    assert!(l.is_locked(t0 + Duration::minutes(14)));
    let later = t0 + Duration::minutes(15);
    assert!(!l.is_locked(later));
    // After the lock has run out, counting starts again from one.
    let next = l.after_failure(later);
    assert_eq!(next.failed, 1);
    assert_eq!(next.locked_until, None);
}
