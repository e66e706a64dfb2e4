//! The contract between components: the platform-neutral events the subscriptions component hands to
//! the feedback component, and the reference the dispatcher leaves behind for each message it sent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::subscriber::{Platform, SubscriberId};

/// A delivery receipt state, ordered so that a later state never gives way to an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// Accepted by the platform's servers.
    Sent,
    /// On the recipient's device.
    Delivered,
    /// Opened.
    Read,
    /// Could not be delivered (final: a read reported later does not undo it).
    Failed,
}

/// A platform error attached to a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformError {
    /// The platform's code (`131047`).
    pub code: String,
    /// Its title or message.
    pub title: String,
}

/// What a subscriber did, as the feedback component needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundEvent {
    /// A text message that is not a command.
    Reply {
        /// Who wrote.
        subscriber: SubscriberId,
        /// The platform's id of their message (idempotency).
        message_id: String,
        /// What they wrote (bounded by the webhook's body limit).
        text: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A button press (Telegram callback query, WhatsApp interactive reply).
    ButtonPress {
        /// Who pressed.
        subscriber: SubscriberId,
        /// The platform's id of the press (Telegram callback query id; WhatsApp message id).
        press_id: String,
        /// The button's data as we set it when sending.
        data: String,
        /// When.
        at: DateTime<Utc>,
        /// The platform's id of our message the button belongs to, when the platform says (a WhatsApp
        /// template quick reply carries it as `context.id`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_reply_to: Option<String>,
    },
    /// A delivery or read receipt for a message we sent.
    Receipt {
        /// The platform.
        platform: Platform,
        /// The platform's message id.
        message_id: String,
        /// The new state.
        status: ReceiptStatus,
        /// When.
        at: DateTime<Utc>,
        /// The error of a failed status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<PlatformError>,
    },
    /// Every message sent to a person before a moment has been delivered or read (a watermark, with no
    /// message ids: Messenger's `delivery` and `read`).
    Watermark {
        /// Whose messages.
        subscriber: SubscriberId,
        /// [`ReceiptStatus::Delivered`] or [`ReceiptStatus::Read`].
        status: ReceiptStatus,
        /// Messages sent up to this moment are concerned.
        up_to: DateTime<Utc>,
    },
}

/// The most body the feedback component's private route reads: the subscriptions component forwards a
/// notification in pages of at most this size, whatever the notification's size at the edge.
pub const EVENT_BATCH_BODY_LIMIT: usize = 1024 * 1024;

/// A batch of events posted to the feedback component's private route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBatch {
    /// The events, in the order the platform sent them.
    pub events: Vec<InboundEvent>,
}

/// Left by the dispatcher for each message it sent: under the platform message id (receipts) and as the
/// subscriber's last campaign message (reply attribution).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessageRef {
    /// The campaign.
    pub campaign_id: String,
    /// The recipient.
    pub subscriber: SubscriberId,
    /// The platform's message id.
    pub message_id: String,
    /// The ledger batch holding the delivery.
    pub batch: u64,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// The A/B arm the recipient is in, for a campaign with variants (feedback is credited to it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
}

/// Left by the dispatcher for a recipient an A/B holdout held back (sent nothing): the replies they write
/// within the reply window after it are the holdout's replies, to compare with the arms'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldOutRef {
    /// The campaign whose holdout they are in.
    pub campaign_id: String,
    /// The recipient.
    pub subscriber: SubscriberId,
    /// When they were held back (when the message would have gone out).
    pub at: DateTime<Utc>,
    /// Whether a reply of theirs has been counted in the holdout's `replied` (people, each once).
    #[serde(default)]
    pub replied: bool,
}

/// The data of a rating button: `rate:<campaign>:<score>`; Telegram allows 64 bytes of callback data,
/// and campaign ids are at most 40 characters, so it always fits.
pub fn rating_button_data(campaign_id: &str, score: u8) -> String {
    format!("rate:{campaign_id}:{score}")
}

/// Parse rating button data into campaign id and score (1 to 5).
pub fn parse_rating_button_data(data: &str) -> Option<(&str, u8)> {
    let rest = data.strip_prefix("rate:")?;
    let (campaign, score) = rest.rsplit_once(':')?;
    let score: u8 = score.parse().ok()?;
    ((1..=5).contains(&score) && !campaign.is_empty()).then_some((campaign, score))
}

/// Campaign counter names, shared by the dispatcher (sending outcomes) and feedback (what came back).
pub mod counter {
    /// Recipients the campaign selected.
    pub const TARGETED: &str = "targeted";
    /// Accepted by the platform.
    pub const SENT: &str = "sent";
    /// Failed for good.
    pub const FAILED: &str = "failed";
    /// Recipient had blocked the bot (suppressed).
    pub const BLOCKED: &str = "blocked";
    /// Skipped (no consent at send time, outside the service window, …).
    pub const SKIPPED: &str = "skipped";
    /// Delivered receipts (WhatsApp).
    pub const DELIVERED: &str = "delivered";
    /// Read receipts (WhatsApp).
    pub const READ: &str = "read";
    /// Replies attributed to the campaign.
    pub const REPLIED: &str = "replied";
    /// Ratings given.
    pub const RATINGS: &str = "ratings";
    /// Sum of rating scores (the average is this over [`RATINGS`]).
    pub const RATING_SUM: &str = "rating_sum";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rating_data_round_trips_and_fits_telegram() {
        let data = rating_button_data(&"c".repeat(40), 5);
        assert!(data.len() <= 64);
        assert_eq!(
            parse_rating_button_data(&data),
            Some(("cccccccccccccccccccccccccccccccccccccccc", 5))
        );
        assert_eq!(parse_rating_button_data("rate:c1:0"), None);
        assert_eq!(parse_rating_button_data("rate:c1:6"), None);
        assert_eq!(parse_rating_button_data("other"), None);
    }

    #[test]
    fn receipt_states_order_read_over_delivered_over_sent() {
        assert!(ReceiptStatus::Read > ReceiptStatus::Delivered);
        assert!(ReceiptStatus::Delivered > ReceiptStatus::Sent);
    }

    #[test]
    fn events_serialise_with_a_type_tag() {
        let event = InboundEvent::Reply {
            subscriber: crate::subscriber::SubscriberId::parse("telegram:shop:1").unwrap(),
            message_id: "5".into(),
            text: "hi".into(),
            at: "2026-01-01T00:00:00Z".parse().unwrap(),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "reply");
        assert_eq!(serde_json::from_value::<InboundEvent>(json).unwrap(), event);
    }
}
