//! Recurring campaigns: a run per local date, each for whoever newly matches, each person at most once
//! per N days, each date run once however the ticks overlap, counted per run and in total.

use chrono::{DateTime, Duration, Utc};

use super::world::{start, subscriber_id, World};
use crate::campaign::{CampaignState, ScheduleRequest};
use crate::delivery::{self, Step};
use crate::kv::KvStore;
use crate::subscriber::SubscriberId;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Create campaign `id` to `audience` and schedule it every day at `at` Berlin time, at most once per
/// `days` days per person.
fn daily(world: &World<'_>, id: &str, audience: &str, at: &str, days: u32) {
    world.create_campaign(&format!(
        r#"{{"id": "{id}", "name": "Daily", "channel": "telegram:shop", "template_id": "welcome", "audience": {audience}}}"#
    ));
    let request: ScheduleRequest = serde_json::from_str(&format!(
        r#"{{"recurring": {{"every": "day", "at": "{at}", "timezone": "Europe/Berlin", "once_per_days": {days}}}}}"#
    ))
    .unwrap();
    world.try_schedule(id, &request).unwrap();
}

fn chats(ids: &[u32]) -> Vec<SubscriberId> {
    ids.iter().copied().map(subscriber_id).collect()
}

fn run_dates(world: &World<'_>, id: &str) -> Vec<(String, &'static str, i64)> {
    delivery::runs(world.store(), id, world.now())
        .unwrap()
        .runs
        .into_iter()
        .map(|r| (r.run, r.state, r.counts.sent))
        .collect()
}

#[test]
fn each_day_sends_to_the_newly_matching_only_and_stays_scheduled_between_runs() {
    let world = World::new();
    world.subscribe_tagged(1, &["winback"]);
    world.subscribe_tagged(2, &["winback"]);
    world.subscribe(3);
    // At 11:00 in Berlin on 1 November: the first run is on 2 November at 09:00 (08:00 UTC).
    daily(&world, "c1", r#"{"all_tags": ["winback"]}"#, "09:00", 30);
    world.tick_at(utc("2026-11-02T07:59:00Z"));
    assert_eq!(world.send_count(), 0, "not before 09:00 Berlin");
    world.tick_at(utc("2026-11-02T08:00:00Z"));
    world.drain();
    assert_eq!(world.recipients("c1@2026-11-02"), chats(&[1, 2]));
    assert_eq!(world.campaign_state("c1"), CampaignState::Scheduled);
    assert_eq!(world.progress("c1").run.as_deref(), Some("c1@2026-11-03"));

    world.subscribe_tagged(3, &["winback"]);
    world.tick_at(utc("2026-11-03T08:00:00Z"));
    world.drain();
    assert_eq!(
        world.recipients("c1@2026-11-03"),
        chats(&[3]),
        "1 and 2 were sent within 30 days"
    );
    assert!(world.each_sent_once());
    assert_eq!(
        world.counters("c1", ["sent", "targeted"]),
        [3, 3],
        "in total"
    );
    assert_eq!(world.counter("c1@2026-11-02", "sent"), 2, "per run");
    assert_eq!(world.counter("c1@2026-11-03", "sent"), 1, "per run");
    assert_eq!(
        run_dates(&world, "c1"),
        [
            ("c1@2026-11-02".to_owned(), "ended", 2),
            ("c1@2026-11-03".to_owned(), "ended", 1),
            ("c1@2026-11-04".to_owned(), "scheduled", 0),
        ]
    );
}

#[test]
fn a_person_is_not_sent_again_within_n_days_and_is_after() {
    let world = World::new();
    world.subscribe(1);
    daily(&world, "c1", "{}", "09:00", 3);
    let mut sent_on = Vec::new();
    for day in 2..=8 {
        world.tick_at(utc(&format!("2026-11-{day:02}T08:00:00Z")));
        world.drain();
        if world.recipients(&format!("c1@2026-11-{day:02}")) == chats(&[1]) {
            sent_on.push(day);
        }
    }
    assert_eq!(sent_on, [2, 5, 8], "every third day");
    assert_eq!(world.send_count(), 3);
    assert_eq!(world.counter("c1", "sent"), 3);
}

#[test]
fn overlapping_ticks_run_each_date_once() {
    let world = World::new().in_batches_of(2);
    world.subscribe_all(1..=5);
    daily(&world, "c1", "{}", "09:00", 1);
    // Another tick comes while the first is sending, and again and again all day.
    world.on_send(2, |w| {
        w.tick_as("other", Duration::seconds(60)).unwrap();
    });
    let report = world.tick_at(utc("2026-11-02T08:00:00Z"));
    let started = report
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Started { .. }))
        .count();
    assert_eq!(started, 1);
    for _ in 0..6 {
        world.advance(Duration::hours(2));
        world.tick_as("late", Duration::seconds(60)).unwrap();
    }
    world.drain();
    assert!(world.each_sent_once(), "{:?}", world.sends_per_chat());
    assert_eq!(world.send_count(), 5);
    assert_eq!(world.recipients("c1@2026-11-02").len(), 5);
    // The next day everyone is sent once more (once per day), by exactly one run.
    world.tick_at(utc("2026-11-03T08:00:00Z"));
    world.tick_as("twin", Duration::seconds(60)).unwrap();
    world.drain();
    assert_eq!(world.send_count(), 10);
    assert_eq!(world.counter("c1", "sent"), 10);
    let runs = run_dates(&world, "c1");
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert_eq!(runs[0].2 + runs[1].2, 10);
}

#[test]
fn a_run_on_the_day_clocks_change_sends_at_the_local_hour() {
    let world = World::new();
    world.subscribe(1);
    // Berlin springs forward on 28 March 2027 (UTC+1 → UTC+2).
    world.advance(utc("2027-03-27T12:00:00Z") - start());
    daily(&world, "c1", "{}", "10:00", 1);
    world.tick_at(utc("2027-03-28T07:59:00Z"));
    assert_eq!(
        world.send_count(),
        0,
        "08:59 UTC would be 10:59 in summer time"
    );
    world.tick_at(utc("2027-03-28T08:00:00Z"));
    world.drain();
    world.tick_at(utc("2027-03-29T08:00:00Z"));
    world.drain();
    assert_eq!(
        world.send_times_to(1),
        [utc("2027-03-28T08:00:00Z"), utc("2027-03-29T08:00:00Z")]
    );
}

#[test]
fn cancelling_stops_the_runs_and_keeps_the_totals() {
    let world = World::new();
    world.subscribe(1);
    daily(&world, "c1", "{}", "09:00", 1);
    world.tick_at(utc("2026-11-02T08:00:00Z"));
    world.drain();
    world.cancel("c1");
    world.tick_at(utc("2026-11-03T08:00:00Z"));
    world.drain();
    assert_eq!(world.send_count(), 1);
    assert_eq!(world.campaign_state("c1"), CampaignState::Cancelled);
    assert!(world.active_campaigns().is_empty());
    assert_eq!(world.counter("c1", "sent"), 1);
}

#[test]
fn erasing_a_person_erases_the_marks_of_the_campaigns_that_sent_them() {
    let world = World::new();
    world.subscribe(1);
    daily(&world, "c1", "{}", "09:00", 30);
    world.tick_at(utc("2026-11-02T08:00:00Z"));
    world.drain();
    let marks = crate::keys::recurring_marks(&subscriber_id(1));
    assert!(world.store().get(&marks).unwrap().is_some());
    crate::erasure::erase_subscriber(world.store(), &subscriber_id(1), world.now()).unwrap();
    assert!(world.store().get(&marks).unwrap().is_none());
}

#[test]
fn a_run_per_recipient_timezone_judges_each_birthday_on_the_run_s_date_where_they_live() {
    let world = World::new();
    for (chat, zone, birthday) in [
        (1, "Asia/Tokyo", "--11-02"),
        (2, "Europe/Berlin", "--11-02"),
        (3, "America/New_York", "--11-02"),
        (4, "America/New_York", "--11-01"),
    ] {
        world.subscribe(chat);
        world.set_timezone(chat, zone);
        world.set_attribute_to(chat, "birthday", birthday);
    }
    world.create_campaign(
        r#"{"id": "c1", "name": "Birthday", "channel": "telegram:shop", "template_id": "welcome",
            "audience": {"conditions": [{"attribute": "birthday", "op": "anniversary_today"}]}}"#,
    );
    let request: ScheduleRequest = serde_json::from_str(
        r#"{"recurring": {"every": "day", "at": "09:00", "timezone": "Europe/Berlin", "per_recipient_timezone": true, "once_per_days": 300}}"#,
    )
    .unwrap();
    world.try_schedule("c1", &request).unwrap();
    // The run of 2 November starts when 09:00 first comes anywhere (UTC+14): still 1 November in
    // New York, where chat 4's birthday is, and chat 3's is not yet.
    for at in [
        "2026-11-01T19:00:00Z",
        "2026-11-02T00:00:00Z",
        "2026-11-02T08:00:00Z",
        "2026-11-02T14:00:00Z",
    ] {
        world.tick_at(utc(at));
    }
    world.drain();
    assert_eq!(world.recipients("c1@2026-11-02"), chats(&[1, 2, 3]));
    assert_eq!(world.send_times_to(1), [utc("2026-11-02T00:00:00Z")]);
    assert_eq!(world.send_times_to(2), [utc("2026-11-02T08:00:00Z")]);
    assert_eq!(world.send_times_to(3), [utc("2026-11-02T14:00:00Z")]);
}

#[test]
fn deleting_a_cancelled_recurring_campaign_removes_every_run_s_ledger() {
    let world = World::new();
    world.subscribe(1);
    daily(&world, "c1", "{}", "09:00", 1);
    for day in ["2026-11-02", "2026-11-03"] {
        world.tick_at(utc(&format!("{day}T08:00:00Z")));
        world.drain();
    }
    world.cancel("c1");
    world.drain();
    let deletion = crate::deletion::delete_campaign(world.store(), "c1", world.now()).unwrap();
    assert_eq!(deletion.ledger_batches, 2);
    assert!(world.batch("c1@2026-11-02", 0).is_none());
    assert!(world.batch("c1@2026-11-03", 0).is_none());
    assert_eq!(world.counter("c1", "sent"), 2, "the statistics stay");
}

#[test]
fn a_message_whose_answer_was_lost_counts_as_sent_for_the_once_per_days() {
    let world = World::new();
    world.subscribe_all(1..=3);
    daily(&world, "c1", "{}", "09:00", 2);
    world.advance(utc("2026-11-02T08:00:00Z") - world.now());
    // The tick dies while the second message is in flight.
    world.on_send(2, |w| w.store().crash());
    world.crashing_tick();
    world.store().recover();
    world.drain();
    assert_eq!(world.send_count(), 3);
    assert!(matches!(
        world.state_of("c1@2026-11-02", 2),
        crate::delivery::DeliveryState::Failed { .. }
    ));
    // The next day nobody is sent (once per two days), the unknown one included; the day after, all.
    world.tick_at(utc("2026-11-03T08:00:00Z"));
    world.drain();
    assert_eq!(world.send_count(), 3);
    world.tick_at(utc("2026-11-04T08:00:00Z"));
    world.drain();
    assert_eq!(world.send_count(), 6);
    assert!(world.sends_per_chat().values().all(|&n| n == 2));
}

#[test]
fn the_estimate_of_the_next_run_leaves_out_the_recently_sent() {
    let world = World::new();
    world.subscribe_all(1..=2);
    daily(&world, "c1", "{}", "09:00", 30);
    world.tick_at(utc("2026-11-02T08:00:00Z"));
    world.drain();
    world.subscribe(3);
    let estimate = world.estimate("c1");
    assert_eq!(
        (
            estimate.matched,
            estimate.recently_sent,
            estimate.recipients
        ),
        (3, 2, 1)
    );
    world.tick_at(utc("2026-11-03T08:00:00Z"));
    world.drain();
    assert_eq!(world.recipients("c1@2026-11-03"), chats(&[3]));
}
