//! A scheduled campaign starts when its time comes, not before.

use chrono::Duration;

use super::world::World;
use crate::delivery::Step;

#[test]
fn a_future_schedule_waits_for_its_time() {
    let world = World::new();
    world.subscribe(1);
    world.create_campaign(
        r#"{"id": "later", "name": "Later", "channel": "telegram:shop", "template_id": "welcome"}"#,
    );
    world.schedule("later", "2026-11-01T12:00:00", Some("Europe/Berlin"));
    assert_eq!(world.step(), Step::NothingDue);
    // 12:00 in Berlin is 11:00 UTC.
    world.advance(Duration::minutes(59));
    assert_eq!(world.step(), Step::NothingDue);
    world.advance(Duration::minutes(1));
    let report = world.tick();
    assert_eq!(
        report.steps[0],
        Step::Started {
            campaign_id: "later".into()
        }
    );
    assert_eq!(report.sent, 1);
}
