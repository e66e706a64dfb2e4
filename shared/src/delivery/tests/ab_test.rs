//! A campaign with A/B variants: each recipient is sent their arm's template and the holdout nothing,
//! the arm is recorded in the ledger and counted per arm, and a pause and resume leave everyone in the
//! arm they were given.

use std::collections::BTreeMap;

use super::world::{skipped, World};
use crate::campaign;
use crate::delivery::DeliveryState;
use crate::event::{HeldOutRef, SentMessageRef};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::SubscriberId;

/// Create and schedule campaign `ab` for now: variants `a` (template `promo-a`) and `b` (`promo-b`),
/// 50/50, with a 10% holdout.
fn launch_ab(world: &World<'_>) {
    world.create_campaign(
        r#"{"id": "ab", "name": "Promo", "channel": "telegram:shop", "holdout_percent": 10,
            "variants": [{"name": "a", "template_id": "promo-a", "weight": 50},
                         {"name": "b", "template_id": "promo-b", "weight": 50}]}"#,
    );
    world.schedule("ab", "now", None);
}

fn chat_of(subscriber: &SubscriberId) -> &str {
    subscriber.as_str().rsplit(':').next().unwrap_or_default()
}

/// Each subscriber in the ledger of `ab`, with the arm it records.
fn arms(world: &World<'_>) -> BTreeMap<SubscriberId, String> {
    world
        .ledger("ab")
        .into_iter()
        .map(|e| {
            (
                e.subscriber,
                e.arm.expect("every entry of an A/B campaign has an arm"),
            )
        })
        .collect()
}

#[test]
fn each_arm_is_sent_its_template_and_the_holdout_nothing() {
    let world = World::new().in_batches_of(100);
    world.subscribe_all(1..=1000);
    launch_ab(&world);
    world.drain();
    let campaign = campaign::get(world.store(), "ab").unwrap();
    let texts = world.texts_per_chat();
    let mut sizes: BTreeMap<String, i64> = BTreeMap::new();
    for entry in world.ledger("ab") {
        let arm = entry.arm.clone().unwrap();
        assert_eq!(
            Some(arm.as_str()),
            campaign.arm_of(&entry.subscriber).map(|a| a.name()),
            "the ledger records the split's arm"
        );
        let text = texts.get(chat_of(&entry.subscriber));
        if arm == "holdout" {
            assert_eq!(entry.outcome, skipped("holdout"));
            assert_eq!(text, None, "the holdout is sent nothing");
        } else {
            assert!(matches!(entry.outcome, DeliveryState::Sent { .. }));
            assert!(
                text.unwrap().ends_with(&format!("(promo-{arm})")),
                "{text:?}"
            );
        }
        *sizes.entry(arm).or_default() += 1;
    }
    for (arm, expected) in [("a", 450), ("b", 450), ("holdout", 100)] {
        assert!(sizes[arm].abs_diff(expected) <= 30, "{sizes:?}");
    }
    assert!(world.each_sent_once());
    // The arms' counters match the ledger, and add up to the campaign's.
    let arm_counter = |arm: &str, name: &str| {
        world
            .store()
            .increment(&keys::campaign_arm_counter("ab", arm, name), 0)
            .unwrap()
    };
    for arm in ["a", "b"] {
        assert_eq!(arm_counter(arm, "sent"), sizes[arm]);
        assert_eq!(arm_counter(arm, "targeted"), sizes[arm]);
    }
    assert_eq!(arm_counter("holdout", "skipped"), sizes["holdout"]);
    assert_eq!(arm_counter("holdout", "sent"), 0);
    assert_eq!(
        world.counters("ab", ["sent", "skipped", "targeted"]),
        [sizes["a"] + sizes["b"], sizes["holdout"], 1000]
    );
    // The reference left for feedback carries the arm.
    let in_a = world
        .ledger("ab")
        .into_iter()
        .find(|e| e.arm.as_deref() == Some("a"))
        .unwrap();
    let last: SentMessageRef = kv::get_json(
        world.store(),
        &keys::last_campaign_message(&in_a.subscriber),
    )
    .unwrap()
    .unwrap();
    assert_eq!(last.arm.as_deref(), Some("a"));
    // Each holdout member is marked held back, for counting their replies.
    let in_holdout = world
        .ledger("ab")
        .into_iter()
        .find(|e| e.arm.as_deref() == Some("holdout"))
        .unwrap();
    let held: HeldOutRef = kv::get_json(world.store(), &keys::held_out(&in_holdout.subscriber))
        .unwrap()
        .unwrap();
    assert_eq!(held.campaign_id, "ab");
}

#[test]
fn a_paused_and_resumed_campaign_keeps_everyone_in_their_arm() {
    let world = World::new().in_batches_of(50);
    world.subscribe_all(1..=300);
    launch_ab(&world);
    world.step();
    world.step();
    world.step();
    world.pause("ab");
    let before = arms(&world);
    assert!(before.len() >= 50 && before.len() < 300, "{}", before.len());
    world.resume("ab");
    world.drain();
    let after = arms(&world);
    assert_eq!(after.len(), 300);
    for (subscriber, arm) in &before {
        assert_eq!(&after[subscriber], arm);
    }
    assert!(world.each_sent_once());
    let holdout = after.values().filter(|a| *a == "holdout").count();
    assert_eq!(world.send_count(), 300 - holdout);
    let progress = world.progress("ab");
    assert_eq!(progress.arms["holdout"].skipped, holdout as i64);
    assert_eq!(
        progress.arms["a"].sent + progress.arms["b"].sent,
        progress.counts.sent
    );
}

#[test]
fn a_campaign_without_variants_records_no_arm() {
    let world = World::campaign_to(1..=5);
    world.drain();
    assert!(world.ledger("c1").iter().all(|e| e.arm.is_none()));
    assert_eq!(world.send_count(), 5);
    let cursor = crate::delivery::claim::cursor(world.store(), "c1").unwrap();
    assert!(cursor.counted_by_arm.is_empty());
}
