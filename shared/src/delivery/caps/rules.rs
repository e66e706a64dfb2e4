//! The workspace's caps (the `frequency_caps` variable) and the judgment of one send against them.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::error::{Error, Result};

use super::history::{MessageKind, PastSend, SendHistory};

/// The skip reason's code for a recipient over a frequency cap.
pub const FREQUENCY_CAP: &str = "frequency_cap";
/// The most messages one cap may allow (which also bounds a person's history record).
pub const MAX_CAP_LIMIT: u32 = 100;
/// The longest rolling window a cap may have.
pub const MAX_CAP_WINDOW_DAYS: i64 = 90;

/// What a configuration of the caps looks like, for error messages.
const EXAMPLE: &str = "promotional:2/7d,promotional:1/calendar_day";

/// The period a cap counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapWindow {
    /// Any period of this length (`7d`, `12h`).
    Rolling(Duration),
    /// One calendar day in the person's own time zone (`calendar_day`).
    CalendarDay,
}

/// At most `limit` promotional messages per `window` to one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapRule {
    /// Messages allowed per window.
    pub limit: u32,
    /// The window.
    pub window: CapWindow,
}

impl CapRule {
    /// Whether a promotional send at `at` keeps every window containing it within the limit, next to
    /// the person's other promotional sends at `others`, with calendar days in `zone`.
    fn admits(&self, others: &[DateTime<Utc>], at: DateTime<Utc>, zone: Tz) -> bool {
        let limit = self.limit as usize;
        match self.window {
            CapWindow::CalendarDay => {
                let day = at.with_timezone(&zone).date_naive();
                let same_day = others
                    .iter()
                    .filter(|t| t.with_timezone(&zone).date_naive() == day)
                    .count();
                same_day < limit
            }
            CapWindow::Rolling(length) => {
                // The busiest window containing the new send ends at the new send or at a later one
                // within its length (sends need not arrive in time order), so only those are counted.
                let all: Vec<DateTime<Utc>> =
                    others.iter().copied().chain(std::iter::once(at)).collect();
                all.iter()
                    .filter(|&&end| end >= at && end < at + length)
                    .all(|&end| {
                        let inside = all.iter().filter(|&&t| t > end - length && t <= end);
                        inside.count() <= limit
                    })
            }
        }
    }

    /// The rule in words, with the zone its calendar days were judged in.
    fn describe(&self, zone: Tz) -> String {
        let messages = if self.limit == 1 {
            "message"
        } else {
            "messages"
        };
        let limit = self.limit;
        match self.window {
            CapWindow::CalendarDay => format!(
                "at most {limit} promotional {messages} per calendar day ({})",
                zone.name()
            ),
            CapWindow::Rolling(length) => {
                format!(
                    "at most {limit} promotional {messages} per {}",
                    WindowText(length)
                )
            }
        }
    }
}

/// A rolling window's length in words (`7 days`, `12 hours`).
struct WindowText(Duration);

impl fmt::Display for WindowText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hours = self.0.num_hours();
        match (hours % 24 == 0, hours / 24) {
            (true, 1) => write!(f, "day"),
            (true, days) => write!(f, "{days} days"),
            (false, _) if hours == 1 => write!(f, "hour"),
            (false, _) => write!(f, "{hours} hours"),
        }
    }
}

/// The workspace's frequency caps; none unless configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrequencyCaps {
    rules: Vec<CapRule>,
}

impl FrequencyCaps {
    /// No caps: nothing is recorded or judged.
    pub fn none() -> Self {
        FrequencyCaps::default()
    }

    /// Parse the `frequency_caps` variable: comma-separated caps `promotional:<limit>/<window>`, the
    /// window `<n>d`, `<n>h` or `calendar_day`; empty means no caps.
    ///
    /// # Errors
    /// 503 `invalid_configuration` saying which cap is wrong and how to write it.
    pub fn parse(text: &str) -> Result<Self> {
        let rules = text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(parse_rule)
            .collect::<Result<_>>()?;
        Ok(FrequencyCaps { rules })
    }

    /// The caps, in the order configured.
    pub fn rules(&self) -> &[CapRule] {
        &self.rules
    }

    /// Whether no cap is configured.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How far back a history must reach to judge every cap: the longest rolling window, and two days
    /// for a calendar day (a calendar day anywhere on earth began less than two days ago).
    pub fn span(&self) -> Duration {
        self.rules
            .iter()
            .map(|rule| match rule.window {
                CapWindow::Rolling(length) => length,
                CapWindow::CalendarDay => Duration::days(2),
            })
            .max()
            .unwrap_or_else(Duration::zero)
    }

    /// Why `send` may not go out next to the person's `history` (its own source's earlier entry set
    /// aside), with calendar days in `zone`: the skip reason `frequency_cap: ...` of the first cap it
    /// would exceed. `None` when every cap admits it; a transactional send is always admitted.
    pub fn refusal(&self, history: &SendHistory, send: &PastSend, zone: Tz) -> Option<String> {
        if send.kind == MessageKind::Transactional {
            return None;
        }
        let others = history.promotional_times_except(&send.source);
        self.rules
            .iter()
            .find(|rule| !rule.admits(&others, send.at, zone))
            .map(|rule| format!("{FREQUENCY_CAP}: {}", rule.describe(zone)))
    }
}

fn invalid(part: &str, why: &str) -> Error {
    Error::unavailable(
        "invalid_configuration",
        format!("variable 'frequency_caps': '{part}' {why}; write caps like '{EXAMPLE}'"),
    )
}

fn parse_rule(part: &str) -> Result<CapRule> {
    let Some((kind, cap)) = part.split_once(':') else {
        return Err(invalid(part, "has no message kind"));
    };
    match kind.trim() {
        "promotional" => {}
        "transactional" => {
            return Err(invalid(
                part,
                "caps transactional messages, which are exempt from caps",
            ))
        }
        _ => return Err(invalid(part, "names a kind other than 'promotional'")),
    }
    let Some((limit, window)) = cap.split_once('/') else {
        return Err(invalid(part, "has no '/<window>'"));
    };
    let limit: u32 = limit
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=MAX_CAP_LIMIT).contains(n))
        .ok_or_else(|| {
            invalid(
                part,
                &format!("must allow a number of messages from 1 to {MAX_CAP_LIMIT}"),
            )
        })?;
    Ok(CapRule {
        limit,
        window: parse_window(part, window.trim())?,
    })
}

fn parse_window(part: &str, window: &str) -> Result<CapWindow> {
    if window == "calendar_day" {
        return Ok(CapWindow::CalendarDay);
    }
    let wrong = || {
        invalid(
            part,
            &format!(
                "needs a window of <n>d or <n>h (at most {MAX_CAP_WINDOW_DAYS} days) or calendar_day"
            ),
        )
    };
    let (count, unit) = window.split_at(window.len().saturating_sub(1));
    let count: i64 = count.parse().ok().filter(|&n| n >= 1).ok_or_else(wrong)?;
    let length = match unit {
        "d" => Duration::try_days(count),
        "h" => Duration::try_hours(count),
        _ => None,
    }
    .filter(|length| *length <= Duration::days(MAX_CAP_WINDOW_DAYS))
    .ok_or_else(wrong)?;
    Ok(CapWindow::Rolling(length))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(text: &str) -> FrequencyCaps {
        FrequencyCaps::parse(text).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn history(times: &[&str]) -> SendHistory {
        let sends = times
            .iter()
            .enumerate()
            .map(|(n, at)| PastSend::campaign(&format!("earlier-{n}"), utc(at)))
            .collect();
        SendHistory { sends }
    }

    fn refusal(caps: &FrequencyCaps, earlier: &[&str], at: &str, zone: Tz) -> Option<String> {
        caps.refusal(&history(earlier), &PastSend::campaign("now", utc(at)), zone)
    }

    #[test]
    fn the_variable_lists_caps_and_empty_means_none() {
        let parsed = caps(" promotional:2/7d , promotional:1/calendar_day,promotional:3/12h ");
        assert_eq!(
            parsed.rules(),
            [
                CapRule {
                    limit: 2,
                    window: CapWindow::Rolling(Duration::days(7))
                },
                CapRule {
                    limit: 1,
                    window: CapWindow::CalendarDay
                },
                CapRule {
                    limit: 3,
                    window: CapWindow::Rolling(Duration::hours(12))
                },
            ]
        );
        assert_eq!(parsed.span(), Duration::days(7));
        assert!(caps("").is_empty());
        assert!(caps(" , ").is_empty());
        assert_eq!(caps("promotional:1/calendar_day").span(), Duration::days(2));
    }

    #[test]
    fn a_wrong_cap_is_refused_with_what_to_write() {
        for (text, says) in [
            ("2/7d", "no message kind"),
            ("transactional:5/1d", "exempt"),
            ("marketing:1/1d", "other than 'promotional'"),
            ("promotional:2", "no '/<window>'"),
            ("promotional:0/7d", "from 1 to 100"),
            ("promotional:101/7d", "from 1 to 100"),
            ("promotional:x/7d", "from 1 to 100"),
            ("promotional:2/7w", "<n>d or <n>h"),
            ("promotional:2/0d", "<n>d or <n>h"),
            ("promotional:2/91d", "at most 90 days"),
            ("promotional:2/calendar_week", "<n>d or <n>h"),
            ("promotional:1/1d,promotional:2/d", "<n>d or <n>h"),
        ] {
            let err = FrequencyCaps::parse(text).unwrap_err();
            assert_eq!(err.code(), "invalid_configuration", "{text}");
            assert!(err.message().contains(says), "{text}: {}", err.message());
            assert!(err.message().contains("frequency_caps"), "{text}");
            assert!(err.message().contains(EXAMPLE), "{text}");
        }
    }

    #[test]
    fn a_rolling_window_counts_any_period_of_its_length() {
        let caps = caps("promotional:2/7d");
        let earlier = ["2026-11-01T10:00:00Z", "2026-11-04T10:00:00Z"];
        let refused = refusal(&caps, &earlier, "2026-11-08T09:59:59Z", Tz::UTC).unwrap();
        assert_eq!(
            refused,
            "frequency_cap: at most 2 promotional messages per 7 days"
        );
        // Seven days after the first, it no longer counts.
        assert_eq!(
            refusal(&caps, &earlier, "2026-11-08T10:00:00Z", Tz::UTC),
            None
        );
        // A send dated before later ones (another sender's clock) may not crowd a later window either.
        let later = ["2026-11-10T10:00:00Z", "2026-11-12T10:00:00Z"];
        assert!(refusal(&caps, &later, "2026-11-06T10:00:00Z", Tz::UTC).is_some());
        assert_eq!(
            refusal(&caps, &later, "2026-11-03T10:00:00Z", Tz::UTC),
            None
        );
    }

    #[test]
    fn a_source_trying_again_does_not_count_against_itself() {
        let caps = caps("promotional:1/1d");
        let own = SendHistory {
            sends: vec![PastSend::campaign("now", utc("2026-11-01T10:00:00Z"))],
        };
        let again = PastSend::campaign("now", utc("2026-11-01T10:05:00Z"));
        assert_eq!(caps.refusal(&own, &again, Tz::UTC), None);
    }

    #[test]
    fn a_calendar_day_is_the_persons_own_around_midnight() {
        let caps = caps("promotional:1/calendar_day");
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 22:30 UTC is 23:30 in Berlin (CET); 23:30 UTC is already the next day there.
        let earlier = ["2026-11-10T22:30:00Z"];
        assert_eq!(
            refusal(&caps, &earlier, "2026-11-10T23:30:00Z", berlin),
            None
        );
        assert_eq!(
            refusal(&caps, &earlier, "2026-11-10T23:30:00Z", Tz::UTC).unwrap(),
            "frequency_cap: at most 1 promotional message per calendar day (UTC)"
        );
        // Tokyo: 14:59 UTC and 15:00 UTC fall on two different days.
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let before_midnight = ["2026-11-10T14:59:00Z"];
        assert_eq!(
            refusal(&caps, &before_midnight, "2026-11-10T15:00:00Z", tokyo),
            None
        );
        assert!(refusal(&caps, &before_midnight, "2026-11-10T01:00:00Z", tokyo).is_some());
    }

    #[test]
    fn a_calendar_day_follows_the_clock_change() {
        let caps = caps("promotional:1/calendar_day");
        // New York's 1 November 2026 has 25 hours (EDT until 02:00, then EST): 00:30 EDT and 23:30 EST
        // are 24 hours apart and still the same day; 00:30 EST on the 2nd is the next one.
        let new_york: Tz = "America/New_York".parse().unwrap();
        let first_thing = ["2026-11-01T04:30:00Z"];
        assert!(refusal(&caps, &first_thing, "2026-11-02T04:30:00Z", new_york).is_some());
        assert_eq!(
            refusal(&caps, &first_thing, "2026-11-02T05:30:00Z", new_york),
            None
        );
        // Berlin's 29 March 2026 has 23 hours: 00:30 CET and 23:30 CEST are 22 hours apart.
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let early = ["2026-03-28T23:30:00Z"];
        assert!(refusal(&caps, &early, "2026-03-29T21:30:00Z", berlin).is_some());
        assert_eq!(refusal(&caps, &early, "2026-03-29T22:00:00Z", berlin), None);
    }

    #[test]
    fn transactional_messages_are_exempt_and_use_up_nothing() {
        let caps = caps("promotional:1/calendar_day");
        let mut history = SendHistory::default();
        for n in 0..3 {
            let order = PastSend {
                at: utc("2026-11-10T08:00:00Z"),
                kind: MessageKind::Transactional,
                source: format!("order:{n}"),
            };
            assert_eq!(caps.refusal(&history, &order, Tz::UTC), None);
            history = history.with(order, caps.span());
        }
        let promotion = PastSend::campaign("sale", utc("2026-11-10T09:00:00Z"));
        assert_eq!(caps.refusal(&history, &promotion, Tz::UTC), None);
    }

    #[test]
    fn every_cap_is_judged() {
        let caps = caps("promotional:3/7d,promotional:1/calendar_day");
        let earlier = ["2026-11-09T10:00:00Z"];
        assert!(refusal(&caps, &earlier, "2026-11-09T20:00:00Z", Tz::UTC)
            .unwrap()
            .contains("calendar day"));
        let earlier = [
            "2026-11-07T10:00:00Z",
            "2026-11-08T10:00:00Z",
            "2026-11-09T10:00:00Z",
        ];
        assert!(refusal(&caps, &earlier, "2026-11-10T10:00:00Z", Tz::UTC)
            .unwrap()
            .contains("7 days"));
    }
}
