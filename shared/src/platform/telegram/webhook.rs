//! Telegram webhook updates: authenticate the delivery, parse the update, and normalise it into an
//! [`Inbound`] the ingress applies. Unknown fields are ignored and optional ones tolerated, as real
//! updates carry far more than the examples.

use chrono::{DateTime, TimeZone as _, Utc};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ingress::{Inbound, InboundKind};
use crate::subscriber::{Address, Locale, Platform, Profile};
use crate::web::Request;

use super::BotConfig;

/// The header carrying the `secret_token` given to `setWebhook`.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Check that a webhook delivery comes from Telegram for this bot (constant-time comparison).
///
/// # Errors
/// 401 when the header is absent or wrong.
pub fn authenticate(request: &Request, bot: &BotConfig) -> Result<()> {
    match request.header(SECRET_HEADER) {
        Some(token) if bot.webhook_secret.matches(token) => Ok(()),
        Some(_) => Err(Error::unauthorized(
            "the X-Telegram-Bot-Api-Secret-Token header does not match this bot's webhook secret",
        )),
        None => Err(Error::unauthorized(
            "missing X-Telegram-Bot-Api-Secret-Token header",
        )),
    }
}

#[derive(Debug, Deserialize)]
struct Update {
    update_id: i64,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    callback_query: Option<CallbackQuery>,
    #[serde(default)]
    my_chat_member: Option<ChatMemberUpdated>,
}

/// The names users and private chats both carry.
#[derive(Debug, Deserialize)]
struct Names {
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: i64,
    #[serde(flatten)]
    names: Names,
    #[serde(default)]
    language_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Chat {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
    #[serde(flatten)]
    names: Names,
}

#[derive(Debug, Deserialize)]
struct Message {
    message_id: i64,
    date: i64,
    chat: Chat,
    #[serde(default)]
    from: Option<User>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    id: String,
    from: User,
    #[serde(default)]
    data: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChatMember {
    status: String,
}

#[derive(Debug, Deserialize)]
struct ChatMemberUpdated {
    chat: Chat,
    from: User,
    date: i64,
    new_chat_member: ChatMember,
}

/// The user's names, each falling back to the chat's.
fn profile_of(user: Option<&User>, chat: Option<&Chat>) -> Profile {
    let (user, chat) = (user.map(|u| &u.names), chat.map(|c| &c.names));
    let pick = |field: fn(&Names) -> &Option<String>| {
        user.and_then(|n| field(n).clone())
            .or_else(|| chat.and_then(|n| field(n).clone()))
    };
    Profile {
        first_name: pick(|n| &n.first_name),
        last_name: pick(|n| &n.last_name),
        username: pick(|n| &n.username),
    }
    .bounded()
}

fn timestamp(seconds: i64, fallback: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().unwrap_or(fallback)
}

/// Words that stop a subscription, compared case-insensitively on the whole trimmed message.
const STOP_WORDS: &[&str] = &["/stop", "stop", "unsubscribe", "/unsubscribe"];

/// Parse an update body into what happened. `now` stands in for times the update lacks.
///
/// # Errors
/// 400 `invalid_update` when the body is not a Telegram update.
pub fn parse_update(bot: &BotConfig, body: &[u8], now: DateTime<Utc>) -> Result<Inbound> {
    let update: Update = serde_json::from_slice(body)
        .map_err(|e| Error::invalid("invalid_update", format!("not a Telegram update: {e}")))?;
    let event_id = update.update_id.to_string();
    let evidence = format!("update_id {}", update.update_id);
    let channel = bot.channel.clone();
    let address = |id: i64| Address::parse(Platform::Telegram, &id.to_string());
    let ignored = |reason: &str| Inbound::ignored(channel.clone(), event_id.clone(), reason);
    // Every event of an update is about one private chat of this bot, under the update's id.
    let event = |chat_id: i64,
                 profile: Profile,
                 locale: Option<Locale>,
                 at: DateTime<Utc>,
                 kind: InboundKind|
     -> Result<Inbound> {
        Ok(Inbound {
            channel: channel.clone(),
            event_id: event_id.clone(),
            address: Some(address(chat_id)?),
            profile,
            locale,
            at,
            kind,
        })
    };

    if let Some(message) = update.message {
        if message.chat.kind != "private" {
            return Ok(ignored("only private chats subscribe"));
        }
        let at = timestamp(message.date, now);
        let locale = message
            .from
            .as_ref()
            .and_then(|u| u.language_code.as_deref())
            .and_then(|c| Locale::parse(c).ok());
        let profile = profile_of(message.from.as_ref(), Some(&message.chat));
        let text = message.text.unwrap_or_default();
        let trimmed = text.trim();
        let kind = if let Some(rest) = start_command(trimmed) {
            let payload = rest.trim();
            let source = if payload.is_empty() {
                "telegram:/start".to_owned()
            } else {
                format!("telegram:/start {payload}")
            };
            InboundKind::OptIn {
                source,
                payload: (!payload.is_empty()).then(|| payload.to_owned()),
                evidence,
            }
        } else if STOP_WORDS.iter().any(|w| trimmed.eq_ignore_ascii_case(w)) {
            InboundKind::OptOut {
                source: format!("telegram:{}", trimmed.to_lowercase()),
                evidence,
            }
        } else if trimmed.is_empty() {
            InboundKind::Ignored {
                reason: "message without text".into(),
            }
        } else {
            InboundKind::Reply {
                message_id: message.message_id.to_string(),
                text,
            }
        };
        return event(message.chat.id, profile, locale, at, kind);
    }

    if let Some(query) = update.callback_query {
        let profile = profile_of(Some(&query.from), None);
        let locale = query
            .from
            .language_code
            .as_deref()
            .and_then(|c| Locale::parse(c).ok());
        let kind = match query.data {
            Some(data) => InboundKind::ButtonPress {
                press_id: query.id,
                data,
            },
            None => InboundKind::Ignored {
                reason: "callback query without data (game)".into(),
            },
        };
        // Presses in a private chat come from the chat's own user, whose id is the chat id.
        return event(query.from.id, profile, locale, now, kind);
    }

    if let Some(member) = update.my_chat_member {
        if member.chat.kind != "private" {
            return Ok(ignored("membership change outside a private chat"));
        }
        let at = timestamp(member.date, now);
        let status = member.new_chat_member.status.as_str();
        let kind = match status {
            "kicked" => InboundKind::Blocked {
                source: "telegram:my_chat_member kicked".into(),
                evidence,
            },
            "member" => InboundKind::Unblocked {
                source: "telegram:my_chat_member member".into(),
                evidence,
            },
            other => InboundKind::Ignored {
                reason: format!("membership status '{other}'"),
            },
        };
        let profile = profile_of(Some(&member.from), Some(&member.chat));
        return event(member.chat.id, profile, None, at, kind);
    }

    Ok(ignored("update type not used"))
}

/// `/start`, `/start payload` or `/start@botname payload`; returns what follows the command.
fn start_command(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("/start")?;
    if rest.is_empty() || rest.starts_with(' ') {
        return Some(rest);
    }
    let after_mention = rest.strip_prefix('@')?;
    Some(
        after_mention
            .split_once(' ')
            .map(|(_, payload)| payload)
            .unwrap_or(""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fixtures::{raw, telegram_bot};

    fn bot() -> BotConfig {
        telegram_bot("1:x", "hook")
    }

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn start_command_fixture_is_an_opt_in_with_evidence() {
        let inbound = parse_update(&bot(), &raw("telegram/update_start_command"), now()).unwrap();
        assert_eq!(inbound.event_id, "10000");
        assert_eq!(inbound.address.unwrap().as_str(), "1111111");
        assert_eq!(
            inbound.profile.first_name.as_deref(),
            Some("Test Firstname")
        );
        assert_eq!(inbound.at, timestamp(1441645532, now()));
        match inbound.kind {
            InboundKind::OptIn {
                source,
                payload,
                evidence,
            } => {
                assert_eq!(source, "telegram:/start");
                assert_eq!(payload, None);
                assert_eq!(evidence, "update_id 10000");
            }
            other => panic!("expected opt-in, got {other:?}"),
        }
    }

    #[test]
    fn text_fixture_is_a_reply_with_locale() {
        let inbound = parse_update(&bot(), &raw("telegram/update_text_message"), now()).unwrap();
        assert!(
            matches!(inbound.kind, InboundKind::Reply { .. }),
            "{:?}",
            inbound.kind
        );
        assert!(inbound.locale.is_some());
    }

    #[test]
    fn kicked_fixture_blocks() {
        let inbound =
            parse_update(&bot(), &raw("telegram/update_my_chat_member_kicked"), now()).unwrap();
        assert!(matches!(inbound.kind, InboundKind::Blocked { .. }));
    }

    #[test]
    fn callback_fixture_is_a_button_press() {
        let inbound = parse_update(&bot(), &raw("telegram/update_callback_query"), now()).unwrap();
        match inbound.kind {
            InboundKind::ButtonPress { press_id, data } => {
                assert_eq!(press_id, "4382bfdwdsb323b2d9");
                assert_eq!(data, "Data from button callback");
            }
            other => panic!("expected press, got {other:?}"),
        }
    }

    #[test]
    fn deep_link_payload_and_stop_words() {
        let body = |text: &str| {
            serde_json::to_vec(&serde_json::json!({"update_id": 7, "message": {"message_id": 1, "date": 1, "chat": {"id": 5, "type": "private"}, "text": text}})).unwrap()
        };
        match parse_update(&bot(), &body("/start summer-promo"), now())
            .unwrap()
            .kind
        {
            InboundKind::OptIn {
                payload, source, ..
            } => {
                assert_eq!(payload.as_deref(), Some("summer-promo"));
                assert_eq!(source, "telegram:/start summer-promo");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(parse_update(&bot(), &body("/start@shopbot vip"), now()).unwrap().kind, InboundKind::OptIn { payload: Some(p), .. } if p == "vip")
        );
        for word in ["/stop", "STOP", " unsubscribe "] {
            assert!(
                matches!(
                    parse_update(&bot(), &body(word), now()).unwrap().kind,
                    InboundKind::OptOut { .. }
                ),
                "{word}"
            );
        }
        assert!(matches!(
            parse_update(&bot(), &body("/starting"), now())
                .unwrap()
                .kind,
            InboundKind::Reply { .. }
        ));
    }

    #[test]
    fn group_messages_are_ignored_and_garbage_is_rejected() {
        let group = serde_json::json!({"update_id": 8, "message": {"message_id": 1, "date": 1, "chat": {"id": -5, "type": "group"}, "text": "/start"}});
        let inbound = parse_update(&bot(), &serde_json::to_vec(&group).unwrap(), now()).unwrap();
        assert!(matches!(inbound.kind, InboundKind::Ignored { .. }));
        assert_eq!(
            parse_update(&bot(), b"{\"update\":", now())
                .unwrap_err()
                .code(),
            "invalid_update"
        );
        assert_eq!(
            parse_update(&bot(), b"{}", now()).unwrap_err().code(),
            "invalid_update"
        );
    }

    #[test]
    fn secret_header_is_checked() {
        let ok = Request::new(http::Method::POST, "/").with_header(SECRET_HEADER, "hook");
        assert!(authenticate(&ok, &bot()).is_ok());
        let wrong = Request::new(http::Method::POST, "/").with_header(SECRET_HEADER, "nope");
        assert_eq!(authenticate(&wrong, &bot()).unwrap_err().status(), 401);
        assert_eq!(
            authenticate(&Request::new(http::Method::POST, "/"), &bot())
                .unwrap_err()
                .status(),
            401
        );
    }
}
