//! Whether a subscriber may be messaged.

use std::str::FromStr;

use serde::de::value::StrDeserializer;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Whether a subscriber may be messaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Consented and reachable.
    Subscribed,
    /// Asked to stop.
    Unsubscribed,
    /// Blocked the bot or is unreachable; suppressed until they come back.
    Blocked,
}

impl FromStr for SubscriptionStatus {
    type Err = Error;
    /// Read a status by its serde name, so queries and stored records spell it one way.
    fn from_str(s: &str) -> Result<Self> {
        Self::deserialize(StrDeserializer::<serde::de::value::Error>::new(s)).map_err(|_| {
            Error::invalid(
                "invalid_status",
                format!("status '{s}' is not one of: subscribed, unsubscribed, blocked"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_by_their_serde_names() {
        assert_eq!(
            "subscribed".parse::<SubscriptionStatus>().unwrap(),
            SubscriptionStatus::Subscribed
        );
        assert_eq!(
            "unsubscribed".parse::<SubscriptionStatus>().unwrap(),
            SubscriptionStatus::Unsubscribed
        );
        assert_eq!(
            "blocked".parse::<SubscriptionStatus>().unwrap(),
            SubscriptionStatus::Blocked
        );
        let err = "Blocked".parse::<SubscriptionStatus>().unwrap_err();
        assert_eq!(err.code(), "invalid_status");
        assert_eq!(
            err.message(),
            "status 'Blocked' is not one of: subscribed, unsubscribed, blocked"
        );
    }
}
