//! Receipts by watermark: "every message sent to this person before this moment is delivered / read",
//! without message ids. The dispatcher keeps each person's last campaign message
//! ([`keys::last_campaign_message`](crate::keys::last_campaign_message)); a watermark at or after its
//! sending is that message's receipt, merged into its receipt record like any per-message status, so it
//! is credited exactly once however often watermarks repeat. An earlier message that another campaign's
//! message replaced before any watermark covered it is not credited.

use chrono::{DateTime, Duration, Utc};

use super::intake::CLOCK_SKEW_SECS;
use super::platform_of;
use super::receipt::{ReceiptChange, StatusReport};
use crate::event::{ReceiptStatus, SentMessageRef};
use crate::subscriber::SubscriberId;

/// A watermark, validated.
pub(crate) struct WatermarkReport {
    pub subscriber: SubscriberId,
    pub status: ReceiptStatus,
    pub up_to: DateTime<Utc>,
}

/// Whether a watermark may carry `status`: only delivered and read are watermarks.
pub(crate) fn is_watermark_status(status: ReceiptStatus) -> bool {
    matches!(status, ReceiptStatus::Delivered | ReceiptStatus::Read)
}

/// The change a watermark makes: a status of the person's last campaign message `last` when it is
/// covered (merged with the batch's other statuses); `None` otherwise.
pub(crate) fn covered_change(
    report: &WatermarkReport,
    last: Option<&SentMessageRef>,
) -> Option<ReceiptChange> {
    // The platform stamps the message when it takes it, a little before we record `sent_at`.
    let covered = last.filter(|sent| {
        sent.subscriber == report.subscriber
            && report.up_to >= sent.sent_at - Duration::seconds(CLOCK_SKEW_SECS)
    })?;
    let platform = platform_of(&report.subscriber)?;
    let status = StatusReport {
        platform,
        message_id: &covered.message_id,
        status: report.status,
        at: report.up_to,
        error: None,
    };
    Some(ReceiptChange::status(&status, Some(covered)))
}
