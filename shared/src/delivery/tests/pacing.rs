//! Sends keep to the channel's rate, and a pause of the channel holds every tick's sends.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use super::fake_messenger::rate_limited;
use super::world::{start, World};

#[test]
fn pacing_spaces_sends_at_the_channel_rate() {
    let world = World::campaign_to(1..=30).sending_per_second(5);
    world.tick();
    let times: Vec<DateTime<Utc>> = world.sends().into_iter().map(|(_, t)| t).collect();
    assert_eq!(times.len(), 30);
    assert!(
        times
            .windows(2)
            .all(|w| w[1] - w[0] >= Duration::milliseconds(200)),
        "{times:?}"
    );
    // 30 messages at 5/s take (30 - 1) * 200 ms of manual-clock time.
    assert_eq!(times[29] - times[0], Duration::milliseconds(29 * 200));
}

#[test]
fn a_huge_retry_after_does_not_panic_the_tick() {
    let world = World::campaign_to(1..=1);
    world.answer(1, [rate_limited(u64::MAX)]);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        world.tick_as("t1", Duration::seconds(20))
    }));
    assert!(outcome.is_ok_and(|r| r.is_ok()));
    assert!(world.pace().paused_until <= Some(start() + Duration::seconds(3_600)));
}

#[test]
fn a_pause_recorded_by_an_overlapping_tick_stops_sends_already_planned() {
    let paused_at = Mutex::new(None);
    let world = World::campaign_to(1..=5);
    world.on_send(2, |w| {
        let until = w.now() + Duration::seconds(30);
        w.pause_channel_until(until);
        *paused_at.lock().unwrap() = Some((w.now(), until));
    });
    let report = world.tick();
    let (from, until) = paused_at.lock().unwrap().unwrap();
    let during: Vec<_> = world
        .sends()
        .into_iter()
        .filter(|(_, at)| *at > from && *at < until)
        .collect();
    assert!(
        during.is_empty(),
        "sent while the channel was paused: {during:?}"
    );
    assert_eq!(report.sent, 5, "the rest went out after the pause");
    assert!(world.each_sent_once());
}
