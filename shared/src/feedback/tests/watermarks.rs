//! Receipts by watermark: a delivery or read watermark credits the person's last campaign message when
//! it was sent before the watermark, once, however often watermarks repeat.

use chrono::Duration;

use super::world::{t0, World};
use crate::event::{counter, InboundEvent, ReceiptStatus};
use crate::feedback::EventOutcome;
use crate::subscriber::SubscriberId;

fn page_user() -> SubscriberId {
    SubscriberId::parse("messenger:1691462197845448:1134343043305865")
        .expect("a valid subscriber id")
}

fn watermark(status: ReceiptStatus, minutes_after_t0: i64) -> InboundEvent {
    InboundEvent::Watermark {
        subscriber: page_user(),
        status,
        up_to: t0() + Duration::minutes(minutes_after_t0),
    }
}

/// The dispatcher's record of a send with no message-id mapping (platforms with watermarks keep only
/// the person's last campaign message).
fn record_last_message(world: &World, campaign: &str, message_id: &str, minutes_after_t0: i64) {
    let sent = world.record_send(
        campaign,
        &page_user(),
        message_id,
        t0() + Duration::minutes(minutes_after_t0),
    );
    world.forget_reference(&sent);
}

#[test]
fn delivery_and_read_watermarks_credit_the_last_message_once() {
    let world = World::new();
    record_last_message(&world, "spring", "m_1", 0);
    let report = world.apply(&[
        watermark(ReceiptStatus::Delivered, 1),
        watermark(ReceiptStatus::Delivered, 2),
        watermark(ReceiptStatus::Read, 3),
    ]);
    assert!(matches!(
        &report.results[0],
        EventOutcome::Receipt { message_id, status: ReceiptStatus::Delivered, campaign_id: Some(c) }
            if message_id == "m_1" && c == "spring"
    ));
    assert_eq!(report.results[1], EventOutcome::Duplicate);
    world.apply(&[
        watermark(ReceiptStatus::Read, 4),
        watermark(ReceiptStatus::Delivered, 5),
    ]);
    assert_eq!(world.counter("spring", counter::DELIVERED), 1);
    assert_eq!(world.counter("spring", counter::READ), 1);
    let stats = world.stats("spring");
    assert_eq!(stats.delivered, 1);
    assert_eq!(stats.read, 1);
    let rows = world.export_jsonl(Some("spring"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "read");
}

#[test]
fn a_read_watermark_alone_counts_as_delivered_too() {
    let world = World::new();
    record_last_message(&world, "spring", "m_1", 0);
    world.apply(&[watermark(ReceiptStatus::Read, 10)]);
    assert_eq!(world.counter("spring", counter::DELIVERED), 1);
    assert_eq!(world.counter("spring", counter::READ), 1);
}

#[test]
fn a_watermark_before_the_message_or_without_one_credits_nothing() {
    let world = World::new();
    let report = world.apply(&[watermark(ReceiptStatus::Read, 0)]);
    assert_eq!(report.results, [EventOutcome::NoMessageCovered]);
    record_last_message(&world, "spring", "m_1", 30);
    let report = world.apply(&[watermark(ReceiptStatus::Delivered, 20)]);
    assert_eq!(report.results, [EventOutcome::NoMessageCovered]);
    assert_eq!(world.counter("spring", counter::DELIVERED), 0);
}

#[test]
fn the_next_campaign_message_is_credited_by_later_watermarks() {
    let world = World::new();
    record_last_message(&world, "spring", "m_1", 0);
    world.apply(&[watermark(ReceiptStatus::Read, 1)]);
    record_last_message(&world, "summer", "m_2", 60);
    world.apply(&[
        watermark(ReceiptStatus::Read, 30),
        watermark(ReceiptStatus::Delivered, 61),
    ]);
    assert_eq!(world.counter("spring", counter::READ), 1);
    assert_eq!(world.counter("summer", counter::DELIVERED), 1);
    assert_eq!(world.counter("summer", counter::READ), 0);
}

#[test]
fn watermarks_of_sent_or_failed_are_rejected() {
    let world = World::new();
    let report = world.apply(&[
        watermark(ReceiptStatus::Sent, 1),
        watermark(ReceiptStatus::Failed, 1),
    ]);
    assert_eq!(report.rejected, 2);
}
