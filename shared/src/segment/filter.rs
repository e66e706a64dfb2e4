//! A segment (tags, attribute values and conditions), its validation, and its compiled form for one
//! instant.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::condition::{Condition, Rule};
use crate::error::{Error, Result};
use crate::subscriber::{check_attribute_value, AttributeName, Subscriber, Tag};

/// The most tags in each of a segment's `all_tags` and `any_tags`.
pub const MAX_SEGMENT_TAGS: usize = 20;
/// The most exact attribute values in a segment.
pub const MAX_SEGMENT_ATTRIBUTES: usize = 20;
/// The most conditions in a segment.
pub const MAX_CONDITIONS: usize = 20;

/// Who a filter selects: subscribers carrying every tag of `all_tags`, at least one of `any_tags` (when
/// given), exactly the given attribute values, and meeting every condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Tags a subscriber must all carry.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub all_tags: BTreeSet<Tag>,
    /// Tags of which a subscriber must carry at least one (ignored when empty).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub any_tags: BTreeSet<Tag>,
    /// Attribute values a subscriber must have, compared exactly as text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<AttributeName, String>,
    /// Comparisons a subscriber must all meet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl Segment {
    /// Check the sizes and every condition; `what` names the segment in errors (`audience`, `filter`).
    ///
    /// # Errors
    /// 400 `invalid_<what>` naming the limit, or `invalid_condition` naming the condition and what to fix.
    pub fn validate(&self, what: &str) -> Result<()> {
        let code = format!("invalid_{what}");
        if self.all_tags.len() > MAX_SEGMENT_TAGS || self.any_tags.len() > MAX_SEGMENT_TAGS {
            return Err(Error::invalid(
                code,
                format!("all_tags and any_tags hold at most {MAX_SEGMENT_TAGS} tags each"),
            ));
        }
        if self.attributes.len() > MAX_SEGMENT_ATTRIBUTES {
            return Err(Error::invalid(
                code,
                format!("{what}.attributes holds at most {MAX_SEGMENT_ATTRIBUTES} conditions"),
            ));
        }
        if self.conditions.len() > MAX_CONDITIONS {
            return Err(Error::invalid(
                code,
                format!("{what}.conditions holds at most {MAX_CONDITIONS} conditions"),
            ));
        }
        for (name, value) in &self.attributes {
            check_attribute_value(name, value)?;
        }
        for (i, condition) in self.conditions.iter().enumerate() {
            condition.rule().map_err(|e| {
                Error::invalid(
                    e.code().to_owned(),
                    format!("{what}.conditions[{i}]: {}", e.message()),
                )
            })?;
        }
        Ok(())
    }

    /// The segment judged at `now`: relative conditions count back from it and "today" is its date in
    /// each person's time zone, or in `zone` (UTC when `None`) for a record without one.
    pub fn at(&self, now: DateTime<Utc>, zone: Option<Tz>) -> Selector<'_> {
        Selector {
            segment: self,
            // A stored condition that no longer validates selects nobody rather than everybody.
            rules: self.conditions.iter().map(|c| c.rule().ok()).collect(),
            now,
            zone: zone.unwrap_or(Tz::UTC),
        }
    }
}

/// A segment compiled for one instant.
#[derive(Debug, Clone)]
pub struct Selector<'a> {
    segment: &'a Segment,
    rules: Vec<Option<Rule>>,
    now: DateTime<Utc>,
    zone: Tz,
}

impl Selector<'_> {
    /// Whether `subscriber` is in the segment (channel and consent are judged elsewhere).
    pub fn matches(&self, subscriber: &Subscriber) -> bool {
        self.matches_at(subscriber, self.now)
    }

    /// Whether `subscriber` is in the segment with its relative conditions judged at `now` instead of
    /// the instant it was compiled for (a person whose own moment differs).
    pub fn matches_at(&self, subscriber: &Subscriber, now: DateTime<Utc>) -> bool {
        let segment = self.segment;
        segment.all_tags.iter().all(|t| subscriber.tags.contains(t))
            && (segment.any_tags.is_empty()
                || segment.any_tags.iter().any(|t| subscriber.tags.contains(t)))
            && segment
                .attributes
                .iter()
                .all(|(name, value)| subscriber.attributes.get(name) == Some(value))
            && self.rules.iter().all(|rule| {
                rule.as_ref()
                    .is_some_and(|r| r.matches(subscriber, now, self.zone))
            })
    }
}

#[cfg(test)]
mod tests;
