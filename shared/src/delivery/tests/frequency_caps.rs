//! Frequency caps: a person over a cap is skipped with the reason, in their own time zone, exactly, and
//! however many campaigns and ticks send to them at once.

use std::sync::Mutex;

use chrono::{Duration, Utc};
use chrono_tz::Tz;

use super::crash_store::Write;
use super::fake_messenger::{bad_request, server_error};
use super::world::World;
use crate::delivery::caps::{self, MessageKind, PastSend, Reservation};
use crate::delivery::{DeliveryState, FrequencyCaps};
use crate::event::counter;
use crate::keys;
use crate::kv::KvStore;

const ONE_A_DAY: &str = "promotional:1/calendar_day";

fn is_capped(state: &DeliveryState) -> bool {
    matches!(state, DeliveryState::Skipped { reason } if reason.starts_with("frequency_cap: "))
}

fn is_sent(state: &DeliveryState) -> bool {
    matches!(state, DeliveryState::Sent { .. })
}

/// How many recipients of campaign `id` were capped.
fn capped_in(world: &World, id: &str) -> usize {
    world
        .ledger(id)
        .iter()
        .filter(|e| is_capped(&e.outcome))
        .count()
}

#[test]
fn a_person_at_the_cap_is_skipped_with_the_reason_and_counted_like_other_skips() {
    let world = World::campaign_to(1..=5).capped_at(ONE_A_DAY);
    assert_eq!(world.tick().sent, 5);
    world.launch("c2");
    let report = world.tick();
    assert_eq!((report.sent, report.skipped), (0, 5));
    assert_eq!(world.send_count(), 5);
    assert_eq!(
        world.state_of("c2", 1),
        DeliveryState::Skipped {
            reason: "frequency_cap: at most 1 promotional message per calendar day (UTC)".into()
        }
    );
    assert_eq!(
        world.counters("c2", [counter::TARGETED, counter::SENT, counter::SKIPPED]),
        [5, 0, 5]
    );
    assert_eq!(world.progress("c2").counts.skipped, 5);
}

#[test]
fn without_caps_nothing_is_recorded_or_capped() {
    let world = World::campaign_to(1..=3);
    world.tick();
    world.launch("c2");
    assert_eq!(world.tick().sent, 3);
    assert_eq!(world.history_of(1).sends, vec![]);
}

#[test]
fn the_calendar_day_is_the_persons_own() {
    let world = World::campaign_to(1..=2).capped_at(ONE_A_DAY);
    // 10:00 UTC on 1 November is 19:00 in Tokyo; five hours later Tokyo is in 2 November, UTC is not.
    world.set_timezone(1, "Asia/Tokyo");
    assert_eq!(world.tick().sent, 2);
    world.advance(Duration::hours(5));
    world.launch("c2");
    world.tick();
    assert!(is_sent(&world.state_of("c2", 1)));
    assert!(is_capped(&world.state_of("c2", 2)));
}

#[test]
fn a_person_without_a_zone_counts_days_in_the_campaigns_zone() {
    let world = World::new().capped_at(ONE_A_DAY);
    world.subscribe_all(1..=1);
    world.launch("c1");
    world.tick();
    // 23:30 in Berlin (22:30 UTC) is already the next day there, not yet in UTC.
    world.advance(Duration::minutes(12 * 60 + 30));
    world.create_campaign(
        r#"{"id": "c2", "name": "Late", "channel": "telegram:shop", "template_id": "welcome"}"#,
    );
    world.schedule("c2", "2026-11-01T23:30:00", Some("Europe/Berlin"));
    world.tick();
    assert!(
        is_capped(&world.state_of("c2", 1)),
        "still 1 November in Berlin"
    );
    world.advance(Duration::hours(1));
    world.create_campaign(
        r#"{"id": "c3", "name": "Night", "channel": "telegram:shop", "template_id": "welcome"}"#,
    );
    world.schedule("c3", "2026-11-02T00:30:00", Some("Europe/Berlin"));
    world.tick();
    assert!(is_sent(&world.state_of("c3", 1)), "2 November in Berlin");
}

#[test]
fn a_rolling_window_frees_up_when_the_oldest_send_leaves_it() {
    let world = World::campaign_to(1..=3).capped_at("promotional:2/7d");
    world.tick();
    world.advance(Duration::days(3));
    world.launch("c2");
    assert_eq!(world.tick().sent, 3);
    world.advance(Duration::days(3));
    world.launch("c3");
    assert_eq!(world.tick().skipped, 3, "three sends in six days");
    world.advance(Duration::days(1));
    world.launch("c4");
    assert_eq!(world.tick().sent, 3, "the first send is seven days old");
    let sources: Vec<_> = world
        .history_of(1)
        .sends
        .into_iter()
        .map(|s| s.source.split('#').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        sources,
        ["campaign:c2", "campaign:c4"],
        "the history keeps the window"
    );
}

#[test]
fn transactional_messages_use_up_nothing_but_are_in_the_history() {
    let world = World::campaign_to(1..=1).capped_at(ONE_A_DAY);
    let caps = FrequencyCaps::parse(ONE_A_DAY).unwrap();
    let subscriber = super::world::subscriber_id(1);
    for order in 1..=3 {
        let receipt = PastSend {
            at: world.now(),
            kind: MessageKind::Transactional,
            source: format!("order:{order}"),
        };
        let reserved = caps::reserve(world.store(), &caps, &subscriber, &receipt, Tz::UTC, None);
        assert_eq!(reserved.unwrap(), Reservation::Reserved);
    }
    assert_eq!(world.tick().sent, 1, "the promotional message still goes");
    let kinds: Vec<_> = world.history_of(1).sends.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            MessageKind::Transactional,
            MessageKind::Transactional,
            MessageKind::Transactional,
            MessageKind::Promotional
        ]
    );
}

#[test]
fn a_send_that_did_not_go_out_does_not_count() {
    let world = World::campaign_to(1..=3).capped_at(ONE_A_DAY);
    world.answer(2, [bad_request()]);
    world.answer(3, [server_error()]);
    world.tick();
    assert!(matches!(
        world.state_of("c1", 2),
        DeliveryState::Failed { .. }
    ));
    assert!(is_sent(&world.state_of("c1", 3)), "sent on the retry");
    assert_eq!(world.history_of(2).sends, vec![]);
    assert_eq!(world.history_of(3).sends.len(), 1, "one send, not two");
    world.launch("c2");
    world.tick();
    assert!(is_capped(&world.state_of("c2", 1)));
    assert!(is_sent(&world.state_of("c2", 2)));
    assert!(is_capped(&world.state_of("c2", 3)));
}

#[test]
fn a_campaign_that_reserved_first_wins_over_one_that_judged_first() {
    let tick_b = Mutex::new(None);
    // At one message a second each send is a wave of its own.
    let world = World::new()
        .capped_at(ONE_A_DAY)
        .in_batches_of(10)
        .sending_per_second(1);
    world.subscribe_all(1..=10);
    world.launch("c1");
    world.launch("c2");
    // Tick A judges c1's first ten recipients (nobody is capped yet) and sends to the first; tick B
    // then sends c2 to everyone A has not reserved yet, so A loses those reservations.
    world.on_send(1, |w| *tick_b.lock().unwrap() = Some(w.tick()));
    world.tick();
    let tick_b = tick_b.lock().unwrap().take().unwrap();
    assert_eq!(tick_b.sent, 9, "{tick_b:?}");
    assert!(is_sent(&world.state_of("c1", 1)));
    assert!(is_capped(&world.state_of("c2", 1)));
    for chat in 2..=10 {
        assert!(is_capped(&world.state_of("c1", chat)), "chat {chat}");
        assert!(is_sent(&world.state_of("c2", chat)), "chat {chat}");
    }
    assert!(world.each_sent_once());
}

#[test]
fn interleaved_ticks_of_two_campaigns_never_exceed_the_cap() {
    let world = World::new().capped_at(ONE_A_DAY).in_batches_of(10);
    world.subscribe_all(1..=35);
    world.launch("c1");
    world.launch("c2");
    world.on_send(3, |w| {
        w.tick();
    });
    world.tick();
    world.drain();
    assert_eq!(world.sends_per_chat().len(), 35);
    assert!(world.each_sent_once());
    assert_eq!(capped_in(&world, "c1") + capped_in(&world, "c2"), 35);
}

#[test]
fn concurrent_ticks_on_threads_with_three_campaigns_never_exceed_two_a_week() {
    let world = World::new()
        .capped_at("promotional:2/7d,promotional:2/calendar_day")
        .in_batches_of(10);
    world.subscribe_all(1..=60);
    for id in ["c1", "c2", "c3"] {
        world.launch(id);
    }
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| world.tick_within(Duration::seconds(600)));
        }
    });
    world.drain();
    let per_chat = world.sends_per_chat();
    assert_eq!(per_chat.len(), 60);
    assert!(per_chat.values().all(|&n| n == 2), "{per_chat:?}");
    let capped: usize = ["c1", "c2", "c3"]
        .iter()
        .map(|id| capped_in(&world, id))
        .sum();
    assert_eq!(capped, 60);
}

#[test]
fn a_tick_that_died_after_reserving_is_replaced_by_the_campaigns_next_attempt() {
    let world = World::campaign_to(1..=5).capped_at(ONE_A_DAY);
    // The tick dies writing its first intent, after the wave's sends were reserved.
    world.store().crash_at(|write, key, value| {
        write == Write::Cas
            && key.starts_with("dlv:c1:")
            && String::from_utf8_lossy(value).contains("in_flight")
    });
    world.crashing_tick();
    assert_eq!(world.send_count(), 0);
    assert_eq!(world.history_of(1).sends.len(), 1, "reserved before dying");
    world.store().recover();
    world.drain();
    assert_eq!(world.send_count(), 5);
    assert!(world.each_sent_once());
    assert!((1..=5).all(|chat| world.history_of(chat).sends.len() == 1));
}

#[test]
fn a_capped_send_costs_one_compare_and_swap_and_no_read_more_per_message() {
    let run = |caps: Option<&str>| {
        let world = World::campaign_to(1..=100);
        let world = match caps {
            Some(caps) => world.capped_at(caps),
            None => world,
        };
        assert_eq!(world.tick().sent, 100);
        world.store().round_trips()
    };
    let plain = run(None);
    let capped = run(Some("promotional:2/7d,promotional:1/calendar_day"));
    let extra = |operation: &str| {
        capped.get(operation).copied().unwrap_or(0) as i64
            - plain.get(operation).copied().unwrap_or(0) as i64
    };
    assert_eq!(extra("cas"), 100, "one reservation per message");
    for operation in ["get", "get_many", "set", "set_many", "increment", "delete"] {
        assert_eq!(extra(operation), 0, "{operation}: {plain:?} / {capped:?}");
    }
}

#[test]
fn erasing_a_person_deletes_their_send_history() {
    let world = World::campaign_to(1..=1).capped_at(ONE_A_DAY);
    world.tick();
    let subscriber = super::world::subscriber_id(1);
    let key = keys::send_history(&subscriber);
    assert!(world.store().exists(&key).unwrap());
    crate::erasure::erase_subscriber(world.store(), &subscriber, Utc::now()).unwrap();
    assert!(!world.store().exists(&key).unwrap());
}
