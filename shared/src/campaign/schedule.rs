//! When a campaign sends (a local time in a zone, an instant, or now) and the life-cycle state machine:
//! only the transitions below are allowed, anything else is a 409.
//!
//! | action   | from                              | to                                   |
//! | -------- | --------------------------------- | ------------------------------------ |
//! | schedule | draft, scheduled                  | scheduled                            |
//! | start    | scheduled (send time reached)     | running                              |
//! | pause    | scheduled, running                | paused                               |
//! | resume   | paused                            | running if it had started, else scheduled |
//! | cancel   | draft, scheduled, running, paused | cancelled                            |
//! | complete | running                           | completed                            |
//! | next run | running (a recurring campaign's run ended) | scheduled (the next run)     |

use chrono::{DateTime, Duration, NaiveDateTime, NaiveTime, Utc};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::subscriber::TimeZone;

use super::local_time;
use super::model::{Campaign, CampaignState, Schedule};
use super::recurrence::RecurringRequest;

/// How far in the past a send time may be (clock skew between client and server) before it is refused.
const PAST_TOLERANCE_SECS: i64 = 60;
/// How far ahead a campaign may be scheduled.
const MAX_DAYS_AHEAD: i64 = 366;

/// The body of `POST /api/v1/campaigns/:id/schedule`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// `"now"`, an RFC 3339 instant (`2026-12-24T08:00:00Z`), or a local time (`2026-12-24T09:00:00`)
    /// with `timezone`; left out for a recurring schedule.
    #[serde(default)]
    pub send_at: String,
    /// An IANA zone for a local `send_at`, e.g. `Europe/Berlin`.
    pub timezone: Option<String>,
    /// The template version to pin; the latest when absent (and none was pinned at creation).
    pub template_version: Option<u32>,
    /// Send each recipient at the local `send_at` in their own timezone (those without one: in
    /// `timezone`).
    #[serde(default)]
    pub per_recipient_timezone: bool,
    /// Run every day instead (`send_at`, `timezone` and `per_recipient_timezone` then go inside).
    #[serde(default)]
    pub recurring: Option<RecurringRequest>,
}

impl ScheduleRequest {
    /// Resolve the send time.
    ///
    /// # Errors
    /// 400 `invalid_send_at` / `invalid_timezone` / `timezone_required` / `local_send_at_required`;
    /// 422 `nonexistent_local_time` (a local time skipped by a daylight-saving change), `send_at_in_past`,
    /// `send_at_too_far`.
    pub fn resolve(&self, now: DateTime<Utc>) -> Result<Schedule> {
        if let Some(recurring) = &self.recurring {
            if !self.send_at.trim().is_empty()
                || self.timezone.is_some()
                || self.per_recipient_timezone
            {
                return Err(Error::invalid(
                    "conflicting_schedule",
                    "a recurring schedule takes its time from recurring.at and recurring.timezone: leave send_at, timezone and per_recipient_timezone out",
                ));
            }
            return recurring.resolve(now);
        }
        let timezone = self.timezone.as_deref().map(TimeZone::parse).transpose()?;
        let text = self.send_at.trim();
        let schedule = |send_at, local_time| Schedule {
            send_at,
            timezone,
            local_time,
            per_recipient_timezone: self.per_recipient_timezone,
            scheduled_at: now,
            recurrence: None,
        };
        if self.per_recipient_timezone {
            return self
                .resolve_per_recipient(timezone, now)
                .map(|local| schedule(local_time::first_zone_reaches(local), Some(local)));
        }
        if text.eq_ignore_ascii_case("now") {
            return Ok(schedule(now, None));
        }
        let resolved = if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
            schedule(instant.with_timezone(&Utc), None)
        } else {
            let local = parse_local(text).ok_or_else(|| {
                Error::invalid(
                    "invalid_send_at",
                    format!("send_at '{text}' must be \"now\", an RFC 3339 instant like 2026-12-24T08:00:00Z, or a local time like 2026-12-24T09:00:00 with a timezone"),
                )
            })?;
            let zone = self.zone_for(timezone)?;
            if local_time::is_skipped(local, zone.tz()) {
                return Err(Error::unprocessable(
                    "nonexistent_local_time",
                    format!("{text} does not exist in {} (clocks skip it for daylight saving); pick another time", zone.tz().name()),
                ));
            }
            // Clocks going back make the local time happen twice: the first is taken.
            schedule(local_time::resolve_local(local, zone.tz()), Some(local))
        };
        if resolved.send_at < now - Duration::seconds(PAST_TOLERANCE_SECS) {
            return Err(Error::unprocessable(
                "send_at_in_past",
                format!(
                    "send_at {} is in the past; use \"now\" to send at once",
                    resolved.send_at.to_rfc3339()
                ),
            ));
        }
        check_not_too_far(resolved.send_at, now)?;
        Ok(resolved)
    }

    /// The local time every recipient is sent at, refused when it has passed in every zone on Earth
    /// (the last to reach it is UTC−12). Zones where it has passed are skipped at send time.
    fn resolve_per_recipient(
        &self,
        timezone: Option<TimeZone>,
        now: DateTime<Utc>,
    ) -> Result<NaiveDateTime> {
        let text = self.send_at.trim();
        let local = parse_local(text)
            .or_else(|| parse_time_of_day(text).map(|time| next_day_everywhere(time, now)))
            .ok_or_else(|| {
                Error::invalid(
                    "local_send_at_required",
                    format!("send_at '{text}' must be a local time like 2026-12-24T10:00 (or 10:00 for the next day every zone still has it ahead) when per_recipient_timezone is true: each recipient gets it at that time in their own timezone"),
                )
            })?;
        self.zone_for(timezone)?;
        let last = local_time::last_zone_reaches(local);
        if last < now - Duration::seconds(PAST_TOLERANCE_SECS) {
            return Err(Error::unprocessable(
                "send_at_in_past",
                format!(
                    "{text} has passed in every timezone (the last one, UTC-12, reached it at {}); pick a later local time",
                    last.to_rfc3339()
                ),
            ));
        }
        check_not_too_far(local_time::first_zone_reaches(local), now)?;
        Ok(local)
    }

    /// The zone a local `send_at` is read in: required.
    fn zone_for(&self, timezone: Option<TimeZone>) -> Result<TimeZone> {
        timezone.ok_or_else(|| {
            let text = self.send_at.trim();
            let purpose = if self.per_recipient_timezone {
                "the zone of recipients without one"
            } else {
                "the zone it is read in"
            };
            Error::invalid("timezone_required", format!("send_at '{text}' is a local time: add \"timezone\" ({purpose}), e.g. \"Europe/Berlin\""))
        })
    }
}

/// Refuse a send time more than [`MAX_DAYS_AHEAD`] away.
fn check_not_too_far(send_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
    if send_at > now + Duration::days(MAX_DAYS_AHEAD) {
        return Err(Error::unprocessable(
            "send_at_too_far",
            format!("send_at may be at most {MAX_DAYS_AHEAD} days ahead"),
        ));
    }
    Ok(())
}

fn parse_time_of_day(text: &str) -> Option<NaiveTime> {
    ["%H:%M", "%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveTime::parse_from_str(text, format).ok())
}

/// `time` on the first day on which it has not yet come in any zone (so every recipient gets it): the
/// day it is now in UTC+14, or the next one when it has already come there.
fn next_day_everywhere(time: NaiveTime, now: DateTime<Utc>) -> NaiveDateTime {
    let today_in_first_zone = (now + local_time::EARLIEST_ZONE_OFFSET).date_naive();
    let candidate = today_in_first_zone.and_time(time);
    if local_time::first_zone_reaches(candidate) < now {
        candidate + Duration::days(1)
    } else {
        candidate
    }
}

fn parse_local(text: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
}

/// A change of a campaign's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Set (or move) the send time.
    Schedule,
    /// The send time came: begin sending.
    Start,
    /// Hold.
    Pause,
    /// Continue after a pause.
    Resume,
    /// Stop for good.
    Cancel,
    /// Every recipient has a final state.
    Complete,
    /// A recurring campaign's run ended: wait for the next.
    NextRun,
}

impl Transition {
    fn verb(self) -> &'static str {
        match self {
            Transition::Schedule => "schedule",
            Transition::Start => "start",
            Transition::Pause => "pause",
            Transition::Resume => "resume",
            Transition::Cancel => "cancel",
            Transition::Complete => "complete",
            Transition::NextRun => "start the next run of",
        }
    }

    fn allowed_from(self) -> &'static [CampaignState] {
        use CampaignState::*;
        match self {
            Transition::Schedule => &[Draft, Scheduled],
            Transition::Start => &[Scheduled],
            Transition::Pause => &[Scheduled, Running],
            Transition::Resume => &[Paused],
            Transition::Cancel => &[Draft, Scheduled, Running, Paused],
            Transition::Complete | Transition::NextRun => &[Running],
        }
    }
}

impl Campaign {
    /// Apply a transition, stamping the times it implies.
    ///
    /// # Errors
    /// 409 `invalid_transition` naming the current state and the states the action is allowed from.
    pub fn transition(&mut self, transition: Transition, now: DateTime<Utc>) -> Result<()> {
        let allowed = transition.allowed_from();
        if !allowed.contains(&self.state) {
            let from: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            return Err(Error::conflict(
                "invalid_transition",
                format!(
                    "campaign '{}' is {}; {} is allowed only when it is {}",
                    self.id,
                    self.state,
                    transition.verb(),
                    from.join(" or ")
                ),
            ));
        }
        self.state = match transition {
            Transition::Schedule => CampaignState::Scheduled,
            Transition::Start => {
                self.started_at = Some(now);
                CampaignState::Running
            }
            Transition::Pause => CampaignState::Paused,
            Transition::Resume if self.started_at.is_some() => CampaignState::Running,
            Transition::Resume => CampaignState::Scheduled,
            Transition::Cancel => {
                self.finished_at = Some(now);
                CampaignState::Cancelled
            }
            Transition::Complete => {
                self.finished_at = Some(now);
                CampaignState::Completed
            }
            Transition::NextRun => CampaignState::Scheduled,
        };
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-01T10:00:00Z".parse().unwrap()
    }

    fn at(send_at: &str, timezone: Option<&str>) -> Result<Schedule> {
        ScheduleRequest {
            send_at: send_at.into(),
            timezone: timezone.map(Into::into),
            template_version: None,
            per_recipient_timezone: false,
            recurring: None,
        }
        .resolve(now())
    }

    #[test]
    fn local_times_resolve_in_their_zone() {
        // Berlin is UTC+1 in December.
        let schedule = at("2026-12-24T09:00:00", Some("Europe/Berlin")).unwrap();
        assert_eq!(
            schedule.send_at,
            "2026-12-24T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            schedule.local_time.unwrap().to_string(),
            "2026-12-24 09:00:00"
        );
        // and UTC+2 in summer.
        let summer = at("2027-07-01T09:00", Some("Europe/Berlin")).unwrap();
        assert_eq!(
            summer.send_at,
            "2027-07-01T07:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn instants_and_now_need_no_zone() {
        assert_eq!(
            at("2026-12-24T09:00:00+05:30", None).unwrap().send_at,
            "2026-12-24T03:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(at("now", None).unwrap().send_at, now());
    }

    #[test]
    fn bad_send_times_say_what_to_fix() {
        assert_eq!(
            at("2026-12-24T09:00:00", None).unwrap_err().code(),
            "timezone_required"
        );
        assert_eq!(at("tomorrow", None).unwrap_err().code(), "invalid_send_at");
        assert_eq!(
            at("2026-12-24T09:00:00", Some("Mars/Base"))
                .unwrap_err()
                .code(),
            "invalid_timezone"
        );
        assert_eq!(
            at("2026-01-01T00:00:00Z", None).unwrap_err().code(),
            "send_at_in_past"
        );
        assert_eq!(
            at("2030-01-01T00:00:00Z", None).unwrap_err().code(),
            "send_at_too_far"
        );
        // 02:30 on 2027-03-28 does not exist in Berlin (clocks jump from 02:00 to 03:00).
        let gap = at("2027-03-28T02:30:00", Some("Europe/Berlin")).unwrap_err();
        assert_eq!((gap.code(), gap.status()), ("nonexistent_local_time", 422));
        // 02:30 on 2026-10-25 happens twice: the first (summer time, UTC+2) is chosen.
        let mut request = ScheduleRequest {
            send_at: "2026-10-25T02:30:00".into(),
            timezone: Some("Europe/Berlin".into()),
            template_version: None,
            per_recipient_timezone: false,
            recurring: None,
        };
        let early = "2026-10-20T00:00:00Z".parse().unwrap();
        assert_eq!(
            request.resolve(early).unwrap().send_at,
            "2026-10-25T00:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        request.send_at = "2026-10-25 02:30".into();
        assert!(request.resolve(early).is_ok());
    }

    fn per_recipient(send_at: &str, now: DateTime<Utc>) -> Result<Schedule> {
        ScheduleRequest {
            send_at: send_at.into(),
            timezone: Some("Europe/Berlin".into()),
            template_version: None,
            per_recipient_timezone: true,
            recurring: None,
        }
        .resolve(now)
    }

    #[test]
    fn a_per_recipient_schedule_starts_where_the_time_comes_first_and_is_refused_once_it_passed_everywhere(
    ) {
        let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let schedule = per_recipient("2026-12-08T10:00", now()).unwrap();
        assert!(schedule.per_recipient_timezone);
        assert_eq!(schedule.send_at, utc("2026-12-07T20:00:00Z"));
        assert_eq!(
            schedule.local_time.unwrap().to_string(),
            "2026-12-08 10:00:00"
        );
        // Passed in Tokyo and Berlin, still ahead in UTC-12 (22:00 UTC): accepted.
        assert!(per_recipient("2026-12-08T10:00", utc("2026-12-08T21:00:00Z")).is_ok());
        let passed = per_recipient("2026-12-08T10:00", utc("2026-12-08T22:05:00Z")).unwrap_err();
        assert_eq!((passed.status(), passed.code()), (422, "send_at_in_past"));
        // A skipped local time is not refused: each zone sends it as its clocks allow.
        assert!(per_recipient("2027-03-28T02:30", now()).is_ok());
        assert_eq!(
            per_recipient("2026-12-08T10:00:00Z", now())
                .unwrap_err()
                .code(),
            "local_send_at_required"
        );
    }

    #[test]
    fn a_time_of_day_alone_is_the_next_day_every_zone_still_has_it_ahead() {
        let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // At 10:00 UTC on 1 November it is already 00:00 on 2 November in UTC+14: 10:00 there is ahead.
        let schedule = per_recipient("10:00", now()).unwrap();
        assert_eq!(
            schedule.local_time.unwrap().to_string(),
            "2026-11-02 10:00:00"
        );
        // At 21:00 UTC, 10:00 on 2 November has come in UTC+14: the next day.
        let later = per_recipient("10:00", utc("2026-11-01T21:00:00Z")).unwrap();
        assert_eq!(later.local_time.unwrap().to_string(), "2026-11-03 10:00:00");
    }

    fn draft() -> Campaign {
        let request: super::super::NewCampaign = serde_json::from_str(
            r#"{"id": "c1", "name": "n", "channel": "telegram:shop", "template_id": "t"}"#,
        )
        .unwrap();
        request.into_draft(now()).unwrap()
    }

    #[test]
    fn valid_transitions_follow_the_life_cycle() {
        let mut c = draft();
        c.transition(Transition::Schedule, now()).unwrap();
        c.transition(Transition::Pause, now()).unwrap();
        c.transition(Transition::Resume, now()).unwrap();
        assert_eq!(
            c.state,
            CampaignState::Scheduled,
            "resuming a campaign that never started waits for its time"
        );
        c.transition(Transition::Start, now()).unwrap();
        c.transition(Transition::Pause, now()).unwrap();
        c.transition(Transition::Resume, now()).unwrap();
        assert_eq!(c.state, CampaignState::Running);
        c.transition(Transition::Complete, now()).unwrap();
        assert_eq!(c.state, CampaignState::Completed);
        assert_eq!(c.finished_at, Some(now()));
    }

    #[test]
    fn invalid_transitions_are_conflicts() {
        let mut c = draft();
        for t in [
            Transition::Pause,
            Transition::Resume,
            Transition::Start,
            Transition::Complete,
        ] {
            let err = c.transition(t, now()).unwrap_err();
            assert_eq!((err.status(), err.code()), (409, "invalid_transition"));
        }
        c.transition(Transition::Cancel, now()).unwrap();
        let err = c.transition(Transition::Schedule, now()).unwrap_err();
        assert!(err.message().contains("is cancelled"), "{}", err.message());
        assert_eq!(
            c.transition(Transition::Resume, now())
                .unwrap_err()
                .status(),
            409
        );
        assert_eq!(
            c.transition(Transition::Cancel, now())
                .unwrap_err()
                .status(),
            409
        );
    }
}
