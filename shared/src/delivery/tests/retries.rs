//! A 429 pauses the channel and the same message is sent again; a 5xx is retried with doubling backoff
//! until the attempts run out.

use chrono::Duration;

use super::fake_messenger::{rate_limited, server_error};
use super::world::World;
use crate::delivery::DeliveryState;
use crate::event::counter;

#[test]
fn rate_limit_pauses_the_channel_and_retries_the_same_message_once() {
    // At two messages a second each wave carries two.
    let world = World::campaign_to(1..=4).sending_per_second(2);
    world.answer(2, [rate_limited(3)]);
    let report = world.tick();
    assert_eq!(report.sent, 4);
    assert_eq!(report.failed, 0);
    let calls = world.sends();
    let chats: Vec<&str> = calls.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        chats,
        ["1", "2", "2", "3", "4"],
        "the refused message is sent again, the others once"
    );
    assert_eq!(calls[0].1, calls[1].1, "1 and 2 went out in one wave");
    let refused_at = calls[1].1;
    assert!(
        calls[2].1 >= refused_at + Duration::seconds(3),
        "the channel waited retry_after: {calls:?}"
    );
    assert!(matches!(
        world.state_of("c1", 2),
        DeliveryState::Sent { .. }
    ));
    assert_eq!(
        world.pace().paused_until,
        Some(refused_at + Duration::seconds(3))
    );
}

#[test]
fn server_errors_are_retried_with_backoff_then_failed() {
    let world = World::campaign_to(1..=2);
    world.answer(1, (0..5).map(|_| server_error()));
    world.answer(2, [server_error(), server_error()]);
    let report = world.tick_within(Duration::seconds(120));
    assert_eq!((report.sent, report.failed), (1, 1));
    match world.state_of("c1", 1) {
        DeliveryState::Failed { code, reason } => {
            assert_eq!(code, "transient");
            assert!(
                reason.contains("5 attempts") && reason.contains("500"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        world.state_of("c1", 2),
        DeliveryState::Sent { .. }
    ));
    let times = world.send_times_to(1);
    assert_eq!(times.len(), 5);
    let gaps: Vec<i64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds())
        .collect();
    for (gap, expected) in gaps.iter().zip([1000, 2000, 4000, 8000]) {
        assert!(*gap >= expected, "backoff doubles: {gaps:?}");
    }
    assert_eq!(
        world.counters("c1", [counter::FAILED, counter::TARGETED]),
        [1, 2]
    );
}
