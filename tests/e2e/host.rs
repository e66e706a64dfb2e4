//! The embedded host runs the components as Spin would.

use reqwest::Method;
use spinpost_tests::app::{expect_status, send};
use spinpost_tests::{fixtures, TestApp};

/// The subscriber the `/start` fixture creates.
const SUBSCRIBER: &str = "/api/v1/subscribers/telegram:shop:1111111";

#[tokio::test(flavor = "multi_thread")]
async fn each_component_answers_on_its_routes() {
    let app = TestApp::start().await;
    // Without the admin token each component answers 401 itself: the request reached it.
    for path in [
        "/api/v1/subscribers",
        "/api/v1/templates",
        "/api/v1/campaigns",
        "/api/v1/feedback/campaigns/x/stats",
    ] {
        let (status, body) = send(app.request(Method::GET, path)).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{path}");
    }
    let (status, _) = send(app.request(Method::POST, "/dispatch/tick")).await;
    assert_eq!(status, 401);
    let body = expect_status(200, app.admin_get("/api/v1/subscribers").await);
    assert_eq!(body["items"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_are_404_and_wrong_methods_405_with_json_errors() {
    let app = TestApp::start().await;
    let (status, body) = send(app.request(Method::GET, "/nothing/here")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = app
        .admin_json(Method::PUT, "/api/v1/subscribers", None)
        .await;
    assert_eq!(status, 405);
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_private_component_is_unreachable_from_outside_but_reachable_by_chaining() {
    let app = TestApp::start().await;
    app.subscribe_by_start_command().await;
    // The feedback intake route exists only as a private trigger.
    let events = app
        .request(Method::POST, "/events")
        .json(&serde_json::json!({"events": []}));
    let (status, _) = send(events).await;
    assert_eq!(status, 404);
    // A reply is handed from subscriptions to feedback by local service chaining: 200 only if it arrived.
    let (status, body) = app
        .telegram_update(&fixtures::raw("telegram/update_text_message"))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_values_survive_a_host_restart() {
    let mut app = TestApp::start().await;
    app.subscribe_by_start_command().await;
    app.restart().await;
    let body = expect_status(200, app.admin_get(SUBSCRIBER).await);
    assert_eq!(body["status"], "subscribed");
    assert_eq!(body["consent"][0]["evidence"], "update_id 10000");
}

#[tokio::test(flavor = "multi_thread")]
async fn compare_and_swap_loses_no_update_under_50_concurrent_requests() {
    let app = std::sync::Arc::new(TestApp::start().await);
    app.subscribe_by_start_command().await;
    let requests = (0..50).map(|i| {
        let app = std::sync::Arc::clone(&app);
        tokio::spawn(async move {
            let body = serde_json::json!({ "tags": { "add": [format!("t{i}")] } });
            app.admin_json(Method::PATCH, SUBSCRIBER, Some(body)).await
        })
    });
    for request in requests.collect::<Vec<_>>() {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let (_, body) = app.admin_get(SUBSCRIBER).await;
    assert_eq!(body["tags"].as_array().unwrap().len(), 50, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outbound_call_to_a_host_not_allowed_is_refused() {
    // A copy of spin.toml where subscriptions may not call feedback: forwarding a reply must fail fast.
    let manifest =
        std::fs::read_to_string(spinpost_tests::app::workspace_root().join("spin.toml")).unwrap();
    let narrowed = manifest.replace(
        r#"allowed_outbound_hosts = ["http://feedback.spin.internal"]"#,
        r#"allowed_outbound_hosts = []"#,
    );
    assert_ne!(
        manifest, narrowed,
        "spin.toml still lists feedback for subscriptions"
    );
    let dir = spinpost_tests::app::workspace_root()
        .join("target")
        .join(format!("narrowed-manifest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sources = spinpost_tests::app::workspace_root().join("target/wasm32-wasip2/release");
    let narrowed = narrowed.replace(
        "source = \"target/wasm32-wasip2/release/",
        &format!("source = \"{}/", sources.display()),
    );
    let path = dir.join("spin.toml");
    std::fs::write(&path, narrowed).unwrap();
    let fake = spinpost_tests::FakePlatform::start().await;
    let variables = spinpost_tests::app::default_variables(&fake);
    let app = TestApp::start_on(path, fake, variables).await;
    let started = std::time::Instant::now();
    let (status, body) = app
        .telegram_update(&fixtures::raw("telegram/update_text_message"))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "feedback_unavailable");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a refused host must not hang"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_required_secret_stops_start_up_with_a_clear_message() {
    spinpost_tests::app::build_components();
    let mut config =
        spinpost_host::HostConfig::new(spinpost_tests::app::workspace_root().join("spin.toml"));
    config.listen_addr = "127.0.0.1:0".parse().unwrap();
    config.state_dir = tempfile::tempdir().unwrap().keep();
    config.variables_env.insert("tick_token".into(), "t".into());
    let err = spinpost_host::start(config)
        .await
        .expect_err("admin_token is required");
    let message = format!("{err:#}");
    assert!(message.contains("admin_token"), "{message}");
    assert!(message.contains("SPIN_VARIABLE_ADMIN_TOKEN"), "{message}");
}
