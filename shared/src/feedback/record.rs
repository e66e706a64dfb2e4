//! The stored feedback records. Every record is a [`FeedbackRecord`] (tagged by `type`), so a campaign's
//! feedback log can list records of every kind and the export decodes them in one way.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{PlatformError, ReceiptStatus, SentMessageRef};
use crate::subscriber::{Platform, SubscriberId};

/// One piece of feedback, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedbackRecord {
    /// A text reply.
    Reply(ReplyRecord),
    /// A rating button press that counted.
    Rating(RatingRecord),
    /// A press of any other button.
    ButtonPress(ButtonPressRecord),
    /// The delivery state of one message we sent.
    Receipt(ReceiptRecord),
}

impl FeedbackRecord {
    /// The log page a reply, press or rating was appended from (`None` for receipts and for records
    /// written before records named it).
    pub(crate) fn logged_from(&self) -> Option<u64> {
        match self {
            FeedbackRecord::Reply(r) => r.logged_from,
            FeedbackRecord::Rating(r) => r.logged_from,
            FeedbackRecord::ButtonPress(r) => r.logged_from,
            FeedbackRecord::Receipt(_) => None,
        }
    }
}

/// A text reply from a subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyRecord {
    /// The campaign it was credited to; `None` when no campaign message came within the reply window.
    pub campaign_id: Option<String>,
    /// Who wrote.
    pub subscriber: SubscriberId,
    /// The platform's id of their message.
    pub message_id: String,
    /// What they wrote (bounded by [`super::MAX_REPLY_TEXT_CHARS`]).
    pub text: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The page of the campaign's (or the unattributed) feedback log its entry was appended from on,
    /// so a redelivery can tell whether the entry (and its counts) was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged_from: Option<u64>,
}

/// The one rating a subscriber gave a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingRecord {
    /// The campaign rated.
    pub campaign_id: String,
    /// Who rated.
    pub subscriber: SubscriberId,
    /// The platform's id of the press that gave it (tells a redelivery from a second press).
    pub press_id: String,
    /// The score, 1 to 5.
    pub score: u8,
    /// When.
    pub at: DateTime<Utc>,
    /// The page of the campaign's (or the unattributed) feedback log its entry was appended from on,
    /// so a redelivery can tell whether the entry (and its counts) was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged_from: Option<u64>,
}

/// A press of a button whose data is not a rating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonPressRecord {
    /// The campaign of the last message within the reply window, if any.
    pub campaign_id: Option<String>,
    /// Who pressed.
    pub subscriber: SubscriberId,
    /// The platform's id of the press.
    pub press_id: String,
    /// The button's data.
    pub data: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The page of the campaign's (or the unattributed) feedback log its entry was appended from on,
    /// so a redelivery can tell whether the entry (and its counts) was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged_from: Option<u64>,
}

/// Which counters and log entries a receipt record has been credited with, so each happens once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptCredits {
    /// Counted in `delivered`.
    pub delivered: bool,
    /// Counted in `read`.
    pub read: bool,
    /// Appended to the campaign's feedback log.
    pub logged: bool,
    /// Counted in `failed` (the platform reported it undeliverable after accepting it).
    #[serde(default)]
    pub failed: bool,
}

impl ReceiptCredits {
    /// Whether any credit is set.
    pub fn any(self) -> bool {
        self.delivered || self.read || self.logged || self.failed
    }
}

/// The delivery state of one message, merged from every status the platform sent, in any order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRecord {
    /// The platform.
    pub platform: Platform,
    /// The platform's message id.
    pub message_id: String,
    /// The campaign, once the dispatcher's [`SentMessageRef`] is known.
    pub campaign_id: Option<String>,
    /// The recipient, once known.
    pub subscriber: Option<SubscriberId>,
    /// The A/B arm the recipient is in, once known (a campaign with variants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    /// The state that stands: failed beats read beats delivered beats sent.
    pub status: ReceiptStatus,
    /// When the standing state was reported.
    pub at: DateTime<Utc>,
    /// The platform's error, for a failed status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PlatformError>,
    /// Every status seen, with when it was first reported.
    pub seen: Vec<(ReceiptStatus, DateTime<Utc>)>,
    /// What has been credited already.
    #[serde(default)]
    pub credited: ReceiptCredits,
}

/// How strongly a state stands: what the platform reports as failed is final (a read reported later
/// does not undo it), a read beats delivered (a message cannot be read and undelivered), and delivered
/// beats sent.
fn standing(status: ReceiptStatus) -> u8 {
    match status {
        ReceiptStatus::Sent => 0,
        ReceiptStatus::Delivered => 1,
        ReceiptStatus::Read => 2,
        ReceiptStatus::Failed => 3,
    }
}

impl ReceiptRecord {
    /// The record of a message's first reported status.
    pub fn new(
        platform: Platform,
        message_id: &str,
        status: ReceiptStatus,
        at: DateTime<Utc>,
        error: Option<&PlatformError>,
    ) -> Self {
        ReceiptRecord {
            platform,
            message_id: message_id.to_owned(),
            campaign_id: None,
            subscriber: None,
            arm: None,
            status,
            at,
            error: if status == ReceiptStatus::Failed {
                error.cloned()
            } else {
                None
            },
            seen: vec![(status, at)],
            credited: ReceiptCredits::default(),
        }
    }

    /// Whether `status` has been reported.
    pub fn has_seen(&self, status: ReceiptStatus) -> bool {
        self.seen.iter().any(|(s, _)| *s == status)
    }

    /// Merge a reported status; returns false when it had been reported before (a redelivery).
    pub fn observe(
        &mut self,
        status: ReceiptStatus,
        at: DateTime<Utc>,
        error: Option<&PlatformError>,
    ) -> bool {
        if self.has_seen(status) {
            return false;
        }
        self.seen.push((status, at));
        if standing(status) > standing(self.status) {
            self.status = status;
            self.at = at;
            self.error = if status == ReceiptStatus::Failed {
                error.cloned()
            } else {
                None
            };
        }
        true
    }

    /// Credit the message to the campaign the dispatcher recorded; returns whether that is news.
    pub fn attribute(&mut self, sent: &SentMessageRef) -> bool {
        if self.campaign_id.is_some() {
            return false;
        }
        self.campaign_id = Some(sent.campaign_id.clone());
        self.subscriber = Some(sent.subscriber.clone());
        self.arm.clone_from(&sent.arm);
        true
    }

    /// The credits now due (and mark them given): none until the campaign is known; `failed` once
    /// failed was seen; `delivered` once delivered or read was seen and `read` once read was seen, unless
    /// a failure stands by then; and one log entry.
    pub fn take_due_credits(&mut self) -> ReceiptCredits {
        if self.campaign_id.is_none() {
            return ReceiptCredits::default();
        }
        let failed = self.has_seen(ReceiptStatus::Failed);
        let reached_device =
            self.has_seen(ReceiptStatus::Delivered) || self.has_seen(ReceiptStatus::Read);
        let due = ReceiptCredits {
            delivered: reached_device && !failed && !self.credited.delivered,
            read: self.has_seen(ReceiptStatus::Read) && !failed && !self.credited.read,
            logged: !self.credited.logged,
            failed: failed && !self.credited.failed,
        };
        self.credited.delivered |= due.delivered;
        self.credited.read |= due.read;
        self.credited.logged |= due.logged;
        self.credited.failed |= due.failed;
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn sent_ref() -> SentMessageRef {
        SentMessageRef {
            campaign_id: "c1".into(),
            subscriber: SubscriberId::parse("whatsapp:123456:4915112345678").unwrap(),
            message_id: "wamid.1".into(),
            batch: 0,
            sent_at: at("2026-01-01T00:00:00Z"),
            arm: None,
        }
    }

    #[test]
    fn failed_stands_over_read_over_delivered_over_sent_in_any_order() {
        let mut record = ReceiptRecord::new(
            Platform::Whatsapp,
            "wamid.1",
            ReceiptStatus::Read,
            at("2026-01-01T00:00:03Z"),
            None,
        );
        record.observe(ReceiptStatus::Delivered, at("2026-01-01T00:00:02Z"), None);
        record.observe(ReceiptStatus::Sent, at("2026-01-01T00:00:01Z"), None);
        assert_eq!(record.status, ReceiptStatus::Read);
        assert_eq!(record.at, at("2026-01-01T00:00:03Z"));

        let error = PlatformError {
            code: "131026".into(),
            title: "Message undeliverable".into(),
        };
        let mut failed = ReceiptRecord::new(
            Platform::Whatsapp,
            "wamid.2",
            ReceiptStatus::Sent,
            at("2026-01-01T00:00:01Z"),
            None,
        );
        assert!(!failed.observe(ReceiptStatus::Sent, at("2026-01-01T00:00:01Z"), None));
        failed.observe(
            ReceiptStatus::Failed,
            at("2026-01-01T00:00:02Z"),
            Some(&error),
        );
        failed.observe(ReceiptStatus::Delivered, at("2026-01-01T00:00:03Z"), None);
        assert_eq!(failed.status, ReceiptStatus::Failed);
        assert_eq!(failed.error.as_ref(), Some(&error));
        // A read reported after the failure is kept in the history and does not undo it.
        assert!(failed.observe(ReceiptStatus::Read, at("2026-01-01T00:00:04Z"), None));
        assert_eq!(failed.status, ReceiptStatus::Failed);
        assert_eq!(failed.error.as_ref(), Some(&error));
        assert!(failed.attribute(&sent_ref()));
        assert_eq!(
            failed.take_due_credits(),
            ReceiptCredits {
                delivered: false,
                read: false,
                logged: true,
                failed: true
            }
        );
        assert!(!failed.take_due_credits().any());
    }

    #[test]
    fn a_repeated_status_is_not_news() {
        let mut record = ReceiptRecord::new(
            Platform::Whatsapp,
            "wamid.1",
            ReceiptStatus::Sent,
            at("2026-01-01T00:00:01Z"),
            None,
        );
        assert!(record.observe(ReceiptStatus::Delivered, at("2026-01-01T00:00:02Z"), None));
        assert!(!record.observe(ReceiptStatus::Delivered, at("2026-01-01T00:00:09Z"), None));
        assert_eq!(record.at, at("2026-01-01T00:00:02Z"));
    }

    #[test]
    fn credits_wait_for_the_campaign_and_are_given_once() {
        let mut record = ReceiptRecord::new(
            Platform::Whatsapp,
            "wamid.1",
            ReceiptStatus::Read,
            at("2026-01-01T00:00:03Z"),
            None,
        );
        assert!(!record.take_due_credits().any());
        assert!(record.attribute(&sent_ref()));
        assert!(!record.attribute(&sent_ref()));
        // A read without a delivered still counts as delivered.
        assert_eq!(
            record.take_due_credits(),
            ReceiptCredits {
                delivered: true,
                read: true,
                logged: true,
                failed: false
            }
        );
        record.observe(ReceiptStatus::Delivered, at("2026-01-01T00:00:02Z"), None);
        assert!(!record.take_due_credits().any());
    }

    #[test]
    fn records_serialise_with_a_type_tag() {
        let record = FeedbackRecord::Rating(RatingRecord {
            logged_from: None,
            campaign_id: "c1".into(),
            subscriber: SubscriberId::parse("telegram:shop:1").unwrap(),
            press_id: "p".into(),
            score: 4,
            at: at("2026-01-01T00:00:00Z"),
        });
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["type"], "rating");
        assert_eq!(
            serde_json::from_value::<FeedbackRecord>(json).unwrap(),
            record
        );
    }
}
