//! The library-mode example (`examples/notes.rs`), run for real: sign-up creates the app's
//! user in the sign-up transaction, and each user sees only their own notes.

use serde_json::json;

use crate::harness::{TestApp, config};

#[path = "../../examples/notes.rs"]
#[allow(dead_code)]
mod notes;

#[tokio::test]
async fn each_user_sees_only_their_notes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, router) = notes::build(config(dir.path())).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let svc = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, svc).await.unwrap();
    });
    let client = reqwest::Client::new();
    let app = TestApp { base: format!("http://{addr}/api/auth"), dir, client };
    let (ann, ann_user) = app.sign_up("ann@example.com", "password-123").await;
    let (bob, bob_user) = app.sign_up("bob@example.com", "password-123").await;
    assert_eq!(ann_user["userId"], "1", "the app's id for the first user");
    assert_eq!(bob_user["userId"], "2");
    let notes = format!("http://{addr}/notes");
    for (cookie, body) in [(&ann, "ann's note"), (&bob, "bob's note")] {
        let r = app.client.post(&notes).header("cookie", cookie).json(&json!({"body": body})).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let list = |cookie: &str| app.client.get(&notes).header("cookie", cookie.to_string()).send();
    let seen: serde_json::Value = list(&ann).await.unwrap().json().await.unwrap();
    assert_eq!(seen, json!({"notes": [{"id": "1", "body": "ann's note"}]}));
    let seen: serde_json::Value = list(&bob).await.unwrap().json().await.unwrap();
    assert_eq!(seen, json!({"notes": [{"id": "2", "body": "bob's note"}]}));
    assert_eq!(app.client.get(&notes).send().await.unwrap().status(), 401);
}
