//! Progress reports counts, the sending rate and the time left, and pages through the deliveries.

use chrono::Duration;

use super::world::World;
use crate::campaign::CampaignState;
use crate::delivery::deliveries;

#[test]
fn progress_reports_counts_rate_and_time_left() {
    let world = World::campaign_to(1..=250).sending_per_second(20);
    world.tick_within(Duration::seconds(6));
    let report = world.progress("c1");
    assert_eq!(report.state, CampaignState::Running);
    let done = report.counts.sent;
    assert!(done > 80 && done < 250, "{report:?}");
    assert_eq!(report.counts.targeted, done);
    assert!(
        (report.messages_per_second - 20.0).abs() < 2.0,
        "{report:?}"
    );
    assert_eq!(report.remaining_messages, 250 - done as u64);
    let left = report.estimated_seconds_left.unwrap();
    assert!((6..=10).contains(&left), "{report:?}");
    let left = i64::try_from(left).unwrap();
    assert_eq!(
        report.estimated_completion_at,
        Some(world.now() + Duration::seconds(left)),
        "{report:?}"
    );
    let page = deliveries(world.store(), "c1", 0).unwrap();
    assert!(!page.items.is_empty());
    assert_eq!(
        deliveries(world.store(), "nope", 0).unwrap_err().status(),
        404
    );
}
