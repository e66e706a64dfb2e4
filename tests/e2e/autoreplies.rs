//! Automated answers on the real components: the welcome on `/start`, and the keyword replies of the
//! FAQ bot, exactly once per message however often the platform delivers it, and never to someone
//! who unsubscribed.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use spinpost_tests::app::expect_status;
use spinpost_tests::TestApp;

/// The fixture `/start` comes from chat 1111111.
const FIXTURE_CHAT: i64 = 1111111;

async fn create_rule(app: &TestApp, rule: Value) -> Value {
    expect_status(
        201,
        app.admin_json(Method::POST, "/api/v1/rules", Some(rule))
            .await,
    )
}

/// A rule answering `keywords` on the Telegram bot with the `hours` template.
fn keyword_rule(id: &str, keywords: &[&str]) -> Value {
    json!({
        "id": id,
        "event": "message.received",
        "match": {"keywords": keywords},
        "template_id": "hours",
        "channels": ["telegram:shop"],
        "kind": "transactional"
    })
}

/// Tick the dispatcher until nothing more is sent (a few rounds), as a scheduler would.
async fn tick_a_few_times(app: &TestApp) {
    for _ in 0..3 {
        expect_status(200, app.tick().await);
    }
}

/// Deliver text message `message_id` of `chat` (as update `message_id` too).
async fn telegram_text(app: &TestApp, message_id: i64, chat: i64, text: &str) -> Value {
    let update = spinpost_tests::webhooks::telegram_text(message_id, chat, text);
    let mut update: Value = serde_json::from_str(&update).expect("the fixture is JSON");
    update["message"]["message_id"] = message_id.into();
    expect_status(200, app.telegram_update(&update.to_string()).await)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_welcome_goes_out_once_on_start_and_keywords_are_answered_once() {
    let app = TestApp::start().await;
    app.create_template(json!({
        "id": "welcome",
        "name": "Welcome",
        "locales": {"en": {"text": "Welcome, {{ subscriber.first_name }}! Ask us about opening hours."}}
    }))
    .await;
    app.create_template(json!({
        "id": "hours",
        "name": "Opening hours",
        "locales": {"en": {"text": "We are open 9 to 18, Monday to Saturday."}}
    }))
    .await;
    create_rule(
        &app,
        json!({
            "id": "welcome",
            "event": "subscribed",
            "template_id": "welcome",
            "channels": ["telegram:shop"],
            "timing": {"at": "once"},
            "kind": "transactional"
        }),
    )
    .await;
    create_rule(
        &app,
        keyword_rule("faq-hours", &["hours", "opening hours", "Öffnungszeiten"]),
    )
    .await;
    // A second rule matching the same words must not make a second answer.
    create_rule(&app, keyword_rule("faq-open", &["open", "hours"])).await;

    // `/start`, delivered twice by the platform: one welcome.
    app.subscribe_by_start_command().await;
    app.subscribe_by_start_command().await;
    tick_a_few_times(&app).await;
    assert_eq!(
        app.fake.telegram_texts_to(FIXTURE_CHAT),
        ["Welcome, Test Firstname! Ask us about opening hours."]
    );

    // "hours?" and "opening hours": one answer each, also when a message is delivered again.
    telegram_text(&app, 10001, FIXTURE_CHAT, "hours?").await;
    telegram_text(&app, 10001, FIXTURE_CHAT, "hours?").await;
    tick_a_few_times(&app).await;
    telegram_text(&app, 10002, FIXTURE_CHAT, "Opening HOURS").await;
    tick_a_few_times(&app).await;
    telegram_text(&app, 10002, FIXTURE_CHAT, "Opening HOURS").await;
    // A message no rule matches gets nothing.
    telegram_text(&app, 10003, FIXTURE_CHAT, "thank you!").await;
    tick_a_few_times(&app).await;
    let hours = "We are open 9 to 18, Monday to Saturday.";
    assert_eq!(
        app.fake.telegram_texts_to(FIXTURE_CHAT)[1..],
        [hours, hours]
    );

    // Unsubscribed: the keyword is not answered.
    telegram_text(&app, 10004, FIXTURE_CHAT, "/stop").await;
    telegram_text(&app, 10005, FIXTURE_CHAT, "hours").await;
    tick_a_few_times(&app).await;
    assert_eq!(app.fake.telegram_texts_to(FIXTURE_CHAT).len(), 3);
}

/// A WhatsApp text from `number` as message `message_id`, written `age` ago.
fn whatsapp_text(number: &str, message_id: &str, text: &str, age: Duration) -> String {
    let mut notification: Value = serde_json::from_str(&spinpost_tests::webhooks::whatsapp_text(
        number, message_id, text,
    ))
    .expect("the fixture is JSON");
    let written = spinpost_tests::fixtures::unix_now_secs() - i64::try_from(age.as_secs()).unwrap();
    notification["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] =
        written.to_string().into();
    notification.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whatsapp_keyword_is_answered_once_inside_the_service_window_only() {
    let app = TestApp::start().await;
    let number = "972500009999";
    app.create_template(json!({
        "id": "hours",
        "name": "Opening hours",
        "locales": {"en": {"text": "We are open 9 to 18, Monday to Saturday."}}
    }))
    .await;
    let mut rule = keyword_rule("faq-hours", &["hours"]);
    rule["channels"] = json!(["whatsapp:1122334455667"]);
    create_rule(&app, rule).await;

    let deliver = |id: &str, text: &str, age: Duration| {
        let body = whatsapp_text(number, id, text, age);
        let app = &app;
        async move { expect_status(200, app.whatsapp_notification(&body).await) }
    };
    // Opted in by keyword, then "Hours?" delivered twice: one answer.
    deliver("wamid.ar1", "start", Duration::ZERO).await;
    deliver("wamid.ar2", "Hours?", Duration::ZERO).await;
    deliver("wamid.ar2", "Hours?", Duration::ZERO).await;
    // A message whose webhook comes a day late is outside the 24-hour window: no answer.
    deliver("wamid.ar3", "hours", Duration::from_secs(25 * 3600)).await;
    tick_a_few_times(&app).await;
    let answers: Vec<String> = app
        .fake
        .calls("messages")
        .into_iter()
        .filter(|call| call.json["to"] == number)
        .map(|call| {
            call.json["text"]["body"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(answers, ["We are open 9 to 18, Monday to Saturday."]);
}
