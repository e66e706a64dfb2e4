//! A subscriber's address on a platform, in one canonical form.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Platform;
use crate::error::{Error, Result};

/// A subscriber's address on a platform: a Telegram chat id or a WhatsApp id (digits of the phone number).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Address(String);

impl Address {
    /// Parse an address for a platform into its one canonical form, so one person never has two
    /// subscriber ids (or two suppression hashes): Telegram chat ids are integers (negative for
    /// groups) written without leading zeros or '+'; WhatsApp ids are 6 to 15 digits of an E.164
    /// number without '+' (country codes never start with 0).
    ///
    /// # Errors
    /// `invalid_address` saying the expected form.
    pub fn parse(platform: Platform, s: &str) -> Result<Self> {
        let s = s.trim();
        platform
            .canonical_address(s)
            .map(Address)
            .map_err(|expected| {
                Error::invalid(
                    "invalid_address",
                    format!("address '{s}' is not {expected}"),
                )
            })
    }

    /// The address text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_platform() {
        assert!(Address::parse(Platform::Telegram, "1111111").is_ok());
        assert!(Address::parse(Platform::Telegram, "-100123").is_ok());
        assert!(Address::parse(Platform::Telegram, "abc").is_err());
        // One chat, one canonical address: leading zeros and '+' do not make a second subscriber.
        assert_eq!(
            Address::parse(Platform::Telegram, "007").unwrap().as_str(),
            "7"
        );
        assert_eq!(
            Address::parse(Platform::Telegram, "+7").unwrap().as_str(),
            "7"
        );
        assert_eq!(
            Address::parse(Platform::Telegram, "-0100")
                .unwrap()
                .as_str(),
            "-100"
        );
        assert!(Address::parse(Platform::Whatsapp, "0972987654321").is_err());
        assert_eq!(
            Address::parse(Platform::Whatsapp, "+972987654321")
                .unwrap()
                .as_str(),
            "972987654321"
        );
        let err = Address::parse(Platform::Whatsapp, "12ab").unwrap_err();
        assert_eq!(err.code(), "invalid_address");
        assert!(err.message().contains("phone number"));
    }
}
