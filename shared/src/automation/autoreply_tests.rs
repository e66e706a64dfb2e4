//! The welcome and the keyword replies from webhook to queued message, on the in-memory store: once
//! per new subscription, at most one answer per message, none to someone unsubscribed or whose reply
//! window closed, and none for a webhook the platform delivers again.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::inbound_fixtures::{now, start, stop, text, whatsapp_start_then, WHATSAPP_PERSON};
use super::{
    hand_to_rules, receive, rules, triggered_by, EventAnswer, IncomingEvent, NewRule, RuleResult,
};
use crate::delivery::scheduled;
use crate::ingress::{self, Inbound};
use crate::kv::{KvStore, MemoryStore};
use crate::link::LinkKey;
use crate::subscriber::SubscriberId;
use crate::template::{self, NewTemplate};

fn store_with_rules(rules: &[serde_json::Value]) -> MemoryStore {
    let store = MemoryStore::new();
    for id in ["welcome", "hours"] {
        let request: NewTemplate = serde_json::from_value(
            json!({"id": id, "name": id, "locales": {"en": {"text": "Hello"}}}),
        )
        .unwrap();
        template::create_template(&store, request, now()).unwrap();
    }
    for (minute, rule) in rules.iter().enumerate() {
        let request: NewRule = serde_json::from_value(rule.clone()).unwrap();
        let created = now() + Duration::minutes(i64::try_from(minute).unwrap());
        rules::create(&store, request, created).unwrap();
    }
    store
}

fn welcome_rule() -> serde_json::Value {
    json!({"id": "welcome", "event": "subscribed", "template_id": "welcome",
           "channels": ["telegram:shop", "whatsapp:1122334455"], "kind": "transactional"})
}

fn keyword_rule(id: &str, keywords: &[&str], priority: i32) -> serde_json::Value {
    json!({"id": id, "event": "message.received", "template_id": "hours",
           "channels": ["telegram:shop", "whatsapp:1122334455"], "kind": "transactional",
           "match": {"keywords": keywords}, "priority": priority})
}

/// What the subscriptions component does with one webhook event at `at`.
fn deliver(store: &MemoryStore, inbound: Inbound, at: DateTime<Utc>) -> Vec<EventAnswer> {
    let applied = ingress::apply(store, &LinkKey::default(), inbound.clone(), at).unwrap();
    let triggers: Vec<_> = triggered_by(&inbound, &applied, at).into_iter().collect();
    hand_to_rules(store, &triggers, at).unwrap()
}

/// The rules that queued a message, in the answers.
fn queued_by(answers: &[EventAnswer]) -> Vec<String> {
    answers
        .iter()
        .flat_map(|answer| &answer.rules)
        .filter(|rule| matches!(rule.result, RuleResult::Queued { .. }))
        .map(|rule| rule.rule_id.clone())
        .collect()
}

fn scheduled_for(store: &MemoryStore, subscriber: &str) -> usize {
    let id = SubscriberId::parse(subscriber).unwrap();
    scheduled::pending_of(store, &id).unwrap().len()
}

#[test]
fn a_new_subscription_queues_the_welcome_once_and_a_resubscription_again() {
    let store = store_with_rules(&[welcome_rule()]);
    let first = deliver(&store, start("1"), now());
    assert_eq!(queued_by(&first), ["welcome"]);
    assert_eq!(first[0].name, "subscribed");
    // The platform delivers the same `/start` again: the first answer, nothing new queued.
    assert_eq!(deliver(&store, start("1"), now()), first);
    // `/start` while subscribed is no new subscription.
    assert!(deliver(&store, start("2"), now()).is_empty());
    assert_eq!(scheduled_for(&store, "telegram:shop:42"), 1);
    // Unsubscribed, then subscribed again: welcomed again.
    assert!(deliver(&store, stop("3"), now()).is_empty());
    assert_eq!(queued_by(&deliver(&store, start("4"), now())), ["welcome"]);
    assert_eq!(scheduled_for(&store, "telegram:shop:42"), 2);
}

#[test]
fn a_message_matching_several_keyword_rules_gets_exactly_one_answer() {
    let store = store_with_rules(&[
        welcome_rule(),
        keyword_rule("faq-hours", &["hours", "opening hours"], 0),
        keyword_rule("faq-open", &["open", "hours"], 0),
        keyword_rule("faq-urgent", &["urgent"], 10),
    ]);
    deliver(&store, start("1"), now());
    let answered = deliver(&store, text("m1", "What are your opening HOURS?"), now());
    assert_eq!(
        queued_by(&answered),
        ["faq-hours"],
        "the older of two equal rules"
    );
    assert_eq!(answered[0].name, "message.received");
    // Redelivered: the same answer and no second message.
    assert_eq!(
        deliver(&store, text("m1", "What are your opening HOURS?"), now()),
        answered
    );
    let urgent = deliver(&store, text("m2", "urgent: are you open?"), now());
    assert_eq!(queued_by(&urgent), ["faq-urgent"], "the higher priority");
    assert_eq!(scheduled_for(&store, "telegram:shop:42"), 3);
}

#[test]
fn a_message_no_rule_matches_gets_no_answer() {
    let store = store_with_rules(&[keyword_rule("faq-hours", &["hours"], 0)]);
    deliver(&store, start("1"), now());
    let answers = deliver(&store, text("m1", "thank you!"), now());
    assert!(answers[0].rules.is_empty());
    assert_eq!(scheduled_for(&store, "telegram:shop:42"), 0);
}

#[test]
fn an_unsubscribed_person_is_not_answered() {
    let store = store_with_rules(&[keyword_rule("faq-hours", &["hours"], 0)]);
    deliver(&store, start("1"), now());
    deliver(&store, stop("2"), now());
    assert!(deliver(&store, text("m1", "hours?"), now()).is_empty());
    assert_eq!(scheduled_for(&store, "telegram:shop:42"), 0);
}

#[test]
fn a_message_whose_reply_window_closed_is_not_answered() {
    let store = store_with_rules(&[keyword_rule("faq-hours", &["hours"], 0)]);
    let [opt_in, hours] = whatsapp_start_then("hours");
    deliver(&store, opt_in, now());
    let a_day_late = now() + Duration::hours(25);
    assert!(deliver(&store, hours, a_day_late).is_empty());
    assert_eq!(scheduled_for(&store, WHATSAPP_PERSON), 0);
}

#[test]
fn without_a_rule_on_them_the_built_in_events_write_nothing() {
    let store = store_with_rules(&[]);
    let before = store.get_keys().unwrap().len();
    assert!(deliver(&store, start("1"), now()).is_empty());
    let after_subscribing = store.get_keys().unwrap().len();
    assert!(deliver(&store, text("m1", "hours?"), now()).is_empty());
    assert_eq!(store.get_keys().unwrap().len(), after_subscribing);
    assert!(
        after_subscribing > before,
        "the subscriber record is written"
    );
}

#[test]
fn the_event_api_refuses_the_built_in_events() {
    let store = store_with_rules(&[]);
    for name in ["subscribed", "message.received"] {
        let event: IncomingEvent = serde_json::from_value(json!({
            "name": name, "subscriber_id": "telegram:shop:42", "idempotency_key": "k1"
        }))
        .unwrap();
        let err = receive(&store, vec![event], now()).unwrap_err();
        assert_eq!(err.code(), "built_in_event", "{name}");
    }
}
