//! Counts stay exact when every event is delivered several times at once, in different orders, with
//! references written late.

use chrono::Duration;

use super::world::{press, receipt, reply, t0, World};
use crate::event::{rating_button_data, ReceiptStatus, SentMessageRef};
use crate::feedback::credit_early_receipts;
use crate::subscriber::SubscriberId;

#[test]
fn counts_stay_exact_under_concurrent_redeliveries() {
    let world = World::new();
    let subscribers: Vec<SubscriberId> = (0..20)
        .map(|i| SubscriberId::parse(&format!("whatsapp:123456:49151000000{i:02}")).unwrap())
        .collect();
    let sent_refs: Vec<SentMessageRef> = subscribers
        .iter()
        .enumerate()
        .map(|(i, subscriber)| world.record_send("spring", subscriber, &format!("wamid.{i}"), t0()))
        .collect();
    // Half of the messages' receipts arrive before their references exist.
    let late_refs = &sent_refs[10..];
    for sent in late_refs {
        world.forget_reference(sent);
    }
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let (world, subscribers) = (&world, &subscribers);
            scope.spawn(move || {
                let mut events = Vec::new();
                for (i, subscriber) in subscribers.iter().enumerate() {
                    let id = format!("wamid.{i}");
                    // Every thread delivers every event, in a different order.
                    let mut statuses = vec![
                        ReceiptStatus::Sent,
                        ReceiptStatus::Delivered,
                        ReceiptStatus::Read,
                    ];
                    statuses.rotate_left(thread % 3);
                    events.extend(statuses.into_iter().map(|s| receipt(&id, s)));
                    events.push(reply(
                        subscriber,
                        &format!("r{i}"),
                        "hello",
                        t0() + Duration::minutes(1),
                    ));
                    events.push(press(
                        subscriber,
                        &format!("p{i}-{thread}"),
                        &rating_button_data("spring", 3),
                    ));
                }
                for chunk in events.chunks(7) {
                    world.apply(chunk);
                }
                if thread % 2 == 0 {
                    for sent in late_refs {
                        world.record_reference(sent);
                    }
                }
                credit_early_receipts(world.store(), late_refs).unwrap();
            });
        }
    });
    let stats = world.stats("spring");
    assert_eq!((stats.delivered, stats.read), (20, 20));
    assert_eq!((stats.replied, stats.replies), (20, 20));
    assert_eq!((stats.ratings, stats.rating_average), (20, Some(3.0)));
    assert_eq!(world.export_jsonl(Some("spring")).len(), 60);
}
