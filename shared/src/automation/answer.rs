//! What the event API answers for each event: per rule, what was done and why.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The answer to one event (kept verbatim for its idempotency key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventAnswer {
    /// The event name.
    pub name: String,
    /// The idempotency key.
    pub idempotency_key: String,
    /// The subscriber id the event named, if it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_id: Option<String>,
    /// The customer id the event named, if it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// What each matching rule did (empty when no enabled rule answers the event).
    pub rules: Vec<RuleAnswer>,
}

/// What one rule did with the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleAnswer {
    /// The rule.
    pub rule_id: String,
    /// The result.
    #[serde(flatten)]
    pub result: RuleResult,
}

/// The result of one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RuleResult {
    /// A message was queued.
    Queued {
        /// The scheduled message (`DELETE /api/v1/scheduled/:id` cancels it while it waits).
        message_id: String,
        /// Its recipient.
        subscriber_id: String,
        /// The channel chosen.
        channel: String,
        /// When it goes out.
        due_at: DateTime<Utc>,
    },
    /// Nothing was queued.
    Skipped {
        /// Why: `no_subscriber`, `unsubscribed`, `blocked`, `no_consented_channel`,
        /// `missing_time_field`, `time_passed`, `template_not_found`.
        reason: String,
    },
    /// The event cancelled pending messages of the rule.
    Cancelled {
        /// How many.
        cancelled: u32,
    },
}
