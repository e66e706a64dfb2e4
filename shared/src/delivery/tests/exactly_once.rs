//! Every targeted recipient is sent once and ends in one final state, however ticks overlap.

use std::collections::BTreeSet;
use std::sync::Mutex;

use chrono::Duration;

use super::world::World;
use crate::campaign::CampaignState;
use crate::delivery::{DeliveryState, Step};
use crate::directory::StoredSubscriber;
use crate::event::counter;
use crate::index::Index;
use crate::keys;
use crate::kv;

#[test]
fn every_targeted_recipient_gets_exactly_one_final_state_and_counters_match() {
    let world = World::new();
    for chat in 1..=250 {
        let tags: &[&str] = if chat % 5 == 0 { &["other"] } else { &["vip"] };
        world.subscribe_tagged(chat, tags);
    }
    world.launch_to("c1", r#"{"any_tags": ["vip"]}"#);
    let report = world.tick();

    assert_eq!(report.sent, 200);
    assert!(!report.budget_spent);
    assert!(matches!(report.steps.first(), Some(Step::Started { .. })));
    assert!(matches!(report.steps.last(), Some(Step::Completed { .. })));
    let entries = world.ledger("c1");
    assert_eq!(entries.len(), 200, "only the vip audience is targeted");
    assert!(entries
        .iter()
        .all(|e| matches!(e.outcome, DeliveryState::Sent { .. })));
    let unique: BTreeSet<_> = entries.iter().map(|e| &e.subscriber).collect();
    assert_eq!(unique.len(), 200);
    assert!(world.each_sent_once());
    assert_eq!(
        world.counters("c1", [counter::TARGETED, counter::SENT, counter::FAILED]),
        [200, 200, 0]
    );
    assert_eq!(world.campaign_state("c1"), CampaignState::Completed);
    assert!(world.active_campaigns().is_empty());
    // A later tick has nothing to do and sends nothing again.
    assert_eq!(world.step(), Step::NothingDue);
    assert_eq!(world.send_count(), 200);
}

#[test]
fn a_duplicate_index_entry_is_not_a_second_recipient() {
    let world = World::new();
    let id = world.subscribe(1);
    // Two concurrent first sightings can index one subscriber twice; the record names the real position.
    Index::SUBSCRIBERS
        .append(world.store(), id.as_str())
        .unwrap();
    let stored: StoredSubscriber = kv::get_json(world.store(), &keys::subscriber(&id))
        .unwrap()
        .unwrap();
    assert_eq!(stored.index_position, Some(0));
    world.launch("c1");
    world.tick();
    assert_eq!(world.send_count(), 1);
    assert_eq!(world.counter("c1", counter::TARGETED), 1);
}

#[test]
fn two_interleaved_ticks_never_send_anyone_twice() {
    let report_b = Mutex::new(None);
    let world = World::campaign_to(1..=35).in_batches_of(10);
    // Tick B runs whole while tick A is in the middle of its first batch.
    world.on_send(2, |w| *report_b.lock().unwrap() = Some(w.tick()));
    let report_a = world.tick();
    let report_b = report_b.lock().unwrap().take().unwrap();
    assert!(
        report_b.sent > 0,
        "B did work A had not claimed: {report_b:?}"
    );
    assert_eq!(report_a.sent + report_b.sent, 35);
    assert_eq!(world.sends_per_chat().len(), 35);
    assert!(world.each_sent_once());
    assert_eq!(world.counter("c1", counter::SENT), 35);
    assert_eq!(world.campaign_state("c1"), CampaignState::Completed);
}

#[test]
fn concurrent_ticks_on_threads_never_send_anyone_twice() {
    let world = World::campaign_to(1..=300).in_batches_of(20);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| world.tick_within(Duration::seconds(600)));
        }
    });
    // Whatever is left (a batch another thread still held when one finished) is done by one more tick.
    world.tick_within(Duration::seconds(600));
    let per_chat = world.sends_per_chat();
    assert_eq!(per_chat.len(), 300);
    assert!(world.each_sent_once());
    assert_eq!(
        world.counters("c1", [counter::TARGETED, counter::SENT]),
        [300, 300]
    );
}
