//! Before sending, the truth about the audience: how many people a campaign reaches, how many of them
//! the policy chain would skip or fail and why, and how long sending takes at the channel's pace.
//!
//! The estimate walks the whole subscriber index (every filter needs a scan; nothing is indexed) and
//! treats each record as the sender would at the campaign's send time: the recipient test of the
//! audience frozen then ([`crate::campaign::Recipients`]), then the deployment's [`PolicyChain`] as a
//! dry run — so a rule added to the chain (quiet hours, local send time) is counted here without a
//! change — then the frequency caps on each remaining person's send history as it stands (read in one
//! batch per page; nothing is reserved), and the message rendered for those they let through. Nothing
//! is written.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::campaign::{Campaign, CampaignState};
use crate::error::Result;
use crate::index::Index;
use crate::keys;
use crate::kv::KvStore;
use crate::subscriber::{Subscriber, SubscriberId};

use super::arms::ArmCampaigns;
use super::caps::{FrequencyCaps, PastSend, SendHistory};
use super::claim::read_index_page;
use super::policy::{Candidate, PolicyChain, Verdict};
use super::runs;
use super::{MessageRenderer, Outgoing};

/// The most subscriber records one estimate examines (the counts cover the first ones beyond this).
pub const MAX_ESTIMATE_SCAN: u64 = 250_000;

/// What a campaign would do if it started at `evaluated_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Estimate {
    /// The campaign.
    pub campaign_id: String,
    /// Its state.
    pub state: Option<CampaignState>,
    /// The instant judged: the campaign's send time (now for a draft or an overdue schedule; its start
    /// once started). Relative conditions and the policy chain are judged at it.
    pub evaluated_at: DateTime<Utc>,
    /// Subscribers on the channel in the audience, whatever their consent.
    pub matched: u64,
    /// Of those, not recipients: not subscribed at the send time (or created after the start).
    pub not_subscribed: u64,
    /// Of those, not recipients of a recurring campaign's run: it sent them within its `once_per_days`.
    #[serde(skip_serializing_if = "is_zero")]
    pub recently_sent: u64,
    /// Recipients: each gets one entry in the delivery ledger.
    pub recipients: u64,
    /// Recipients who would be sent at once.
    pub will_send: u64,
    /// Recipients the chain holds back until later (they are sent then, e.g. after quiet hours).
    pub deferred: u64,
    /// The latest time a deferred recipient waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deferred_until: Option<DateTime<Utc>>,
    /// Recipients who would be skipped, by reason (`unsubscribed`, `outside_service_window`, ...).
    pub skipped: BTreeMap<String, u64>,
    /// Recipients whose delivery would fail before a send, by code (`channel_not_configured`,
    /// `template_render_failed`, ...).
    pub failed: BTreeMap<String, u64>,
    /// Messages per second on the campaign's channel.
    pub rate_per_second: u32,
    /// Seconds to send `will_send` and `deferred` at that pace, one request each.
    pub expected_duration_seconds: u64,
    /// When sending should be done: `evaluated_at` plus the duration, and not before `deferred_until`.
    pub expected_completion_at: DateTime<Utc>,
    /// Subscriber records examined: a full scan of the index.
    pub scanned: u64,
    /// Positions in the subscriber index.
    pub index_size: u64,
    /// Whether the scan reached the end of the index (`false` beyond [`MAX_ESTIMATE_SCAN`] records).
    pub complete: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Estimate {
    fn count(&mut self, verdict: Verdict) {
        let tally = |map: &mut BTreeMap<String, u64>, text: &str| {
            // Reasons may carry an explanation after a colon; the figure is per reason.
            let key = text.split(':').next().unwrap_or(text).trim().to_owned();
            *map.entry(key).or_default() += 1;
        };
        match verdict {
            Verdict::Send => self.will_send += 1,
            Verdict::Skip { reason } => tally(&mut self.skipped, &reason),
            Verdict::Fail { code, .. } => tally(&mut self.failed, &code),
            Verdict::Defer { until } => {
                self.deferred += 1;
                self.deferred_until = self.deferred_until.max(Some(until));
            }
        }
    }
}

/// Estimate `campaign` at its send time as seen at `now`, judging recipients with `policies` and
/// `caps`, rendering with `renderer`, at `rate_per_second` on its channel.
///
/// # Errors
/// Store failures.
pub fn estimate<S: KvStore + ?Sized>(
    store: &S,
    campaign: &Campaign,
    now: DateTime<Utc>,
    policies: &PolicyChain,
    caps: &FrequencyCaps,
    renderer: &dyn MessageRenderer,
    rate_per_second: u32,
) -> Result<Estimate> {
    let at = campaign.audience_frozen_at(now);
    let recipients = campaign.recipients_at(at);
    let index_size = Index::SUBSCRIBERS.len(store)?;
    let mut estimate = Estimate {
        campaign_id: campaign.id.to_string(),
        state: Some(campaign.state),
        evaluated_at: at,
        rate_per_second,
        index_size,
        ..Estimate::default()
    };
    let arms = ArmCampaigns::of(campaign);
    let mut position = 0;
    while position < index_size && estimate.scanned < MAX_ESTIMATE_SCAN {
        let (records, next_page) = read_index_page(store, position)?;
        position = next_page;
        estimate.scanned += records.len() as u64;
        // Those the chain lets through, judged against the caps once the page's histories are read.
        let mut passed: Vec<&Subscriber> = Vec::new();
        let mut subscribed: Vec<&Subscriber> = Vec::new();
        for subscriber in records.iter().filter_map(|(_, record)| record.as_ref()) {
            if !recipients.in_audience(subscriber) {
                continue;
            }
            estimate.matched += 1;
            if !recipients.existed_and_subscribed(subscriber) {
                estimate.not_subscribed += 1;
                continue;
            }
            subscribed.push(subscriber);
        }
        // A recurring run leaves out whom the campaign sent recently, as its claim does.
        if campaign.recurrence().is_some() {
            let ids = subscribed.iter().map(|s| s.id.clone()).collect();
            let allowed: BTreeSet<SubscriberId> = runs::not_sent_recently(store, campaign, ids)?
                .into_iter()
                .collect();
            estimate.recently_sent += (subscribed.len() - allowed.len()) as u64;
            subscribed.retain(|s| allowed.contains(&s.id));
        }
        for subscriber in subscribed {
            estimate.recipients += 1;
            // An A/B recipient is judged and rendered as their arm, as the sender would.
            let arm = campaign.arm_of(&subscriber.id).map(|arm| arm.name());
            let as_sent = arms.for_arm(arm);
            let render = |s: &Subscriber| Outgoing::render(renderer, as_sent, s);
            let candidate = Candidate::new(as_sent, Some(subscriber), at, &render).in_arm(arm);
            match policies.check(&candidate) {
                // The sender renders whoever the chain lets through; a failure there is final.
                Verdict::Send => match candidate.into_message() {
                    Some(Err(e)) => estimate.count(Verdict::Fail {
                        code: e.code().to_owned(),
                        reason: e.message().to_owned(),
                    }),
                    _ => passed.push(subscriber),
                },
                verdict => estimate.count(verdict),
            }
        }
        for verdict in cap_verdicts(store, campaign, at, caps, &passed)? {
            estimate.count(verdict);
        }
    }
    estimate.complete = position >= index_size;
    let messages = estimate.will_send + estimate.deferred;
    let rate = u64::from(rate_per_second.max(1));
    estimate.expected_duration_seconds = messages.div_ceil(rate);
    let seconds = i64::try_from(estimate.expected_duration_seconds).unwrap_or_default();
    let sent_by = at + Duration::seconds(seconds);
    estimate.expected_completion_at = estimate.deferred_until.map_or(sent_by, |d| d.max(sent_by));
    Ok(estimate)
}

/// The caps' verdict on each of `passed` sent at `at`, from their send histories as stored.
fn cap_verdicts<S: KvStore + ?Sized>(
    store: &S,
    campaign: &Campaign,
    at: DateTime<Utc>,
    caps: &FrequencyCaps,
    passed: &[&Subscriber],
) -> Result<Vec<Verdict>> {
    if caps.is_empty() || passed.is_empty() {
        return Ok(passed.iter().map(|_| Verdict::Send).collect());
    }
    let history_keys: Vec<String> = passed.iter().map(|s| keys::send_history(&s.id)).collect();
    let send = PastSend::of(campaign, None, at);
    store
        .get_many(&history_keys)?
        .into_iter()
        .zip(passed)
        .map(|((_, stored), subscriber)| {
            let history = SendHistory::decode(stored.as_deref())?;
            let zone = campaign.recipient_zone(Some(subscriber));
            Ok(caps
                .refusal(&history, &send, zone)
                .map_or(Verdict::Send, |reason| Verdict::Skip { reason }))
        })
        .collect()
}
