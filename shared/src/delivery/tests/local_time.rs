//! A campaign "at 10:00 in each recipient's timezone" reaches each one at their 10:00, starts when the
//! first zone on Earth reaches it and completes after the last recipient's zone has.

use chrono::{DateTime, Utc};

use super::world::World;
use crate::campaign::{CampaignState, ScheduleRequest};
use crate::delivery::{DeliveryState, Step};
use crate::event::counter;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().expect("a valid instant")
}

fn local_ten(day: &str) -> ScheduleRequest {
    ScheduleRequest {
        send_at: format!("{day}T10:00"),
        timezone: Some("Europe/Berlin".into()),
        per_recipient_timezone: true,
        ..ScheduleRequest::default()
    }
}

/// Chats 1 (Tokyo), 2 (Berlin), 3 (New York) and 4 (no zone) subscribed, and draft `id`.
fn world_with_three_zones(id: &str) -> World<'static> {
    let world = World::new();
    for (chat, zone) in [
        (1, Some("Asia/Tokyo")),
        (2, Some("Europe/Berlin")),
        (3, Some("America/New_York")),
        (4, None),
    ] {
        world.subscribe(chat);
        if let Some(zone) = zone {
            world.set_timezone(chat, zone);
        }
    }
    world.create_campaign(&format!(
        r#"{{"id": "{id}", "name": "Local", "channel": "telegram:shop", "template_id": "welcome"}}"#
    ));
    world
}

#[test]
fn each_recipient_gets_it_at_ten_in_their_own_zone() {
    let world = world_with_three_zones("local");
    world
        .try_schedule("local", &local_ten("2026-11-02"))
        .unwrap();
    let schedule = crate::campaign::get(world.store(), "local")
        .unwrap()
        .schedule
        .unwrap();
    // It starts when 10:00 first comes anywhere: UTC+14.
    assert_eq!(schedule.send_at, utc("2026-11-01T20:00:00Z"));
    assert_eq!(world.step(), Step::NothingDue);

    world.tick_at(utc("2026-11-01T20:00:00Z"));
    assert_eq!(world.campaign_state("local"), CampaignState::Running);
    assert_eq!(
        world.send_count(),
        0,
        "10:00 has come in no subscriber's zone yet"
    );

    // Tokyo (UTC+9): 01:00 UTC.
    world.tick_at(utc("2026-11-02T00:58:00Z"));
    assert_eq!(world.send_count(), 0);
    world.tick_at(utc("2026-11-02T01:00:00Z"));
    assert_eq!(world.send_times_to(1), [utc("2026-11-02T01:00:00Z")]);
    assert_eq!(world.send_count(), 1);

    // Berlin (UTC+1 in November), and the subscriber without a zone, in the campaign's: 09:00 UTC.
    world.tick_at(utc("2026-11-02T08:58:00Z"));
    assert_eq!(world.send_count(), 1);
    world.tick_at(utc("2026-11-02T09:00:00Z"));
    assert_eq!(world.send_times_to(2), [utc("2026-11-02T09:00:00Z")]);
    assert_eq!(world.send_times_to(4), [utc("2026-11-02T09:00:00Z")]);
    assert_eq!(world.campaign_state("local"), CampaignState::Running);

    // New York (UTC-5 since 1 November): 15:00 UTC; then the campaign completes.
    world.tick_at(utc("2026-11-02T14:58:00Z"));
    assert_eq!(world.send_count(), 3);
    world.tick_at(utc("2026-11-02T15:00:00Z"));
    assert_eq!(world.send_times_to(3), [utc("2026-11-02T15:00:00Z")]);
    world.drain();
    assert_eq!(world.campaign_state("local"), CampaignState::Completed);
    assert!(world.each_sent_once());
    assert_eq!(world.counters("local", [counter::SENT]), [4]);
}

#[test]
fn ten_o_clock_on_the_day_clocks_change_is_ten_o_clock_local() {
    let world = world_with_three_zones("dst");
    // Berlin springs forward on 28 March 2027 (UTC+2 from 02:00); New York did on 14 March (UTC-4).
    world.try_schedule("dst", &local_ten("2027-03-28")).unwrap();
    for at in [
        "2027-03-27T20:00:00Z",
        "2027-03-28T01:00:00Z",
        "2027-03-28T08:00:00Z",
        "2027-03-28T14:00:00Z",
    ] {
        world.tick_at(utc(at));
    }
    assert_eq!(world.send_times_to(1), [utc("2027-03-28T01:00:00Z")]);
    assert_eq!(world.send_times_to(2), [utc("2027-03-28T08:00:00Z")]);
    assert_eq!(world.send_times_to(3), [utc("2027-03-28T14:00:00Z")]);
}

#[test]
fn a_local_time_skipped_by_the_clocks_goes_when_the_clocks_have_jumped() {
    let world = world_with_three_zones("gap");
    let request = ScheduleRequest {
        send_at: "2027-03-28T02:30".into(),
        ..local_ten("")
    };
    world.try_schedule("gap", &request).unwrap();
    for at in [
        "2027-03-27T12:30:00Z",
        "2027-03-27T17:30:00Z",
        "2027-03-28T01:30:00Z",
    ] {
        world.tick_at(utc(at));
    }
    // 02:30 does not exist in Berlin that night: it goes at 03:30 summer time, as long after 02:00
    // as 02:30 would have been.
    assert_eq!(world.send_times_to(2), [utc("2027-03-28T01:30:00Z")]);
    assert_eq!(world.send_times_to(1), [utc("2027-03-27T17:30:00Z")]);
}

#[test]
fn zones_where_the_time_had_passed_when_scheduled_are_skipped_with_the_reason() {
    let world = world_with_three_zones("late");
    // At 10:00 UTC on 1 November, 10:00 has passed in Tokyo and Berlin, not in New York.
    world
        .try_schedule("late", &local_ten("2026-11-01"))
        .unwrap();
    world.tick();
    world.tick_at(utc("2026-11-01T15:00:00Z"));
    world.drain();
    assert_eq!(world.send_times_to(3), [utc("2026-11-01T15:00:00Z")]);
    for chat in [1, 2, 4] {
        let DeliveryState::Skipped { reason } = world.state_of("late", chat) else {
            panic!("chat {chat} must be skipped");
        };
        assert!(
            reason.starts_with("local_time_passed: 2026-11-01 10:00 had already passed in "),
            "{reason}"
        );
    }
    assert_eq!(world.campaign_state("late"), CampaignState::Completed);
    assert_eq!(
        world.counters("late", [counter::SENT, counter::SKIPPED]),
        [1, 3]
    );
}

#[test]
fn a_local_time_passed_in_every_zone_is_refused() {
    let world = world_with_three_zones("gone");
    // 10:00 on 31 October came last to UTC-12 at 22:00 UTC on 31 October: before now.
    let gone = world
        .try_schedule("gone", &local_ten("2026-10-31"))
        .unwrap_err();
    assert_eq!((gone.status(), gone.code()), (422, "send_at_in_past"));
    assert!(
        gone.message().contains("has passed in every timezone"),
        "{}",
        gone.message()
    );
    let now = ScheduleRequest {
        send_at: "now".into(),
        ..local_ten("")
    };
    assert_eq!(
        world.try_schedule("gone", &now).unwrap_err().code(),
        "local_send_at_required"
    );
    let without_zone = ScheduleRequest {
        timezone: None,
        ..local_ten("2026-11-02")
    };
    assert_eq!(
        world
            .try_schedule("gone", &without_zone)
            .unwrap_err()
            .code(),
        "timezone_required"
    );
    assert_eq!(world.campaign_state("gone"), CampaignState::Draft);
}
