//! The rule that a campaign sent "at 10:00 in each recipient's timezone" reaches each one at their 10:00.

use chrono::Duration;

use crate::campaign::Campaign;
use crate::subscriber::Subscriber;

use super::{Candidate, SendPolicy, Verdict};

/// The skip reason of a recipient whose local send time had passed when the campaign was scheduled.
pub const LOCAL_TIME_PASSED: &str = "local_time_passed";

/// How long before the schedule was set a recipient's local send time may lie and still be sent (the
/// tolerance a send time in the past gets when it is scheduled).
const PASSED_TOLERANCE: Duration = Duration::seconds(60);

/// For a campaign scheduled per recipient timezone: defers a recipient until the local send time comes
/// in their timezone (or the campaign's, when they have none), and skips (`local_time_passed`) one in
/// whose zone it had already passed when the campaign was scheduled. Other campaigns pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalSendTime;

impl SendPolicy for LocalSendTime {
    fn check(&self, candidate: &Candidate<'_>) -> Verdict {
        let Some(schedule) = candidate
            .campaign
            .schedule
            .as_ref()
            .filter(|s| s.per_recipient_timezone)
        else {
            return Verdict::Send;
        };
        let zone = candidate.subscriber.and_then(|s| s.timezone);
        let due = schedule.due_in(zone);
        if due < schedule.scheduled_at - PASSED_TOLERANCE {
            return Verdict::Skip {
                reason: passed_reason(candidate.campaign, candidate.subscriber),
            };
        }
        if due > candidate.now {
            return Verdict::Defer { until: due };
        }
        Verdict::Send
    }
}

fn passed_reason(campaign: &Campaign, subscriber: Option<&Subscriber>) -> String {
    let schedule = campaign.schedule.as_ref();
    let local = schedule
        .and_then(|s| s.local_time)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default();
    let zone = subscriber
        .and_then(|s| s.timezone)
        .or_else(|| schedule.and_then(|s| s.timezone))
        .map(|z| z.tz().name().to_owned())
        .unwrap_or_default();
    format!(
        "{LOCAL_TIME_PASSED}: {local} had already passed in {zone} when the campaign was scheduled"
    )
}
