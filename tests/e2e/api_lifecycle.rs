//! The API's life cycle of campaigns and templates on the real components: edit while draft or paused,
//! delete when finished, template deletion refused while a campaign renders it, the health route, the
//! time left, and the warnings for a channel this deployment does not serve.

use std::ops::RangeInclusive;

use reqwest::Method;
use serde_json::{json, Value};
use spinpost_tests::app::{expect_status, send};
use spinpost_tests::TestApp;

/// Import lines for the given chats of `telegram:shop`, each with its own consent evidence.
fn shop_subscribers(chats: RangeInclusive<u32>) -> String {
    let consent = |chat: u32| json!({"at": "2026-11-01T10:00:00Z", "source": "checkout", "evidence": format!("order-{chat}")});
    let lines: Vec<String> = chats
        .map(|chat| json!({"channel": "telegram:shop", "address": chat.to_string(), "consent": consent(chat)}).to_string())
        .collect();
    lines.join("\n")
}

/// Template `id` rendering its text with the campaign's `code` variable.
async fn template_with_code(app: &TestApp, id: &str, text: &str) {
    let text = format!("{text} {{{{ campaign.variables.code }}}}");
    app.create_template(json!({"id": id, "name": id, "locales": {"en": {"text": text}}}))
        .await;
}

/// An admin call that must answer `status`; returns its body.
async fn answer(app: &TestApp, call: (Method, &str, Option<Value>), status: u16) -> Value {
    let (method, path, body) = call;
    expect_status(status, app.admin_json(method, path, body).await)
}

/// The error code of each refused call, in order, after checking its status.
async fn refusals(app: &TestApp, calls: Vec<(Method, &str, Option<Value>, u16)>) -> Vec<Value> {
    let mut errors = Vec::new();
    for (method, path, body, status) in calls {
        errors.push(answer(app, (method, path, body), status).await["error"].clone());
    }
    errors
}

fn codes(errors: &[Value]) -> Vec<&str> {
    errors
        .iter()
        .map(|e| e["code"].as_str().unwrap_or(""))
        .collect()
}

const SPRING: &str = "/api/v1/campaigns/spring";

#[tokio::test(flavor = "multi_thread")]
async fn health_answers_without_a_token_after_a_store_read() {
    let app = TestApp::start().await;
    let (status, body) = send(app.request(Method::GET, "/health")).await;
    assert_eq!(
        (status, body),
        (200, json!({"status": "ok", "store": "ok"}))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_campaign_is_edited_sent_and_deleted_and_its_template_freed() {
    let app = TestApp::start().await;
    assert_eq!(
        app.import_subscribers(&shop_subscribers(5001..=5003)).await["created"],
        3
    );
    template_with_code(&app, "promo", "V1").await;
    let v2 = json!({"locales": {"en": {"text": "V2 {{ campaign.variables.code }}"}}});
    answer(
        &app,
        (Method::PUT, "/api/v1/templates/promo", Some(v2)),
        200,
    )
    .await;
    app.create_campaign(
        json!({"id": "spring", "name": "Spring", "channel": "telegram:shop",
        "template_id": "promo", "template_version": 1, "variables": {"code": "OLD"}}),
    )
    .await;

    // A draft takes every field, validated as on create.
    let change = json!({"name": "Spring sale", "variables": {"code": "DRAFT"}, "audience": {"any_tags": ["vip"]}});
    let edited = answer(&app, (Method::PATCH, SPRING, Some(change)), 200).await;
    assert_eq!(
        (&edited["name"], &edited["template_version"]),
        (&json!("Spring sale"), &json!(1))
    );
    let errors = refusals(
        &app,
        vec![
            (
                Method::PATCH,
                SPRING,
                Some(json!({"template_id": "nowhere"})),
                422,
            ),
            (
                Method::PATCH,
                SPRING,
                Some(json!({"channel": "telegram:news"})),
                422,
            ),
            (
                Method::PATCH,
                "/api/v1/campaigns/nope",
                Some(json!({"name": "X"})),
                404,
            ),
        ],
    )
    .await;
    assert_eq!(
        codes(&errors),
        ["unknown_template", "channel_not_configured", "not_found"]
    );
    assert!(
        errors[1]["message"]
            .as_str()
            .unwrap()
            .contains("telegram_bots"),
        "{errors:?}"
    );
    answer(
        &app,
        (Method::PATCH, SPRING, Some(json!({"audience": {}}))),
        200,
    )
    .await;

    // Scheduled: neither editable nor deletable, and its template cannot go.
    app.schedule_now("spring").await;
    let errors = refusals(
        &app,
        vec![
            (Method::PATCH, SPRING, Some(json!({"name": "X"})), 409),
            (Method::DELETE, SPRING, None, 409),
            (Method::DELETE, "/api/v1/templates/promo", None, 409),
        ],
    )
    .await;
    assert_eq!(
        codes(&errors),
        [
            "campaign_not_editable",
            "campaign_not_deletable",
            "template_in_use"
        ]
    );
    assert_eq!(errors[2]["details"]["campaigns"], json!(["spring"]));
    assert!(
        errors[2]["message"].as_str().unwrap().contains("spring"),
        "{errors:?}"
    );

    // Paused: the audience is frozen; the template version and variables change for who is not sent yet.
    answer(
        &app,
        (Method::POST, "/api/v1/campaigns/spring/pause", None),
        200,
    )
    .await;
    let frozen = json!({"audience": {"all_tags": ["vip"]}});
    let errors = refusals(&app, vec![(Method::PATCH, SPRING, Some(frozen), 409)]).await;
    assert_eq!(codes(&errors), ["audience_frozen"]);
    let change = json!({"template_version": 2, "variables": {"code": "SPRING-26"}});
    let edited = answer(&app, (Method::PATCH, SPRING, Some(change)), 200).await;
    assert_eq!(
        (&edited["state"], &edited["template_version"]),
        (&json!("paused"), &json!(2))
    );
    answer(
        &app,
        (Method::POST, "/api/v1/campaigns/spring/resume", None),
        200,
    )
    .await;

    let progress = app.run_until_completed("spring").await;
    assert_eq!(progress["counts"]["sent"], 3, "{progress}");
    assert_eq!(progress["remaining_messages"], 0, "{progress}");
    assert!(progress.get("estimated_remaining").is_none(), "{progress}");
    assert!(
        progress.get("estimated_completion_at").is_none(),
        "nothing left: {progress}"
    );
    let texts: Vec<Value> = app
        .fake
        .calls("sendMessage")
        .iter()
        .map(|c| c.json["text"].clone())
        .collect();
    assert_eq!(
        texts,
        vec![json!("V2 SPRING-26"); 3],
        "the edit applies to every recipient not yet sent"
    );

    // Completed: deleted with its ledger; its statistics stay and its id is retired.
    let deleted = answer(&app, (Method::DELETE, SPRING, None), 200).await;
    assert_eq!(
        deleted,
        json!({"deleted": "spring", "ledger_batches": 1, "feedback_kept": true})
    );
    for path in [
        SPRING,
        "/api/v1/campaigns/spring/progress",
        "/api/v1/campaigns/spring/deliveries",
    ] {
        assert_eq!(app.admin_get(path).await.0, 404, "{path}");
    }
    assert_eq!(
        app.admin_get("/api/v1/campaigns").await.1["items"],
        json!([])
    );
    assert_eq!(app.feedback_stats("spring").await["sent"], 3);
    let again = json!({"id": "spring", "name": "Again", "channel": "telegram:shop", "template_id": "promo"});
    let errors = refusals(
        &app,
        vec![
            (Method::DELETE, SPRING, None, 404),
            (Method::POST, "/api/v1/campaigns", Some(again), 409),
        ],
    )
    .await;
    assert_eq!(codes(&errors), ["not_found", "campaign_id_retired"]);

    // No campaign renders the template any more: it goes with every version.
    let deleted = answer(&app, (Method::DELETE, "/api/v1/templates/promo", None), 200).await;
    assert_eq!(deleted, json!({"deleted": "promo", "versions": 2}));
    for path in [
        "/api/v1/templates/promo",
        "/api/v1/templates/promo/versions/1",
    ] {
        assert_eq!(app.admin_get(path).await.0, 404, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_draft_is_deleted_and_a_running_campaign_shows_its_time_left() {
    let app = TestApp::start_with(|variables| {
        variables.insert("telegram_rate_per_second".into(), "5".into());
        variables.insert("tick_budget_ms".into(), "1500".into());
    })
    .await;
    app.import_subscribers(&shop_subscribers(6001..=6030)).await;
    template_with_code(&app, "hello", "Hello").await;
    for id in ["draft", "slow"] {
        app.create_campaign(
            json!({"id": id, "name": id, "channel": "telegram:shop", "template_id": "hello"}),
        )
        .await;
    }
    let deleted = answer(&app, (Method::DELETE, "/api/v1/campaigns/draft", None), 200).await;
    assert_eq!(deleted["ledger_batches"], 0);
    assert_eq!(app.admin_get("/api/v1/campaigns/draft").await.0, 404);

    app.schedule_now("slow").await;
    let mut progress = Value::Null;
    for _ in 0..5 {
        expect_status(200, app.tick().await);
        progress = app.admin_get("/api/v1/campaigns/slow/progress").await.1;
        if progress["estimated_seconds_left"].is_u64() {
            break;
        }
    }
    let left = progress["remaining_messages"].as_u64().expect("a count");
    assert!(left > 0 && left < 30, "{progress}");
    let seconds = progress["estimated_seconds_left"]
        .as_i64()
        .expect("seconds");
    let at = progress["estimated_completion_at"]
        .as_str()
        .expect("a time");
    let at = chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339");
    let from_now = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    assert!(
        (from_now - seconds).abs() <= 3,
        "{from_now} vs {seconds}: {progress}"
    );
    let errors = refusals(
        &app,
        vec![(Method::DELETE, "/api/v1/campaigns/slow", None, 409)],
    )
    .await;
    assert_eq!(codes(&errors), ["campaign_not_deletable"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_this_deployment_does_not_serve_is_refused_everywhere() {
    let app = TestApp::start().await;
    template_with_code(&app, "hello", "Hello").await;
    let news = shop_subscribers(7001..=7001).replace("telegram:shop", "telegram:news");
    let body = format!("{}\n{news}", shop_subscribers(7000..=7000));
    let request = app
        .admin(Method::POST, "/api/v1/subscribers/import")
        .body(body);
    let (status, answered) = send(request).await;
    assert_eq!(status, 422, "{answered}");
    let error = &answered["error"];
    assert_eq!(error["code"], "channel_not_configured");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("'news' to the variable telegram_bots"),
        "{message}"
    );
    assert_eq!(
        error["details"]["channels"],
        json!([{"channel": "telegram:news", "lines": [2]}])
    );
    let (_, subscribers) = app.admin_get("/api/v1/subscribers").await;
    assert_eq!(
        subscribers["items"],
        json!([]),
        "nothing was imported: {subscribers}"
    );

    let campaign =
        json!({"id": "n1", "name": "News", "channel": "telegram:news", "template_id": "hello"});
    let errors = refusals(
        &app,
        vec![(Method::POST, "/api/v1/campaigns", Some(campaign), 422)],
    )
    .await;
    assert_eq!(codes(&errors), ["channel_not_configured"]);
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("telegram_bots"),
        "{errors:?}"
    );
    assert_eq!(app.admin_get("/api/v1/campaigns/n1").await.0, 404);
}
