//! Inputs crafted to get around a rule: another spelling of an erased address, an id that names
//! another record.

use reqwest::Method;
use serde_json::json;
use spinpost_tests::app::expect_status;
use spinpost_tests::TestApp;

fn import_line(address: &str) -> String {
    json!({
        "channel": "telegram:shop", "address": address, "first_name": "Erin",
        "consent": {"at": "2026-11-01T10:00:00Z", "source": "checkout", "evidence": "order-1"}
    })
    .to_string()
}

/// A one-line template and campaign `c1` for every Telegram subscriber, scheduled now.
async fn launch_hello_campaign(app: &TestApp) {
    app.create_template(
        json!({"id": "hello", "name": "Hello", "locales": {"en": {"text": "Hello"}}}),
    )
    .await;
    app.create_campaign(
        json!({"id": "c1", "name": "C1", "channel": "telegram:shop", "template_id": "hello"}),
    )
    .await;
    app.schedule_now("c1").await;
}

/// README: "An erased subscriber leaves only a hash of their address, so a later import cannot
/// subscribe them again". A leading zero on the chat id gets around it and the erased chat is messaged.
#[tokio::test(flavor = "multi_thread")]
async fn an_erased_chat_is_not_messaged_after_a_reimport_with_a_leading_zero() {
    let app = TestApp::start().await;
    app.import_subscribers(&import_line("3003003")).await;
    let erase = app
        .admin_json(
            Method::DELETE,
            "/api/v1/subscribers/telegram:shop:3003003",
            None,
        )
        .await;
    expect_status(200, erase);
    let again = app.import_subscribers(&import_line("3003003")).await;
    assert_eq!(again["rejected"][0]["code"], "erased", "{again}");
    let sneaky = app.import_subscribers(&import_line("03003003")).await;
    assert_eq!(sneaky["rejected"][0]["code"], "erased", "{sneaky}");

    launch_hello_campaign(&app).await;
    for _ in 0..3 {
        let (status, body) = app.tick().await;
        assert_eq!(status, 200, "{body}");
    }
    let to_erased: Vec<_> = app
        .fake
        .calls("sendMessage")
        .into_iter()
        .filter(|c| c.json["chat_id"] == 3003003)
        .collect();
    assert!(
        to_erased.is_empty(),
        "the erased chat 3003003 was messaged {} time(s) after re-import as '03003003' ({sneaky})",
        to_erased.len()
    );
}

/// A campaign id from the path must not reach the store as another record's key (`c1:cursor` is the
/// campaign's cursor record): it is simply not found, and the key layout stays internal.
#[tokio::test(flavor = "multi_thread")]
async fn a_campaign_id_that_names_another_record_is_not_found() {
    let app = TestApp::start().await;
    launch_hello_campaign(&app).await;
    let (status, body) = app.tick().await;
    assert_eq!(status, 200, "{body}");
    for path in [
        "/api/v1/campaigns/c1:cursor",
        "/api/v1/campaigns/c1%3Acursor/pause",
    ] {
        let method = if path.ends_with("pause") {
            Method::POST
        } else {
            Method::GET
        };
        let (status, body) = app.admin_json(method, path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            !body.to_string().contains("camp:"),
            "the key layout stays internal: {body}"
        );
    }
}

/// The authorization scheme is case-insensitive (RFC 9110); a name too long to keep whole is refused
/// with the field and the limit instead of being cut silently.
#[tokio::test(flavor = "multi_thread")]
async fn any_case_of_bearer_is_accepted_and_an_overlong_name_is_refused() {
    let app = TestApp::start().await;
    let upper = app.request(Method::GET, "/api/v1/subscribers").header(
        "authorization",
        format!("BEARER {}", spinpost_tests::app::ADMIN_TOKEN),
    );
    expect_status(200, spinpost_tests::app::send(upper).await);

    app.import_subscribers(&import_line("4004004")).await;
    let patch = app
        .admin_json(
            Method::PATCH,
            "/api/v1/subscribers/telegram:shop:4004004",
            Some(json!({ "first_name": "a".repeat(100_000) })),
        )
        .await;
    let refused = expect_status(400, patch);
    assert_eq!(refused["error"]["code"], "name_too_long", "{refused}");
    let (_, kept) = app
        .admin_get("/api/v1/subscribers/telegram:shop:4004004")
        .await;
    assert_eq!(kept["profile"]["first_name"], "Erin", "{kept}");
}
