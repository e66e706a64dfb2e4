//! A tick may die at any write. The next ticks finish its work without sending anyone twice and
//! without losing or repeating a count; what was in flight ends as failed `outcome_unknown`.

use chrono::Duration;

use super::crash_store::Write;
use super::world::World;
use crate::campaign::CampaignState;
use crate::delivery::{claim, Cursor, DeliveryState, Step, Tally, OUTCOME_UNKNOWN};
use crate::event::counter;
use crate::keys;

/// Let the next tick die at the first write `trigger` picks, then bring the store back.
fn die_at(world: &World, trigger: impl Fn(Write, &str, &[u8]) -> bool + Send + Sync + 'static) {
    world.store().crash_at(trigger);
    world.crashing_tick();
    assert!(world.store().crashed());
    world.store().recover();
}

/// The compare-and-swap that closes batch 0 of `c1`: the cursor's first write with counted totals.
fn closing_batch_0(write: Write, key: &str, value: &[u8]) -> bool {
    write == Write::Cas
        && key == keys::campaign_cursor("c1")
        && serde_json::from_slice::<Cursor>(value).is_ok_and(|c| c.counted != Tally::default())
}

/// The increment of counter `name` of `c1`.
fn incrementing(name: &'static str) -> impl Fn(Write, &str, &[u8]) -> bool + Send + Sync {
    move |write, key, _| write == Write::Increment && key == keys::campaign_counter("c1", name)
}

/// Let a tick die after it wrote batch 0 of `c1` and before the cursor moved past it.
fn die_between_claim_and_cursor(world: &World) {
    die_at(world, |write, key, _| {
        write == Write::Cas && key == keys::campaign_cursor("c1")
    });
    assert_eq!(world.send_count(), 0);
    assert_eq!(
        world.batch("c1", 0).unwrap().entries.len(),
        5,
        "batch 0 was written"
    );
    assert_eq!(
        claim::cursor(world.store(), "c1").unwrap().next_batch,
        0,
        "the cursor was not"
    );
}

#[test]
fn a_crash_after_intent_resumes_without_resending_and_closes_the_unknown() {
    let world = World::campaign_to(1..=25).sending_per_second(1);
    // The tick dies during the 13th send: at 1/s with instant answers each request is a wave of its
    // own, so the twelve before are recorded and only the 13th is in flight.
    world.on_send(13, |w| w.store().crash());
    world.crashing_tick();
    assert_eq!(
        world.send_count(),
        13,
        "only requests about to start were handed to the platform"
    );
    world.store().recover();

    // While the lease is live nobody touches the batch.
    let early = world.tick();
    assert_eq!(early.sent, 0);
    assert_eq!(world.send_count(), 13);

    world.advance(Duration::minutes(10));
    let report = world.tick();
    let per_chat = world.sends_per_chat();
    assert_eq!(per_chat.len(), 25);
    assert!(
        per_chat.values().all(|&n| n == 1),
        "nobody was sent twice: {per_chat:?}"
    );
    let entries = world.ledger("c1");
    let unknown = entries
        .iter()
        .filter(
            |e| matches!(&e.outcome, DeliveryState::Failed { code, .. } if code == OUTCOME_UNKNOWN),
        )
        .count();
    assert_eq!(unknown, 1);
    assert!(entries.iter().all(|e| e.outcome.is_final()));
    assert!(matches!(&report.steps[0], Step::Batch(b) if b.resumed && b.outcome_unknown == 1));
    assert_eq!(
        world.counters("c1", [counter::SENT, counter::FAILED, counter::TARGETED]),
        [24, 1, 25]
    );
    assert_eq!(world.campaign_state("c1"), CampaignState::Completed);
}

#[test]
fn a_crash_between_claiming_a_batch_and_moving_the_cursor_loses_nobody() {
    let world = World::campaign_to(1..=5);
    die_between_claim_and_cursor(&world);
    // The dead tick's lease lapses.
    world.advance(Duration::minutes(10));
    world.tick();
    assert_eq!(world.sends_per_chat().len(), 5);
    assert!(world.each_sent_once());
    assert_eq!(world.campaign_state("c1"), CampaignState::Completed);
}

#[test]
fn an_orphan_batch_of_a_cancelled_campaign_is_finalised() {
    let world = World::campaign_to(1..=5);
    die_between_claim_and_cursor(&world);

    world.cancel("c1");
    world.drain();
    assert_eq!(world.send_count(), 0, "nothing sent after cancel");
    let orphan = world.batch("c1", 0).unwrap();
    assert!(
        orphan.entries.iter().all(|e| e.outcome.is_final()),
        "{:?}",
        orphan.entries
    );
    assert_eq!(world.counter("c1", counter::TARGETED), 5);
    assert!(world.active_campaigns().is_empty());
}

#[test]
fn a_crash_between_the_finishing_write_and_the_close_still_completes() {
    let world = World::campaign_to(1..=5);
    die_at(&world, closing_batch_0);
    assert_eq!(world.send_count(), 5);
    let batch = world.batch("c1", 0).unwrap();
    assert_eq!(batch.open_entries(), 0, "every outcome was recorded");
    assert!(batch.finished_at.is_some(), "the last outcomes finished it");

    world.drain();
    assert_eq!(world.send_count(), 5, "nobody sent twice");
    assert_eq!(world.campaign_state("c1"), CampaignState::Completed);
    assert_eq!(world.counter("c1", counter::SENT), 5);
}

#[test]
fn a_crash_between_the_cancel_skips_and_the_close_still_leaves_the_active_set() {
    let world = World::campaign_to(1..=30);
    world.on_send(3, |w| w.cancel("c1"));
    die_at(&world, closing_batch_0);
    assert_eq!(world.batch("c1", 0).unwrap().open_entries(), 0);
    world.drain();
    assert!(world.active_campaigns().is_empty());
    assert_eq!(world.counter("c1", counter::TARGETED), 30);
}

#[test]
fn a_crash_between_the_outcome_write_and_the_counters_keeps_counts_exact() {
    let world = World::campaign_to(1..=5);
    die_at(&world, incrementing(counter::SENT));
    world.drain();
    assert_eq!(world.final_entries("c1"), 5);
    assert_eq!(
        world.counters("c1", [counter::SENT, counter::TARGETED]),
        [5, 5],
        "counters lost a whole chunk"
    );
    assert_eq!(world.campaign_state("c1"), CampaignState::Completed);
}

#[test]
fn a_crash_after_some_counters_were_incremented_counts_nothing_twice() {
    // `sent` is incremented, then the tick dies at `targeted`; the next tick adds only what is missing.
    let world = World::campaign_to(1..=5);
    die_at(&world, incrementing(counter::TARGETED));
    assert_eq!(world.counter("c1", counter::SENT), 5);
    world.drain();
    assert_eq!(
        world.counters("c1", [counter::SENT, counter::TARGETED]),
        [5, 5]
    );
    assert_eq!(world.campaign_state("c1"), CampaignState::Completed);
    let report = world.progress("c1");
    assert_eq!((report.counts.sent, report.counts.targeted), (5, 5));
}
