//! Telegram behind the [`Adapter`] trait: a bot per account, its secret header on webhooks, the Bot
//! API for sending and for answering button presses.

use chrono::{DateTime, Utc};

use super::{callback_answer, send, webhook, Bots};
use crate::error::{Error, Result};
use crate::ingress::Inbound;
use crate::messenger::{ApiCall, HttpClient, SendOutcome};
use crate::platform::adapter::{
    channel_not_configured, links_not_supported, Adapter, Configured, Envelope, Press, Webhook,
};
use crate::platform::Platform;
use crate::subscriber::Channel;
use crate::web::DEFAULT_BODY_LIMIT;

/// The Telegram settings: the Bot API base URL and the bots.
#[derive(Debug, Clone)]
pub struct Telegram {
    /// `telegram_api_url`, e.g. `https://api.telegram.org`.
    pub api_url: String,
    /// The configured bots (`telegram_bots`).
    pub bots: Bots,
}

impl Telegram {
    /// Read `telegram_api_url` and `telegram_bots`; no bots is a valid (empty) configuration.
    pub fn configure(read: &dyn Fn(&str) -> String) -> Configured {
        match Bots::parse(&read("telegram_bots")) {
            Ok(bots) => Configured::Ready(Box::new(Telegram {
                api_url: read("telegram_api_url"),
                bots,
            })),
            Err(err) => Configured::Invalid(err),
        }
    }

    /// The bot of `account`; an unknown bot answers like a wrong secret, so outsiders cannot probe
    /// which bots exist.
    fn webhook_bot(&self, account: Option<&str>) -> Result<&super::BotConfig> {
        account
            .and_then(|name| self.bots.get(name).ok())
            .ok_or_else(|| {
                Error::unauthorized(
                    "the X-Telegram-Bot-Api-Secret-Token header does not match this bot's webhook secret",
                )
            })
    }
}

impl Adapter for Telegram {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    fn channels(&self) -> Vec<Channel> {
        self.bots.channels()
    }

    fn pays_for_broadcasts(&self) -> bool {
        self.bots.all_paid_broadcast()
    }

    fn serves(&self, channel: &Channel) -> bool {
        channel.platform() == Platform::Telegram && self.bots.for_channel(channel).is_ok()
    }

    fn admit(&self, webhook: &Webhook<'_>) -> Result<usize> {
        // The secret is a header: the whole check is made before any of the body is read.
        webhook::authenticate(webhook.request, self.webhook_bot(webhook.account)?)?;
        Ok(DEFAULT_BODY_LIMIT)
    }

    fn authenticate(&self, webhook: &Webhook<'_>) -> Result<()> {
        // The secret header first: nothing of the body is looked at before it.
        webhook::authenticate(webhook.request, self.webhook_bot(webhook.account)?)?;
        webhook.request.check_body_limit(DEFAULT_BODY_LIMIT)
    }

    fn parse(&self, webhook: &Webhook<'_>, now: DateTime<Utc>) -> Result<Vec<Inbound>> {
        let bot = self.webhook_bot(webhook.account)?;
        Ok(vec![webhook::parse_update(
            bot,
            &webhook.request.body,
            now,
        )?])
    }

    fn deep_link(&self, channel: &Channel, code: &str) -> Result<String> {
        let bot = self.bots.for_channel(channel)?;
        let username = bot.username.as_deref().ok_or_else(|| {
            links_not_supported(
                channel,
                &format!(
                    "add \"username\" (the bot's @username) to bot '{}' in telegram_bots",
                    channel.account()
                ),
            )
        })?;
        // The code is hex, within the start parameter's 64 characters of A-Z, a-z, 0-9, '_' and '-'.
        Ok(format!("https://t.me/{username}?start={code}"))
    }

    fn prepare(&self, envelope: &Envelope<'_>) -> std::result::Result<ApiCall, SendOutcome> {
        let Ok(bot) = self.bots.for_channel(envelope.channel) else {
            return Err(channel_not_configured(envelope.channel));
        };
        let message = envelope.message;
        let request = send::request(&message.campaign_id, envelope.to, &message.message);
        send::call(&self.api_url, bot, &request)
    }

    fn acknowledge_press(&self, http: &dyn HttpClient, press: &Press<'_>) -> Result<()> {
        let bot = self.bots.for_channel(press.channel)?;
        callback_answer::answer_callback_query(http, &self.api_url, bot, press.id, press.text)
    }
}
