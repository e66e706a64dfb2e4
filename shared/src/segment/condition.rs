//! One condition of a segment: an attribute compared as a number or a date, a date of the record, or an
//! annual date, in the shape clients send and campaigns store, and its validated form.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::dates;
use crate::error::{Error, Result};
use crate::subscriber::{AttributeName, ConsentAction, Subscriber};

/// The most days a `within` or `older_than` condition spans (a hundred years).
pub const MAX_DAYS: u32 = 36_500;

/// A date the subscriber record keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordField {
    /// The latest opt-in in the consent history (subscribed or unblocked).
    SubscribedAt,
    /// When the record was first seen.
    CreatedAt,
    /// The person's last message to us (a reply, a button press, a command).
    LastInboundAt,
    /// The first read receipt of the person's latest day with one (see `directory::note_reads`).
    LastReadAt,
}

impl RecordField {
    fn name(self) -> &'static str {
        match self {
            RecordField::SubscribedAt => "subscribed_at",
            RecordField::CreatedAt => "created_at",
            RecordField::LastInboundAt => "last_inbound_at",
            RecordField::LastReadAt => "last_read_at",
        }
    }

    fn of(self, subscriber: &Subscriber) -> Option<DateTime<Utc>> {
        match self {
            RecordField::SubscribedAt => subscriber
                .consent
                .iter()
                .filter(|e| {
                    matches!(
                        e.action,
                        ConsentAction::Subscribed | ConsentAction::Unblocked
                    )
                })
                .map(|e| e.at)
                .max(),
            RecordField::CreatedAt => Some(subscriber.created_at),
            RecordField::LastInboundAt => subscriber.last_inbound_at,
            RecordField::LastReadAt => subscriber.last_read_at,
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// The number equals `number`.
    Eq,
    /// The number differs from `number` (a value that is not a number matches neither).
    Ne,
    /// The number is greater than `number`.
    Gt,
    /// The number is at least `number`.
    Gte,
    /// The number is less than `number`.
    Lt,
    /// The number is at most `number`.
    Lte,
    /// The date is earlier than `date`.
    Before,
    /// The date is later than `date`.
    After,
    /// The date lies in the last `days` days (not in the future).
    Within,
    /// The date lies more than `days` days back.
    OlderThan,
    /// The date's day and month are today's in the person's time zone (29 February: 28 February in
    /// other years).
    AnniversaryToday,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Before => "before",
            Op::After => "after",
            Op::Within => "within",
            Op::OlderThan => "older_than",
            Op::AnniversaryToday => "anniversary_today",
        }
    }

    /// The value the op compares with: `number`, `date`, `days`, or none.
    fn operand(self) -> Option<&'static str> {
        match self {
            Op::Eq | Op::Ne | Op::Gt | Op::Gte | Op::Lt | Op::Lte => Some("number"),
            Op::Before | Op::After => Some("date"),
            Op::Within | Op::OlderThan => Some("days"),
            Op::AnniversaryToday => None,
        }
    }
}

/// A condition as clients send it and campaigns store it, e.g.
/// `{"attribute": "orders", "op": "gte", "number": 3}`,
/// `{"attribute": "last_order_at", "op": "older_than", "days": 60}`,
/// `{"field": "subscribed_at", "op": "within", "days": 30}`,
/// `{"attribute": "birthday", "op": "anniversary_today"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The attribute compared (its value read as a number or a date); or else `field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<AttributeName>,
    /// The record's date compared; or else `attribute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<RecordField>,
    /// The comparison.
    pub op: Op,
    /// The number of `eq`, `ne`, `gt`, `gte`, `lt`, `lte`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<serde_json::Number>,
    /// The date of `before` and `after`: RFC 3339 or `YYYY-MM-DD` (its start in UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The days of `within` and `older_than`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

/// What a condition reads from the record.
#[derive(Debug, Clone)]
enum Subject {
    Attribute(AttributeName),
    Field(RecordField),
}

/// What a condition asks of the value it reads.
#[derive(Debug, Clone, Copy)]
enum Test {
    Number(Op, f64),
    Before(DateTime<Utc>),
    After(DateTime<Utc>),
    Within(Duration),
    OlderThan(Duration),
    AnniversaryToday,
}

/// A validated condition, ready to judge records.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    subject: Subject,
    test: Test,
}

impl Condition {
    /// Validate: exactly one of `attribute` and `field`, and the one value its op compares with.
    ///
    /// # Errors
    /// 400 `invalid_condition` saying what to fix.
    pub(super) fn rule(&self) -> Result<Rule> {
        let invalid = |message: String| Error::invalid("invalid_condition", message);
        let op = self.op.name();
        let subject = match (&self.attribute, self.field) {
            (Some(name), None) => Subject::Attribute(name.clone()),
            (None, Some(field)) => Subject::Field(field),
            _ => {
                return Err(invalid(
                    "a condition names either an \"attribute\" or a \"field\" (subscribed_at, created_at, last_inbound_at, last_read_at), not both".into(),
                ))
            }
        };
        if let Subject::Field(field) = subject {
            if !matches!(self.op, Op::Before | Op::After | Op::Within | Op::OlderThan) {
                return Err(invalid(format!(
                    "field '{}' is a date: use before or after (with \"date\"), within or older_than (with \"days\")",
                    field.name()
                )));
            }
        }
        let given: Vec<&str> = [
            self.number.as_ref().map(|_| "number"),
            self.date.as_ref().map(|_| "date"),
            self.days.map(|_| "days"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let expected = self.op.operand();
        if given != expected.into_iter().collect::<Vec<_>>() {
            return Err(invalid(match expected {
                Some(value) => format!(
                    "op '{op}' compares with \"{value}\" only (given: {})",
                    if given.is_empty() {
                        "nothing".to_owned()
                    } else {
                        given.join(", ")
                    }
                ),
                None => format!("op '{op}' takes no value (given: {})", given.join(", ")),
            }));
        }
        let test = match self.op {
            Op::Eq | Op::Ne | Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                let number = self.number.as_ref().and_then(serde_json::Number::as_f64);
                Test::Number(self.op, number.unwrap_or_default())
            }
            Op::Before | Op::After => {
                let text = self.date.as_deref().unwrap_or_default();
                let date = dates::instant(text).ok_or_else(|| {
                    invalid(format!("date '{text}' must be an RFC 3339 instant like 2026-01-31T00:00:00Z or a date like 2026-01-31"))
                })?;
                if self.op == Op::Before {
                    Test::Before(date)
                } else {
                    Test::After(date)
                }
            }
            Op::Within | Op::OlderThan => {
                let days = self.days.unwrap_or_default();
                if !(1..=MAX_DAYS).contains(&days) {
                    return Err(invalid(format!(
                        "days must be from 1 to {MAX_DAYS} (given {days})"
                    )));
                }
                let span = Duration::days(i64::from(days));
                if self.op == Op::Within {
                    Test::Within(span)
                } else {
                    Test::OlderThan(span)
                }
            }
            Op::AnniversaryToday => Test::AnniversaryToday,
        };
        Ok(Rule { subject, test })
    }
}

impl Rule {
    /// Whether `subscriber` meets the condition at `now`; `zone` is the time zone for "today" when the
    /// record has none. A value that does not read as a number or a date matches nothing.
    pub(super) fn matches(&self, subscriber: &Subscriber, now: DateTime<Utc>, zone: Tz) -> bool {
        let text = match &self.subject {
            Subject::Attribute(name) => match subscriber.attributes.get(name) {
                Some(value) => Some(value.as_str()),
                None => return false,
            },
            Subject::Field(_) => None,
        };
        let date = || match (&self.subject, text) {
            (Subject::Field(field), _) => field.of(subscriber),
            (_, Some(text)) => dates::instant(text),
            _ => None,
        };
        match self.test {
            Test::Number(op, expected) => {
                let Some(value) = text.and_then(dates::number) else {
                    return false;
                };
                match op {
                    Op::Eq => value == expected,
                    Op::Ne => value != expected,
                    Op::Gt => value > expected,
                    Op::Gte => value >= expected,
                    Op::Lt => value < expected,
                    _ => value <= expected,
                }
            }
            Test::Before(at) => date().is_some_and(|d| d < at),
            Test::After(at) => date().is_some_and(|d| d > at),
            Test::Within(span) => date().is_some_and(|d| d >= now - span && d <= now),
            Test::OlderThan(span) => date().is_some_and(|d| d < now - span),
            Test::AnniversaryToday => {
                let zone = subscriber.timezone.map_or(zone, |z| z.tz());
                let today = now.with_timezone(&zone).date_naive();
                text.and_then(dates::annual)
                    .is_some_and(|day| dates::is_anniversary(day, today))
            }
        }
    }
}
