//! Segments on the real components: a 60-days-without-order audience selects exactly the right people,
//! the subscriber search speaks the same filter language, and the estimate matches what the campaign
//! then does.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use spinpost_tests::app::expect_status;
use spinpost_tests::TestApp;

/// Ordered more than 60 days ago, as an audience condition.
fn no_order_for_60_days() -> Value {
    json!({"conditions": [{"attribute": "last_order_at", "op": "older_than", "days": 60}]})
}

/// Import `telegram:shop` subscribers, chat => `last_order_at` (none: no attribute).
async fn import(app: &TestApp, people: &[(u32, Option<String>)]) {
    let lines: Vec<String> = people
        .iter()
        .map(|(chat, last_order_at)| {
            let attributes = last_order_at
                .as_ref()
                .map_or(json!({}), |at| json!({"last_order_at": at}));
            json!({"channel": "telegram:shop", "address": chat.to_string(), "attributes": attributes,
                   "consent": {"at": "2026-01-01T10:00:00Z", "source": "checkout", "evidence": format!("order-{chat}")}})
            .to_string()
        })
        .collect();
    let report = app.import_subscribers(&lines.join("\n")).await;
    assert_eq!(report["created"], people.len(), "{report}");
}

fn ids(chats: &[u32]) -> BTreeSet<String> {
    chats.iter().map(|c| format!("telegram:shop:{c}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_60_days_without_order_segment_selects_exactly_the_right_people_as_estimated() {
    let app = TestApp::start().await;
    let ago = |d: Duration| Some((Utc::now() - d).to_rfc3339());
    import(
        &app,
        &[
            (7001, ago(Duration::days(59))),
            (7002, ago(Duration::days(60) + Duration::hours(1))),
            (7003, ago(Duration::days(60) - Duration::hours(1))),
            (7004, Some("2025-01-31".into())),
            (7005, Some("unknown".into())),
            (7006, None),
            (7007, ago(Duration::days(400))),
        ],
    )
    .await;
    let selected = ids(&[7002, 7004, 7007]);

    // The subscriber search speaks the audience's language and says how much it scanned.
    let found = expect_status(
        200,
        app.admin_json(
            Method::POST,
            "/api/v1/subscribers/search?limit=50",
            Some(json!({"channel": "telegram:shop", "filter": no_order_for_60_days()})),
        )
        .await,
    );
    let found_ids: BTreeSet<String> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(found_ids, selected);
    assert_eq!(found["scanned"], 7);

    // A condition that does not fit its op is refused with what to fix.
    let refused = expect_status(
        400,
        app.admin_json(
            Method::POST,
            "/api/v1/campaigns",
            Some(json!({"name": "Bad", "channel": "telegram:shop", "template_id": "winback",
                        "audience": {"conditions": [{"attribute": "orders", "op": "gte", "days": 3}]}})),
        )
        .await,
    );
    assert_eq!(refused["error"]["code"], "invalid_condition", "{refused}");

    app.create_template(json!({"id": "winback", "name": "Win back",
        "locales": {"en": {"text": "We miss you! {{ campaign.variables.code }}"}}}))
        .await;
    app.create_campaign(json!({"id": "winback", "name": "Win back", "channel": "telegram:shop",
        "template_id": "winback", "variables": {"code": "BACK-10"}, "audience": no_order_for_60_days()}))
        .await;
    let estimate = expect_status(
        200,
        app.admin_get("/api/v1/campaigns/winback/estimate").await,
    );
    assert_eq!(estimate["matched"], 3, "{estimate}");
    assert_eq!(estimate["recipients"], 3, "{estimate}");
    assert_eq!(estimate["will_send"], 3, "{estimate}");
    assert_eq!(estimate["skipped"], json!({}), "{estimate}");
    assert_eq!(estimate["failed"], json!({}), "{estimate}");
    assert_eq!(estimate["scanned"], 7, "{estimate}");
    assert_eq!(estimate["complete"], true, "{estimate}");
    assert!(estimate["expected_duration_seconds"].as_u64().unwrap() >= 1);

    app.schedule_now("winback").await;
    let progress = app.run_until_completed("winback").await;
    assert_eq!(
        progress["counts"]["targeted"], estimate["recipients"],
        "{progress}"
    );
    assert_eq!(
        progress["counts"]["sent"], estimate["will_send"],
        "{progress}"
    );
    assert_eq!(progress["counts"]["skipped"], 0, "{progress}");

    let (_, ledger) = app.admin_get("/api/v1/campaigns/winback/deliveries").await;
    let sent: BTreeSet<String> = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|batch| batch["entries"].as_array().unwrap().clone())
        .filter(|entry| entry["outcome"]["state"] == "sent")
        .map(|entry| entry["subscriber"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, selected);
    let messaged: BTreeSet<String> = app
        .fake
        .calls_by_recipient("sendMessage")
        .into_keys()
        .map(|chat| format!("telegram:shop:{chat}"))
        .collect();
    assert_eq!(messaged, selected);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_estimate_at_a_later_send_time_leaves_out_who_stopped_as_the_campaign_then_does() {
    let app = TestApp::start().await;
    import(&app, &[(7101, None), (7102, None), (7103, None)]).await;
    // 7103 stops before the campaign: not a recipient.
    let stop = spinpost_tests::webhooks::telegram_text(1, 7103, "/stop");
    let (status, body) = app.telegram_update(&stop).await;
    assert_eq!(status, 200, "{body}");
    app.create_template(
        json!({"id": "news", "name": "News", "locales": {"en": {"text": "News!"}}}),
    )
    .await;
    app.create_campaign(
        json!({"id": "news", "name": "News", "channel": "telegram:shop", "template_id": "news"}),
    )
    .await;
    let at = (Utc::now() + Duration::days(1)).to_rfc3339();
    let estimate = expect_status(
        200,
        app.admin_json(
            Method::POST,
            "/api/v1/campaigns/news/estimate",
            Some(json!({"send_at": at})),
        )
        .await,
    );
    assert_eq!(
        (
            &estimate["matched"],
            &estimate["not_subscribed"],
            &estimate["will_send"]
        ),
        (&json!(3), &json!(1), &json!(2)),
        "{estimate}"
    );
    app.schedule_now("news").await;
    let progress = app.run_until_completed("news").await;
    assert_eq!(progress["counts"]["targeted"], 2, "{progress}");
    assert_eq!(progress["counts"]["sent"], 2, "{progress}");
}
