//! Sending on the Viber Bot API: a rendered message becomes one `send_message` call (text, or a
//! picture with its text) with the buttons as a keyboard, and the answer becomes a [`SendOutcome`].
//! Viber answers HTTP 200 for its own errors: the body's `status` decides.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::event::rating_button_data;
use crate::message::{Button, RenderedMessage};
use crate::messenger::{ApiCall, HttpClient, SendOutcome};
use crate::subscriber::Address;

use super::{BotConfig, MessageToken};

/// The header carrying the bot's auth token.
pub const AUTH_HEADER: &str = "x-viber-auth-token";
/// Text, pictures and keyboards of open-url and reply buttons all exist since API version 1; asking
/// for more would drop the message on older clients.
const MIN_API_VERSION: u8 = 1;
/// Viber's limit on `tracking_data`.
const MAX_TRACKING_DATA_CHARS: usize = 4_000;
/// A keyboard row is six columns wide.
const KEYBOARD_COLUMNS: usize = 6;
/// The status of a receiver who is not (or no longer) subscribed to the bot.
const NOT_SUBSCRIBED: i64 = 6;
/// The status of too many messages (to one receiver, or from the bot).
const TOO_MANY_REQUESTS: i64 = 12;
/// Status 12 gives no delay; the channel pauses this long before trying again.
const TOO_MANY_REQUESTS_PAUSE_SECS: u64 = 10;

/// The `send_message` body for `message` to `receiver`. `tracking_data` carries the campaign, so what
/// the person answers can be traced to it; rating buttons reply with
/// [`rating_button_data`]`(campaign_id, score)`, URL buttons open their URL.
pub fn request_body(
    campaign_id: &str,
    receiver: &Address,
    sender_name: &str,
    message: &RenderedMessage,
) -> Value {
    let mut body = json!({
        "receiver": receiver.as_str(),
        "min_api_version": MIN_API_VERSION,
        "sender": { "name": sender_name },
        "tracking_data": campaign_id.chars().take(MAX_TRACKING_DATA_CHARS).collect::<String>(),
        "text": message.text,
    });
    match &message.photo_url {
        Some(photo) => {
            body["type"] = "picture".into();
            body["media"] = photo.as_str().into();
        }
        None => body["type"] = "text".into(),
    }
    let buttons: Vec<Value> = message
        .buttons
        .iter()
        .filter(|row| !row.is_empty())
        .flat_map(|row| {
            // The buttons of a row share its six columns.
            let columns = (KEYBOARD_COLUMNS / row.len()).max(1);
            row.iter()
                .map(move |button| keyboard_button(campaign_id, button, columns))
        })
        .collect();
    if !buttons.is_empty() {
        body["keyboard"] =
            json!({ "Type": "keyboard", "DefaultHeight": false, "Buttons": buttons });
    }
    body
}

fn keyboard_button(campaign_id: &str, button: &Button, columns: usize) -> Value {
    let (action_type, action_body, text) = match button {
        Button::Url { text, url } => ("open-url", url.clone(), text),
        Button::Rating { text, score } => ("reply", rating_button_data(campaign_id, *score), text),
    };
    json!({
        "Columns": columns,
        "Rows": 1,
        "ActionType": action_type,
        "ActionBody": action_body,
        "Text": text,
    })
}

/// Send one message: `POST {api_url}/pa/send_message` with the bot's token in `X-Viber-Auth-Token`.
/// The token never appears in the outcome.
pub fn send<H: HttpClient + ?Sized>(
    client: &H,
    api_url: &str,
    bot: &BotConfig,
    body: &Value,
) -> SendOutcome {
    match call(api_url, bot, body) {
        Ok(call) => call.send(client),
        Err(refused) => refused,
    }
}

/// The call of [`send`], to send alone or in flight with others.
///
/// # Errors
/// `invalid_request` when the request cannot be built.
pub fn call(api_url: &str, bot: &BotConfig, body: &Value) -> Result<ApiCall, SendOutcome> {
    let url = format!("{}/pa/send_message", api_url.trim_end_matches('/'));
    http::Request::post(url)
        .header("content-type", "application/json")
        .header(AUTH_HEADER, bot.token.expose())
        .body(body.to_string().into_bytes())
        .map(|request| ApiCall::new(request, outcome, Some(bot.token.clone())))
        .map_err(|_| SendOutcome::Rejected {
            code: "invalid_request".into(),
            reason: "the send_message request could not be built (check viber_api_url and the bot token)".into(),
        })
}

#[derive(Deserialize)]
struct Answer {
    status: i64,
    #[serde(default)]
    status_message: Option<String>,
    #[serde(default)]
    message_token: Option<MessageToken>,
}

/// What a Viber error status means, for the ledger and statistics.
pub fn status_meaning(status: i64) -> &'static str {
    match status {
        1 => "invalid webhook URL",
        2 => "invalid auth token",
        3 => "malformed request",
        4 => "missing data",
        5 => "the receiver is not registered on Viber",
        6 => "the receiver is not subscribed to the bot",
        7 => "the bot is blocked",
        8 => "the bot was not found",
        9 => "the bot is suspended",
        10 => "the bot's webhook is not set",
        11 => "the receiver has no device that can show the message",
        12 => "too many requests",
        13 | 14 => "the receiver's Viber version does not support this message",
        _ => "rejected by the Viber Bot API",
    }
}

/// Map a `send_message` answer to an outcome: status 0 is sent (the message token is the id delivery
/// and seen callbacks name); 6 means the person is gone; 12 slows the channel down; any other status
/// fails with its code; 5xx, 429 and unreadable error answers are transient.
pub fn outcome(http_status: u16, body: &[u8]) -> SendOutcome {
    let answer = serde_json::from_slice::<Answer>(body).ok();
    let Some(answer) = answer.filter(|_| (200..300).contains(&http_status)) else {
        let reason = format!("HTTP {http_status} without a Viber answer");
        return if http_status >= 500 || http_status == 429 {
            SendOutcome::Transient { reason }
        } else if (200..300).contains(&http_status) {
            // Accepted but unreadable: it may have gone out, so it must never be sent again.
            SendOutcome::Sent {
                message_id: String::new(),
            }
        } else {
            SendOutcome::Rejected {
                code: format!("http_{http_status}"),
                reason,
            }
        };
    };
    if answer.status == 0 {
        return SendOutcome::Sent {
            message_id: answer
                .message_token
                .map(|token| token.to_string())
                .unwrap_or_default(),
        };
    }
    let code = answer.status.to_string();
    let meaning = status_meaning(answer.status);
    let reason = format!("{meaning} ({})", answer.status_message.unwrap_or_default());
    match answer.status {
        NOT_SUBSCRIBED => SendOutcome::RecipientGone { code, reason },
        TOO_MANY_REQUESTS => SendOutcome::RateLimited {
            retry_after_secs: TOO_MANY_REQUESTS_PAUSE_SECS,
            reason,
        },
        _ => SendOutcome::Rejected { code, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fixtures::{outcome_of, viber_bot, FakeApi};
    use crate::subscriber::Platform;

    /// "Hi Ada" with whatever buttons and photo the test adds.
    fn message() -> RenderedMessage {
        serde_json::from_value(json!({ "text": "Hi Ada" })).unwrap()
    }

    fn receiver() -> Address {
        Address::parse(Platform::Viber, "jc9HsWTZ2Yf2NkRZ8KcNug==").unwrap()
    }

    #[test]
    fn ok_fixture_gives_the_message_token() {
        assert_eq!(
            outcome_of("viber/response_send_message_ok", outcome),
            SendOutcome::Sent {
                message_id: "1234567890".into()
            }
        );
    }

    #[test]
    fn too_many_requests_fixture_slows_down() {
        assert!(matches!(
            outcome_of("viber/response_error_12_too_many_requests", outcome),
            SendOutcome::RateLimited { retry_after_secs: TOO_MANY_REQUESTS_PAUSE_SECS, reason } if reason.contains("Too many requests")
        ));
    }

    #[test]
    fn the_status_decides_under_http_200() {
        let answer = |status: i64| {
            format!(
                r#"{{"status":{status},"status_message":"x","message_token":4912661846655238145}}"#
            )
            .into_bytes()
        };
        assert_eq!(
            outcome(200, &answer(0)),
            SendOutcome::Sent {
                message_id: "4912661846655238145".into()
            }
        );
        assert!(
            matches!(outcome(200, &answer(6)), SendOutcome::RecipientGone { code, .. } if code == "6")
        );
        assert!(
            matches!(outcome(200, &answer(5)), SendOutcome::Rejected { code, reason } if code == "5" && reason.contains("not registered"))
        );
        assert!(
            matches!(outcome(200, &answer(2)), SendOutcome::Rejected { code, .. } if code == "2")
        );
        assert!(matches!(
            outcome(502, b"<html>"),
            SendOutcome::Transient { .. }
        ));
        assert!(matches!(
            outcome(500, &answer(0)),
            SendOutcome::Transient { .. }
        ));
        assert!(
            matches!(outcome(404, b""), SendOutcome::Rejected { code, .. } if code == "http_404")
        );
        assert_eq!(
            outcome(200, b"not json"),
            SendOutcome::Sent {
                message_id: String::new()
            }
        );
    }

    #[test]
    fn text_and_picture_bodies_carry_sender_campaign_and_version() {
        let text = request_body("c1", &receiver(), "Shop", &message());
        assert_eq!(
            text,
            json!({
                "receiver": "jc9HsWTZ2Yf2NkRZ8KcNug==",
                "min_api_version": 1,
                "sender": {"name": "Shop"},
                "tracking_data": "c1",
                "type": "text",
                "text": "Hi Ada",
            })
        );
        let pictured = RenderedMessage {
            photo_url: Some("https://x.test/p.jpg".into()),
            ..message()
        };
        let picture = request_body("c1", &receiver(), "Shop", &pictured);
        assert_eq!(
            (picture["type"].as_str(), picture["media"].as_str()),
            (Some("picture"), Some("https://x.test/p.jpg"))
        );
        assert_eq!(picture["text"], "Hi Ada");
    }

    #[test]
    fn buttons_become_a_keyboard_sharing_each_rows_columns() {
        let buttoned: RenderedMessage = serde_json::from_value(json!({
            "text": "Hi Ada",
            "buttons": [
                [{ "kind": "url", "text": "Shop", "url": "https://x.test" }],
                [{ "kind": "rating", "text": "Great", "score": 5 }, { "kind": "rating", "text": "Bad", "score": 1 }]
            ]
        }))
        .unwrap();
        let body = request_body("c1", &receiver(), "Shop", &buttoned);
        let buttons = &body["keyboard"]["Buttons"];
        assert_eq!(body["keyboard"]["Type"], "keyboard");
        assert_eq!(
            buttons[0],
            json!({"Columns": 6, "Rows": 1, "ActionType": "open-url", "ActionBody": "https://x.test", "Text": "Shop"})
        );
        assert_eq!(
            buttons[1],
            json!({"Columns": 3, "Rows": 1, "ActionType": "reply", "ActionBody": "rate:c1:5", "Text": "Great"})
        );
        assert_eq!(buttons[2]["ActionBody"], "rate:c1:1");
    }

    #[test]
    fn send_posts_to_send_message_with_the_token_header() {
        let api = FakeApi::default().answer(
            "/pa/send_message",
            200,
            r#"{"status":0,"status_message":"ok","message_token":4912661846655238145}"#,
        );
        let outcome = send(&api, "http://viber.test/", &viber_bot("tok"), &json!({}));
        assert_eq!(
            outcome,
            SendOutcome::Sent {
                message_id: "4912661846655238145".into()
            }
        );
        let request = api.requests().remove(0);
        assert_eq!(request.uri(), "http://viber.test/pa/send_message");
        assert_eq!(request.headers()[AUTH_HEADER], "tok");
        let refused = FakeApi::default().refuse("/pa/");
        assert!(matches!(
            send(&refused, "http://viber.test", &viber_bot("tok"), &json!({})),
            SendOutcome::Transient { .. }
        ));
    }
}
