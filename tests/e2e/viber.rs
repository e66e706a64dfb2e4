//! The Viber journey: signed callbacks, subscribe and unsubscribe with evidence, a personalised
//! campaign with a keyboard sent once per person, status 6 suppressing, delivered and seen callbacks
//! making open rates, replies and ratings in the statistics, and retried callbacks applied once; a
//! campaign of identical messages sent by `broadcast_message`, 300 people a call; the welcome that
//! answers `conversation_started`.

use hmac::Mac;
use reqwest::Method;
use serde_json::{json, Value};
use spinpost_tests::app::send;
use spinpost_tests::fake_platform::VIBER_FIRST_MESSAGE_TOKEN;
use spinpost_tests::fixtures::{self, unix_now_secs};
use spinpost_tests::{FakeReply, TestApp};

const BOT_TOKEN: &str = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9";
const CHANNEL: &str = "viber:shop";

/// The app with the bot `viber:shop` configured and Viber's API at the fake.
async fn app() -> TestApp {
    app_welcoming_with("").await
}

/// [`app`] answering `conversation_started` with the template `welcome_template` (empty: none).
async fn app_welcoming_with(welcome_template: &str) -> TestApp {
    TestApp::start_with(|variables| {
        let api = variables["telegram_api_url"].clone();
        variables.insert("viber_api_url".into(), api);
        let bots = json!({ "shop": { "token": BOT_TOKEN, "sender_name": "Shop" } });
        variables.insert("viber_bots".into(), bots.to_string());
        variables.insert("viber_welcome_template".into(), welcome_template.into());
    })
    .await
}

/// Hex HMAC-SHA256 of the body with the bot's auth token, as Viber signs callbacks.
fn signature(token: &str, body: &str) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// POST a callback to `/webhooks/viber/<bot>` with the given signature.
async fn callback_signed(app: &TestApp, bot: &str, body: &str, sig: &str) -> (u16, Value) {
    let request = app
        .request(Method::POST, &format!("/webhooks/viber/{bot}"))
        .header("x-viber-content-signature", sig)
        .header("content-type", "application/json")
        .body(body.to_owned());
    send(request).await
}

/// POST a callback signed with the bot's token; it must be accepted.
async fn callback(app: &TestApp, body: &str) {
    let (status, reply) = callback_signed(app, "shop", body, &signature(BOT_TOKEN, body)).await;
    assert_eq!(status, 200, "{reply}");
}

/// A fixture callback with its token, time and person replaced.
fn event(fixture: &str, token: u64, person: &str) -> Value {
    let mut payload = fixtures::payload(&format!("viber/{fixture}"));
    payload["message_token"] = token.into();
    payload["timestamp"] = (unix_now_secs() * 1000).into();
    for field in ["user", "sender"] {
        if payload.get(field).is_some() {
            payload[field]["id"] = person.into();
            payload[field]["name"] = format!("Person {person}").into();
        }
    }
    if payload.get("user_id").is_some() {
        payload["user_id"] = person.into();
    }
    payload
}

/// A person's text message to the bot.
fn message(token: u64, person: &str, text: &str) -> String {
    let mut payload = event("callback_message", token, person);
    payload["message"] = json!({ "type": "text", "text": text, "tracking_data": "vb-winter" });
    payload.to_string()
}

/// Create campaign `id` of `template` with the variable `code` on the bot, send it now, and wait
/// until it completes; its progress.
async fn send_campaign(app: &TestApp, id: &str, template: &str, code: &str) -> Value {
    let campaign = json!({"id": id, "name": format!("Viber {id}"), "channel": CHANNEL,
        "template_id": template, "variables": {"code": code}});
    app.create_campaign(campaign).await;
    app.schedule_now(id).await;
    app.run_until_completed(id).await
}

fn person(i: usize) -> String {
    format!("viberUser{i:04}AAAAAAAAAA==")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_without_the_bots_signature_is_refused_with_nothing_stored() {
    let app = app().await;
    let body = event("callback_subscribed", 1, &person(1)).to_string();
    for (bot, sig) in [
        ("shop", signature("not-the-token", &body)),
        ("shop", "zz".to_owned()),
        // Signed over other bytes than were sent.
        ("shop", signature(BOT_TOKEN, "{}")),
        // An unknown bot answers like a wrong signature.
        ("other", signature(BOT_TOKEN, &body)),
    ] {
        let (status, reply) = callback_signed(&app, bot, &body, &sig).await;
        assert_eq!(status, 401, "{bot}: {reply}");
    }
    let (_, list) = app.admin_get("/api/v1/subscribers").await;
    assert_eq!(list["items"], json!([]), "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viber_campaign_reaches_each_person_once_and_reports_receipts_replies_and_ratings() {
    let app = app().await;
    let people: Vec<String> = (1..=5).map(person).collect();
    let subscribe_token = |i: usize| 4_912_661_846_655_238_145 + i as u64;
    for (i, someone) in people.iter().enumerate() {
        callback(
            &app,
            &event("callback_subscribed", subscribe_token(i), someone).to_string(),
        )
        .await;
    }
    // Viber retries a callback it thinks failed: applied once.
    callback(
        &app,
        &event("callback_subscribed", subscribe_token(0), &people[0]).to_string(),
    )
    .await;
    let first = app
        .subscribed_by(&format!("{CHANNEL}:{}", people[0]), "viber:subscribed")
        .await;
    assert_eq!(first["consent"].as_array().unwrap().len(), 1, "{first}");
    assert_eq!(
        first["consent"][0]["evidence"],
        format!("message_token {}", subscribe_token(0)),
        "the token keeps every digit: {first}"
    );
    // Opening the chat does not subscribe; the fifth person unsubscribes.
    callback(
        &app,
        &event("callback_conversation_started", 77, &person(9)).to_string(),
    )
    .await;
    let (status, _) = app
        .admin_get(&format!("/api/v1/subscribers/{CHANNEL}:{}", person(9)))
        .await;
    assert_eq!(status, 404);
    callback(
        &app,
        &event("callback_unsubscribed", 78, &people[4]).to_string(),
    )
    .await;
    let (_, gone) = app
        .admin_get(&format!("/api/v1/subscribers/{CHANNEL}:{}", people[4]))
        .await;
    assert_eq!(gone["status"], "unsubscribed", "{gone}");
    assert_eq!(gone["consent"][1]["evidence"], "message_token 78", "{gone}");

    app.create_template(json!({"id": "vb-promo", "name": "Viber promo", "locales": {"en": {
        "text": "Hi {{ subscriber.first_name | default('there') }}, your code is {{ campaign.variables.code }}",
        "buttons": [[{"text": "Shop", "url": "https://shop.test/?c={{ campaign.variables.code }}"}],
                    [{"text": "Great", "rating": 5}, {"text": "Meh", "rating": 2}]]
    }}}))
    .await;
    // The fourth person left the bot without us hearing: Viber answers status 6 under HTTP 200.
    let not_subscribed =
        json!({"status": 6, "status_message": "notSubscribed", "chat_hostname": "SN-CHAT-01_"});
    app.fake
        .script(&people[3], vec![FakeReply::custom(200, not_subscribed)]);
    let progress = send_campaign(&app, "vb-winter", "vb-promo", "SNOW").await;
    assert_eq!(progress["counts"]["targeted"], 4, "{progress}");
    assert_eq!(progress["counts"]["sent"], 3, "{progress}");
    assert_eq!(progress["counts"]["blocked"], 1, "{progress}");

    // What the Bot API received: one call per person, in Viber's shape.
    let by_receiver = app.fake.calls_by_recipient("send_message");
    for call in by_receiver.values().flatten() {
        assert_eq!(call.path, "/pa/send_message");
        assert!(call
            .headers
            .contains(&("x-viber-auth-token".to_owned(), BOT_TOKEN.to_owned())));
    }
    assert_eq!(by_receiver.len(), 4, "{by_receiver:?}");
    // Personalised messages differ from person to person: none goes by broadcast.
    assert!(app.fake.calls("broadcast_message").is_empty());
    assert!(by_receiver.values().all(|calls| calls.len() == 1));
    let sent = &by_receiver[&people[0]][0].json;
    assert_eq!(sent["type"], "text", "{sent}");
    assert_eq!(
        sent["text"],
        format!("Hi Person {}, your code is SNOW", people[0])
    );
    assert_eq!(sent["sender"]["name"], "Shop");
    assert_eq!(sent["tracking_data"], "vb-winter");
    assert!(sent["min_api_version"].is_u64(), "{sent}");
    let buttons = &sent["keyboard"]["Buttons"];
    assert_eq!(buttons[0]["ActionType"], "open-url");
    assert_eq!(buttons[0]["ActionBody"], "https://shop.test/?c=SNOW");
    assert_eq!(buttons[1]["ActionType"], "reply");
    assert_eq!(buttons[1]["ActionBody"], "rate:vb-winter:5");
    let (_, blocked) = app
        .admin_get(&format!("/api/v1/subscribers/{CHANNEL}:{}", people[3]))
        .await;
    assert_eq!(blocked["status"], "blocked", "{blocked}");

    // Receipts name the sent message tokens: three delivered, two of them seen, one seen twice.
    let token = |someone: &str| {
        by_receiver[someone][0].reply.1["message_token"]
            .as_u64()
            .unwrap()
    };
    assert!(token(&people[0]) > VIBER_FIRST_MESSAGE_TOKEN);
    for someone in &people[0..3] {
        callback(
            &app,
            &event("callback_delivered", token(someone), someone).to_string(),
        )
        .await;
    }
    for someone in [&people[0], &people[1], &people[1]] {
        callback(
            &app,
            &event("callback_seen", token(someone), someone).to_string(),
        )
        .await;
    }
    let stats = app.feedback_stats("vb-winter").await;
    assert_eq!(stats["sent"], 3, "{stats}");
    assert_eq!(stats["delivered"], 3, "{stats}");
    assert_eq!(stats["read"], 2, "{stats}");
    let open_rate = stats["open_rate"].as_f64().unwrap();
    assert!((open_rate - 2.0 / 3.0).abs() < 0.01, "{stats}");

    // A reply, retried by Viber, and a rating press through the keyboard.
    let reply = message(9_000_000_000_000_000_001, &people[0], "Love it");
    callback(&app, &reply).await;
    callback(&app, &reply).await;
    callback(
        &app,
        &message(9_000_000_000_000_000_002, &people[1], "rate:vb-winter:5"),
    )
    .await;
    let stats = app.feedback_stats("vb-winter").await;
    assert_eq!(stats["replied"], 1, "{stats}");
    assert_eq!(stats["ratings"], 1, "{stats}");
    assert_eq!(stats["rating_average"], 5.0, "{stats}");
    let export = app.feedback_export("vb-winter", "jsonl").await;
    let export = export.text().await.unwrap();
    assert!(export.contains("Love it"), "replies are exported: {export}");
    assert!(
        export.lines().any(|l| l.contains("\"read\"")),
        "receipts are exported: {export}"
    );
}

/// `count` Viber subscribers of the bot, imported with their consent.
async fn import_people(app: &TestApp, count: usize) -> Vec<String> {
    let people: Vec<String> = (1..=count).map(person).collect();
    let lines: Vec<String> = people
        .iter()
        .map(|someone| {
            let consent = json!({"at": "2026-11-01T10:00:00Z", "source": "viber:subscribed", "evidence": format!("import {someone}")});
            json!({"channel": CHANNEL, "address": someone, "consent": consent}).to_string()
        })
        .collect();
    let imported = app.import_subscribers(&lines.join("\n")).await;
    assert_eq!(imported["created"], count, "{imported}");
    people
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identical_message_goes_by_broadcast_300_people_a_call_each_receiver_handled_apart() {
    let app = app().await;
    let people = import_people(&app, 700).await;
    app.create_template(json!({"id": "vb-sale", "name": "Viber sale", "locales": {"en": {
        "text": "Winter sale: your code is {{ campaign.variables.code }}",
        "buttons": [[{"text": "Shop", "url": "https://shop.test/?c={{ campaign.variables.code }}"}]]
    }}}))
    .await;
    // In the broadcast's failed_list: one person left the bot, one is unknown to Viber, one got too
    // many messages (held back alone, then sent by itself).
    let failed = |status: i64, words: &str| {
        FakeReply::custom(200, json!({"status": status, "status_message": words}))
    };
    app.fake
        .script(&people[10], vec![failed(6, "notSubscribed")]);
    app.fake.script(&people[20], vec![failed(5, "notFound")]);
    app.fake
        .script(&people[30], vec![failed(12, "tooManyRequests")]);
    let progress = send_campaign(&app, "vb-sale", "vb-sale", "FROST").await;
    assert_eq!(progress["counts"]["targeted"], 700, "{progress}");
    assert_eq!(progress["counts"]["sent"], 698, "{progress}");
    assert_eq!(progress["counts"]["blocked"], 1, "{progress}");
    assert_eq!(progress["counts"]["failed"], 1, "{progress}");

    let broadcasts = app.fake.calls("broadcast_message");
    assert_eq!(broadcasts.len(), 3, "700 people, 300 a call");
    let mut reached = std::collections::BTreeMap::<String, usize>::new();
    for call in &broadcasts {
        assert_eq!(call.path, "/pa/broadcast_message");
        assert!(call
            .headers
            .contains(&("x-viber-auth-token".to_owned(), BOT_TOKEN.to_owned())));
        let list = call.json["broadcast_list"].as_array().unwrap();
        assert!(list.len() <= 300, "{}", list.len());
        assert_eq!(call.json["text"], "Winter sale: your code is FROST");
        assert_eq!(call.json["sender"]["name"], "Shop");
        assert_eq!(call.json["tracking_data"], "vb-sale");
        assert_eq!(
            call.json["keyboard"]["Buttons"][0]["ActionBody"],
            "https://shop.test/?c=FROST"
        );
        for receiver in list {
            *reached
                .entry(receiver.as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(reached.len(), 700, "everyone is in exactly one broadcast");
    assert!(reached.values().all(|&times| times == 1), "{reached:?}");
    // Only the person held back by status 12 is sent again, alone, once.
    let alone = app.fake.calls_by_recipient("send_message");
    assert_eq!(alone.keys().collect::<Vec<_>>(), vec![&people[30]]);
    assert_eq!(alone[&people[30]].len(), 1);
    let (_, gone) = app
        .admin_get(&format!("/api/v1/subscribers/{CHANNEL}:{}", people[10]))
        .await;
    assert_eq!(gone["status"], "blocked", "{gone}");

    // The receivers of one broadcast share its token; each one's receipt counts for them.
    let token = broadcasts[0].reply.1["message_token"].as_u64().unwrap();
    let first_list = broadcasts[0].json["broadcast_list"].as_array().unwrap();
    let (a, b) = (
        first_list[0].as_str().unwrap(),
        first_list[1].as_str().unwrap(),
    );
    for (someone, fixture) in [
        (a, "callback_delivered"),
        (b, "callback_delivered"),
        (b, "callback_seen"),
    ] {
        callback(&app, &event(fixture, token, someone).to_string()).await;
    }
    let stats = app.feedback_stats("vb-sale").await;
    assert_eq!(stats["sent"], 698, "{stats}");
    assert_eq!(stats["delivered"], 2, "{stats}");
    assert_eq!(stats["read"], 1, "{stats}");
}

/// Post a signed `conversation_started` of `someone` speaking `language`; the answer's status and body.
async fn open_conversation(app: &TestApp, someone: &str, language: &str) -> (u16, String) {
    let mut opened = event("callback_conversation_started", 77, someone);
    opened["user"]["language"] = language.into();
    let body = opened.to_string();
    let answer = app
        .request(Method::POST, "/webhooks/viber/shop")
        .header("x-viber-content-signature", signature(BOT_TOKEN, &body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the webhook answers");
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn opening_the_chat_is_answered_with_the_welcome_in_the_persons_language() {
    let app = app_welcoming_with("vb-welcome").await;
    app.create_template(
        json!({"id": "vb-welcome", "name": "Viber welcome", "default_locale": "en",
        "locales": {
            "en": {"text": "Welcome, {{ subscriber.first_name | default('friend') }}!"},
            "de": {"text": "Willkommen, {{ subscriber.first_name | default('Freund') }}!"}
        }}),
    )
    .await;
    let someone = person(9);
    let (status, body) = open_conversation(&app, &someone, "de").await;
    assert_eq!(status, 200, "{body}");
    let welcome: Value = serde_json::from_str(&body).expect("the welcome is JSON");
    assert_eq!(welcome["type"], "text", "{welcome}");
    assert_eq!(welcome["text"], format!("Willkommen, Person {someone}!"));
    assert_eq!(welcome["sender"]["name"], "Shop");
    assert!(welcome.get("receiver").is_none(), "{welcome}");
    // A language the template lacks gets its default locale.
    let (_, body) = open_conversation(&app, &person(8), "fr").await;
    let welcome: Value = serde_json::from_str(&body).expect("the welcome is JSON");
    assert_eq!(welcome["text"], format!("Welcome, Person {}!", person(8)));
    // Opening the chat is no subscription.
    let (status, _) = app
        .admin_get(&format!("/api/v1/subscribers/{CHANNEL}:{someone}"))
        .await;
    assert_eq!(status, 404);
    // Nothing went out through the API: the welcome is the answer itself.
    assert!(app.fake.calls("send_message").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_welcome_template_opening_the_chat_is_answered_without_body() {
    let app = app().await;
    let (status, body) = open_conversation(&app, &person(9), "en").await;
    assert_eq!(status, 200);
    assert_eq!(body, "", "no welcome configured: no message in the answer");
}
