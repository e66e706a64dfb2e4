//! Delivery and read receipts count each message at most once, whatever order and however often they
//! arrive, including before the dispatcher recorded the message.

use std::collections::HashMap;

use super::world::{receipt, sent_ref, t0, whatsapp_user, World};
use crate::event::{counter, InboundEvent, PlatformError, ReceiptStatus, SentMessageRef};
use crate::feedback::effects::Effects;
use crate::feedback::receipt::{apply_receipts, ReceiptChange, StatusReport};
use crate::feedback::{credit_early_receipts, EventOutcome};
use crate::keys;
use crate::kv::KvStore;
use crate::subscriber::{Platform, SubscriberId};

#[test]
fn receipts_out_of_order_and_repeated_count_each_message_once() {
    let world = World::new();
    world.record_send("spring", &whatsapp_user(), "wamid.1", t0());
    let report = world.apply(&[
        receipt("wamid.1", ReceiptStatus::Read),
        receipt("wamid.1", ReceiptStatus::Delivered),
        receipt("wamid.1", ReceiptStatus::Sent),
    ]);
    assert_eq!(report.applied, 3);
    world.apply(&[
        receipt("wamid.1", ReceiptStatus::Read),
        receipt("wamid.1", ReceiptStatus::Delivered),
    ]);
    assert_eq!(world.counter("spring", counter::DELIVERED), 1);
    assert_eq!(world.counter("spring", counter::READ), 1);
    let rows = world.export_jsonl(Some("spring"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "read");
    assert_eq!(rows[0]["subscriber_id"], whatsapp_user().as_str());
}

#[test]
fn read_without_delivered_counts_as_delivered_and_a_reported_failure_is_final() {
    let world = World::new();
    world.record_send("spring", &whatsapp_user(), "wamid.1", t0());
    let other = SubscriberId::parse("whatsapp:123456:4915112345679").unwrap();
    world.record_send("spring", &other, "wamid.2", t0());
    let failed = InboundEvent::Receipt {
        platform: Platform::Whatsapp,
        message_id: "wamid.2".into(),
        status: ReceiptStatus::Failed,
        at: t0(),
        error: Some(PlatformError {
            code: "131026".into(),
            title: "Message undeliverable".into(),
        }),
    };
    let report = world.apply(&[
        receipt("wamid.1", ReceiptStatus::Read),
        failed,
        receipt("wamid.2", ReceiptStatus::Delivered),
    ]);
    assert!(
        matches!(
            &report.results[2],
            EventOutcome::Receipt {
                status: ReceiptStatus::Failed,
                ..
            }
        ),
        "{:?}",
        report.results
    );
    // A read reported after the failure neither undoes it nor counts.
    world.apply(&[receipt("wamid.2", ReceiptStatus::Read)]);
    let stats = world.stats("spring");
    assert_eq!((stats.delivered, stats.read, stats.failed), (1, 1, 1));
    assert_eq!(stats.open_rate, Some(1.0));
    let rows = world.export_jsonl(Some("spring"));
    assert_eq!(rows[1]["status"], "failed");
    assert_eq!(rows[1]["text"], "131026: Message undeliverable");
}

#[test]
fn early_receipts_are_credited_once_when_the_dispatcher_records_the_message() {
    let world = World::new();
    // Receipts overtake the dispatcher's write of the reference.
    let report = world.apply(&[
        receipt("wamid.1", ReceiptStatus::Delivered),
        receipt("wamid.1", ReceiptStatus::Read),
    ]);
    assert_eq!(
        report.results[1],
        EventOutcome::Receipt {
            message_id: "wamid.1".into(),
            status: ReceiptStatus::Read,
            campaign_id: None
        }
    );
    assert_eq!(world.counter("spring", counter::DELIVERED), 0);
    let sent = world.record_send("spring", &whatsapp_user(), "wamid.1", t0());
    let never_reported = SentMessageRef {
        message_id: "wamid.9".into(),
        ..sent.clone()
    };
    credit_early_receipts(world.store(), &[sent.clone(), never_reported.clone()]).unwrap();
    credit_early_receipts(world.store(), &[sent.clone(), never_reported]).unwrap();
    // A redelivered status after crediting changes nothing either.
    world.apply(&[receipt("wamid.1", ReceiptStatus::Read)]);
    assert_eq!(world.counter("spring", counter::DELIVERED), 1);
    assert_eq!(world.counter("spring", counter::READ), 1);
    assert_eq!(world.export_jsonl(Some("spring")).len(), 1);
    assert!(!world
        .store()
        .exists(&keys::receipt("whatsapp", "wamid.9"))
        .unwrap());
}

#[test]
fn receipt_written_between_the_reference_and_crediting_is_still_credited() {
    let world = World::new();
    // The dispatcher wrote the reference after this batch read references (simulated by a change that
    // names no reference while the store holds one): the receipt path looks again after writing.
    let sent = sent_ref("spring", &whatsapp_user(), "wamid.1", t0());
    world.record_reference(&sent);
    let report = StatusReport {
        platform: Platform::Whatsapp,
        message_id: "wamid.1",
        status: ReceiptStatus::Delivered,
        at: t0(),
        error: None,
    };
    let mut effects = Effects::default();
    let outcomes = apply_receipts(
        world.store(),
        &[ReceiptChange::status(&report, None)],
        &HashMap::new(),
        &mut effects,
    )
    .unwrap();
    effects.flush(world.store()).unwrap();
    assert!(
        matches!(outcomes[0], EventOutcome::Receipt { .. }),
        "{outcomes:?}"
    );
    credit_early_receipts(world.store(), &[sent]).unwrap();
    assert_eq!(world.counter("spring", counter::DELIVERED), 1);
    assert_eq!(world.export_jsonl(Some("spring")).len(), 1);
}

#[test]
fn a_read_status_keeps_the_day_of_the_person_s_last_read_on_their_record() {
    use crate::directory;
    use crate::subscriber::{Address, Channel};

    let world = World::new();
    let channel = Channel::parse("whatsapp:123456").unwrap();
    let address = Address::parse(Platform::Whatsapp, "4915112345678").unwrap();
    directory::touch(world.store(), &channel, &address, t0(), true, |_| {}).unwrap();
    world.record_send("spring", &whatsapp_user(), "wamid.1", t0());

    world.apply(&[receipt("wamid.1", ReceiptStatus::Delivered)]);
    let record = directory::get(world.store(), &whatsapp_user()).unwrap();
    assert_eq!(record.last_read_at, None, "delivered is not read");

    world.apply(&[receipt("wamid.1", ReceiptStatus::Read)]);
    let record = directory::get(world.store(), &whatsapp_user()).unwrap();
    assert_eq!(record.last_read_at, Some(t0()));
}
