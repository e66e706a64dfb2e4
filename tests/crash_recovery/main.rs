//! Crash recovery as a crash happens: a 500-recipient Telegram campaign to a slow platform, its host
//! process killed (SIGKILL) four times mid-send and started again on the same store (the SQLite file
//! in its state dir, or Redis with `SPINPOST_E2E_STORE=redis`), the scheduler route called throughout
//! as the CronJob calls it.
//!
//! What was in flight at a kill, precisely: from the kill's request on, the fake platform holds back
//! every answer it has not let out (`FakePlatform::hold_answers_from`); [`SETTLE`] later the host is
//! killed, and only then are the held answers let out, onto connections the kill closed. So the
//! requests in flight at a kill are those the fake received and had not answered when it began to
//! hold, plus those received during the settle: none of their answers reached a live process (an
//! answer written after the kill onto the dead process's socket counts as not answered, as does one
//! the fake gives up on when it sees the connection closed). An answer let out before the hold counts
//! as answered: the host had the settle (three round trips) to read it and record its outcome. The assertion compares the `outcome_unknown` entries of the ledger with the sum
//! of the sends in flight at each kill, and each of them with the sends held at a kill.
//!
//! A test binary of its own, so it does not share the machine with the other end-to-end tests while
//! it times the recovery.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use spinpost_tests::app::default_variables;
use spinpost_tests::host_process::HostProcess;
use spinpost_tests::store_under_test::{StoreUnderTest, STORE_VARIABLE};
use spinpost_tests::{FakePlatform, Recorded, TestApp, TICK_TOKEN};
use tokio::sync::watch;

const RECIPIENTS: usize = 500;
const FIRST_CHAT: i64 = 8000;
const RATE: u32 = 25;
/// The platform's round trip: every answer comes this long after its request.
const LATENCY: Duration = Duration::from_millis(300);
/// The host is killed once this many sends were received (the last one with a batch left to resume
/// at the very end, so the lease's wait shows in the total).
const KILL_AT: [usize; 4] = [70, 190, 310, 430];
/// From the hold to the kill: the host reads the answers let out before the hold.
const SETTLE: Duration = Duration::from_secs(1);
/// The lease a killed tick's batch may be held by: short, so a crash costs seconds.
const SHORT_LEASE: Duration = Duration::from_secs(15);
/// The send slots a tick reserves at once (a chunk: four waves of a second's slots at this rate); the
/// lease runs from the last of them, since those slots are the killed tick's and no other's.
const RESERVED_SLOTS: Duration = Duration::from_secs(4);
/// A restart and the scheduler's next call, per kill.
const RESTART_SLACK: Duration = Duration::from_secs(5);
/// Room for a loaded machine.
const MARGIN: Duration = Duration::from_secs(20);
const CAMPAIGN: &str = "crash-recovery";

/// One kill of the host.
struct Kill {
    /// Sends received when the fake began to hold answers.
    after: usize,
    /// The sends (arrival, chat) the fake had received and not answered at the kill.
    in_flight: Vec<(Instant, i64)>,
    at: Instant,
    /// From the kill until the new process served.
    restart: Duration,
    /// How long after the kill the ledger's lease kept the killed tick's batch from any other tick.
    held_for: Duration,
}

fn import_line(chat: i64) -> String {
    json!({"channel": "telegram:shop", "address": chat.to_string(), "first_name": format!("Guest {chat}"),
        "consent": {"at": "2026-11-01T10:00:00Z", "source": "checkout", "evidence": format!("order-{chat}")}})
    .to_string()
}

/// A send as the fake received it: its arrival and its chat.
fn send_of(request: &Recorded) -> (Instant, i64) {
    let chat = request.json["chat_id"].as_i64().expect("a chat id");
    (request.at, chat)
}

/// The chat of a subscriber id `telegram:shop:<chat>`.
fn chat_of(subscriber: &str) -> i64 {
    subscriber
        .rsplit(':')
        .next()
        .and_then(|chat| chat.parse().ok())
        .unwrap_or_else(|| panic!("a Telegram subscriber id: {subscriber}"))
}

/// Call the tick route over and over on whichever process serves now, as the CronJob would: a call
/// cut off by a kill, or refused while the host is down, is simply followed by the next one. Any
/// other answer than 200 is a failure, kept in `failures`.
fn run_scheduler(
    base_url: watch::Receiver<String>,
    done: Arc<AtomicBool>,
    failures: Arc<Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<()> {
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        while !done.load(Ordering::SeqCst) {
            let url = format!("{}/dispatch/tick", *base_url.borrow());
            let answer = client
                .post(url)
                .bearer_auth(TICK_TOKEN)
                .timeout(Duration::from_secs(60))
                .send()
                .await;
            if let Ok(response) = answer {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                if status != reqwest::StatusCode::OK && !body.is_empty() {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("tick answered {status}: {body}"));
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Every batch of the campaign's delivery ledger.
async fn ledger(app: &TestApp) -> Vec<Value> {
    let mut batches = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app
            .admin_get(&format!(
                "/api/v1/campaigns/{CAMPAIGN}/deliveries?cursor={cursor}"
            ))
            .await;
        assert_eq!(status, 200, "{page}");
        batches.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return batches,
        }
    }
}

/// How long after `killed_at` the lease of the batch left with entries in flight lapses.
async fn lease_left_after(app: &TestApp, killed_at: DateTime<Utc>) -> Duration {
    let batches = ledger(app).await;
    let leases: Vec<DateTime<Utc>> = batches
        .iter()
        .filter(|batch| {
            batch["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|entry| entry["outcome"]["state"] == "in_flight")
        })
        .map(|batch| {
            let expires = batch["lease"]["expires_at"].as_str().unwrap_or_default();
            DateTime::parse_from_rfc3339(expires)
                .unwrap_or_else(|_| panic!("a batch in flight has a lease: {batch}"))
                .with_timezone(&Utc)
        })
        .collect();
    let latest = leases
        .into_iter()
        .max()
        .expect("the kill left entries in flight in the ledger");
    (latest - killed_at).to_std().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_send_four_times_everyone_ends_once_nobody_twice_and_a_kill_costs_a_lease() {
    let fake = FakePlatform::start().await;
    fake.set_latency(LATENCY);
    let mut variables = default_variables(&fake);
    variables.insert("telegram_rate_per_second".into(), RATE.to_string());
    variables.insert("tick_budget_ms".into(), "5000".into());
    let state_dir = tempfile::tempdir().expect("temp state dir");
    let store = StoreUnderTest::from_env(state_dir.path());
    let store_name = std::env::var(STORE_VARIABLE).unwrap_or_else(|_| "sqlite".into());
    let start_host = {
        let (dir, config) = (state_dir.path().to_path_buf(), store.runtime_config());
        move || HostProcess::start(&dir, config.as_deref(), &variables)
    };
    let app_of = |host: &HostProcess| TestApp::attached(host.base_url.clone(), fake.clone());
    let mut host = tokio::task::spawn_blocking(start_host.clone())
        .await
        .expect("the host starts");

    let admin = app_of(&host);
    let chats: Vec<i64> = (FIRST_CHAT..).take(RECIPIENTS).collect();
    let lines: Vec<String> = chats.iter().copied().map(import_line).collect();
    let report = admin.import_subscribers(&lines.join("\n")).await;
    assert_eq!(report["created"], RECIPIENTS, "{report}");
    admin
        .create_template(json!({"id": "crash", "name": "Crash", "locales": {"en": {
            "text": "Hi {{ subscriber.first_name }}, code {{ campaign.variables.code }}"}}}))
        .await;
    admin
        .create_campaign(
            json!({"id": CAMPAIGN, "name": "Crash recovery", "channel": "telegram:shop",
            "template_id": "crash", "variables": {"code": "CRASH"}}),
        )
        .await;

    let started = Instant::now();
    admin.schedule_now(CAMPAIGN).await;
    let (base_url, scheduler_url) = watch::channel(host.base_url.clone());
    let done = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let scheduler = run_scheduler(scheduler_url, Arc::clone(&done), Arc::clone(&failures));

    let mut kills = Vec::new();
    let mut counted = BTreeSet::new();
    for after in KILL_AT {
        fake.hold_answers_from("sendMessage", after);
        while !fake.holding_answers() {
            assert!(
                started.elapsed() < Duration::from_secs(150),
                "sending never reached send {after}: {} received",
                fake.calls("sendMessage").len()
            );
            let failed = failures.lock().unwrap().clone();
            assert!(failed.is_empty(), "{failed:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(SETTLE).await;
        // A send held at an earlier kill may stay unanswered for good (the fake gives up on it when
        // it sees its connection closed); each kill counts the new ones.
        let in_flight: Vec<(Instant, i64)> = fake
            .unanswered()
            .iter()
            .filter(|request| request.api_method() == "sendMessage")
            .map(send_of)
            .filter(|&send| counted.insert(send))
            .collect();
        let (at, killed_at) = (Instant::now(), Utc::now());
        host.kill();
        // Onto the connections the kill closed: the host never reads these answers.
        fake.release_answers();
        host = tokio::task::spawn_blocking(start_host.clone())
            .await
            .expect("the host starts again");
        let restart = at.elapsed();
        base_url.send_replace(host.base_url.clone());
        let held_for = lease_left_after(&app_of(&host), killed_at).await;
        assert!(
            held_for <= RESERVED_SLOTS + SHORT_LEASE + Duration::from_secs(2),
            "the batch killed after {after} sends is held {held_for:?} after the kill"
        );
        kills.push(Kill {
            after,
            in_flight,
            at,
            restart,
            held_for,
        });
    }

    // A kill costs at most the lease beyond the sends' own time: the killed tick's batch waits out
    // its lease, everything else goes on as soon as the host serves again. The sends' own time is
    // at the pace before the first kill (the platform's round trip may keep it below the rate).
    let before_first_kill: Vec<Instant> = fake
        .calls("sendMessage")
        .iter()
        .map(|call| call.at)
        .filter(|&at| at < kills[0].at)
        .collect();
    let span = before_first_kill[before_first_kill.len() - 1]
        .duration_since(before_first_kill[0])
        .as_secs_f64();
    let pace = (before_first_kill.len() - 1) as f64 / span;
    let sending = Duration::from_secs_f64(RECIPIENTS as f64 / pace.min(f64::from(RATE)));
    let per_kill = RESERVED_SLOTS + SHORT_LEASE + RESTART_SLACK;
    let bound = sending + per_kill * u32::try_from(kills.len()).unwrap() + MARGIN;

    let admin = app_of(&host);
    let progress = loop {
        let (_, progress) = admin
            .admin_get(&format!("/api/v1/campaigns/{CAMPAIGN}/progress"))
            .await;
        if progress["state"] == "completed" {
            break progress;
        }
        assert!(
            started.elapsed() <= bound,
            "not completed within {bound:?} ({sending:?} of sends, {} kills): {progress}",
            kills.len()
        );
        let failed = failures.lock().unwrap().clone();
        assert!(failed.is_empty(), "{failed:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let total = started.elapsed();
    done.store(true, Ordering::SeqCst);
    scheduler.await.expect("the scheduler loop ends");
    let failed = failures.lock().unwrap().clone();
    assert!(failed.is_empty(), "{failed:?}");
    // Every send was answered before a kill, but for those held at one: their answers were never
    // let out, or only after the kill, onto a closed connection.
    for request in fake.calls("sendMessage") {
        let send = send_of(&request);
        match kills.iter().find(|kill| kill.in_flight.contains(&send)) {
            Some(kill) => assert!(
                request.answered_at.is_none_or(|at| at > kill.at),
                "{send:?} was answered before the kill that counted it in flight"
            ),
            None => assert!(
                request.answered_at.is_some(),
                "{send:?} is unanswered, but was not in flight at a kill"
            ),
        }
    }

    // Every recipient has exactly one entry in the ledger, in a final state.
    let mut states: BTreeMap<i64, Value> = BTreeMap::new();
    for batch in ledger(&admin).await {
        for entry in batch["entries"].as_array().into_iter().flatten() {
            let chat = chat_of(entry["subscriber"].as_str().expect("a subscriber id"));
            let outcome = entry["outcome"].clone();
            let earlier = states.insert(chat, outcome.clone());
            assert!(
                earlier.is_none(),
                "chat {chat} has two entries: {earlier:?} and {outcome}"
            );
        }
    }
    assert_eq!(
        states.keys().copied().collect::<Vec<_>>(),
        chats,
        "one entry per recipient"
    );
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    for outcome in states.values() {
        let state = outcome["state"].as_str().unwrap_or_default().to_owned();
        assert!(
            ["sent", "failed", "skipped", "blocked"].contains(&state.as_str()),
            "not final: {outcome}"
        );
        *by_state.entry(state).or_default() += 1;
    }
    let counts = &progress["counts"];
    for (state, count) in &by_state {
        assert_eq!(
            counts[state], *count,
            "progress against the ledger: {progress}"
        );
    }

    // No chat was sent two messages: the fake received at most one request per chat, and a `sent`
    // entry holds the message id the fake answered that request with.
    let received = fake.calls_by_recipient("sendMessage");
    let twice: Vec<&String> = received
        .iter()
        .filter(|(_, calls)| calls.len() > 1)
        .map(|(chat, _)| chat)
        .collect();
    assert!(twice.is_empty(), "messaged twice: {twice:?}");
    for (chat, outcome) in &states {
        if outcome["state"] != "sent" {
            continue;
        }
        let call = &received
            .get(&chat.to_string())
            .unwrap_or_else(|| panic!("chat {chat} is sent but never received a message"))[0];
        assert_eq!(
            outcome["message_id"],
            call.reply.1["result"]["message_id"].to_string(),
            "chat {chat}"
        );
    }

    // Only what was in flight at a kill is written off as `outcome_unknown`; the fake answers every
    // send, so nothing else fails.
    let unknown: Vec<i64> = states
        .iter()
        .filter(|(_, outcome)| outcome["state"] == "failed")
        .map(|(chat, outcome)| {
            assert_eq!(outcome["code"], "outcome_unknown", "chat {chat}");
            *chat
        })
        .collect();
    let held: BTreeSet<i64> = counted.iter().map(|&(_, chat)| chat).collect();
    let in_flight_at_kills: usize = kills.iter().map(|k| k.in_flight.len()).sum();
    for chat in &unknown {
        assert!(
            held.contains(chat) || !received.contains_key(&chat.to_string()),
            "chat {chat} is outcome_unknown, but its send was answered before a kill"
        );
    }
    assert!(
        unknown.len() <= in_flight_at_kills,
        "{} outcome_unknown, {in_flight_at_kills} in flight at the kills",
        unknown.len()
    );
    assert_eq!(
        by_state.get("sent").copied().unwrap_or(0) + unknown.len(),
        RECIPIENTS,
        "{by_state:?}"
    );

    let lease = spinpost::delivery::SenderConfig::new("lease", Utc::now()).lease;
    println!(
        "crash recovery ({store_name}): {RECIPIENTS} recipients at {RATE}/s, answers after {} ms; \
         pace before the first kill {pace:.1}/s; killed after {:?} sends with {:?} in flight \
         (restarted in {:?} ms; killed batch held {:?} ms, lease {} s); outcome_unknown {} <= {} in \
         flight; sent {}; duplicates {}; done in {:.1} s (bound {:.1} s = {:.1} s of sends + {} x {} s \
         + {} s)",
        LATENCY.as_millis(),
        kills.iter().map(|k| k.after).collect::<Vec<_>>(),
        kills.iter().map(|k| k.in_flight.len()).collect::<Vec<_>>(),
        kills
            .iter()
            .map(|k| k.restart.as_millis())
            .collect::<Vec<_>>(),
        kills
            .iter()
            .map(|k| k.held_for.as_millis())
            .collect::<Vec<_>>(),
        lease.num_seconds(),
        unknown.len(),
        in_flight_at_kills,
        by_state.get("sent").copied().unwrap_or(0),
        twice.len(),
        total.as_secs_f64(),
        bound.as_secs_f64(),
        sending.as_secs_f64(),
        kills.len(),
        per_kill.as_secs(),
        MARGIN.as_secs(),
    );
    for kill in &kills {
        assert!(
            !kill.in_flight.is_empty(),
            "the kill after {} sends had nothing in flight",
            kill.after
        );
    }
}
