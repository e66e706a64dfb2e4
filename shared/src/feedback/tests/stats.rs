//! Campaign statistics read the counters and say `null` where a rate has nothing to stand on.

use super::world::World;
use crate::event::counter;
use crate::feedback::{campaign_stats, require_campaign};
use crate::keys;
use crate::kv::KvStore;

#[test]
fn stats_report_open_rate_and_null_when_nothing_came_back() {
    let world = World::new();
    let empty = world.stats("spring");
    assert_eq!(empty.open_rate, None);
    assert_eq!(empty.rating_average, None);
    for (name, value) in [
        (counter::TARGETED, 10),
        (counter::SENT, 8),
        (counter::FAILED, 1),
        (counter::BLOCKED, 1),
        (counter::DELIVERED, 3),
        (counter::READ, 2),
    ] {
        world
            .store()
            .increment(&keys::campaign_counter("spring", name), value)
            .unwrap();
    }
    let stats = world.stats("spring");
    assert_eq!(
        (
            stats.targeted,
            stats.sent,
            stats.failed,
            stats.blocked,
            stats.skipped
        ),
        (10, 8, 1, 1, 0)
    );
    assert_eq!(stats.open_rate, Some(0.6667));
    let json = serde_json::to_value(&empty).unwrap();
    assert!(json["open_rate"].is_null() && json["rating_average"].is_null());
    assert_eq!(
        campaign_stats(world.store(), "bad:id").unwrap_err().code(),
        "invalid_campaign_id"
    );
    assert_eq!(
        require_campaign(world.store(), "spring")
            .unwrap_err()
            .status(),
        404
    );
    world.store().set(&keys::campaign("spring"), b"{}").unwrap();
    assert!(require_campaign(world.store(), "spring").is_ok());
}
