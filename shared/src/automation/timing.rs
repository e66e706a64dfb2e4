//! When a rule's message goes out: at once, after a delay, or relative to a time in the event's data.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The longest delay or offset a rule may give.
pub const MAX_OFFSET_DAYS: i64 = 366;
/// The longest name of a data field a timing is relative to.
const MAX_FIELD_CHARS: usize = 64;

/// A signed span written as units, e.g. `2h`, `-24h`, `1d12h`, `90m`, `30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset(Duration);

impl Offset {
    /// Parse `[-]<number><unit>...` with units `d`, `h`, `m`, `s`, at most [`MAX_OFFSET_DAYS`].
    ///
    /// # Errors
    /// 400 `invalid_timing` saying the form.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = || {
            Error::invalid(
                "invalid_timing",
                format!("'{text}' is not a duration: write e.g. 30s, 15m, 2h, 1d12h or -24h (at most {MAX_OFFSET_DAYS} days)"),
            )
        };
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if rest.is_empty() {
            return Err(invalid());
        }
        let mut total = Duration::zero();
        let mut digits = String::new();
        for c in rest.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let amount: i64 = digits.parse().map_err(|_| invalid())?;
            digits.clear();
            let unit = match c {
                'd' => Duration::try_days(amount),
                'h' => Duration::try_hours(amount),
                'm' => Duration::try_minutes(amount),
                's' => Duration::try_seconds(amount),
                _ => None,
            }
            .ok_or_else(invalid)?;
            total = total.checked_add(&unit).ok_or_else(invalid)?;
        }
        if !digits.is_empty() || total > Duration::days(MAX_OFFSET_DAYS) {
            return Err(invalid());
        }
        Ok(Offset(if negative { -total } else { total }))
    }

    /// The span.
    pub fn duration(self) -> Duration {
        self.0
    }
}

/// A rule's timing as stored and exchanged: exactly one of the three forms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// `"once"`: as soon as the event arrives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// A delay after the event arrives, e.g. `"2h"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// A field of the event's data holding an RFC 3339 time, e.g. `"appointment_at"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_to: Option<String>,
    /// With `relative_to`: the offset from that time, e.g. `"-24h"` for a day before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
}

/// When a message is due, or why it is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// At this time (now or later).
    At(DateTime<Utc>),
    /// Not at all, for this reason (`missing_time_field`, `time_passed`).
    Never(&'static str),
}

impl Timing {
    /// At once.
    pub fn once() -> Self {
        Timing {
            at: Some("once".into()),
            after: None,
            relative_to: None,
            offset: None,
        }
    }

    /// Check that exactly one form is given and well written.
    ///
    /// # Errors
    /// 400 `invalid_timing` saying the forms.
    pub fn validate(&self) -> Result<()> {
        let forms = [
            self.at.is_some(),
            self.after.is_some(),
            self.relative_to.is_some(),
        ];
        let invalid = |why: &str| {
            Error::invalid(
                "invalid_timing",
                format!("{why}: timing is {{\"at\": \"once\"}}, {{\"after\": \"2h\"}} or {{\"relative_to\": \"<data field>\", \"offset\": \"-24h\"}}"),
            )
        };
        if forms.iter().filter(|f| **f).count() != 1 {
            return Err(invalid("give exactly one of at, after and relative_to"));
        }
        if self.at.as_deref().is_some_and(|at| at != "once") {
            return Err(invalid("'at' takes only \"once\""));
        }
        if let Some(after) = &self.after {
            if Offset::parse(after)?.duration() < Duration::zero() {
                return Err(invalid("'after' cannot be negative"));
            }
        }
        if self.offset.is_some() && self.relative_to.is_none() {
            return Err(invalid("'offset' goes with 'relative_to'"));
        }
        if let Some(field) = &self.relative_to {
            let ok = !field.is_empty()
                && field.chars().count() <= MAX_FIELD_CHARS
                && field
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                return Err(invalid(&format!(
                    "'relative_to' names a top-level field of the event's data (1-{MAX_FIELD_CHARS} of a-z, 0-9, '_', '-')"
                )));
            }
            if let Some(offset) = &self.offset {
                Offset::parse(offset)?;
            }
        }
        Ok(())
    }

    /// When a message for an event received at `now` with `data` is due.
    ///
    /// A time relative to the data that has already passed is sent at once while the data's own time
    /// is still ahead (a reminder 24 h before an appointment booked 3 h ahead goes out now), and is not
    /// sent once that time itself has passed (`time_passed`). A field that is missing or not an RFC
    /// 3339 time sends nothing (`missing_time_field`).
    pub fn due(&self, data: &serde_json::Value, now: DateTime<Utc>) -> Due {
        if let Some(after) = &self.after {
            let delay = Offset::parse(after).map_or(Duration::zero(), Offset::duration);
            return Due::At(now + delay);
        }
        let Some(field) = &self.relative_to else {
            return Due::At(now);
        };
        let anchor = data
            .get(field)
            .and_then(serde_json::Value::as_str)
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .map(|t| t.with_timezone(&Utc));
        let Some(anchor) = anchor else {
            return Due::Never("missing_time_field");
        };
        let offset = self.offset.as_deref().map_or(Duration::zero(), |o| {
            Offset::parse(o).map_or(Duration::zero(), Offset::duration)
        });
        let due = anchor + offset;
        if due >= now {
            Due::At(due)
        } else if anchor > now {
            Due::At(now)
        } else {
            Due::Never("time_passed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-01T10:00:00Z".parse().unwrap()
    }

    fn timing(value: serde_json::Value) -> Timing {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn offsets_are_signed_sums_of_units() {
        assert_eq!(Offset::parse("2h").unwrap().duration(), Duration::hours(2));
        assert_eq!(
            Offset::parse("-1d12h").unwrap().duration(),
            -Duration::hours(36)
        );
        assert_eq!(
            Offset::parse("90m30s").unwrap().duration(),
            Duration::seconds(5430)
        );
        for bad in ["", "-", "2", "h", "2w", "1.5h", "400d", "2h-1m"] {
            assert_eq!(
                Offset::parse(bad).unwrap_err().code(),
                "invalid_timing",
                "{bad}"
            );
        }
    }

    #[test]
    fn exactly_one_form_is_valid() {
        assert!(Timing::once().validate().is_ok());
        assert!(timing(json!({"after": "2h"})).validate().is_ok());
        assert!(
            timing(json!({"relative_to": "appointment_at", "offset": "-24h"}))
                .validate()
                .is_ok()
        );
        for bad in [
            json!({}),
            json!({"at": "later"}),
            json!({"at": "once", "after": "1h"}),
            json!({"after": "-1h"}),
            json!({"offset": "-1h"}),
            json!({"relative_to": "a.b", "offset": "-1h"}),
            json!({"relative_to": "at", "offset": "soon"}),
        ] {
            assert_eq!(
                timing(bad.clone()).validate().unwrap_err().code(),
                "invalid_timing",
                "{bad}"
            );
        }
        assert!(serde_json::from_value::<Timing>(json!({"every": "1h"})).is_err());
    }

    #[test]
    fn due_times_follow_the_form() {
        let data = json!({"appointment_at": "2026-11-03T09:00:00Z"});
        assert_eq!(Timing::once().due(&data, now()), Due::At(now()));
        assert_eq!(
            timing(json!({"after": "2h"})).due(&data, now()),
            Due::At(now() + Duration::hours(2))
        );
        let reminder = timing(json!({"relative_to": "appointment_at", "offset": "-24h"}));
        assert_eq!(
            reminder.due(&data, now()),
            Due::At("2026-11-02T09:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn relative_times_in_the_past_send_at_once_or_not_at_all() {
        let reminder = timing(json!({"relative_to": "appointment_at", "offset": "-24h"}));
        let soon = json!({"appointment_at": "2026-11-01T13:00:00Z"});
        assert_eq!(
            reminder.due(&soon, now()),
            Due::At(now()),
            "booked 3 h ahead"
        );
        let past = json!({"appointment_at": "2026-11-01T09:00:00Z"});
        assert_eq!(reminder.due(&past, now()), Due::Never("time_passed"));
        for data in [
            json!({}),
            json!({"appointment_at": "tomorrow"}),
            json!({"appointment_at": 5}),
        ] {
            assert_eq!(reminder.due(&data, now()), Due::Never("missing_time_field"));
        }
    }
}
