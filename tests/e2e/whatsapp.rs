//! The WhatsApp journey: verification, signed webhooks, keyword opt-in, a campaign that uses the
//! service window or an approved template, rate limiting, and receipts that make real open rates.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use spinpost_tests::fixtures::{self, unix_now_secs};
use spinpost_tests::{FakeReply, TestApp};

/// The inbound text fixture, from another person and with another text.
fn inbound_text(from: &str, message_id: &str, text: &str) -> String {
    spinpost_tests::webhooks::whatsapp_text(from, message_id, text)
}

/// One notification carrying several statuses, in the fixture's shape.
fn statuses(items: &[(&str, &str)]) -> String {
    spinpost_tests::webhooks::whatsapp_statuses(items)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whatsapp_campaign_reports_delivery_and_real_open_rates() {
    let app = TestApp::start().await;
    let channel = "whatsapp:1122334455667";

    // Ten people opt in by keyword inside the service window; two more come from an import and have
    // never written, so only an approved template may reach them.
    let in_window: Vec<String> = (1..=10).map(|i| format!("97250000{i:04}")).collect();
    for (i, number) in in_window.iter().enumerate() {
        let (status, body) = app
            .whatsapp_notification(&inbound_text(number, &format!("wamid.in{i}"), "start"))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    app.subscribed_by(
        &format!("{channel}:{}", in_window[0]),
        "whatsapp:keyword START",
    )
    .await;
    let outside = ["972590000001", "972590000002"];
    let lines: Vec<String> = outside
        .iter()
        .map(|n| json!({"channel": channel, "address": n, "first_name": "Imported", "consent": {"at": "2026-10-01T00:00:00Z", "source": "store-signup", "evidence": format!("form-{n}")}}).to_string())
        .collect();
    app.import_subscribers(&lines.join("\n")).await;

    app.create_template(json!({"id": "wa-promo", "name": "WA promo", "locales": {"en": {
        "text": "Hi {{ subscriber.first_name | default('there') }}, your code is {{ campaign.variables.code }}",
        "buttons": [[{"text": "Great", "rating": 5}, {"text": "Meh", "rating": 2}]],
        "whatsapp_template": {"name": "winter_promo", "language": "en_US", "parameters": ["{{ subscriber.first_name | default('there') }}", "{{ campaign.variables.code }}"]}
    }}}))
    .await;
    app.create_campaign(json!({"id": "wa-winter", "name": "WA winter", "channel": channel, "template_id": "wa-promo", "variables": {"code": "SNOW"}}))
        .await;

    // The number's throughput limit is hit once.
    app.fake.script(
        &in_window[3],
        vec![FakeReply::custom(
            400,
            json!({"error": {"message": "(#130429) Rate limit hit", "code": 130429}}),
        )],
    );
    app.schedule_now("wa-winter").await;
    let progress = app.run_until_completed("wa-winter").await;
    assert_eq!(progress["counts"]["sent"], 12, "{progress}");

    // What the Graph API received: one accepted message per person; the rate-limited one retried later.
    let calls = app.fake.calls("messages");
    let mut by_recipient: BTreeMap<String, Vec<&spinpost_tests::Recorded>> = BTreeMap::new();
    for call in &calls {
        assert!(
            call.path.ends_with("/v21.0/1122334455667/messages"),
            "{}",
            call.path
        );
        assert_eq!(
            call.headers
                .iter()
                .find(|(n, _)| n == "authorization")
                .map(|(_, v)| v.as_str()),
            Some("Bearer test-access-token")
        );
        by_recipient
            .entry(call.json["to"].as_str().unwrap().to_owned())
            .or_default()
            .push(call);
    }
    assert_eq!(by_recipient.len(), 12);
    for (to, calls) in &by_recipient {
        let accepted = calls.iter().filter(|c| c.reply.0 == 200).count();
        assert_eq!(accepted, 1, "{to} accepted {accepted} times");
    }
    let limited = &by_recipient[&in_window[3]];
    assert_eq!(limited.len(), 2);
    assert!(
        limited[1].at.duration_since(limited[0].at) >= Duration::from_millis(1500),
        "130429 must slow the number down"
    );
    let session = &by_recipient[&in_window[0]][0].json;
    assert_eq!(session["type"], "interactive", "{session}");
    assert_eq!(
        session["interactive"]["body"]["text"],
        format!("Hi Person {}, your code is SNOW", in_window[0])
    );
    assert_eq!(
        session["interactive"]["action"]["buttons"][0]["reply"]["id"],
        "rate:wa-winter:5"
    );
    let template = &by_recipient[outside[0]][0].json;
    assert_eq!(
        template["type"], "template",
        "outside the window only an approved template may be sent: {template}"
    );
    assert_eq!(template["template"]["name"], "winter_promo");
    assert_eq!(
        template["template"]["components"][0]["parameters"][0]["text"],
        "Imported"
    );

    // Receipts: some out of order, one read without a delivered, one repeated, two never come.
    let wamid = |to: &str| -> String {
        by_recipient[to]
            .iter()
            .find_map(|call| call.whatsapp_message_id())
            .unwrap()
    };
    let ids: Vec<String> = in_window
        .iter()
        .map(|n| wamid(n))
        .chain(outside.iter().map(|n| wamid(n)))
        .collect();
    let mut events: Vec<(&str, &str)> = Vec::new();
    for id in &ids[0..4] {
        events.push((id, "sent"));
        events.push((id, "delivered"));
        events.push((id, "read"));
    }
    for id in &ids[4..6] {
        events.push((id, "read"));
        events.push((id, "delivered"));
    }
    events.push((&ids[6], "read"));
    events.push((&ids[7], "delivered"));
    events.push((&ids[8], "delivered"));
    events.push((&ids[9], "delivered"));
    let (first_half, second_half) = events.split_at(events.len() / 2);
    for part in [first_half, second_half] {
        let (status, body) = app.whatsapp_notification(&statuses(part)).await;
        assert_eq!(status, 200, "{body}");
    }
    // Meta redelivers a whole notification.
    let (status, _) = app.whatsapp_notification(&statuses(second_half)).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .whatsapp_notification(&statuses(&[(&ids[9], "delivered")]))
        .await;
    assert_eq!(status, 200);

    let stats = app.feedback_stats("wa-winter").await;
    assert_eq!(stats["sent"], 12, "{stats}");
    assert_eq!(stats["delivered"], 10, "read counts as delivered: {stats}");
    assert_eq!(stats["read"], 7, "{stats}");
    assert_eq!(stats["open_rate"], 0.7, "{stats}");

    // A reply button press rates the campaign, as on Telegram.
    let mut press = fixtures::payload("whatsapp/webhook_interactive_button_reply");
    let value = &mut press["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["wa_id"] = in_window[0].clone().into();
    value["messages"][0]["from"] = in_window[0].clone().into();
    value["messages"][0]["id"] = "wamid.press1".into();
    value["messages"][0]["timestamp"] = unix_now_secs().to_string().into();
    value["messages"][0]["interactive"]["button_reply"]["id"] = "rate:wa-winter:5".into();
    let (status, body) = app.whatsapp_notification(&press.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let stats = app.feedback_stats("wa-winter").await;
    assert_eq!(stats["ratings"], 1, "{stats}");
    let export = app.feedback_export("wa-winter", "jsonl").await;
    let export = export.text().await.unwrap();
    assert!(
        export.lines().any(|l| l.contains("\"read\"")),
        "receipts are in the export: {export}"
    );
}
