//! Pausing stops a campaign within a second (it is read again once a second while it sends) and
//! resuming continues it; cancelling skips whoever was claimed and sends nothing more.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use super::world::{skipped, World};
use crate::campaign::CampaignState;
use crate::delivery::{Step, StopReason};
use crate::event::counter;

/// Whether every send started less than a second after `at`.
fn started_within_a_second_of(world: &World<'_>, at: DateTime<Utc>) -> bool {
    world
        .sends()
        .iter()
        .all(|(_, started)| *started < at + Duration::seconds(1))
}

#[test]
fn pause_stops_sending_and_resume_continues_where_it_stopped() {
    let paused_at = Mutex::new(None);
    let world = World::campaign_to(1..=100);
    world.on_send(3, |w| {
        w.pause("c1");
        *paused_at.lock().unwrap() = Some(w.now());
    });
    let first = world.tick();
    assert_eq!(
        first.sent, 25,
        "the wave in flight goes out; the campaign is read again before the next, and it stops"
    );
    assert!(started_within_a_second_of(
        &world,
        paused_at.lock().unwrap().unwrap()
    ));
    assert!(matches!(&first.steps[1], Step::Batch(b) if b.stopped == StopReason::Paused));
    assert_eq!(world.tick().sent, 0);
    assert_eq!(world.resume("c1"), CampaignState::Running);
    let second = world.tick();
    assert_eq!(second.sent, 75);
    assert!(world.each_sent_once());
}

#[test]
fn cancel_skips_claimed_recipients_and_sends_nothing_more() {
    let cancelled_at = Mutex::new(None);
    let world = World::campaign_to(1..=150).in_batches_of(100);
    world.on_send(3, |w| {
        w.cancel("c1");
        *cancelled_at.lock().unwrap() = Some(w.now());
    });
    world.tick();
    assert_eq!(world.send_count(), 25);
    assert!(started_within_a_second_of(
        &world,
        cancelled_at.lock().unwrap().unwrap()
    ));
    let entries = world.ledger("c1");
    assert_eq!(entries.len(), 100, "only the first batch had been claimed");
    assert!(entries.iter().all(|e| e.outcome.is_final()));
    let cancelled = skipped("campaign_cancelled");
    let skips = entries.iter().filter(|e| e.outcome == cancelled).count();
    assert_eq!(skips, 75);
    assert_eq!(world.counter("c1", counter::TARGETED), 100);
    assert!(world.active_campaigns().is_empty());
    assert_eq!(world.campaign_state("c1"), CampaignState::Cancelled);
}
