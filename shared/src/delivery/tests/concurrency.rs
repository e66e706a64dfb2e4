//! Requests in flight together: a round trip no longer sets the pace, while pacing, 429s, per-recipient
//! limits and crashes keep their meaning.

use chrono::{DateTime, Duration};

use super::fake_messenger::{rate_limited, recipient_rate_limited};
use super::world::World;
use crate::delivery::{DeliveryState, OUTCOME_UNKNOWN};

/// The platform answers 100 ms after a request starts.
fn round_trip() -> Duration {
    Duration::milliseconds(100)
}

/// The most sends that started within any one second.
fn busiest_second(times: &[DateTime<chrono::Utc>]) -> usize {
    times
        .iter()
        .map(|&from| {
            times
                .iter()
                .filter(|&&t| t >= from && t < from + Duration::seconds(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn requests_overlap_so_a_round_trip_no_longer_sets_the_pace() {
    let world = World::campaign_to(1..=300)
        .sending_per_second(100)
        .answering_after(round_trip());
    let report = world.tick();
    assert_eq!(report.sent, 300);
    assert!(world.each_sent_once());
    let times: Vec<_> = world.sends().into_iter().map(|(_, at)| at).collect();
    let overlapping = times.windows(2).filter(|w| w[0] == w[1]).count();
    assert!(overlapping > 200, "most sends start alongside others");
    // One after another they would take 300 round trips (30 s); in flight together, 3 s at 100/s,
    // less the last wave's window (its requests start up to a second before their slots).
    let took = times[299] - times[0];
    assert!(
        took >= Duration::milliseconds(1_950) && took <= Duration::milliseconds(3_150),
        "{took:?}"
    );
    // The channel makes up at most two round trips: never more than 100 × 1.2 in any second.
    assert!(busiest_second(&times) <= 121, "{}", busiest_second(&times));
}

#[test]
fn a_429_in_flight_pauses_the_channel_and_nothing_new_starts_until_it_ends() {
    let world = World::campaign_to(1..=60)
        .sending_per_second(100)
        .answering_after(round_trip());
    world.answer(20, [rate_limited(5)]);
    let report = world.tick();
    assert_eq!(report.sent, 60);
    let first_429 = world.send_times_to(20)[0];
    let answered = first_429 + round_trip();
    let during_pause: Vec<_> = world
        .sends()
        .into_iter()
        .filter(|(_, at)| *at >= answered && *at < answered + Duration::seconds(5))
        .collect();
    assert!(during_pause.is_empty(), "{during_pause:?}");
    assert_eq!(
        world.send_times_to(20).len(),
        2,
        "tried again after the pause"
    );
    let per_chat = world.sends_per_chat();
    assert!(per_chat.iter().all(|(chat, &n)| n == 1 || chat == "20"));
}

#[test]
fn a_recipient_limit_holds_back_that_recipient_only() {
    let world = World::campaign_to(1..=100)
        .sending_per_second(50)
        .answering_after(round_trip());
    world.answer(3, [recipient_rate_limited(6)]);
    let report = world.tick();
    assert_eq!(report.sent, 100);
    let to_3 = world.send_times_to(3);
    assert_eq!(to_3.len(), 2);
    assert!(to_3[1] - to_3[0] >= Duration::seconds(6));
    // Everyone else went out at the channel's pace, without a pause: 99 more in about 2 s at 50/s.
    let others: Vec<_> = world
        .sends()
        .into_iter()
        .filter(|(chat, _)| chat != "3")
        .map(|(_, at)| at)
        .collect();
    assert!(others[98] - others[0] <= Duration::milliseconds(2_100));
    assert_eq!(world.pace().paused_until, None);
}

#[test]
fn a_crash_in_flight_writes_off_only_the_requests_that_had_started() {
    let world = World::campaign_to(1..=100)
        .sending_per_second(100)
        .answering_after(round_trip());
    world.on_send(45, |w| w.store().crash());
    world.crashing_tick();
    let sends = world.sends();
    let dying_wave_started = sends[44].1;
    let in_flight = sends
        .iter()
        .filter(|(_, at)| *at == dying_wave_started)
        .count();
    world.store().recover();
    world.advance(Duration::minutes(10));
    world.tick();
    assert!(world.each_sent_once());
    assert_eq!(world.sends_per_chat().len(), 100, "the rest were sent");
    let unknown = world
        .ledger("c1")
        .iter()
        .filter(
            |e| matches!(&e.outcome, DeliveryState::Failed { code, .. } if code == OUTCOME_UNKNOWN),
        )
        .count();
    // Only the wave in flight when the tick died ends unknown: never one that had not started.
    assert_eq!(unknown, in_flight);
    assert!(
        unknown <= 100,
        "at most one wave (the slots of a second at 100/s): {unknown}"
    );
}
