//! Feedback: what came back from a campaign. Replies, button presses (ratings) and delivery/read
//! receipts arrive from the subscriptions component as [`crate::event::EventBatch`]es; [`apply_events`]
//! records each once, credits it to a campaign, and keeps per-campaign counters and a per-campaign
//! feedback log that [`export_feedback`] pages through and [`campaign_stats`] summarises.
//!
//! Idempotency: platforms redeliver for hours or days, so every event is keyed by what the platform
//! repeats (reply: sender and message id; press: press id; receipt: message id and status), and a
//! record is created by compare-and-swap, so only the first delivery counts. A subscriber's first reply
//! to a campaign is stored under the campaign's "has replied" key, so that one write records it and
//! makes it the one counted in `replied`. Replies and ratings are counted on their entry in the
//! campaign's feedback log (see `log.rs`): the entry and its counts are one write after the record's,
//! and a redelivery that finds the record but not the entry writes it, so a request that dies in
//! between is finished by the platform's redelivery and nothing is counted twice. Holdout counters change by atomic
//! increment after their record: if a request dies in between, such a count may be missing, but none
//! is ever counted twice. Receipts are merged a batch at a time under one lease, and their counts are
//! written in the same batch write as the records that justify them (see `receipt.rs`): a redelivery
//! completes what a dead request left out, and counts nothing twice.
//!
//! A reply to a campaign or a rating costs the intake two writes (the record, the log entry with its
//! counts); a later reply of the same person, or one no campaign is credited with, also goes to the
//! subscriber's own log, which erasure reads (ratings and first replies are found through the campaign
//! index).
//!
//! What counts:
//! - `replied` counts subscribers who replied to the campaign (each once); `replies` counts every
//!   attributed reply. A reply is credited to the last campaign message sent to the subscriber if it
//!   came within the reply window; otherwise it is kept in the unattributed log.
//! - `ratings` and `rating_sum` count one rating per subscriber and campaign: the first press wins.
//! - `delivered` counts messages that reached delivered or read (a read may come without a delivered),
//!   `read` messages that were read; each at most once per message, whatever order statuses arrive in,
//!   including before the dispatcher recorded the message (see [`credit_early_receipts`]).

mod answers;
mod effects;
mod erase;
mod export;
mod intake;
mod lease;
pub(crate) mod log;
mod receipt;
mod record;
mod stats;
mod watermark;

#[cfg(test)]
mod tests;

pub use answers::{
    answer_presses, AnswerSummary, PressAnswer, ALREADY_RATED_TEXT, THANKS_FOR_RATING_TEXT,
};
pub use erase::erase_subscriber_feedback;
pub use export::{
    export_feedback, ExportFormat, ExportPage, ExportRow, CSV_HEADER, MAX_EXPORT_ROWS,
};
pub use intake::{
    apply_events, attributed_message, EventOutcome, IntakeReport, CLOCK_SKEW_SECS,
    MAX_EVENTS_PER_BATCH, MAX_REPLY_TEXT_CHARS,
};
pub use receipt::{credit_early_receipts, ReceiptCounters, ReceiptTally};
pub use record::{
    ButtonPressRecord, FeedbackRecord, RatingRecord, ReceiptCredits, ReceiptRecord, ReplyRecord,
};
pub use stats::{campaign_stats, require_campaign, CampaignStats, Figures, REPLIES};

use chrono::Duration;

use crate::error::{Error, Result};
use crate::subscriber::{Platform, SubscriberId};

/// The reply window when the `reply_window_hours` variable does not say otherwise.
pub const DEFAULT_REPLY_WINDOW_HOURS: i64 = 72;
/// The longest reply window accepted (a year).
pub const MAX_REPLY_WINDOW_HOURS: i64 = 24 * 365;
/// How feedback is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedbackSettings {
    /// How long after a campaign message a reply is still credited to it.
    pub reply_window: Duration,
}

impl Default for FeedbackSettings {
    fn default() -> Self {
        FeedbackSettings {
            reply_window: Duration::hours(DEFAULT_REPLY_WINDOW_HOURS),
        }
    }
}

impl FeedbackSettings {
    /// Settings with a reply window of `hours` (the `reply_window_hours` variable).
    ///
    /// # Errors
    /// 503 `invalid_configuration` when `hours` is not between 1 and [`MAX_REPLY_WINDOW_HOURS`].
    pub fn with_reply_window_hours(hours: i64) -> Result<Self> {
        if !(1..=MAX_REPLY_WINDOW_HOURS).contains(&hours) {
            return Err(Error::unavailable(
                "invalid_configuration",
                format!("variable 'reply_window_hours' must be between 1 and {MAX_REPLY_WINDOW_HOURS}, got {hours}"),
            ));
        }
        Ok(FeedbackSettings {
            reply_window: Duration::hours(hours),
        })
    }
}

/// Check a campaign id from a path or from button data with the campaigns' own rule, so it embeds in
/// keys and index names without ambiguity.
///
/// # Errors
/// 400 `invalid_campaign_id`.
pub fn check_campaign_id(id: &str) -> Result<()> {
    crate::campaign::CampaignId::parse(id).map(|_| ())
}

/// The platform of a subscriber id (`telegram:shop:42` is on Telegram).
pub(crate) fn platform_of(subscriber: &SubscriberId) -> Option<Platform> {
    subscriber.as_str().split(':').next()?.parse().ok()
}
