//! Webhook intake cost and throughput through the real `.wasm` in the embedded host.
//!
//! Cost, on Redis: for a `/start` from a new person, a text reply to a campaign, a rating press, and a
//! WhatsApp notification with 1, 10 and 100 statuses, the store round trips (commands the components
//! sent) and writes (`SET`, `MSET`, `INCRBY`, `DEL`, including the `SET` a compare-and-swap script
//! runs) per event, watched with Redis `MONITOR`.
//!
//! Throughput, on the embedded host's default store (SQLite): text replies to a campaign a second
//! against a cheap route (an unauthenticated webhook, answered 401 before any store access) in the
//! same run, and their ratio.
//!
//! ```sh
//! cargo build --target wasm32-wasip2 --release
//! cargo bench -p spinpost-tests --bench intake          # needs redis-server on PATH
//! INTAKE_BENCH_SECS=10 INTAKE_BENCH_CALLERS=8 cargo bench -p spinpost-tests --bench intake
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use spinpost_tests::app::{TestApp, WHATSAPP_PHONE_NUMBER_ID};
use spinpost_tests::bench::{block_on, env_number, run_for};
use spinpost_tests::store_under_test::STORE_VARIABLE;
use spinpost_tests::webhooks::{telegram_press, telegram_text, whatsapp_statuses};

/// Each single-event case runs this many times (each time a new person, reply or press).
const REPEATS: i64 = 5;

fn main() {
    block_on(async {
        cost_on_redis().await;
        throughput_on_default_store(
            Duration::from_secs(env_number("INTAKE_BENCH_SECS", 5)),
            env_number("INTAKE_BENCH_CALLERS", 8),
        )
        .await;
    });
}

/// Telegram subscribers `first..first + count`, with consent, as import lines.
fn telegram_people(first: i64, count: i64) -> String {
    (first..first + count)
        .map(|chat| {
            json!({"channel": "telegram:shop", "address": chat.to_string(), "first_name": "Ada",
                   "consent": {"at": "2026-01-01T10:00:00Z", "source": "bench", "evidence": format!("b{chat}")}})
            .to_string()
                + "\n"
        })
        .collect()
}

/// A Telegram campaign with rating buttons to everyone imported, sent.
async fn telegram_campaign(app: &TestApp, id: &str) {
    app.create_template(json!({"id": id, "name": "Bench", "locales": {"en": {
        "text": "Hi {{ subscriber.first_name }}",
        "buttons": [[{"text": "★★★★★", "rating": 5}, {"text": "★", "rating": 1}]]}}}))
        .await;
    app.create_campaign(
        json!({"id": id, "name": "Bench", "channel": "telegram:shop", "template_id": id}),
    )
    .await;
    app.schedule_now(id).await;
    app.run_until_completed(id).await;
}

async fn cost_on_redis() {
    std::env::set_var(STORE_VARIABLE, "redis");
    let app = TestApp::start().await;
    let telegram = 4_000_000;
    app.import_subscribers(&telegram_people(telegram, 2 * REPEATS))
        .await;
    let numbers: Vec<String> = (0..111).map(|i| format!("97250{i:07}")).collect();
    let lines: String = numbers
        .iter()
        .map(|n| {
            json!({"channel": format!("whatsapp:{WHATSAPP_PHONE_NUMBER_ID}"), "address": n,
                   "consent": {"at": "2026-01-01T10:00:00Z", "source": "bench", "evidence": format!("b{n}")}})
            .to_string()
                + "\n"
        })
        .collect();
    app.import_subscribers(&lines).await;
    telegram_campaign(&app, "bench-tg").await;
    app.create_template(
        json!({"id": "bench-wa", "name": "Bench WA", "locales": {"en": {
        "text": "Hi there",
        "whatsapp_template": {"name": "bench", "language": "en_US", "parameters": []}}}}),
    )
    .await;
    app.create_campaign(json!({"id": "bench-wa", "name": "Bench WA",
                               "channel": format!("whatsapp:{WHATSAPP_PHONE_NUMBER_ID}"), "template_id": "bench-wa"}))
        .await;
    app.schedule_now("bench-wa").await;
    app.run_until_completed("bench-wa").await;
    let wamids = app.fake.whatsapp_message_ids();
    assert_eq!(
        wamids.len(),
        numbers.len(),
        "every WhatsApp message was sent"
    );

    let redis = app.redis_url().expect("the bench runs on Redis");
    let mut monitor = Monitor::watch(&redis);
    // The compare-and-swap script is loaded by the first swap; warm it up outside the figures.
    let (status, _) = app
        .telegram_update(&telegram_text(1, 4_999_999, "/start"))
        .await;
    assert_eq!(status, 200);

    println!(
        "{:<34} {:>7} {:>12} {:>8} {:>15} {:>11}",
        "webhook (Redis)", "events", "round trips", "writes", "round trips/ev", "writes/ev"
    );
    let update = AtomicI64::new(100);
    let next_update = || update.fetch_add(1, Ordering::SeqCst);
    let mut all = Cost::default();
    let mut measure = |label: &str, cost: Cost| {
        cost.print(label);
        all.add(&cost);
    };
    let mut cost = Cost::default();
    for i in 0..REPEATS {
        let body = telegram_text(next_update(), 5_000_000 + i, "/start");
        cost.add(&monitor.cost_of(1, app.telegram_update(&body)).await);
    }
    measure("/start from a new person", cost);
    let mut cost = Cost::default();
    for i in 0..REPEATS {
        let body = telegram_text(next_update(), telegram + i, "Thanks, lovely!");
        cost.add(&monitor.cost_of(1, app.telegram_update(&body)).await);
    }
    measure("text reply to a campaign", cost);
    let mut cost = Cost::default();
    for i in 0..REPEATS {
        let chat = telegram + REPEATS + i;
        let body = telegram_press(
            next_update(),
            chat,
            &format!("press-{chat}"),
            "rate:bench-tg:5",
        );
        cost.add(&monitor.cost_of(1, app.telegram_update(&body)).await);
    }
    measure("rating press", cost);
    for (label, range) in [
        ("WhatsApp notification, 1 status", 0..1),
        ("WhatsApp notification, 10 statuses", 1..11),
        ("WhatsApp notification, 100 statuses", 11..111),
    ] {
        let items: Vec<(&str, &str)> = wamids[range]
            .iter()
            .map(|id| (id.as_str(), "delivered"))
            .collect();
        let body = whatsapp_statuses(&items);
        let cost = monitor
            .cost_of(items.len() as u64, app.whatsapp_notification(&body))
            .await;
        measure(label, cost);
    }
    all.print("all of the above");
    let stats = app.feedback_stats("bench-wa").await;
    assert_eq!(
        stats["delivered"], 111,
        "every status was credited: {stats}"
    );
    let stats = app.feedback_stats("bench-tg").await;
    assert_eq!(stats["replies"], REPEATS, "{stats}");
    assert_eq!(stats["ratings"], REPEATS, "{stats}");
}

/// What a number of webhook events cost the store.
#[derive(Debug, Default, Clone, Copy)]
struct Cost {
    events: u64,
    round_trips: u64,
    writes: u64,
}

impl Cost {
    fn add(&mut self, other: &Cost) {
        self.events += other.events;
        self.round_trips += other.round_trips;
        self.writes += other.writes;
    }

    fn print(&self, label: &str) {
        let per_event = |n: u64| n as f64 / self.events.max(1) as f64;
        println!(
            "{label:<34} {:>7} {:>12} {:>8} {:>15.2} {:>11.2}",
            self.events,
            self.round_trips,
            self.writes,
            per_event(self.round_trips),
            per_event(self.writes)
        );
    }
}

/// Redis `MONITOR`: every command the server runs, in order, read up to a marker we send ourselves.
struct Monitor {
    lines: BufReader<TcpStream>,
    marker: TcpStream,
    marks: u64,
}

/// The commands that change the store.
const WRITES: [&str; 6] = ["SET", "MSET", "INCRBY", "DEL", "SETNX", "UNLINK"];

impl Monitor {
    fn watch(url: &str) -> Self {
        let address = url.trim_start_matches("redis://");
        let stream = TcpStream::connect(address).expect("connect to Redis");
        (&stream).write_all(b"MONITOR\r\n").expect("start MONITOR");
        let mut lines = BufReader::new(stream);
        let mut ok = String::new();
        lines.read_line(&mut ok).expect("MONITOR answers");
        assert!(ok.starts_with("+OK"), "MONITOR: {ok}");
        let marker = TcpStream::connect(address).expect("connect to Redis");
        Monitor {
            lines,
            marker,
            marks: 0,
        }
    }

    /// Send a marker and read the commands run before it.
    fn commands_until_mark(&mut self) -> Vec<String> {
        self.marks += 1;
        let mark = format!("intake-bench-mark-{}", self.marks);
        let command = format!("*2\r\n$4\r\nECHO\r\n${}\r\n{mark}\r\n", mark.len());
        self.marker
            .write_all(command.as_bytes())
            .expect("send a mark");
        let mut reply = [0u8; 64];
        let _ = std::io::Read::read(&mut self.marker, &mut reply).expect("mark echoed");
        let mut commands = Vec::new();
        loop {
            let mut line = String::new();
            self.lines.read_line(&mut line).expect("read MONITOR");
            if line.contains(&mark) {
                return commands;
            }
            commands.push(line);
        }
    }

    /// The cost of `events` events delivered by `request` (which must answer 200).
    async fn cost_of(
        &mut self,
        events: u64,
        request: impl std::future::Future<Output = (u16, serde_json::Value)>,
    ) -> Cost {
        tokio::task::block_in_place(|| self.commands_until_mark());
        let (status, body) = request.await;
        assert_eq!(status, 200, "{body}");
        let commands = tokio::task::block_in_place(|| self.commands_until_mark());
        let mut cost = Cost {
            events,
            ..Cost::default()
        };
        if std::env::var("INTAKE_BENCH_SHOW").is_ok() {
            for line in &commands {
                eprint!("  | {line}");
            }
        }
        for line in &commands {
            // `<time> [<db> <client or lua>] "<COMMAND>" "<arg>" ...`
            let Some((source, rest)) = line.split_once("] ") else {
                continue;
            };
            let name = rest
                .split('"')
                .nth(1)
                .unwrap_or_default()
                .to_ascii_uppercase();
            if !source.ends_with(" lua") {
                cost.round_trips += 1;
            }
            if WRITES.contains(&name.as_str()) {
                cost.writes += 1;
            }
        }
        cost
    }
}

/// Text replies a second on the default store against unauthenticated webhooks a second.
async fn throughput_on_default_store(duration: Duration, callers: u64) {
    std::env::remove_var(STORE_VARIABLE);
    let app = Arc::new(TestApp::start().await);
    let people = 200;
    let first = 6_000_000;
    app.import_subscribers(&telegram_people(first, people))
        .await;
    telegram_campaign(&app, "bench-throughput").await;
    let update = Arc::new(AtomicI64::new(10_000));
    let replies = run_for(duration, callers, {
        let (app, update) = (Arc::clone(&app), Arc::clone(&update));
        move || {
            let (app, update) = (Arc::clone(&app), Arc::clone(&update));
            async move {
                let n = update.fetch_add(1, Ordering::SeqCst);
                let body = telegram_text(n, first + n % people, "Thanks!");
                app.telegram_update(&body).await.0 == 200
            }
        }
    })
    .await;
    let unauthenticated = run_for(duration, callers, {
        let app = Arc::clone(&app);
        move || {
            let app = Arc::clone(&app);
            async move {
                let response = app
                    .request(reqwest::Method::POST, "/webhooks/telegram/shop")
                    .header("content-type", "application/json")
                    .body(telegram_text(1, first, "Thanks!"))
                    .send()
                    .await;
                response.is_ok_and(|r| r.status().as_u16() == 401)
            }
        }
    })
    .await;
    println!(
        "intake on the default store (SQLite), {callers} callers, {} s each:",
        duration.as_secs()
    );
    println!("  text replies to a campaign:  {replies:>8.1} /s");
    println!("  unauthenticated 401:         {unauthenticated:>8.1} /s");
    println!(
        "  ratio:                       {:>8.3} x",
        replies / unauthenticated.max(1e-9)
    );
}
