//! Messenger webhooks (`object: "page"`): messages, postbacks and delivery / read watermarks into
//! [`Inbound`] events (the handshake and signature are Meta's, in [`crate::platform::meta_webhook`]).
//!
//! A message or the Get Started postback subscribes the sender, with the message or postback as
//! evidence; the text, quick replies and other postbacks also go to feedback.

use chrono::{DateTime, TimeZone as _, Utc};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::event::{InboundEvent, ReceiptStatus};
use crate::ingress::{Inbound, InboundKind};
use crate::platform::meta_webhook;
use crate::subscriber::{Address, Channel, Platform, Profile, SubscriberId};

use super::{MessengerConfig, GET_STARTED_PAYLOAD, STOP_KEYWORDS};

#[derive(Debug, Deserialize)]
struct Entry {
    id: String,
    #[serde(default)]
    messaging: Vec<Messaging>,
}

#[derive(Debug, Deserialize)]
struct Messaging {
    sender: Party,
    #[serde(default)]
    timestamp: i64,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    postback: Option<Postback>,
    #[serde(default)]
    delivery: Option<Watermark>,
    #[serde(default)]
    read: Option<Watermark>,
}

#[derive(Debug, Deserialize)]
struct Party {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Message {
    mid: String,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    quick_reply: Option<QuickReply>,
}

#[derive(Debug, Deserialize)]
struct QuickReply {
    payload: String,
}

#[derive(Debug, Deserialize)]
struct Postback {
    #[serde(default)]
    payload: String,
}

#[derive(Debug, Deserialize)]
struct Watermark {
    watermark: i64,
}

/// Milliseconds since the epoch; `fallback` for the zero Meta sends in some events.
fn millis(ms: i64, fallback: DateTime<Utc>) -> DateTime<Utc> {
    if ms <= 0 {
        return fallback;
    }
    Utc.timestamp_millis_opt(ms).single().unwrap_or(fallback)
}

/// Parse a notification into events. Entries of another page than ours are ignored.
///
/// # Errors
/// 400 `invalid_notification` when the body is not a page notification or a sender id is not a
/// page-scoped id.
pub fn parse_notification(
    config: &MessengerConfig,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<Inbound>> {
    let notification: meta_webhook::Notification<Entry> =
        meta_webhook::parse_notification(body, "Messenger", "page")?;
    let channel = &config.account.channel;
    let mut events = Vec::new();
    for entry in notification.entry {
        if entry.id != channel.account() {
            continue;
        }
        for messaging in entry.messaging {
            events.extend(messaging_events(channel, messaging, now)?);
        }
    }
    Ok(events)
}

fn messaging_events(
    channel: &Channel,
    messaging: Messaging,
    now: DateTime<Utc>,
) -> Result<Vec<Inbound>> {
    let at = millis(messaging.timestamp, now);
    let sender = &messaging.sender.id;
    if messaging.message.as_ref().is_some_and(|m| m.is_echo) {
        // The page's own messages, echoed back: the sender is the page.
        return Ok(vec![Inbound::ignored(
            channel.clone(),
            format!("echo:{sender}:{}", messaging.timestamp),
            "echo of a page message",
        )]);
    }
    let address = Address::parse(Platform::Messenger, sender)
        .map_err(|e| Error::invalid("invalid_notification", format!("sender: {}", e.message())))?;
    let about = |event_id: String, kind: InboundKind| Inbound {
        channel: channel.clone(),
        event_id,
        address: Some(address.clone()),
        profile: Profile::default(),
        locale: None,
        at,
        kind,
    };
    if let Some(message) = messaging.message {
        let evidence = format!("message {}", message.mid);
        let word = message
            .text
            .as_deref()
            .map(|text| text.trim().to_uppercase());
        if let Some(word) = word.filter(|word| STOP_KEYWORDS.contains(&word.as_str())) {
            let kind = InboundKind::OptOut {
                source: format!("messenger:keyword {word}"),
                evidence,
            };
            return Ok(vec![about(message.mid, kind)]);
        }
        let subscribe = InboundKind::OptIn {
            source: "messenger:message".to_owned(),
            payload: None,
            evidence,
        };
        let mut events = vec![about(format!("{}:optin", message.mid), subscribe)];
        let feedback = match (message.quick_reply, message.text) {
            (Some(quick_reply), _) => Some(InboundKind::ButtonPress {
                press_id: message.mid.clone(),
                data: quick_reply.payload,
            }),
            (None, Some(text)) => Some(InboundKind::Reply {
                message_id: message.mid.clone(),
                text,
            }),
            (None, None) => None,
        };
        events.extend(feedback.map(|kind| about(message.mid, kind)));
        return Ok(events);
    }
    if let Some(postback) = messaging.postback {
        let id = postback_id(sender, messaging.timestamp, &postback.payload);
        let kind = if postback.payload.eq_ignore_ascii_case(GET_STARTED_PAYLOAD) {
            InboundKind::OptIn {
                source: "messenger:get_started".to_owned(),
                payload: None,
                evidence: format!("postback {id}"),
            }
        } else {
            InboundKind::ButtonPress {
                press_id: id.clone(),
                data: postback.payload,
            }
        };
        return Ok(vec![about(id, kind)]);
    }
    let watermark = |status: ReceiptStatus, watermark: Watermark| {
        let up_to = millis(watermark.watermark, at);
        let event = InboundEvent::Watermark {
            subscriber: SubscriberId::of(channel, &address),
            status,
            up_to,
        };
        Inbound {
            channel: channel.clone(),
            event_id: format!("{status:?}:{sender}:{}", watermark.watermark).to_lowercase(),
            address: None,
            profile: Profile::default(),
            locale: None,
            at: up_to,
            kind: InboundKind::Feedback(event),
        }
    };
    if let Some(read) = messaging.read {
        return Ok(vec![watermark(ReceiptStatus::Read, read)]);
    }
    if let Some(delivery) = messaging.delivery {
        return Ok(vec![watermark(ReceiptStatus::Delivered, delivery)]);
    }
    Ok(vec![Inbound::ignored(
        channel.clone(),
        format!("other:{sender}:{}", messaging.timestamp),
        "messaging event not used",
    )])
}

/// Postbacks may come without a message id: the same press, redelivered, gets the same id from its
/// sender, time and payload.
fn postback_id(sender: &str, timestamp: i64, payload: &str) -> String {
    let digest = Sha256::digest(payload.as_bytes());
    format!(
        "postback:{sender}:{timestamp}:{}",
        hex::encode(&digest[..8])
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::rating_button_data;
    use crate::platform::fixtures::{messenger_page, payload, raw};

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn page() -> MessengerConfig {
        messenger_page("1691462197845448", "token")
    }

    fn parse(config: &MessengerConfig, body: &[u8]) -> Vec<Inbound> {
        parse_notification(config, body, now()).unwrap()
    }

    fn with_message(message: serde_json::Value) -> Vec<u8> {
        let mut notification = payload("messenger/webhook_message_text");
        notification["entry"][0]["messaging"][0]["message"] = message;
        serde_json::to_vec(&notification).unwrap()
    }

    #[test]
    fn a_text_message_subscribes_with_its_mid_and_is_a_reply() {
        let events = parse(&page(), &raw("messenger/webhook_message_text"));
        assert_eq!(events.len(), 2);
        let mid = "mid.1472026867074:cfb5e1d4bde07a2a55";
        assert_eq!(events[0].event_id, format!("{mid}:optin"));
        assert!(matches!(&events[0].kind,
            InboundKind::OptIn { source, evidence, .. }
                if source == "messenger:message" && evidence == &format!("message {mid}")));
        assert_eq!(events[1].event_id, mid);
        assert!(matches!(&events[1].kind,
            InboundKind::Reply { message_id, text } if message_id == mid && text == "hello world"));
        assert_eq!(
            events[1].address.as_ref().unwrap().as_str(),
            "1134343043305865"
        );
        assert_eq!(
            events[1].at,
            "2016-08-24T08:21:07.080Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn a_quick_reply_is_a_press_and_stop_unsubscribes() {
        let data = rating_button_data("spring", 5);
        let events = parse(
            &page(),
            &with_message(serde_json::json!({
                "mid": "m_1", "text": "★★★★★", "quick_reply": { "payload": data }
            })),
        );
        assert!(matches!(&events[1].kind,
            InboundKind::ButtonPress { press_id, data: pressed } if press_id == "m_1" && *pressed == data));
        let events = parse(
            &page(),
            &with_message(serde_json::json!({ "mid": "m_2", "text": " stop " })),
        );
        assert_eq!(events.len(), 1);
        assert!(matches!(&events[0].kind,
            InboundKind::OptOut { source, evidence } if source == "messenger:keyword STOP" && evidence == "message m_2"));
    }

    #[test]
    fn echoes_of_the_page_are_ignored() {
        let events = parse(
            &page(),
            &with_message(serde_json::json!({ "mid": "m_3", "text": "hi", "is_echo": true })),
        );
        assert_eq!(events.len(), 1);
        assert!(matches!(events[0].kind, InboundKind::Ignored { .. }));
        assert!(events[0].address.is_none());
    }

    #[test]
    fn get_started_subscribes_with_a_deterministic_postback_id() {
        let page = messenger_page("1234567890", "token");
        let first = parse(&page, &raw("messenger/webhook_postback_get_started"));
        let again = parse(&page, &raw("messenger/webhook_postback_get_started"));
        assert_eq!(first, again);
        assert_eq!(first.len(), 1);
        assert!(first[0]
            .event_id
            .starts_with("postback:5678:1459991487970:"));
        assert!(matches!(&first[0].kind,
            InboundKind::OptIn { source, evidence, .. }
                if source == "messenger:get_started" && evidence == &format!("postback {}", first[0].event_id)));
    }

    #[test]
    fn other_postbacks_are_presses() {
        let mut notification = payload("messenger/webhook_postback_get_started");
        let data = rating_button_data("spring", 4);
        notification["entry"][0]["messaging"][0]["postback"]["payload"] = data.clone().into();
        let events = parse(
            &messenger_page("1234567890", "token"),
            &serde_json::to_vec(&notification).unwrap(),
        );
        assert!(matches!(&events[0].kind,
            InboundKind::ButtonPress { press_id, data: pressed } if press_id == &events[0].event_id && *pressed == data));
    }

    #[test]
    fn delivery_and_read_are_watermarks_of_the_sender() {
        let subscriber =
            SubscriberId::parse("messenger:1691462197845448:1134343043305865").unwrap();
        for (fixture, status, watermark) in [
            (
                "messenger/webhook_delivery",
                ReceiptStatus::Delivered,
                1_472_028_395_190,
            ),
            (
                "messenger/webhook_read",
                ReceiptStatus::Read,
                1_472_026_868_763,
            ),
        ] {
            let events = parse(&page(), &raw(fixture));
            assert_eq!(events.len(), 1, "{fixture}");
            let up_to = Utc.timestamp_millis_opt(watermark).unwrap();
            assert!(events[0].address.is_none());
            assert_eq!(
                events[0].kind,
                InboundKind::Feedback(InboundEvent::Watermark {
                    subscriber: subscriber.clone(),
                    status,
                    up_to,
                })
            );
        }
        let delivered = parse(&page(), &raw("messenger/webhook_delivery"));
        assert_eq!(
            delivered[0].event_id,
            "delivered:1134343043305865:1472028395190"
        );
    }

    #[test]
    fn other_pages_and_other_objects() {
        assert!(parse(
            &messenger_page("999", "token"),
            &raw("messenger/webhook_message_text")
        )
        .is_empty());
        for garbage in [
            &b"[]"[..],
            br#"{"object":"whatsapp_business_account","entry":[]}"#,
        ] {
            assert_eq!(
                parse_notification(&page(), garbage, now())
                    .unwrap_err()
                    .code(),
                "invalid_notification"
            );
        }
    }
}
