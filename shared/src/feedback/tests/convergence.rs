//! What a reply or a rating costs the store, and that a request dying between its writes is finished
//! by the platform's redelivery: counted once, logged once, never twice.

use chrono::Duration;

use super::world::{press, reply, sent_ref, t0, telegram_user, World};
use crate::delivery::tests::crash_store::{CrashStore, Write};
use crate::event::{counter, rating_button_data, InboundEvent};
use crate::feedback::log::FeedbackLog;
use crate::feedback::{
    apply_events, campaign_stats, export_feedback, EventOutcome, ExportFormat, FeedbackSettings,
    REPLIES,
};
use crate::index::{Index, PAGE_SIZE};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::SubscriberId;

/// A store with a campaign "spring" sent to the Telegram user, listed as creating it lists it.
fn sent_store() -> CrashStore {
    let store = CrashStore::default();
    let sent = sent_ref("spring", &telegram_user(), "m1", t0());
    kv::set_json(
        &store,
        &keys::last_campaign_message(&telegram_user()),
        &sent,
    )
    .unwrap();
    Index::CAMPAIGNS.append(&store, "spring").unwrap();
    store
}

/// The writes (swaps, increments, sets) and the reads `events` cost.
fn cost_of(store: &CrashStore, events: &[InboundEvent]) -> (usize, usize) {
    let before = store.round_trips();
    apply_events(store, &FeedbackSettings::default(), events).unwrap();
    let after = store.round_trips();
    let calls = |ops: &[&str]| -> usize {
        ops.iter()
            .map(|op| after.get(op).unwrap_or(&0) - before.get(op).unwrap_or(&0))
            .sum()
    };
    (
        calls(&["cas", "set", "set_many", "increment"]),
        calls(&["get", "get_many", "exists"]),
    )
}

/// The person's first reply to the campaign, a minute after it was sent.
fn first_reply() -> InboundEvent {
    reply(
        &telegram_user(),
        "101",
        "lovely",
        t0() + Duration::minutes(1),
    )
}

fn rows<S: KvStore + ?Sized>(store: &S) -> usize {
    let page = export_feedback(store, Some("spring"), ExportFormat::JsonLines, 0).unwrap();
    page.rows
}

#[test]
fn a_first_reply_and_a_rating_cost_two_writes_each() {
    let store = sent_store();
    let first = first_reply();
    // The claim (which is also the first-reply mark) and the log entry with its counts; reads: the
    // batch's references and the log's hint (the page is read by its compare-and-swap).
    assert_eq!(cost_of(&store, &[first]), (2, 2));
    // A rating's record and its log's hint are read with the references: one batch read.
    let rating = press(&telegram_user(), "p1", &rating_button_data("spring", 4));
    assert_eq!(cost_of(&store, &[rating]), (2, 1));
    let stats = campaign_stats(&store, "spring").unwrap();
    assert_eq!((stats.replied, stats.replies, stats.ratings), (1, 1, 1));
    assert_eq!(stats.rating_average, Some(4.0));
    assert_eq!(rows(&store), 2);
}

/// Apply `event`, dying at the first write `at` picks; then deliver it again twice, as the platform
/// does after the error.
fn die_then_redeliver(
    store: &CrashStore,
    event: &InboundEvent,
    at: impl Fn(Write, &str, &[u8]) -> bool + Send + Sync + 'static,
) {
    store.crash_at(at);
    let events = std::slice::from_ref(event);
    assert!(apply_events(store, &FeedbackSettings::default(), events).is_err());
    store.recover();
    for _ in 0..2 {
        let report = apply_events(store, &FeedbackSettings::default(), events).unwrap();
        assert_eq!(report.results, vec![EventOutcome::Duplicate]);
    }
}

fn is_campaign_log(write: Write, key: &str) -> bool {
    write == Write::Cas && key.starts_with("idx:feedback:spring:")
}

#[test]
fn a_reply_claimed_before_a_crash_is_logged_and_counted_once_on_redelivery() {
    let store = sent_store();
    let first = first_reply();
    die_then_redeliver(&store, &first, |write, key, _| is_campaign_log(write, key));
    let second = reply(
        &telegram_user(),
        "102",
        "again",
        t0() + Duration::minutes(2),
    );
    // A later reply dies after its record and the subscriber's log, before the campaign's log.
    die_then_redeliver(&store, &second, |write, key, _| is_campaign_log(write, key));
    let stats = campaign_stats(&store, "spring").unwrap();
    assert_eq!((stats.replied, stats.replies), (1, 2));
    assert_eq!(rows(&store), 2);
}

#[test]
fn a_rating_claimed_before_a_crash_is_logged_and_counted_once_on_redelivery() {
    let store = sent_store();
    let rating = press(&telegram_user(), "p1", &rating_button_data("spring", 2));
    die_then_redeliver(&store, &rating, |write, key, _| is_campaign_log(write, key));
    // A second press is still the second.
    let again = press(&telegram_user(), "p2", &rating_button_data("spring", 5));
    let report = apply_events(&store, &FeedbackSettings::default(), &[again]).unwrap();
    assert_eq!(
        report.results,
        vec![EventOutcome::AlreadyRated {
            campaign_id: "spring".into()
        }]
    );
    let stats = campaign_stats(&store, "spring").unwrap();
    assert_eq!((stats.ratings, stats.rating_average), (1, Some(2.0)));
    assert_eq!(rows(&store), 1);
}

#[test]
fn a_crash_before_the_claim_leaves_nothing_and_the_redelivery_counts_it() {
    let store = sent_store();
    let first = first_reply();
    store.crash_at(|write, _, _| write == Write::Cas);
    assert!(apply_events(
        &store,
        &FeedbackSettings::default(),
        std::slice::from_ref(&first)
    )
    .is_err());
    store.recover();
    let report = apply_events(&store, &FeedbackSettings::default(), &[first]).unwrap();
    assert_eq!(
        report.results,
        vec![EventOutcome::Reply {
            campaign_id: Some("spring".into()),
            first_reply: true
        }]
    );
    let stats = campaign_stats(&store, "spring").unwrap();
    assert_eq!((stats.replied, stats.replies), (1, 1));
}

#[test]
fn log_pages_carry_the_running_totals_across_pages() {
    let world = World::new();
    let people: Vec<SubscriberId> = (0..PAGE_SIZE + 5)
        .map(|i| SubscriberId::parse(&format!("telegram:shop:{}", 1000 + i)).unwrap())
        .collect();
    for (i, person) in people.iter().enumerate() {
        world.record_send("spring", person, &format!("m{i}"), t0());
    }
    let replies: Vec<InboundEvent> = people
        .iter()
        .map(|p| reply(p, "7", "hi", t0() + Duration::minutes(1)))
        .collect();
    for chunk in replies.chunks(30) {
        world.apply(chunk);
    }
    // Two more from the first person: replies, not people.
    world.apply(&[
        reply(&people[0], "8", "more", t0() + Duration::minutes(2)),
        reply(&people[0], "9", "more", t0() + Duration::minutes(3)),
    ]);
    let total = i64::try_from(PAGE_SIZE).unwrap() + 5;
    let stats = world.stats("spring");
    assert_eq!((stats.replied, stats.replies), (total, total + 2));
    assert_eq!(world.export_jsonl(Some("spring")).len(), people.len() + 2);
    // Appends start from the page the hint names, past the full first page.
    let hint = world
        .store()
        .get(&FeedbackLog::tail_key(&keys::feedback_log(Some("spring"))))
        .unwrap();
    assert_eq!(hint.as_deref(), Some(&b"1"[..]));
}

#[test]
fn counts_and_entries_kept_before_pages_carried_totals_still_count() {
    let world = World::new();
    let store = world.store();
    // As the intake kept them before: an atomic counter per figure and a log with a length counter.
    store
        .increment(&keys::campaign_counter("spring", REPLIES), 3)
        .unwrap();
    store
        .increment(&keys::campaign_counter("spring", counter::REPLIED), 2)
        .unwrap();
    let log_name = keys::feedback_log(Some("spring"));
    let old: Vec<InboundEvent> = (0..3)
        .map(|i| reply(&telegram_user(), &format!("old{i}"), "before", t0()))
        .collect();
    for (i, event) in old.iter().enumerate() {
        let InboundEvent::Reply {
            subscriber,
            message_id,
            text,
            at,
        } = event
        else {
            unreachable!()
        };
        let key = keys::reply(subscriber, message_id);
        let record = crate::feedback::FeedbackRecord::Reply(crate::feedback::ReplyRecord {
            campaign_id: Some("spring".into()),
            subscriber: subscriber.clone(),
            message_id: message_id.clone(),
            text: text.clone(),
            at: *at + Duration::seconds(i64::try_from(i).unwrap()),
            logged_from: None,
        });
        kv::set_json(store, &key, &record).unwrap();
        Index::named(&log_name).append(store, &key).unwrap();
    }
    let someone = SubscriberId::parse("telegram:shop:77").unwrap();
    world.record_send("spring", &someone, "m9", t0());
    world.apply(&[reply(&someone, "1", "new", t0() + Duration::minutes(1))]);
    let stats = world.stats("spring");
    assert_eq!((stats.replied, stats.replies), (3, 4));
    let rows = world.export_jsonl(Some("spring"));
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3]["text"], "new");
}
