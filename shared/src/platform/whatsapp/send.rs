//! Sending on the WhatsApp Cloud API: the 24-hour customer service window decides between a session
//! message (free text, media, reply buttons) and an approved template; the Graph API's answer becomes a
//! [`SendOutcome`], acting on `error.code` rather than the HTTP status.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::event::rating_button_data;
use crate::message::{Button, RenderedMessage};
use crate::messenger::SendOutcome;
use crate::platform::meta_graph::graph_error;
use crate::subscriber::Address;

use super::SERVICE_WINDOW_HOURS;

/// WhatsApp allows at most three reply buttons on an interactive message.
const MAX_REPLY_BUTTONS: usize = 3;
/// Reply button titles are at most 20 characters.
const MAX_BUTTON_TITLE_CHARS: usize = 20;
/// When the Graph API says "slow down" it gives no delay; this is where we start.
const RATE_LIMIT_PAUSE_SECS: u64 = 2;
/// WhatsApp lets a number send one person about one message every 6 seconds (131056).
const PAIR_RATE_LIMIT_PAUSE_SECS: u64 = 6;

/// Which kind of message a recipient can get now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageForm {
    /// Inside the service window: the rendered text, media and buttons.
    Session,
    /// Outside it: the template's approved WhatsApp template.
    ApprovedTemplate,
}

/// Decide the form for a recipient whose last message to us was at `last_inbound_at`.
///
/// # Errors
/// [`SendOutcome::OutsideWindow`] with an explanation, when the window is closed and the template has
/// no approved WhatsApp template to fall back on.
pub fn choose_form(
    message: &RenderedMessage,
    last_inbound_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<MessageForm, SendOutcome> {
    let open = last_inbound_at.is_some_and(|at| now - at < Duration::hours(SERVICE_WINDOW_HOURS));
    if open {
        Ok(MessageForm::Session)
    } else if message.platform_template.is_some() {
        Ok(MessageForm::ApprovedTemplate)
    } else {
        Err(SendOutcome::OutsideWindow {
            reason: "the recipient has not written in the last 24 hours and the template has no approved whatsapp_template".to_owned(),
        })
    }
}

/// The Graph API request body for one message.
pub fn request_body(
    campaign_id: &str,
    to: &Address,
    message: &RenderedMessage,
    form: &MessageForm,
) -> Value {
    let mut body = json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": to.as_str() });
    match (form, &message.platform_template) {
        (MessageForm::ApprovedTemplate, Some(template)) => {
            let parameters: Vec<Value> = template
                .parameters
                .iter()
                .map(|p| json!({ "type": "text", "text": p }))
                .collect();
            let mut template_json =
                json!({ "name": template.name, "language": { "code": template.language } });
            if !parameters.is_empty() {
                template_json["components"] = json!([{ "type": "body", "parameters": parameters }]);
            }
            body["type"] = "template".into();
            body["template"] = template_json;
        }
        _ => {
            let reply_buttons: Vec<Value> = message
                .buttons
                .iter()
                .flatten()
                .filter_map(|b| match b {
                    Button::Rating { text, score } => Some(json!({
                        "type": "reply",
                        "reply": { "id": rating_button_data(campaign_id, *score), "title": text.chars().take(MAX_BUTTON_TITLE_CHARS).collect::<String>() }
                    })),
                    Button::Url { .. } => None,
                })
                .take(MAX_REPLY_BUTTONS)
                .collect();
            // URL buttons need an approved template on WhatsApp; in a session message the link goes in the text.
            let mut text = message.text.clone();
            for button in message.buttons.iter().flatten() {
                if let Button::Url { text: label, url } = button {
                    text.push_str(&format!("\n{label}: {url}"));
                }
            }
            if !reply_buttons.is_empty() {
                let mut interactive = json!({ "type": "button", "body": { "text": text }, "action": { "buttons": reply_buttons } });
                if let Some(photo) = &message.photo_url {
                    interactive["header"] = json!({ "type": "image", "image": { "link": photo } });
                }
                body["type"] = "interactive".into();
                body["interactive"] = interactive;
            } else if let Some(photo) = &message.photo_url {
                body["type"] = "image".into();
                body["image"] = json!({ "link": photo, "caption": text });
            } else {
                body["type"] = "text".into();
                body["text"] = json!({ "body": text, "preview_url": true });
            }
        }
    }
    body
}

#[derive(Deserialize)]
struct Accepted {
    messages: Vec<AcceptedMessage>,
}

#[derive(Deserialize)]
struct AcceptedMessage {
    id: String,
}

/// What a WhatsApp error code means, for the ledger and statistics.
pub fn error_meaning(code: i64) -> &'static str {
    match code {
        130429 => "throughput limit for the phone number reached",
        131056 => "too many messages to this recipient in a short time",
        131048 => "spam rate limit: too many recipients blocked or reported the number",
        131026 => "undeliverable: the recipient cannot receive WhatsApp messages (not on WhatsApp, old app, or has not accepted the terms)",
        131047 | 470 => "re-engagement required: more than 24 hours since the recipient last wrote; send an approved template",
        131050 => "the recipient stopped marketing messages from this business",
        131049 => "not delivered to keep engagement healthy (per-user marketing limit)",
        131051 => "unsupported message type",
        132000..=132999 => "template problem (missing, not approved, or wrong parameters)",
        190 => "access token expired or invalid",
        131000 | 131016 | 1 | 2 => "temporary WhatsApp service problem",
        _ => "rejected by the WhatsApp Cloud API",
    }
}

/// Map a Graph API answer to an outcome.
pub fn outcome(status: u16, body: &[u8]) -> SendOutcome {
    if (200..300).contains(&status) {
        return match serde_json::from_slice::<Accepted>(body)
            .ok()
            .and_then(|a| a.messages.into_iter().next())
        {
            Some(message) => SendOutcome::Sent {
                message_id: message.id,
            },
            None => SendOutcome::Transient {
                reason: "accepted without a message id".into(),
            },
        };
    }
    let error = match graph_error(status, body) {
        Ok(error) => error,
        Err(outcome) => return outcome,
    };
    let code = error.code.to_string();
    let reason = format!("{} ({})", error_meaning(error.code), error.message);
    match error.code {
        // Too many messages to one person: only they wait; the number keeps sending to the others.
        131056 => SendOutcome::RecipientRateLimited {
            retry_after_secs: PAIR_RATE_LIMIT_PAUSE_SECS,
            reason,
        },
        130429 | 80007 | 4 => SendOutcome::RateLimited {
            retry_after_secs: RATE_LIMIT_PAUSE_SECS,
            reason,
        },
        131048 => SendOutcome::RateLimited {
            retry_after_secs: 60,
            reason,
        },
        131050 => SendOutcome::RecipientGone { code, reason },
        131000 | 131016 | 1 | 2 => SendOutcome::Transient { reason },
        _ if status >= 500 => SendOutcome::Transient { reason },
        _ => SendOutcome::Rejected { code, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::PlatformTemplate;
    use crate::platform::fixtures::outcome_of;
    use crate::subscriber::Platform;

    fn message() -> RenderedMessage {
        RenderedMessage {
            text: "Hi Ada".into(),
            photo_url: None,
            buttons: vec![],
            platform_template: None,
            message_tag: None,
        }
    }

    fn with_approved_template() -> RenderedMessage {
        RenderedMessage {
            platform_template: Some(PlatformTemplate {
                name: "promo".into(),
                language: "en_US".into(),
                parameters: vec!["Ada".into()],
            }),
            ..message()
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn accepted_fixture_gives_the_wamid() {
        assert_eq!(
            outcome_of("whatsapp/response_send_message_ok", outcome),
            SendOutcome::Sent {
                message_id: "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA".into()
            }
        );
    }

    #[test]
    fn throughput_error_fixture_slows_down() {
        assert!(matches!(
            outcome_of("whatsapp/response_error_130429_throughput", outcome),
            SendOutcome::RateLimited {
                retry_after_secs: 2,
                ..
            }
        ));
    }

    #[test]
    fn error_codes_decide_not_http_status() {
        let body =
            |code: i64| format!(r#"{{"error":{{"message":"x","code":{code}}}}}"#).into_bytes();
        match outcome(400, &body(131047)) {
            SendOutcome::Rejected { code, reason } => {
                assert_eq!(code, "131047");
                assert!(reason.contains("24 hours"));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(outcome(400, &body(131026)), SendOutcome::Rejected { reason, .. } if reason.contains("undeliverable"))
        );
        assert!(matches!(
            outcome(400, &body(131050)),
            SendOutcome::RecipientGone { .. }
        ));
        // Too many messages to one person holds back only that person, never the number.
        assert!(matches!(
            outcome(400, &body(131056)),
            SendOutcome::RecipientRateLimited {
                retry_after_secs: 6,
                ..
            }
        ));
        assert!(matches!(
            outcome(500, &body(131000)),
            SendOutcome::Transient { .. }
        ));
        assert!(matches!(
            outcome(503, b"<html>"),
            SendOutcome::Transient { .. }
        ));
    }

    #[test]
    fn the_service_window_decides_the_form() {
        let in_window = Some(now() - Duration::hours(23));
        let outside = Some(now() - Duration::hours(25));
        assert_eq!(
            choose_form(&message(), in_window, now()),
            Ok(MessageForm::Session)
        );
        assert!(matches!(
            choose_form(&message(), outside, now()),
            Err(SendOutcome::OutsideWindow { .. })
        ));
        assert!(matches!(
            choose_form(&message(), None, now()),
            Err(SendOutcome::OutsideWindow { .. })
        ));
        let with_template = with_approved_template();
        assert_eq!(
            choose_form(&with_template, outside, now()),
            Ok(MessageForm::ApprovedTemplate)
        );
    }

    #[test]
    fn bodies_follow_the_graph_api_shape() {
        let to = Address::parse(Platform::Whatsapp, "972987654321").unwrap();
        let text = request_body("c1", &to, &message(), &MessageForm::Session);
        assert_eq!(text["type"], "text");
        assert_eq!(text["text"]["body"], "Hi Ada");
        assert_eq!(text["to"], "972987654321");
        let rated = RenderedMessage {
            buttons: vec![vec![
                Button::Rating {
                    text: "Great".into(),
                    score: 5,
                },
                Button::Rating {
                    text: "Bad".into(),
                    score: 1,
                },
            ]],
            ..message()
        };
        let interactive = request_body("c1", &to, &rated, &MessageForm::Session);
        assert_eq!(interactive["type"], "interactive");
        assert_eq!(
            interactive["interactive"]["action"]["buttons"][0]["reply"]["id"],
            "rate:c1:5"
        );
        let templated = with_approved_template();
        let template = request_body("c1", &to, &templated, &MessageForm::ApprovedTemplate);
        assert_eq!(template["type"], "template");
        assert_eq!(template["template"]["name"], "promo");
        assert_eq!(
            template["template"]["components"][0]["parameters"][0]["text"],
            "Ada"
        );
    }
}
