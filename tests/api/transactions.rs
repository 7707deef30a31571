//! Multi-row writes are all-or-nothing.

use serde_json::json;

use crate::harness::spawn_app;

#[tokio::test]
async fn concurrent_sign_ups_with_one_email_write_exactly_one_user() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let client = app.client.clone();
        let url = format!("{}/sign-up/email", app.base);
        tasks.push(tokio::spawn(async move {
            let body = json!({"email": "race@example.com", "password": format!("password-{i}"), "name": "R"});
            client.post(url).json(&body).send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 422, 422, 422, 422, 422, 422, 422]);
    assert_eq!(app.count("user").await, 1);
    assert_eq!(app.count("account").await, 1);
    assert_eq!(app.count("session").await, 1);
}

#[tokio::test]
async fn delete_user_removes_every_row_of_the_user() {
    let app = spawn_app().await;
    let (cookie, _) = app.sign_up("gone@example.com", "password-123").await;
    app.post("/sign-in/email", json!({"email": "gone@example.com", "password": "password-123"}), None).await;
    app.sign_up("stays@example.com", "password-123").await;
    let r = app.post("/delete-user", json!({"password": "password-123"}), Some(&cookie)).await;
    assert_eq!(r.json(), json!({"success": true, "message": "User deleted"}));
    assert_eq!(app.count("user").await, 1);
    assert_eq!(app.count("account").await, 1);
    assert_eq!(app.count("session").await, 1);
}
