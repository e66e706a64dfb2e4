//! Sending on the Viber Bot API: a rendered message becomes one `send_message` call (text, or a
//! picture with its text) with the buttons as a keyboard, or one `broadcast_message` call to up to
//! 300 subscribers who get the same message, and the answer becomes a [`SendOutcome`] per receiver.
//! Viber answers HTTP 200 for its own errors: the body's `status` decides.
//!
//! A broadcast has one message token for all its receivers, and the delivered and seen callbacks
//! name the token with the person, so a sent message's id is [`receipt_id`]: token and receiver.

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
/// Status 12 gives no delay; the channel (or, in a broadcast, the one receiver) waits this long
/// before trying again.
const TOO_MANY_REQUESTS_PAUSE_SECS: u64 = 10;
/// The most receivers of one `broadcast_message` call.
pub const MAX_BROADCAST_RECIPIENTS: usize = 300;

/// The id of the message a receiver got: the call's message token with the receiver, as the delivered
/// and seen callbacks name it (a broadcast's token is shared by all its receivers).
pub fn receipt_id(token: MessageToken, receiver: &str) -> String {
    format!("{token}:{receiver}")
}

/// The `send_message` body for `message` to `receiver` (see [`message_body`]).
pub fn request_body(
    campaign_id: &str,
    receiver: &Address,
    sender_name: &str,
    message: &RenderedMessage,
) -> Value {
    let mut body = message_body(campaign_id, sender_name, message);
    body["receiver"] = receiver.as_str().into();
    body
}

/// The `broadcast_message` body for `message` to every address of `receivers` (see [`message_body`]).
pub fn broadcast_body(
    campaign_id: &str,
    receivers: &[&Address],
    sender_name: &str,
    message: &RenderedMessage,
) -> Value {
    let mut body = message_body(campaign_id, sender_name, message);
    body["broadcast_list"] = receivers.iter().map(|to| to.as_str()).collect();
    body
}

/// A Viber message without its receiver, as `send_message`, `broadcast_message` and the answer to
/// `conversation_started` carry it. `tracking_data` carries the campaign (when there is one), so what
/// the person answers can be traced to it; rating buttons reply with
/// [`rating_button_data`]`(campaign_id, score)`, URL buttons open their URL.
pub fn message_body(campaign_id: &str, sender_name: &str, message: &RenderedMessage) -> Value {
    let mut body = json!({
        "min_api_version": MIN_API_VERSION,
        "sender": { "name": sender_name },
        "text": message.text,
    });
    if !campaign_id.is_empty() {
        let tracking: String = campaign_id.chars().take(MAX_TRACKING_DATA_CHARS).collect();
        body["tracking_data"] = tracking.into();
    }
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
    receiver: &Address,
    body: &Value,
) -> SendOutcome {
    match call(api_url, bot, receiver, body) {
        Ok(call) => call.send(client),
        Err(refused) => refused,
    }
}

/// The call of [`send`], to send alone or in flight with others.
///
/// # Errors
/// `invalid_request` when the request cannot be built.
pub fn call(
    api_url: &str,
    bot: &BotConfig,
    receiver: &Address,
    body: &Value,
) -> Result<ApiCall, SendOutcome> {
    let request = api_request(api_url, "send_message", bot, body)?;
    let receivers = vec![receiver.as_str().to_owned()];
    Ok(ApiCall::for_each(
        request,
        outcomes,
        receivers,
        Some(bot.token.clone()),
    ))
}

/// The `broadcast_message` call of a [`broadcast_body`] to `receivers`, read into one outcome per
/// receiver in their order.
///
/// # Errors
/// `invalid_request` when the request cannot be built.
pub fn broadcast_call(
    api_url: &str,
    bot: &BotConfig,
    receivers: &[&Address],
    body: &Value,
) -> Result<ApiCall, SendOutcome> {
    let request = api_request(api_url, "broadcast_message", bot, body)?;
    let receivers = receivers.iter().map(|to| to.as_str().to_owned()).collect();
    Ok(ApiCall::for_each(
        request,
        outcomes,
        receivers,
        Some(bot.token.clone()),
    ))
}

/// `POST {api_url}/pa/{method}` with the bot's token in `X-Viber-Auth-Token`.
fn api_request(
    api_url: &str,
    method: &str,
    bot: &BotConfig,
    body: &Value,
) -> Result<http::Request<Vec<u8>>, SendOutcome> {
    let url = format!("{}/pa/{method}", api_url.trim_end_matches('/'));
    http::Request::post(url)
        .header("content-type", "application/json")
        .header(AUTH_HEADER, bot.token.expose())
        .body(body.to_string().into_bytes())
        .map_err(|_| SendOutcome::Rejected {
            code: "invalid_request".into(),
            reason: format!(
                "the {method} request could not be built (check viber_api_url and the bot token)"
            ),
        })
}

#[derive(Deserialize)]
struct Answer {
    status: i64,
    #[serde(default)]
    status_message: Option<String>,
    #[serde(default)]
    message_token: Option<MessageToken>,
    /// A broadcast's receivers that did not get the message, each with its own status.
    #[serde(default)]
    failed_list: Vec<FailedReceiver>,
}

#[derive(Deserialize)]
struct FailedReceiver {
    receiver: String,
    status: i64,
    #[serde(default)]
    status_message: Option<String>,
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

/// Map a `send_message` or `broadcast_message` answer to one outcome per receiver, in the order of
/// `receivers`. Status 0: a receiver in the broadcast's `failed_list` has its own status (6 gone, 12
/// waits alone, others fail with the code), every other receiver got the message (its id is
/// [`receipt_id`]). Any other status is every receiver's: 6 means the person is gone, 12 slows the
/// channel down, others fail with the code. 5xx, 429 and unreadable error answers are transient; an
/// unreadable 2xx counts as sent (it may have gone out, so it must never be sent again).
pub fn outcomes(http_status: u16, body: &[u8], receivers: &[String]) -> Vec<SendOutcome> {
    let answer = serde_json::from_slice::<Answer>(body).ok();
    let Some(answer) = answer.filter(|_| (200..300).contains(&http_status)) else {
        let reason = format!("HTTP {http_status} without a Viber answer");
        let decided = if http_status >= 500 || http_status == 429 {
            SendOutcome::Transient { reason }
        } else if (200..300).contains(&http_status) {
            SendOutcome::Sent {
                message_id: String::new(),
            }
        } else {
            SendOutcome::Rejected {
                code: format!("http_{http_status}"),
                reason,
            }
        };
        return vec![decided; receivers.len()];
    };
    if answer.status != 0 {
        let refused = status_outcome(answer.status, answer.status_message, false);
        return vec![refused; receivers.len()];
    }
    receivers
        .iter()
        .map(
            |receiver| match answer.failed_list.iter().find(|f| &f.receiver == receiver) {
                Some(failed) => status_outcome(failed.status, failed.status_message.clone(), true),
                None => SendOutcome::Sent {
                    message_id: answer
                        .message_token
                        .map(|token| receipt_id(token, receiver))
                        .unwrap_or_default(),
                },
            },
        )
        .collect()
}

/// The outcome of a non-zero status: 6 gone, 12 a rate limit (of the whole channel, or of this one
/// receiver in a broadcast), others refused with the code.
fn status_outcome(status: i64, status_message: Option<String>, one_receiver: bool) -> SendOutcome {
    let code = status.to_string();
    let meaning = status_meaning(status);
    let reason = format!("{meaning} ({})", status_message.unwrap_or_default());
    match status {
        NOT_SUBSCRIBED => SendOutcome::RecipientGone { code, reason },
        TOO_MANY_REQUESTS if one_receiver => SendOutcome::RecipientRateLimited {
            retry_after_secs: TOO_MANY_REQUESTS_PAUSE_SECS,
            reason,
        },
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
    use crate::messenger::send_calls;
    use crate::platform::fixtures::{outcome_of, response, viber_bot, FakeApi};
    use crate::subscriber::Platform;

    /// "Hi Ada" with whatever buttons and photo the test adds.
    fn message() -> RenderedMessage {
        serde_json::from_value(json!({ "text": "Hi Ada" })).unwrap()
    }

    const RECEIVER: &str = "jc9HsWTZ2Yf2NkRZ8KcNug==";

    fn receiver() -> Address {
        Address::parse(Platform::Viber, RECEIVER).unwrap()
    }

    /// The outcome of a `send_message` answer to [`RECEIVER`].
    fn outcome(http_status: u16, body: &[u8]) -> SendOutcome {
        outcomes(http_status, body, &[RECEIVER.to_owned()]).remove(0)
    }

    #[test]
    fn ok_fixture_gives_the_message_token_with_the_receiver() {
        assert_eq!(
            outcome_of("viber/response_send_message_ok", outcome),
            SendOutcome::Sent {
                message_id: format!("1234567890:{RECEIVER}")
            }
        );
    }

    #[test]
    fn a_broadcast_answer_gives_each_receiver_its_own_outcome() {
        let (status, body) = response("viber/response_broadcast_message_ok");
        let receivers: Vec<String> = [
            "pttm25kSGUo1919sBORWyA==",
            RECEIVER,
            "EGAZ3SZRi6zW1D0uNYhQHg==",
        ]
        .map(String::from)
        .into();
        let each = outcomes(status, &body, &receivers);
        assert!(
            matches!(&each[0], SendOutcome::RecipientGone { code, .. } if code == "6"),
            "{each:?}"
        );
        assert_eq!(
            each[1],
            SendOutcome::Sent {
                message_id: format!("40808912438712:{RECEIVER}")
            }
        );
        assert!(
            matches!(&each[2], SendOutcome::Rejected { code, reason } if code == "5" && reason.contains("Not found")),
            "{each:?}"
        );
        // Status 12 for one receiver holds only that person back.
        let limited =
            br#"{"status":0,"message_token":7,"failed_list":[{"receiver":"a","status":12}]}"#;
        let each = outcomes(200, limited, &["a".into(), "b".into()]);
        assert!(matches!(
            each[0],
            SendOutcome::RecipientRateLimited {
                retry_after_secs: TOO_MANY_REQUESTS_PAUSE_SECS,
                ..
            }
        ));
        assert_eq!(
            each[1],
            SendOutcome::Sent {
                message_id: "7:b".into()
            }
        );
        // A refused call is every receiver's outcome; status 12 for the call slows the channel.
        let refused = outcomes(200, br#"{"status":12}"#, &["a".into(), "b".into()]);
        assert!(refused
            .iter()
            .all(|o| matches!(o, SendOutcome::RateLimited { .. })));
        assert_eq!(outcomes(503, b"", &["a".into(), "b".into()]).len(), 2);
    }

    /// An API answering calls to `path` with status 0 and the message token 4912661846655238145.
    fn api_accepting(path: &'static str) -> FakeApi {
        FakeApi::default().answer(
            path,
            200,
            r#"{"status":0,"status_message":"ok","message_token":4912661846655238145}"#,
        )
    }

    #[test]
    fn a_broadcast_posts_one_body_with_the_broadcast_list() {
        let api = api_accepting("/pa/broadcast_message");
        let other = Address::parse(Platform::Viber, "pttm25kSGUo1919sBORWyA==").unwrap();
        let to = [&receiver(), &other];
        let body = broadcast_body("c1", &to, "Shop", &message());
        assert_eq!(
            body["broadcast_list"],
            json!([RECEIVER, "pttm25kSGUo1919sBORWyA=="])
        );
        assert!(body.get("receiver").is_none());
        assert_eq!(body["tracking_data"], "c1");
        let call = broadcast_call("http://viber.test", &viber_bot("tok"), &to, &body).unwrap();
        let outcomes = send_calls(&api, vec![Ok(call)]);
        assert_eq!(outcomes.len(), 2);
        assert_eq!(
            outcomes[1],
            SendOutcome::Sent {
                message_id: "4912661846655238145:pttm25kSGUo1919sBORWyA==".into()
            }
        );
        let request = api.requests().remove(0);
        assert_eq!(request.uri(), "http://viber.test/pa/broadcast_message");
        assert_eq!(request.headers()[AUTH_HEADER], "tok");
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
                message_id: format!("4912661846655238145:{RECEIVER}")
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
        let api = api_accepting("/pa/send_message");
        let outcome = send(
            &api,
            "http://viber.test/",
            &viber_bot("tok"),
            &receiver(),
            &json!({}),
        );
        assert_eq!(
            outcome,
            SendOutcome::Sent {
                message_id: format!("4912661846655238145:{RECEIVER}")
            }
        );
        let request = api.requests().remove(0);
        assert_eq!(request.uri(), "http://viber.test/pa/send_message");
        assert_eq!(request.headers()[AUTH_HEADER], "tok");
        let refused = FakeApi::default().refuse("/pa/");
        assert!(matches!(
            send(
                &refused,
                "http://viber.test",
                &viber_bot("tok"),
                &receiver(),
                &json!({})
            ),
            SendOutcome::Transient { .. }
        ));
    }
}
