//! Automated messages on the real components: a shop's `order.shipped` event sends one message with the
//! order number, once per idempotency key; an appointment reminder goes out 24 h before the appointment
//! and not before; a cancelling event drops a pending reminder; a customer who unsubscribed gets
//! nothing and the answer says why.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use spinpost_tests::app::expect_status;
use spinpost_tests::TestApp;

/// The fixture `/start` comes from chat 1111111.
const CHAT: i64 = 1111111;
const SUBSCRIBER: &str = "telegram:shop:1111111";

async fn post_event(app: &TestApp, event: Value) -> (u16, Value) {
    app.admin_json(Method::POST, "/api/v1/events", Some(event))
        .await
}

async fn tick(app: &TestApp) {
    let (status, body) = app.tick().await;
    assert_eq!(status, 200, "{body}");
}

async fn set_up(app: &TestApp) {
    app.subscribe_by_start_command().await;
    app.create_template(json!({
        "id": "order-shipped", "name": "Order shipped",
        "locales": {"en": {"text": "Your order <b>{{ event.data.order_number }}</b> is on its way, {{ subscriber.first_name }}!"}}
    }))
    .await;
    app.create_template(json!({
        "id": "reminder", "name": "Reminder",
        "locales": {"en": {"text": "Reminder: your appointment {{ event.key }} is tomorrow at {{ event.data.appointment_at }}"}}
    }))
    .await;
    for rule in [
        json!({"id": "order-shipped", "event": "order.shipped", "template_id": "order-shipped",
               "channels": ["telegram:shop"], "kind": "transactional"}),
        json!({"id": "appointment-reminder", "event": "appointment.booked", "template_id": "reminder",
               "channels": ["telegram:shop"], "kind": "transactional",
               "timing": {"relative_to": "appointment_at", "offset": "-24h"},
               "cancelled_by": ["appointment.cancelled"]}),
    ] {
        let created = expect_status(
            201,
            app.admin_json(Method::POST, "/api/v1/rules", Some(rule))
                .await,
        );
        assert_eq!(created["enabled"], true, "{created}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_shipped_event_sends_one_message_once_per_idempotency_key() {
    let app = TestApp::start().await;
    set_up(&app).await;
    let shipped = json!({"name": "order.shipped", "subscriber_id": SUBSCRIBER,
                         "data": {"order_number": "4711"}, "idempotency_key": "order-4711-shipped"});
    let before = app.fake.telegram_texts_to(CHAT).len();
    let first = expect_status(200, post_event(&app, shipped.clone()).await);
    assert_eq!(first["rules"][0]["rule_id"], "order-shipped", "{first}");
    assert_eq!(first["rules"][0]["result"], "queued", "{first}");
    assert_eq!(first["rules"][0]["channel"], "telegram:shop", "{first}");
    tick(&app).await;
    let texts = app.fake.telegram_texts_to(CHAT);
    assert_eq!(texts.len(), before + 1, "{texts:?}");
    assert!(texts[before].contains("<b>4711</b>"), "{texts:?}");

    // The same event again answers as the first time and sends nothing.
    let again = expect_status(200, post_event(&app, shipped.clone()).await);
    assert_eq!(again, first);
    tick(&app).await;
    assert_eq!(app.fake.telegram_texts_to(CHAT).len(), before + 1);

    // The same key with another event is refused.
    let mut changed = shipped.clone();
    changed["data"]["order_number"] = json!("9999");
    let (status, body) = post_event(&app, changed).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_key_reused");

    // The customer answers the order message: the reply counts for the rule, like a campaign's.
    let reply = spinpost_tests::webhooks::telegram_text(91, CHAT, "Thanks, can't wait!");
    expect_status(200, app.telegram_update(&reply).await);
    let stats = expect_status(
        200,
        app.admin_get("/api/v1/rules/order-shipped/stats").await,
    );
    assert_eq!(stats["sent"], 1, "{stats}");
    assert_eq!(stats["replies"], 1, "{stats}");
    assert_eq!(stats["campaign_id"], "r--order-shipped", "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reminder_goes_out_a_day_before_the_appointment_and_a_cancellation_drops_another() {
    let app = TestApp::start().await;
    set_up(&app).await;
    let before = app.fake.telegram_texts_to(CHAT).len();
    let booked_at = Instant::now();
    let appointment_at = (Utc::now() + chrono::Duration::hours(24) + chrono::Duration::seconds(4))
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let booked = |key: &str, at: &str| {
        json!({"name": "appointment.booked", "subscriber_id": SUBSCRIBER, "key": key,
               "data": {"appointment_at": at}, "idempotency_key": format!("booked-{key}")})
    };
    let answer = expect_status(200, post_event(&app, booked("A-1", &appointment_at)).await);
    assert_eq!(answer["rules"][0]["result"], "queued", "{answer}");
    let later =
        (Utc::now() + chrono::Duration::hours(48)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let other = expect_status(200, post_event(&app, booked("A-2", &later)).await);
    let other_id = other["rules"][0]["message_id"].as_str().unwrap().to_owned();

    let scheduled = expect_status(
        200,
        app.admin_get(&format!("/api/v1/scheduled?subscriber_id={SUBSCRIBER}"))
            .await,
    );
    assert_eq!(
        scheduled["scheduled"].as_array().unwrap().len(),
        2,
        "{scheduled}"
    );

    // A-2 is cancelled by the shop; its reminder is no longer pending.
    let cancelled = expect_status(
        200,
        post_event(
            &app,
            json!({"name": "appointment.cancelled", "subscriber_id": SUBSCRIBER, "key": "A-2",
                   "idempotency_key": "cancelled-A-2"}),
        )
        .await,
    );
    assert_eq!(cancelled["rules"][0]["result"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["rules"][0]["cancelled"], 1, "{cancelled}");
    let scheduled = expect_status(
        200,
        app.admin_get(&format!("/api/v1/scheduled?subscriber_id={SUBSCRIBER}"))
            .await,
    );
    let pending = scheduled["scheduled"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{scheduled}");
    assert_ne!(pending[0]["id"], other_id.as_str());
    let (status, body) = app
        .admin_json(
            Method::DELETE,
            &format!("/api/v1/scheduled/{other_id}"),
            None,
        )
        .await;
    assert_eq!(
        status, 409,
        "a cancelled message cannot be cancelled again: {body}"
    );
    assert_eq!(body["error"]["code"], "not_cancellable");

    // Not before it is due...
    tick(&app).await;
    assert_eq!(app.fake.telegram_texts_to(CHAT).len(), before);
    // ...and once it is, exactly once.
    let mut reminders = Vec::new();
    while booked_at.elapsed() < Duration::from_secs(20) {
        tick(&app).await;
        reminders = app
            .fake
            .telegram_texts_to(CHAT)
            .into_iter()
            .filter(|t| t.starts_with("Reminder"))
            .collect();
        if !reminders.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        booked_at.elapsed() >= Duration::from_secs(3),
        "not before it was due"
    );
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert!(reminders[0].contains("A-1"), "{reminders:?}");
    tick(&app).await;
    assert_eq!(
        app.fake.telegram_texts_to(CHAT).len(),
        before + 1,
        "nothing else went out"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsubscribed_customer_gets_nothing_and_the_answer_says_why() {
    let app = TestApp::start().await;
    set_up(&app).await;
    let stop = spinpost_tests::webhooks::telegram_text(90, CHAT, "/stop");
    expect_status(200, app.telegram_update(&stop).await);
    let sent_before = app.fake.telegram_texts_to(CHAT).len();
    let batch = json!({"events": [
        {"name": "order.shipped", "subscriber_id": SUBSCRIBER, "data": {"order_number": "1"},
         "idempotency_key": "order-1-shipped"},
        {"name": "order.shipped", "subscriber_id": "telegram:shop:999", "data": {"order_number": "2"},
         "idempotency_key": "order-2-shipped"},
        {"name": "order.delivered", "subscriber_id": SUBSCRIBER, "idempotency_key": "order-1-delivered"}
    ]});
    let answers = expect_status(200, post_event(&app, batch).await);
    let answers = answers["answers"].as_array().unwrap();
    assert_eq!(answers[0]["rules"][0]["result"], "skipped");
    assert_eq!(answers[0]["rules"][0]["reason"], "unsubscribed");
    assert_eq!(answers[1]["rules"][0]["reason"], "no_subscriber");
    assert_eq!(
        answers[2]["rules"],
        json!([]),
        "no rule answers order.delivered"
    );
    tick(&app).await;
    assert_eq!(app.fake.telegram_texts_to(CHAT).len(), sent_before);

    // Bad input is a 400 saying what to fix.
    let (status, body) = post_event(
        &app,
        json!({"name": "Order Shipped", "subscriber_id": SUBSCRIBER, "idempotency_key": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_event_name");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_whatsapp_outside_the_service_window_the_approved_template_goes_or_the_message_is_skipped(
) {
    use spinpost_tests::app::WHATSAPP_PHONE_NUMBER_ID;
    let app = TestApp::start().await;
    let channel = format!("whatsapp:{WHATSAPP_PHONE_NUMBER_ID}");
    let line = |number: &str| {
        json!({"channel": channel, "address": number,
               "consent": {"at": "2026-11-01T10:00:00Z", "source": "checkout", "evidence": number}})
        .to_string()
    };
    app.import_subscribers(&format!(
        "{}\n{}",
        line("4915100000001"),
        line("4915100000002")
    ))
    .await;
    app.create_template(
        json!({"id": "shipped-approved", "name": "Shipped (approved)", "locales": {"en": {
        "text": "Order {{ event.data.order_number }} shipped",
        "whatsapp_template": {"name": "order_shipped", "language": "en_US",
                              "parameters": ["{{ event.data.order_number }}"]}}}}),
    )
    .await;
    app.create_template(json!({"id": "shipped-free", "name": "Shipped (free text)",
        "locales": {"en": {"text": "Order {{ event.data.order_number }} shipped"}}}))
        .await;
    for (id, event, template) in [
        ("wa-approved", "order.shipped", "shipped-approved"),
        ("wa-free", "order.packed", "shipped-free"),
    ] {
        let rule = json!({"id": id, "event": event, "template_id": template,
                          "channels": [channel], "kind": "transactional"});
        expect_status(
            201,
            app.admin_json(Method::POST, "/api/v1/rules", Some(rule))
                .await,
        );
    }
    let shipped = expect_status(
        200,
        post_event(
            &app,
            json!({"name": "order.shipped", "subscriber_id": format!("{channel}:4915100000001"),
                   "data": {"order_number": "77"}, "idempotency_key": "wa-77-shipped"}),
        )
        .await,
    );
    let packed = expect_status(
        200,
        post_event(
            &app,
            json!({"name": "order.packed", "subscriber_id": format!("{channel}:4915100000002"),
                   "data": {"order_number": "78"}, "idempotency_key": "wa-78-packed"}),
        )
        .await,
    );
    tick(&app).await;
    let templates: Vec<Value> = app
        .fake
        .recorded()
        .into_iter()
        .filter(|call| call.json["type"] == "template")
        .map(|call| call.json)
        .collect();
    assert_eq!(templates.len(), 1, "{templates:?}");
    assert_eq!(templates[0]["template"]["name"], "order_shipped");
    assert_eq!(
        templates[0]["template"]["components"][0]["parameters"][0]["text"],
        "77"
    );
    let skipped_id = packed["rules"][0]["message_id"].as_str().unwrap();
    let skipped = expect_status(
        200,
        app.admin_get(&format!("/api/v1/scheduled/{skipped_id}"))
            .await,
    );
    assert_eq!(skipped["state"], "finished", "{skipped}");
    assert_eq!(skipped["outcome"]["state"], "skipped", "{skipped}");
    assert!(
        skipped["outcome"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("outside_service_window"),
        "{skipped}"
    );
    assert_eq!(shipped["rules"][0]["result"], "queued");
}
