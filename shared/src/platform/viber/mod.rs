//! Viber REST Bot API: bot configuration, address rules, and one module per direction of traffic.

mod adapter;
pub mod format;
pub mod message_token;
pub mod send;
pub mod webhook;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::capabilities::{Capabilities, Receipts};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::subscriber::{Channel, Platform};

pub use adapter::Viber;
pub use message_token::MessageToken;

/// What Viber can do: delivered and seen callbacks per message token, no service window, no approved
/// templates, keyboard presses arrive as messages and need no answer. Viber publishes no per-bot
/// `send_message` rate and throttles with status 12, so the default is cautious and the ceiling
/// moderate. `broadcast_message` carries one message to up to 300 subscribers; Viber allows 500 such
/// requests in 10 seconds, above any rate a deployment may set.
pub const CAPABILITIES: Capabilities = Capabilities {
    default_rate_per_second: 20,
    max_rate_per_second: 300,
    max_paid_rate_per_second: None,
    receipts: Receipts::PerMessage,
    service_window: None,
    approved_templates: false,
    acknowledges_presses: false,
    broadcast_recipients: send::MAX_BROADCAST_RECIPIENTS,
};

/// A Viber user id for previews and save-time checks.
pub const SAMPLE_ADDRESS: &str = "01234567890A=";

/// The Bot API base URL when `viber_api_url` is unset.
pub const DEFAULT_API_URL: &str = "https://chatapi.viber.com";

/// The longest sender name Viber shows.
pub const MAX_SENDER_NAME_CHARS: usize = 28;

/// Viber's entry in the platform registry.
pub const REGISTRATION: super::Registration = super::Registration {
    name: "viber",
    capabilities: CAPABILITIES,
    canonical_address,
    text_format: format::FORMAT,
    configure: Viber::configure,
    sample_address: SAMPLE_ADDRESS,
    account_variable: "viber_bots",
};

/// The longest user id accepted; Viber's are 24 characters today.
const MAX_ADDRESS_LEN: usize = 64;

/// Viber user ids are opaque, case-sensitive base64-like strings. They become part of subscriber ids
/// and store keys, so only base64 characters (standard and URL-safe) are accepted, as written.
///
/// # Errors
/// The expected form.
pub fn canonical_address(s: &str) -> std::result::Result<String, &'static str> {
    let base64_char =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_');
    if (1..=MAX_ADDRESS_LEN).contains(&s.len()) && s.bytes().all(base64_char) {
        Ok(s.to_owned())
    } else {
        Err("a Viber user id (1-64 characters of A-Z, a-z, 0-9, '+', '/', '=', '-' or '_')")
    }
}

/// One Viber bot (public account), from the secret Spin variable `viber_bots`.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// The channel `viber:<name>`.
    pub channel: Channel,
    /// The bot's auth token: sent as `X-Viber-Auth-Token` and the key of the callbacks' signature.
    pub token: Secret,
    /// The sender name shown with each message (1 to 28 characters).
    pub sender_name: String,
}

/// The configured Viber bots by name.
#[derive(Debug, Clone, Default)]
pub struct Bots(BTreeMap<String, BotConfig>);

/// One bot as written in `viber_bots`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BotEntry {
    token: String,
    sender_name: String,
}

/// A configuration problem with `viber_bots`, never echoing a token.
fn invalid_bots(why: &str) -> Error {
    Error::unavailable(
        "invalid_configuration",
        format!("variable 'viber_bots': {why}"),
    )
}

impl BotEntry {
    /// The bot called `name`, its sender name trimmed and bounded.
    fn into_bot(self, name: &str) -> Result<BotConfig> {
        let channel = Channel::new(Platform::Viber, name).map_err(|e| invalid_bots(e.message()))?;
        let sender_name = self.sender_name.trim();
        if self.token.trim().is_empty() {
            return Err(invalid_bots(&format!(
                "bot '{name}' needs a non-empty token"
            )));
        }
        if !(1..=MAX_SENDER_NAME_CHARS).contains(&sender_name.chars().count()) {
            return Err(invalid_bots(&format!(
                "bot '{name}': sender_name must be 1 to {MAX_SENDER_NAME_CHARS} characters"
            )));
        }
        Ok(BotConfig {
            channel,
            token: Secret::new(self.token.trim()),
            sender_name: sender_name.to_owned(),
        })
    }
}

impl Bots {
    /// Parse `viber_bots`: `{"<name>": {"token": "...", "sender_name": "..."}}`.
    ///
    /// # Errors
    /// 503 `invalid_configuration` naming the problem but never echoing a token.
    pub fn parse(json: &str) -> Result<Self> {
        let entries: BTreeMap<String, BotEntry> = serde_json::from_str(json).map_err(|e| {
            invalid_bots(&format!(
                "expected {{\"<bot>\": {{\"token\": ..., \"sender_name\": ...}}}} (error at line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let mut bots = BTreeMap::new();
        for (name, entry) in entries {
            let bot = entry.into_bot(&name)?;
            bots.insert(name, bot);
        }
        Ok(Bots(bots))
    }

    /// Whether no bot is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bot of a channel, if it is a configured Viber bot.
    pub fn for_channel(&self, channel: &Channel) -> Option<&BotConfig> {
        if channel.platform() != Platform::Viber {
            return None;
        }
        self.named(channel.account())
    }

    /// The bot called `name`.
    pub fn named(&self, name: &str) -> Option<&BotConfig> {
        self.0.get(name)
    }

    /// The channels of every bot.
    pub fn channels(&self) -> Vec<Channel> {
        self.0.values().map(|bot| bot.channel.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_kept_as_written_within_a_safe_charset() {
        for id in ["jc9HsWTZ2Yf2NkRZ8KcNug==", "01234567890A=", "a-b_c+d/e"] {
            assert_eq!(canonical_address(id).as_deref(), Ok(id));
        }
        for bad in ["", "a:b", "a b", "ü", &"a".repeat(65), "x\n"] {
            assert!(canonical_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bots_parse_with_a_short_sender_name_and_never_echo_tokens() {
        let bots =
            Bots::parse(r#"{"shop": {"token": "4453b6ac-1", "sender_name": "Shop"}}"#).unwrap();
        let shop = bots.named("shop").unwrap();
        assert_eq!(shop.channel.to_string(), "viber:shop");
        assert_eq!(shop.sender_name, "Shop");
        assert!(shop.token.matches("4453b6ac-1"));
        assert!(bots
            .for_channel(&Channel::parse("telegram:shop").unwrap())
            .is_none());
        let long = format!(
            r#"{{"shop": {{"token": "secret-token", "sender_name": "{}"}}}}"#,
            "n".repeat(29)
        );
        let err = Bots::parse(&long).unwrap_err();
        assert_eq!(err.code(), "invalid_configuration");
        assert!(err.message().contains("28"));
        assert!(!err.message().contains("secret-token"));
        let empty = Bots::parse(r#"{"shop": {"token": " ", "sender_name": "Shop"}}"#);
        assert!(empty.unwrap_err().message().contains("token"));
        assert!(Bots::parse("{not json")
            .unwrap_err()
            .message()
            .contains("line 1"));
        assert!(Bots::parse(r#"{"Bad Name": {"token": "t", "sender_name": "S"}}"#).is_err());
    }
}
