//! Quiet hours: a daily span of local time (e.g. 21:00-09:00) in which no campaign message is sent,
//! and a campaign's choice between the workspace's quiet hours, its own, or none.

use std::fmt;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::local_time::resolve_local;

/// A daily span of local time, from `start` (inclusive) to `end` (exclusive); it crosses midnight when
/// `start` is after `end` (21:00-09:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    start: NaiveTime,
    end: NaiveTime,
}

impl QuietHours {
    /// Parse `HH:MM-HH:MM`.
    ///
    /// # Errors
    /// 400 `invalid_quiet_hours` saying the form.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = || {
            Error::invalid(
                "invalid_quiet_hours",
                format!("quiet hours '{text}' must be a local time span like \"21:00-09:00\" (start and end differ; it may cross midnight)"),
            )
        };
        let (start, end) = text.trim().split_once('-').ok_or_else(invalid)?;
        let time = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| invalid());
        let (start, end) = (time(start)?, time(end)?);
        if start == end {
            return Err(invalid());
        }
        Ok(QuietHours { start, end })
    }

    /// Whether the wall-clock time `time` is inside.
    pub fn contains(&self, time: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }

    /// When the quiet hours that `at` falls in (in `zone`) end; `None` when `at` is outside them.
    pub fn end_after(&self, at: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&zone).naive_local();
        if !self.contains(local.time()) {
            return None;
        }
        // Inside and before the end: it ends today; inside after the start of a span crossing
        // midnight: tomorrow.
        let day = if local.time() < self.end {
            local.date()
        } else {
            local.date() + Duration::days(1)
        };
        let end = resolve_local(day.and_time(self.end), zone);
        // A daylight-saving change can fold the end back onto `at`; never answer a time not ahead.
        Some(end.max(at + Duration::minutes(1)))
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

/// The workspace's quiet hours from their setting: empty or `none` for none.
///
/// # Errors
/// 400 `invalid_quiet_hours`.
pub fn workspace_quiet_hours(setting: &str) -> Result<Option<QuietHours>> {
    match setting.trim() {
        "" => Ok(None),
        s if s.eq_ignore_ascii_case("none") => Ok(None),
        s => QuietHours::parse(s).map(Some),
    }
}

/// Which quiet hours a campaign keeps: written `"default"`, `"none"` or a span like `"22:00-08:00"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum QuietHoursSetting {
    /// The workspace's quiet hours (the `quiet_hours` variable).
    #[default]
    Workspace,
    /// None: its messages go at any hour (transactional messages, e.g. an order confirmation).
    Ignored,
    /// Its own span instead of the workspace's.
    Own(QuietHours),
}

impl QuietHoursSetting {
    /// Parse `"default"`, `"none"` or a span.
    ///
    /// # Errors
    /// 400 `invalid_quiet_hours`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim() {
            s if s.eq_ignore_ascii_case("default") => Ok(QuietHoursSetting::Workspace),
            s if s.eq_ignore_ascii_case("none") => Ok(QuietHoursSetting::Ignored),
            s => QuietHours::parse(s).map(QuietHoursSetting::Own),
        }
    }

    /// Whether this is the workspace's (the default, left out of the record).
    pub fn is_workspace(&self) -> bool {
        *self == QuietHoursSetting::Workspace
    }

    /// The quiet hours in force, given the workspace's.
    pub fn in_force(&self, workspace: Option<QuietHours>) -> Option<QuietHours> {
        match self {
            QuietHoursSetting::Workspace => workspace,
            QuietHoursSetting::Ignored => None,
            QuietHoursSetting::Own(own) => Some(*own),
        }
    }
}

impl TryFrom<String> for QuietHoursSetting {
    type Error = Error;

    fn try_from(text: String) -> Result<Self> {
        QuietHoursSetting::parse(&text)
    }
}

impl From<QuietHoursSetting> for String {
    fn from(setting: QuietHoursSetting) -> String {
        match setting {
            QuietHoursSetting::Workspace => "default".into(),
            QuietHoursSetting::Ignored => "none".into(),
            QuietHoursSetting::Own(own) => own.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn time(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    #[test]
    fn spans_parse_and_may_cross_midnight() {
        let night = QuietHours::parse("21:00-09:00").unwrap();
        assert_eq!(night.to_string(), "21:00-09:00");
        assert!(night.contains(time("21:00")));
        assert!(night.contains(time("23:59")));
        assert!(night.contains(time("00:00")));
        assert!(night.contains(time("08:59")));
        assert!(!night.contains(time("09:00")));
        assert!(!night.contains(time("20:59")));
        let lunch = QuietHours::parse(" 12:00 - 13:30 ").unwrap();
        assert!(lunch.contains(time("12:00")));
        assert!(!lunch.contains(time("13:30")));
        assert!(!lunch.contains(time("11:59")));
        for bad in [
            "",
            "21:00",
            "21-09",
            "25:00-09:00",
            "09:00-09:00",
            "9pm-9am",
        ] {
            assert_eq!(
                QuietHours::parse(bad).unwrap_err().code(),
                "invalid_quiet_hours",
                "{bad}"
            );
        }
    }

    #[test]
    fn quiet_hours_end_at_their_local_end_today_or_tomorrow() {
        let night = QuietHours::parse("21:00-09:00").unwrap();
        let berlin = Tz::Europe__Berlin;
        // 22:30 in Berlin (UTC+1): ends at 09:00 next morning.
        assert_eq!(
            night.end_after(utc("2026-12-07T21:30:00Z"), berlin),
            Some(utc("2026-12-08T08:00:00Z"))
        );
        // 03:00 in Berlin: ends at 09:00 the same day.
        assert_eq!(
            night.end_after(utc("2026-12-08T02:00:00Z"), berlin),
            Some(utc("2026-12-08T08:00:00Z"))
        );
        assert_eq!(night.end_after(utc("2026-12-08T08:00:00Z"), berlin), None);
        // The same instant is daytime in Tokyo.
        assert_eq!(
            night.end_after(utc("2026-12-08T02:00:00Z"), Tz::Asia__Tokyo),
            None
        );
    }

    #[test]
    fn quiet_hours_across_a_daylight_saving_change_end_at_the_local_end() {
        let night = QuietHours::parse("21:00-09:00").unwrap();
        // The night Berlin springs forward: 23:00 CET, ends 09:00 CEST (UTC+2).
        assert_eq!(
            night.end_after(utc("2027-03-27T22:00:00Z"), Tz::Europe__Berlin),
            Some(utc("2027-03-28T07:00:00Z"))
        );
        // An end inside the skipped hour moves on by the gap.
        let short = QuietHours::parse("01:00-02:30").unwrap();
        assert_eq!(
            short.end_after(utc("2027-03-28T00:30:00Z"), Tz::Europe__Berlin),
            Some(utc("2027-03-28T01:30:00Z"))
        );
    }

    #[test]
    fn a_campaign_keeps_the_workspace_hours_its_own_or_none() {
        let workspace = workspace_quiet_hours("21:00-09:00").unwrap();
        assert_eq!(workspace_quiet_hours("").unwrap(), None);
        assert_eq!(workspace_quiet_hours("none").unwrap(), None);
        assert!(workspace_quiet_hours("soon").is_err());
        let own = QuietHoursSetting::parse("22:00-08:00").unwrap();
        assert_eq!(own.in_force(workspace).unwrap().to_string(), "22:00-08:00");
        assert_eq!(
            QuietHoursSetting::parse("none")
                .unwrap()
                .in_force(workspace),
            None
        );
        assert_eq!(
            QuietHoursSetting::parse("default")
                .unwrap()
                .in_force(workspace),
            workspace
        );
        let json: QuietHoursSetting = serde_json::from_str(r#""22:00-08:00""#).unwrap();
        assert_eq!(serde_json::to_string(&json).unwrap(), r#""22:00-08:00""#);
        let bad = serde_json::from_str::<QuietHoursSetting>(r#""late""#).unwrap_err();
        assert!(bad.to_string().contains("21:00-09:00"), "{bad}");
    }
}
