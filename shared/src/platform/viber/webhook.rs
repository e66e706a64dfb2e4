//! Viber callbacks: check the `X-Viber-Content-Signature` over the raw body, then normalise the
//! callback into [`Inbound`] events. Unknown fields and events are tolerated, as Viber adds both.

use chrono::{DateTime, TimeZone as _, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::event::{parse_rating_button_data, InboundEvent, PlatformError, ReceiptStatus};
use crate::ingress::{Inbound, InboundKind};
use crate::subscriber::{Address, Locale, Platform, Profile};
use crate::web::Request;

use super::send::receipt_id;
use super::{BotConfig, MessageToken};

/// The header carrying the hex HMAC-SHA256 of the raw body, keyed with the bot's auth token.
pub const SIGNATURE_HEADER: &str = "x-viber-content-signature";

/// The refusal for a wrong, missing or unverifiable signature; an unknown bot gets the same answer.
pub fn signature_refused() -> Error {
    Error::unauthorized("the X-Viber-Content-Signature header does not match the body for this bot")
}

/// Check the callback's signature in constant time, before anything of the body is parsed.
///
/// # Errors
/// 401 when the header is absent, not hex, or does not match.
pub fn authenticate(request: &Request, bot: &BotConfig) -> Result<()> {
    let presented = presented_signature(request)?;
    signature_mac(bot.token.expose(), &request.body)
        .verify_slice(&presented)
        .map_err(|_| signature_refused())
}

/// The signature the request head presents, checked for presence and form before any of
/// the body is read.
///
/// # Errors
/// 401 when the header is absent or not hex.
pub fn presented_signature(request: &Request) -> Result<Vec<u8>> {
    request
        .header(SIGNATURE_HEADER)
        .and_then(|signature| hex::decode(signature.trim()).ok())
        .ok_or_else(signature_refused)
}

/// The signature Viber puts on `body` for a bot with this auth token (for clients and tests).
pub fn sign(token: &str, body: &[u8]) -> String {
    hex::encode(signature_mac(token, body).finalize().into_bytes())
}

fn signature_mac(token: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    mac
}

#[derive(Debug, Deserialize)]
struct Callback {
    event: String,
    /// Milliseconds since the epoch.
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    message_token: Option<MessageToken>,
    /// The person of `unsubscribed`, `delivered`, `seen` and `failed`.
    #[serde(default)]
    user_id: Option<String>,
    /// The person of `subscribed` and `conversation_started`.
    #[serde(default)]
    user: Option<User>,
    /// The person of `message`.
    #[serde(default)]
    sender: Option<User>,
    #[serde(default)]
    message: Option<Message>,
    /// Why a `failed` message failed.
    #[serde(default)]
    desc: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    language: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

/// Parse a callback body into what happened. Each event is keyed by its message token and event
/// name, so a callback Viber retries is applied once. `now` stands in for a missing timestamp.
///
/// # Errors
/// 400 `invalid_callback` when the body is not a Viber callback or names an invalid user id.
pub fn parse_callback(bot: &BotConfig, body: &[u8], now: DateTime<Utc>) -> Result<Vec<Inbound>> {
    let callback: Callback = serde_json::from_slice(body)
        .map_err(|e| Error::invalid("invalid_callback", format!("not a Viber callback: {e}")))?;
    let at = callback
        .timestamp
        .and_then(|millis| Utc.timestamp_millis_opt(millis).single())
        .unwrap_or(now);
    let token = callback.message_token;
    let event_id = |suffix: &str| match token {
        Some(token) => format!("{token}:{suffix}"),
        None => format!("{}:{suffix}", at.timestamp_millis()),
    };
    let evidence = token.map_or_else(String::new, |token| format!("message_token {token}"));
    // An event about one person, keyed by the callback's token and what it says.
    let about = |user_id: &str,
                 profile: Profile,
                 locale: Option<Locale>,
                 suffix: &str,
                 kind: InboundKind|
     -> Result<Inbound> {
        Ok(Inbound {
            channel: bot.channel.clone(),
            event_id: event_id(suffix),
            address: Some(address(user_id)?),
            profile,
            locale,
            at,
            kind,
        })
    };
    let ignored = |reason: &str| -> Result<Vec<Inbound>> {
        Ok(vec![Inbound::ignored(
            bot.channel.clone(),
            event_id(&callback.event),
            reason,
        )])
    };
    let user_id = || {
        callback
            .user_id
            .as_deref()
            .ok_or_else(|| missing(&callback.event, "user_id"))
    };
    match callback.event.as_str() {
        "subscribed" => {
            let user = callback
                .user
                .as_ref()
                .ok_or_else(|| missing("subscribed", "user"))?;
            let kind = InboundKind::OptIn {
                source: "viber:subscribed".into(),
                payload: None,
                evidence,
            };
            Ok(vec![about(
                &user.id,
                profile_of(user),
                locale_of(user),
                "subscribed",
                kind,
            )?])
        }
        "unsubscribed" => {
            let kind = InboundKind::OptOut {
                source: "viber:unsubscribed".into(),
                evidence,
            };
            Ok(vec![about(
                user_id()?,
                Profile::default(),
                None,
                "unsubscribed",
                kind,
            )?])
        }
        "conversation_started" => {
            // Not a subscription: the person may be welcomed, nothing is recorded.
            let user = callback
                .user
                .as_ref()
                .ok_or_else(|| missing("conversation_started", "user"))?;
            Ok(vec![about(
                &user.id,
                profile_of(user),
                locale_of(user),
                "conversation_started",
                InboundKind::ConversationOpened,
            )?])
        }
        "message" => {
            let sender = callback
                .sender
                .as_ref()
                .ok_or_else(|| missing("message", "sender"))?;
            let (profile, locale) = (profile_of(sender), locale_of(sender));
            // Writing to a bot subscribes on Viber: the first message is the person's consent.
            let subscribed = InboundKind::OptIn {
                source: "viber:message".into(),
                payload: None,
                evidence,
            };
            let said = match &callback.message {
                Some(message) => message_kind(message, token),
                None => return Err(missing("message", "message")),
            };
            Ok(vec![
                about(
                    &sender.id,
                    profile.clone(),
                    locale.clone(),
                    "subscribed-by-message",
                    subscribed,
                )?,
                about(&sender.id, profile, locale, "message", said)?,
            ])
        }
        "delivered" | "seen" | "failed" => {
            let Some(token) = token else {
                return Err(missing(&callback.event, "message_token"));
            };
            // A broadcast's receivers share its token: the person tells their receipts apart.
            let person = address(user_id()?)?;
            let (status, error) = match callback.event.as_str() {
                "delivered" => (ReceiptStatus::Delivered, None),
                "seen" => (ReceiptStatus::Read, None),
                _ => (
                    ReceiptStatus::Failed,
                    Some(PlatformError {
                        code: "failed".into(),
                        title: callback.desc.clone().unwrap_or_default(),
                    }),
                ),
            };
            let receipt = InboundEvent::Receipt {
                platform: Platform::Viber,
                message_id: receipt_id(token, person.as_str()),
                status,
                at,
                error,
            };
            Ok(vec![Inbound {
                channel: bot.channel.clone(),
                event_id: event_id(&format!("{}:{}", callback.event, person.as_str())),
                address: None,
                profile: Profile::default(),
                locale: None,
                at,
                kind: InboundKind::Feedback(receipt),
            }])
        }
        _ => ignored("callback event not used"),
    }
}

/// A person's message: a rating button's data is a press, other text a reply.
fn message_kind(message: &Message, token: Option<MessageToken>) -> InboundKind {
    let message_id = token.map(|token| token.to_string()).unwrap_or_default();
    match (message.kind.as_str(), message.text.as_deref()) {
        ("text", Some(text)) if parse_rating_button_data(text.trim()).is_some() => {
            InboundKind::ButtonPress {
                press_id: message_id,
                data: text.trim().to_owned(),
            }
        }
        ("text", Some(text)) if !text.trim().is_empty() => InboundKind::Reply {
            message_id,
            text: text.to_owned(),
        },
        (kind, _) => InboundKind::Ignored {
            reason: format!("message type '{kind}' without text"),
        },
    }
}

fn address(user_id: &str) -> Result<Address> {
    Address::parse(Platform::Viber, user_id)
        .map_err(|e| Error::invalid("invalid_callback", e.message().to_owned()))
}

fn missing(event: &str, field: &str) -> Error {
    Error::invalid(
        "invalid_callback",
        format!("a '{event}' callback needs '{field}'"),
    )
}

/// Viber sends one display name; it is kept as the first name.
fn profile_of(user: &User) -> Profile {
    Profile {
        first_name: user.name.clone().filter(|name| !name.trim().is_empty()),
        ..Profile::default()
    }
    .bounded()
}

fn locale_of(user: &User) -> Option<Locale> {
    user.language
        .as_deref()
        .and_then(|language| Locale::parse(language).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fixtures::{raw, viber_bot};

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn parse(name: &str) -> Vec<Inbound> {
        parse_callback(
            &viber_bot("auth-token"),
            &raw(&format!("viber/{name}")),
            now(),
        )
        .unwrap()
    }

    const TOKEN: &str = "4912661846655238145";

    #[test]
    fn signatures_are_checked_over_the_raw_body_with_the_bot_token() {
        let bot = viber_bot("auth-token");
        let body = raw("viber/callback_subscribed");
        let signed = |signature: &str| {
            Request::new(http::Method::POST, "/webhooks/viber/shop")
                .with_header(SIGNATURE_HEADER, signature)
                .with_body(body.clone())
        };
        assert!(authenticate(&signed(&sign("auth-token", &body)), &bot).is_ok());
        for refused in [sign("other-token", &body), "zz".into(), String::new()] {
            assert_eq!(
                authenticate(&signed(&refused), &bot).unwrap_err().status(),
                401
            );
        }
        let unsigned = Request::new(http::Method::POST, "/").with_body(body.clone());
        assert_eq!(authenticate(&unsigned, &bot).unwrap_err().status(), 401);
    }

    #[test]
    fn subscribed_fixture_is_an_opt_in_with_the_token_as_evidence() {
        let events = parse("callback_subscribed");
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.event_id, format!("{TOKEN}:subscribed"));
        assert_eq!(
            event.address.as_ref().unwrap().as_str(),
            "jc9HsWTZ2Yf2NkRZ8KcNug=="
        );
        assert_eq!(event.profile.first_name.as_deref(), Some("John McClane"));
        assert!(event.locale.is_some());
        assert_eq!(
            event.at,
            Utc.timestamp_millis_opt(1_457_764_197_627).unwrap()
        );
        assert_eq!(
            event.kind,
            InboundKind::OptIn {
                source: "viber:subscribed".into(),
                payload: None,
                evidence: format!("message_token {TOKEN}"),
            }
        );
    }

    #[test]
    fn unsubscribed_fixture_is_an_opt_out() {
        let events = parse("callback_unsubscribed");
        assert_eq!(
            events[0].address.as_ref().unwrap().as_str(),
            "jc9HsWTZ2Yf2NkRZ8KcNug=="
        );
        assert!(
            matches!(&events[0].kind, InboundKind::OptOut { evidence, .. } if evidence == &format!("message_token {TOKEN}"))
        );
    }

    #[test]
    fn conversation_started_fixture_opens_a_conversation_without_subscribing() {
        let events = parse("callback_conversation_started");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, InboundKind::ConversationOpened);
        assert_eq!(
            events[0].address.as_ref().unwrap().as_str(),
            "01234567890A="
        );
        assert_eq!(events[0].locale.as_ref().unwrap().as_str(), "en");
        assert_eq!(
            events[0].profile.first_name.as_deref(),
            Some("John McClane")
        );
    }

    #[test]
    fn message_fixture_subscribes_the_writer_and_is_a_reply() {
        let events = parse("callback_message");
        assert_eq!(events.len(), 2);
        assert!(
            matches!(&events[0].kind, InboundKind::OptIn { source, .. } if source == "viber:message")
        );
        assert_eq!(
            events[1].kind,
            InboundKind::Reply {
                message_id: TOKEN.into(),
                text: "a message to the service".into()
            }
        );
        assert_ne!(events[0].event_id, events[1].event_id);
        assert!(events
            .iter()
            .all(|e| e.address.as_ref().unwrap().as_str() == "jc9HsWTZ2Yf2NkRZ8KcNug=="));
    }

    #[test]
    fn a_rating_button_press_arrives_as_its_text() {
        let mut payload: serde_json::Value =
            serde_json::from_slice(&raw("viber/callback_message")).unwrap();
        payload["message"]["text"] = "rate:c1:5".into();
        let events = parse_callback(
            &viber_bot("t"),
            &serde_json::to_vec(&payload).unwrap(),
            now(),
        )
        .unwrap();
        assert_eq!(
            events[1].kind,
            InboundKind::ButtonPress {
                press_id: TOKEN.into(),
                data: "rate:c1:5".into()
            }
        );
    }

    #[test]
    fn delivered_and_seen_fixtures_are_receipts_of_the_sent_token() {
        for (name, expected) in [
            ("callback_delivered", ReceiptStatus::Delivered),
            ("callback_seen", ReceiptStatus::Read),
        ] {
            let events = parse(name);
            assert!(events[0].address.is_none());
            match &events[0].kind {
                InboundKind::Feedback(InboundEvent::Receipt {
                    platform,
                    message_id,
                    status,
                    ..
                }) => {
                    assert_eq!(
                        (*platform, message_id.as_str(), *status),
                        (
                            Platform::Viber,
                            format!("{TOKEN}:jc9HsWTZ2Yf2NkRZ8KcNug==").as_str(),
                            expected
                        )
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        assert_ne!(
            parse("callback_delivered")[0].event_id,
            parse("callback_seen")[0].event_id
        );
        // Two receivers of one broadcast: the same token, two receipts.
        let receipt = |user: &str| {
            let body = format!(
                r#"{{"event":"delivered","timestamp":1,"message_token":{TOKEN},"user_id":"{user}"}}"#
            );
            parse_callback(&viber_bot("t"), body.as_bytes(), now()).unwrap()[0]
                .event_id
                .clone()
        };
        assert_ne!(receipt("a"), receipt("b"));
    }

    #[test]
    fn failed_carries_the_description() {
        let body = format!(
            r#"{{"event":"failed","timestamp":1457764197627,"message_token":{TOKEN},"user_id":"01234567890A=","desc":"failure description"}}"#
        );
        let events = parse_callback(&viber_bot("t"), body.as_bytes(), now()).unwrap();
        assert!(matches!(
            &events[0].kind,
            InboundKind::Feedback(InboundEvent::Receipt { status: ReceiptStatus::Failed, error: Some(error), .. })
                if error.title == "failure description"
        ));
    }

    #[test]
    fn garbage_unknown_events_and_unsafe_ids() {
        let bot = viber_bot("t");
        assert_eq!(
            parse_callback(&bot, b"[]", now()).unwrap_err().code(),
            "invalid_callback"
        );
        let webhook =
            br#"{"event":"webhook","timestamp":1457764197627,"message_token":241256543215}"#;
        assert!(matches!(
            parse_callback(&bot, webhook, now()).unwrap()[0].kind,
            InboundKind::Ignored { .. }
        ));
        let unsafe_id =
            br#"{"event":"unsubscribed","timestamp":1,"user_id":"a:b","message_token":1}"#;
        assert_eq!(
            parse_callback(&bot, unsafe_id, now()).unwrap_err().status(),
            400
        );
        let float = br#"{"event":"seen","timestamp":1,"user_id":"a","message_token":4.9e18}"#;
        assert!(parse_callback(&bot, float, now()).is_err());
    }
}
