//! Dispatch throughput through the real `.wasm` in the embedded host, on Redis: one campaign to N
//! subscribers (2,000 unless `DISPATCH_BENCH_N` says otherwise) on a Telegram bot sending paid
//! broadcasts, at configured rates 25, 80, 300 and 1,000 a second, against a fake Bot API answering
//! after 0 and 100 ms, with 1 and 4 scheduler callers. For each run it prints messages/s (the
//! requests the fake received before the last wave over the time from the first wave's start to the
//! last's: a wave's requests start together), the ratio to the configured rate, and Redis commands per message
//! (`INFO commandstats`, counted over the whole run), on Redis as Spinpost's own runtime config uses it
//! and in Spin-compatibility mode (the commands of Spin's own Redis backend, whose batch reads and
//! compare-and-swap Spinpost works around: `DISPATCH_BENCH_STORES=redis,redis-spin`). It first measures the fake API's own ceiling at
//! each latency, so the figures show the fake is not the bottleneck.
//!
//! ```sh
//! cargo bench -p spinpost-tests --bench dispatch
//! DISPATCH_BENCH_N=500 DISPATCH_BENCH_RATES=25,1000 DISPATCH_BENCH_LATENCIES_MS=100 \
//!   DISPATCH_BENCH_CALLERS=1 cargo bench -p spinpost-tests --bench dispatch
//! ```

use std::time::{Duration, Instant};

use serde_json::json;
use spinpost::delivery::SenderConfig;
use spinpost_tests::app::{TestApp, TELEGRAM_BOT, TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET};
use spinpost_tests::bench::redis_calls;
use spinpost_tests::fake_platform::FakePlatform;
use spinpost_tests::store_under_test::STORE_VARIABLE;

fn list(name: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(name)
        .ok()
        .map(|raw| {
            raw.split(',')
                .filter_map(|v| v.trim().parse().ok())
                .collect()
        })
        .filter(|values: &Vec<u64>| !values.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

fn main() {
    let stores: Vec<String> = std::env::var("DISPATCH_BENCH_STORES")
        .unwrap_or_else(|_| "redis,redis-spin".into())
        .split(',')
        .map(|store| store.trim().to_owned())
        .filter(|store| store.starts_with("redis"))
        .collect();
    let recipients = list("DISPATCH_BENCH_N", &[2000])[0];
    let rates = list("DISPATCH_BENCH_RATES", &[25, 80, 300, 1000]);
    let latencies = list("DISPATCH_BENCH_LATENCIES_MS", &[0, 100]);
    let callers = list("DISPATCH_BENCH_CALLERS", &[1, 4]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        for &latency in &latencies {
            let ceiling = fake_ceiling(Duration::from_millis(latency)).await;
            println!("fake Bot API at {latency} ms: answers up to {ceiling:.0} requests/s (256 in flight)");
        }
        println!(
            "{:>10} {:>8} {:>6} {:>8} {:>11} {:>8} {:>10} {:>12}",
            "store", "latency", "rate", "callers", "messages", "msg/s", "x rate", "redis ops/msg"
        );
        for store in &stores {
        // The store is chosen from the environment when each app starts.
        std::env::set_var(STORE_VARIABLE, store);
        for &latency in &latencies {
            for &rate in &rates {
                for &caller_count in &callers {
                    let run = Run {
                        recipients,
                        rate,
                        latency: Duration::from_millis(latency),
                        callers: caller_count,
                    };
                    let measured = run.measure().await;
                    println!(
                        "{:>10} {:>6}ms {:>6} {:>8} {:>11} {:>8.1} {:>10.3} {:>12.2}",
                        store,
                        latency,
                        rate,
                        caller_count,
                        measured.messages,
                        measured.per_second,
                        measured.per_second / rate as f64,
                        measured.store_ops as f64 / measured.messages.max(1) as f64
                    );
                }
            }
        }
        }
    });
}

/// The most requests a second the fake answers at `latency` with 256 in flight, over two seconds.
async fn fake_ceiling(latency: Duration) -> f64 {
    let fake = FakePlatform::start().await;
    fake.set_latency(latency);
    let client = reqwest::Client::new();
    let url = format!("{}/bot1:T/sendMessage", fake.url());
    let until = Instant::now() + Duration::from_secs(2);
    let started = Instant::now();
    let workers: Vec<_> = (0..256)
        .map(|worker| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut answered = 0u64;
                while Instant::now() < until {
                    let body = json!({"chat_id": worker, "text": "x"});
                    if client.post(&url).json(&body).send().await.is_ok() {
                        answered += 1;
                    }
                }
                answered
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await.unwrap_or(0);
    }
    total as f64 / started.elapsed().as_secs_f64()
}

struct Run {
    recipients: u64,
    rate: u64,
    latency: Duration,
    callers: u64,
}

struct Measured {
    messages: usize,
    per_second: f64,
    store_ops: u64,
}

impl Run {
    async fn measure(&self) -> Measured {
        let rate = self.rate;
        let app = TestApp::start_with(|variables| {
            let bots = json!({ TELEGRAM_BOT: {
                "token": TELEGRAM_BOT_TOKEN,
                "webhook_secret": TELEGRAM_WEBHOOK_SECRET,
                "allow_paid_broadcast": true
            }});
            variables.insert("telegram_bots".into(), bots.to_string());
            variables.insert("telegram_rate_per_second".into(), rate.to_string());
            variables.insert("tick_budget_ms".into(), "20000".into());
        })
        .await;
        app.fake.set_latency(self.latency);
        self.seed(&app).await;
        let redis = app.redis_url().expect("the bench runs on Redis");
        let ops_before = redis_calls(&redis);
        let callers: Vec<_> = (0..self.callers)
            .map(|_| {
                let (base, client) = (app.base_url.clone(), reqwest::Client::new());
                tokio::spawn(async move { tick_until_done(&client, &base).await })
            })
            .collect();
        for caller in callers {
            caller.await.expect("caller finishes");
        }
        let ops = redis_calls(&redis) - ops_before;
        let sends = app.fake.calls("sendMessage");
        let messages = sends.len();
        let span = match (sends.first(), sends.last()) {
            (Some(first), Some(last)) => last.at.duration_since(first.at),
            _ => Duration::ZERO,
        };
        // Sends go in waves (a wave window's slots start together), so first-to-last undercounts the
        // time by up to a wave and the last wave may be partial: the rate is the sends before the last
        // wave over the time from the first wave's start to the last's. A wave starts after a gap of
        // more than half a window; without such gaps the sends ran as one stream: (n - 1) / span.
        let window = SenderConfig::new("bench", chrono::Utc::now())
            .wave_window_for(u32::try_from(self.rate).unwrap_or(u32::MAX))
            .to_std()
            .unwrap_or_default();
        let last_wave = sends
            .windows(2)
            .rev()
            .find(|pair| pair[1].at.duration_since(pair[0].at) > window / 2)
            .map(|pair| pair[1].at);
        let per_second = match (sends.first(), last_wave) {
            (Some(first), Some(last_wave)) => {
                let before = sends.iter().filter(|send| send.at < last_wave).count();
                before as f64 / last_wave.duration_since(first.at).as_secs_f64().max(1e-9)
            }
            _ => (messages.saturating_sub(1)) as f64 / span.as_secs_f64().max(1e-9),
        };
        assert_eq!(messages as u64, self.recipients, "everyone was sent once");
        Measured {
            messages,
            per_second,
            store_ops: ops,
        }
    }

    async fn seed(&self, app: &TestApp) {
        let lines: String = (0..self.recipients)
            .map(|i| {
                json!({"channel": format!("telegram:{TELEGRAM_BOT}"), "address": (1_000_000 + i).to_string(),
                       "first_name": "Ada", "consent": {"at": "2026-01-01T10:00:00Z", "source": "bench", "evidence": "b"}})
                .to_string() + "\n"
            })
            .collect();
        let imported = app.import_subscribers(&lines).await;
        assert_eq!(imported["created"], self.recipients, "{imported}");
        app.create_template(
            json!({"id": "bench", "name": "Bench", "default_locale": "en",
                                   "locales": {"en": {"text": "Hi {{ subscriber.first_name }}"}}}),
        )
        .await;
        app.create_campaign(
            json!({"id": "bench", "name": "Bench", "channel": format!("telegram:{TELEGRAM_BOT}"),
                                   "template_id": "bench"}),
        )
        .await;
        app.schedule_now("bench").await;
    }
}

/// Call the scheduler route until a call finds nothing to do.
async fn tick_until_done(client: &reqwest::Client, base: &str) {
    loop {
        let response = client
            .post(format!("{base}/dispatch/tick"))
            .bearer_auth(spinpost_tests::app::TICK_TOKEN)
            .send()
            .await
            .expect("tick reaches the host");
        let report: serde_json::Value = response.json().await.unwrap_or_default();
        let steps = report["report"]["steps"].as_array().map_or(0, Vec::len);
        if steps == 0 {
            return;
        }
    }
}
