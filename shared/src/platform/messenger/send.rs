//! Sending on the Messenger Send API: standard messages (`messaging_type: RESPONSE`) only within 24 hours
//! of the person's last message; the Graph API's answer becomes a [`SendOutcome`], acting on
//! `error.code` and `error_subcode` rather than the HTTP status.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::event::rating_button_data;
use crate::message::{Button, MessageTag, RenderedMessage};
use crate::messenger::SendOutcome;
use crate::platform::meta_graph::graph_error;
use crate::subscriber::Address;

use super::STANDARD_WINDOW_HOURS;

/// A button template carries at most three buttons…
const MAX_TEMPLATE_BUTTONS: usize = 3;
/// …and a text of at most 640 characters.
const MAX_BUTTON_TEMPLATE_TEXT_CHARS: usize = 640;
/// Button titles are at most 20 characters.
const MAX_BUTTON_TITLE_CHARS: usize = 20;
/// A text message is at most 2000 characters.
const MAX_TEXT_CHARS: usize = 2000;
/// The title of a generic template element (the text under a photo) is at most 80 characters.
const MAX_TITLE_CHARS: usize = 80;
/// A message carries at most 13 quick replies.
const MAX_QUICK_REPLIES: usize = 13;
/// Code 613 ("calls to this API have exceeded the rate limit") gives no delay; this is where we start.
const RATE_LIMIT_PAUSE_SECS: u64 = 2;

/// Error code of a message sent outside the allowed window.
const OUTSIDE_WINDOW_CODE: i64 = 10;
/// Error subcode of a message sent outside the allowed window.
const OUTSIDE_WINDOW_SUBCODE: i64 = 2_018_278;
/// Error code of a person who cannot be reached (blocked the page, deleted the account…).
const PERSON_UNAVAILABLE_CODE: i64 = 551;
/// Error code of the Send API's rate limit.
const RATE_LIMIT_CODE: i64 = 613;

/// Refuse a recipient whose standard messaging window is closed (they last wrote more than 24 hours
/// ago, or never): a promotional message may not be sent then.
///
/// # Errors
/// [`SendOutcome::OutsideWindow`] with the reason.
pub fn check_window(
    last_inbound_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), SendOutcome> {
    let open = last_inbound_at.is_some_and(|at| now - at < Duration::hours(STANDARD_WINDOW_HOURS));
    if open {
        Ok(())
    } else {
        Err(SendOutcome::OutsideWindow {
            reason: "outside_messaging_window: the person has not written to the page in the last 24 hours".to_owned(),
        })
    }
}

/// One button of a template: a URL opens, a rating posts back its data.
fn template_button(campaign_id: &str, button: &Button) -> Value {
    match button {
        Button::Url { text, url } => json!({
            "type": "web_url", "url": url, "title": title(text)
        }),
        Button::Rating { text, score } => json!({
            "type": "postback", "title": title(text), "payload": rating_button_data(campaign_id, *score)
        }),
    }
}

fn title(text: &str) -> String {
    text.chars().take(MAX_BUTTON_TITLE_CHARS).collect()
}

/// The `message` of the Send API request: a generic template with a photo, a button template with
/// buttons, plain text otherwise. Where the buttons do not fit a template (more than three, or text
/// over 640 characters), links are written into the text and ratings become quick replies; a photo
/// whose text is longer than a title is written as a link (Messenger previews it).
fn message_body(campaign_id: &str, message: &RenderedMessage) -> Value {
    let buttons: Vec<&Button> = message.buttons.iter().flatten().collect();
    let template_buttons = || -> Vec<Value> {
        buttons
            .iter()
            .map(|button| template_button(campaign_id, button))
            .collect()
    };
    let fits_template = buttons.len() <= MAX_TEMPLATE_BUTTONS;
    let fits_title = message.text.chars().count() <= MAX_TITLE_CHARS;
    if let Some(photo) = message
        .photo_url
        .as_deref()
        .filter(|_| fits_template && fits_title)
    {
        let mut element = json!({ "title": message.text, "image_url": photo });
        if !buttons.is_empty() {
            element["buttons"] = template_buttons().into();
        }
        return json!({ "attachment": { "type": "template", "payload": {
            "template_type": "generic", "elements": [element]
        } } });
    }
    let short = message.text.chars().count() <= MAX_BUTTON_TEMPLATE_TEXT_CHARS;
    if !buttons.is_empty() && fits_template && short {
        return json!({ "attachment": { "type": "template", "payload": {
            "template_type": "button", "text": message.text, "buttons": template_buttons()
        } } });
    }
    let mut text = message.text.clone();
    if let Some(photo) = &message.photo_url {
        text.push_str(&format!("\n{photo}"));
    }
    let mut quick_replies = Vec::new();
    for button in buttons {
        match button {
            Button::Url { text: label, url } => text.push_str(&format!("\n{label}: {url}")),
            Button::Rating { text: label, score } => quick_replies.push(json!({
                "content_type": "text", "title": title(label), "payload": rating_button_data(campaign_id, *score)
            })),
        }
    }
    let mut body = json!({ "text": text });
    if !quick_replies.is_empty() {
        quick_replies.truncate(MAX_QUICK_REPLIES);
        body["quick_replies"] = quick_replies.into();
    }
    body
}

/// How a message may be sent: as a standard message inside the window, or under a message tag after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Messaging {
    /// `messaging_type: RESPONSE`, within 24 hours of the person's last message.
    Standard,
    /// `messaging_type: MESSAGE_TAG` with the tag, for a transactional message outside the window.
    Tagged(MessageTag),
}

/// How `message` may go out to a person who last wrote at `last_inbound_at`: standard inside the
/// window; tagged outside it when the template chose a message tag.
///
/// # Errors
/// [`SendOutcome::OutsideWindow`] when the window is closed and the message has no tag.
pub fn messaging_for(
    message: &RenderedMessage,
    last_inbound_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Messaging, SendOutcome> {
    match (check_window(last_inbound_at, now), message.message_tag) {
        (Ok(()), _) => Ok(Messaging::Standard),
        (Err(_), Some(tag)) => Ok(Messaging::Tagged(tag)),
        (Err(outside), None) => Err(outside),
    }
}

/// The Send API request body for one message.
///
/// # Errors
/// [`SendOutcome::Rejected`] `text_too_long` for a text over Messenger's 2000 characters.
pub fn request_body(
    campaign_id: &str,
    to: &Address,
    message: &RenderedMessage,
    messaging: Messaging,
) -> Result<Value, SendOutcome> {
    let length = message.text.chars().count();
    if length > MAX_TEXT_CHARS {
        return Err(SendOutcome::Rejected {
            code: "text_too_long".into(),
            reason: format!(
                "the text is {length} characters; Messenger takes at most {MAX_TEXT_CHARS}"
            ),
        });
    }
    let mut body = json!({
        "recipient": { "id": to.as_str() },
        "messaging_type": "RESPONSE",
        "message": message_body(campaign_id, message),
    });
    if let Messaging::Tagged(tag) = messaging {
        body["messaging_type"] = "MESSAGE_TAG".into();
        body["tag"] = tag.as_str().into();
    }
    Ok(body)
}

#[derive(Deserialize)]
struct Accepted {
    message_id: String,
}

/// Map a Send API answer to an outcome.
pub fn outcome(status: u16, body: &[u8]) -> SendOutcome {
    if (200..300).contains(&status) {
        return match serde_json::from_slice::<Accepted>(body) {
            Ok(accepted) => SendOutcome::Sent {
                message_id: accepted.message_id,
            },
            Err(_) => SendOutcome::Transient {
                reason: "accepted without a message id".into(),
            },
        };
    }
    let error = match graph_error(status, body) {
        Ok(error) => error,
        Err(outcome) => return outcome,
    };
    let code = error.code.to_string();
    let reason = error.message;
    match error.code {
        OUTSIDE_WINDOW_CODE => SendOutcome::OutsideWindow {
            reason: format!("outside_messaging_window: {reason}"),
        },
        _ if error.error_subcode == Some(OUTSIDE_WINDOW_SUBCODE) => SendOutcome::OutsideWindow {
            reason: format!("outside_messaging_window: {reason}"),
        },
        PERSON_UNAVAILABLE_CODE => SendOutcome::RecipientGone { code, reason },
        RATE_LIMIT_CODE => SendOutcome::RateLimited {
            retry_after_secs: RATE_LIMIT_PAUSE_SECS,
            reason,
        },
        _ if status >= 500 => SendOutcome::Transient { reason },
        _ => SendOutcome::Rejected { code, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fixtures::{outcome_of, response};
    use crate::subscriber::Platform;

    /// The request body of a standard message from campaign `c1` to [`to`].
    fn standard_body(message: &RenderedMessage) -> Result<Value, SendOutcome> {
        request_body("c1", &to(), message, Messaging::Standard)
    }

    fn message(text: &str, photo: Option<&str>, buttons: Vec<Button>) -> RenderedMessage {
        RenderedMessage {
            text: text.into(),
            photo_url: photo.map(str::to_owned),
            buttons: if buttons.is_empty() {
                vec![]
            } else {
                vec![buttons]
            },
            platform_template: None,
            message_tag: None,
        }
    }

    fn shop() -> Button {
        Button::Url {
            text: "Shop".into(),
            url: "https://x.test".into(),
        }
    }

    fn stars(score: u8) -> Button {
        Button::Rating {
            text: "★".repeat(usize::from(score)),
            score,
        }
    }

    fn to() -> Address {
        Address::parse(Platform::Messenger, "1134343043305865").unwrap()
    }

    #[test]
    fn outside_the_window_only_a_tagged_message_goes_out_with_its_tag() {
        let now: DateTime<Utc> = "2026-11-01T10:00:00Z".parse().unwrap();
        let wrote = |hours| Some(now - Duration::hours(hours));
        let mut update = message("Your order shipped", None, vec![]);
        assert_eq!(
            messaging_for(&update, wrote(2), now),
            Ok(Messaging::Standard)
        );
        assert!(matches!(
            messaging_for(&update, wrote(30), now),
            Err(SendOutcome::OutsideWindow { .. })
        ));
        update.message_tag = Some(MessageTag::PostPurchaseUpdate);
        assert_eq!(
            messaging_for(&update, wrote(2), now),
            Ok(Messaging::Standard)
        );
        let tagged = messaging_for(&update, None, now).unwrap();
        assert_eq!(tagged, Messaging::Tagged(MessageTag::PostPurchaseUpdate));
        let body = request_body("c1", &to(), &update, tagged).unwrap();
        assert_eq!(body["messaging_type"], "MESSAGE_TAG");
        assert_eq!(body["tag"], "POST_PURCHASE_UPDATE");
        let standard = standard_body(&update).unwrap();
        assert_eq!(standard["messaging_type"], "RESPONSE");
        assert!(standard.get("tag").is_none());
    }

    #[test]
    fn only_inside_the_standard_window() {
        let now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
        assert!(check_window(Some(now - Duration::hours(23)), now).is_ok());
        for closed in [None, Some(now - Duration::hours(24))] {
            assert!(matches!(
                check_window(closed, now),
                Err(SendOutcome::OutsideWindow { reason }) if reason.starts_with("outside_messaging_window")
            ));
        }
    }

    #[test]
    fn plain_text_is_a_response_to_the_psid() {
        let body = standard_body(&message("Hi Ada", None, vec![])).unwrap();
        assert_eq!(
            body,
            json!({
                "recipient": { "id": "1134343043305865" },
                "messaging_type": "RESPONSE",
                "message": { "text": "Hi Ada" }
            })
        );
    }

    #[test]
    fn buttons_go_in_a_button_template_and_a_photo_in_a_generic_one() {
        let body = standard_body(&message("Hi", None, vec![shop(), stars(5)])).unwrap();
        let payload = &body["message"]["attachment"]["payload"];
        assert_eq!(payload["template_type"], "button");
        assert_eq!(payload["text"], "Hi");
        assert_eq!(
            payload["buttons"],
            json!([
                { "type": "web_url", "url": "https://x.test", "title": "Shop" },
                { "type": "postback", "title": "★★★★★", "payload": "rate:c1:5" }
            ])
        );
        let body =
            standard_body(&message("Sale", Some("https://x.test/a.jpg"), vec![shop()])).unwrap();
        let payload = &body["message"]["attachment"]["payload"];
        assert_eq!(payload["template_type"], "generic");
        assert_eq!(payload["elements"][0]["title"], "Sale");
        assert_eq!(payload["elements"][0]["image_url"], "https://x.test/a.jpg");
        assert_eq!(payload["elements"][0]["buttons"][0]["type"], "web_url");
    }

    #[test]
    fn buttons_beyond_a_template_become_links_and_quick_replies() {
        let buttons = vec![shop(), stars(1), stars(2), stars(3)];
        let body = standard_body(&message("Rate us", None, buttons)).unwrap();
        let sent = &body["message"];
        assert_eq!(sent["text"], "Rate us\nShop: https://x.test");
        assert_eq!(sent["quick_replies"].as_array().unwrap().len(), 3);
        assert_eq!(sent["quick_replies"][0]["payload"], "rate:c1:1");
        let long = "x".repeat(81);
        let body = standard_body(&message(&long, Some("https://x.test/a.jpg"), vec![])).unwrap();
        assert_eq!(
            body["message"]["text"],
            format!("{long}\nhttps://x.test/a.jpg")
        );
        assert!(matches!(
            standard_body(&message(&"x".repeat(2001), None, vec![])),
            Err(SendOutcome::Rejected { code, .. }) if code == "text_too_long"
        ));
    }

    #[test]
    fn answers_become_outcomes() {
        assert_eq!(
            outcome_of("messenger/response_send_ok", outcome),
            SendOutcome::Sent {
                message_id: "AG5Hz2U...".into()
            }
        );
        // The documented example gives no HTTP status; Graph answers such errors with a 4xx.
        let (_, invalid_token) = response("messenger/response_error_example");
        assert!(matches!(
            outcome(400, &invalid_token),
            SendOutcome::Rejected { code, .. } if code == "190"
        ));
        let error = |code: i64, subcode: i64| {
            json!({ "error": { "message": "m", "code": code, "error_subcode": subcode } })
                .to_string()
        };
        // (HTTP status, body) → the outcome's kind and, for a refusal, its code.
        let kind = |answer: SendOutcome| match answer {
            SendOutcome::OutsideWindow { .. } => "outside_window".to_owned(),
            SendOutcome::RecipientGone { code, .. } => format!("gone {code}"),
            SendOutcome::RateLimited { .. } | SendOutcome::RecipientRateLimited { .. } => {
                "rate_limited".to_owned()
            }
            SendOutcome::Transient { .. } => "transient".to_owned(),
            SendOutcome::Rejected { code, .. } => format!("rejected {code}"),
            SendOutcome::Sent { .. } => "sent".to_owned(),
        };
        let cases: [(u16, Vec<u8>, &str); 7] = [
            (400, error(10, 2_018_278).into_bytes(), "outside_window"),
            (400, error(100, 2_018_278).into_bytes(), "outside_window"),
            (400, error(551, 1_545_041).into_bytes(), "gone 551"),
            (400, error(613, 0).into_bytes(), "rate_limited"),
            (500, error(2, 0).into_bytes(), "transient"),
            (502, b"<html>".to_vec(), "transient"),
            (400, b"<html>".to_vec(), "rejected http_400"),
        ];
        for (status, body, expected) in cases {
            assert_eq!(kind(outcome(status, &body)), expected, "HTTP {status}");
        }
    }
}
