//! Scale-out as SpinKube runs it: three host processes (replicas) on one Redis store in
//! Spin-compatibility mode (the commands of Spin's own Redis backend), the scheduler calling every
//! replica at once, webhooks spread over all three, a rate limit seen by all, and one replica killed
//! (SIGKILL) mid-campaign while the others finish it.
//!
//! A test binary of its own, so it does not share the machine with the other end-to-end tests while
//! it measures the pace.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use spinpost_tests::replicas::ReplicaSet;
use spinpost_tests::{fixtures, FakeReply, TestApp};

const REPLICAS: usize = 3;
const RECIPIENTS: i64 = 300;
const RATE: f64 = 30.0;
const FIRST_CHAT: i64 = 5000;
/// The recipient whose first send Telegram answers 429 with `retry_after`: late in the campaign (after
/// the kill), so the pace is measured over several waves before it.
const RATE_LIMITED_CHAT: i64 = FIRST_CHAT + 200;
const RETRY_AFTER_SECS: u64 = 2;
/// Replica 2 is killed once this many messages were sent.
const KILL_AFTER_SENDS: usize = 160;
const NEW_SUBSCRIBERS: i64 = 30;

fn import_line(chat: i64) -> String {
    json!({"channel": "telegram:shop", "address": chat.to_string(), "first_name": format!("Guest {chat}"), "tags": ["customer"],
        "consent": {"at": "2026-11-01T10:00:00Z", "source": "checkout", "evidence": format!("order-{chat}")}})
    .to_string()
}

fn start_update(update_id: i64, chat: i64) -> String {
    let mut update = fixtures::payload("telegram/update_start_command");
    update["update_id"] = update_id.into();
    update["message"]["chat"]["id"] = chat.into();
    update["message"]["from"]["id"] = chat.into();
    update.to_string()
}

/// Messages a tick answer reports as sent.
fn sent_in(answer: &Value) -> u64 {
    match answer {
        Value::Object(map) if map.get("kind") == Some(&json!("batch")) => {
            map.get("sent").and_then(Value::as_u64).unwrap_or(0)
        }
        Value::Object(map) => map.values().map(sent_in).sum(),
        Value::Array(items) => items.iter().map(sent_in).sum(),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_on_one_redis_send_everyone_once_at_the_shared_pace() {
    let Some(mut set) = ReplicaSet::start(REPLICAS, |vars| {
        vars.insert("telegram_rate_per_second".into(), RATE.to_string());
        vars.insert("tick_budget_ms".into(), "3000".into());
    })
    .await
    else {
        return;
    };
    let admin = set.app(0);
    let lines: Vec<String> = (FIRST_CHAT..FIRST_CHAT + RECIPIENTS)
        .map(import_line)
        .collect();
    let report = admin.import_subscribers(&lines.join("\n")).await;
    assert_eq!(report["created"], RECIPIENTS, "{report}");
    admin
        .create_template(json!({"id": "scale", "name": "Scale", "locales": {"en": {
            "text": "Hi {{ subscriber.first_name }}, code {{ campaign.variables.code }}"}}}))
        .await;
    admin
        .create_campaign(
            json!({"id": "scale-out", "name": "Scale-out", "channel": "telegram:shop",
            "template_id": "scale", "variables": {"code": "SCALE"},
            // People who subscribe during the campaign are not customers yet.
            "audience": {"all_tags": ["customer"]}}),
        )
        .await;
    set.fake.script(
        &RATE_LIMITED_CHAT.to_string(),
        vec![FakeReply::telegram_too_many_requests(RETRY_AFTER_SECS)],
    );
    set.app(1).schedule_now("scale-out").await;

    // Every replica's scheduler loop calls its tick route over and over, as a CronJob per replica
    // would; a killed replica's loop ends with its connection.
    let done = Arc::new(AtomicBool::new(false));
    let sent_by: Vec<Arc<AtomicU64>> = (0..REPLICAS).map(|_| Arc::default()).collect();
    let started = Instant::now();
    let loops: Vec<_> = (0..REPLICAS)
        .map(|i| {
            let app = set.app(i);
            let (done, sent) = (Arc::clone(&done), Arc::clone(&sent_by[i]));
            tokio::spawn(async move {
                while !done.load(Ordering::SeqCst) {
                    let answer = app
                        .request(reqwest::Method::POST, "/dispatch/tick")
                        .bearer_auth(spinpost_tests::TICK_TOKEN)
                        .send()
                        .await;
                    let Ok(response) = answer else { break };
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    sent.fetch_add(sent_in(&body), Ordering::SeqCst);
                }
            })
        })
        .collect();

    // Meanwhile people subscribe through webhooks spread over the replicas.
    for n in 0..NEW_SUBSCRIBERS {
        let app = set.app(usize::try_from(n).unwrap() % REPLICAS);
        let (status, body) = app
            .telegram_update(&start_update(90_000 + n, 7000 + n))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    // Replica 2 dies mid-campaign, a tick of its own most likely in flight.
    while set.fake.calls("sendMessage").len() < KILL_AFTER_SENDS {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "sending never got going"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed_at = Instant::now();
    let answered_before_kill = set.fake.calls("sendMessage").len();
    set.kill(2);

    let progress = loop {
        let (_, progress) = admin
            .admin_get("/api/v1/campaigns/scale-out/progress")
            .await;
        if progress["state"] == "completed" {
            break progress;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the surviving replicas did not finish: {progress}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    done.store(true, Ordering::SeqCst);
    for handle in loops {
        let _ = handle.await;
    }

    // Every recipient has exactly one final state; nobody was messaged twice.
    let counts = &progress["counts"];
    let final_states: u64 = ["sent", "failed", "blocked", "skipped"]
        .iter()
        .map(|state| counts[*state].as_u64().unwrap_or(0))
        .sum();
    if final_states != RECIPIENTS as u64 {
        let mut cursor = String::new();
        loop {
            let (_, page) = admin
                .admin_get(&format!(
                    "/api/v1/campaigns/scale-out/deliveries?cursor={cursor}"
                ))
                .await;
            for item in page["items"].as_array().into_iter().flatten() {
                if item["state"] != "sent" {
                    eprintln!("{item}");
                }
            }
            match page["next_cursor"].as_str().or(page["next"].as_str()) {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
    }
    assert_eq!(final_states, RECIPIENTS as u64, "{progress}");
    let calls = set.fake.calls("sendMessage");
    let mut delivered: BTreeMap<i64, usize> = BTreeMap::new();
    for call in calls.iter().filter(|c| c.reply.0 == 200) {
        *delivered
            .entry(call.json["chat_id"].as_i64().unwrap())
            .or_default() += 1;
    }
    let duplicates = delivered.values().filter(|&&n| n > 1).count();
    assert_eq!(duplicates, 0, "messaged twice: {delivered:?}");
    // Only what the killed replica had in flight is written off (as `outcome_unknown`, never re-sent):
    // each of them reached Telegram or was never attempted.
    let sent = counts["sent"].as_u64().unwrap_or(0);
    let unknown = counts["failed"].as_u64().unwrap_or(0);
    assert_eq!(sent + unknown, RECIPIENTS as u64, "{progress}");
    let reached_when_written_off = delivered.len() as u64 - sent;
    assert!(reached_when_written_off <= unknown, "{progress}");
    assert!(
        unknown <= 20,
        "more than one tick's sends in flight written off: {progress}"
    );

    // The 429 paused the bot for every replica: nothing reached Telegram in the pause, apart from
    // requests already on their way when it was answered.
    let limited = calls
        .iter()
        .find(|c| c.reply.0 == 429)
        .expect("the scripted 429 was answered");
    let pause = Duration::from_secs(RETRY_AFTER_SECS);
    let grace = Duration::from_millis(250);
    let during_pause = calls
        .iter()
        .filter(|c| c.at > limited.at + grace && c.at < limited.at + pause - grace)
        .count();
    assert_eq!(during_pause, 0, "sent while the bot was paused");

    // The pace the replicas kept together while all three were sending: sends answered before the
    // kill and the rate limit, after the first second (while the loops start up).
    let mut steady: Vec<Instant> = calls
        .iter()
        .filter(|c| c.at < killed_at.min(limited.at))
        .map(|c| c.at)
        .collect();
    steady.sort();
    let window: Vec<Instant> = steady
        .iter()
        .copied()
        .filter(|&at| at > steady[0] + Duration::from_secs(1))
        .collect();
    assert!(
        window.len() > 50,
        "too few sends to measure the pace: {}",
        window.len()
    );
    // Requests go out in waves (the send slots of a second at once), so the pace is that of whole
    // waves: the sends from the first wave that starts in the window to the last, over that time.
    let wave_starts: Vec<usize> = (1..window.len())
        .filter(|&i| window[i].duration_since(window[i - 1]) > Duration::from_millis(300))
        .collect();
    assert!(
        wave_starts.len() >= 2,
        "too few waves to measure the pace: {wave_starts:?}"
    );
    let (first, last) = (wave_starts[0], wave_starts[wave_starts.len() - 1]);
    let span = window[last].duration_since(window[first]).as_secs_f64();
    let pace = (last - first) as f64 / span;
    let ratio = pace / RATE;

    // The replicas' share of the sends and the webhooks they took.
    let per_replica: Vec<u64> = sent_by.iter().map(|s| s.load(Ordering::SeqCst)).collect();
    println!(
        "scale-out: {REPLICAS} replicas, {RECIPIENTS} recipients at {RATE}/s; sent per replica \
         {per_replica:?} (replica 2 killed after {answered_before_kill} sends); pace {pace:.1}/s = \
         {ratio:.3} x the configured rate over {} sends; duplicates {duplicates}; written off as in \
         flight {unknown} ({reached_when_written_off} of them had reached Telegram); done in {:.1} s",
        window.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        (0.95..=1.05).contains(&ratio),
        "the replicas together sent at {pace:.1}/s, configured {RATE}/s"
    );
    assert!(
        per_replica[0] > 0 && per_replica[1] > 0,
        "the surviving replicas both sent: {per_replica:?}"
    );
    let total: u64 = per_replica.iter().sum();
    assert!(total <= delivered.len() as u64, "{per_replica:?}");

    // The people who subscribed through any replica are known to all.
    for n in 0..NEW_SUBSCRIBERS {
        let reader: TestApp = set.app(usize::try_from(n + 1).unwrap() % 2);
        reader
            .subscribed_by(&format!("telegram:shop:{}", 7000 + n), "telegram:/start")
            .await;
    }
}
