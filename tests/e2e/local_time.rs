//! Local-time campaigns and quiet hours on the real components, with the host's wall clock moved by the
//! test: a campaign at 10:00 local reaches Tokyo, Berlin and New York each at their 10:00, and a
//! message due in the quiet hours goes when they end.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use spinpost_tests::app::expect_status;
use spinpost_tests::TestApp;

pub(super) fn utc(s: &str) -> DateTime<Utc> {
    s.parse().expect("a valid instant")
}

/// Import chats with their timezones, a template and campaign `id` (not yet scheduled).
async fn seed(app: &TestApp, id: &str, chats: &[(i64, &str)]) {
    let lines: Vec<String> = chats
        .iter()
        .map(|(chat, zone)| {
            json!({
                "channel": "telegram:shop",
                "address": chat.to_string(),
                "first_name": format!("Chat {chat}"),
                "timezone": zone,
                "consent": {"at": "2026-11-01T10:00:00Z", "source": "checkout", "evidence": format!("order-{chat}")}
            })
            .to_string()
        })
        .collect();
    let report = app.import_subscribers(&lines.join("\n")).await;
    assert_eq!(report["created"], chats.len(), "{report}");
    app.create_template(json!({
        "id": "morning",
        "name": "Morning",
        "locales": {"en": {"text": "Good morning, {{ subscriber.first_name }}"}}
    }))
    .await;
    app.create_campaign(
        json!({"id": id, "name": "Morning", "channel": "telegram:shop", "template_id": "morning"}),
    )
    .await;
}

/// The chats sent to so far, in order.
pub(super) fn chats_sent(app: &TestApp) -> Vec<i64> {
    app.fake
        .calls("sendMessage")
        .iter()
        .map(|call| call.json["chat_id"].as_i64().expect("chat_id is a number"))
        .collect()
}

/// Set the components' clock to `at` and call the scheduler once.
async fn tick_at(app: &TestApp, at: &str) {
    app.set_clock(utc(at));
    let (status, body) = app.tick().await;
    assert_eq!(status, 200, "{body}");
}

pub(super) async fn schedule(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    app.admin_json(
        Method::POST,
        &format!("/api/v1/campaigns/{id}/schedule"),
        Some(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_campaign_at_ten_local_reaches_each_zone_at_its_ten() {
    let app = TestApp::start().await;
    app.set_clock(utc("2027-01-14T12:00:00Z"));
    seed(
        &app,
        "morning",
        &[
            (3001, "Asia/Tokyo"),
            (3002, "Europe/Berlin"),
            (3003, "America/New_York"),
        ],
    )
    .await;

    // At 12:00 UTC on 14 January, 10:00 on 13 January has passed in every zone (the last, UTC-12, at
    // 22:00 UTC on 13 January).
    let refused = schedule(
        &app,
        "morning",
        json!({"send_at": "2027-01-13T10:00", "timezone": "Europe/Berlin", "per_recipient_timezone": true}),
    )
    .await;
    let refused = expect_status(422, refused);
    assert_eq!(refused["error"]["code"], "send_at_in_past", "{refused}");

    let scheduled = expect_status(
        200,
        schedule(
            &app,
            "morning",
            json!({"send_at": "2027-01-15T10:00", "timezone": "Europe/Berlin", "per_recipient_timezone": true}),
        )
        .await,
    );
    assert_eq!(scheduled["schedule"]["per_recipient_timezone"], true);
    // It starts when 10:00 first comes anywhere (UTC+14).
    assert_eq!(
        scheduled["schedule"]["send_at"], "2027-01-14T20:00:00Z",
        "{scheduled}"
    );

    tick_at(&app, "2027-01-14T20:00:01Z").await;
    let (_, campaign) = app.admin_get("/api/v1/campaigns/morning").await;
    assert_eq!(campaign["state"], "running", "{campaign}");
    assert!(chats_sent(&app).is_empty());

    // Tokyo (UTC+9): 01:00 UTC.
    tick_at(&app, "2027-01-15T00:59:00Z").await;
    assert!(chats_sent(&app).is_empty());
    tick_at(&app, "2027-01-15T01:00:01Z").await;
    assert_eq!(chats_sent(&app), [3001]);

    // Berlin (UTC+1): 09:00 UTC.
    tick_at(&app, "2027-01-15T08:59:00Z").await;
    assert_eq!(chats_sent(&app), [3001]);
    tick_at(&app, "2027-01-15T09:00:01Z").await;
    assert_eq!(chats_sent(&app), [3001, 3002]);

    // New York (UTC-5): 15:00 UTC; then the campaign completes.
    tick_at(&app, "2027-01-15T14:59:00Z").await;
    assert_eq!(chats_sent(&app), [3001, 3002]);
    tick_at(&app, "2027-01-15T15:00:01Z").await;
    assert_eq!(chats_sent(&app), [3001, 3002, 3003]);
    let progress = app.run_until_completed("morning").await;
    assert_eq!(progress["counts"]["sent"], 3, "{progress}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_due_in_quiet_hours_goes_when_they_end() {
    let app = TestApp::start_with(|variables| {
        variables.insert("quiet_hours".into(), "21:00-09:00".into());
    })
    .await;
    // 13:00 UTC: 22:00 in Tokyo (quiet), 14:00 in Berlin.
    app.set_clock(utc("2027-01-14T13:00:00Z"));
    seed(
        &app,
        "evening",
        &[(4001, "Asia/Tokyo"), (4002, "Europe/Berlin")],
    )
    .await;
    app.schedule_now("evening").await;
    let (status, body) = app.tick().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(chats_sent(&app), [4002]);
    let (_, progress) = app.admin_get("/api/v1/campaigns/evening/progress").await;
    assert_eq!(progress["state"], "running", "{progress}");

    // Still quiet in Tokyo just before 09:00 (00:00 UTC), across midnight.
    tick_at(&app, "2027-01-14T23:59:00Z").await;
    assert_eq!(chats_sent(&app), [4002]);
    tick_at(&app, "2027-01-15T00:00:01Z").await;
    assert_eq!(chats_sent(&app), [4002, 4001]);
    let progress = app.run_until_completed("evening").await;
    assert_eq!(progress["counts"]["sent"], 2, "{progress}");
}
