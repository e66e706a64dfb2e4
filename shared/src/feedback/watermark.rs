//! Receipts by watermark: "every message sent to this person before this moment is delivered / read",
//! without message ids. The dispatcher keeps each person's last campaign message
//! ([`keys::last_campaign_message`](crate::keys::last_campaign_message)); a watermark at or after its
//! sending is that message's receipt, merged into its receipt record like any per-message status, so it
//! is credited exactly once however often watermarks repeat. An earlier message that another campaign's
//! message replaced before any watermark covered it is not credited.

use chrono::{DateTime, Duration, Utc};

use super::effects::Effects;
use super::intake::{EventOutcome, CLOCK_SKEW_SECS};
use super::platform_of;
use super::receipt::{apply_status, StatusReport};
use crate::error::Result;
use crate::event::{ReceiptStatus, SentMessageRef};
use crate::kv::KvStore;
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

/// Apply a watermark to the person's last campaign message `last` (one read-modify-write of its
/// receipt record when it is covered; nothing otherwise).
pub(crate) fn apply_watermark<S: KvStore + ?Sized>(
    store: &S,
    report: &WatermarkReport,
    last: Option<&SentMessageRef>,
    effects: &mut Effects,
) -> Result<EventOutcome> {
    // The platform stamps the message when it takes it, a little before we record `sent_at`.
    let covered = last.filter(|sent| {
        sent.subscriber == report.subscriber
            && report.up_to >= sent.sent_at - Duration::seconds(CLOCK_SKEW_SECS)
    });
    let (Some(sent), Some(platform)) = (covered, platform_of(&report.subscriber)) else {
        return Ok(EventOutcome::NoMessageCovered);
    };
    let status = StatusReport {
        platform,
        message_id: &sent.message_id,
        status: report.status,
        at: report.up_to,
        error: None,
    };
    apply_status(store, &status, None, Some(sent), effects)
}
