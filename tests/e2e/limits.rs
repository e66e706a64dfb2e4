//! Limits at the edge: a body of hundreds of megabytes is refused before it is read, on every
//! component, and the host serves on; a signed notification as large as the webhook accepts is
//! applied whole; a path the HTTP parser cannot read gets a JSON error.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use spinpost_tests::app::{expect_status, send, whatsapp_signature, WHATSAPP_APP_SECRET};
use spinpost_tests::fixtures::{self, unix_now_secs};
use spinpost_tests::raw_http::{exchange, send_raw, Exchange, Framing};
use spinpost_tests::{TestApp, ADMIN_TOKEN, TELEGRAM_WEBHOOK_SECRET};

const HUGE: u64 = 300 * 1024 * 1024;

/// A path, the headers sent, and the status and error code it must answer.
type RefusedPost<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a str);

/// POST a generated body of [`HUGE`] bytes to `path` with `headers`.
async fn post_huge(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    framing: Framing,
) -> Exchange {
    let mut head =
        format!("POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json");
    for (name, value) in headers {
        head.push_str(&format!("\r\n{name}: {value}"));
    }
    exchange(&app.base_url, head.as_bytes(), HUGE, framing).await
}

/// The resident memory of this process (the host runs in it), in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Samples the resident memory every 20 ms until stopped; gives the highest seen.
struct MemoryWatch {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl MemoryWatch {
    fn start() -> Self {
        let peak = Arc::new(AtomicU64::new(resident_bytes()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (peak, stop) = (peak.clone(), stop.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(resident_bytes(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
        MemoryWatch { peak, stop, task }
    }

    async fn peak(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak.load(Ordering::Relaxed)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_300_mib_body_is_refused_before_it_is_read_on_every_component_and_the_host_serves_on() {
    let app = TestApp::start().await;
    let before = resident_bytes();
    let watch = MemoryWatch::start();
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let admin = [("authorization", bearer.as_str())];
    let signed = whatsapp_signature(WHATSAPP_APP_SECRET, b"anything");
    let whatsapp = [("x-hub-signature-256", signed.as_str())];
    let telegram = [("x-telegram-bot-api-secret-token", TELEGRAM_WEBHOOK_SECRET)];
    let cases: [RefusedPost; 10] = [
        // Without a credential: 401 from the head alone.
        ("/api/v1/subscribers/import", &[], 401, "unauthorized"),
        ("/api/v1/templates", &[], 401, "unauthorized"),
        ("/webhooks/whatsapp", &[], 401, "unauthorized"),
        ("/webhooks/telegram/shop", &[], 401, "unauthorized"),
        // With one: 413 within each route's limit, on each component.
        (
            "/api/v1/subscribers/import",
            &admin,
            413,
            "payload_too_large",
        ),
        ("/api/v1/templates", &admin, 413, "payload_too_large"),
        ("/api/v1/campaigns", &admin, 413, "payload_too_large"),
        ("/health", &[], 405, "method_not_allowed"),
        ("/webhooks/whatsapp", &whatsapp, 413, "payload_too_large"),
        (
            "/webhooks/telegram/shop",
            &telegram,
            413,
            "payload_too_large",
        ),
    ];
    for framing in [Framing::Declared, Framing::Chunked] {
        for (path, headers, status, code) in cases {
            let answer = post_huge(&app, path, headers, framing).await;
            assert_eq!(
                (answer.status, answer.body["error"]["code"].as_str()),
                (status, Some(code)),
                "{framing:?} {path}: {}",
                String::from_utf8_lossy(&answer.raw_body)
            );
            eprintln!(
                "{framing:?} {path}: {status} after {} KiB of the body",
                answer.body_bytes_sent >> 10
            );
            assert!(
                answer.body_bytes_sent < HUGE,
                "{framing:?} {path}: answered only after the whole body was sent"
            );
        }
    }
    let peak = watch.peak().await;
    let grown = peak.saturating_sub(before);
    eprintln!("resident memory grew by {} KiB at most", grown >> 10);
    assert!(
        grown < 100 * 1024 * 1024,
        "memory grew by {} MiB while refusing 300 MiB bodies",
        grown >> 20
    );
    // The host serves on.
    let (status, body) = send(app.request(Method::GET, "/health")).await;
    assert_eq!(status, 200, "{body}");
    let body = expect_status(200, app.admin_get("/api/v1/subscribers").await);
    assert_eq!(body["items"], json!([]));
}

/// `count` people on WhatsApp who consented at checkout, as import lines.
fn whatsapp_people(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("97250{i:07}")).collect()
}

/// One notification carrying `statuses` (message id, status), as small as Meta sends them.
fn statuses_notification(statuses: &[(String, &str)]) -> String {
    let mut payload = fixtures::payload("whatsapp/webhook_status_delivered");
    let now = unix_now_secs().to_string();
    let list: Vec<Value> = statuses
        .iter()
        .map(|(id, status)| json!({"id": id, "status": status, "timestamp": now}))
        .collect();
    payload["entry"][0]["changes"][0]["value"]["statuses"] = Value::Array(list);
    payload.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notification_of_8000_statuses_is_applied_whole() {
    let app = TestApp::start_with(|variables| {
        variables.insert("whatsapp_rate_per_second".into(), "1000".into());
    })
    .await;
    let channel = "whatsapp:1122334455667";
    let people = whatsapp_people(2000);
    let lines: Vec<String> = people
        .iter()
        .map(|n| json!({"channel": channel, "address": n, "consent": {"at": "2026-10-01T00:00:00Z", "source": "checkout", "evidence": format!("order-{n}")}}).to_string())
        .collect();
    let imported = app.import_subscribers(&lines.join("\n")).await;
    assert_eq!(imported["created"], 2000, "{imported}");
    app.create_template(json!({"id": "wa-bulk", "name": "Bulk", "locales": {"en": {
        "text": "Hello",
        "whatsapp_template": {"name": "hello", "language": "en_US", "parameters": []}
    }}}))
    .await;
    app.create_campaign(
        json!({"id": "bulk", "name": "Bulk", "channel": channel, "template_id": "wa-bulk"}),
    )
    .await;
    app.schedule_now("bulk").await;
    let progress = app.run_until_completed("bulk").await;
    assert_eq!(progress["counts"]["sent"], 2000, "{progress}");

    // Each message sent, delivered and read, and its read repeated: 8,000 statuses in one notification.
    let ids = app.fake.whatsapp_message_ids();
    assert_eq!(ids.len(), 2000);
    let statuses: Vec<(String, &str)> = ["sent", "delivered", "read", "read"]
        .iter()
        .flat_map(|status| ids.iter().map(move |id| (id.clone(), *status)))
        .collect();
    assert_eq!(statuses.len(), 8000);
    let notification = statuses_notification(&statuses);
    assert!(
        notification.len() <= 1024 * 1024,
        "{} bytes",
        notification.len()
    );
    let (status, body) = app.whatsapp_notification(&notification).await;
    assert_eq!(status, 200, "{body}");

    let stats = app.feedback_stats("bulk").await;
    assert_eq!(stats["sent"], 2000, "{stats}");
    assert_eq!(stats["delivered"], 2000, "every delivery updated: {stats}");
    assert_eq!(stats["read"], 2000, "{stats}");
    // Meta redelivers it: nothing counts twice.
    let (status, body) = app.whatsapp_notification(&notification).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.feedback_stats("bulk").await, stats);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_raw_non_utf8_byte_in_a_path_answers_400_with_a_json_error() {
    let app = TestApp::start().await;
    let request = b"GET /api/v1/subscribers/\xff\xfe HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";
    let answer = send_raw(&app.base_url, request).await;
    assert_eq!(
        answer.status,
        400,
        "{}",
        String::from_utf8_lossy(&answer.raw_body)
    );
    assert_eq!(
        answer.body["error"]["code"], "invalid_path",
        "{}",
        answer.body
    );
    assert!(answer.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("percent-encode"));
    // Percent-encoded, the same bytes reach the component, which answers as for any unknown id.
    let encoded =
        b"GET /api/v1/subscribers/%FF%FE HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";
    let answer = send_raw(&app.base_url, encoded).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    let (status, _) = send(app.request(Method::GET, "/health")).await;
    assert_eq!(status, 200);
}
