//! A notification of many statuses is applied in a constant number of store round trips, with exact
//! counts and answers, also when notifications about the same messages race or a request dies between
//! its writes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::Duration;

use super::world::{receipt, t0};
use crate::delivery::tests::crash_store::{CrashStore, Write};
use crate::event::{InboundEvent, PlatformError, ReceiptStatus, SentMessageRef};
use crate::feedback::lease::LeaseRecord;
use crate::feedback::{apply_events, campaign_stats, FeedbackSettings, IntakeReport};
use crate::keys;
use crate::kv::{self, Entries, KvStore, MemoryStore};
use crate::subscriber::{Platform, SubscriberId};

/// The calls `during` makes, by operation (those it did not make left out).
fn calls_of(store: &CrashStore, during: impl FnOnce()) -> BTreeMap<&'static str, usize> {
    let before = store.round_trips();
    during();
    store
        .round_trips()
        .into_iter()
        .map(|(operation, after)| (operation, after - before.get(operation).unwrap_or(&0)))
        .filter(|&(_, made)| made > 0)
        .collect()
}

/// Every key with its value.
fn snapshot(store: &CrashStore) -> Entries {
    let keys = store.get_keys().unwrap();
    store.get_many(&keys).unwrap()
}

fn subscriber(i: usize) -> SubscriberId {
    SubscriberId::parse(&format!("whatsapp:123456:4915100{i:06}")).unwrap()
}

fn message(i: usize) -> String {
    format!("wamid.{i}")
}

/// The references the dispatcher leaves for messages `0..count` of `campaign`.
fn sent(store: &impl KvStore, campaign: &str, count: usize) {
    for i in 0..count {
        let sent = SentMessageRef {
            campaign_id: campaign.into(),
            subscriber: subscriber(i),
            message_id: message(i),
            batch: 0,
            sent_at: t0(),
            arm: None,
        };
        kv::set_json(
            store,
            &keys::platform_message("whatsapp", &sent.message_id),
            &sent,
        )
        .unwrap();
    }
}

fn statuses(range: std::ops::Range<usize>, status: ReceiptStatus) -> Vec<InboundEvent> {
    range.map(|i| receipt(&message(i), status)).collect()
}

fn failed(i: usize) -> InboundEvent {
    InboundEvent::Receipt {
        platform: Platform::Whatsapp,
        message_id: message(i),
        status: ReceiptStatus::Failed,
        at: t0() + Duration::seconds(1),
        error: Some(PlatformError {
            code: "131026".into(),
            title: "Message undeliverable".into(),
        }),
    }
}

fn apply(store: &impl KvStore, events: &[InboundEvent]) -> crate::Result<IntakeReport> {
    apply_events(store, &FeedbackSettings::default(), events)
}

/// (delivered, read, failed) as the statistics show them.
fn counts(store: &impl KvStore, campaign: &str) -> (i64, i64, i64) {
    let stats = campaign_stats(store, campaign).unwrap();
    (stats.delivered, stats.read, stats.failed)
}

fn round_trips(calls: &BTreeMap<&'static str, usize>) -> usize {
    calls.values().sum()
}

#[test]
fn a_notification_costs_the_same_round_trips_for_one_status_or_a_hundred() {
    let store = CrashStore::default();
    sent(&store, "spring", 111);
    let notification = |range| {
        calls_of(&store, || {
            apply(&store, &statuses(range, ReceiptStatus::Delivered)).unwrap();
        })
    };
    let one = notification(0..1);
    let ten = notification(1..11);
    let hundred = notification(11..111);
    assert_eq!(one, ten, "{one:?} / {ten:?}");
    assert_eq!(one, hundred, "{one:?} / {hundred:?}");
    // The batch read, the lease, the batch read under it, the batch write, and the log append.
    assert_eq!(hundred["get_many"], 2, "{hundred:?}");
    assert_eq!(hundred["set_many"], 1, "{hundred:?}");
    assert_eq!(hundred["cas"], 2, "the lease and the log page: {hundred:?}");
    assert!(round_trips(&hundred) <= 8, "{hundred:?}");
    assert_eq!(counts(&store, "spring"), (111, 0, 0));
}

#[test]
fn counts_and_answers_are_exact_and_a_redelivery_writes_nothing() {
    let store = CrashStore::default();
    sent(&store, "spring", 100);
    let mut events = statuses(0..100, ReceiptStatus::Delivered);
    events.extend(statuses(0..40, ReceiptStatus::Read));
    events.extend((90..100).map(failed));
    // Repeated within the notification: the second of each is a duplicate.
    events.extend(statuses(0..5, ReceiptStatus::Read));
    let report = apply(&store, &events).unwrap();
    assert_eq!((report.applied, report.duplicates), (150, 5));
    assert!(matches!(
        report.results[149],
        crate::feedback::EventOutcome::Receipt {
            status: ReceiptStatus::Failed,
            ..
        }
    ));
    // A delivered counted before the failure stays counted; the failure stands on the record.
    assert_eq!(counts(&store, "spring"), (100, 40, 10));

    let before = snapshot(&store);
    let mut again = None;
    let calls = calls_of(&store, || again = Some(apply(&store, &events).unwrap()));
    let again = again.unwrap();
    assert_eq!((again.applied, again.duplicates), (0, 155));
    assert_eq!(snapshot(&store), before, "a redelivery changes nothing");
    assert_eq!(
        calls.keys().copied().collect::<Vec<_>>(),
        ["get_many"],
        "{calls:?}"
    );
    // A delivered counted before the failure stays counted; the failure stands on the record.
    assert_eq!(counts(&store, "spring"), (100, 40, 10));
}

#[test]
fn racing_notifications_about_the_same_messages_count_each_message_once() {
    let store = MemoryStore::new();
    sent(&store, "spring", 60);
    let applied = Mutex::new(0);
    kv::concurrently(&store, 6, |store, thread| {
        // Each thread reports every message, in its own order and its own batches: delivered and read,
        // or for every tenth message sent and failed.
        let mut events = Vec::new();
        for i in 0..60 {
            let mut own = if i % 10 == 0 {
                vec![receipt(&message(i), ReceiptStatus::Sent), failed(i)]
            } else {
                vec![
                    receipt(&message(i), ReceiptStatus::Delivered),
                    receipt(&message(i), ReceiptStatus::Read),
                ]
            };
            let turn = thread % own.len();
            own.rotate_left(turn);
            events.extend(own);
        }
        events.rotate_left(thread * 17);
        for batch in events.chunks(25 + thread) {
            let report = apply(store, batch).unwrap();
            *applied.lock().unwrap() += report.applied;
        }
    });
    // Each status of each message is news exactly once, whoever reported it first.
    assert_eq!(*applied.lock().unwrap(), 60 * 2);
    assert_eq!(counts(&store, "spring"), (54, 54, 6));
}

#[test]
fn a_request_dying_between_its_writes_is_completed_by_the_redelivery_without_counting_twice() {
    let store = CrashStore::default();
    sent(&store, "spring", 50);
    let mut events = statuses(0..50, ReceiptStatus::Delivered);
    events.extend(statuses(0..20, ReceiptStatus::Read));

    // Dies at the batch write: nothing of the batch is written, and its lease stays taken.
    // (A batch write reaches the trigger as an `Other` write without a key.)
    store.crash_at(|write, key, _| write == Write::Other && key.is_empty());
    assert!(apply(&store, &events).is_err());
    store.recover();
    assert_eq!(counts(&store, "spring"), (0, 0, 0));
    assert!(store
        .get(&keys::receipt("whatsapp", &message(0)))
        .unwrap()
        .is_none());
    // The lease of the request that died runs out.
    kv::set_json(
        &store,
        &keys::receipt_lease(),
        &LeaseRecord {
            held_until: Some(chrono::Utc::now() - Duration::seconds(1)),
            generation: 0,
        },
    )
    .unwrap();

    // Dies after the batch write, at the log append: the counts stand with the records.
    store.crash_at(|write, key, _| write == Write::Cas && key.starts_with("idx:feedback:"));
    assert!(apply(&store, &events).is_err());
    store.recover();
    assert_eq!(counts(&store, "spring"), (50, 20, 0));

    // The redelivery finds every status applied and counts nothing twice.
    let report = apply(&store, &events).unwrap();
    assert_eq!((report.applied, report.duplicates), (0, 70));
    assert_eq!(counts(&store, "spring"), (50, 20, 0));
    let more = apply(&store, &statuses(20..30, ReceiptStatus::Read)).unwrap();
    assert_eq!(more.applied, 10);
    assert_eq!(counts(&store, "spring"), (50, 30, 0));
}

#[test]
fn a_lease_left_by_a_request_that_died_is_waited_for_then_taken_over() {
    let store = MemoryStore::new();
    sent(&store, "spring", 1);
    let held = |until| {
        kv::set_json(
            &store,
            &keys::receipt_lease(),
            &LeaseRecord {
                held_until: Some(until),
                generation: 7,
            },
        )
        .unwrap();
    };
    // Running out while the request waits: taken over.
    held(chrono::Utc::now() + Duration::milliseconds(200));
    let report = apply(&store, &statuses(0..1, ReceiptStatus::Delivered)).unwrap();
    assert_eq!(report.applied, 1);
    let lease: LeaseRecord = kv::get_json(&store, &keys::receipt_lease())
        .unwrap()
        .unwrap();
    assert_eq!(lease.held_until, None, "given back with the batch write");
    assert_eq!(lease.generation, 8);
    assert_eq!(counts(&store, "spring"), (1, 0, 0));
}
