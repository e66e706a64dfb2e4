//! The event API's cost and throughput through the real `.wasm` in the embedded host.
//!
//! Cost, on Redis: the commands Redis ran (`INFO commandstats`, counting the commands a
//! compare-and-swap script runs) per event for single events and for batches of 100, each queueing one
//! message of an `order.shipped` rule, and per message for the ticks that send them.
//!
//! Throughput, on the embedded host's default store (SQLite): events a second sent one per request and
//! in batches of 100, against `GET /health` (one store read) with the same callers in the same run.
//!
//! ```sh
//! cargo build --target wasm32-wasip2 --release
//! cargo bench --workspace --bench events          # needs redis-server on PATH
//! EVENTS_BENCH_SECS=10 EVENTS_BENCH_CALLERS=8 cargo bench --workspace --bench events
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use spinpost_tests::app::TestApp;
use spinpost_tests::bench::{block_on, env_number, redis_calls, run_for};
use spinpost_tests::store_under_test::STORE_VARIABLE;

/// Subscribers the events name, round robin.
const PEOPLE: u64 = 300;
/// The first Telegram chat id of those subscribers.
const FIRST_CHAT: u64 = 7_000_000;
/// Single events in the cost run.
const SINGLE_EVENTS: u64 = 50;
/// Events per batch.
const BATCH: u64 = 100;

fn main() {
    block_on(async {
        cost_on_redis().await;
        throughput_on_default_store(
            Duration::from_secs(env_number("EVENTS_BENCH_SECS", 5)),
            env_number("EVENTS_BENCH_CALLERS", 8),
        )
        .await;
    });
}

/// Subscribers, a template and an `order.shipped` rule sending at once.
async fn seed(app: &TestApp) {
    let lines: String = (FIRST_CHAT..FIRST_CHAT + PEOPLE)
        .map(|chat| {
            json!({"channel": "telegram:shop", "address": chat.to_string(), "first_name": "Ada",
                   "consent": {"at": "2026-01-01T10:00:00Z", "source": "bench", "evidence": format!("b{chat}")}})
            .to_string()
                + "\n"
        })
        .collect();
    app.import_subscribers(&lines).await;
    app.create_template(
        json!({"id": "shipped", "name": "Shipped", "locales": {"en": {
        "text": "Order {{ event.data.order_number }} is on its way"}}}),
    )
    .await;
    let (status, body) = app
        .admin_json(
            reqwest::Method::POST,
            "/api/v1/rules",
            Some(
                json!({"id": "shipped", "event": "order.shipped", "template_id": "shipped",
                        "channels": ["telegram:shop"], "kind": "transactional"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Event number `n`: an order of subscriber `n mod PEOPLE`, with its own idempotency key.
fn event(n: u64) -> Value {
    json!({"name": "order.shipped", "subscriber_id": format!("telegram:shop:{}", FIRST_CHAT + n % PEOPLE),
           "data": {"order_number": n.to_string()}, "idempotency_key": format!("order-{n}-shipped")})
}

fn batch(first: u64) -> Value {
    json!({"events": (first..first + BATCH).map(event).collect::<Vec<_>>()})
}

/// POST an event body; `true` when it answered 200.
async fn post(app: &TestApp, body: Value) -> bool {
    let (status, answer) = app
        .admin_json(reqwest::Method::POST, "/api/v1/events", Some(body))
        .await;
    assert_eq!(status, 200, "{answer}");
    true
}

/// Tick until `messages` more messages reached the fake platform.
async fn send_all(app: &TestApp, messages: usize) {
    let target = app.fake.calls("sendMessage").len() + messages;
    for _ in 0..600 {
        if app.fake.calls("sendMessage").len() >= target {
            return;
        }
        let (status, body) = app.tick().await;
        assert_eq!(status, 200, "{body}");
    }
    panic!("the event messages were not all sent");
}

async fn cost_on_redis() {
    std::env::set_var(STORE_VARIABLE, "redis");
    let app = TestApp::start().await;
    seed(&app).await;
    let redis = app.redis_url().expect("the bench runs on Redis");
    // The compare-and-swap script is loaded by the first swap; warm it up outside the figures.
    post(&app, event(0)).await;
    send_all(&app, 1).await;

    println!(
        "{:<40} {:>7} {:>15} {:>17}",
        "event API (Redis)", "events", "Redis commands", "commands/event"
    );
    let report = |label: &str, events: u64, commands: u64| {
        println!(
            "{label:<40} {events:>7} {commands:>15} {:>17.2}",
            commands as f64 / events as f64
        );
    };
    let before = redis_calls(&redis);
    for n in 1..=SINGLE_EVENTS {
        post(&app, event(n)).await;
    }
    report(
        "single events (intake)",
        SINGLE_EVENTS,
        redis_calls(&redis) - before,
    );
    let before = redis_calls(&redis);
    send_all(&app, SINGLE_EVENTS as usize).await;
    report(
        "their messages sent (ticks)",
        SINGLE_EVENTS,
        redis_calls(&redis) - before,
    );
    let before = redis_calls(&redis);
    for first in [1_000, 1_000 + BATCH] {
        post(&app, batch(first)).await;
    }
    report(
        "batches of 100 (intake)",
        2 * BATCH,
        redis_calls(&redis) - before,
    );
    let before = redis_calls(&redis);
    post(&app, event(1)).await;
    report(
        "a repeated idempotency key",
        1,
        redis_calls(&redis) - before,
    );
    let (_, stats) = app.admin_get("/api/v1/rules/shipped/stats").await;
    assert_eq!(stats["sent"], SINGLE_EVENTS + 1, "{stats}");
}

async fn throughput_on_default_store(duration: Duration, callers: u64) {
    std::env::remove_var(STORE_VARIABLE);
    let app = Arc::new(TestApp::start().await);
    seed(&app).await;
    let next = Arc::new(AtomicU64::new(1_000_000));
    let singles = run_for(duration, callers, {
        let (app, next) = (Arc::clone(&app), Arc::clone(&next));
        move || {
            let (app, next) = (Arc::clone(&app), Arc::clone(&next));
            async move { post(&app, event(next.fetch_add(1, Ordering::SeqCst))).await }
        }
    })
    .await;
    let batches = run_for(duration, callers, {
        let (app, next) = (Arc::clone(&app), Arc::clone(&next));
        move || {
            let (app, next) = (Arc::clone(&app), Arc::clone(&next));
            async move { post(&app, batch(next.fetch_add(BATCH, Ordering::SeqCst))).await }
        }
    })
    .await;
    let health = run_for(duration, callers, {
        let app = Arc::clone(&app);
        move || {
            let app = Arc::clone(&app);
            async move { app.admin_get("/health").await.0 == 200 }
        }
    })
    .await;
    println!(
        "event API on the default store (SQLite), {callers} callers, {} s each:",
        duration.as_secs()
    );
    println!("  single events:        {singles:>8.1} events/s");
    println!(
        "  batches of 100:       {:>8.1} events/s ({batches:.2} requests/s)",
        batches * BATCH as f64
    );
    println!("  GET /health:          {health:>8.1} requests/s");
    println!(
        "  single / health:      {:>8.3} x",
        singles / health.max(1e-9)
    );
    println!(
        "  batched / health:     {:>8.3} x",
        batches * BATCH as f64 / health.max(1e-9)
    );
}
