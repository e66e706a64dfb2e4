//! Scenario tests of the feedback intake, statistics and export over the in-memory store.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::event::{
    counter, rating_button_data, EventBatch, InboundEvent, PlatformError, ReceiptStatus,
    SentMessageRef,
};
use crate::keys;
use crate::kv::{self, KvStore, MemoryStore};
use crate::messenger::{HttpClient, TransportError};
use crate::platform::telegram::Bots;
use crate::subscriber::{Platform, SubscriberId};

fn t0() -> DateTime<Utc> {
    "2026-03-01T10:00:00Z".parse().unwrap()
}

fn telegram_user() -> SubscriberId {
    SubscriberId::parse("telegram:shop:42").unwrap()
}

fn whatsapp_user() -> SubscriberId {
    SubscriberId::parse("whatsapp:123456:4915112345678").unwrap()
}

fn counter_of(store: &MemoryStore, campaign: &str, name: &str) -> i64 {
    store
        .increment(&keys::campaign_counter(campaign, name), 0)
        .unwrap()
}

/// What the dispatcher leaves behind when it sends `message_id` to `subscriber`.
fn record_send(
    store: &MemoryStore,
    campaign: &str,
    subscriber: &SubscriberId,
    platform: Platform,
    message_id: &str,
    sent_at: DateTime<Utc>,
) -> SentMessageRef {
    let sent = SentMessageRef {
        campaign_id: campaign.into(),
        subscriber: subscriber.clone(),
        message_id: message_id.into(),
        batch: 0,
        sent_at,
    };
    kv::set_json(
        store,
        &keys::platform_message(platform.as_str(), message_id),
        &sent,
    )
    .unwrap();
    kv::set_json(store, &keys::last_campaign_message(subscriber), &sent).unwrap();
    sent
}

fn reply(
    subscriber: &SubscriberId,
    message_id: &str,
    text: &str,
    at: DateTime<Utc>,
) -> InboundEvent {
    InboundEvent::Reply {
        subscriber: subscriber.clone(),
        message_id: message_id.into(),
        text: text.into(),
        at,
    }
}

fn press(subscriber: &SubscriberId, press_id: &str, data: &str) -> InboundEvent {
    InboundEvent::ButtonPress {
        subscriber: subscriber.clone(),
        press_id: press_id.into(),
        data: data.into(),
        at: t0(),
    }
}

fn receipt(message_id: &str, status: ReceiptStatus) -> InboundEvent {
    InboundEvent::Receipt {
        platform: Platform::Whatsapp,
        message_id: message_id.into(),
        status,
        at: t0(),
        error: None,
    }
}

fn apply(store: &MemoryStore, events: Vec<InboundEvent>) -> IntakeReport {
    apply_events(store, &FeedbackSettings::default(), &events).unwrap()
}

fn export_jsonl(store: &MemoryStore, campaign: Option<&str>) -> Vec<serde_json::Value> {
    let page = export_feedback(store, campaign, ExportFormat::JsonLines, 0).unwrap();
    String::from_utf8(page.body)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn reply_inside_the_window_is_credited_to_the_last_campaign_message() {
    let store = MemoryStore::new();
    record_send(
        &store,
        "spring",
        &telegram_user(),
        Platform::Telegram,
        "100",
        t0(),
    );
    let report = apply(
        &store,
        vec![reply(
            &telegram_user(),
            "101",
            "Love it",
            t0() + Duration::hours(71),
        )],
    );
    assert_eq!(
        report.results,
        vec![EventOutcome::Reply {
            campaign_id: Some("spring".into()),
            first_reply: true
        }]
    );
    assert_eq!(counter_of(&store, "spring", counter::REPLIED), 1);
    assert_eq!(counter_of(&store, "spring", REPLIES), 1);
    let rows = export_jsonl(&store, Some("spring"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["type"], "reply");
    assert_eq!(rows[0]["text"], "Love it");
    assert_eq!(rows[0]["subscriber_id"], "telegram:shop:42");
}

#[test]
fn reply_outside_the_window_is_kept_unattributed() {
    let store = MemoryStore::new();
    record_send(
        &store,
        "spring",
        &telegram_user(),
        Platform::Telegram,
        "100",
        t0(),
    );
    let late = reply(&telegram_user(), "101", "late", t0() + Duration::hours(73));
    let before = reply(
        &telegram_user(),
        "99",
        "before the campaign",
        t0() - Duration::minutes(5),
    );
    let report = apply(&store, vec![late, before]);
    assert!(
        report.results.iter().all(|r| *r
            == EventOutcome::Reply {
                campaign_id: None,
                first_reply: false
            }),
        "{:?}",
        report.results
    );
    assert_eq!(counter_of(&store, "spring", counter::REPLIED), 0);
    let rows = export_jsonl(&store, None);
    assert_eq!(rows.len(), 2);
    assert!(rows[0]["campaign_id"].is_null());
    assert!(export_jsonl(&store, Some("spring")).is_empty());
}

#[test]
fn reply_window_follows_the_setting() {
    let store = MemoryStore::new();
    record_send(
        &store,
        "spring",
        &telegram_user(),
        Platform::Telegram,
        "100",
        t0(),
    );
    let settings = FeedbackSettings::with_reply_window_hours(1).unwrap();
    let report = apply_events(
        &store,
        &settings,
        &[reply(
            &telegram_user(),
            "101",
            "hi",
            t0() + Duration::hours(2),
        )],
    )
    .unwrap();
    assert_eq!(
        report.results[0],
        EventOutcome::Reply {
            campaign_id: None,
            first_reply: false
        }
    );
    assert_eq!(
        FeedbackSettings::with_reply_window_hours(0)
            .unwrap_err()
            .code(),
        "invalid_configuration"
    );
}

#[test]
fn redelivered_reply_is_not_counted_twice_and_replied_counts_people() {
    let store = MemoryStore::new();
    record_send(
        &store,
        "spring",
        &telegram_user(),
        Platform::Telegram,
        "100",
        t0(),
    );
    let first = reply(&telegram_user(), "101", "one", t0() + Duration::minutes(1));
    apply(&store, vec![first.clone()]);
    let report = apply(&store, vec![first.clone(), first]);
    assert_eq!(report.duplicates, 2);
    assert_eq!(report.applied, 0);
    let second = reply(&telegram_user(), "102", "two", t0() + Duration::minutes(2));
    assert_eq!(
        apply(&store, vec![second]).results[0],
        EventOutcome::Reply {
            campaign_id: Some("spring".into()),
            first_reply: false
        }
    );
    assert_eq!(counter_of(&store, "spring", counter::REPLIED), 1);
    assert_eq!(counter_of(&store, "spring", REPLIES), 2);
    assert_eq!(export_jsonl(&store, Some("spring")).len(), 2);
}

#[test]
fn rating_is_recorded_once_per_subscriber_and_campaign() {
    let store = MemoryStore::new();
    let report = apply(
        &store,
        vec![press(
            &telegram_user(),
            "cb1",
            &rating_button_data("spring", 4),
        )],
    );
    assert_eq!(
        report.results[0],
        EventOutcome::Rating {
            campaign_id: "spring".into(),
            score: 4
        }
    );
    // The same press redelivered, then a second press with another score.
    let report = apply(
        &store,
        vec![
            press(&telegram_user(), "cb1", &rating_button_data("spring", 4)),
            press(&telegram_user(), "cb2", &rating_button_data("spring", 1)),
        ],
    );
    assert_eq!(
        report.results,
        vec![
            EventOutcome::Duplicate,
            EventOutcome::AlreadyRated {
                campaign_id: "spring".into()
            }
        ]
    );
    assert_eq!(counter_of(&store, "spring", counter::RATINGS), 1);
    assert_eq!(counter_of(&store, "spring", counter::RATING_SUM), 4);
    let answers: Vec<_> = report
        .press_answers
        .iter()
        .map(|a| (a.callback_query_id.as_str(), a.text))
        .collect();
    assert_eq!(
        answers,
        [("cb1", THANKS_FOR_RATING_TEXT), ("cb2", ALREADY_RATED_TEXT)]
    );
    // Another subscriber's rating counts.
    let other = SubscriberId::parse("telegram:shop:43").unwrap();
    apply(
        &store,
        vec![press(&other, "cb3", &rating_button_data("spring", 5))],
    );
    let stats = campaign_stats(&store, "spring").unwrap();
    assert_eq!(stats.ratings, 2);
    assert_eq!(stats.rating_average, Some(4.5));
    let rows = export_jsonl(&store, Some("spring"));
    assert_eq!(
        rows.iter()
            .map(|r| r["score"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [4, 5]
    );
}

#[test]
fn invalid_rating_data_is_kept_as_a_button_press() {
    let store = MemoryStore::new();
    record_send(
        &store,
        "spring",
        &whatsapp_user(),
        Platform::Whatsapp,
        "wamid.1",
        t0() - Duration::minutes(1),
    );
    let report = apply(
        &store,
        vec![
            press(&whatsapp_user(), "wamid.p1", "rate:spring:9"),
            press(&whatsapp_user(), "wamid.p2", "more_info"),
        ],
    );
    assert_eq!(
        report.results,
        vec![
            EventOutcome::ButtonPress {
                campaign_id: Some("spring".into())
            };
            2
        ]
    );
    assert_eq!(counter_of(&store, "spring", counter::RATINGS), 0);
    // WhatsApp presses need no callback answer.
    assert!(report.press_answers.is_empty());
    let rows = export_jsonl(&store, Some("spring"));
    assert_eq!(
        rows.iter()
            .map(|r| r["text"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["rate:spring:9", "more_info"]
    );
    assert_eq!(
        apply(
            &store,
            vec![press(&whatsapp_user(), "wamid.p2", "more_info")]
        )
        .results[0],
        EventOutcome::Duplicate
    );
}

#[test]
fn invalid_events_are_rejected_one_by_one() {
    let store = MemoryStore::new();
    let bad_subscriber: SubscriberId = serde_json::from_str("\"nonsense\"").unwrap();
    let report = apply(
        &store,
        vec![
            reply(&bad_subscriber, "1", "x", t0()),
            reply(&telegram_user(), "", "x", t0()),
            reply(&telegram_user(), "7", "fine", t0()),
        ],
    );
    assert_eq!(report.rejected, 2);
    assert_eq!(report.applied, 1);
    assert!(
        matches!(&report.results[0], EventOutcome::Rejected { reason } if reason.contains("subscriber id"))
    );
    let too_many = vec![receipt("w", ReceiptStatus::Sent); MAX_EVENTS_PER_BATCH + 1];
    assert_eq!(
        apply_events(&store, &FeedbackSettings::default(), &too_many)
            .unwrap_err()
            .status(),
        413
    );
}

#[test]
fn receipts_out_of_order_and_repeated_count_each_message_once() {
    let store = MemoryStore::new();
    record_send(
        &store,
        "spring",
        &whatsapp_user(),
        Platform::Whatsapp,
        "wamid.1",
        t0(),
    );
    let report = apply(
        &store,
        vec![
            receipt("wamid.1", ReceiptStatus::Read),
            receipt("wamid.1", ReceiptStatus::Delivered),
            receipt("wamid.1", ReceiptStatus::Sent),
        ],
    );
    assert_eq!(report.applied, 3);
    apply(
        &store,
        vec![
            receipt("wamid.1", ReceiptStatus::Read),
            receipt("wamid.1", ReceiptStatus::Delivered),
        ],
    );
    assert_eq!(counter_of(&store, "spring", counter::DELIVERED), 1);
    assert_eq!(counter_of(&store, "spring", counter::READ), 1);
    let rows = export_jsonl(&store, Some("spring"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "read");
    assert_eq!(rows[0]["subscriber_id"], whatsapp_user().as_str());
}

#[test]
fn read_without_delivered_counts_as_delivered_and_failed_stands_until_read() {
    let store = MemoryStore::new();
    record_send(
        &store,
        "spring",
        &whatsapp_user(),
        Platform::Whatsapp,
        "wamid.1",
        t0(),
    );
    let other = SubscriberId::parse("whatsapp:123456:4915112345679").unwrap();
    record_send(
        &store,
        "spring",
        &other,
        Platform::Whatsapp,
        "wamid.2",
        t0(),
    );
    let failed = InboundEvent::Receipt {
        platform: Platform::Whatsapp,
        message_id: "wamid.2".into(),
        status: ReceiptStatus::Failed,
        at: t0(),
        error: Some(PlatformError {
            code: "131026".into(),
            title: "Message undeliverable".into(),
        }),
    };
    let report = apply(
        &store,
        vec![
            receipt("wamid.1", ReceiptStatus::Read),
            failed,
            receipt("wamid.2", ReceiptStatus::Delivered),
        ],
    );
    assert!(
        matches!(
            &report.results[2],
            EventOutcome::Receipt {
                status: ReceiptStatus::Failed,
                ..
            }
        ),
        "{:?}",
        report.results
    );
    let stats = campaign_stats(&store, "spring").unwrap();
    assert_eq!((stats.delivered, stats.read), (2, 1));
    assert_eq!(stats.open_rate, Some(0.5));
    let rows = export_jsonl(&store, Some("spring"));
    assert_eq!(rows[1]["status"], "failed");
    assert_eq!(rows[1]["text"], "131026: Message undeliverable");
}

#[test]
fn early_receipts_are_credited_once_when_the_dispatcher_records_the_message() {
    let store = MemoryStore::new();
    // Receipts overtake the dispatcher's write of the reference.
    let report = apply(
        &store,
        vec![
            receipt("wamid.1", ReceiptStatus::Delivered),
            receipt("wamid.1", ReceiptStatus::Read),
        ],
    );
    assert_eq!(
        report.results[1],
        EventOutcome::Receipt {
            message_id: "wamid.1".into(),
            status: ReceiptStatus::Read,
            campaign_id: None
        }
    );
    assert_eq!(counter_of(&store, "spring", counter::DELIVERED), 0);
    let sent = record_send(
        &store,
        "spring",
        &whatsapp_user(),
        Platform::Whatsapp,
        "wamid.1",
        t0(),
    );
    let never_reported = SentMessageRef {
        message_id: "wamid.9".into(),
        ..sent.clone()
    };
    credit_early_receipts(&store, &[sent.clone(), never_reported.clone()]).unwrap();
    credit_early_receipts(&store, &[sent.clone(), never_reported]).unwrap();
    // A redelivered status after crediting changes nothing either.
    apply(&store, vec![receipt("wamid.1", ReceiptStatus::Read)]);
    assert_eq!(counter_of(&store, "spring", counter::DELIVERED), 1);
    assert_eq!(counter_of(&store, "spring", counter::READ), 1);
    assert_eq!(export_jsonl(&store, Some("spring")).len(), 1);
    assert!(!store.exists(&keys::receipt("whatsapp", "wamid.9")).unwrap());
}

#[test]
fn receipt_written_between_the_reference_and_crediting_is_still_credited() {
    let store = MemoryStore::new();
    // The dispatcher wrote the reference after this batch prefetched references (simulated by writing
    // it before the receipt is merged, but after the prefetch would have missed it: the receipt path
    // looks again after writing its record).
    let sent = SentMessageRef {
        campaign_id: "spring".into(),
        subscriber: whatsapp_user(),
        message_id: "wamid.1".into(),
        batch: 0,
        sent_at: t0(),
    };
    let mut effects = super::effects::Effects::default();
    kv::set_json(
        &store,
        &keys::platform_message("whatsapp", "wamid.1"),
        &sent,
    )
    .unwrap();
    let report = super::receipt::StatusReport {
        platform: Platform::Whatsapp,
        message_id: "wamid.1",
        status: ReceiptStatus::Delivered,
        at: t0(),
        error: None,
    };
    let outcome = super::receipt::apply_status(&store, &report, None, &mut effects).unwrap();
    effects.flush(&store).unwrap();
    assert!(
        matches!(
            outcome,
            EventOutcome::Receipt {
                campaign_id: Some(_),
                ..
            }
        ),
        "{outcome:?}"
    );
    credit_early_receipts(&store, &[sent]).unwrap();
    assert_eq!(counter_of(&store, "spring", counter::DELIVERED), 1);
}

#[test]
fn counts_stay_exact_under_concurrent_redeliveries() {
    let store = Arc::new(MemoryStore::new());
    let subscribers: Vec<SubscriberId> = (0..20)
        .map(|i| SubscriberId::parse(&format!("whatsapp:123456:49151000000{i:02}")).unwrap())
        .collect();
    let mut sent_refs = Vec::new();
    for (i, subscriber) in subscribers.iter().enumerate() {
        sent_refs.push(record_send(
            &store,
            "spring",
            subscriber,
            Platform::Whatsapp,
            &format!("wamid.{i}"),
            t0(),
        ));
    }
    // Half of the messages' receipts arrive before their references exist.
    for sent in &sent_refs[10..] {
        store
            .delete(&keys::platform_message("whatsapp", &sent.message_id))
            .unwrap();
    }
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let store = Arc::clone(&store);
            let subscribers = subscribers.clone();
            let late_refs = sent_refs[10..].to_vec();
            std::thread::spawn(move || {
                let mut events = Vec::new();
                for (i, subscriber) in subscribers.iter().enumerate() {
                    let id = format!("wamid.{i}");
                    // Every thread delivers every event, in a different order.
                    let mut statuses = vec![
                        ReceiptStatus::Sent,
                        ReceiptStatus::Delivered,
                        ReceiptStatus::Read,
                    ];
                    statuses.rotate_left(thread % 3);
                    events.extend(statuses.into_iter().map(|s| receipt(&id, s)));
                    events.push(reply(
                        subscriber,
                        &format!("r{i}"),
                        "hello",
                        t0() + Duration::minutes(1),
                    ));
                    events.push(press(
                        subscriber,
                        &format!("p{i}-{thread}"),
                        &rating_button_data("spring", 3),
                    ));
                }
                for chunk in events.chunks(7) {
                    apply_events(store.as_ref(), &FeedbackSettings::default(), chunk).unwrap();
                }
                if thread % 2 == 0 {
                    for sent in &late_refs {
                        kv::set_json(
                            store.as_ref(),
                            &keys::platform_message("whatsapp", &sent.message_id),
                            sent,
                        )
                        .unwrap();
                    }
                }
                credit_early_receipts(store.as_ref(), &late_refs).unwrap();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let stats = campaign_stats(store.as_ref(), "spring").unwrap();
    assert_eq!((stats.delivered, stats.read), (20, 20));
    assert_eq!((stats.replied, stats.replies), (20, 20));
    assert_eq!((stats.ratings, stats.rating_average), (20, Some(3.0)));
    assert_eq!(export_jsonl(&store, Some("spring")).len(), 60);
}

#[test]
fn stats_report_open_rate_and_null_when_nothing_came_back() {
    let store = MemoryStore::new();
    let empty = campaign_stats(&store, "spring").unwrap();
    assert_eq!(empty.open_rate, None);
    assert_eq!(empty.rating_average, None);
    for (name, value) in [
        (counter::TARGETED, 10),
        (counter::SENT, 8),
        (counter::FAILED, 1),
        (counter::BLOCKED, 1),
        (counter::DELIVERED, 3),
        (counter::READ, 2),
    ] {
        store
            .increment(&keys::campaign_counter("spring", name), value)
            .unwrap();
    }
    let stats = campaign_stats(&store, "spring").unwrap();
    assert_eq!(
        (
            stats.targeted,
            stats.sent,
            stats.failed,
            stats.blocked,
            stats.skipped
        ),
        (10, 8, 1, 1, 0)
    );
    assert_eq!(stats.open_rate, Some(0.6667));
    let json = serde_json::to_value(&empty).unwrap();
    assert!(json["open_rate"].is_null() && json["rating_average"].is_null());
    assert_eq!(
        campaign_stats(&store, "bad:id").unwrap_err().code(),
        "invalid_campaign_id"
    );
    assert_eq!(
        require_campaign(&store, "spring").unwrap_err().status(),
        404
    );
    store.set(&keys::campaign("spring"), b"{}").unwrap();
    assert!(require_campaign(&store, "spring").is_ok());
}

#[test]
fn csv_export_quotes_text_and_neutralises_formulas() {
    let store = MemoryStore::new();
    record_send(
        &store,
        "spring",
        &telegram_user(),
        Platform::Telegram,
        "100",
        t0(),
    );
    apply(
        &store,
        vec![
            reply(&telegram_user(), "101", "=cmd|' /C calc'!A0", t0()),
            reply(&telegram_user(), "102", "Hi, \"team\"\nbye", t0()),
        ],
    );
    let page = export_feedback(&store, Some("spring"), ExportFormat::Csv, 0).unwrap();
    let csv = String::from_utf8(page.body).unwrap();
    let expected = format!(
        "{CSV_HEADER}\r\nreply,spring,telegram:shop:42,2026-03-01T10:00:00Z,101,'=cmd|' /C calc'!A0,,\r\nreply,spring,telegram:shop:42,2026-03-01T10:00:00Z,102,\"Hi, \"\"team\"\"\nbye\",,\r\n"
    );
    assert_eq!(csv, expected);
    assert_eq!(page.rows, 2);
    assert_eq!(page.next_from, None);
}

#[test]
fn export_pages_through_a_long_log() {
    let store = MemoryStore::new();
    let events: Vec<InboundEvent> = (0..(MAX_EXPORT_ROWS + 10))
        .map(|i| press(&telegram_user(), &format!("p{i}"), "x"))
        .collect();
    for chunk in events.chunks(MAX_EVENTS_PER_BATCH) {
        apply(&store, chunk.to_vec());
    }
    let first = export_feedback(&store, None, ExportFormat::JsonLines, 0).unwrap();
    assert_eq!(first.rows, MAX_EXPORT_ROWS);
    let next = first.next_from.unwrap();
    let second = export_feedback(&store, None, ExportFormat::Csv, next).unwrap();
    assert_eq!(second.rows, 10);
    assert_eq!(second.next_from, None);
    // Later pages carry no header, so pages concatenate into one file.
    assert!(!String::from_utf8(second.body).unwrap().starts_with("type,"));
}

#[test]
fn event_batches_from_the_subscriptions_component_decode() {
    let body = format!(
        r#"{{"events":[{{"type":"button_press","subscriber":"telegram:shop:42","press_id":"4382","data":"{}","at":"2026-03-01T10:00:00Z"}},{{"type":"receipt","platform":"whatsapp","message_id":"wamid.1","status":"read","at":"2026-03-01T10:00:00Z"}}]}}"#,
        rating_button_data("spring", 5)
    );
    let batch: EventBatch = serde_json::from_str(&body).unwrap();
    let store = MemoryStore::new();
    let report = apply(&store, batch.events);
    assert_eq!(report.applied, 2);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["results"][0]["outcome"], "rating");
    assert!(json.get("press_answers").is_none());
}

/// A fake Bot API: answers every call with `ok` or a refusal, and records the URLs called.
struct FakeBotApi {
    ok: bool,
    urls: Mutex<Vec<String>>,
}

impl HttpClient for FakeBotApi {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        self.urls.lock().unwrap().push(request.uri().to_string());
        let (status, body) = if self.ok {
            (200, r#"{"ok":true,"result":true}"#)
        } else {
            (
                400,
                r#"{"ok":false,"error_code":400,"description":"Bad Request: query is too old"}"#,
            )
        };
        Ok(http::Response::builder()
            .status(status)
            .body(body.as_bytes().to_vec())
            .unwrap())
    }
}

#[test]
fn presses_are_answered_by_the_subscribers_bot_and_a_failed_answer_keeps_the_rating() {
    let store = MemoryStore::new();
    let bots = Bots::parse(r#"{"shop": {"token": "123:abc", "webhook_secret": "s"}}"#).unwrap();
    let report = apply(
        &store,
        vec![press(
            &telegram_user(),
            "cb1",
            &rating_button_data("spring", 5),
        )],
    );
    let api = FakeBotApi {
        ok: false,
        urls: Mutex::new(Vec::new()),
    };
    let summary = answer_presses(&api, "http://127.0.0.1:9", &bots, &report.press_answers);
    assert_eq!((summary.answered, summary.failed), (0, 1));
    assert!(summary.failures[0].contains("query is too old"));
    assert_eq!(counter_of(&store, "spring", counter::RATINGS), 1);
    assert_eq!(
        api.urls.lock().unwrap()[0],
        "http://127.0.0.1:9/bot123:abc/answerCallbackQuery"
    );

    let api = FakeBotApi {
        ok: true,
        urls: Mutex::new(Vec::new()),
    };
    let unknown_bot = SubscriberId::parse("telegram:other:42").unwrap();
    let report = apply(
        &store,
        vec![
            press(&telegram_user(), "cb1", &rating_button_data("spring", 5)),
            press(&unknown_bot, "cb9", "x"),
        ],
    );
    let summary = answer_presses(&api, "http://127.0.0.1:9", &bots, &report.press_answers);
    assert_eq!((summary.answered, summary.failed), (1, 1));
    assert!(summary.failures[0].contains("other"));
}

#[test]
fn erasing_a_subscriber_removes_their_replies_presses_and_ratings_but_keeps_totals() {
    let store = MemoryStore::new();
    let other = SubscriberId::parse("telegram:shop:43").unwrap();
    record_send(
        &store,
        "spring",
        &telegram_user(),
        Platform::Telegram,
        "100",
        t0(),
    );
    record_send(&store, "spring", &other, Platform::Telegram, "200", t0());
    apply(
        &store,
        vec![
            reply(
                &telegram_user(),
                "101",
                "Call me on +49 151 000",
                t0() + Duration::minutes(5),
            ),
            press(&telegram_user(), "p1", "rate:spring:4"),
            press(&telegram_user(), "p2", "menu"),
            reply(&other, "201", "Nice", t0() + Duration::minutes(5)),
        ],
    );
    assert_eq!(export_jsonl(&store, Some("spring")).len(), 4);
    let erased = erase_subscriber_feedback(&store, &telegram_user()).unwrap();
    assert_eq!(erased, 3);
    let rows = export_jsonl(&store, Some("spring"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["subscriber_id"], "telegram:shop:43");
    let leftovers: Vec<String> = store
        .get_keys()
        .unwrap()
        .into_iter()
        .filter(|k| k.contains("telegram:shop:42") && !k.starts_with("last:"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(counter_of(&store, "spring", counter::REPLIED), 2);
    assert_eq!(counter_of(&store, "spring", counter::RATINGS), 1);
}
