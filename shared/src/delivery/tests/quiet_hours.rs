//! A message due inside the recipient's quiet hours waits until they end: never dropped, never sent
//! inside them.

use chrono::{DateTime, Utc};

use super::world::World;
use crate::campaign::{CampaignState, ScheduleRequest};
use crate::delivery::DeliveryState;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().expect("a valid instant")
}

/// Chat 1 in Tokyo, chat 2 in Berlin, both subscribed.
fn tokyo_and_berlin(world: &World<'_>) {
    world.subscribe(1);
    world.set_timezone(1, "Asia/Tokyo");
    world.subscribe(2);
    world.set_timezone(2, "Europe/Berlin");
}

fn create(world: &World<'_>, id: &str, quiet_hours: Option<&str>) {
    let quiet = quiet_hours
        .map(|q| format!(r#", "quiet_hours": "{q}""#))
        .unwrap_or_default();
    world.create_campaign(&format!(
        r#"{{"id": "{id}", "name": "Quiet", "channel": "telegram:shop", "template_id": "welcome"{quiet}}}"#
    ));
}

#[test]
fn a_message_due_at_night_waits_past_midnight_until_the_quiet_hours_end() {
    let world = World::new().quiet_between("21:00-09:00");
    tokyo_and_berlin(&world);
    create(&world, "night", None);
    // 13:00 UTC: 22:00 in Tokyo (quiet), 14:00 in Berlin.
    world.advance(utc("2026-11-01T13:00:00Z") - world.now());
    world.schedule("night", "now", None);
    world.tick();
    assert_eq!(world.send_times_to(2), [utc("2026-11-01T13:00:00Z")]);
    assert!(world.send_times_to(1).is_empty());
    assert_eq!(world.state_of("night", 1), DeliveryState::Pending);
    // Still quiet just before 09:00 in Tokyo (00:00 UTC, across midnight).
    world.tick_at(utc("2026-11-01T23:58:00Z"));
    assert!(world.send_times_to(1).is_empty());
    world.tick_at(utc("2026-11-02T00:00:00Z"));
    assert_eq!(world.send_times_to(1), [utc("2026-11-02T00:00:00Z")]);
    world.drain();
    assert_eq!(world.campaign_state("night"), CampaignState::Completed);
    assert!(world.each_sent_once());
}

#[test]
fn a_campaign_overrides_the_workspace_quiet_hours_with_its_own_or_none() {
    let world = World::new().quiet_between("21:00-09:00");
    tokyo_and_berlin(&world);
    // 13:00 UTC: 22:00 in Tokyo, 14:00 in Berlin.
    world.advance(utc("2026-11-01T13:00:00Z") - world.now());
    create(&world, "receipt", Some("none"));
    world.schedule("receipt", "now", None);
    create(&world, "own", Some("13:30-15:00"));
    world.schedule("own", "now", None);
    world.tick();
    // `none`: both at once, quiet hours or not.
    for chat in [1, 2] {
        assert!(matches!(
            world.state_of("receipt", chat),
            DeliveryState::Sent { .. }
        ));
    }
    // Its own span instead of the workspace's: Tokyo (22:00) goes now, Berlin (14:00) at 15:00.
    assert!(matches!(
        world.state_of("own", 1),
        DeliveryState::Sent { .. }
    ));
    assert_eq!(world.state_of("own", 2), DeliveryState::Pending);
    world.tick_at(utc("2026-11-01T13:58:00Z"));
    assert_eq!(world.state_of("own", 2), DeliveryState::Pending);
    world.tick_at(utc("2026-11-01T14:00:00Z"));
    assert_eq!(
        world.send_times_to(2).last(),
        Some(&utc("2026-11-01T14:00:00Z"))
    );
    assert!(world.send_times_to(2).len() == 2);
}

#[test]
fn a_local_send_time_inside_quiet_hours_waits_for_their_end() {
    let world = World::new().quiet_between("21:00-09:00");
    tokyo_and_berlin(&world);
    create(&world, "early", None);
    world
        .try_schedule(
            "early",
            &ScheduleRequest {
                send_at: "2026-11-02T08:00".into(),
                timezone: Some("Europe/Berlin".into()),
                per_recipient_timezone: true,
                ..ScheduleRequest::default()
            },
        )
        .unwrap();
    // 08:00 local is quiet: each waits until 09:00 local.
    world.tick_at(utc("2026-11-01T18:00:00Z"));
    world.tick_at(utc("2026-11-01T23:00:00Z"));
    assert!(world.sends().is_empty(), "08:00 in Tokyo is still quiet");
    world.tick_at(utc("2026-11-02T00:00:00Z"));
    world.tick_at(utc("2026-11-02T07:00:00Z"));
    assert_eq!(world.send_times_to(1), [utc("2026-11-02T00:00:00Z")]);
    assert!(
        world.send_times_to(2).is_empty(),
        "08:00 in Berlin is still quiet"
    );
    world.tick_at(utc("2026-11-02T08:00:00Z"));
    assert_eq!(world.send_times_to(2), [utc("2026-11-02T08:00:00Z")]);
}

#[test]
fn without_a_zone_of_their_own_quiet_hours_are_judged_in_the_schedule_s_zone_else_in_utc() {
    let world = World::new().quiet_between("21:00-09:00");
    world.subscribe(1);
    create(&world, "tokyo", None);
    create(&world, "utc", None);
    // 13:00 UTC: 22:00 in Tokyo, daytime in UTC.
    world.advance(utc("2026-11-01T13:00:00Z") - world.now());
    world.schedule("tokyo", "now", Some("Asia/Tokyo"));
    world.schedule("utc", "now", None);
    world.tick();
    assert!(matches!(
        world.state_of("utc", 1),
        DeliveryState::Sent { .. }
    ));
    assert_eq!(world.state_of("tokyo", 1), DeliveryState::Pending);
    world.tick_at(utc("2026-11-02T00:00:00Z"));
    assert!(matches!(
        world.state_of("tokyo", 1),
        DeliveryState::Sent { .. }
    ));
}
