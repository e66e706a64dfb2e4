//! Viber's message token: the id of every callback and of every sent message.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A Viber message token. Tokens are 64-bit integers above 2^53, so they are read as integers and
/// never pass through a float (which would merge neighbouring tokens); some answers quote them as
/// strings, which are read the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageToken(u64);

impl MessageToken {
    /// The token's value.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MessageToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The two spellings Viber uses.
#[derive(Deserialize)]
#[serde(untagged)]
enum Spelling {
    Integer(u64),
    Quoted(String),
}

impl<'de> Deserialize<'de> for MessageToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Spelling::deserialize(deserializer)? {
            Spelling::Integer(value) => Ok(MessageToken(value)),
            Spelling::Quoted(text) => text.trim().parse().map(MessageToken).map_err(|_| {
                serde::de::Error::custom(format!(
                    "message_token '{text}' is not an unsigned integer"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_above_two_to_the_53_keep_every_digit() {
        let token: MessageToken = serde_json::from_str("4912661846655238145").unwrap();
        assert_eq!(token.get(), 4_912_661_846_655_238_145);
        assert_eq!(token.to_string(), "4912661846655238145");
        // As a float it would be another token.
        assert_ne!(4_912_661_846_655_238_145_f64 as u64, token.get());
        let quoted: MessageToken = serde_json::from_str(r#""1234567890""#).unwrap();
        assert_eq!(quoted.get(), 1_234_567_890);
        for bad in ["-1", "1.5", r#""abc""#, "null"] {
            assert!(serde_json::from_str::<MessageToken>(bad).is_err(), "{bad}");
        }
    }
}
