//! Telegram Bot API: bot configuration, and one module per direction of traffic.

mod adapter;
pub mod callback_answer;
pub mod format;
pub mod send;
pub mod webhook;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::capabilities::{Capabilities, Receipts};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::subscriber::{Channel, Platform};

pub use adapter::Telegram;

/// What Telegram can do. Broadcasts are limited to about 30 messages a second per bot, paid broadcasts
/// (`allow_paid_broadcast`, charged in Stars) to 1000.
pub const CAPABILITIES: Capabilities = Capabilities {
    default_rate_per_second: 25,
    max_rate_per_second: 30,
    max_paid_rate_per_second: Some(1000),
    receipts: Receipts::None,
    service_window: None,
    approved_templates: false,
    acknowledges_presses: true,
    broadcast_recipients: 1,
};

/// A chat id for previews and save-time checks.
pub const SAMPLE_ADDRESS: &str = "1000001";

/// Telegram's entry in the platform registry.
pub const REGISTRATION: super::Registration = super::Registration {
    name: "telegram",
    capabilities: CAPABILITIES,
    canonical_address,
    text_format: format::FORMAT,
    configure: Telegram::configure,
    sample_address: SAMPLE_ADDRESS,
    account_variable: "telegram_bots",
};

/// Chat ids are integers (negative for groups), written without leading zeros or '+'.
///
/// # Errors
/// The expected form.
pub fn canonical_address(s: &str) -> std::result::Result<String, &'static str> {
    s.parse::<i64>()
        .map(|id| id.to_string())
        .map_err(|_| "an integer chat id")
}

/// One bot's credentials, from the secret Spin variable `telegram_bots`.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// The channel `telegram:<name>`.
    pub channel: Channel,
    /// The Bot API token (`123456:ABC…`); used in API URLs, never logged.
    pub token: Secret,
    /// The `secret_token` given to `setWebhook`; Telegram echoes it in `X-Telegram-Bot-Api-Secret-Token`.
    pub webhook_secret: Secret,
    /// Send every message as a paid broadcast (`allow_paid_broadcast`), which lets the bot send up to
    /// 1000 messages a second and is charged in Telegram Stars.
    pub allow_paid_broadcast: bool,
    /// The bot's public username (`shopbot`), for `https://t.me/<username>` links; without it the bot
    /// makes no links.
    pub username: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBot {
    token: String,
    webhook_secret: String,
    #[serde(default)]
    allow_paid_broadcast: bool,
    #[serde(default)]
    username: Option<String>,
}

/// A bot username as Telegram allows it: 5-32 characters of A-Z, a-z, 0-9 and '_' (a leading '@' is
/// dropped).
fn bot_username(raw: &str) -> Option<String> {
    let name = raw.strip_prefix('@').unwrap_or(raw);
    ((5..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then(|| name.to_owned())
}

/// The configured bots by name.
#[derive(Debug, Clone, Default)]
pub struct Bots(BTreeMap<String, BotConfig>);

impl Bots {
    /// Parse the `telegram_bots` variable: `{"<name>": {"token": "...", "webhook_secret": "...",
    /// "allow_paid_broadcast": false, "username": "shopbot"}}` (the last two are optional).
    ///
    /// # Errors
    /// 503 `invalid_configuration` naming the problem but never echoing a value.
    pub fn parse(json: &str) -> Result<Self> {
        let invalid = |why: String| {
            Error::unavailable(
                "invalid_configuration",
                format!("variable 'telegram_bots': {why}"),
            )
        };
        if json.trim().is_empty() {
            return Ok(Bots::default());
        }
        let raw: BTreeMap<String, RawBot> = serde_json::from_str(json)
            .map_err(|e| invalid(format!("expected {{\"<bot>\": {{\"token\": ..., \"webhook_secret\": ...}}}} (error at line {}, column {})", e.line(), e.column())))?;
        let mut bots = BTreeMap::new();
        for (name, bot) in raw {
            let channel = Channel::new(Platform::Telegram, &name)
                .map_err(|e| invalid(e.message().to_owned()))?;
            if bot.token.is_empty() || bot.webhook_secret.is_empty() {
                return Err(invalid(format!(
                    "bot '{name}' needs a non-empty token and webhook_secret"
                )));
            }
            // Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and - in a webhook secret token.
            if bot.webhook_secret.len() > 256
                || !bot
                    .webhook_secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(invalid(format!("bot '{name}': webhook_secret must be 1-256 characters of A-Z, a-z, 0-9, '_' or '-'")));
            }
            let username = match bot.username.as_deref() {
                None => None,
                Some(raw) => Some(bot_username(raw).ok_or_else(|| {
                    invalid(format!("bot '{name}': username must be the bot's 5-32 characters of A-Z, a-z, 0-9 or '_'"))
                })?),
            };
            bots.insert(
                name,
                BotConfig {
                    channel,
                    token: Secret::new(bot.token),
                    webhook_secret: Secret::new(bot.webhook_secret),
                    allow_paid_broadcast: bot.allow_paid_broadcast,
                    username,
                },
            );
        }
        Ok(Bots(bots))
    }

    /// The bot called `name`.
    ///
    /// # Errors
    /// 404 `unknown_bot`.
    pub fn get(&self, name: &str) -> Result<&BotConfig> {
        self.0.get(name).ok_or_else(|| {
            Error::new(
                crate::ErrorKind::NotFound,
                "unknown_bot",
                format!("no Telegram bot '{name}' is configured"),
            )
        })
    }

    /// The channels of every bot.
    pub fn channels(&self) -> Vec<Channel> {
        self.0.values().map(|bot| bot.channel.clone()).collect()
    }

    /// Whether bots are configured and every one sends paid broadcasts (so the faster rate applies).
    pub fn all_paid_broadcast(&self) -> bool {
        !self.0.is_empty() && self.0.values().all(|bot| bot.allow_paid_broadcast)
    }

    /// The bot of a channel.
    ///
    /// # Errors
    /// 404 `unknown_bot` when the channel is not a configured Telegram bot.
    pub fn for_channel(&self, channel: &Channel) -> Result<&BotConfig> {
        self.get(channel.account())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bots_parse_and_never_echo_secrets() {
        let bots =
            Bots::parse(r#"{"shop": {"token": "123:abc", "webhook_secret": "s3cr3t_x"}}"#).unwrap();
        let shop = bots.get("shop").unwrap();
        assert_eq!(shop.channel.to_string(), "telegram:shop");
        assert!(shop.webhook_secret.matches("s3cr3t_x"));
        assert_eq!(bots.get("other").unwrap_err().code(), "unknown_bot");
        let err = Bots::parse(r#"{"shop": {"token": "123:abc", "webhook_secret": "bad secret!"}}"#)
            .unwrap_err();
        assert!(!err.message().contains("bad secret!"));
        assert!(Bots::parse("{not json")
            .unwrap_err()
            .message()
            .contains("line 1"));
        assert!(Bots::parse("").unwrap().get("x").is_err());
    }

    #[test]
    fn a_bot_may_name_its_username_for_links() {
        let bots = Bots::parse(
            r#"{"shop": {"token": "1:a", "webhook_secret": "s", "username": "@ShopBot"}, "plain": {"token": "2:b", "webhook_secret": "s"}}"#,
        )
        .unwrap();
        assert_eq!(
            bots.get("shop").unwrap().username.as_deref(),
            Some("ShopBot")
        );
        assert_eq!(bots.get("plain").unwrap().username, None);
        let err =
            Bots::parse(r#"{"shop": {"token": "1:a", "webhook_secret": "s", "username": "no"}}"#)
                .unwrap_err();
        assert_eq!(err.code(), "invalid_configuration");
        assert!(err.message().contains("username"));
    }
}
