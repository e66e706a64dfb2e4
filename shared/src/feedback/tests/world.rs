//! The world a feedback test runs in: an in-memory store, the references the dispatcher leaves when it
//! sends, and the events that come back.

use chrono::{DateTime, Utc};

use crate::event::{counter, InboundEvent, ReceiptStatus, SentMessageRef};
use crate::feedback::stats::REPORTED_FAILED;
use crate::feedback::{
    apply_events, campaign_stats, export_feedback, platform_of, CampaignStats, ExportFormat,
    FeedbackSettings, IntakeReport, ReceiptCounters,
};
use crate::keys;
use crate::kv::{self, KvStore, MemoryStore};
use crate::subscriber::{Platform, SubscriberId};

/// When every test starts.
pub fn t0() -> DateTime<Utc> {
    "2026-03-01T10:00:00Z".parse().expect("a valid time")
}

pub fn telegram_user() -> SubscriberId {
    SubscriberId::parse("telegram:shop:42").expect("a valid subscriber id")
}

pub fn whatsapp_user() -> SubscriberId {
    SubscriberId::parse("whatsapp:123456:4915112345678").expect("a valid subscriber id")
}

/// The reference the dispatcher keeps when it sends `message_id` of `campaign` to `subscriber`.
pub fn sent_ref(
    campaign: &str,
    subscriber: &SubscriberId,
    message_id: &str,
    sent_at: DateTime<Utc>,
) -> SentMessageRef {
    SentMessageRef {
        campaign_id: campaign.into(),
        subscriber: subscriber.clone(),
        message_id: message_id.into(),
        batch: 0,
        sent_at,
        arm: None,
    }
}

pub fn reply(
    subscriber: &SubscriberId,
    message_id: &str,
    text: &str,
    at: DateTime<Utc>,
) -> InboundEvent {
    InboundEvent::Reply {
        subscriber: subscriber.clone(),
        message_id: message_id.into(),
        text: text.into(),
        at,
    }
}

pub fn press(subscriber: &SubscriberId, press_id: &str, data: &str) -> InboundEvent {
    InboundEvent::ButtonPress {
        subscriber: subscriber.clone(),
        press_id: press_id.into(),
        data: data.into(),
        at: t0(),
        in_reply_to: None,
    }
}

/// A WhatsApp status for `message_id`.
pub fn receipt(message_id: &str, status: ReceiptStatus) -> InboundEvent {
    InboundEvent::Receipt {
        platform: Platform::Whatsapp,
        message_id: message_id.into(),
        status,
        at: t0(),
        error: None,
    }
}

#[derive(Default)]
pub struct World {
    store: MemoryStore,
}

impl World {
    pub fn new() -> Self {
        World::default()
    }

    pub fn store(&self) -> &MemoryStore {
        &self.store
    }

    /// What the dispatcher leaves behind when it sends `message_id` to `subscriber`: the platform's
    /// message id mapped to the send, and the subscriber's last campaign message.
    pub fn record_send(
        &self,
        campaign: &str,
        subscriber: &SubscriberId,
        message_id: &str,
        sent_at: DateTime<Utc>,
    ) -> SentMessageRef {
        self.record_send_in_arm(campaign, None, subscriber, message_id, sent_at)
    }

    /// [`World::record_send`] for a recipient in A/B arm `arm`.
    pub fn record_send_in_arm(
        &self,
        campaign: &str,
        arm: Option<&str>,
        subscriber: &SubscriberId,
        message_id: &str,
        sent_at: DateTime<Utc>,
    ) -> SentMessageRef {
        let sent = SentMessageRef {
            arm: arm.map(Into::into),
            ..sent_ref(campaign, subscriber, message_id, sent_at)
        };
        self.record_reference(&sent);
        kv::set_json(&self.store, &keys::last_campaign_message(subscriber), &sent)
            .expect("the last message is written");
        self.index_campaign(campaign);
        sent
    }

    /// List `campaign` in the campaign index, as creating it does (once).
    pub fn index_campaign(&self, campaign: &str) {
        let (listed, _) = crate::index::Index::CAMPAIGNS
            .read_from(&self.store, 0)
            .expect("the index reads");
        if !listed.iter().any(|(_, id)| id == campaign) {
            crate::index::Index::CAMPAIGNS
                .append(&self.store, campaign)
                .expect("the campaign is listed");
        }
    }

    /// Map the platform's message id of `sent` to it, as the dispatcher does after sending.
    pub fn record_reference(&self, sent: &SentMessageRef) {
        let platform = platform_of(&sent.subscriber).expect("a platform subscriber");
        let key = keys::platform_message(platform.as_str(), &sent.message_id);
        kv::set_json(&self.store, &key, sent).expect("the reference is written");
    }

    /// Remove the mapping of `sent`, as if the dispatcher had not written it yet.
    pub fn forget_reference(&self, sent: &SentMessageRef) {
        let platform = platform_of(&sent.subscriber).expect("a platform subscriber");
        let key = keys::platform_message(platform.as_str(), &sent.message_id);
        self.store.delete(&key).expect("the reference is removed");
    }

    /// Apply `events` with the default settings.
    pub fn apply(&self, events: &[InboundEvent]) -> IntakeReport {
        self.apply_with(&FeedbackSettings::default(), events)
            .expect("the events are applied")
    }

    pub fn apply_with(
        &self,
        settings: &FeedbackSettings,
        events: &[InboundEvent],
    ) -> crate::Result<IntakeReport> {
        apply_events(&self.store, settings, events)
    }

    /// A campaign counter as the statistics read it: its atomic counter, plus the receipt counters record
    /// (receipts) and what the campaign's feedback log counted (replies and ratings).
    pub fn counter(&self, campaign: &str, name: &str) -> i64 {
        let receipts = ReceiptCounters::read(&self.store, campaign)
            .expect("the receipt counters read")
            .totals;
        let counted = match name {
            counter::DELIVERED => receipts.delivered,
            counter::READ => receipts.read,
            REPORTED_FAILED => receipts.reported_failed,
            _ => 0,
        };
        let logged = crate::feedback::log::FeedbackLog::named(&keys::feedback_log(Some(campaign)))
            .totals(&self.store)
            .expect("the log reads");
        counted
            + self
                .store
                .increment(&keys::campaign_counter(campaign, name), 0)
                .expect("the counter reads")
            + logged.get(name).copied().unwrap_or(0)
    }

    pub fn stats(&self, campaign: &str) -> CampaignStats {
        campaign_stats(&self.store, campaign).expect("the statistics read")
    }

    /// The first page of the feedback log (of `campaign`, or unattributed), as JSON rows.
    pub fn export_jsonl(&self, campaign: Option<&str>) -> Vec<serde_json::Value> {
        let page = export_feedback(&self.store, campaign, ExportFormat::JsonLines, 0)
            .expect("the export runs");
        String::from_utf8(page.body)
            .expect("UTF-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON row"))
            .collect()
    }
}
