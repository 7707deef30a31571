//! TOTP (RFC 6238 over RFC 4226 HOTP), base32, the otpauth URI and backup codes.

#[allow(unused_imports)]
use super::*;

// ------------------------------------------------------------------------------ TOTP

/// RFC 4226 HOTP with HMAC-SHA1, `digits` decimal digits (zero-padded).
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let bin = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    let code = u64::from(bin) % 10u64.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// RFC 6238 TOTP at `unix_seconds` (30 s steps, 6 digits).
pub fn totp_at(key: &[u8], unix_seconds: i64) -> String {
    hotp(key, step(unix_seconds), DIGITS)
}

pub(super) fn step(unix_seconds: i64) -> u64 {
    u64::try_from(unix_seconds.div_euclid(PERIOD)).unwrap_or(0)
}

/// Accepts the code of the current step or of one step either side; compares in constant time.
pub fn verify_totp(key: &[u8], code: &str, now: DateTime<Utc>) -> bool {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let current = step(now.timestamp());
    let mut ok = false;
    for delta in -WINDOW..=WINDOW {
        let Some(counter) = current.checked_add_signed(delta) else {
            continue;
        };
        ok |= ct_eq(&hotp(key, counter, DIGITS), code);
    }
    ok
}

pub(super) const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// RFC 4648 base32, case-insensitive, padding and spaces ignored; `None` on other characters.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = BASE32.iter().position(|x| *x == c.to_ascii_uppercase())? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// `otpauth://totp/{issuer}:{email}?secret=…&issuer=…&digits=6&period=30` (WIRE.md §9): the
/// label parts like `encodeURIComponent`, the query like `URLSearchParams`.
pub fn totp_uri(issuer: &str, email: &str, key: &[u8]) -> String {
    use crate::auth::password::encode_component;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("secret", &base32_encode(key))
        .append_pair("issuer", issuer)
        .append_pair("digits", &DIGITS.to_string())
        .append_pair("period", &PERIOD.to_string())
        .finish();
    format!("otpauth://totp/{}:{}?{query}", encode_component(issuer), encode_component(email))
}

// ------------------------------------------------------------------------------ backup codes

/// Ten `xxxxx-xxxxx` codes over `[A-Za-z0-9]`.
pub fn generate_backup_codes() -> Vec<String> {
    (0..BACKUP_CODE_COUNT)
        .map(|_| {
            let raw = random_id(10);
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect()
}

/// The codes with `code` removed, or `None` when it is not among them. Every entry is
/// compared, so the time taken does not tell which one matched.
pub fn consume_backup_code(codes: &[String], code: &str) -> Option<Vec<String>> {
    let mut found = None;
    for (i, c) in codes.iter().enumerate() {
        if ct_eq(c, code) && found.is_none() {
            found = Some(i);
        }
    }
    let i = found?;
    let mut rest = codes.to_vec();
    rest.remove(i);
    Some(rest)
}
