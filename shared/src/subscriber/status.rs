//! Whether a subscriber may be messaged.

use std::str::FromStr;

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
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "subscribed" => Ok(Self::Subscribed),
            "unsubscribed" => Ok(Self::Unsubscribed),
            "blocked" => Ok(Self::Blocked),
            other => Err(Error::invalid(
                "invalid_status",
                format!("status '{other}' is not one of: subscribed, unsubscribed, blocked"),
            )),
        }
    }
}
