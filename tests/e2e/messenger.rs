//! The Messenger journey: verification, signed page webhooks, subscribing by message or Get Started, a
//! campaign sent only inside the 24-hour window, a person who is gone, and receipts by watermark that
//! make delivered, read and open rate.

use serde_json::{json, Value};
use spinpost_tests::app::MESSENGER_PAGE_ID;
use spinpost_tests::fixtures;
use spinpost_tests::{FakeReply, TestApp};

fn now_ms() -> i64 {
    fixtures::unix_now_secs() * 1000
}

/// A fixture's single messaging event, on our page, from `sender`, now.
fn messaging(fixture: &str, sender: &str) -> Value {
    let mut payload = fixtures::payload(fixture);
    payload["entry"][0]["id"] = MESSENGER_PAGE_ID.into();
    let event = &mut payload["entry"][0]["messaging"][0];
    event["sender"]["id"] = sender.into();
    event["recipient"]["id"] = MESSENGER_PAGE_ID.into();
    event["timestamp"] = now_ms().into();
    payload
}

fn text_message(sender: &str, mid: &str, text: &str) -> String {
    let mut payload = messaging("messenger/webhook_message_text", sender);
    let message = &mut payload["entry"][0]["messaging"][0]["message"];
    message["mid"] = mid.into();
    message["text"] = text.into();
    payload.to_string()
}

fn postback(sender: &str, data: &str) -> String {
    let mut payload = messaging("messenger/webhook_postback_get_started", sender);
    payload["entry"][0]["messaging"][0]["postback"]["payload"] = data.into();
    payload.to_string()
}

/// A `delivery` or `read` watermark of `sender` at `watermark`.
fn watermark(fixture: &str, field: &str, sender: &str, watermark: i64) -> String {
    let mut payload = messaging(fixture, sender);
    payload["entry"][0]["messaging"][0][field]["watermark"] = watermark.into();
    payload.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_messenger_campaign_inside_the_window_with_watermark_receipts() {
    let app = TestApp::start().await;
    let channel = format!("messenger:{MESSENGER_PAGE_ID}");
    let writers = ["1000001", "1000002", "1000003", "1000005"];
    let get_started = "1000004";
    let gone = "1000005";
    let imported = "1000006";

    for (i, psid) in writers.iter().enumerate() {
        let body = text_message(psid, &format!("m_in{i}"), "hi");
        assert_eq!(app.messenger_notification(&body).await.0, 200);
    }
    let (status, body) = app
        .messenger_notification(&postback(get_started, "get_started"))
        .await;
    assert_eq!(status, 200, "{body}");
    let first = app
        .subscribed_by(&format!("{channel}:{}", writers[0]), "messenger:message")
        .await;
    assert_eq!(first["consent"][0]["evidence"], "message m_in0", "{first}");
    app.subscribed_by(&format!("{channel}:{get_started}"), "messenger:get_started")
        .await;
    let line = json!({"channel": channel, "address": imported, "consent": {"at": "2026-10-01T00:00:00Z", "source": "store-signup", "evidence": "form-6"}});
    app.import_subscribers(&line.to_string()).await;

    app.create_template(json!({"id": "fb-promo", "name": "FB promo", "locales": {"en": {
        "text": "Hi, your code is {{ campaign.variables.code }}",
        "buttons": [[{"text": "Shop", "url": "https://shop.test/"}, {"text": "Great", "rating": 5}]]
    }}}))
    .await;
    app.create_campaign(json!({"id": "fb-winter", "name": "FB winter", "channel": channel, "template_id": "fb-promo", "variables": {"code": "SNOW"}}))
        .await;
    app.fake.script(
        gone,
        vec![FakeReply::custom(
            400,
            json!({"error": {"message": "(#551) This person isn't available right now.", "code": 551, "error_subcode": 1545041}}),
        )],
    );
    app.schedule_now("fb-winter").await;
    let progress = app.run_until_completed("fb-winter").await;
    assert_eq!(progress["counts"]["sent"], 4, "{progress}");
    assert_eq!(progress["counts"]["blocked"], 1, "{progress}");
    assert_eq!(progress["counts"]["skipped"], 1, "{progress}");

    // What the Send API received: one message per person inside the window, none for the imported one.
    let by_recipient = app.fake.calls_by_recipient("messages");
    for call in by_recipient.values().flatten() {
        assert!(
            call.path
                .ends_with(&format!("/v21.0/{MESSENGER_PAGE_ID}/messages")),
            "{}",
            call.path
        );
        assert!(call
            .headers
            .iter()
            .any(|(n, v)| n == "authorization" && v == "Bearer test-page-token"));
        assert_eq!(call.json["messaging_type"], "RESPONSE");
    }
    assert_eq!(by_recipient.len(), 5, "{by_recipient:?}");
    assert!(!by_recipient.contains_key(imported));
    assert!(by_recipient.values().all(|calls| calls.len() == 1));
    let template = &by_recipient[writers[0]][0].json["message"]["attachment"]["payload"];
    assert_eq!(template["template_type"], "button", "{template}");
    assert_eq!(template["text"], "Hi, your code is SNOW");
    assert_eq!(template["buttons"][0]["url"], "https://shop.test/");
    assert_eq!(template["buttons"][1]["payload"], "rate:fb-winter:5");
    let (_, blocked) = app
        .admin_get(&format!("/api/v1/subscribers/{channel}:{gone}"))
        .await;
    assert_eq!(blocked["status"], "blocked", "{blocked}");

    // Watermarks: everyone sent to has it delivered, two read it; Meta redelivers one read.
    let later = now_ms() + 1000;
    for psid in [writers[0], writers[1], writers[2], get_started] {
        let body = watermark("messenger/webhook_delivery", "delivery", psid, later);
        assert_eq!(app.messenger_notification(&body).await.0, 200);
    }
    for psid in [writers[0], writers[1], writers[0]] {
        let body = watermark("messenger/webhook_read", "read", psid, later + 1);
        assert_eq!(app.messenger_notification(&body).await.0, 200);
    }
    let stats = app.feedback_stats("fb-winter").await;
    assert_eq!(stats["delivered"], 4, "{stats}");
    assert_eq!(stats["read"], 2, "{stats}");
    assert_eq!(stats["open_rate"], 0.5, "{stats}");

    // A reply and a rating postback, each delivered twice, count once.
    let reply = text_message(writers[2], "m_reply1", "Love it");
    let rating = postback(writers[0], "rate:fb-winter:5");
    for _ in 0..2 {
        assert_eq!(app.messenger_notification(&reply).await.0, 200);
        assert_eq!(app.messenger_notification(&rating).await.0, 200);
    }
    let stats = app.feedback_stats("fb-winter").await;
    assert_eq!(stats["replied"], 1, "{stats}");
    assert_eq!(stats["ratings"], 1, "{stats}");
    let export = app.feedback_export("fb-winter", "jsonl").await;
    let export = export.text().await.unwrap();
    assert!(export.contains("Love it"), "{export}");
    assert!(export.lines().any(|l| l.contains("\"read\"")), "{export}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transactional_template_with_a_message_tag_reaches_people_outside_the_window() {
    let app = TestApp::start().await;
    let channel = format!("messenger:{MESSENGER_PAGE_ID}");
    let (writer, imported) = ("1000011", "1000012");
    let body = text_message(writer, "m_in_t1", "where is my order?");
    assert_eq!(app.messenger_notification(&body).await.0, 200);
    let line = json!({"channel": channel, "address": imported, "consent": {"at": "2026-10-01T00:00:00Z", "source": "checkout", "evidence": "order-77"}});
    app.import_subscribers(&line.to_string()).await;

    app.create_template(
        json!({"id": "fb-shipped", "name": "Order shipped", "locales": {"en": {
            "text": "Your order {{ campaign.variables.order }} is on its way",
            "messenger_tag": "POST_PURCHASE_UPDATE"
        }}}),
    )
    .await;
    app.create_campaign(json!({"id": "fb-shipped", "name": "Shipped", "channel": channel, "template_id": "fb-shipped", "variables": {"order": "#77"}}))
        .await;
    app.schedule_now("fb-shipped").await;
    let progress = app.run_until_completed("fb-shipped").await;
    assert_eq!(progress["counts"]["sent"], 2, "{progress}");

    // Inside the window a standard message; outside it, only under the template's tag.
    let by_recipient = app.fake.calls_by_recipient("messages");
    let standard = &by_recipient[writer][0].json;
    assert_eq!(standard["messaging_type"], "RESPONSE", "{standard}");
    assert!(standard.get("tag").is_none(), "{standard}");
    let tagged = &by_recipient[imported][0].json;
    assert_eq!(tagged["messaging_type"], "MESSAGE_TAG", "{tagged}");
    assert_eq!(tagged["tag"], "POST_PURCHASE_UPDATE", "{tagged}");
    assert_eq!(tagged["message"]["text"], "Your order #77 is on its way");

    // A tag Messenger does not allow is refused when the template is saved, naming the allowed ones.
    let (status, body) = app
        .admin_json(
            reqwest::Method::POST,
            "/api/v1/templates",
            Some(json!({"id": "fb-bad", "name": "Bad", "locales": {"en": {
                "text": "Sale!", "messenger_tag": "HUMAN_AGENT"}}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("POST_PURCHASE_UPDATE"), "{body}");
}
