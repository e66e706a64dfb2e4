//! Who is who: a customer id set through the API, and the signed link that ties a chat to a customer
//! when the person opens it (`/start <code>` on Telegram, the prefilled message on WhatsApp).

use reqwest::Method;
use serde_json::{json, Value};
use spinpost_tests::app::{
    expect_status, TELEGRAM_BOT, TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET,
    WHATSAPP_PHONE_NUMBER_ID,
};
use spinpost_tests::webhooks::{telegram_text, whatsapp_text};
use spinpost_tests::TestApp;

/// The app with a link signing key, a bot username and a WhatsApp number people dial.
async fn app_with_links() -> TestApp {
    TestApp::start_with(|variables| {
        let bots = json!({ TELEGRAM_BOT: {
            "token": TELEGRAM_BOT_TOKEN,
            "webhook_secret": TELEGRAM_WEBHOOK_SECRET,
            "username": "ShopBot"
        }});
        variables.insert("telegram_bots".into(), bots.to_string());
        variables.insert("link_signing_key".into(), "e2e-link-signing-key".into());
        variables.insert("whatsapp_display_phone".into(), "+4915123456789".into());
    })
    .await
}

/// A link made for `body`, which must be accepted.
async fn made_link(app: &TestApp, body: Value) -> Value {
    expect_status(201, create_link(app, body).await)
}

async fn create_link(app: &TestApp, body: Value) -> (u16, Value) {
    app.admin_json(Method::POST, "/api/v1/subscribers/links", Some(body))
        .await
}

async fn subscriber(app: &TestApp, id: &str) -> Value {
    expect_status(
        200,
        app.admin_get(&format!("/api/v1/subscribers/{id}")).await,
    )
}

async fn customer_ids(app: &TestApp, external_id: &str) -> Vec<String> {
    let page = expect_status(
        200,
        app.admin_get(&format!("/api/v1/subscribers?external_id={external_id}"))
            .await,
    );
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_telegram_link_ties_the_chat_to_the_customer_once() {
    let app = app_with_links().await;
    let link = made_link(
        &app,
        json!({"external_id": "cus_1042", "channel": "telegram:shop", "ttl_seconds": 3600}),
    )
    .await;
    let code = link["code"].as_str().expect("code").to_owned();
    assert_eq!(link["url"], format!("https://t.me/ShopBot?start={code}"));
    assert!(code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(!link.to_string().contains("e2e-link-signing-key"));

    // The customer opens the link: Telegram sends `/start <code>`.
    let start = telegram_text(9001, 424242, &format!("/start {code}"));
    let answer = expect_status(200, app.telegram_update(&start).await);
    assert_eq!(answer["applied"], 1, "{answer}");
    let linked = subscriber(&app, "telegram:shop:424242").await;
    assert_eq!(linked["status"], "subscribed");
    assert_eq!(linked["external_id"], "cus_1042");
    assert_eq!(linked["consent"][0]["source"], "telegram:/start link");
    let evidence = linked["consent"][0]["evidence"].as_str().unwrap();
    assert!(
        evidence.ends_with(&format!("link {}", link["link_id"].as_str().unwrap())),
        "{evidence}"
    );
    assert!(!linked.to_string().contains(&code), "{linked}");
    assert_eq!(
        customer_ids(&app, "cus_1042").await,
        ["telegram:shop:424242"]
    );

    // Telegram redelivers the update: it links once.
    let again = expect_status(200, app.telegram_update(&start).await);
    assert_eq!(
        (again["applied"].clone(), again["duplicates"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(
        subscriber(&app, "telegram:shop:424242").await["consent"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The same customer on WhatsApp: the click-to-chat message carries the code.
    let link = made_link(&app, json!({"external_id": "cus_1042", "channel": format!("whatsapp:{WHATSAPP_PHONE_NUMBER_ID}")})).await;
    let code = link["code"].as_str().unwrap();
    assert_eq!(
        link["url"],
        format!("https://wa.me/4915123456789?text=START%20{code}")
    );
    let message = whatsapp_text("4917000000001", "wamid.link1", &format!("START {code}"));
    expect_status(200, app.whatsapp_notification(&message).await);
    let on_whatsapp = format!("whatsapp:{WHATSAPP_PHONE_NUMBER_ID}:4917000000001");
    assert_eq!(
        subscriber(&app, &on_whatsapp).await["external_id"],
        "cus_1042"
    );
    assert_eq!(
        customer_ids(&app, "cus_1042").await,
        ["telegram:shop:424242".to_owned(), on_whatsapp]
    );

    // A PATCH moves the chat to another customer id, and null clears it.
    let moved = expect_status(
        200,
        app.admin_json(
            Method::PATCH,
            "/api/v1/subscribers/telegram:shop:424242",
            Some(json!({"external_id": "cus_2001"})),
        )
        .await,
    );
    assert_eq!(moved["external_id"], "cus_2001");
    assert_eq!(
        customer_ids(&app, "cus_2001").await,
        ["telegram:shop:424242"]
    );
    assert_eq!(customer_ids(&app, "cus_1042").await.len(), 1);
    expect_status(
        200,
        app.admin_json(
            Method::PATCH,
            "/api/v1/subscribers/telegram:shop:424242",
            Some(json!({"external_id": null})),
        )
        .await,
    );
    assert!(customer_ids(&app, "cus_2001").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_or_tampered_code_subscribes_without_linking_and_says_nothing() {
    let app = app_with_links().await;
    let link = made_link(
        &app,
        json!({"external_id": "cus_7", "channel": "telegram:shop"}),
    )
    .await;
    let code = link["code"].as_str().unwrap();
    let mut tampered = code.as_bytes().to_vec();
    tampered[20] = if tampered[20] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let forged = "ab".repeat(code.len() / 2);

    let plain = expect_status(
        200,
        app.telegram_update(&telegram_text(9100, 515150, "/start"))
            .await,
    );
    for (update_id, chat, payload) in [(9101, 515151, &tampered), (9102, 515152, &forged)] {
        let answer = expect_status(
            200,
            app.telegram_update(&telegram_text(
                update_id,
                chat,
                &format!("/start {payload}"),
            ))
            .await,
        );
        // The answer reads like any other opt-in's.
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&answer), keys(&plain), "{answer}");
        assert_eq!(answer["applied"], 1);
        assert!(!answer.to_string().contains("link"), "{answer}");
        let person = subscriber(&app, &format!("telegram:shop:{chat}")).await;
        assert_eq!(person["status"], "subscribed");
        assert!(person.get("external_id").is_none(), "{person}");
    }
    assert!(customer_ids(&app, "cus_7").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_link_subscribes_without_linking() {
    let app = app_with_links().await;
    let link = made_link(
        &app,
        json!({"external_id": "cus_late", "channel": "telegram:shop", "ttl_seconds": 60}),
    )
    .await;
    // The shortest link lives a minute; the person opens it just after.
    tokio::time::sleep(std::time::Duration::from_secs(61)).await;
    let start = telegram_text(
        9201,
        616161,
        &format!("/start {}", link["code"].as_str().unwrap()),
    );
    expect_status(200, app.telegram_update(&start).await);
    let person = subscriber(&app, "telegram:shop:616161").await;
    assert_eq!(person["status"], "subscribed");
    assert!(person.get("external_id").is_none(), "{person}");
    assert!(customer_ids(&app, "cus_late").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn link_requests_say_what_to_fix() {
    let app = TestApp::start_with(|variables| {
        variables.insert("link_signing_key".into(), "e2e-link-signing-key".into());
    })
    .await;
    let refused = |expected_status: u16, expected_code: &'static str| {
        move |(status, body): (u16, Value)| {
            assert_eq!(status, expected_status, "{body}");
            assert_eq!(body["error"]["code"], expected_code, "{body}");
        }
    };
    // The test bot has no username, so it cannot make links; Messenger has no links at all.
    refused(422, "links_not_supported")(
        create_link(
            &app,
            json!({"external_id": "c1", "channel": "telegram:shop"}),
        )
        .await,
    );
    refused(422, "links_not_supported")(
        create_link(
            &app,
            json!({"external_id": "c1", "channel": format!("messenger:{}", spinpost_tests::app::MESSENGER_PAGE_ID)}),
        )
        .await,
    );
    refused(422, "channel_not_configured")(
        create_link(
            &app,
            json!({"external_id": "c1", "channel": "telegram:other"}),
        )
        .await,
    );
    refused(400, "invalid_external_id")(
        create_link(
            &app,
            json!({"external_id": "has space", "channel": "telegram:shop"}),
        )
        .await,
    );
    refused(400, "invalid_ttl")(
        create_link(
            &app,
            json!({"external_id": "c1", "channel": "telegram:shop", "ttl_seconds": 5}),
        )
        .await,
    );
    refused(400, "invalid_external_id")(
        app.admin_get("/api/v1/subscribers?external_id=a%20b").await,
    );
}
