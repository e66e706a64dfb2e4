//! The runs of a recurring campaign: who each run leaves out (those a run sent within the last N
//! days, by a per-person record of marks, erased with the person), adding an ended run's totals to the campaign's exactly once, and the
//! list of runs with their counts.
//!
//! A run's ledger and counters are kept under its run id (`<campaign>@<date>`) by the ordinary
//! machinery. When the run ends, its final totals are added to the campaign cursor's `counted` in the
//! same compare-and-swap that lists the run there, so the campaign counters (its statistics in total)
//! are brought up to them like a one-off campaign's, and no run is counted twice.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::campaign::{self, run_id, Campaign, CampaignState};
use crate::error::Result;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::SubscriberId;

use super::claim;
use super::ledger::{Cursor, Tally};
use super::progress::{self, Counts};

/// What a recurring campaign remembers of a person it sent: the date of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecurringMark {
    /// The run's local date.
    pub run: NaiveDate,
    /// When the message went out.
    pub at: DateTime<Utc>,
}

/// An ended run, as the campaign cursor lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedRun {
    /// The run's local date.
    pub date: NaiveDate,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Its recipients per final state.
    pub tally: Tally,
}

/// The marks of one person: each recurring campaign that sent them, with its run.
type RecurringMarks = BTreeMap<String, RecurringMark>;

/// The recipients among `candidates` that `campaign`'s current run may send: those it has not sent
/// within its `once_per_days` (all of them for a campaign that does not recur). One read of the
/// candidates' marks.
///
/// # Errors
/// Store failures.
pub fn not_sent_recently<S: KvStore + ?Sized>(
    store: &S,
    campaign: &Campaign,
    candidates: Vec<SubscriberId>,
) -> Result<Vec<SubscriberId>> {
    let (Some(recurrence), Some(run)) = (campaign.recurrence(), campaign.run_date()) else {
        return Ok(candidates);
    };
    let mark_keys: Vec<String> = candidates.iter().map(keys::recurring_marks).collect();
    let marks: Vec<Option<RecurringMarks>> = kv::get_many_json(store, &mark_keys)?;
    Ok(candidates
        .into_iter()
        .zip(marks)
        .filter(|(_, marks)| {
            marks
                .as_ref()
                .and_then(|m| m.get(campaign.id.as_str()))
                .is_none_or(|m| recurrence.allows_again(m.run, run))
        })
        .map(|(id, _)| id)
        .collect())
}

/// Mark the people `campaign`'s current run sent at the given instants (nothing for a campaign that
/// does not recur): one compare-and-swap per person, as their send history is.
///
/// # Errors
/// Store failures.
pub fn mark_sent<'a, S: KvStore + ?Sized>(
    store: &S,
    campaign: &Campaign,
    sent: impl IntoIterator<Item = (&'a SubscriberId, DateTime<Utc>)>,
) -> Result<()> {
    let Some(run) = campaign.run_date() else {
        return Ok(());
    };
    for (subscriber, at) in sent {
        let mark = RecurringMark { run, at };
        kv::update_json(
            store,
            &keys::recurring_marks(subscriber),
            |current: Option<RecurringMarks>| {
                let mut marks = current.unwrap_or_default();
                marks.insert(campaign.id.to_string(), mark.clone());
                Ok((Some(marks), ()))
            },
        )?;
    }
    Ok(())
}

/// Erase a person's marks (with the person).
///
/// # Errors
/// Store failures.
pub fn erase_marks<S: KvStore + ?Sized>(store: &S, subscriber: &SubscriberId) -> Result<()> {
    Ok(store.delete(&keys::recurring_marks(subscriber))?)
}

/// Add the current run's final totals to the campaign cursor and list it there, once however often
/// this is called. Call it when the run has no open batch left.
///
/// # Errors
/// Store failures.
pub fn end_run<S: KvStore + ?Sized>(
    store: &S,
    campaign: &Campaign,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(date) = campaign.run_date() else {
        return Ok(());
    };
    let run = claim::cursor(store, &campaign.ledger_id())?;
    kv::update_json(
        store,
        &keys::campaign_cursor(campaign.id.as_str()),
        |current: Option<Cursor>| {
            let mut cursor = current.unwrap_or_default();
            if cursor.runs.iter().any(|r| r.date == date) {
                return Ok((None, ()));
            }
            cursor.counted.add(&run.counted);
            Tally::add_by_arm(&mut cursor.counted_by_arm, &run.counted_by_arm);
            cursor.runs.push(EndedRun {
                date,
                started_at: campaign.started_at,
                ended_at: now,
                tally: run.counted,
            });
            Ok((Some(cursor), ()))
        },
    )
}

/// One run in the list of a recurring campaign's runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// `<campaign>@<date>`.
    pub run: String,
    /// The run's local date.
    pub date: NaiveDate,
    /// `ended`, `running` (sending), `scheduled` (the next), `paused` or `cancelled`.
    pub state: &'static str,
    /// When it starts (the next run) or started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Its recipients per state.
    pub counts: Counts,
}

/// A recurring campaign's runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runs {
    /// The campaign.
    pub campaign_id: String,
    /// Its runs, oldest first.
    pub runs: Vec<RunReport>,
}

/// The runs of campaign `id`, oldest first: the ended ones, then the current or next one (absent once
/// a cancelled campaign's last run has ended). A campaign that does not recur has none.
///
/// # Errors
/// 404 for an unknown campaign; store failures.
pub fn runs<S: KvStore + ?Sized>(store: &S, id: &str, now: DateTime<Utc>) -> Result<Runs> {
    let campaign = campaign::get(store, id)?;
    Ok(Runs {
        campaign_id: id.to_owned(),
        runs: run_reports(store, &campaign, now)?,
    })
}

fn run_reports<S: KvStore + ?Sized>(
    store: &S,
    campaign: &Campaign,
    now: DateTime<Utc>,
) -> Result<Vec<RunReport>> {
    let id = campaign.id.as_str();
    let Some(current) = campaign.run_date() else {
        return Ok(Vec::new());
    };
    let cursor = claim::cursor(store, id)?;
    let mut reports: Vec<RunReport> = cursor
        .runs
        .iter()
        .map(|ended| RunReport {
            run: run_id(id, ended.date),
            date: ended.date,
            state: "ended",
            starts_at: ended.started_at,
            ended_at: Some(ended.ended_at),
            counts: Counts::of(&ended.tally, 0),
        })
        .collect();
    if cursor.runs.iter().all(|r| r.date != current) {
        let state = match campaign.state {
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Cancelled => "cancelled",
            _ => "scheduled",
        };
        let counts = progress::progress(store, id, now)?.counts;
        reports.push(RunReport {
            run: campaign.ledger_id(),
            date: current,
            state,
            starts_at: campaign
                .started_at
                .or_else(|| campaign.schedule.as_ref().map(|s| s.send_at)),
            ended_at: None,
            counts,
        });
    }
    Ok(reports)
}
