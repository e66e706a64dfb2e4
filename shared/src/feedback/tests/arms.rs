//! Receipts, replies and ratings of a campaign with A/B variants are credited to the recipient's arm as
//! well as to the campaign, from what the dispatcher recorded (no scan of the ledger).

use chrono::Duration;

use super::world::{press, receipt, reply, t0, World};
use crate::campaign::{Campaign, NewCampaign};
use crate::event::{HeldOutRef, ReceiptStatus};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::SubscriberId;

/// Campaign `spring`: variants `a` and `b`, 50/50, and a 10% holdout.
fn spring() -> Campaign {
    let request: NewCampaign = serde_json::from_str(
        r#"{"id": "spring", "name": "Spring", "channel": "whatsapp:123456", "holdout_percent": 10,
            "variants": [{"name": "a", "template_id": "promo-a", "weight": 50},
                         {"name": "b", "template_id": "promo-b", "weight": 50}]}"#,
    )
    .unwrap();
    request.into_draft(t0()).unwrap()
}

/// The first WhatsApp subscriber the campaign's split puts in arm `arm`.
fn member_of(campaign: &Campaign, arm: &str) -> SubscriberId {
    (0..1000)
        .map(|n| SubscriberId::parse(&format!("whatsapp:123456:49151000{n:04}")).unwrap())
        .find(|id| campaign.arm_of(id).is_some_and(|a| a.name() == arm))
        .expect("someone in every arm")
}

#[test]
fn feedback_is_credited_to_the_arm_of_the_message_it_answers() {
    let world = World::new();
    let campaign = spring();
    kv::set_json(world.store(), &keys::campaign("spring"), &campaign).unwrap();
    let (ada, bo) = (member_of(&campaign, "a"), member_of(&campaign, "b"));
    world.record_send_in_arm("spring", Some("a"), &ada, "wamid.a", t0());
    world.record_send_in_arm("spring", Some("b"), &bo, "wamid.b", t0());
    // Bo's last message is another campaign's by the time Bo rates spring: the split says Bo's arm.
    world.record_send("summer", &bo, "wamid.s", t0() + Duration::minutes(1));
    world.apply(&[
        receipt("wamid.a", ReceiptStatus::Read),
        receipt("wamid.b", ReceiptStatus::Delivered),
        reply(&ada, "r1", "Yes please", t0() + Duration::minutes(5)),
        reply(&ada, "r2", "When?", t0() + Duration::minutes(6)),
        press(&bo, "p1", "rate:spring:4"),
    ]);
    let stats = world.stats("spring");
    assert_eq!(stats.arms.keys().collect::<Vec<_>>(), ["a", "b", "holdout"]);
    let (a, b, holdout) = (&stats.arms["a"], &stats.arms["b"], &stats.arms["holdout"]);
    assert_eq!((a.delivered, a.read, a.open_rate), (1, 1, Some(1.0)));
    assert_eq!((a.replied, a.replies, a.ratings), (1, 2, 0));
    assert_eq!((b.delivered, b.read, b.open_rate), (1, 0, Some(0.0)));
    assert_eq!((b.replied, b.ratings, b.rating_average), (0, 1, Some(4.0)));
    assert_eq!((holdout.delivered, holdout.replies), (0, 0));
    // The campaign's totals hold both arms.
    assert_eq!(
        (stats.delivered, stats.read, stats.replies, stats.ratings),
        (2, 1, 2, 1)
    );
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["delivered"], 2);
    assert_eq!(json["arms"]["a"]["open_rate"], 1.0);
    // A deleted campaign's statistics keep its arms.
    crate::campaign::retire(world.store(), &campaign, t0()).unwrap();
    crate::campaign::delete_record(world.store(), &campaign.id).unwrap();
    assert_eq!(world.stats("spring").arms, stats.arms);
}

#[test]
fn a_campaign_without_variants_reports_no_arms() {
    let world = World::new();
    let sent = world.record_send("plain", &member_of(&spring(), "a"), "wamid.p", t0());
    world.apply(&[receipt(&sent.message_id, ReceiptStatus::Read)]);
    let stats = world.stats("plain");
    assert!(stats.arms.is_empty());
    assert_eq!(stats.read, 1);
    assert!(serde_json::to_value(&stats).unwrap().get("arms").is_none());
}

#[test]
fn replies_of_holdout_members_within_the_window_count_for_the_holdout_only() {
    let world = World::new();
    let campaign = spring();
    kv::set_json(world.store(), &keys::campaign("spring"), &campaign).unwrap();
    let held = member_of(&campaign, "holdout");
    let reference = HeldOutRef {
        campaign_id: "spring".into(),
        subscriber: held.clone(),
        at: t0(),
        replied: false,
    };
    kv::set_json(world.store(), &keys::held_out(&held), &reference).unwrap();
    world.apply(&[
        reply(&held, "h1", "Any offers?", t0() + Duration::hours(1)),
        reply(&held, "h2", "Hello?", t0() + Duration::hours(2)),
        // Redelivered: counted once.
        reply(&held, "h2", "Hello?", t0() + Duration::hours(2)),
        // After the reply window: not the holdout's any more.
        reply(&held, "h3", "Late", t0() + Duration::hours(73)),
    ]);
    let stats = world.stats("spring");
    let holdout = &stats.arms["holdout"];
    assert_eq!((holdout.replied, holdout.replies), (1, 2));
    assert_eq!(
        (stats.replied, stats.replies),
        (0, 0),
        "the campaign sent them nothing: their replies are not its replies"
    );
    // Erasing the person takes their holdout reference with their replies.
    crate::feedback::erase_subscriber_feedback(world.store(), &held).unwrap();
    assert!(!world.store().exists(&keys::held_out(&held)).unwrap());
}
