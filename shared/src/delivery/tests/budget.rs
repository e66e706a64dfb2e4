//! A tick stops at its time budget, and what it left is sent by the next tick, once.

use std::collections::BTreeMap;

use chrono::Duration;

use super::fake_messenger::rate_limited;
use super::world::World;
use crate::campaign::CampaignState;
use crate::delivery::DeliveryState;

/// Two subscribers and a campaign to both, where the platform tells the first send to wait five minutes.
/// At one message a second each send is a wave of its own.
fn first_send_told_to_wait_five_minutes() -> World<'static> {
    let world = World::campaign_to(1..=2).sending_per_second(1);
    world.answer(1, [rate_limited(300)]);
    world
}

#[test]
fn a_tick_stops_at_its_budget_and_the_next_one_continues_without_duplicates() {
    let world = World::campaign_to(1..=60).sending_per_second(10);
    let first = world.tick_within(Duration::seconds(1));
    assert!(first.budget_spent);
    assert!(first.sent > 0 && first.sent < 60, "{first:?}");
    let second = world.tick();
    assert_eq!(first.sent + second.sent, 60);
    assert!(world.each_sent_once());
    assert_eq!(world.campaign_state("c1"), CampaignState::Completed);
}

#[test]
fn a_rate_limit_beyond_the_budget_leaves_the_message_for_the_next_tick() {
    let world = first_send_told_to_wait_five_minutes();
    let first = world.tick_within(Duration::seconds(20));
    assert_eq!(first.sent, 0);
    assert_eq!(world.state_of("c1", 1), DeliveryState::Pending);
    assert_eq!(
        world.state_of("c1", 2),
        DeliveryState::Pending,
        "not sent while the channel is paused"
    );
    world.advance(Duration::seconds(300));
    let second = world.tick_within(Duration::seconds(20));
    assert_eq!(second.sent, 2);
    assert_eq!(
        world.sends_per_chat(),
        BTreeMap::from([("1".to_owned(), 2), ("2".to_owned(), 1)])
    );
    assert_eq!(world.campaign_state("c1"), CampaignState::Completed);
}

#[test]
fn a_channel_paused_past_the_budget_ends_the_tick_instead_of_spinning() {
    let world = first_send_told_to_wait_five_minutes();
    let report = world.tick_within(Duration::seconds(20));
    assert!(report.budget_spent);
    assert!(
        report.steps.len() <= 4,
        "the tick kept re-taking the same batch: {} steps",
        report.steps.len()
    );
}
