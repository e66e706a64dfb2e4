//! A recurring campaign on the real components, with the host's wall clock moved by the test: a daily
//! birthday greeting reaches today's birthday people on day 1 and the next day's on day 2, nobody
//! twice, with statistics per run and in total.

use reqwest::Method;
use serde_json::json;
use spinpost_tests::app::expect_status;
use spinpost_tests::TestApp;

use super::local_time::{chats_sent, schedule, utc};

/// Set the components' clock to `at` and call the scheduler a few times (a run may take more than
/// one call: start, send, end).
async fn ticks_at(app: &TestApp, at: &str) {
    app.set_clock(utc(at));
    for _ in 0..4 {
        let (status, body) = app.tick().await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daily_birthday_greeting_reaches_each_day_s_birthday_people_once() {
    let app = TestApp::start().await;
    app.set_clock(utc("2027-01-14T12:00:00Z"));
    let people = [
        (5001, "1990-01-15"),
        (5002, "--01-16"),
        (5003, "1985-03-02"),
    ];
    let lines: Vec<String> = people
        .iter()
        .map(|(chat, birthday)| {
            json!({
                "channel": "telegram:shop",
                "address": chat.to_string(),
                "first_name": format!("Chat {chat}"),
                "timezone": "Europe/Berlin",
                "attributes": {"birthday": birthday},
                "consent": {"at": "2026-11-01T10:00:00Z", "source": "checkout", "evidence": format!("order-{chat}")}
            })
            .to_string()
        })
        .collect();
    let report = app.import_subscribers(&lines.join("\n")).await;
    assert_eq!(report["created"], people.len(), "{report}");
    app.create_template(json!({
        "id": "birthday",
        "name": "Birthday",
        "locales": {"en": {"text": "Happy birthday, {{ subscriber.first_name }}!"}}
    }))
    .await;
    app.create_campaign(json!({
        "id": "birthday", "name": "Birthday", "channel": "telegram:shop", "template_id": "birthday",
        "audience": {"conditions": [{"attribute": "birthday", "op": "anniversary_today"}]}
    }))
    .await;

    let refused = expect_status(
        400,
        schedule(
            &app,
            "birthday",
            json!({"recurring": {"every": "day", "at": "09:00", "timezone": "Europe/Berlin", "once_per_days": 0}}),
        )
        .await,
    );
    assert_eq!(
        refused["error"]["code"], "invalid_once_per_days",
        "{refused}"
    );
    let scheduled = expect_status(
        200,
        schedule(
            &app,
            "birthday",
            json!({"recurring": {"every": "day", "at": "09:00", "timezone": "Europe/Berlin", "once_per_days": 365}}),
        )
        .await,
    );
    // 13:00 in Berlin on 14 January: the first run is on 15 January at 09:00 (08:00 UTC).
    assert_eq!(
        scheduled["schedule"]["send_at"], "2027-01-15T08:00:00Z",
        "{scheduled}"
    );

    ticks_at(&app, "2027-01-15T07:59:00Z").await;
    assert!(chats_sent(&app).is_empty());
    ticks_at(&app, "2027-01-15T08:00:01Z").await;
    assert_eq!(chats_sent(&app), [5001]);
    let (_, campaign) = app.admin_get("/api/v1/campaigns/birthday").await;
    assert_eq!(campaign["state"], "scheduled", "between runs: {campaign}");

    // Day 2, and the scheduler called again and again during it.
    ticks_at(&app, "2027-01-16T08:00:01Z").await;
    ticks_at(&app, "2027-01-16T12:00:00Z").await;
    assert_eq!(chats_sent(&app), [5001, 5002], "nobody twice");

    let (status, runs) = app.admin_get("/api/v1/campaigns/birthday/runs").await;
    assert_eq!(status, 200, "{runs}");
    let summary: Vec<(String, String, i64)> = runs["runs"]
        .as_array()
        .expect("a list of runs")
        .iter()
        .map(|r| {
            (
                r["run"].as_str().unwrap_or_default().to_owned(),
                r["state"].as_str().unwrap_or_default().to_owned(),
                r["counts"]["sent"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("birthday@2027-01-15".to_owned(), "ended".to_owned(), 1),
            ("birthday@2027-01-16".to_owned(), "ended".to_owned(), 1),
            ("birthday@2027-01-17".to_owned(), "scheduled".to_owned(), 0),
        ],
        "{runs}"
    );
    let (_, stats) = app
        .admin_get("/api/v1/feedback/campaigns/birthday/stats")
        .await;
    assert_eq!(stats["sent"], 2, "in total: {stats}");

    let cancelled = expect_status(
        200,
        app.admin_json(Method::POST, "/api/v1/campaigns/birthday/cancel", None)
            .await,
    );
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
}
