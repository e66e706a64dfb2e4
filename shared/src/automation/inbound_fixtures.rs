//! Webhook events of one Telegram person and one WhatsApp person, for the welcome and keyword tests.

use chrono::{DateTime, Utc};

use crate::ingress::{Inbound, InboundKind};
use crate::subscriber::{Address, Channel, Locale, Profile};

/// The WhatsApp person's subscriber id.
pub const WHATSAPP_PERSON: &str = "whatsapp:1122334455:4915112345678";

pub fn now() -> DateTime<Utc> {
    "2026-11-24T12:00:00Z".parse().unwrap()
}

fn on(channel: &str, address: &str, event_id: &str, kind: InboundKind) -> Inbound {
    let channel = Channel::parse(channel).unwrap();
    Inbound {
        address: Some(Address::parse(channel.platform(), address).unwrap()),
        channel,
        event_id: event_id.into(),
        profile: Profile::default(),
        locale: Some(Locale::parse("de").unwrap()),
        at: now(),
        kind,
    }
}

/// An event of Telegram chat 42 of bot `shop`.
pub fn telegram(event_id: &str, kind: InboundKind) -> Inbound {
    on("telegram:shop", "42", event_id, kind)
}

/// `/start promo` as update `update`.
pub fn start(update: &str) -> Inbound {
    telegram(
        update,
        InboundKind::OptIn {
            source: "telegram:/start promo".into(),
            payload: Some("promo".into()),
            evidence: format!("update_id {update}"),
        },
    )
}

/// `/stop` as update `update`.
pub fn stop(update: &str) -> Inbound {
    telegram(
        update,
        InboundKind::OptOut {
            source: "telegram:/stop".into(),
            evidence: format!("update_id {update}"),
        },
    )
}

/// Text message `message_id` saying `words`.
pub fn text(message_id: &str, words: &str) -> Inbound {
    telegram(
        message_id,
        InboundKind::Reply {
            message_id: message_id.into(),
            text: words.into(),
        },
    )
}

/// The WhatsApp person's opt-in keyword (message `wamid.1`), then their text `words` as `wamid.2`.
pub fn whatsapp_start_then(words: &str) -> [Inbound; 2] {
    let whatsapp = |id: &str, kind| on("whatsapp:1122334455", "4915112345678", id, kind);
    [
        whatsapp(
            "wamid.1",
            InboundKind::OptIn {
                source: "whatsapp:keyword START".into(),
                payload: None,
                evidence: "wamid.1".into(),
            },
        ),
        whatsapp(
            "wamid.2",
            InboundKind::Reply {
                message_id: "wamid.2".into(),
                text: words.into(),
            },
        ),
    ]
}
