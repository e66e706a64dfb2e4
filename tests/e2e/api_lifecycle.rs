//! The API's life cycle of campaigns and templates on the real components: edit while draft or paused,
//! delete when finished, template deletion refused while a campaign renders it, the health route, the
//! time left, and the warnings for a channel this deployment does not serve.

use reqwest::Method;
use serde_json::json;
use spinpost_tests::app::{expect_status, send};
use spinpost_tests::TestApp;

fn import_line(chat: u32) -> String {
    json!({
        "channel": "telegram:shop", "address": chat.to_string(), "first_name": format!("Guest {chat}"),
        "consent": {"at": "2026-11-01T10:00:00Z", "source": "checkout", "evidence": format!("order-{chat}")}
    })
    .to_string()
}

async fn create_promo_template(app: &TestApp) {
    app.create_template(json!({"id": "promo", "name": "Promo",
        "locales": {"en": {"text": "V1 {{ campaign.variables.code }}"}}}))
        .await;
    let update = json!({"locales": {"en": {"text": "V2 {{ campaign.variables.code }}"}}});
    let response = app
        .admin_json(Method::PUT, "/api/v1/templates/promo", Some(update))
        .await;
    expect_status(200, response);
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    app.admin_json(method, path, body).await
}

/// The error code of a call that must answer `status`.
async fn refused(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
    status: u16,
) -> serde_json::Value {
    let body = expect_status(status, call(app, method, path, body).await);
    body["error"].clone()
}

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
    let lines: Vec<String> = (5001..=5003).map(import_line).collect();
    assert_eq!(
        app.import_subscribers(&lines.join("\n")).await["created"],
        3
    );
    create_promo_template(&app).await;
    app.create_campaign(
        json!({"id": "spring", "name": "Spring", "channel": "telegram:shop",
        "template_id": "promo", "template_version": 1, "variables": {"code": "OLD"}}),
    )
    .await;

    // A draft takes every field, validated as on create.
    let edited = expect_status(200, call(&app, Method::PATCH, "/api/v1/campaigns/spring",
        Some(json!({"name": "Spring sale", "variables": {"code": "DRAFT"}, "audience": {"any_tags": ["vip"]}}))).await);
    assert_eq!(
        (edited["name"].as_str(), edited["template_version"].as_u64()),
        (Some("Spring sale"), Some(1))
    );
    let error = refused(
        &app,
        Method::PATCH,
        "/api/v1/campaigns/spring",
        Some(json!({"template_id": "nowhere"})),
        422,
    )
    .await;
    assert_eq!(error["code"], "unknown_template");
    let error = refused(
        &app,
        Method::PATCH,
        "/api/v1/campaigns/spring",
        Some(json!({"channel": "telegram:news"})),
        422,
    )
    .await;
    assert_eq!(error["code"], "channel_not_configured");
    assert!(
        error["message"].as_str().unwrap().contains("telegram_bots"),
        "{error}"
    );
    let error = refused(
        &app,
        Method::PATCH,
        "/api/v1/campaigns/nope",
        Some(json!({"name": "X"})),
        404,
    )
    .await;
    assert_eq!(error["code"], "not_found");
    expect_status(
        200,
        call(
            &app,
            Method::PATCH,
            "/api/v1/campaigns/spring",
            Some(json!({"audience": {}})),
        )
        .await,
    );

    // Scheduled: neither editable nor deletable, and its template cannot go.
    app.schedule_now("spring").await;
    let error = refused(
        &app,
        Method::PATCH,
        "/api/v1/campaigns/spring",
        Some(json!({"name": "X"})),
        409,
    )
    .await;
    assert_eq!(error["code"], "campaign_not_editable");
    let error = refused(&app, Method::DELETE, "/api/v1/campaigns/spring", None, 409).await;
    assert_eq!(error["code"], "campaign_not_deletable");
    let error = refused(&app, Method::DELETE, "/api/v1/templates/promo", None, 409).await;
    assert_eq!(
        (error["code"].as_str(), &error["details"]["campaigns"]),
        (Some("template_in_use"), &json!(["spring"]))
    );
    assert!(
        error["message"].as_str().unwrap().contains("spring"),
        "{error}"
    );

    // Paused: the audience is frozen; the template version and variables change for who is not sent yet.
    expect_status(
        200,
        call(&app, Method::POST, "/api/v1/campaigns/spring/pause", None).await,
    );
    let error = refused(
        &app,
        Method::PATCH,
        "/api/v1/campaigns/spring",
        Some(json!({"audience": {"all_tags": ["vip"]}})),
        409,
    )
    .await;
    assert_eq!(error["code"], "audience_frozen");
    let edited = expect_status(
        200,
        call(
            &app,
            Method::PATCH,
            "/api/v1/campaigns/spring",
            Some(json!({"template_version": 2, "variables": {"code": "SPRING-26"}})),
        )
        .await,
    );
    assert_eq!(
        (
            edited["state"].as_str(),
            edited["template_version"].as_u64()
        ),
        (Some("paused"), Some(2))
    );
    expect_status(
        200,
        call(&app, Method::POST, "/api/v1/campaigns/spring/resume", None).await,
    );

    let progress = app.run_until_completed("spring").await;
    assert_eq!(progress["counts"]["sent"], 3, "{progress}");
    assert_eq!(progress["remaining_messages"], 0, "{progress}");
    assert!(progress.get("estimated_remaining").is_none(), "{progress}");
    assert!(
        progress.get("estimated_completion_at").is_none(),
        "nothing left: {progress}"
    );
    let texts: Vec<String> = app
        .fake
        .calls("sendMessage")
        .iter()
        .map(|c| c.json["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        texts,
        vec!["V2 SPRING-26"; 3],
        "the edit applies to every recipient not yet sent"
    );

    // Completed: deleted with its ledger; its statistics stay and its id is retired.
    let deleted = expect_status(
        200,
        call(&app, Method::DELETE, "/api/v1/campaigns/spring", None).await,
    );
    assert_eq!(
        deleted,
        json!({"deleted": "spring", "ledger_batches": 1, "feedback_kept": true})
    );
    for path in [
        "/api/v1/campaigns/spring",
        "/api/v1/campaigns/spring/progress",
        "/api/v1/campaigns/spring/deliveries",
    ] {
        assert_eq!(app.admin_get(path).await.0, 404, "{path}");
    }
    assert_eq!(
        refused(&app, Method::DELETE, "/api/v1/campaigns/spring", None, 404).await["code"],
        "not_found"
    );
    let (_, list) = app.admin_get("/api/v1/campaigns").await;
    assert_eq!(list["items"], json!([]), "{list}");
    assert_eq!(app.feedback_stats("spring").await["sent"], 3);
    let error = refused(
        &app,
        Method::POST,
        "/api/v1/campaigns",
        Some(json!({"id": "spring", "name": "Again",
        "channel": "telegram:shop", "template_id": "promo"})),
        409,
    )
    .await;
    assert_eq!(error["code"], "campaign_id_retired");

    // No campaign renders the template any more: it goes with every version.
    let deleted = expect_status(
        200,
        call(&app, Method::DELETE, "/api/v1/templates/promo", None).await,
    );
    assert_eq!(deleted, json!({"deleted": "promo", "versions": 2}));
    for path in [
        "/api/v1/templates/promo",
        "/api/v1/templates/promo/versions/1",
    ] {
        assert_eq!(app.admin_get(path).await.0, 404, "{path}");
    }
    assert_eq!(
        refused(&app, Method::DELETE, "/api/v1/templates/promo", None, 404).await["code"],
        "not_found"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_draft_is_deleted_and_a_running_campaign_shows_its_time_left() {
    let app = TestApp::start_with(|variables| {
        variables.insert("telegram_rate_per_second".into(), "5".into());
        variables.insert("tick_budget_ms".into(), "1500".into());
    })
    .await;
    let lines: Vec<String> = (6001..=6030).map(import_line).collect();
    app.import_subscribers(&lines.join("\n")).await;
    app.create_template(
        json!({"id": "hello", "name": "Hello", "locales": {"en": {"text": "Hello"}}}),
    )
    .await;
    app.create_campaign(
        json!({"id": "draft", "name": "Draft", "channel": "telegram:shop", "template_id": "hello"}),
    )
    .await;
    let deleted = expect_status(
        200,
        call(&app, Method::DELETE, "/api/v1/campaigns/draft", None).await,
    );
    assert_eq!(deleted["ledger_batches"], 0);
    assert_eq!(app.admin_get("/api/v1/campaigns/draft").await.0, 404);

    app.create_campaign(
        json!({"id": "slow", "name": "Slow", "channel": "telegram:shop", "template_id": "hello"}),
    )
    .await;
    app.schedule_now("slow").await;
    let mut progress = json!(null);
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
    let at = chrono::DateTime::parse_from_rfc3339(
        progress["estimated_completion_at"]
            .as_str()
            .expect("a time"),
    )
    .expect("RFC 3339");
    let from_now = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    assert!(
        (from_now - seconds).abs() <= 3,
        "{from_now} vs {seconds}: {progress}"
    );
    let error = refused(&app, Method::DELETE, "/api/v1/campaigns/slow", None, 409).await;
    assert_eq!(error["code"], "campaign_not_deletable");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_this_deployment_does_not_serve_is_refused_everywhere() {
    let app = TestApp::start().await;
    app.create_template(
        json!({"id": "hello", "name": "Hello", "locales": {"en": {"text": "Hello"}}}),
    )
    .await;
    let news = json!({"channel": "telegram:news", "address": "7001",
        "consent": {"at": "2026-11-01T10:00:00Z", "source": "checkout", "evidence": "order-7"}});
    let body = format!("{}\n{}", import_line(7000), news);
    let request = app
        .admin(Method::POST, "/api/v1/subscribers/import")
        .body(body);
    let (status, answer) = send(request).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["code"], "channel_not_configured");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'news' to the variable telegram_bots"),
        "{answer}"
    );
    assert_eq!(
        answer["error"]["details"]["channels"],
        json!([{"channel": "telegram:news", "lines": [2]}])
    );
    let (_, subscribers) = app.admin_get("/api/v1/subscribers").await;
    assert_eq!(
        subscribers["items"],
        json!([]),
        "nothing was imported: {subscribers}"
    );

    let error = refused(
        &app,
        Method::POST,
        "/api/v1/campaigns",
        Some(
            json!({"id": "n1", "name": "News", "channel": "telegram:news", "template_id": "hello"}),
        ),
        422,
    )
    .await;
    assert_eq!(error["code"], "channel_not_configured");
    assert!(
        error["message"].as_str().unwrap().contains("telegram_bots"),
        "{error}"
    );
    assert_eq!(app.admin_get("/api/v1/campaigns/n1").await.0, 404);
}
