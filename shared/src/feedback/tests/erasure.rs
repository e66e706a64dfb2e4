//! Erasing a subscriber removes what they wrote and pressed, and keeps the campaign totals.

use chrono::Duration;

use super::world::{press, reply, sent_ref, t0, telegram_user, World};
use crate::event::{counter, rating_button_data};
use crate::feedback::erase_subscriber_feedback;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::SubscriberId;

#[test]
fn erasing_a_subscriber_removes_their_replies_presses_and_ratings_but_keeps_totals() {
    let world = World::new();
    let other = SubscriberId::parse("telegram:shop:43").unwrap();
    world.record_send("spring", &telegram_user(), "100", t0());
    world.record_send("spring", &other, "200", t0());
    let later = t0() + Duration::minutes(5);
    world.apply(&[
        reply(&telegram_user(), "101", "Call me on +49 151 000", later),
        press(&telegram_user(), "p1", "rate:spring:4"),
        press(&telegram_user(), "p2", "menu"),
        reply(&other, "201", "Nice", later),
    ]);
    assert_eq!(world.export_jsonl(Some("spring")).len(), 4);
    let erased = erase_subscriber_feedback(world.store(), &telegram_user()).unwrap();
    assert_eq!(erased, 3);
    let rows = world.export_jsonl(Some("spring"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["subscriber_id"], "telegram:shop:43");
    let leftovers: Vec<String> = world
        .store()
        .get_keys()
        .unwrap()
        .into_iter()
        .filter(|k| k.contains("telegram:shop:42") && !k.starts_with("last:"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(world.counter("spring", counter::REPLIED), 2);
    assert_eq!(world.counter("spring", counter::RATINGS), 1);
}

#[test]
fn an_event_rules_first_reply_and_rating_are_erased_through_the_subscribers_log() {
    let world = World::new();
    // Event rules send under their statistics id, which the campaign index does not list.
    let sent = sent_ref("r--welcome", &telegram_user(), "m1", t0());
    world.record_reference(&sent);
    kv::set_json(
        world.store(),
        &keys::last_campaign_message(&telegram_user()),
        &sent,
    )
    .unwrap();
    let report = world.apply(&[
        reply(&telegram_user(), "101", "hi", t0() + Duration::minutes(1)),
        press(&telegram_user(), "p1", &rating_button_data("r--welcome", 5)),
    ]);
    assert_eq!(report.applied, 2);
    assert_eq!(world.stats("r--welcome").replied, 1);
    assert_eq!(
        erase_subscriber_feedback(world.store(), &telegram_user()).unwrap(),
        2
    );
    for key in [
        keys::campaign_replies_of("r--welcome", &telegram_user()),
        keys::rating("r--welcome", &telegram_user()),
    ] {
        assert_eq!(world.store().get(&key).unwrap(), None, "{key}");
    }
}
