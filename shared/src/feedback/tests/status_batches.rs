//! A notification of many statuses is applied in a constant number of store round trips, with exact
//! counts and answers, also when notifications about the same messages race or a request dies between
//! its writes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::Duration;

use super::world::{receipt, t0};
use crate::event::{InboundEvent, PlatformError, ReceiptStatus, SentMessageRef};
use crate::feedback::lease::LeaseRecord;
use crate::feedback::{apply_events, campaign_stats, FeedbackSettings, IntakeReport};
use crate::keys;
use crate::kv::{self, CasOutcome, CasSlot, Entries, KvStore, MemoryStore, StoreError};
use crate::subscriber::{Platform, SubscriberId};

type Reply<T> = Result<T, StoreError>;

/// Picks the writes that fail: by operation and key.
type Fault = Box<dyn Fn(&'static str, &str) -> bool + Send>;

/// A store that counts its calls by operation and fails the writes a test picks.
#[derive(Default)]
struct WatchedStore {
    inner: MemoryStore,
    calls: Mutex<BTreeMap<&'static str, usize>>,
    fails: Mutex<Option<Fault>>,
}

impl WatchedStore {
    fn count(&self, operation: &'static str) {
        *self.calls.lock().unwrap().entry(operation).or_default() += 1;
    }

    fn write(&self, operation: &'static str, key: &str) -> Reply<()> {
        self.count(operation);
        match self.fails.lock().unwrap().as_ref() {
            Some(fails) if fails(operation, key) => Err(StoreError(format!("{operation} failed"))),
            _ => Ok(()),
        }
    }

    fn fail_when(&self, fails: impl Fn(&'static str, &str) -> bool + Send + 'static) {
        *self.fails.lock().unwrap() = Some(Box::new(fails));
    }

    fn heal(&self) {
        *self.fails.lock().unwrap() = None;
    }

    /// The calls since the last time this was asked.
    fn take_calls(&self) -> BTreeMap<&'static str, usize> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// Every key with its value.
    fn snapshot(&self) -> Entries {
        let keys = self.inner.get_keys().unwrap();
        self.inner.get_many(&keys).unwrap()
    }
}

impl KvStore for WatchedStore {
    fn get(&self, key: &str) -> Reply<Option<Vec<u8>>> {
        self.count("get");
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Reply<()> {
        self.write("set", key)?;
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Reply<()> {
        self.write("delete", key)?;
        self.inner.delete(key)
    }
    fn exists(&self, key: &str) -> Reply<bool> {
        self.count("exists");
        self.inner.exists(key)
    }
    fn get_keys(&self) -> Reply<Vec<String>> {
        self.count("get_keys");
        self.inner.get_keys()
    }
    fn get_many(&self, keys: &[String]) -> Reply<Entries> {
        self.count("get_many");
        self.inner.get_many(keys)
    }
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Reply<()> {
        self.write("set_many", "")?;
        self.inner.set_many(entries)
    }
    fn delete_many(&self, keys: &[String]) -> Reply<()> {
        self.write("delete_many", "")?;
        self.inner.delete_many(keys)
    }
    fn increment(&self, key: &str, delta: i64) -> Reply<i64> {
        if delta == 0 {
            self.count("increment");
        } else {
            self.write("increment", key)?;
        }
        self.inner.increment(key, delta)
    }
    fn cas_slot(&self, key: &str) -> Reply<Box<dyn CasSlot + '_>> {
        Ok(Box::new(WatchedSlot {
            store: self,
            key: key.to_owned(),
            inner: self.inner.cas_slot(key)?,
        }))
    }
}

struct WatchedSlot<'a> {
    store: &'a WatchedStore,
    key: String,
    inner: Box<dyn CasSlot + 'a>,
}

impl CasSlot for WatchedSlot<'_> {
    fn current(&self) -> Reply<Option<Vec<u8>>> {
        self.store.count("cas_read");
        self.inner.current()
    }
    fn swap(self: Box<Self>, new: &[u8]) -> Reply<CasOutcome> {
        self.store.write("cas_swap", &self.key)?;
        self.inner.swap(new)
    }
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
    let store = WatchedStore::default();
    sent(&store, "spring", 111);
    store.take_calls();
    apply(&store, &statuses(0..1, ReceiptStatus::Delivered)).unwrap();
    let one = store.take_calls();
    apply(&store, &statuses(1..11, ReceiptStatus::Delivered)).unwrap();
    let ten = store.take_calls();
    apply(&store, &statuses(11..111, ReceiptStatus::Delivered)).unwrap();
    let hundred = store.take_calls();
    assert_eq!(one, ten, "{one:?} / {ten:?}");
    assert_eq!(one, hundred, "{one:?} / {hundred:?}");
    // The batch read, the lease, the batch read under it, the batch write, and the log append.
    assert_eq!(hundred["get_many"], 2, "{hundred:?}");
    assert_eq!(hundred["set_many"], 1, "{hundred:?}");
    assert_eq!(
        hundred["cas_swap"], 2,
        "the lease and the log page: {hundred:?}"
    );
    assert!(round_trips(&hundred) <= 8, "{hundred:?}");
    assert_eq!(counts(&store, "spring"), (111, 0, 0));
}

#[test]
fn counts_and_answers_are_exact_and_a_redelivery_writes_nothing() {
    let store = WatchedStore::default();
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

    let before = store.snapshot();
    store.take_calls();
    let again = apply(&store, &events).unwrap();
    assert_eq!((again.applied, again.duplicates), (0, 155));
    assert_eq!(store.snapshot(), before, "a redelivery changes nothing");
    let calls = store.take_calls();
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
    let store = WatchedStore::default();
    sent(&store, "spring", 50);
    let mut events = statuses(0..50, ReceiptStatus::Delivered);
    events.extend(statuses(0..20, ReceiptStatus::Read));

    // Dies at the batch write: nothing of the batch is written, and its lease stays taken.
    store.fail_when(|operation, _| operation == "set_many");
    assert!(apply(&store, &events).is_err());
    store.heal();
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
    store.fail_when(|operation, key| operation == "cas_swap" && key.starts_with("idx:feedback:"));
    assert!(apply(&store, &events).is_err());
    store.heal();
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
