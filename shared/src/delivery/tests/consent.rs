//! Consent is read again before each send: a withdrawal at any time before it is honoured.

use chrono::Duration;

use super::world::{skipped, start, World};
use crate::delivery::DeliveryState;
use crate::event::counter;
use crate::subscriber::ConsentAction;

#[test]
fn consent_withdrawn_after_scheduling_is_skipped_with_the_reason() {
    let world = World::campaign_to(1..=3);
    let later = start() + Duration::seconds(1);
    world.record_consent(2, ConsentAction::Unsubscribed, later);
    world.record_consent(3, ConsentAction::Blocked, later);
    world.advance(Duration::seconds(2));
    world.tick();
    assert!(matches!(
        world.state_of("c1", 1),
        DeliveryState::Sent { .. }
    ));
    assert_eq!(world.state_of("c1", 2), skipped("unsubscribed"));
    assert_eq!(world.state_of("c1", 3), skipped("blocked"));
    assert_eq!(world.sends_per_chat().keys().collect::<Vec<_>>(), ["1"]);
    assert_eq!(
        world.counters("c1", [counter::SKIPPED, counter::TARGETED]),
        [2, 3]
    );
}

#[test]
fn consent_withdrawn_after_the_batch_was_claimed_is_checked_again_before_sending() {
    let world = World::campaign_to(1..=80);
    // While the first wave goes out, chat 60 unsubscribes: its wave (the third, a wave a second)
    // starts more than a second after the chunk was judged, so its consent is read again.
    world.on_send(2, |w| {
        w.record_consent(60, ConsentAction::Unsubscribed, w.now())
    });
    world.tick();
    assert_eq!(world.state_of("c1", 60), skipped("unsubscribed"));
    assert_eq!(world.send_count(), 79);
}

#[test]
fn consent_withdrawn_while_waiting_for_the_slot_is_honoured() {
    let world = World::campaign_to(1..=1);
    // Another tick got a 429 a moment ago: the channel is paused for 30 s.
    world.pause_channel_until(start() + Duration::seconds(30));
    world.on_wait_of_at_least(Duration::seconds(10), |w| {
        w.record_consent(
            1,
            ConsentAction::Unsubscribed,
            w.now() - Duration::seconds(5),
        )
    });
    world.tick();
    assert!(
        world.sends().is_empty(),
        "sent to a recipient who unsubscribed 25 s before the send: {:?}",
        world.sends()
    );
    assert_eq!(world.state_of("c1", 1), skipped("unsubscribed"));
}
