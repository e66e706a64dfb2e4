//! Viber behind the [`Adapter`] trait: a bot per account, callbacks signed with the bot's auth token,
//! `send_message` for one person, `broadcast_message` for up to 300 who get the same message. Keyboard presses arrive as messages and need no answer.

use chrono::{DateTime, Utc};

use super::{send, webhook, BotConfig, Bots, DEFAULT_API_URL};
use crate::delivery::Outgoing;
use crate::error::{Error, Result};
use crate::ingress::Inbound;
use crate::message::RenderedMessage;
use crate::messenger::{ApiCall, SendOutcome};
use crate::platform::adapter::{
    channel_not_configured, Adapter, Broadcast, Configured, Envelope, Webhook,
};
use crate::platform::Platform;
use crate::subscriber::Channel;
use crate::web::{Response, DEFAULT_BODY_LIMIT};

/// The Viber settings: the Bot API base URL, the bots and the welcome.
#[derive(Debug, Clone)]
pub struct Viber {
    /// `viber_api_url`, [`DEFAULT_API_URL`] when unset.
    pub api_url: String,
    /// The configured bots (`viber_bots`).
    pub bots: Bots,
    /// The template answering `conversation_started` (`viber_welcome_template`); none when unset.
    pub welcome_template: Option<String>,
}

impl Viber {
    /// Read `viber_api_url` and `viber_bots`; without bots Viber is simply absent.
    pub fn configure(read: &dyn Fn(&str) -> String) -> Configured {
        let raw_bots = read("viber_bots");
        let bots = match Bots::parse(if raw_bots.trim().is_empty() {
            "{}"
        } else {
            &raw_bots
        }) {
            Ok(bots) => bots,
            Err(err) => return Configured::Invalid(err),
        };
        if bots.is_empty() {
            return Configured::Absent(Error::unavailable(
                "viber_not_configured",
                "Viber is not configured: set the variable viber_bots",
            ));
        }
        let api_url = read("viber_api_url");
        let welcome_template = read("viber_welcome_template").trim().to_owned();
        Configured::Ready(Box::new(Viber {
            api_url: if api_url.trim().is_empty() {
                DEFAULT_API_URL.to_owned()
            } else {
                api_url.trim().to_owned()
            },
            bots,
            welcome_template: Some(welcome_template).filter(|name| !name.is_empty()),
        }))
    }

    /// The bot sending on `channel`; a channel without one is refused.
    fn sending_bot(&self, channel: &Channel) -> std::result::Result<&BotConfig, SendOutcome> {
        self.bots
            .for_channel(channel)
            .ok_or_else(|| channel_not_configured(channel))
    }

    /// The bot of the webhook path; an unknown bot answers like a wrong signature, so outsiders
    /// cannot probe which bots exist.
    fn webhook_bot(&self, account: Option<&str>) -> Result<&BotConfig> {
        account
            .and_then(|name| self.bots.named(name))
            .ok_or_else(webhook::signature_refused)
    }
}

impl Adapter for Viber {
    fn admit(&self, webhook: &Webhook<'_>) -> Result<usize> {
        // An unknown bot answers like a missing signature.
        self.webhook_bot(webhook.account)?;
        webhook::presented_signature(webhook.request)?;
        Ok(DEFAULT_BODY_LIMIT)
    }

    fn authenticate(&self, webhook: &Webhook<'_>) -> Result<()> {
        let bot = self.webhook_bot(webhook.account)?;
        // The size first: the signature is computed over the whole body.
        webhook.request.check_body_limit(DEFAULT_BODY_LIMIT)?;
        webhook::authenticate(webhook.request, bot)
    }

    fn parse(&self, webhook: &Webhook<'_>, now: DateTime<Utc>) -> Result<Vec<Inbound>> {
        let bot = self.webhook_bot(webhook.account)?;
        webhook::parse_callback(bot, &webhook.request.body, now)
    }

    fn prepare(&self, envelope: &Envelope<'_>) -> std::result::Result<ApiCall, SendOutcome> {
        let bot = self.sending_bot(envelope.channel)?;
        let Outgoing {
            campaign_id,
            message,
            ..
        } = envelope.message;
        let body = send::request_body(campaign_id, envelope.to, &bot.sender_name, message);
        send::call(&self.api_url, bot, envelope.to, &body)
    }

    fn prepare_broadcast(
        &self,
        broadcast: &Broadcast<'_>,
    ) -> Option<std::result::Result<ApiCall, SendOutcome>> {
        let Outgoing {
            campaign_id,
            message,
            ..
        } = broadcast.message;
        Some(self.sending_bot(broadcast.channel).and_then(|bot| {
            let body = send::broadcast_body(campaign_id, broadcast.to, &bot.sender_name, message);
            send::broadcast_call(&self.api_url, bot, broadcast.to, &body)
        }))
    }

    fn welcome_template(&self) -> Option<&str> {
        self.welcome_template.as_deref()
    }

    /// The welcome as Viber takes it in the answer to `conversation_started`: one message with the
    /// bot's `sender.name` and no receiver.
    fn welcome_answer(&self, channel: &Channel, welcome: &RenderedMessage) -> Result<Response> {
        let bot = self.bots.for_channel(channel).ok_or_else(|| {
            Error::unavailable(
                "channel_not_configured",
                format!("channel '{channel}' is not configured in this deployment"),
            )
        })?;
        Ok(Response::ok(&send::message_body(
            "",
            &bot.sender_name,
            welcome,
        )))
    }

    fn serves(&self, channel: &Channel) -> bool {
        self.bots.for_channel(channel).is_some()
    }

    fn channels(&self) -> Vec<Channel> {
        self.bots.channels()
    }

    fn platform(&self) -> Platform {
        Platform::Viber
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fixtures::raw;
    use crate::web::Request;

    fn configured(bots: &'static str) -> Configured {
        Viber::configure(&move |name| match name {
            "viber_bots" => bots.to_owned(),
            _ => String::new(),
        })
    }

    #[test]
    fn without_bots_viber_is_absent_and_wrong_bots_are_invalid() {
        for unset in ["", "{}"] {
            assert!(
                matches!(configured(unset), Configured::Absent(err) if err.code() == "viber_not_configured")
            );
        }
        assert!(matches!(configured("{x"), Configured::Invalid(_)));
        let Configured::Ready(adapter) =
            configured(r#"{"shop": {"token": "t", "sender_name": "Shop"}}"#)
        else {
            panic!("configured");
        };
        assert!(adapter.serves(&Channel::parse("viber:shop").unwrap()));
        assert!(!adapter.serves(&Channel::parse("viber:other").unwrap()));
    }

    #[test]
    fn an_unknown_bot_and_a_large_body_are_refused_before_the_signature() {
        let Configured::Ready(adapter) =
            configured(r#"{"shop": {"token": "t", "sender_name": "Shop"}}"#)
        else {
            panic!("configured");
        };
        let body = raw("viber/callback_seen");
        let request = Request::new(http::Method::POST, "/webhooks/viber/other")
            .with_header(webhook::SIGNATURE_HEADER, &webhook::sign("t", &body))
            .with_body(body);
        let unknown = adapter
            .authenticate(&Webhook::new(&request, "other"))
            .unwrap_err();
        let known = adapter.authenticate(&Webhook::new(&request, "shop"));
        assert!(known.is_ok());
        assert_eq!(unknown.status(), 401);
        let large = Request::new(http::Method::POST, "/webhooks/viber/shop").with_body(vec![
            b' ';
            DEFAULT_BODY_LIMIT
                + 1
        ]);
        assert_eq!(
            adapter
                .authenticate(&Webhook::new(&large, "shop"))
                .unwrap_err()
                .status(),
            413
        );
    }
}
