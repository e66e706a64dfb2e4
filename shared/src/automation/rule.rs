//! An event rule: which event it answers, with which template, on which channels, when, and which
//! later events cancel its pending messages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keywords::{self, KeywordMatch};
use super::timing::Timing;
use crate::campaign::{CampaignId, MessageKind};
use crate::error::{Error, Result};
use crate::newtype::{check_slug_id, validated_string};
use crate::subscriber::{is_slug, Channel};

/// The longest rule id: its statistics id `r--<id>` must be a campaign id (at most 40 characters).
pub const MAX_RULE_ID_CHARS: usize = 36;
/// The longest event name.
pub const MAX_EVENT_NAME_CHARS: usize = 64;
/// The most channels a rule tries.
pub const MAX_RULE_CHANNELS: usize = 10;
/// The most event names that cancel a rule's messages.
pub const MAX_CANCELLED_BY: usize = 10;
/// The longest rule name, in characters.
const MAX_RULE_NAME_CHARS: usize = 200;
/// The longest template id.
const MAX_TEMPLATE_ID_CHARS: usize = 64;
/// The prefix of a rule's statistics id; campaign ids starting with it are reserved for rules.
pub const STATS_PREFIX: &str = crate::campaign::EVENT_RULE_ID_PREFIX;

validated_string! {
    /// A rule id: 1-36 characters of a-z, 0-9, '_' and '-'.
    pub struct RuleId;
}

impl RuleId {
    /// Parse a client-given id.
    ///
    /// # Errors
    /// 400 `invalid_rule_id` saying the allowed form.
    pub fn parse(s: &str) -> Result<Self> {
        check_slug_id(s, MAX_RULE_ID_CHARS, "invalid_rule_id", "rule id")?;
        Ok(RuleId(s.to_owned()))
    }

    /// The campaign-like id the rule's messages are sent and counted under (`r--<id>`), so receipts,
    /// replies and ratings credit the rule as they credit a campaign.
    pub fn stats_id(&self) -> CampaignId {
        CampaignId::parse(&format!("{STATS_PREFIX}{}", self.0))
            .unwrap_or_else(|_| unreachable!("a rule id of at most 36 slug characters"))
    }
}

validated_string! {
    /// An event name: dot-separated words of a-z, 0-9 and '_', e.g. `order.shipped`.
    pub struct EventName;
}

impl EventName {
    /// Parse an event name.
    ///
    /// # Errors
    /// 400 `invalid_event_name` saying the allowed form.
    pub fn parse(s: &str) -> Result<Self> {
        let word = |w: &str| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if s.len() > MAX_EVENT_NAME_CHARS || !s.split('.').all(word) {
            return Err(Error::invalid(
                "invalid_event_name",
                format!("event name '{s}' must be 1-{MAX_EVENT_NAME_CHARS} characters: words of a-z, 0-9 and '_' joined by '.', e.g. order.shipped"),
            ));
        }
        Ok(EventName(s.to_owned()))
    }
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The id.
    pub id: RuleId,
    /// The display name.
    pub name: String,
    /// The event it answers.
    pub event: EventName,
    /// The template its message renders.
    pub template_id: String,
    /// The channels to try, in order: the first on which the customer has a consented subscriber wins.
    pub channels: Vec<Channel>,
    /// When the message goes out.
    pub timing: Timing,
    /// Transactional or promotional.
    pub kind: MessageKind,
    /// Events that cancel this rule's pending messages carrying the same event key.
    #[serde(default)]
    pub cancelled_by: Vec<EventName>,
    /// Whether events trigger it.
    pub enabled: bool,
    /// Which messages a rule on `message.received` answers (the FAQ bot's keywords).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub keyword_match: Option<KeywordMatch>,
    /// Of several keyword rules matching one message, the highest priority answers (then the oldest).
    #[serde(default)]
    pub priority: i32,
    /// The id its messages are sent and counted under (`GET /api/v1/rules/:id/stats`).
    pub stats_id: CampaignId,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The body of `POST /api/v1/rules` (with `id`) and `PUT /api/v1/rules/:id`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    /// The id (taken from the path on `PUT`).
    pub id: Option<String>,
    /// The display name; the id when absent.
    pub name: Option<String>,
    /// The event name.
    pub event: String,
    /// The template id.
    pub template_id: String,
    /// The channels, in order.
    pub channels: Vec<String>,
    /// The timing; at once when absent.
    pub timing: Option<Timing>,
    /// `transactional` or `promotional`.
    pub kind: MessageKind,
    /// Event names that cancel pending messages.
    #[serde(default)]
    pub cancelled_by: Vec<String>,
    /// Enabled unless `false`.
    pub enabled: Option<bool>,
    /// The keywords a rule on `message.received` answers.
    #[serde(default, rename = "match")]
    pub keyword_match: Option<KeywordMatch>,
    /// The keyword rule's priority; 0 when absent.
    #[serde(default)]
    pub priority: Option<i32>,
}

impl NewRule {
    /// Validate into a rule with id `id`, created at `created_at`.
    ///
    /// # Errors
    /// 400 with a code naming the field: `invalid_rule_id`, `invalid_name`, `invalid_event_name`,
    /// `invalid_template_id`, `invalid_channel`, `invalid_timing`, `invalid_cancelled_by`,
    /// `invalid_keywords`, `invalid_priority`.
    pub fn into_rule(
        self,
        id: &str,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Rule> {
        let id = RuleId::parse(id)?;
        let name = self
            .name
            .unwrap_or_else(|| id.to_string())
            .trim()
            .to_owned();
        if name.is_empty() || name.chars().count() > MAX_RULE_NAME_CHARS {
            return Err(Error::invalid(
                "invalid_name",
                format!("name must be 1-{MAX_RULE_NAME_CHARS} characters"),
            ));
        }
        let event = EventName::parse(&self.event)?;
        if !is_slug(&self.template_id, MAX_TEMPLATE_ID_CHARS) {
            return Err(Error::invalid(
                "invalid_template_id",
                format!("template_id '{}' must be 1-{MAX_TEMPLATE_ID_CHARS} characters of a-z, 0-9, '_' or '-'", self.template_id),
            ));
        }
        if self.channels.is_empty() || self.channels.len() > MAX_RULE_CHANNELS {
            return Err(Error::invalid(
                "invalid_channel",
                format!("channels lists 1-{MAX_RULE_CHANNELS} channels to try in order, e.g. [\"telegram:shop\"]"),
            ));
        }
        let mut channels: Vec<Channel> = Vec::with_capacity(self.channels.len());
        for text in &self.channels {
            let channel = Channel::parse(text)?;
            if channels.contains(&channel) {
                return Err(Error::invalid(
                    "invalid_channel",
                    format!("channel '{channel}' is listed twice"),
                ));
            }
            channels.push(channel);
        }
        let timing = self.timing.unwrap_or_else(Timing::once);
        timing.validate()?;
        if self.cancelled_by.len() > MAX_CANCELLED_BY {
            return Err(Error::invalid(
                "invalid_cancelled_by",
                format!("cancelled_by lists at most {MAX_CANCELLED_BY} event names"),
            ));
        }
        let cancelled_by = self
            .cancelled_by
            .iter()
            .map(|name| {
                EventName::parse(name)
                    .map_err(|e| Error::invalid("invalid_cancelled_by", e.message()))
            })
            .collect::<Result<Vec<_>>>()?;
        if cancelled_by.contains(&event) {
            return Err(Error::invalid(
                "invalid_cancelled_by",
                format!("'{event}' cannot cancel the messages it queues"),
            ));
        }
        keywords::check_rule_match(&event, self.keyword_match.as_ref(), self.priority)?;
        Ok(Rule {
            stats_id: id.stats_id(),
            id,
            name,
            event,
            template_id: self.template_id,
            channels,
            timing,
            kind: self.kind,
            cancelled_by,
            enabled: self.enabled.unwrap_or(true),
            keyword_match: self.keyword_match,
            priority: self.priority.unwrap_or(0),
            created_at,
            updated_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-01T10:00:00Z".parse().unwrap()
    }

    fn new_rule(value: serde_json::Value) -> NewRule {
        serde_json::from_value(value).unwrap()
    }

    fn valid() -> serde_json::Value {
        json!({"event": "appointment.booked", "template_id": "reminder",
               "channels": ["whatsapp:main", "telegram:shop"], "kind": "transactional",
               "timing": {"relative_to": "appointment_at", "offset": "-24h"},
               "cancelled_by": ["appointment.cancelled"]})
    }

    #[test]
    fn a_valid_rule_keeps_its_parts() {
        let rule = new_rule(valid())
            .into_rule("reminder", now(), now())
            .unwrap();
        assert_eq!(rule.stats_id.as_str(), "r--reminder");
        assert_eq!(rule.channels[0].to_string(), "whatsapp:main");
        assert_eq!(rule.kind, MessageKind::Transactional);
        assert!(rule.enabled);
        assert_eq!(rule.name, "reminder");
    }

    #[test]
    fn every_field_is_validated_with_a_code() {
        let cases = [
            ("event", json!("Order Shipped"), "invalid_event_name"),
            ("event", json!("order..shipped"), "invalid_event_name"),
            ("template_id", json!("T 1"), "invalid_template_id"),
            ("channels", json!([]), "invalid_channel"),
            ("channels", json!(["sms:x"]), "invalid_channel"),
            (
                "channels",
                json!(["telegram:shop", "telegram:shop"]),
                "invalid_channel",
            ),
            ("timing", json!({"after": "soon"}), "invalid_timing"),
            ("cancelled_by", json!(["Cancelled"]), "invalid_cancelled_by"),
            (
                "cancelled_by",
                json!(["appointment.booked"]),
                "invalid_cancelled_by",
            ),
            ("name", json!("  "), "invalid_name"),
        ];
        for (field, value, code) in cases {
            let mut body = valid();
            body[field] = value;
            assert_eq!(
                new_rule(body)
                    .into_rule("r1", now(), now())
                    .unwrap_err()
                    .code(),
                code,
                "{field}"
            );
        }
        assert_eq!(
            new_rule(valid())
                .into_rule(&"a".repeat(37), now(), now())
                .unwrap_err()
                .code(),
            "invalid_rule_id"
        );
        let mut unknown = valid();
        unknown["kind"] = json!("urgent");
        assert!(serde_json::from_value::<NewRule>(unknown).is_err());
    }
}
