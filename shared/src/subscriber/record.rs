//! The subscriber record: consent, status and what we know of the person, within bounds.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    check_attribute_value, Address, AttributeName, Channel, ConsentAction, ConsentEvent,
    ExternalId, Locale, Profile, SubscriberId, SubscriptionStatus, Tag, TimeZone,
    MAX_CONSENT_EVENTS,
};
use crate::error::{Error, Result};

/// The most tags one subscriber may carry.
pub const MAX_TAGS: usize = 50;
/// The most attributes one subscriber may carry.
pub const MAX_ATTRIBUTES: usize = 50;

/// A subscriber record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscriber {
    /// Derived from channel and address.
    pub id: SubscriberId,
    /// The channel they subscribed on.
    pub channel: Channel,
    /// Their address there.
    pub address: Address,
    /// Whether they may be messaged.
    pub status: SubscriptionStatus,
    /// Every consent change, oldest first.
    pub consent: Vec<ConsentEvent>,
    /// Names from the platform or import.
    #[serde(default)]
    pub profile: Profile,
    /// Preferred locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<Locale>,
    /// The business's own id of this customer (several subscribers may share it, one per channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<ExternalId>,
    /// Time zone for local-time schedules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<TimeZone>,
    /// Tags for audiences.
    #[serde(default)]
    pub tags: BTreeSet<Tag>,
    /// Free attributes for audiences and templates.
    #[serde(default)]
    pub attributes: BTreeMap<AttributeName, String>,
    /// Where the subscription came from (deep-link payload, import batch…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The last message they sent us; opens WhatsApp's 24-hour service window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// When they last read a message of ours, to the day: the first read of the latest UTC day with one
    /// (read receipts would otherwise rewrite the record at every message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_at: Option<DateTime<Utc>>,
    /// First seen.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Subscriber {
    /// A new subscriber with no consent yet (status unsubscribed until an opt-in is recorded).
    pub fn new(channel: Channel, address: Address, now: DateTime<Utc>) -> Self {
        Subscriber {
            id: SubscriberId::of(&channel, &address),
            channel,
            address,
            status: SubscriptionStatus::Unsubscribed,
            consent: Vec::new(),
            profile: Profile::default(),
            locale: None,
            external_id: None,
            timezone: None,
            tags: BTreeSet::new(),
            attributes: BTreeMap::new(),
            source: None,
            last_inbound_at: None,
            last_read_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Record a consent change and the status it leads to. Returns whether the status changed.
    pub fn record_consent(&mut self, event: ConsentEvent) -> bool {
        let status = match event.action {
            ConsentAction::Subscribed | ConsentAction::Unblocked => SubscriptionStatus::Subscribed,
            ConsentAction::Unsubscribed => SubscriptionStatus::Unsubscribed,
            ConsentAction::Blocked => SubscriptionStatus::Blocked,
        };
        let changed = status != self.status;
        self.status = status;
        self.updated_at = self.updated_at.max(event.at);
        self.consent.push(event);
        if self.consent.len() > MAX_CONSENT_EVENTS {
            // Keep the first opt-in (the original evidence) and the most recent history.
            let excess = self.consent.len() - MAX_CONSENT_EVENTS;
            self.consent.drain(1..=excess);
        }
        changed
    }

    /// Whether a message may be sent now: consent is checked at send time, not only at scheduling.
    pub fn may_receive(&self) -> bool {
        self.status == SubscriptionStatus::Subscribed
    }

    /// Add a tag, within [`MAX_TAGS`].
    ///
    /// # Errors
    /// `too_many_tags`.
    pub fn add_tag(&mut self, tag: Tag) -> Result<()> {
        if !self.tags.contains(&tag) && self.tags.len() >= MAX_TAGS {
            return Err(Error::invalid(
                "too_many_tags",
                format!("a subscriber carries at most {MAX_TAGS} tags"),
            ));
        }
        self.tags.insert(tag);
        Ok(())
    }

    /// Set an attribute, within [`MAX_ATTRIBUTES`]; an empty value removes it.
    ///
    /// # Errors
    /// `too_many_attributes` or `invalid_attribute`.
    pub fn set_attribute(&mut self, name: AttributeName, value: String) -> Result<()> {
        if value.is_empty() {
            self.attributes.remove(&name);
            return Ok(());
        }
        check_attribute_value(&name, &value)?;
        if !self.attributes.contains_key(&name) && self.attributes.len() >= MAX_ATTRIBUTES {
            return Err(Error::invalid(
                "too_many_attributes",
                format!("a subscriber carries at most {MAX_ATTRIBUTES} attributes"),
            ));
        }
        self.attributes.insert(name, value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriber::{Platform, MAX_ATTRIBUTE_VALUE_CHARS};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// A subscriber first seen on 1 January, with no consent yet.
    fn new_subscriber() -> Subscriber {
        Subscriber::new(
            Channel::parse("telegram:shop").unwrap(),
            Address::parse(Platform::Telegram, "1").unwrap(),
            at("2026-01-01T00:00:00Z"),
        )
    }

    #[test]
    fn attribute_values_are_bounded_and_an_empty_one_removes_it() {
        let mut s = new_subscriber();
        let name = AttributeName::parse("city").unwrap();
        assert!(s
            .set_attribute(name.clone(), "x".repeat(MAX_ATTRIBUTE_VALUE_CHARS + 1))
            .is_err());
        s.set_attribute(name.clone(), "Berlin".into()).unwrap();
        s.set_attribute(name.clone(), String::new()).unwrap();
        assert!(s.attributes.is_empty());
    }

    #[test]
    fn consent_changes_status_and_keeps_evidence() {
        let mut s = new_subscriber();
        assert!(!s.may_receive());
        let changed = s.record_consent(ConsentEvent {
            action: ConsentAction::Subscribed,
            at: at("2026-01-02T00:00:00Z"),
            source: "telegram:/start".into(),
            evidence: "update 10000".into(),
        });
        assert!(changed);
        assert!(s.may_receive());
        s.record_consent(ConsentEvent {
            action: ConsentAction::Blocked,
            at: at("2026-01-03T00:00:00Z"),
            source: "telegram:kicked".into(),
            evidence: "update 2".into(),
        });
        assert_eq!(s.status, SubscriptionStatus::Blocked);
        assert!(!s.may_receive());
        assert_eq!(s.consent.len(), 2);
    }

    #[test]
    fn consent_history_is_bounded_but_keeps_the_first_opt_in() {
        let mut s = new_subscriber();
        for i in 0..(MAX_CONSENT_EVENTS + 10) {
            let action = if i % 2 == 0 {
                ConsentAction::Subscribed
            } else {
                ConsentAction::Unsubscribed
            };
            s.record_consent(ConsentEvent {
                action,
                at: at("2026-01-02T00:00:00Z"),
                source: "x".into(),
                evidence: i.to_string(),
            });
        }
        assert_eq!(s.consent.len(), MAX_CONSENT_EVENTS);
        assert_eq!(s.consent[0].evidence, "0");
        assert_eq!(
            s.consent.last().unwrap().evidence,
            (MAX_CONSENT_EVENTS + 9).to_string()
        );
    }
}
