//! Sending on the Telegram Bot API: a rendered message becomes a `sendMessage` (or `sendPhoto`, with the
//! text as caption) request in HTML parse mode with an inline keyboard, and the API's answer becomes a
//! [`SendOutcome`]. The error body's `error_code` decides, not only the HTTP status.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::event::rating_button_data;
use crate::message::{Button, RenderedMessage};
use crate::messenger::{ApiCall, HttpClient, SendOutcome};
use crate::subscriber::Address;

use super::BotConfig;

/// When a 429 carries no `parameters.retry_after`, wait this long before trying again.
const DEFAULT_RETRY_AFTER_SECS: u64 = 1;
/// The longest `retry_after` taken at its word: the Bot API asks for seconds, at most minutes; a larger
/// value is a broken answer and must not stop the bot for longer than this.
pub const MAX_RETRY_AFTER_SECS: u64 = 3_600;

/// One Bot API call: the method (`sendMessage`, `sendPhoto`) and its JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct TelegramRequest {
    /// The Bot API method.
    pub method: &'static str,
    /// The JSON body.
    pub body: Value,
}

/// Build the Bot API call for `message` to `chat`. Rating buttons carry
/// [`rating_button_data`]`(campaign_id, score)` as callback data; URL buttons open their URL.
pub fn request(campaign_id: &str, chat: &Address, message: &RenderedMessage) -> TelegramRequest {
    // Chat ids are validated integers; send them as numbers, as the Bot API documents.
    let chat_id: Value = chat
        .as_str()
        .parse::<i64>()
        .map_or_else(|_| Value::from(chat.as_str()), Value::from);
    let mut body = json!({ "chat_id": chat_id, "parse_mode": "HTML" });
    let method = match &message.photo_url {
        Some(photo) => {
            body["photo"] = Value::from(photo.as_str());
            body["caption"] = Value::from(message.text.as_str());
            "sendPhoto"
        }
        None => {
            body["text"] = Value::from(message.text.as_str());
            "sendMessage"
        }
    };
    let keyboard: Vec<Vec<Value>> = message
        .buttons
        .iter()
        .map(|row| {
            row.iter()
                .map(|button| match button {
                    Button::Url { text, url } => json!({ "text": text, "url": url }),
                    Button::Rating { text, score } => json!({ "text": text, "callback_data": rating_button_data(campaign_id, *score) }),
                })
                .collect::<Vec<Value>>()
        })
        .filter(|row| !row.is_empty())
        .collect();
    if !keyboard.is_empty() {
        body["reply_markup"] = json!({ "inline_keyboard": keyboard });
    }
    TelegramRequest { method, body }
}

/// Send one call: `POST {api_url}/bot{token}/{method}`. The token never appears in the outcome.
pub fn send<H: HttpClient + ?Sized>(
    client: &H,
    api_url: &str,
    bot: &BotConfig,
    request: &TelegramRequest,
) -> SendOutcome {
    match call(api_url, bot, request) {
        Ok(call) => call.send(client),
        Err(refused) => refused,
    }
}

/// The call of [`send`], to send alone or in flight with others.
///
/// # Errors
/// `invalid_request` when the URL cannot be built (the token is never in the reason).
pub fn call(
    api_url: &str,
    bot: &BotConfig,
    request: &TelegramRequest,
) -> Result<ApiCall, SendOutcome> {
    let token = bot.token.expose();
    let url = format!(
        "{}/bot{}/{}",
        api_url.trim_end_matches('/'),
        token,
        request.method
    );
    let mut body = request.body.clone();
    if bot.allow_paid_broadcast {
        // Paid broadcasts lift the bot's limit to 1000 messages a second; Telegram charges Stars.
        body["allow_paid_broadcast"] = Value::Bool(true);
    }
    http::Request::post(url)
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .map(|built| ApiCall::new(built, outcome, Some(bot.token.clone())))
        .map_err(|_| SendOutcome::Rejected {
            code: "invalid_request".into(),
            reason:
                "the Bot API request could not be built (check telegram_api_url and the bot token)"
                    .into(),
        })
}

#[derive(Deserialize)]
struct ApiResponse {
    ok: bool,
    #[serde(default)]
    result: Option<SentMessage>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct SentMessage {
    message_id: i64,
}

#[derive(Deserialize)]
struct ResponseParameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

/// Map a Bot API answer to an outcome: `ok` with `result.message_id` is sent; 429 waits
/// `parameters.retry_after`; 403 (blocked, deactivated, kicked) means the recipient is gone; 5xx is
/// transient; any other error is a rejection carrying the API's description.
pub fn outcome(status: u16, body: &[u8]) -> SendOutcome {
    let Ok(parsed) = serde_json::from_slice::<ApiResponse>(body) else {
        return if status >= 500 || status == 429 {
            SendOutcome::Transient {
                reason: format!("HTTP {status} without a Bot API body"),
            }
        } else if (200..300).contains(&status) {
            // Accepted but unreadable: the message went out, so it must never be sent again.
            SendOutcome::Sent {
                message_id: String::new(),
            }
        } else {
            SendOutcome::Rejected {
                code: status.to_string(),
                reason: format!("HTTP {status} without a Bot API body"),
            }
        };
    };
    if parsed.ok {
        return SendOutcome::Sent {
            message_id: parsed
                .result
                .map(|m| m.message_id.to_string())
                .unwrap_or_default(),
        };
    }
    let code = parsed.error_code.unwrap_or(status);
    let reason = parsed
        .description
        .unwrap_or_else(|| format!("Bot API error {code}"));
    match code {
        429 => SendOutcome::RateLimited {
            retry_after_secs: parsed
                .parameters
                .and_then(|p| p.retry_after)
                .unwrap_or(DEFAULT_RETRY_AFTER_SECS)
                .min(MAX_RETRY_AFTER_SECS),
            reason,
        },
        403 => SendOutcome::RecipientGone {
            code: code.to_string(),
            reason,
        },
        500..=599 => SendOutcome::Transient {
            reason: format!("{code}: {reason}"),
        },
        _ => SendOutcome::Rejected {
            code: code.to_string(),
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fixtures::{outcome_of, telegram_bot, FakeApi};
    use crate::subscriber::Platform;

    fn message() -> RenderedMessage {
        RenderedMessage {
            text: "Hi <b>Ada</b>".into(),
            photo_url: None,
            buttons: vec![],
            platform_template: None,
            message_tag: None,
        }
    }

    fn bot() -> BotConfig {
        telegram_bot("123:SECRET", "w")
    }

    #[test]
    fn a_bot_paying_for_broadcasts_says_so_on_each_message() {
        let chat = Address::parse(Platform::Telegram, "7").unwrap();
        let request = super::request("c1", &chat, &message());
        let plain = call("http://tg", &bot(), &request).ok().unwrap();
        assert!(!String::from_utf8_lossy(plain.request.body()).contains("allow_paid_broadcast"));
        let mut paid_bot = bot();
        paid_bot.allow_paid_broadcast = true;
        let paid = call("http://tg", &paid_bot, &request).ok().unwrap();
        let body: Value = serde_json::from_slice(paid.request.body()).unwrap();
        assert_eq!(body["allow_paid_broadcast"], Value::Bool(true));
        assert_eq!(body["text"], "Hi <b>Ada</b>");
    }

    #[test]
    fn ok_fixture_gives_the_message_id() {
        assert_eq!(
            outcome_of("telegram/response_send_message_ok_minimal", outcome),
            SendOutcome::Sent {
                message_id: "133".into()
            }
        );
    }

    #[test]
    fn blocked_fixture_means_the_recipient_is_gone() {
        assert_eq!(
            outcome_of("telegram/response_error_403_blocked", outcome),
            SendOutcome::RecipientGone {
                code: "403".into(),
                reason: "Forbidden: bot was blocked by the user".into()
            }
        );
    }

    #[test]
    fn too_many_requests_fixture_waits_retry_after() {
        assert!(matches!(
            outcome_of("telegram/response_error_429_retry_after", outcome),
            SendOutcome::RateLimited {
                retry_after_secs: 1,
                ..
            }
        ));
        let longer = br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 35","parameters":{"retry_after":35}}"#;
        assert!(matches!(
            outcome(429, longer),
            SendOutcome::RateLimited {
                retry_after_secs: 35,
                ..
            }
        ));
    }

    #[test]
    fn an_absurd_retry_after_is_clamped_to_an_hour() {
        let absurd = br#"{"ok":false,"error_code":429,"description":"Too Many Requests","parameters":{"retry_after":18446744073709551615}}"#;
        assert!(matches!(
            outcome(429, absurd),
            SendOutcome::RateLimited {
                retry_after_secs: MAX_RETRY_AFTER_SECS,
                ..
            }
        ));
    }

    #[test]
    fn server_errors_are_transient_and_bad_requests_are_rejected_with_the_description() {
        assert!(matches!(
            outcome(502, b"<html>Bad Gateway</html>"),
            SendOutcome::Transient { .. }
        ));
        assert!(matches!(
            outcome(
                500,
                br#"{"ok":false,"error_code":500,"description":"Internal Server Error"}"#
            ),
            SendOutcome::Transient { .. }
        ));
        let bad =
            br#"{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities"}"#;
        assert_eq!(
            outcome(400, bad),
            SendOutcome::Rejected {
                code: "400".into(),
                reason: "Bad Request: can't parse entities".into()
            }
        );
    }

    #[test]
    fn text_messages_use_html_and_an_inline_keyboard() {
        let chat = Address::parse(Platform::Telegram, "1111111").unwrap();
        let rated = RenderedMessage {
            buttons: vec![
                vec![Button::Url {
                    text: "Shop".into(),
                    url: "https://example.com/s".into(),
                }],
                vec![
                    Button::Rating {
                        text: "★".into(),
                        score: 1,
                    },
                    Button::Rating {
                        text: "★★★★★".into(),
                        score: 5,
                    },
                ],
            ],
            ..message()
        };
        let call = request("c1", &chat, &rated);
        assert_eq!(call.method, "sendMessage");
        assert_eq!(call.body["chat_id"], 1111111);
        assert_eq!(call.body["text"], "Hi <b>Ada</b>");
        assert_eq!(call.body["parse_mode"], "HTML");
        assert_eq!(
            call.body["reply_markup"]["inline_keyboard"][0][0]["url"],
            "https://example.com/s"
        );
        assert_eq!(
            call.body["reply_markup"]["inline_keyboard"][1][1]["callback_data"],
            "rate:c1:5"
        );
        assert!(request("c1", &chat, &message())
            .body
            .get("reply_markup")
            .is_none());
    }

    #[test]
    fn photos_carry_the_text_as_caption() {
        let chat = Address::parse(Platform::Telegram, "-100123").unwrap();
        let call = request(
            "c1",
            &chat,
            &RenderedMessage {
                photo_url: Some("https://example.com/p.jpg".into()),
                ..message()
            },
        );
        assert_eq!(call.method, "sendPhoto");
        assert_eq!(call.body["photo"], "https://example.com/p.jpg");
        assert_eq!(call.body["caption"], "Hi <b>Ada</b>");
        assert_eq!(call.body["chat_id"], -100123);
        assert!(call.body.get("text").is_none());
    }

    #[test]
    fn send_posts_to_the_bot_method_and_never_leaks_the_token() {
        let capture = FakeApi::default().refuse("sendPhoto").answer(
            "/",
            200,
            r#"{"ok":true,"result":{"message_id":7}}"#,
        );
        let chat = Address::parse(Platform::Telegram, "42").unwrap();
        let sent = send(
            &capture,
            "http://127.0.0.1:9/",
            &bot(),
            &request("c1", &chat, &message()),
        );
        assert_eq!(
            sent,
            SendOutcome::Sent {
                message_id: "7".into()
            }
        );
        let captured = capture.requests().remove(0);
        assert_eq!(
            captured.uri(),
            "http://127.0.0.1:9/bot123:SECRET/sendMessage"
        );
        assert_eq!(captured.method(), http::Method::POST);
        let photo = RenderedMessage {
            photo_url: Some("https://example.com/p.jpg".into()),
            ..message()
        };
        match send(
            &capture,
            "http://127.0.0.1:9",
            &bot(),
            &request("c1", &chat, &photo),
        ) {
            SendOutcome::Transient { reason } => assert!(!reason.contains("SECRET"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
