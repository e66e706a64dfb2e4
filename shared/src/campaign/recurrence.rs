//! Recurring campaigns: a campaign that runs every day at a local time for whoever newly matches its
//! audience, each person at most once per N days. Each run is one local date; its ledger is keyed by
//! the run id `<campaign>@<date>` ([`Campaign::ledger_id`]), so runs never collide, and the campaign
//! goes back to `scheduled` for the next date when a run ends.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::subscriber::TimeZone;

use super::local_time::{first_zone_reaches, resolve_local};
use super::model::{Campaign, Schedule};

/// The longest "at most once per N days" a recurring campaign accepts (ten years).
pub const MAX_ONCE_PER_DAYS: u32 = 3660;

/// How often a recurring campaign runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Every {
    /// Once a local day.
    Day,
}

/// When a recurring campaign runs and how often one person may receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    /// How often it runs.
    pub every: Every,
    /// The local time of day each run sends at.
    pub at: NaiveTime,
    /// The zone `at` is read in (and the zone of recipients without one).
    pub timezone: TimeZone,
    /// Each recipient gets a run at `at` in their own timezone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_recipient_timezone: bool,
    /// A person sent by one run is not a recipient of the runs of the next `once_per_days - 1` dates.
    pub once_per_days: u32,
}

impl Recurrence {
    /// The schedule of the run on local date `date`. Its `scheduled_at` is the run's start, so a
    /// late run sends late rather than skipping anyone, and those subscribed by then are recipients.
    pub fn run_schedule(&self, date: NaiveDate) -> Schedule {
        let local = date.and_time(self.at);
        let send_at = if self.per_recipient_timezone {
            first_zone_reaches(local)
        } else {
            resolve_local(local, self.timezone.tz())
        };
        Schedule {
            send_at,
            timezone: Some(self.timezone),
            local_time: Some(local),
            per_recipient_timezone: self.per_recipient_timezone,
            scheduled_at: send_at,
            recurrence: Some(self.clone()),
        }
    }

    /// The date of the run due next at `now`, not before `earliest`: the latest date whose run has
    /// started by `now` (a run a tick comes late to is still made, days a stalled scheduler missed
    /// are not), or `earliest` when its run is still ahead.
    pub fn next_run_date(&self, earliest: NaiveDate, now: DateTime<Utc>) -> NaiveDate {
        let mut date = earliest;
        while let Some(next) = date.succ_opt() {
            if self.run_schedule(next).send_at > now {
                break;
            }
            date = next;
        }
        date
    }

    /// Whether a person last sent by the run of `last_sent` may be sent by the run of `run`.
    pub fn allows_again(&self, last_sent: NaiveDate, run: NaiveDate) -> bool {
        (run - last_sent).num_days() >= i64::from(self.once_per_days)
    }
}

/// The `recurring` object of a schedule request:
/// `{"every": "day", "at": "09:00", "timezone": "Europe/Berlin", "per_recipient_timezone": false, "once_per_days": 30}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurringRequest {
    /// `"day"`.
    pub every: String,
    /// The local time of day, `HH:MM`.
    pub at: String,
    /// An IANA zone.
    pub timezone: Option<String>,
    /// Send at `at` in each recipient's own timezone.
    #[serde(default)]
    pub per_recipient_timezone: bool,
    /// At most once per this many days per person (1 = at most once a day).
    pub once_per_days: Option<u32>,
}

impl RecurringRequest {
    /// The schedule of the first run: today's in the zone if its time is still ahead, else
    /// tomorrow's.
    ///
    /// # Errors
    /// 400 `invalid_every`, `invalid_at`, `timezone_required`, `invalid_timezone`,
    /// `invalid_once_per_days`.
    pub fn resolve(&self, now: DateTime<Utc>) -> Result<Schedule> {
        if self.every.trim() != "day" {
            return Err(Error::invalid(
                "invalid_every",
                format!("recurring.every '{}' must be \"day\"", self.every),
            ));
        }
        let at = ["%H:%M", "%H:%M:%S"]
            .iter()
            .find_map(|format| NaiveTime::parse_from_str(self.at.trim(), format).ok())
            .ok_or_else(|| {
                Error::invalid(
                    "invalid_at",
                    format!(
                        "recurring.at '{}' must be a local time of day like 09:00",
                        self.at
                    ),
                )
            })?;
        let timezone = self
            .timezone
            .as_deref()
            .ok_or_else(|| Error::invalid("timezone_required", "recurring.timezone is required: the zone recurring.at is read in (and that of recipients without one), e.g. \"Europe/Berlin\""))
            .and_then(TimeZone::parse)?;
        let once_per_days = self
            .once_per_days
            .filter(|n| (1..=MAX_ONCE_PER_DAYS).contains(n))
            .ok_or_else(|| {
                Error::invalid(
                    "invalid_once_per_days",
                    format!("recurring.once_per_days must be 1-{MAX_ONCE_PER_DAYS}: a person sent by one run gets no other run for that many days"),
                )
            })?;
        let recurrence = Recurrence {
            every: Every::Day,
            at,
            timezone,
            per_recipient_timezone: self.per_recipient_timezone,
            once_per_days,
        };
        let today = now.with_timezone(&timezone.tz()).date_naive();
        let yesterday = today - Duration::days(1);
        let mut date = recurrence.next_run_date(yesterday, now);
        // A run that has already started is not a first run: the first is the next one ahead.
        while recurrence.run_schedule(date).send_at < now {
            date = date.succ_opt().unwrap_or(date);
        }
        Ok(recurrence.run_schedule(date))
    }
}

impl Campaign {
    /// How it recurs, for a recurring campaign.
    pub fn recurrence(&self) -> Option<&Recurrence> {
        self.schedule.as_ref().and_then(|s| s.recurrence.as_ref())
    }

    /// The local date of its current (or next) run, for a recurring campaign.
    pub fn run_date(&self) -> Option<NaiveDate> {
        self.recurrence()?;
        self.schedule
            .as_ref()
            .and_then(|s| s.local_time)
            .map(|t| t.date())
    }

    /// The id its delivery ledger (batches, cursor, counters) is kept under: the campaign id, or for a
    /// recurring campaign the current run's id, `<campaign>@<date>`.
    pub fn ledger_id(&self) -> String {
        match self.run_date() {
            Some(date) => run_id(self.id.as_str(), date),
            None => self.id.to_string(),
        }
    }

    /// Make the run after the current one the campaign's schedule: back to `scheduled`, not started.
    ///
    /// # Errors
    /// 409 `invalid_transition` unless it is a running recurring campaign.
    pub fn schedule_next_run(&mut self, now: DateTime<Utc>) -> Result<()> {
        let (Some(recurrence), Some(date)) = (self.recurrence().cloned(), self.run_date()) else {
            return Err(Error::conflict(
                "invalid_transition",
                format!("campaign '{}' is not recurring", self.id),
            ));
        };
        self.transition(super::Transition::NextRun, now)?;
        let next = recurrence.next_run_date(date.succ_opt().unwrap_or(date), now);
        self.schedule = Some(recurrence.run_schedule(next));
        self.started_at = None;
        Ok(())
    }
}

/// The id of campaign `campaign_id`'s run on `date`, e.g. `birthday@2026-12-08`.
pub fn run_id(campaign_id: &str, date: NaiveDate) -> String {
    format!("{campaign_id}@{date}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn request(json: &str) -> RecurringRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_first_run_is_the_next_time_the_zone_shows_the_hour() {
        let daily = request(
            r#"{"every": "day", "at": "09:00", "timezone": "Europe/Berlin", "once_per_days": 30}"#,
        );
        // 07:00 UTC is 08:00 in Berlin: today's 09:00 is ahead.
        let schedule = daily.resolve(utc("2026-12-07T07:00:00Z")).unwrap();
        assert_eq!(schedule.send_at, utc("2026-12-07T08:00:00Z"));
        assert_eq!(schedule.recurrence.as_ref().unwrap().once_per_days, 30);
        // 08:30 UTC: today's has passed, tomorrow's is first.
        let later = daily.resolve(utc("2026-12-07T08:30:00Z")).unwrap();
        assert_eq!(later.send_at, utc("2026-12-08T08:00:00Z"));
    }

    #[test]
    fn bad_recurrences_say_what_to_fix() {
        let now = utc("2026-12-07T07:00:00Z");
        let cases = [
            (
                r#"{"every": "week", "at": "09:00", "timezone": "Europe/Berlin", "once_per_days": 1}"#,
                "invalid_every",
            ),
            (
                r#"{"every": "day", "at": "9 am", "timezone": "Europe/Berlin", "once_per_days": 1}"#,
                "invalid_at",
            ),
            (
                r#"{"every": "day", "at": "09:00", "once_per_days": 1}"#,
                "timezone_required",
            ),
            (
                r#"{"every": "day", "at": "09:00", "timezone": "Mars/Base", "once_per_days": 1}"#,
                "invalid_timezone",
            ),
            (
                r#"{"every": "day", "at": "09:00", "timezone": "Europe/Berlin", "once_per_days": 0}"#,
                "invalid_once_per_days",
            ),
            (
                r#"{"every": "day", "at": "09:00", "timezone": "Europe/Berlin"}"#,
                "invalid_once_per_days",
            ),
        ];
        for (json, code) in cases {
            let err = request(json).resolve(now).unwrap_err();
            assert_eq!((err.status(), err.code()), (400, code), "{json}");
        }
    }

    #[test]
    fn a_stalled_scheduler_runs_the_latest_started_date_only() {
        let daily = request(
            r#"{"every": "day", "at": "09:00", "timezone": "Europe/Berlin", "once_per_days": 1}"#,
        )
        .resolve(utc("2026-12-07T07:00:00Z"))
        .unwrap()
        .recurrence
        .unwrap();
        let monday = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let tuesday = monday.succ_opt().unwrap();
        // Late on Tuesday's run: it is still made.
        assert_eq!(
            daily.next_run_date(tuesday, utc("2026-12-08T12:00:00Z")),
            tuesday
        );
        // Three days on: the days in between are not caught up.
        assert_eq!(
            daily.next_run_date(tuesday, utc("2026-12-10T12:00:00Z")),
            NaiveDate::from_ymd_opt(2026, 12, 10).unwrap()
        );
        assert!(!daily.allows_again(monday, monday));
        assert!(daily.allows_again(monday, tuesday));
    }
}
