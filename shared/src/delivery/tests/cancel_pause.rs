//! Pausing stops a campaign after the chunk in flight and resuming continues it; cancelling skips
//! whoever was claimed and sends nothing more.

use super::world::{skipped, World};
use crate::campaign::CampaignState;
use crate::delivery::{Step, StopReason};
use crate::event::counter;

#[test]
fn pause_stops_sending_and_resume_continues_where_it_stopped() {
    let world = World::campaign_to(1..=30);
    world.on_send(3, |w| w.pause("c1"));
    let first = world.tick();
    assert_eq!(
        first.sent, 10,
        "the chunk in flight finishes, then the batch stops"
    );
    assert!(matches!(&first.steps[1], Step::Batch(b) if b.stopped == StopReason::Paused));
    assert_eq!(world.tick().sent, 0);
    assert_eq!(world.resume("c1"), CampaignState::Running);
    let second = world.tick();
    assert_eq!(second.sent, 20);
    assert!(world.each_sent_once());
}

#[test]
fn cancel_skips_claimed_recipients_and_sends_nothing_more() {
    let world = World::campaign_to(1..=150);
    world.on_send(3, |w| w.cancel("c1"));
    world.tick();
    assert_eq!(world.send_count(), 10);
    let entries = world.ledger("c1");
    assert_eq!(entries.len(), 100, "only the first batch had been claimed");
    assert!(entries.iter().all(|e| e.outcome.is_final()));
    let cancelled = skipped("campaign_cancelled");
    let skips = entries.iter().filter(|e| e.outcome == cancelled).count();
    assert_eq!(skips, 90);
    assert_eq!(world.counter("c1", counter::TARGETED), 100);
    assert!(world.active_campaigns().is_empty());
    assert_eq!(world.campaign_state("c1"), CampaignState::Cancelled);
}
