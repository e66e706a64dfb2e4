//! The Telegram journey through all four components: subscribe, import, template, campaign, paced
//! sending with retries and suppression, replies and ratings in the statistics and exports.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use spinpost_tests::app::{expect_status, send};
use spinpost_tests::{fixtures, FakeReply, TestApp};

/// The fixture `/start` comes from chat 1111111, "Test Firstname".
const FIXTURE_CHAT: i64 = 1111111;

fn import_line(chat: i64, first_name: &str, tags: &[&str]) -> String {
    json!({
        "channel": "telegram:shop",
        "address": chat.to_string(),
        "first_name": first_name,
        "tags": tags,
        "consent": {"at": "2026-11-01T10:00:00Z", "source": "checkout", "evidence": format!("order-{chat}")}
    })
    .to_string()
}

fn text_update(update_id: i64, chat: i64, text: &str) -> String {
    spinpost_tests::webhooks::telegram_text(update_id, chat, text)
}

fn callback_update(update_id: i64, chat: i64, press_id: &str, data: &str) -> String {
    spinpost_tests::webhooks::telegram_press(update_id, chat, press_id, data)
}

async fn create_template(app: &TestApp) {
    app.create_template(json!({
        "id": "winter-promo",
        "name": "Winter promo",
        "locales": {"en": {
            "text": "Hi <b>{{ subscriber.first_name | default('friend') }}</b>! Your code: <code>{{ campaign.variables.code }}</code>",
            "buttons": [[{"text": "Shop now", "url": "https://shop.example/winter"}], [{"text": "★★★★★", "rating": 5}, {"text": "★", "rating": 1}]]
        }}
    }))
    .await;
}

fn sends_by_chat(app: &TestApp) -> BTreeMap<i64, Vec<spinpost_tests::Recorded>> {
    let mut by_chat: BTreeMap<i64, Vec<_>> = BTreeMap::new();
    for call in app.fake.calls("sendMessage") {
        by_chat
            .entry(call.json["chat_id"].as_i64().expect("chat_id is a number"))
            .or_default()
            .push(call);
    }
    by_chat
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_telegram_journey() {
    let app = std::sync::Arc::new(TestApp::start().await);

    // A customer subscribes in the chat.
    app.subscribe_by_start_command().await;
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            &format!("/api/v1/subscribers/telegram:shop:{FIXTURE_CHAT}"),
            Some(json!({"tags": {"add": ["vip"]}})),
        )
        .await;
    assert_eq!(status, 200);

    // More come from the shop's checkout, with consent evidence; one is not a VIP.
    let mut lines = vec![
        import_line(2001, "<script>alert(1)</script>", &["vip"]),
        import_line(2002, "Rate Limited", &["vip"]),
        import_line(2003, "Blocker", &["vip"]),
        import_line(2004, "Not Vip", &[]),
    ];
    lines.extend((2005..2013).map(|chat| import_line(chat, &format!("Guest {chat}"), &["vip"])));
    let report = app.import_subscribers(&lines.join("\n")).await;
    assert_eq!(report["created"], 12, "{report}");
    let vip_count = 12; // the fixture subscriber and 11 imported VIPs

    // The shop writes a template and previews it for a real subscriber.
    create_template(&app).await;
    let (status, preview) = app
        .admin_json(
            Method::POST,
            "/api/v1/templates/winter-promo/preview",
            Some(json!({"subscriber_id": format!("telegram:shop:{FIXTURE_CHAT}")})),
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    assert!(
        preview["text"]
            .as_str()
            .unwrap()
            .contains("Hi <b>Test Firstname</b>!"),
        "{preview}"
    );

    // A campaign for the VIP tag, scheduled now.
    app.create_campaign(json!({"id": "winter-26", "name": "Winter 26", "channel": "telegram:shop", "template_id": "winter-promo", "variables": {"code": "SNOW-26"}, "audience": {"all_tags": ["vip"]}}))
        .await;
    let scheduled = app.schedule_now("winter-26").await;
    assert_eq!(
        scheduled["template_version"], 1,
        "the version is pinned at scheduling: {scheduled}"
    );

    // Telegram slows us down once for one chat and another chat has blocked the bot.
    app.fake
        .script("2002", vec![FakeReply::telegram_too_many_requests(1)]);
    app.fake.script("2003", vec![FakeReply::telegram_blocked()]);

    // Two scheduler calls overlap; then it runs until done.
    let (first, second) = tokio::join!(app.tick(), app.tick());
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(second.0, 200, "{}", second.1);
    let progress = app.run_until_completed("winter-26").await;
    assert_eq!(progress["counts"]["targeted"], vip_count, "{progress}");
    assert_eq!(progress["counts"]["sent"], vip_count - 1, "{progress}");
    assert_eq!(progress["counts"]["blocked"], 1, "{progress}");
    assert_eq!(progress["counts"]["failed"], 0, "{progress}");

    // What Telegram received: each VIP exactly once (the rate-limited one retried once), nobody else.
    let by_chat = sends_by_chat(&app);
    assert_eq!(by_chat.len(), vip_count as usize, "{:?}", by_chat.keys());
    assert!(!by_chat.contains_key(&2004), "a non-VIP was messaged");
    for (chat, calls) in &by_chat {
        let expected = if *chat == 2002 { 2 } else { 1 };
        assert_eq!(
            calls.len(),
            expected,
            "chat {chat} got {} sends",
            calls.len()
        );
    }
    let retried = &by_chat[&2002];
    assert!(
        retried[1].at.duration_since(retried[0].at) >= Duration::from_millis(950),
        "retry_after was not honoured"
    );

    let to_fixture = &by_chat[&FIXTURE_CHAT][0].json;
    assert_eq!(to_fixture["parse_mode"], "HTML");
    assert_eq!(
        to_fixture["text"],
        "Hi <b>Test Firstname</b>! Your code: <code>SNOW-26</code>"
    );
    let keyboard = &to_fixture["reply_markup"]["inline_keyboard"];
    assert_eq!(keyboard[0][0]["url"], "https://shop.example/winter");
    assert_eq!(keyboard[1][0]["callback_data"], "rate:winter-26:5");
    let escaped = by_chat[&2001][0].json["text"].as_str().unwrap().to_owned();
    assert!(
        escaped.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{escaped}"
    );

    // Paced at 20 messages/s: first sends spread over at least (n - 1) / 20 s.
    let mut times: Vec<_> = app.fake.calls("sendMessage").iter().map(|c| c.at).collect();
    times.sort();
    let spread = times.last().unwrap().duration_since(times[0]);
    assert!(
        spread >= Duration::from_millis((times.len() as u64 - 1) * 1000 / 20 * 9 / 10),
        "{} sends in {spread:?}",
        times.len()
    );

    // The blocked chat is suppressed.
    let (_, blocker) = app
        .admin_get("/api/v1/subscribers/telegram:shop:2003")
        .await;
    assert_eq!(blocker["status"], "blocked", "{blocker}");

    // Replies and ratings come back.
    let (status, body) = app
        .telegram_update(&text_update(50001, FIXTURE_CHAT, "Love it, thanks!"))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .telegram_update(&callback_update(
            50002,
            FIXTURE_CHAT,
            "press-1",
            "rate:winter-26:4",
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .telegram_update(&callback_update(50003, 2005, "press-2", "rate:winter-26:5"))
        .await;
    assert_eq!(status, 200, "{body}");
    // Pressing again changes nothing; a redelivered update is not applied twice.
    app.telegram_update(&callback_update(
        50004,
        FIXTURE_CHAT,
        "press-3",
        "rate:winter-26:1",
    ))
    .await;
    app.telegram_update(&text_update(50001, FIXTURE_CHAT, "Love it, thanks!"))
        .await;
    let answers = app.fake.calls("answerCallbackQuery");
    assert_eq!(answers.len(), 3, "every press is answered");
    assert_eq!(answers[0].json["callback_query_id"], "press-1");

    let stats = app.feedback_stats("winter-26").await;
    assert_eq!(stats["targeted"], vip_count, "{stats}");
    assert_eq!(stats["sent"], vip_count - 1, "{stats}");
    assert_eq!(stats["blocked"], 1, "{stats}");
    assert_eq!(stats["replied"], 1, "{stats}");
    assert_eq!(stats["ratings"], 2, "{stats}");
    assert_eq!(stats["rating_average"], 4.5, "{stats}");

    let csv = app.feedback_export("winter-26", "csv").await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.contains("Love it, thanks!"), "{csv}");
    assert_eq!(
        csv.lines().filter(|l| l.starts_with("rating,")).count(),
        2,
        "{csv}"
    );
    let jsonl = app.feedback_export("winter-26", "jsonl").await;
    let jsonl = jsonl.text().await.unwrap();
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert!(
        rows.iter()
            .any(|r| r["type"] == "reply" && r["text"] == "Love it, thanks!"),
        "{jsonl}"
    );
    assert!(
        rows.iter()
            .any(|r| r["type"] == "rating" && r["score"] == 4),
        "{jsonl}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_or_overlapping_scheduler_never_sends_twice() {
    let app = std::sync::Arc::new(
        TestApp::start_with(|vars| {
            vars.insert("telegram_rate_per_second".into(), "30".into());
            vars.insert("tick_budget_ms".into(), "400".into());
        })
        .await,
    );
    let lines: Vec<String> = (3000..3060)
        .map(|chat| import_line(chat, "Guest", &["all"]))
        .collect();
    app.import_subscribers(&lines.join("\n")).await;
    create_template(&app).await;
    app.create_campaign(json!({"id": "overlap", "name": "Overlap", "channel": "telegram:shop", "template_id": "winter-promo", "variables": {"code": "X"}}))
        .await;
    app.schedule_now("overlap").await;
    // Eight scheduler calls at once, several rounds, each cut short by a small budget.
    for _ in 0..20 {
        let ticks: Vec<_> = (0..8)
            .map(|_| {
                let app = std::sync::Arc::clone(&app);
                tokio::spawn(async move { app.tick().await })
            })
            .collect();
        for tick in ticks {
            let (status, body) = tick.await.unwrap();
            assert_eq!(status, 200, "{body}");
        }
        let (_, progress) = app.admin_get("/api/v1/campaigns/overlap/progress").await;
        if progress["state"] == "completed" {
            break;
        }
    }
    let by_chat = sends_by_chat(&app);
    assert_eq!(by_chat.len(), 60, "everyone is messaged");
    let twice: Vec<_> = by_chat
        .iter()
        .filter(|(_, calls)| calls.len() > 1)
        .map(|(chat, _)| *chat)
        .collect();
    assert!(twice.is_empty(), "messaged twice: {twice:?}");
    // Overlapping calls share the bot's pace: 60 sends at 30/s take ~2 s in all, less at most the
    // 200 ms a channel behind its pace may make up.
    let mut times: Vec<_> = app.fake.calls("sendMessage").iter().map(|c| c.at).collect();
    times.sort();
    let spread = times.last().unwrap().duration_since(times[0]);
    assert!(
        spread >= Duration::from_millis((59 * 1000 / 30 - 200) * 9 / 10),
        "60 sends in {spread:?}"
    );
    let (_, progress) = app.admin_get("/api/v1/campaigns/overlap/progress").await;
    assert_eq!(progress["state"], "completed", "{progress}");
    assert_eq!(progress["counts"]["sent"], 60, "{progress}");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_input_gets_a_clear_4xx_and_changes_nothing() {
    let app = TestApp::start().await;

    // A webhook with the wrong secret.
    let wrong_secret = app
        .request(Method::POST, "/webhooks/telegram/shop")
        .header("x-telegram-bot-api-secret-token", "wrong")
        .body(fixtures::raw("telegram/update_start_command"));
    let (status, body) = send(wrong_secret).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    // Bad JSON from Telegram.
    let (status, body) = app.telegram_update("{\"update_id\": ").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_update");
    // An oversized webhook body.
    let (status, body) = app
        .telegram_update(&format!(
            "{{\"update_id\": 1, \"pad\": \"{}\"}}",
            "x".repeat(300 * 1024)
        ))
        .await;
    assert_eq!(status, 413, "{body}");
    let (_, list) = app.admin_get("/api/v1/subscribers").await;
    assert_eq!(list["items"], json!([]), "nothing was stored: {list}");

    // Bad JSON to the API.
    let bad_json = app
        .admin(Method::POST, "/api/v1/templates")
        .header("content-type", "application/json")
        .body("{\"name\": ");
    let (status, body) = send(bad_json).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_json");
    // A template with a variable that does not exist.
    let bad_var = json!({"id": "bad-var", "name": "Bad", "locales": {"en": {"text": "Hi {{ customer.name }}"}}});
    let response = app
        .admin_json(Method::POST, "/api/v1/templates", Some(bad_var))
        .await;
    let body = expect_status(422, response);
    assert!(
        body["error"]["details"]["unknown_variables"]
            .to_string()
            .contains("customer"),
        "{body}"
    );
    // A template that loops forever.
    let (status, body) = app
        .admin_json(
            Method::POST,
            "/api/v1/templates",
            Some(json!({"id": "loop", "name": "Loop", "locales": {"en": {"text": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"}}})),
        )
        .await;
    assert!((400..500).contains(&status), "{status} {body}");
    let (_, templates) = app.admin_get("/api/v1/templates").await;
    assert_eq!(
        templates["items"],
        json!([]),
        "nothing was stored: {templates}"
    );

    // A campaign for a template that does not exist, and an unknown channel.
    for (channel, template_id, status, code) in [
        ("telegram:shop", "nowhere", 422, "unknown_template"),
        ("icq:shop", "winter-promo", 400, "invalid_channel"),
    ] {
        let campaign = json!({"name": "X", "channel": channel, "template_id": template_id});
        let response = app
            .admin_json(Method::POST, "/api/v1/campaigns", Some(campaign))
            .await;
        let body = expect_status(status, response);
        assert_eq!(body["error"]["code"], code);
    }
}
