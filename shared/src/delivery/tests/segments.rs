//! Audiences with conditions on the sender's walk, and the audience frozen when sending starts.

use chrono::Duration;

use super::world::{start, subscriber_id, World};
use crate::delivery::Step;

#[test]
fn sixty_days_without_an_order_selects_exactly_those_people() {
    let world = World::new();
    world.subscribe_all(1..=6);
    let days_ago = |days: i64| (start() - Duration::days(days)).to_rfc3339();
    world.set_attribute_to(1, "last_order_at", &days_ago(59));
    world.set_attribute_to(
        2,
        "last_order_at",
        &(start() - Duration::days(60)).to_rfc3339(),
    );
    world.set_attribute_to(
        3,
        "last_order_at",
        &(start() - Duration::days(60) - Duration::seconds(1)).to_rfc3339(),
    );
    world.set_attribute_to(4, "last_order_at", "2025-12-24");
    world.set_attribute_to(5, "last_order_at", "some time ago");
    // Chat 6 never ordered: no date to compare, not selected.
    world.launch_to(
        "c1",
        r#"{"conditions": [{"attribute": "last_order_at", "op": "older_than", "days": 60}]}"#,
    );
    world.tick();
    assert_eq!(world.recipients("c1"), [subscriber_id(3), subscriber_id(4)]);
    assert!(world.each_sent_once());
}

#[test]
fn people_who_arrive_after_the_start_are_not_recipients() {
    let world = World::new().in_batches_of(2);
    world.subscribe_all(1..=5);
    world.launch("c1");
    assert!(matches!(world.step(), Step::Started { .. }));
    // The walk has not reached anyone yet when a new person subscribes.
    world.advance(Duration::seconds(1));
    world.subscribe_now(6);
    world.drain();
    assert_eq!(
        world.recipients("c1"),
        (1..=5).map(subscriber_id).collect::<Vec<_>>()
    );
    assert_eq!(world.send_count(), 5);
}
