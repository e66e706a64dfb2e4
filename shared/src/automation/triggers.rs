//! The built-in events a webhook delivery triggers: `subscribed` when someone's opt-in began a
//! subscription (for the welcome), `message.received` when a subscribed person wrote a text that may
//! still be answered (for the keyword replies). Each is keyed by the platform's id of what happened,
//! so a redelivered webhook triggers the same event again and the rules' idempotency keeps it from
//! doing anything twice.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::answer::EventAnswer;
use super::intake::{receive_one, Customer, Event};
use super::rule::EventName;
use super::rules;
use crate::error::Result;
use crate::ingress::{Applied, Inbound, InboundKind};
use crate::kv::KvStore;
use crate::link;
use crate::subscriber::SubscriberId;

use super::reply_window::may_answer;

/// The built-in event of a new subscription.
pub const SUBSCRIBED: &str = "subscribed";
/// The built-in event of a text message a subscribed person wrote.
pub const MESSAGE_RECEIVED: &str = "message.received";
/// The events Spinpost emits itself; the event API refuses them.
pub const BUILT_IN_EVENTS: [&str; 2] = [SUBSCRIBED, MESSAGE_RECEIVED];
/// The longest text a `message.received` event carries, in characters (longer messages are cut).
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// One built-in event for the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// [`SUBSCRIBED`] or [`MESSAGE_RECEIVED`].
    pub name: &'static str,
    /// Who it is about.
    pub subscriber: SubscriberId,
    /// Derived from the platform's id of the opt-in or of the message: the same on a redelivery.
    pub idempotency_key: String,
    /// The event data: `channel`, and `source` and `payload` of an opt-in, or `text` and
    /// `message_id` of a message.
    pub data: Value,
}

/// The built-in event `inbound`, as applied, triggers at `now`, if any.
pub fn triggered_by(inbound: &Inbound, applied: &Applied, now: DateTime<Utc>) -> Option<Trigger> {
    let record = applied.record.as_ref()?;
    let trigger = |name: &'static str, id: &str, data: Value| Trigger {
        name,
        subscriber: record.id.clone(),
        idempotency_key: format!("{name}:{}:{id}", record.id),
        data,
    };
    match &inbound.kind {
        InboundKind::OptIn {
            source, payload, ..
        } if applied.subscription_began => {
            // A link's code is a credential: the event names the link, not its code.
            let (source, payload) = match payload {
                Some(code) if link::is_code(code) => (source.replace(code.as_str(), "link"), None),
                _ => (source.clone(), payload.clone()),
            };
            Some(trigger(
                SUBSCRIBED,
                &inbound.event_id,
                json!({ "channel": inbound.channel, "source": source, "payload": payload }),
            ))
        }
        InboundKind::Unblocked { source, .. } if applied.subscription_began => Some(trigger(
            SUBSCRIBED,
            &inbound.event_id,
            json!({ "channel": inbound.channel, "source": source, "payload": null }),
        )),
        // Never answer someone who unsubscribed or blocked us, nor a message whose reply window
        // closed before the webhook arrived.
        InboundKind::Reply { message_id, text }
            if record.may_receive() && may_answer(&inbound.channel, inbound.at, now) =>
        {
            Some(trigger(
                MESSAGE_RECEIVED,
                message_id,
                json!({
                    "channel": inbound.channel,
                    "text": text.chars().take(MAX_MESSAGE_CHARS).collect::<String>(),
                    "message_id": message_id,
                }),
            ))
        }
        _ => None,
    }
}

/// Hand the built-in events a webhook delivery triggered to the rules, in order: each rule on the
/// event queues its message (a welcome), or the one keyword rule that answers the message does; an
/// event no rule acts on is not handed on (and not answered). A redelivery of the webhook gets the
/// first answers and queues nothing.
///
/// # Errors
/// Store failures (the webhook answers non-2xx and the platform delivers it again).
pub fn hand_to_rules<S: KvStore + ?Sized>(
    store: &S,
    triggers: &[Trigger],
    now: DateTime<Utc>,
) -> Result<Vec<EventAnswer>> {
    if triggers.is_empty() {
        return Ok(Vec::new());
    }
    let rules = rules::all(store)?;
    // A deployment without a welcome or keyword rule pays one read per delivery, and writes nothing.
    let acted_on = |name: &str| {
        rules.values().any(|rule| {
            (rule.enabled && rule.event.as_str() == name)
                || rule.cancelled_by.iter().any(|event| event.as_str() == name)
        })
    };
    triggers
        .iter()
        .filter(|trigger| acted_on(trigger.name))
        .map(|trigger| {
            let event = Event {
                name: EventName::parse(trigger.name)?,
                customer: Customer::Subscriber(trigger.subscriber.clone()),
                key: None,
                data: trigger.data.clone(),
                idempotency_key: trigger.idempotency_key.clone(),
            };
            receive_one(store, &rules, event, now)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automation::inbound_fixtures::{
        now, start, stop, telegram, text, whatsapp_start_then,
    };
    use crate::ingress::apply;
    use crate::kv::MemoryStore;
    use crate::link::LinkKey;
    use chrono::Duration;

    fn trigger(store: &MemoryStore, inbound: Inbound, at: DateTime<Utc>) -> Option<Trigger> {
        let applied = apply(store, &LinkKey::default(), inbound.clone(), at).unwrap();
        triggered_by(&inbound, &applied, at)
    }

    #[test]
    fn an_opt_in_triggers_subscribed_with_its_channel_and_source() {
        let store = MemoryStore::new();
        let welcome = trigger(&store, start("1"), now()).unwrap();
        assert_eq!(welcome.name, SUBSCRIBED);
        assert_eq!(welcome.subscriber.as_str(), "telegram:shop:42");
        assert_eq!(welcome.idempotency_key, "subscribed:telegram:shop:42:1");
        assert_eq!(
            welcome.data,
            json!({"channel": "telegram:shop", "source": "telegram:/start promo", "payload": "promo"})
        );
    }

    #[test]
    fn the_welcome_event_does_not_carry_a_links_code() {
        let store = MemoryStore::new();
        let code = "ab".repeat(crate::link::TOKEN_CHARS / 2);
        let linked = telegram(
            "1",
            InboundKind::OptIn {
                source: format!("telegram:/start {code}"),
                payload: Some(code.clone()),
                evidence: "update_id 1".into(),
            },
        );
        let welcome = trigger(&store, linked, now()).unwrap();
        assert_eq!(welcome.data["source"], "telegram:/start link");
        assert_eq!(welcome.data["payload"], Value::Null);
        assert!(!welcome.data.to_string().contains(&code));
    }

    #[test]
    fn a_redelivered_opt_in_triggers_the_same_event_and_a_second_start_none() {
        let store = MemoryStore::new();
        let first = trigger(&store, start("1"), now()).unwrap();
        // The same update again (the webhook failed after recording it): the same key, done once.
        assert_eq!(trigger(&store, start("1"), now()), Some(first));
        // `/start` again while subscribed is no new subscription.
        assert_eq!(trigger(&store, start("2"), now()), None);
    }

    #[test]
    fn a_subscription_after_an_unsubscribe_is_welcomed_again() {
        let store = MemoryStore::new();
        trigger(&store, start("1"), now()).unwrap();
        assert_eq!(trigger(&store, stop("2"), now()), None);
        let again = trigger(&store, start("3"), now()).unwrap();
        assert_eq!(again.idempotency_key, "subscribed:telegram:shop:42:3");
    }

    #[test]
    fn a_subscribed_persons_text_triggers_message_received_keyed_by_the_message() {
        let store = MemoryStore::new();
        trigger(&store, start("1"), now()).unwrap();
        let message = trigger(&store, text("m2", "Hours?"), now()).unwrap();
        assert_eq!(message.name, MESSAGE_RECEIVED);
        assert_eq!(
            message.idempotency_key,
            "message.received:telegram:shop:42:m2"
        );
        assert_eq!(message.data["text"], "Hours?");
        assert_eq!(message.data["channel"], "telegram:shop");
        assert_eq!(
            trigger(&store, text("m2", "Hours?"), now()),
            Some(message),
            "a redelivery carries the same key"
        );
    }

    #[test]
    fn an_unsubscribed_or_unknown_person_is_not_answered() {
        let store = MemoryStore::new();
        assert_eq!(trigger(&store, text("m1", "hours"), now()), None);
        trigger(&store, start("2"), now()).unwrap();
        trigger(&store, stop("3"), now());
        assert_eq!(trigger(&store, text("m4", "hours"), now()), None);
    }

    #[test]
    fn a_message_whose_reply_window_closed_before_the_webhook_came_is_not_answered() {
        let store = MemoryStore::new();
        let [opt_in, hours] = whatsapp_start_then("hours");
        assert!(trigger(&store, opt_in, now()).is_some());
        let late = now() + Duration::hours(25);
        assert_eq!(trigger(&store, hours.clone(), late), None);
        assert!(trigger(&store, hours, now() + Duration::hours(1)).is_some());
    }
}
