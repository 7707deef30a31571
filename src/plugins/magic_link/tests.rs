use super::*;
use crate::http::reply::redirect_target;

#[test]
fn stored_value_is_better_auths_json() {
    assert_eq!(stored_value("A@b.co", Some("Ann")), r#"{"type":"magic-link","email":"A@b.co","name":"Ann"}"#);
    assert_eq!(stored_value("a@b.co", None), r#"{"type":"magic-link","email":"a@b.co"}"#);
    assert_eq!(parse_value(&stored_value("A@b.co", Some("Ann"))), Some(("A@b.co".into(), Some("Ann".into()))));
    assert_eq!(parse_value(r#"{"email":"a@b.co"}"#), Some(("a@b.co".into(), None)));
    assert_eq!(parse_value("a@b.co"), None);
    assert_eq!(parse_value(r#"{"name":"x"}"#), None);
}

#[test]
fn relative_urls_go_to_the_site() {
    let site = Some("http://localhost:5173");
    assert_eq!(on_site(site, "/dash"), "http://localhost:5173/dash");
    assert_eq!(on_site(site, "http://x.test/a"), "http://x.test/a");
    assert_eq!(on_site(site, "//evil.test"), "//evil.test");
    assert_eq!(on_site(None, "/dash"), "/dash");
}

#[test]
fn redirects_resolve_against_the_base_url() {
    let base = "http://127.0.0.1:4000";
    assert_eq!(
        redirect_target(base, "/", Some(("error", "INVALID_TOKEN"))),
        "http://127.0.0.1:4000/?error=INVALID_TOKEN"
    );
    assert_eq!(redirect_target(base, "/after", None), "http://127.0.0.1:4000/after");
    assert_eq!(
        redirect_target(base, "http://spa.test/x?a=1", Some(("error", "INVALID_TOKEN"))),
        "http://spa.test/x?a=1&error=INVALID_TOKEN"
    );
}

#[test]
fn tokens_are_32_letters() {
    let t = random_letters(TOKEN_LEN);
    assert_eq!(t.len(), 32);
    assert!(t.bytes().all(|b| b.is_ascii_alphabetic()));
}
