//! The app under test: the real components, built once, served by the embedded host.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use spinpost_host::{HostConfig, RunningHost, TestClock};
use tempfile::TempDir;

use crate::fake_platform::FakePlatform;
use crate::store_under_test::StoreUnderTest;

/// The admin token the tests configure.
pub const ADMIN_TOKEN: &str = "test-admin-token";
/// The scheduler token the tests configure.
pub const TICK_TOKEN: &str = "test-tick-token";
/// The Telegram bot the tests configure.
pub const TELEGRAM_BOT: &str = "shop";
/// That bot's webhook secret.
pub const TELEGRAM_WEBHOOK_SECRET: &str = "hook-secret-1";
/// That bot's token.
pub const TELEGRAM_BOT_TOKEN: &str = "123456:TEST-token";

/// The WhatsApp phone number id the tests configure (the one in the fixtures).
pub const WHATSAPP_PHONE_NUMBER_ID: &str = "1122334455667";
/// The WhatsApp app secret that signs webhooks.
pub const WHATSAPP_APP_SECRET: &str = "test-app-secret";
/// The WhatsApp verify token.
pub const WHATSAPP_VERIFY_TOKEN: &str = "test-verify-token";
/// The test Facebook Page (`messenger:<id>`).
pub const MESSENGER_PAGE_ID: &str = "1691462197845448";
/// The Meta app secret that signs the page's webhooks.
pub const MESSENGER_APP_SECRET: &str = "test-messenger-app-secret";
/// The verify token of the page's webhook handshake.
pub const MESSENGER_VERIFY_TOKEN: &str = "test-messenger-verify-token";

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// Build the four components for wasm32-wasip2 once per test process.
pub fn build_components() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = std::process::Command::new(cargo)
            .args(["build", "--target", "wasm32-wasip2", "--release"])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build for the components");
        assert!(status.success(), "building the components failed");
    });
}

/// A running app with its fake platform API and temporary state.
pub struct TestApp {
    host: Option<RunningHost>,
    /// `http://127.0.0.1:<port>` of the host.
    pub base_url: String,
    /// The fake platform API the components call.
    pub fake: FakePlatform,
    /// Variables given to the host.
    pub variables: HashMap<String, String>,
    /// The wall clock the components read: the real time until a test moves it.
    pub clock: TestClock,
    manifest: PathBuf,
    state_dir: TempDir,
    store: StoreUnderTest,
    client: reqwest::Client,
}

impl TestApp {
    /// The app with default test variables.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// The app with variables adjusted by `configure` (after the defaults are set).
    pub async fn start_with(configure: impl FnOnce(&mut HashMap<String, String>)) -> Self {
        let fake = FakePlatform::start().await;
        let mut variables = default_variables(&fake);
        configure(&mut variables);
        Self::start_on(workspace_root().join("spin.toml"), fake, variables).await
    }

    /// The app from another manifest (e.g. a copy with a narrower outbound list).
    pub async fn start_on(
        manifest: PathBuf,
        fake: FakePlatform,
        variables: HashMap<String, String>,
    ) -> Self {
        build_components();
        let state_dir = tempfile::tempdir().expect("temp state dir");
        let store = StoreUnderTest::from_env(state_dir.path());
        let clock = TestClock::new();
        let host = start_host(&manifest, state_dir.path(), &store, &variables, &clock)
            .await
            .expect("host starts");
        TestApp {
            base_url: host.base_url(),
            host: Some(host),
            fake,
            variables,
            clock,
            manifest,
            state_dir,
            store,
            client: reqwest::Client::new(),
        }
    }

    /// A client of a host started elsewhere (a replica process) at `base_url`, calling `fake`.
    pub fn attached(base_url: String, fake: FakePlatform) -> Self {
        TestApp {
            host: None,
            base_url,
            fake,
            variables: HashMap::new(),
            // A host in another process reads its own clock; this one moves nothing there.
            clock: TestClock::new(),
            manifest: workspace_root().join("spin.toml"),
            state_dir: tempfile::tempdir().expect("temp state dir"),
            store: StoreUnderTest::Sqlite,
            client: reqwest::Client::new(),
        }
    }

    /// The URL of the app's Redis server, when the tests run on Redis (`SPINPOST_E2E_STORE`).
    pub fn redis_url(&self) -> Option<String> {
        self.store.redis_url()
    }

    /// Stop the host and start a new one on the same state dir (and a new port).
    pub async fn restart(&mut self) {
        if let Some(host) = self.host.take() {
            host.shutdown().await;
        }
        let host = start_host(
            &self.manifest,
            self.state_dir.path(),
            &self.store,
            &self.variables,
            &self.clock,
        )
        .await
        .expect("host restarts");
        self.base_url = host.base_url();
        self.host = Some(host);
    }

    /// Set the components' wall clock to `at` (time runs on from there).
    pub fn set_clock(&self, at: DateTime<Utc>) {
        self.clock.set(at.into());
    }

    /// Move the components' wall clock on by `by`.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.clock
            .advance(by.to_std().expect("the clock only moves forward"));
    }

    /// The time the components read now.
    pub fn clock_now(&self) -> DateTime<Utc> {
        self.clock.now().into()
    }

    /// A request to the app without credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base_url))
    }

    /// A request with the admin token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request(method, path).bearer_auth(ADMIN_TOKEN)
    }

    /// A JSON admin call; returns status and body.
    pub async fn admin_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.admin(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    /// An admin `GET`; returns status and body.
    pub async fn admin_get(&self, path: &str) -> (u16, serde_json::Value) {
        self.admin_json(reqwest::Method::GET, path, None).await
    }

    /// The subscriber `id`, which must be subscribed with its first consent given by `source`.
    pub async fn subscribed_by(&self, id: &str, source: &str) -> serde_json::Value {
        let (status, subscriber) = self.admin_get(&format!("/api/v1/subscribers/{id}")).await;
        assert_eq!(status, 200, "{subscriber}");
        assert_eq!(subscriber["status"], "subscribed", "{subscriber}");
        assert_eq!(subscriber["consent"][0]["source"], source, "{subscriber}");
        subscriber
    }

    /// Import subscribers from JSON lines; returns the import report (the call must answer 200).
    pub async fn import_subscribers(&self, json_lines: &str) -> serde_json::Value {
        let request = self
            .admin(reqwest::Method::POST, "/api/v1/subscribers/import")
            .body(json_lines.to_owned());
        expect_status(200, send(request).await)
    }

    /// Create a template; returns it (the call must answer 201).
    pub async fn create_template(&self, template: serde_json::Value) -> serde_json::Value {
        let response = self
            .admin_json(reqwest::Method::POST, "/api/v1/templates", Some(template))
            .await;
        expect_status(201, response)
    }

    /// Create a campaign; returns it (the call must answer 201).
    pub async fn create_campaign(&self, campaign: serde_json::Value) -> serde_json::Value {
        let response = self
            .admin_json(reqwest::Method::POST, "/api/v1/campaigns", Some(campaign))
            .await;
        expect_status(201, response)
    }

    /// A campaign's feedback statistics (the call must answer 200).
    pub async fn feedback_stats(&self, campaign_id: &str) -> serde_json::Value {
        let path = format!("/api/v1/feedback/campaigns/{campaign_id}/stats");
        expect_status(200, self.admin_get(&path).await)
    }

    /// A campaign's feedback export in `format` (`csv` or `jsonl`).
    pub async fn feedback_export(&self, campaign_id: &str, format: &str) -> reqwest::Response {
        let path = format!("/api/v1/feedback/campaigns/{campaign_id}/export?format={format}");
        self.admin(reqwest::Method::GET, &path)
            .send()
            .await
            .expect("request reaches the host")
    }

    /// Deliver a Telegram update to the webhook with the right secret.
    pub async fn telegram_update(&self, body: &str) -> (u16, serde_json::Value) {
        let path = format!("/webhooks/telegram/{TELEGRAM_BOT}");
        let secret = ("x-telegram-bot-api-secret-token", TELEGRAM_WEBHOOK_SECRET);
        self.webhook(&path, secret, body).await
    }

    /// The `/start` fixture from chat 1111111, which subscribes it (the webhook must answer 200).
    pub async fn subscribe_by_start_command(&self) -> serde_json::Value {
        let start = crate::fixtures::raw("telegram/update_start_command");
        expect_status(200, self.telegram_update(&start).await)
    }

    /// Deliver a WhatsApp notification signed with the app secret.
    pub async fn whatsapp_notification(&self, body: &str) -> (u16, serde_json::Value) {
        self.meta_notification_signed(
            "/webhooks/whatsapp",
            body,
            &whatsapp_signature(WHATSAPP_APP_SECRET, body.as_bytes()),
        )
        .await
    }

    /// Meta's GET verification handshake at `path` (`/webhooks/whatsapp`, `/webhooks/messenger`) with
    /// `token` and `challenge`; returns the status and the body text.
    pub async fn meta_handshake(&self, path: &str, token: &str, challenge: &str) -> (u16, String) {
        let query =
            format!("{path}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge={challenge}");
        let response = self
            .request(reqwest::Method::GET, &query)
            .send()
            .await
            .expect("handshake request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("handshake body"))
    }

    /// Deliver a notification to a Meta webhook (`/webhooks/whatsapp`, `/webhooks/messenger`) with a
    /// given `X-Hub-Signature-256` header.
    pub async fn meta_notification_signed(
        &self,
        path: &str,
        body: &str,
        signature: &str,
    ) -> (u16, serde_json::Value) {
        self.webhook(path, ("x-hub-signature-256", signature), body)
            .await
    }

    /// Deliver a Messenger notification signed with the page's app secret.
    pub async fn messenger_notification(&self, body: &str) -> (u16, serde_json::Value) {
        let signature = whatsapp_signature(MESSENGER_APP_SECRET, body.as_bytes());
        self.meta_notification_signed("/webhooks/messenger", body, &signature)
            .await
    }

    /// POST a JSON webhook body with the header that authenticates it.
    async fn webhook(
        &self,
        path: &str,
        (auth_name, auth_value): (&str, &str),
        body: &str,
    ) -> (u16, serde_json::Value) {
        let request = self
            .request(reqwest::Method::POST, path)
            .header(auth_name, auth_value)
            .header("content-type", "application/json")
            .body(body.to_owned());
        send(request).await
    }

    /// Schedule a campaign to start now; returns the scheduled campaign.
    pub async fn schedule_now(&self, campaign_id: &str) -> serde_json::Value {
        let path = format!("/api/v1/campaigns/{campaign_id}/schedule");
        let (status, body) = self
            .admin_json(
                reqwest::Method::POST,
                &path,
                Some(serde_json::json!({"send_at": "now"})),
            )
            .await;
        assert_eq!(status, 200, "scheduling {campaign_id}: {body}");
        body
    }

    /// Call the scheduler route until the campaign completes; returns its final progress.
    pub async fn run_until_completed(&self, campaign_id: &str) -> serde_json::Value {
        let path = format!("/api/v1/campaigns/{campaign_id}/progress");
        for _ in 0..60 {
            let (status, body) = self.tick().await;
            assert_eq!(status, 200, "{body}");
            let (_, progress) = self.admin_get(&path).await;
            if progress["state"] == "completed" {
                return progress;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("campaign {campaign_id} did not complete");
    }

    /// Call the scheduler route once.
    pub async fn tick(&self) -> (u16, serde_json::Value) {
        let request = self
            .request(reqwest::Method::POST, "/dispatch/tick")
            .bearer_auth(TICK_TOKEN);
        send(request).await
    }
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, as Meta signs webhooks.
pub fn whatsapp_signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Send `request` (from [`TestApp::request`] or [`TestApp::admin`]); returns status and JSON body.
pub async fn send(request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let response = request.send().await.expect("request reaches the host");
    status_and_json(response).await
}

/// The body of `response` after checking that its status is `expected`.
#[track_caller]
pub fn expect_status(expected: u16, (status, body): (u16, serde_json::Value)) -> serde_json::Value {
    assert_eq!(status, expected, "{body}");
    body
}

/// Status and JSON body (Null when the body is not JSON).
pub async fn status_and_json(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// The variables every test starts from: tokens, the test bot, and both platform APIs at the fake.
pub fn default_variables(fake: &FakePlatform) -> HashMap<String, String> {
    let bots = serde_json::json!({ TELEGRAM_BOT: { "token": TELEGRAM_BOT_TOKEN, "webhook_secret": TELEGRAM_WEBHOOK_SECRET } }).to_string();
    let api = fake.url();
    let variables: [(&str, &str); 16] = [
        ("admin_token", ADMIN_TOKEN),
        ("tick_token", TICK_TOKEN),
        ("telegram_api_url", &api),
        ("telegram_bots", &bots),
        ("telegram_rate_per_second", "20"),
        ("whatsapp_api_url", &api),
        ("whatsapp_phone_number_id", WHATSAPP_PHONE_NUMBER_ID),
        ("whatsapp_access_token", "test-access-token"),
        ("whatsapp_app_secret", WHATSAPP_APP_SECRET),
        ("whatsapp_verify_token", WHATSAPP_VERIFY_TOKEN),
        ("messenger_api_url", &api),
        ("messenger_page_id", MESSENGER_PAGE_ID),
        ("messenger_page_access_token", "test-page-token"),
        ("messenger_app_secret", MESSENGER_APP_SECRET),
        ("messenger_verify_token", MESSENGER_VERIFY_TOKEN),
        ("tick_budget_ms", "5000"),
    ];
    variables
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

async fn start_host(
    manifest: &Path,
    state_dir: &Path,
    store: &StoreUnderTest,
    variables: &HashMap<String, String>,
    clock: &TestClock,
) -> anyhow::Result<RunningHost> {
    let mut config = HostConfig::new(manifest);
    config.listen_addr = "127.0.0.1:0".parse()?;
    config.state_dir = state_dir.to_path_buf();
    config.variables_env = variables.clone();
    config.runtime_config = store.runtime_config();
    config.clock = Some(clock.clone());
    spinpost_host::start(config).await
}
