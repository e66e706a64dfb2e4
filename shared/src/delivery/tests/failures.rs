//! What the platform refuses for good, or what cannot be rendered, fails or skips only that recipient,
//! with the platform's words.

use super::fake_messenger::{bad_request, blocked_by_user, outside_service_window};
use super::world::{failed, subscriber_id, World};
use crate::delivery::DeliveryState;
use crate::directory;
use crate::event::counter;
use crate::messenger::SendOutcome;
use crate::subscriber::SubscriptionStatus;

/// Campaign `c1` sent to chat 1 alone, whose send the platform answers with `answer`.
fn one_send_answered(answer: SendOutcome) -> World<'static> {
    let world = World::campaign_to(1..=1);
    world.answer(1, [answer]);
    world.tick();
    world
}

#[test]
fn a_render_failure_fails_only_that_recipient() {
    let world = World::new();
    world.subscribe_all(1..=2);
    world.set_attribute(2, "broken");
    world.launch("c1");
    world.tick();
    assert_eq!(
        world.state_of("c1", 2),
        failed("template_render_failed", "undefined value")
    );
    assert!(matches!(
        world.state_of("c1", 1),
        DeliveryState::Sent { .. }
    ));
}

#[test]
fn a_blocked_recipient_is_suppressed_and_recorded_blocked() {
    let world = one_send_answered(blocked_by_user());
    assert_eq!(
        world.state_of("c1", 1),
        DeliveryState::Blocked {
            code: "403".into(),
            reason: "Forbidden: bot was blocked by the user".into()
        }
    );
    let subscriber = directory::get(world.store(), &subscriber_id(1)).unwrap();
    assert_eq!(subscriber.status, SubscriptionStatus::Blocked);
    let evidence = subscriber.consent.last().unwrap();
    assert_eq!(evidence.source, "send:403");
    assert!(evidence.evidence.contains("c1"));
    assert_eq!(world.counter("c1", counter::BLOCKED), 1);
    assert_eq!(world.send_count(), 1, "never retried");
}

#[test]
fn a_bad_request_fails_with_the_platform_description() {
    let world = one_send_answered(bad_request());
    assert_eq!(
        world.state_of("c1", 1),
        failed("400", "Bad Request: can't parse entities")
    );
    assert_eq!(world.send_count(), 1);
}

#[test]
fn a_recipient_outside_the_service_window_without_an_approved_template_is_skipped_with_why() {
    let world = one_send_answered(outside_service_window());
    match world.state_of("c1", 1) {
        DeliveryState::Skipped { reason } => {
            assert!(reason.starts_with("outside_service_window"), "{reason}")
        }
        other => panic!("expected skipped, got {other:?}"),
    }
    assert_eq!(
        world.counters("c1", [counter::SKIPPED, counter::FAILED]),
        [1, 0]
    );
}
