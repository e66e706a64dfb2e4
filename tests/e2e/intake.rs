//! Webhook intake: failed statuses and template quick replies in the statistics, and answers that say
//! exactly what changed, also when a platform delivers the same update several times at once.

use serde_json::{json, Value};
use spinpost_tests::app::WHATSAPP_PHONE_NUMBER_ID;
use spinpost_tests::fixtures::{self, unix_now_secs};
use spinpost_tests::webhooks::{telegram_text, whatsapp_statuses};
use spinpost_tests::{Recorded, TestApp};

/// A WhatsApp campaign sent to `numbers` (imported, so only its approved template goes out); returns
/// the platform's message id of each send, in the order of `numbers`.
async fn whatsapp_campaign(app: &TestApp, id: &str, numbers: &[&str]) -> Vec<String> {
    let channel = format!("whatsapp:{WHATSAPP_PHONE_NUMBER_ID}");
    let lines: Vec<String> = numbers
        .iter()
        .map(|n| json!({"channel": channel, "address": n, "consent": {"at": "2026-10-01T00:00:00Z", "source": "form", "evidence": format!("form-{n}")}}).to_string())
        .collect();
    app.import_subscribers(&lines.join("\n")).await;
    app.create_template(json!({"id": id, "name": "Offer", "locales": {"en": {
        "text": "Our offer",
        "whatsapp_template": {"name": "offer", "language": "en_US", "parameters": []}}}}))
        .await;
    app.create_campaign(json!({"id": id, "name": "Offer", "channel": channel, "template_id": id}))
        .await;
    app.schedule_now(id).await;
    app.run_until_completed(id).await;
    let calls = app.fake.calls("messages");
    numbers
        .iter()
        .map(|n| {
            calls
                .iter()
                .filter(|c| c.json["to"] == *n)
                .find_map(Recorded::whatsapp_message_id)
                .expect("sent")
        })
        .collect()
}

/// A notification with one `failed` status carrying the platform's error.
fn failed_status(message_id: &str, code: i64, title: &str) -> String {
    let mut notification: Value =
        serde_json::from_str(&whatsapp_statuses(&[(message_id, "failed")])).unwrap();
    notification["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] =
        json!([{"code": code, "title": title}]);
    notification.to_string()
}

/// A template quick-reply press by `from`, answering our message `context_id`.
fn quick_reply(from: &str, message_id: &str, context_id: &str) -> String {
    let mut payload = fixtures::payload("whatsapp/webhook_inbound_text");
    let value = &mut payload["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["wa_id"] = from.into();
    let message = &mut value["messages"][0];
    message["from"] = from.into();
    message["id"] = message_id.into();
    message["timestamp"] = unix_now_secs().to_string().into();
    message["type"] = "button".into();
    message.as_object_mut().unwrap().remove("text");
    message["button"] = json!({"payload": "More offers", "text": "More offers"});
    message["context"] = json!({"from": "15550001111", "id": context_id});
    payload.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_statuses_and_quick_replies_show_in_the_statistics() {
    let app = TestApp::start().await;
    let numbers = ["972591000001", "972591000002", "972591000003"];
    let ids = whatsapp_campaign(&app, "offer", &numbers).await;
    let stats = app.feedback_stats("offer").await;
    assert_eq!(
        (stats["sent"].as_i64(), stats["failed"].as_i64()),
        (Some(3), Some(0)),
        "{stats}"
    );

    // Two messages fail after the platform accepted them; a read reported later does not undo it.
    for (id, code, title) in [
        (&ids[0], 131047, "Re-engagement message"),
        (&ids[1], 131014, "Request for url"),
    ] {
        let (status, body) = app
            .whatsapp_notification(&failed_status(id, code, title))
            .await;
        assert_eq!((status, body["applied"].as_u64()), (200, Some(1)), "{body}");
    }
    let (status, body) = app
        .whatsapp_notification(&whatsapp_statuses(&[(&ids[0], "read"), (&ids[2], "read")]))
        .await;
    assert_eq!(status, 200, "{body}");
    // The third person taps a quick-reply button of the template.
    let (status, body) = app
        .whatsapp_notification(&quick_reply(numbers[2], "wamid.tap1", &ids[2]))
        .await;
    assert_eq!((status, body["applied"].as_u64()), (200, Some(1)), "{body}");
    let (status, body) = app
        .whatsapp_notification(&quick_reply(numbers[2], "wamid.tap1", &ids[2]))
        .await;
    assert_eq!(
        (status, body["duplicates"].as_u64()),
        (200, Some(1)),
        "a redelivered tap: {body}"
    );

    let stats = app.feedback_stats("offer").await;
    assert_eq!(stats["sent"], 1, "{stats}");
    assert_eq!(stats["failed"], 2, "{stats}");
    assert_eq!(
        (stats["delivered"].as_i64(), stats["read"].as_i64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    assert_eq!(
        (stats["replies"].as_i64(), stats["replied"].as_i64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    let export = app
        .feedback_export("offer", "jsonl")
        .await
        .text()
        .await
        .unwrap();
    let rows: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed = rows
        .iter()
        .find(|r| r["message_id"] == ids[0].as_str())
        .unwrap_or_else(|| panic!("{export}"));
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        rows.iter().any(|r| r["text"] == "More offers"),
        "the tap is in the export: {export}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_identical_deliveries_answer_applied_exactly_once() {
    let app = std::sync::Arc::new(TestApp::start().await);
    let start = telegram_text(700, 7_700_001, "/start");
    let deliveries: Vec<_> = (0..8)
        .map(|_| {
            let (app, start) = (std::sync::Arc::clone(&app), start.clone());
            tokio::spawn(async move { app.telegram_update(&start).await })
        })
        .collect();
    let mut applied = 0;
    for delivery in deliveries {
        let (status, body) = delivery.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let counts = (
            body["applied"].as_u64().unwrap(),
            body["duplicates"].as_u64().unwrap(),
        );
        assert!(counts == (1, 0) || counts == (0, 1), "{body}");
        applied += counts.0;
    }
    assert_eq!(applied, 1, "of 8 identical deliveries exactly one applies");
    let person = app
        .subscribed_by("telegram:shop:7700001", "telegram:/start")
        .await;
    assert_eq!(person["consent"].as_array().unwrap().len(), 1, "{person}");

    // One notification repeating a status of one message five times stores it once and says so.
    let ids = whatsapp_campaign(&app, "repeat", &["972592000001"]).await;
    let repeated: Vec<(&str, &str)> = vec![(ids[0].as_str(), "delivered"); 5];
    let (status, body) = app
        .whatsapp_notification(&whatsapp_statuses(&repeated))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["applied"].as_u64(), body["duplicates"].as_u64()),
        (Some(1), Some(4)),
        "{body}"
    );
    assert_eq!(app.feedback_stats("repeat").await["delivered"], 1);
}
