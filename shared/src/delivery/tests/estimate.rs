//! The estimate tells what the next tick then does: the same recipients, skips and failures.

use std::collections::BTreeMap;

use chrono::Duration;

use super::world::{start, World};
use crate::delivery::DeliveryState;
use crate::event::counter;
use crate::subscriber::ConsentAction;

fn tally(entries: &[(&str, u64)]) -> BTreeMap<String, u64> {
    entries.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

#[test]
fn the_estimate_matches_what_the_tick_then_does() {
    let world = World::new();
    world.subscribe_all(1..=10);
    for chat in 1..=10 {
        world.set_attribute_to(chat, "orders", if chat <= 8 { "5" } else { "1" });
    }
    // Chat 3 left before the campaign was scheduled: not a recipient at all.
    world.record_consent(3, ConsentAction::Unsubscribed, start() - Duration::hours(1));
    // Chat 4's message cannot be rendered.
    world.set_attribute(4, "broken");
    world.launch_to(
        "c1",
        r#"{"conditions": [{"attribute": "orders", "op": "gte", "number": 3}]}"#,
    );
    // Chat 6 leaves after the scheduling: a recipient, skipped with the reason.
    world.record_consent(
        6,
        ConsentAction::Unsubscribed,
        start() + Duration::seconds(1),
    );
    world.advance(Duration::seconds(2));

    let estimate = world.estimate("c1");
    assert_eq!(estimate.evaluated_at, world.now());
    assert_eq!(
        (
            estimate.matched,
            estimate.not_subscribed,
            estimate.recipients
        ),
        (8, 1, 7)
    );
    assert_eq!((estimate.will_send, estimate.deferred), (5, 0));
    assert_eq!(estimate.skipped, tally(&[("unsubscribed", 1)]));
    assert_eq!(estimate.failed, tally(&[("template_render_failed", 1)]));
    assert_eq!((estimate.scanned, estimate.index_size), (10, 10));
    assert!(estimate.complete);
    assert_eq!(estimate.rate_per_second, 25);
    assert_eq!(estimate.expected_duration_seconds, 1);
    assert_eq!(
        estimate.expected_completion_at,
        world.now() + Duration::seconds(1)
    );

    world.tick();
    let ledger = world.ledger("c1");
    assert_eq!(ledger.len() as u64, estimate.recipients);
    let sent = ledger
        .iter()
        .filter(|e| matches!(e.outcome, DeliveryState::Sent { .. }))
        .count() as u64;
    assert_eq!(sent, estimate.will_send);
    assert_eq!(
        world.counters(
            "c1",
            [
                counter::TARGETED,
                counter::SENT,
                counter::SKIPPED,
                counter::FAILED
            ]
        ),
        [7, 5, 1, 1]
    );
    assert_eq!(world.send_count() as u64, estimate.will_send);
}

#[test]
fn a_future_send_is_estimated_at_its_send_time() {
    let world = World::new();
    world.subscribe_all(1..=3);
    world.set_attribute_to(1, "last_order_at", "2026-09-04T00:00:00Z");
    world.set_attribute_to(2, "last_order_at", "2026-09-06T00:00:00Z");
    world.create_campaign(
        r#"{"id": "c1", "name": "Win back", "channel": "telegram:shop", "template_id": "welcome",
            "audience": {"conditions": [{"attribute": "last_order_at", "op": "older_than", "days": 60}]}}"#,
    );
    // A draft is judged now (1 November): neither ordered more than 60 days ago.
    assert_eq!(world.estimate("c1").matched, 0);
    // Sent on 4 November at noon, 60 days after 5 September at noon: chat 1 ordered before, chat 2 after.
    world.schedule("c1", "2026-11-04T12:00:00Z", None);
    let estimate = world.estimate("c1");
    assert_eq!(
        estimate.evaluated_at,
        "2026-11-04T12:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    );
    assert_eq!((estimate.matched, estimate.will_send), (1, 1));
}

#[test]
fn the_estimate_counts_those_a_frequency_cap_would_skip() {
    let world = World::campaign_to(1..=4).capped_at("promotional:1/calendar_day");
    assert_eq!(world.tick().sent, 4);
    // Chat 5 arrives after the first campaign: it has had nothing today.
    world.subscribe(5);
    world.launch("c2");

    let estimate = world.estimate("c2");
    assert_eq!((estimate.recipients, estimate.will_send), (5, 1));
    assert_eq!(estimate.skipped, tally(&[("frequency_cap", 4)]));

    let report = world.tick();
    assert_eq!((report.sent, report.skipped), (1, 4));
    // Estimating reserved nothing: chat 5 was sent.
    assert_eq!(world.send_count(), 5);
}

#[test]
fn an_ab_test_is_estimated_arm_by_arm_with_its_holdout_skipped() {
    let world = World::new().in_batches_of(100);
    world.subscribe_all(1..=200);
    world.create_campaign(
        r#"{"id": "ab", "name": "Promo", "channel": "telegram:shop", "holdout_percent": 10,
            "variants": [{"name": "a", "template_id": "promo-a", "weight": 50},
                         {"name": "b", "template_id": "promo-b", "weight": 50}]}"#,
    );
    world.schedule("ab", "now", None);

    let estimate = world.estimate("ab");
    let held_out = estimate.skipped.get("holdout").copied().unwrap_or_default();
    assert!(held_out > 0, "{estimate:?}");
    assert_eq!(estimate.will_send + held_out, 200);
    assert!(estimate.failed.is_empty(), "each arm renders: {estimate:?}");

    world.drain();
    let sent = world
        .ledger("ab")
        .iter()
        .filter(|e| matches!(e.outcome, DeliveryState::Sent { .. }))
        .count() as u64;
    assert_eq!(sent, estimate.will_send);
}
