//! Frequency caps on the real components: a person already at the workspace's cap is skipped with the
//! reason in the ledger while the others are sent, and caps written wrongly stop the scheduler with
//! what to fix.

use serde_json::{json, Value};
use spinpost_tests::TestApp;

const CAPS: &str = "promotional:2/7d,promotional:1/calendar_day";

/// Import chats `chats` of `telegram:shop`, tagged `tag`.
async fn import(app: &TestApp, chats: &[u32], tag: &str) {
    let lines: Vec<String> = chats
        .iter()
        .map(|chat| {
            json!({"channel": "telegram:shop", "address": chat.to_string(), "tags": [tag],
                   "consent": {"at": "2026-11-01T10:00:00Z", "source": "checkout", "evidence": format!("order-{chat}")}})
            .to_string()
        })
        .collect();
    let report = app.import_subscribers(&lines.join("\n")).await;
    assert_eq!(report["created"], chats.len(), "{report}");
}

/// Send campaign `id` to `audience` until it completes; its final progress.
async fn send_campaign(app: &TestApp, id: &str, audience: Value) -> Value {
    app.create_campaign(json!({"id": id, "name": id, "channel": "telegram:shop", "template_id": "promo", "audience": audience}))
        .await;
    app.schedule_now(id).await;
    app.run_until_completed(id).await
}

/// Each ledger entry of campaign `id`: the chat and its outcome.
async fn ledger(app: &TestApp, id: &str) -> Vec<(String, Value)> {
    let (status, page) = app
        .admin_get(&format!("/api/v1/campaigns/{id}/deliveries"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .expect("a page of batches")
        .iter()
        .flat_map(|batch| batch["entries"].as_array().expect("entries").clone())
        .map(|entry| {
            let chat = entry["subscriber"].as_str().expect("a subscriber id");
            let chat = chat.trim_start_matches("telegram:shop:").to_owned();
            (chat, entry["outcome"].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_already_at_the_cap_is_skipped_with_the_reason_while_others_are_sent() {
    let app = TestApp::start_with(|variables| {
        variables.insert("frequency_caps".into(), CAPS.into());
    })
    .await;
    import(&app, &[9001], "early").await;
    import(&app, &[9002, 9003], "late").await;
    app.create_template(
        json!({"id": "promo", "name": "Promo", "locales": {"en": {"text": "Hi, new arrivals"}}}),
    )
    .await;

    // Today's promotional message reaches 9001 first.
    let first = send_campaign(&app, "early-bird", json!({"all_tags": ["early"]})).await;
    assert_eq!(first["counts"]["sent"], 1, "{first}");

    // The next campaign goes to everyone: 9001 is at the cap of one a day, the others are not.
    let second = send_campaign(&app, "everyone", json!({})).await;
    assert_eq!(
        (
            second["counts"]["sent"].clone(),
            second["counts"]["skipped"].clone()
        ),
        (json!(2), json!(1)),
        "{second}"
    );
    let entries = ledger(&app, "everyone").await;
    assert_eq!(entries.len(), 3, "{entries:?}");
    for (chat, outcome) in entries {
        if chat == "9001" {
            assert_eq!(outcome["state"], "skipped", "{outcome}");
            assert_eq!(
                outcome["reason"],
                "frequency_cap: at most 1 promotional message per calendar day (UTC)"
            );
        } else {
            assert_eq!(outcome["state"], "sent", "{chat}: {outcome}");
        }
    }
    let to_9001 = app
        .fake
        .calls("sendMessage")
        .into_iter()
        .filter(|call| call.json["chat_id"] == 9001)
        .count();
    assert_eq!(to_9001, 1, "one message a day");
}

#[tokio::test(flavor = "multi_thread")]
async fn caps_written_wrongly_stop_the_scheduler_with_what_to_fix() {
    let app = TestApp::start_with(|variables| {
        variables.insert("frequency_caps".into(), "promotional:2/week".into());
    })
    .await;
    let (status, body) = app.tick().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "invalid_configuration");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'promotional:2/week'") && message.contains("promotional:1/calendar_day"),
        "{message}"
    );
}
