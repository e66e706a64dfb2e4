//! WhatsApp webhooks: the normalisation of messages and statuses into [`Inbound`] events (the
//! handshake and signature are Meta's, in [`crate::platform::meta_webhook`]).

use chrono::{DateTime, TimeZone as _, Utc};
use serde::Deserialize;

use crate::error::Result;
use crate::event::{InboundEvent, PlatformError, ReceiptStatus};
use crate::ingress::{Inbound, InboundKind};
use crate::platform::meta_webhook;
use crate::subscriber::{Address, Channel, Platform, Profile, SubscriberId};

use super::{WhatsAppConfig, STOP_KEYWORDS};

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    value: Value,
}

#[derive(Debug, Deserialize)]
struct Value {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    statuses: Vec<Status>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Debug, Deserialize)]
struct Contact {
    wa_id: String,
    #[serde(default)]
    profile: Option<ContactProfile>,
}

#[derive(Debug, Deserialize)]
struct ContactProfile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Message {
    from: String,
    id: String,
    timestamp: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<Text>,
    #[serde(default)]
    interactive: Option<Interactive>,
    #[serde(default)]
    button: Option<TemplateButton>,
    /// The message this one answers (a template quick reply names our message).
    #[serde(default)]
    context: Option<MessageContext>,
}

#[derive(Debug, Deserialize)]
struct MessageContext {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Text {
    body: String,
}

#[derive(Debug, Deserialize)]
struct Interactive {
    #[serde(default)]
    button_reply: Option<Reply>,
    #[serde(default)]
    list_reply: Option<Reply>,
}

#[derive(Debug, Deserialize)]
struct Reply {
    id: String,
}

#[derive(Debug, Deserialize)]
struct TemplateButton {
    #[serde(default)]
    payload: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Status {
    id: String,
    status: String,
    timestamp: String,
    #[serde(default)]
    errors: Vec<StatusError>,
}

#[derive(Debug, Deserialize)]
struct StatusError {
    code: serde_json::Value,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

fn timestamp(seconds: &str, fallback: DateTime<Utc>) -> DateTime<Utc> {
    seconds
        .parse::<i64>()
        .ok()
        .and_then(|s| Utc.timestamp_opt(s, 0).single())
        .unwrap_or(fallback)
}

/// Parse a notification into events. Messages for another phone number than ours are ignored.
///
/// # Errors
/// 400 `invalid_notification` when the body is not a WhatsApp Business Account notification.
pub fn parse_notification(
    config: &WhatsAppConfig,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<Inbound>> {
    let notification: meta_webhook::Notification<Entry> =
        meta_webhook::parse_notification(body, "WhatsApp", "whatsapp_business_account")?;
    let channel = &config.account.channel;
    let mut events = Vec::new();
    for change in notification.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            continue;
        }
        let value = change.value;
        if value
            .metadata
            .as_ref()
            .is_some_and(|m| m.phone_number_id != channel.account())
        {
            continue;
        }
        for message in value.messages {
            let contact = value.contacts.iter().find(|c| c.wa_id == message.from);
            events.push(message_event(config, channel, message, contact, now)?);
        }
        for status in value.statuses {
            events.push(status_event(channel, status, now));
        }
    }
    Ok(events)
}

/// An opt-in keyword followed by a link's code (`START 3f9c…`): the keyword, upper-cased, and the code.
fn keyword_with_code<'t>(config: &WhatsAppConfig, text: &'t str) -> Option<(String, &'t str)> {
    let (first, rest) = text.trim().split_once(char::is_whitespace)?;
    let keyword = first.to_uppercase();
    let code = rest.trim();
    (config.optin_keywords.contains(&keyword) && crate::link::is_code(code))
        .then_some((keyword, code))
}

fn message_event(
    config: &WhatsAppConfig,
    channel: &Channel,
    message: Message,
    contact: Option<&Contact>,
    now: DateTime<Utc>,
) -> Result<Inbound> {
    let address = Address::parse(Platform::Whatsapp, &message.from)?;
    let profile = Profile {
        first_name: contact
            .and_then(|c| c.profile.as_ref())
            .and_then(|p| p.name.clone()),
        ..Profile::default()
    }
    .bounded();
    let evidence = format!("message {}", message.id);
    let at = timestamp(&message.timestamp, now);
    let answers = message.context.map(|context| context.id);
    let kind = match (
        message.kind.as_str(),
        message.text,
        message.interactive,
        message.button,
    ) {
        ("text", Some(text), _, _) => {
            let word = text.body.trim().to_uppercase();
            if config.optin_keywords.contains(&word) {
                InboundKind::OptIn {
                    source: format!("whatsapp:keyword {word}"),
                    payload: None,
                    evidence,
                }
            } else if let Some((keyword, code)) = keyword_with_code(config, &text.body) {
                // A click-to-chat link's prefilled message: the keyword subscribes, the code links.
                InboundKind::OptIn {
                    source: format!("whatsapp:keyword {keyword}"),
                    payload: Some(code.to_owned()),
                    evidence,
                }
            } else if STOP_KEYWORDS.contains(&word.as_str()) {
                InboundKind::OptOut {
                    source: format!("whatsapp:keyword {word}"),
                    evidence,
                }
            } else {
                InboundKind::Reply {
                    message_id: message.id.clone(),
                    text: text.body,
                }
            }
        }
        ("interactive", _, Some(interactive), _) => {
            match interactive.button_reply.or(interactive.list_reply) {
                Some(reply) => InboundKind::ButtonPress {
                    press_id: message.id.clone(),
                    data: reply.id,
                },
                None => InboundKind::Ignored {
                    reason: "interactive message without a reply".into(),
                },
            }
        }
        ("button", _, _, Some(button)) => match button.payload.or(button.text) {
            // A template quick reply: credited to the campaign whose message it answers.
            Some(data) => InboundKind::Feedback(InboundEvent::ButtonPress {
                subscriber: SubscriberId::of(channel, &address),
                press_id: message.id.clone(),
                data,
                at,
                in_reply_to: answers,
            }),
            None => InboundKind::Ignored {
                reason: "template button without payload".into(),
            },
        },
        (other, ..) => InboundKind::Ignored {
            reason: format!("message type '{other}'"),
        },
    };
    Ok(Inbound {
        channel: channel.clone(),
        event_id: message.id,
        address: Some(address),
        profile,
        locale: None,
        at,
        kind,
    })
}

fn status_event(channel: &Channel, status: Status, now: DateTime<Utc>) -> Inbound {
    let at = timestamp(&status.timestamp, now);
    let event_id = format!("{}:{}", status.id, status.status);
    let receipt = match status.status.as_str() {
        "sent" => Some(ReceiptStatus::Sent),
        "delivered" => Some(ReceiptStatus::Delivered),
        "read" => Some(ReceiptStatus::Read),
        "failed" => Some(ReceiptStatus::Failed),
        _ => None,
    };
    let Some(receipt) = receipt else {
        return Inbound::ignored(channel.clone(), event_id, "status not tracked");
    };
    let error = status.errors.into_iter().next().map(|e| PlatformError {
        code: match e.code {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        },
        title: e.title.or(e.message).unwrap_or_default(),
    });
    let event = InboundEvent::Receipt {
        platform: Platform::Whatsapp,
        message_id: status.id,
        status: receipt,
        at,
        error,
    };
    Inbound {
        channel: channel.clone(),
        event_id,
        address: None,
        profile: Profile::default(),
        locale: None,
        at,
        kind: InboundKind::Feedback(event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fixtures::{raw, whatsapp_number};

    fn config() -> WhatsAppConfig {
        whatsapp_number("1122334455667", "token", "START, Yes")
    }

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn with_text(text: &str) -> Vec<u8> {
        let mut payload: serde_json::Value =
            serde_json::from_slice(&raw("whatsapp/webhook_inbound_text")).unwrap();
        payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = text.into();
        serde_json::to_vec(&payload).unwrap()
    }

    #[test]
    fn text_fixture_is_a_reply_with_the_contact_name() {
        let events =
            parse_notification(&config(), &raw("whatsapp/webhook_inbound_text"), now()).unwrap();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.address.as_ref().unwrap().as_str(), "972987654321");
        assert_eq!(event.profile.first_name.as_deref(), Some("Test Name"));
        assert_eq!(event.event_id, "wamid.xyzxyz");
        assert!(matches!(&event.kind, InboundKind::Reply { text, .. } if text == "Body Text"));
    }

    #[test]
    fn a_keyword_with_a_link_code_subscribes_carrying_the_code() {
        let code = "0123456789abcdef".repeat(4)[..crate::link::TOKEN_CHARS].to_owned();
        let events =
            parse_notification(&config(), &with_text(&format!("start {code}")), now()).unwrap();
        assert!(matches!(
            &events[0].kind,
            InboundKind::OptIn { source, payload: Some(p), .. } if source == "whatsapp:keyword START" && p == &code
        ));
        // A keyword followed by anything else is an ordinary message.
        let events = parse_notification(&config(), &with_text("yes please"), now()).unwrap();
        assert!(matches!(&events[0].kind, InboundKind::Reply { .. }));
    }

    #[test]
    fn keywords_subscribe_and_unsubscribe() {
        let opt_in = parse_notification(&config(), &with_text(" yes "), now()).unwrap();
        assert!(
            matches!(&opt_in[0].kind, InboundKind::OptIn { source, .. } if source == "whatsapp:keyword YES")
        );
        let opt_out = parse_notification(&config(), &with_text("stop"), now()).unwrap();
        assert!(matches!(opt_out[0].kind, InboundKind::OptOut { .. }));
    }

    #[test]
    fn button_reply_fixture_is_a_press() {
        let events = parse_notification(
            &config(),
            &raw("whatsapp/webhook_interactive_button_reply"),
            now(),
        )
        .unwrap();
        assert!(
            matches!(&events[0].kind, InboundKind::ButtonPress { data, .. } if data == "callback_data")
        );
    }

    #[test]
    fn a_template_quick_reply_names_the_message_it_answers() {
        let mut payload: serde_json::Value =
            serde_json::from_slice(&raw("whatsapp/webhook_inbound_text")).unwrap();
        let message = &mut payload["entry"][0]["changes"][0]["value"]["messages"][0];
        message["type"] = "button".into();
        message["button"] = serde_json::json!({"payload": "More offers", "text": "More offers"});
        message["context"] = serde_json::json!({"from": "15550001111", "id": "wamid.ours"});
        let events = parse_notification(&config(), payload.to_string().as_bytes(), now()).unwrap();
        assert!(
            matches!(&events[0].kind, InboundKind::Feedback(InboundEvent::ButtonPress { data, in_reply_to, .. })
                if data == "More offers" && in_reply_to.as_deref() == Some("wamid.ours")),
            "{:?}",
            events[0].kind
        );
    }

    #[test]
    fn statuses_become_receipts_keyed_by_message_and_status() {
        for (name, expected) in [
            ("webhook_status_sent", ReceiptStatus::Sent),
            ("webhook_status_delivered", ReceiptStatus::Delivered),
            ("webhook_status_read", ReceiptStatus::Read),
        ] {
            let events =
                parse_notification(&config(), &raw(&format!("whatsapp/{name}")), now()).unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(
                events[0].event_id,
                format!("wamid.xyzxyz:{}", expected_str(expected))
            );
            match &events[0].kind {
                InboundKind::Feedback(InboundEvent::Receipt {
                    status, message_id, ..
                }) => {
                    assert_eq!(*status, expected);
                    assert_eq!(message_id, "wamid.xyzxyz");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    fn expected_str(s: ReceiptStatus) -> &'static str {
        match s {
            ReceiptStatus::Sent => "sent",
            ReceiptStatus::Delivered => "delivered",
            ReceiptStatus::Read => "read",
            ReceiptStatus::Failed => "failed",
        }
    }

    #[test]
    fn failed_status_carries_the_error_code() {
        let mut payload: serde_json::Value =
            serde_json::from_slice(&raw("whatsapp/webhook_status_sent")).unwrap();
        let error = crate::platform::fixtures::payload("whatsapp/error_object_131047_reengagement");
        let status = &mut payload["entry"][0]["changes"][0]["value"]["statuses"][0];
        status["status"] = "failed".into();
        status["errors"] = serde_json::json!([error]);
        let events =
            parse_notification(&config(), &serde_json::to_vec(&payload).unwrap(), now()).unwrap();
        match &events[0].kind {
            InboundKind::Feedback(InboundEvent::Receipt {
                status,
                error: Some(error),
                ..
            }) => {
                assert_eq!(*status, ReceiptStatus::Failed);
                assert_eq!(error.code, "131047");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_numbers_and_garbage() {
        let other = whatsapp_number("999", "t", "START");
        assert!(
            parse_notification(&other, &raw("whatsapp/webhook_inbound_text"), now())
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            parse_notification(&config(), b"[]", now())
                .unwrap_err()
                .code(),
            "invalid_notification"
        );
        assert_eq!(
            parse_notification(&config(), br#"{"object":"page","entry":[]}"#, now())
                .unwrap_err()
                .code(),
            "invalid_notification"
        );
    }
}
