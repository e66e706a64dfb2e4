//! Messages queued by event rules: sent by the tick through the campaigns' ledger, once per event and
//! rule however ticks overlap or die, when due and not before, ahead of broadcasts; cancelled by a later
//! event; skipped with the reason when the customer cannot get them.

use chrono::{Duration, SecondsFormat};
use serde_json::{json, Value};

use super::world::{start, World};
use crate::automation::{self, rules, EventAnswer, IncomingEvent, NewRule, RuleResult};
use crate::delivery::scheduled::{self, Cancellation, ScheduledState};
use crate::delivery::{DeliveryState, OUTCOME_UNKNOWN};
use crate::event::counter;
use crate::subscriber::ConsentAction;
use crate::template::{self, NewTemplate};

const SHIPPED: &str = "r--order-shipped";
const REMINDER: &str = "r--reminder";

fn with_rules(world: &World) {
    let template: NewTemplate = serde_json::from_value(json!({
        "id": "order-update", "name": "Order update",
        "locales": {"en": {"text": "Order {{ event.data.order }} is on its way"}}}))
    .unwrap();
    template::create_template(world.store(), template, start()).unwrap();
    for rule in [
        json!({"id": "order-shipped", "event": "order.shipped", "template_id": "order-update",
               "channels": ["telegram:shop"], "kind": "transactional"}),
        json!({"id": "reminder", "event": "appointment.booked", "template_id": "order-update",
               "channels": ["telegram:other", "telegram:shop"], "kind": "transactional",
               "timing": {"relative_to": "appointment_at", "offset": "-24h"},
               "cancelled_by": ["appointment.cancelled"]}),
    ] {
        let rule: NewRule = serde_json::from_value(rule).unwrap();
        rules::create(world.store(), rule, start()).unwrap();
    }
}

fn event(world: &World, body: Value) -> crate::Result<EventAnswer> {
    let event: IncomingEvent = serde_json::from_value(body).unwrap();
    automation::receive(world.store(), vec![event], world.now()).map(|mut a| a.remove(0))
}

fn shipped(world: &World, chat: u32, order: &str) -> EventAnswer {
    event(
        world,
        json!({"name": "order.shipped", "subscriber_id": format!("telegram:shop:{chat}"),
               "data": {"order": order}, "idempotency_key": format!("shipped-{order}")}),
    )
    .unwrap()
}

fn booked(world: &World, chat: u32, appointment: &str, in_: Duration) -> EventAnswer {
    let at = (world.now() + in_).to_rfc3339_opts(SecondsFormat::Secs, true);
    event(
        world,
        json!({"name": "appointment.booked", "subscriber_id": format!("telegram:shop:{chat}"),
               "key": appointment, "data": {"appointment_at": at},
               "idempotency_key": format!("booked-{appointment}")}),
    )
    .unwrap()
}

fn result(answer: &EventAnswer) -> &RuleResult {
    &answer.rules[0].result
}

fn message_id(answer: &EventAnswer) -> String {
    match result(answer) {
        RuleResult::Queued { message_id, .. } => message_id.clone(),
        other => panic!("not queued: {other:?}"),
    }
}

#[test]
fn an_event_queues_one_message_that_the_next_tick_sends_once_and_counts_for_the_rule() {
    let world = World::new();
    with_rules(&world);
    world.subscribe(1);
    let answer = shipped(&world, 1, "4711");
    assert_eq!(answer.rules.len(), 1);
    let RuleResult::Queued {
        subscriber_id,
        channel,
        due_at,
        ..
    } = result(&answer)
    else {
        panic!("{answer:?}")
    };
    assert_eq!(
        (subscriber_id.as_str(), channel.as_str(), *due_at),
        ("telegram:shop:1", "telegram:shop", start())
    );
    let report = world.tick();
    assert_eq!(report.sent, 1);
    assert_eq!(world.send_times_to(1), vec![start()]);
    let send = scheduled::get(world.store(), &message_id(&answer)).unwrap();
    let batch = world.batch(SHIPPED, send.batch).unwrap();
    assert!(matches!(
        batch.entries[0].outcome,
        DeliveryState::Sent { .. }
    ));
    assert_eq!(
        world.counters(SHIPPED, [counter::TARGETED, counter::SENT]),
        [1, 1]
    );
    assert!(matches!(send.state, ScheduledState::Finished { .. }));
    assert!(scheduled::pending_of(world.store(), &send.subscriber)
        .unwrap()
        .is_empty());
    world.drain();
    assert_eq!(world.send_count(), 1, "nothing is sent again");
}

#[test]
fn the_same_idempotency_key_answers_as_the_first_time_and_does_nothing() {
    let world = World::new();
    with_rules(&world);
    world.subscribe(1);
    let first = shipped(&world, 1, "4711");
    world.tick();
    world.advance(Duration::hours(1));
    assert_eq!(shipped(&world, 1, "4711"), first);
    world.drain();
    assert_eq!(world.send_count(), 1);
    let other_body = event(
        &world,
        json!({"name": "order.shipped", "subscriber_id": "telegram:shop:1",
               "data": {"order": "9999"}, "idempotency_key": "shipped-4711"}),
    );
    assert_eq!(other_body.unwrap_err().code(), "idempotency_key_reused");
    // The same event with its data's keys in another order is the same event.
    let reordered = event(
        &world,
        json!({"idempotency_key": "shipped-4711", "data": {"order": "4711"},
               "subscriber_id": "telegram:shop:1", "name": "order.shipped"}),
    );
    assert_eq!(reordered.unwrap(), first);
}

#[test]
fn a_reminder_goes_out_when_due_and_not_before() {
    let world = World::new();
    with_rules(&world);
    world.subscribe(1);
    let answer = booked(&world, 1, "a-1", Duration::hours(24) + Duration::seconds(4));
    let RuleResult::Queued {
        due_at, channel, ..
    } = result(&answer)
    else {
        panic!("{answer:?}")
    };
    assert_eq!(*due_at, start() + Duration::seconds(4));
    assert_eq!(
        channel, "telegram:shop",
        "the first channel with a subscriber"
    );
    world.tick();
    world.advance(Duration::seconds(3));
    world.tick();
    assert_eq!(world.send_count(), 0);
    world.advance(Duration::seconds(1));
    world.tick();
    assert_eq!(world.send_times_to(1), vec![start() + Duration::seconds(4)]);
}

#[test]
fn a_relative_time_already_past_sends_at_once_or_is_skipped_once_the_time_itself_passed() {
    let world = World::new();
    with_rules(&world);
    world.subscribe(1);
    let soon = booked(&world, 1, "a-1", Duration::hours(3));
    assert!(matches!(result(&soon), RuleResult::Queued { due_at, .. } if *due_at == start()));
    let past = booked(&world, 1, "a-2", -Duration::hours(1));
    assert_eq!(
        result(&past),
        &RuleResult::Skipped {
            reason: "time_passed".into()
        }
    );
    world.tick();
    assert_eq!(world.send_count(), 1);
}

#[test]
fn a_cancelling_event_with_the_same_key_cancels_the_pending_reminder() {
    let world = World::new();
    with_rules(&world);
    let subscriber = world.subscribe(1);
    booked(&world, 1, "a-1", Duration::hours(48));
    booked(&world, 1, "a-2", Duration::hours(48));
    let cancel = |key: &str, idempotency: &str| {
        event(
            &world,
            json!({"name": "appointment.cancelled", "subscriber_id": "telegram:shop:1",
                   "key": key, "idempotency_key": idempotency}),
        )
        .unwrap()
    };
    let answer = cancel("a-1", "cancel-a-1");
    assert_eq!(answer.rules[0].rule_id, "reminder");
    assert_eq!(result(&answer), &RuleResult::Cancelled { cancelled: 1 });
    assert_eq!(
        result(&cancel("a-9", "cancel-a-9")),
        &RuleResult::Cancelled { cancelled: 0 }
    );
    let pending = scheduled::pending_of(world.store(), &subscriber).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].event.key.as_deref(), Some("a-2"));
    world.advance(Duration::hours(25));
    world.tick();
    assert_eq!(world.send_count(), 1, "only a-2's reminder");
}

#[test]
fn a_customer_who_cannot_get_the_message_gets_nothing_and_the_answer_says_why() {
    let world = World::new();
    with_rules(&world);
    world.subscribe(1);
    world.record_consent(1, ConsentAction::Unsubscribed, start());
    assert_eq!(
        result(&shipped(&world, 1, "1")),
        &RuleResult::Skipped {
            reason: "unsubscribed".into()
        }
    );
    assert_eq!(
        result(&shipped(&world, 2, "2")),
        &RuleResult::Skipped {
            reason: "no_subscriber".into()
        }
    );
    world.tick();
    assert_eq!(world.send_count(), 0);
}

#[test]
fn a_customer_who_withdrew_after_the_event_is_skipped_when_it_is_due() {
    let world = World::new();
    with_rules(&world);
    world.subscribe(1);
    let answer = booked(&world, 1, "a-1", Duration::hours(48));
    world.record_consent(1, ConsentAction::Unsubscribed, start() + Duration::hours(1));
    world.advance(Duration::hours(25));
    world.tick();
    assert_eq!(world.send_count(), 0);
    let send = scheduled::get(world.store(), &message_id(&answer)).unwrap();
    assert_eq!(
        send.state,
        ScheduledState::Finished {
            outcome: DeliveryState::Skipped {
                reason: "unsubscribed".into()
            }
        }
    );
    assert_eq!(world.counter(REMINDER, counter::SKIPPED), 1);
}

#[test]
fn overlapping_ticks_send_an_event_message_once() {
    let world = World::new();
    with_rules(&world);
    world.subscribe(1);
    shipped(&world, 1, "4711");
    // A second tick runs while the first one's request is with the platform.
    world.on_send(1, |w| {
        assert_eq!(w.tick().sent, 0);
    });
    assert_eq!(world.tick().sent, 1);
    world.drain();
    assert_eq!(world.send_count(), 1);
    assert_eq!(world.counter(SHIPPED, counter::SENT), 1);
}

#[test]
fn a_tick_brings_a_rules_counters_up_to_date_once_for_all_the_messages_it_sent() {
    let world = World::new();
    with_rules(&world);
    world.subscribe_all(1..=10);
    for chat in 1..=10 {
        shipped(&world, chat, &format!("order-{chat}"));
    }
    let before = world.store().round_trips();
    assert_eq!(world.tick().sent, 10);
    let increments = world.store().round_trips()["increment"] - before["increment"];
    // The due index's length is read once; one sync reads the five counters and raises `targeted` and
    // `sent` (a sync per message made these 71).
    assert_eq!(increments, 8);
    assert_eq!(
        world.counters(SHIPPED, [counter::TARGETED, counter::SENT]),
        [10, 10]
    );
}

#[test]
fn a_tick_that_dies_mid_send_is_taken_over_without_sending_again() {
    let world = World::new();
    with_rules(&world);
    world.subscribe(1);
    let answer = shipped(&world, 1, "4711");
    world.on_send(1, |w| w.store().crash());
    world.crashing_tick();
    world.store().recover();
    world.drain();
    assert_eq!(world.send_count(), 1);
    let send = scheduled::get(world.store(), &message_id(&answer)).unwrap();
    assert!(
        matches!(&send.state, ScheduledState::Finished { outcome: DeliveryState::Failed { code, .. } } if code == OUTCOME_UNKNOWN),
        "{send:?}"
    );
    assert_eq!(world.counter(SHIPPED, counter::FAILED), 1);
}

#[test]
fn event_messages_go_ahead_of_a_running_broadcast() {
    let world = World::campaign_to(1..=5);
    with_rules(&world);
    world.subscribe(9);
    shipped(&world, 9, "4711");
    world.tick();
    assert_eq!(world.sends()[0].0, "9");
    // Chat 9 subscribed before the broadcast was scheduled, so it gets both messages.
    assert_eq!(world.sends_per_chat()["9"], 2);
    assert_eq!(world.send_count(), 7);
}

#[test]
fn a_queued_message_can_be_cancelled_and_a_sent_one_cannot() {
    let world = World::new();
    with_rules(&world);
    world.subscribe(1);
    let later = message_id(&booked(&world, 1, "a-1", Duration::hours(48)));
    let now = message_id(&shipped(&world, 1, "4711"));
    world.tick();
    assert!(matches!(
        scheduled::cancel(world.store(), &later, "api", world.now()).unwrap(),
        Cancellation::Cancelled { .. }
    ));
    assert!(matches!(
        scheduled::cancel(world.store(), &now, "api", world.now()).unwrap(),
        Cancellation::TooLate { .. }
    ));
    assert_eq!(
        scheduled::cancel(world.store(), "nope", "api", world.now())
            .unwrap_err()
            .status(),
        404
    );
    world.advance(Duration::hours(30));
    world.drain();
    assert_eq!(world.send_count(), 1);
}

#[test]
fn a_customer_id_reaches_the_first_of_their_subscribers_who_may_receive() {
    let world = World::new();
    with_rules(&world);
    let withdrawn = world.subscribe(1);
    let consented = world.subscribe(2);
    let customer: crate::directory::SubscriberPatch =
        serde_json::from_value(json!({"external_id": "cust-7"})).unwrap();
    for id in [&withdrawn, &consented] {
        crate::directory::patch(world.store(), id, &customer, start()).unwrap();
    }
    world.record_consent(1, ConsentAction::Unsubscribed, start());
    let answer = event(
        &world,
        json!({"name": "order.shipped", "external_id": "cust-7", "data": {"order": "1"},
               "idempotency_key": "shipped-1"}),
    )
    .unwrap();
    assert_eq!(answer.external_id.as_deref(), Some("cust-7"));
    assert!(
        matches!(result(&answer), RuleResult::Queued { subscriber_id, .. } if subscriber_id == consented.as_str())
    );
    let unknown = event(
        &world,
        json!({"name": "order.shipped", "external_id": "cust-8", "idempotency_key": "shipped-2"}),
    )
    .unwrap();
    assert_eq!(
        result(&unknown),
        &RuleResult::Skipped {
            reason: "no_subscriber".into()
        }
    );
    let both = event(
        &world,
        json!({"name": "order.shipped", "external_id": "cust-7", "subscriber_id": "telegram:shop:1",
               "idempotency_key": "shipped-3"}),
    );
    assert_eq!(both.unwrap_err().code(), "invalid_event");
    world.tick();
    assert_eq!(world.send_times_to(2).len(), 1);
    assert!(world.send_times_to(1).is_empty());
}

#[test]
fn messages_due_minutes_apart_go_out_each_in_its_minute_and_the_cursor_follows() {
    let world = World::new();
    with_rules(&world);
    world.subscribe(1);
    let reminder = |key: &str, hours: i64, minutes: i64| {
        booked(
            &world,
            1,
            key,
            Duration::hours(hours) + Duration::minutes(minutes),
        )
    };
    reminder("a-1", 24, 1);
    reminder("a-2", 24, 3);
    reminder("a-3", 24, 10);
    for minute in 1..=12 {
        world.advance(Duration::minutes(1));
        world.tick();
        let due_by_now = [1, 3, 10].iter().filter(|due| **due <= minute).count();
        assert_eq!(world.send_count(), due_by_now, "after {minute} minutes");
    }
    let one_a_minute = world.send_times_to(1);
    assert_eq!(
        one_a_minute,
        vec![
            start() + Duration::minutes(1),
            start() + Duration::minutes(3),
            start() + Duration::minutes(10)
        ]
    );
    // After five hours without a tick the cursor catches up 240 minutes a tick: the second tick sends
    // a message queued for now.
    world.advance(Duration::hours(5));
    shipped(&world, 1, "4711");
    world.tick();
    world.tick();
    assert_eq!(world.send_count(), 4);
}

#[test]
fn erasing_a_subscriber_deletes_their_queued_messages_and_sends_nothing() {
    let world = World::new();
    with_rules(&world);
    let subscriber = world.subscribe(1);
    let queued = message_id(&booked(&world, 1, "a-1", Duration::hours(48)));
    crate::erasure::erase_subscriber(world.store(), &subscriber, start()).unwrap();
    assert_eq!(
        scheduled::get(world.store(), &queued).unwrap_err().status(),
        404
    );
    assert!(scheduled::pending_of(world.store(), &subscriber)
        .unwrap()
        .is_empty());
    world.advance(Duration::hours(25));
    world.tick();
    assert_eq!(world.send_count(), 0);
}

/// A promotional rule on `order.shipped` (an offer after each order) next to the transactional one.
fn with_an_offer_rule(world: &World) {
    let rule: NewRule = serde_json::from_value(json!({
        "id": "offer", "event": "order.shipped", "template_id": "order-update",
        "channels": ["telegram:shop"], "kind": "promotional"}))
    .unwrap();
    rules::create(world.store(), rule, start()).unwrap();
}

#[test]
fn transactional_messages_ignore_quiet_hours_and_caps_while_promotional_ones_keep_them() {
    // Quiet from 09:00 to 12:00 (it is 10:00), and one promotional message a day at most.
    let world = World::new()
        .quiet_between("09:00-12:00")
        .capped_at("promotional:1/calendar_day");
    with_rules(&world);
    with_an_offer_rule(&world);
    world.subscribe(1);
    shipped(&world, 1, "4711");
    shipped(&world, 1, "4712");
    world.drain();

    // Both order updates went at once, inside the quiet hours; both offers wait for them to end.
    let texts = world.texts_per_chat();
    assert_eq!(world.send_count(), 2, "{texts:?}");
    assert_eq!(
        world.counters(SHIPPED, [counter::SENT]),
        [2],
        "each transactional message counts on its own"
    );
    assert_eq!(world.counters("r--offer", [counter::SENT]), [0]);

    // After the quiet hours, one offer goes and the cap skips the other: each rule message is its own
    // send in the person's history, not one entry per rule.
    world.advance(Duration::hours(2));
    world.drain();
    assert_eq!(
        world.counters("r--offer", [counter::SENT, counter::SKIPPED]),
        [1, 1]
    );
    assert_eq!(world.send_count(), 3);
}
