//! Channels: which account on which platform (the platforms themselves are `crate::platform`'s).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use crate::platform::Platform;

/// Whether `s` is 1 to `max` characters of a-z, 0-9, '_' or '-' (ids that are safe inside store keys).
pub(crate) fn is_slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A channel: one account on one platform, e.g. `telegram:shop` (bot "shop") or `whatsapp:1122334455667`
/// (a WhatsApp phone number id). Campaigns target channels; subscribers belong to one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Channel {
    platform: Platform,
    account: String,
}

impl Channel {
    /// Parse `platform:account`; the account is a slug of at most 64 characters.
    ///
    /// # Errors
    /// `invalid_channel` saying which part is wrong.
    pub fn parse(s: &str) -> Result<Self> {
        let (platform, account) = s.split_once(':').ok_or_else(|| {
            Error::invalid(
                "invalid_channel",
                format!(
                    "channel '{s}' must look like 'telegram:<bot>' or 'whatsapp:<phone-number-id>'"
                ),
            )
        })?;
        let platform: Platform = platform.parse().map_err(|_| {
            Error::invalid(
                "invalid_channel",
                format!(
                    "channel '{s}': platform must be one of {}",
                    Platform::ALL.map(Platform::as_str).join(", ")
                ),
            )
        })?;
        Self::new(platform, account)
    }

    /// A channel from its parts.
    ///
    /// # Errors
    /// `invalid_channel` when the account is not a slug.
    pub fn new(platform: Platform, account: &str) -> Result<Self> {
        if !is_slug(account, 64) {
            return Err(Error::invalid(
                "invalid_channel",
                format!("account '{account}' must be 1-64 characters of a-z, 0-9, '_' or '-'"),
            ));
        }
        Ok(Channel {
            platform,
            account: account.to_owned(),
        })
    }

    /// The platform.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The account (bot name or phone number id).
    pub fn account(&self) -> &str {
        &self.account
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.account)
    }
}

impl TryFrom<String> for Channel {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Channel::parse(&s)
    }
}

impl From<Channel> for String {
    fn from(c: Channel) -> String {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_parses_and_rejects_clearly() {
        let c = Channel::parse("telegram:shop").unwrap();
        assert_eq!(c.platform(), Platform::Telegram);
        assert_eq!(c.account(), "shop");
        assert_eq!(c.to_string(), "telegram:shop");
        assert_eq!(
            Channel::parse("shop").unwrap_err().code(),
            "invalid_channel"
        );
        assert!(Channel::parse("icq:shop")
            .unwrap_err()
            .message()
            .contains("telegram, whatsapp"));
        assert!(Channel::parse("telegram:Shop Bot").is_err());
    }
}
