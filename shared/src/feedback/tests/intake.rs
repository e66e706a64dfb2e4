//! What the intake accepts: event batches as the subscriptions component sends them, each invalid event
//! rejected on its own, and batches up to a size.

use super::world::{receipt, reply, t0, telegram_user, World};
use crate::event::{rating_button_data, EventBatch, ReceiptStatus};
use crate::feedback::{EventOutcome, FeedbackSettings, MAX_EVENTS_PER_BATCH};
use crate::subscriber::SubscriberId;

#[test]
fn invalid_events_are_rejected_one_by_one() {
    let world = World::new();
    let bad_subscriber: SubscriberId = serde_json::from_str("\"nonsense\"").unwrap();
    let report = world.apply(&[
        reply(&bad_subscriber, "1", "x", t0()),
        reply(&telegram_user(), "", "x", t0()),
        reply(&telegram_user(), "7", "fine", t0()),
    ]);
    assert_eq!(report.rejected, 2);
    assert_eq!(report.applied, 1);
    assert!(
        matches!(&report.results[0], EventOutcome::Rejected { reason } if reason.contains("subscriber id"))
    );
    let too_many = vec![receipt("w", ReceiptStatus::Sent); MAX_EVENTS_PER_BATCH + 1];
    assert_eq!(
        world
            .apply_with(&FeedbackSettings::default(), &too_many)
            .unwrap_err()
            .status(),
        413
    );
}

#[test]
fn event_batches_from_the_subscriptions_component_decode() {
    let body = format!(
        r#"{{"events":[{{"type":"button_press","subscriber":"telegram:shop:42","press_id":"4382","data":"{}","at":"2026-03-01T10:00:00Z"}},{{"type":"receipt","platform":"whatsapp","message_id":"wamid.1","status":"read","at":"2026-03-01T10:00:00Z"}}]}}"#,
        rating_button_data("spring", 5)
    );
    let batch: EventBatch = serde_json::from_str(&body).unwrap();
    let world = World::new();
    let report = world.apply(&batch.events);
    assert_eq!(report.applied, 2);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["results"][0]["outcome"], "rating");
    assert!(json.get("press_answers").is_none());
}
