//! Erasing a subscriber removes what they wrote and pressed, and keeps the campaign totals.

use chrono::Duration;

use super::world::{press, reply, t0, telegram_user, World};
use crate::event::counter;
use crate::feedback::erase_subscriber_feedback;
use crate::kv::KvStore;
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
