//! The sending step ([`send_next_batch`]) and the tick loop around it ([`run_tick`]).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::campaign::{self, Campaign, CampaignState, Transition};
use crate::clock::Clock;
use crate::directory::StoredSubscriber;
use crate::error::Result;
use crate::event::SentMessageRef;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::messenger::{Messenger, SendOutcome};
use crate::platform::whatsapp::send::OUTSIDE_WINDOW;
use crate::subscriber::{
    ConsentAction, ConsentEvent, Platform, Subscriber, SubscriberId, SubscriptionStatus,
};

use super::claim::{self, Takeover};
use super::counters;
use super::ledger::{DeliveryBatch, DeliveryEntry, DeliveryState, Lease, OUTCOME_UNKNOWN};
use super::pacing;
use super::{MessageRenderer, Outgoing};

/// The longest time budget a tick may be given.
pub const MAX_BUDGET_MS: u64 = 600_000;

/// The longest pause a rate-limit answer can impose on a channel.
pub const MAX_RETRY_AFTER_SECS: u64 = 3_600;

/// How old a consent reading may be when its message goes out; an older one is read again (the send
/// slot can be far off when the channel is paused or its queue is long).
const CONSENT_MAX_AGE: Duration = Duration::seconds(1);

/// How a tick sends: who it is, until when, and the limits it keeps.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// This tick's lease owner id (unique per tick).
    pub owner: String,
    /// Stop starting work at this time.
    pub deadline: DateTime<Utc>,
    /// Messages per second per Telegram bot.
    pub telegram_rate_per_second: u32,
    /// Messages per second per WhatsApp number.
    pub whatsapp_rate_per_second: u32,
    /// Recipients per batch record.
    pub batch_size: usize,
    /// Sends between two ledger writes: the most entries that can end as `outcome_unknown` after a crash.
    pub chunk_size: usize,
    /// Index pages one audience walk reads at most.
    pub max_pages_per_walk: u64,
    /// How long a lease outlives the last reserved send slot.
    pub lease: Duration,
    /// Attempts for transient failures (5xx, network) before the delivery fails.
    pub max_attempts: u32,
    /// The first backoff after a transient failure; it doubles with each attempt.
    pub backoff_base: Duration,
    /// Rate-limit answers for one message before it fails (the platform keeps refusing).
    pub max_rate_limited: u32,
    /// Which active campaign a step looks at first, so campaigns share ticks.
    pub rotation: usize,
}

impl SenderConfig {
    /// Defaults: Telegram 25/s, WhatsApp 80/s, batches of 100 written every 10 sends, 5 attempts.
    pub fn new(owner: impl Into<String>, deadline: DateTime<Utc>) -> Self {
        SenderConfig {
            owner: owner.into(),
            deadline,
            telegram_rate_per_second: 25,
            whatsapp_rate_per_second: 80,
            batch_size: 100,
            chunk_size: 10,
            max_pages_per_walk: 5,
            lease: Duration::seconds(120),
            max_attempts: 5,
            backoff_base: Duration::seconds(1),
            max_rate_limited: 10,
            rotation: 0,
        }
    }

    /// Defaults, with the deadline `budget_ms` after `now` (at most ten minutes: a tick is one HTTP request).
    pub fn with_budget(owner: impl Into<String>, now: DateTime<Utc>, budget_ms: u64) -> Self {
        let budget =
            Duration::milliseconds(i64::try_from(budget_ms.min(MAX_BUDGET_MS)).unwrap_or(0));
        Self::new(owner, now + budget)
    }

    /// The send rate of a platform.
    pub fn rate_for(&self, platform: Platform) -> u32 {
        match platform {
            Platform::Telegram => self.telegram_rate_per_second,
            Platform::Whatsapp => self.whatsapp_rate_per_second,
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// A scheduled campaign reached its send time and is now running.
    Started {
        /// The campaign.
        campaign_id: String,
    },
    /// Every recipient of a running campaign has a final state.
    Completed {
        /// The campaign.
        campaign_id: String,
    },
    /// Worked on a batch.
    Batch(BatchReport),
    /// No campaign has work that can be done now.
    NothingDue,
}

/// Why work on a batch stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every entry has a final state.
    Finished,
    /// The tick's time budget is spent; the rest waits for the next tick.
    Deadline,
    /// Only entries waiting for a backoff beyond the budget remain.
    Deferred,
    /// The campaign was paused.
    Paused,
    /// The campaign was cancelled; open entries were skipped.
    Cancelled,
    /// Another tick took the batch over (this tick's lease lapsed).
    LeaseLost,
}

/// What a step did with one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    /// The campaign.
    pub campaign_id: String,
    /// The batch number.
    pub batch: u64,
    /// Taken over from an earlier tick rather than newly claimed.
    pub resumed: bool,
    /// Recipients who reached `sent`.
    pub sent: u64,
    /// Recipients who reached `failed` (including `outcome_unknown`).
    pub failed: u64,
    /// Recipients who reached `blocked`.
    pub blocked: u64,
    /// Recipients who reached `skipped`.
    pub skipped: u64,
    /// Of `failed`: entries closed as `outcome_unknown` after a crash.
    pub outcome_unknown: u64,
    /// Sends answered with a rate limit or a transient error, to be tried again.
    pub retried: u64,
    /// Entries still without a final state.
    pub remaining: usize,
    /// Why work stopped.
    pub stopped: StopReason,
}

impl BatchReport {
    fn new(campaign_id: &str, batch: u64, resumed: bool) -> Self {
        BatchReport {
            campaign_id: campaign_id.to_owned(),
            batch,
            resumed,
            sent: 0,
            failed: 0,
            blocked: 0,
            skipped: 0,
            outcome_unknown: 0,
            retried: 0,
            remaining: 0,
            stopped: StopReason::Finished,
        }
    }

    fn tally(&mut self, state: &DeliveryState) {
        match state {
            DeliveryState::Sent { .. } => self.sent += 1,
            DeliveryState::Failed { code, .. } => {
                self.failed += 1;
                if code == OUTCOME_UNKNOWN {
                    self.outcome_unknown += 1;
                }
            }
            DeliveryState::Blocked { .. } => self.blocked += 1,
            DeliveryState::Skipped { .. } => self.skipped += 1,
            DeliveryState::Pending | DeliveryState::InFlight => {}
        }
    }
}

/// What a whole tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Every step but the final `nothing_due`.
    pub steps: Vec<Step>,
    /// Sent in this tick.
    pub sent: u64,
    /// Failed in this tick.
    pub failed: u64,
    /// Blocked in this tick.
    pub blocked: u64,
    /// Skipped in this tick.
    pub skipped: u64,
    /// Whether the tick stopped because its budget was spent (more may be due).
    pub budget_spent: bool,
}

/// Run steps until nothing is due or the deadline passes.
///
/// # Errors
/// A store failure; work already done is recorded in the ledger and the leases lapse.
pub fn run_tick<S, M, R, C>(
    store: &S,
    messenger: &M,
    renderer: &R,
    clock: &C,
    config: &SenderConfig,
) -> Result<TickReport>
where
    S: KvStore + ?Sized,
    M: Messenger<Message = Outgoing> + ?Sized,
    R: MessageRenderer + ?Sized,
    C: Clock + ?Sized,
{
    let mut report = TickReport::default();
    let mut config = config.clone();
    // Campaigns whose channel has no send slot left within the budget (paused by a 429, or its queue
    // full): taking their batch again would only rewrite its lease until the deadline.
    let mut out_of_slots = BTreeSet::new();
    // Each step works on at most one batch, so this bound only guards against a bug looping in place.
    for _ in 0..10_000 {
        if clock.now() >= config.deadline {
            report.budget_spent = true;
            break;
        }
        let step = next_step(store, messenger, renderer, clock, &config, &out_of_slots)?;
        if step == Step::NothingDue {
            break;
        }
        if let Step::Batch(batch) = &step {
            report.sent += batch.sent;
            report.failed += batch.failed;
            report.blocked += batch.blocked;
            report.skipped += batch.skipped;
            if batch.stopped == StopReason::Deadline {
                report.budget_spent = true;
                out_of_slots.insert(batch.campaign_id.clone());
            }
        }
        report.steps.push(step);
        config.rotation = config.rotation.wrapping_add(1);
    }
    Ok(report)
}

/// Do the next piece of due work: start a due campaign, complete a finished one, or work on one batch
/// (resumed or newly claimed) until it is finished, the deadline passes, or the campaign is paused.
///
/// # Errors
/// Store failures.
pub fn send_next_batch<S, M, R, C>(
    store: &S,
    messenger: &M,
    renderer: &R,
    clock: &C,
    config: &SenderConfig,
) -> Result<Step>
where
    S: KvStore + ?Sized,
    M: Messenger<Message = Outgoing> + ?Sized,
    R: MessageRenderer + ?Sized,
    C: Clock + ?Sized,
{
    next_step(store, messenger, renderer, clock, config, &BTreeSet::new())
}

/// [`send_next_batch`], passing over the campaigns in `skip`.
fn next_step<S, M, R, C>(
    store: &S,
    messenger: &M,
    renderer: &R,
    clock: &C,
    config: &SenderConfig,
    skip: &BTreeSet<String>,
) -> Result<Step>
where
    S: KvStore + ?Sized,
    M: Messenger<Message = Outgoing> + ?Sized,
    R: MessageRenderer + ?Sized,
    C: Clock + ?Sized,
{
    let sender = Sender {
        store,
        messenger,
        renderer,
        clock,
        config,
    };
    let ids = campaign::active_ids(store)?;
    if ids.is_empty() {
        return Ok(Step::NothingDue);
    }
    let start = config.rotation % ids.len();
    for id in ids[start..].iter().chain(&ids[..start]) {
        if skip.contains(id) {
            continue;
        }
        if let Some(step) = sender.step_campaign(id)? {
            return Ok(step);
        }
    }
    Ok(Step::NothingDue)
}

struct Sender<'a, S: ?Sized, M: ?Sized, R: ?Sized, C: ?Sized> {
    store: &'a S,
    messenger: &'a M,
    renderer: &'a R,
    clock: &'a C,
    config: &'a SenderConfig,
}

/// How sending a chunk ended.
enum Chunk {
    /// Outcomes written; the batch as it is now.
    Done(DeliveryBatch),
    /// No send slot fits before the deadline; decisions made without sending are written.
    NoSlot(DeliveryBatch),
    /// Another tick owns the batch now.
    LeaseLost,
}

/// What the sender decided for one entry of a chunk before sending.
enum Plan {
    Final(DeliveryState),
    Send {
        subscriber: Box<Subscriber>,
        outgoing: Outgoing,
    },
}

impl<S, M, R, C> Sender<'_, S, M, R, C>
where
    S: KvStore + ?Sized,
    M: Messenger<Message = Outgoing> + ?Sized,
    R: MessageRenderer + ?Sized,
    C: Clock + ?Sized,
{
    fn lease(&self, until: DateTime<Utc>) -> Lease {
        Lease {
            owner: self.config.owner.clone(),
            expires_at: until,
        }
    }

    fn step_campaign(&self, id: &str) -> Result<Option<Step>> {
        let now = self.clock.now();
        let Some(campaign) = kv::get_json::<_, Campaign>(self.store, &keys::campaign(id))? else {
            campaign::remove_active(self.store, id)?;
            return Ok(None);
        };
        match campaign.state {
            // A draft here is a schedule request in progress (or one that failed); leave it be.
            CampaignState::Draft | CampaignState::Paused => Ok(None),
            CampaignState::Completed => {
                campaign::remove_active(self.store, id)?;
                Ok(None)
            }
            CampaignState::Scheduled => {
                let due = campaign.schedule.as_ref().is_some_and(|s| s.send_at <= now);
                if !due {
                    return Ok(None);
                }
                match campaign::change(self.store, id, |c| c.transition(Transition::Start, now)) {
                    Ok(_) => Ok(Some(Step::Started {
                        campaign_id: id.to_owned(),
                    })),
                    // Paused or cancelled in the meantime: nothing to start.
                    Err(e) if e.code() == "invalid_transition" => Ok(None),
                    Err(e) => Err(e),
                }
            }
            CampaignState::Running | CampaignState::Cancelled => self.work_on(&campaign, now),
        }
    }

    fn work_on(&self, campaign: &Campaign, now: DateTime<Utc>) -> Result<Option<Step>> {
        let id = campaign.id.as_str();
        let cancelled = campaign.state == CampaignState::Cancelled;
        let cursor = claim::cursor(self.store, id)?;
        if let Some(report) = self.resume_open(campaign, &cursor.open_batches, now)? {
            return Ok(Some(Step::Batch(report)));
        }
        if !cancelled && !cursor.exhausted {
            let lease = self.lease(now + self.config.lease);
            let claimed = claim::claim_new_batch(
                self.store,
                campaign,
                &lease,
                now,
                self.config.batch_size,
                self.config.max_pages_per_walk,
            )?;
            if let Some(batch) = claimed {
                let report = BatchReport::new(id, batch.batch, false);
                return self
                    .process(campaign, batch, report)
                    .map(|r| Some(Step::Batch(r)));
            }
        }
        if cancelled {
            // A cancelled campaign claims nothing, so it opens a batch whose creator died before moving
            // the cursor itself; its recipients are then skipped like any other open batch's.
            claim::adopt_orphan(self.store, id)?;
        }
        let cursor = claim::cursor(self.store, id)?;
        // The claim may have found (and opened) a batch whose creator died before moving the cursor.
        if let Some(report) = self.resume_open(campaign, &cursor.open_batches, now)? {
            return Ok(Some(Step::Batch(report)));
        }
        if !cursor.open_batches.is_empty() || !(cursor.exhausted || cancelled) {
            return Ok(None);
        }
        // The campaign leaves the active set only with its counters complete: no tick looks at it after.
        if !self.sync_counters(id)? {
            return Ok(None);
        }
        if cancelled {
            campaign::remove_active(self.store, id)?;
            return Ok(None);
        }
        match campaign::change(self.store, id, |c| c.transition(Transition::Complete, now)) {
            Ok(_) => {
                campaign::remove_active(self.store, id)?;
                Ok(Some(Step::Completed {
                    campaign_id: id.to_owned(),
                }))
            }
            Err(e) if e.code() == "invalid_transition" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Take over and work on the first open batch that has work and no live lease.
    fn resume_open(
        &self,
        campaign: &Campaign,
        open: &BTreeSet<u64>,
        now: DateTime<Utc>,
    ) -> Result<Option<BatchReport>> {
        let id = campaign.id.as_str();
        let cancelled = campaign.state == CampaignState::Cancelled;
        let lease = self.lease(now + self.config.lease);
        for &number in open {
            match claim::take_over(self.store, id, number, &lease, now, cancelled)? {
                Takeover::Taken { batch, finalised } => {
                    let mut report = BatchReport::new(id, number, true);
                    for &i in &finalised {
                        report.tally(&batch.entries[i].outcome);
                    }
                    return self.process(campaign, batch, report).map(Some);
                }
                Takeover::Finished => {
                    claim::close_batch(self.store, id, number)?;
                    self.sync_counters(id)?;
                }
                Takeover::Busy => {}
            }
        }
        Ok(None)
    }

    /// Work on a batch this tick holds the lease of.
    fn process(
        &self,
        campaign: &Campaign,
        mut batch: DeliveryBatch,
        mut report: BatchReport,
    ) -> Result<BatchReport> {
        let id = campaign.id.as_str();
        let number = batch.batch;
        loop {
            let now = self.clock.now();
            if now >= self.config.deadline {
                report.stopped = StopReason::Deadline;
                self.release(id, number)?;
                break;
            }
            let current = campaign::get(self.store, id)?;
            match current.state {
                CampaignState::Running => {}
                CampaignState::Cancelled => {
                    let changes: Vec<(usize, DeliveryEntry)> = batch
                        .entries
                        .iter()
                        .enumerate()
                        .filter(|(_, e)| !e.outcome.is_final())
                        .map(|(i, e)| {
                            (
                                i,
                                finalised(
                                    e,
                                    DeliveryState::Skipped {
                                        reason: "campaign_cancelled".into(),
                                    },
                                    now,
                                ),
                            )
                        })
                        .collect();
                    match self.write(id, number, &changes, now + self.config.lease, &mut report)? {
                        Some(written) => {
                            self.finish(id, number)?;
                            batch = written;
                            report.stopped = StopReason::Cancelled;
                        }
                        None => report.stopped = StopReason::LeaseLost,
                    }
                    break;
                }
                _ => {
                    report.stopped = StopReason::Paused;
                    self.release(id, number)?;
                    break;
                }
            }
            let chunk: Vec<usize> = batch
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.is_ready(now))
                .map(|(i, _)| i)
                .take(self.config.chunk_size)
                .collect();
            if chunk.is_empty() {
                if batch.open_entries() == 0 {
                    self.finish(id, number)?;
                    report.stopped = StopReason::Finished;
                    break;
                }
                let earliest = batch
                    .entries
                    .iter()
                    .filter(|e| e.outcome == DeliveryState::Pending)
                    .filter_map(|e| e.not_before)
                    .min();
                match earliest {
                    Some(at) if at <= self.config.deadline => {
                        self.clock.sleep(at - now);
                        continue;
                    }
                    _ => {
                        report.stopped = StopReason::Deferred;
                        self.release(id, number)?;
                        break;
                    }
                }
            }
            match self.send_chunk(&current, &batch, &chunk, &mut report)? {
                Chunk::Done(written) => batch = written,
                Chunk::NoSlot(written) => {
                    // The channel's next free slot (or its pause) lies beyond this tick's budget.
                    batch = written;
                    report.stopped = StopReason::Deadline;
                    self.release(id, number)?;
                    break;
                }
                Chunk::LeaseLost => {
                    report.stopped = StopReason::LeaseLost;
                    break;
                }
            }
        }
        report.remaining = batch.open_entries();
        Ok(report)
    }

    /// Decide, record intent, send and record outcomes for a few entries.
    fn send_chunk(
        &self,
        campaign: &Campaign,
        batch: &DeliveryBatch,
        chunk: &[usize],
        report: &mut BatchReport,
    ) -> Result<Chunk> {
        let id = campaign.id.as_str();
        let number = batch.batch;
        let now = self.clock.now();
        let planned_at = now;
        // Consent is judged on the record as it is now, not as it was when the batch was claimed.
        let record_keys: Vec<String> = chunk
            .iter()
            .map(|&i| keys::subscriber(&batch.entries[i].subscriber))
            .collect();
        let records: Vec<Option<StoredSubscriber>> = kv::get_many_json(self.store, &record_keys)?;
        let mut finals = Vec::new();
        let mut sends = Vec::new();
        for (&index, record) in chunk.iter().zip(records) {
            match self.plan(campaign, record.map(|r| r.subscriber)) {
                Plan::Final(state) => {
                    finals.push((index, finalised(&batch.entries[index], state, now)))
                }
                Plan::Send {
                    subscriber,
                    outgoing,
                } => sends.push((index, subscriber, outgoing)),
            }
        }
        let addresses: Vec<_> = sends.iter().map(|(_, s, _)| &s.address).collect();
        let rate = self.config.rate_for(campaign.channel.platform());
        let slots = pacing::reserve_slots(
            self.store,
            &campaign.channel,
            &addresses,
            rate,
            now,
            self.config.deadline,
        )?;
        let starved = !sends.is_empty() && slots.is_empty();
        sends.truncate(slots.len());
        // Intent: the entries about to go out are marked in flight before the first is sent.
        let mut intent = finals;
        intent.extend(sends.iter().map(|(index, _, _)| {
            let mut entry = batch.entries[*index].clone();
            entry.outcome = DeliveryState::InFlight;
            (*index, entry)
        }));
        let last_slot = slots.last().copied().unwrap_or(now);
        let Some(written) =
            self.write(id, number, &intent, last_slot + self.config.lease, report)?
        else {
            return Ok(Chunk::LeaseLost);
        };
        if starved {
            return Ok(Chunk::NoSlot(written));
        }
        if sends.is_empty() {
            // Every entry of the chunk was finalised without sending.
            return Ok(Chunk::Done(written));
        }
        let mut outcomes = Vec::with_capacity(sends.len());
        let mut references = Vec::new();
        let mut halted = false;
        for ((index, subscriber, outgoing), slot) in sends.into_iter().zip(slots) {
            let mut entry = batch.entries[index].clone();
            if halted {
                // The channel is paused: not sent, so it goes back to pending untouched.
                outcomes.push((index, entry));
                continue;
            }
            let before = self.clock.now();
            if slot > before {
                self.clock.sleep(slot - before);
            }
            // Another tick may have been told to stop (429) while this one waited for its slot.
            if pacing::paused_beyond(self.store, &campaign.channel, slot)? {
                halted = true;
                outcomes.push((index, entry));
                continue;
            }
            // Consent read more than a moment ago is judged again on the record as it is now.
            let (subscriber, outgoing) = if self.clock.now() - planned_at > CONSENT_MAX_AGE {
                let record: Option<StoredSubscriber> =
                    kv::get_json(self.store, &keys::subscriber(&subscriber.id))?;
                match self.plan(campaign, record.map(|r| r.subscriber)) {
                    Plan::Final(state) => {
                        outcomes.push((index, finalised(&entry, state, self.clock.now())));
                        continue;
                    }
                    Plan::Send {
                        subscriber,
                        outgoing,
                    } => (subscriber, outgoing),
                }
            } else {
                (subscriber, outgoing)
            };
            let answer = self
                .messenger
                .send(&campaign.channel, &subscriber.address, &outgoing);
            let now = self.clock.now();
            match answer {
                SendOutcome::Sent { message_id } => {
                    if !message_id.is_empty() {
                        references.push(SentMessageRef {
                            campaign_id: id.to_owned(),
                            subscriber: subscriber.id.clone(),
                            message_id: message_id.clone(),
                            batch: number,
                            sent_at: now,
                        });
                    }
                    entry = finalised(&entry, DeliveryState::Sent { message_id }, now);
                }
                SendOutcome::RateLimited {
                    retry_after_secs,
                    reason,
                } => {
                    // Platform data: clamped, so an absurd value can neither overflow the time nor stop
                    // the channel for good.
                    let retry_after = retry_after_secs.clamp(1, MAX_RETRY_AFTER_SECS);
                    let retry_after =
                        Duration::seconds(i64::try_from(retry_after).unwrap_or(i64::MAX));
                    let until = now.checked_add_signed(retry_after).unwrap_or(now);
                    pacing::pause_channel(self.store, &campaign.channel, until)?;
                    halted = true;
                    entry.rate_limited += 1;
                    if entry.rate_limited >= self.config.max_rate_limited {
                        entry = finalised(
                            &entry,
                            DeliveryState::Failed {
                                code: "429".into(),
                                reason,
                            },
                            now,
                        );
                    } else {
                        report.retried += 1;
                    }
                }
                SendOutcome::Transient { reason } => {
                    entry.attempts += 1;
                    if entry.attempts >= self.config.max_attempts {
                        let reason = format!("gave up after {} attempts: {reason}", entry.attempts);
                        entry = finalised(
                            &entry,
                            DeliveryState::Failed {
                                code: "transient".into(),
                                reason,
                            },
                            now,
                        );
                    } else {
                        report.retried += 1;
                        let factor = 1i32 << (entry.attempts - 1).min(16);
                        entry.not_before = Some(now + self.config.backoff_base * factor);
                    }
                }
                SendOutcome::RecipientGone { code, reason } => {
                    block(self.store, &subscriber.id, id, &code, &reason, now)?;
                    entry = finalised(&entry, DeliveryState::Blocked { code, reason }, now);
                }
                SendOutcome::Rejected { code, reason } if code == OUTSIDE_WINDOW => {
                    entry = finalised(
                        &entry,
                        DeliveryState::Skipped {
                            reason: format!("{code}: {reason}"),
                        },
                        now,
                    );
                }
                SendOutcome::Rejected { code, reason } => {
                    entry = finalised(&entry, DeliveryState::Failed { code, reason }, now);
                }
            }
            if entry.outcome == DeliveryState::InFlight {
                entry.outcome = DeliveryState::Pending;
            }
            outcomes.push((index, entry));
        }
        // References first: a crash right after leaves them for entries that end `outcome_unknown`,
        // which still attributes replies to messages that did go out.
        if !references.is_empty() {
            let platform = campaign.channel.platform();
            // Only platforms that send receipts need the message-id mapping; Telegram sends none, and
            // its message ids repeat across chats, so a mapping would only collide.
            let receipts = platform.sends_receipts();
            let mut entries = Vec::with_capacity(references.len() * 2);
            for reference in &references {
                let encoded = kv::encode(reference);
                if receipts {
                    entries.push((
                        keys::platform_message(platform.as_str(), &reference.message_id),
                        encoded.clone(),
                    ));
                }
                entries.push((keys::last_campaign_message(&reference.subscriber), encoded));
            }
            self.store.set_many(&entries)?;
            crate::feedback::credit_early_receipts(self.store, &references)?;
        }
        let now = self.clock.now();
        Ok(
            match self.write(id, number, &outcomes, now + self.config.lease, report)? {
                Some(written) => Chunk::Done(written),
                None => Chunk::LeaseLost,
            },
        )
    }

    /// Decide what to do with one recipient: skip, fail (render error) or send.
    fn plan(&self, campaign: &Campaign, subscriber: Option<Subscriber>) -> Plan {
        let Some(subscriber) = subscriber else {
            return Plan::Final(DeliveryState::Skipped {
                reason: "subscriber_erased".into(),
            });
        };
        if !subscriber.may_receive() {
            let reason = match subscriber.status {
                SubscriptionStatus::Blocked => "blocked",
                SubscriptionStatus::Unsubscribed | SubscriptionStatus::Subscribed => "unsubscribed",
            };
            return Plan::Final(DeliveryState::Skipped {
                reason: reason.into(),
            });
        }
        if subscriber.channel != campaign.channel {
            return Plan::Final(DeliveryState::Skipped {
                reason: "other_channel".into(),
            });
        }
        match self.renderer.render(&subscriber, campaign) {
            Ok(message) => {
                let outgoing = Outgoing {
                    campaign_id: campaign.id.to_string(),
                    message,
                    last_inbound_at: subscriber.last_inbound_at,
                };
                Plan::Send {
                    subscriber: Box::new(subscriber),
                    outgoing,
                }
            }
            Err(e) => Plan::Final(DeliveryState::Failed {
                code: e.code().to_owned(),
                reason: e.message().to_owned(),
            }),
        }
    }

    /// Write entry changes to the batch in one compare-and-swap, if this tick still owns it, renewing
    /// the lease; the entries that became final are added to the report (the campaign counters count
    /// them when the batch is closed). `None` when the lease was lost.
    fn write(
        &self,
        campaign_id: &str,
        number: u64,
        changes: &[(usize, DeliveryEntry)],
        lease_until: DateTime<Utc>,
        report: &mut BatchReport,
    ) -> Result<Option<DeliveryBatch>> {
        let owner = &self.config.owner;
        let written = kv::update_json(
            self.store,
            &keys::delivery_batch(campaign_id, number),
            |current: Option<DeliveryBatch>| {
                let Some(mut batch) = current else {
                    return Ok((None, None));
                };
                // Another tick took over after our lease lapsed: its view stands; ours is dropped.
                if batch.lease.as_ref().is_none_or(|l| &l.owner != owner) {
                    return Ok((None, None));
                }
                let mut newly_final = Vec::new();
                for (index, entry) in changes {
                    let Some(slot) = batch.entries.get_mut(*index) else {
                        continue;
                    };
                    // A final state is never overwritten, so no recipient is counted twice.
                    if slot.outcome.is_final() {
                        continue;
                    }
                    if entry.outcome.is_final() {
                        newly_final.push(entry.outcome.clone());
                    }
                    *slot = entry.clone();
                }
                batch.lease = Some(Lease {
                    owner: owner.clone(),
                    expires_at: lease_until,
                });
                Ok((Some(batch.clone()), Some((batch, newly_final))))
            },
        )?;
        let Some((batch, newly_final)) = written else {
            return Ok(None);
        };
        for state in &newly_final {
            report.tally(state);
        }
        Ok(Some(batch))
    }

    /// Bring the campaign counters up to the closed batches' totals (see `counters::sync_counters`).
    fn sync_counters(&self, campaign_id: &str) -> Result<bool> {
        counters::sync_counters(
            self.store,
            campaign_id,
            &self.config.owner,
            self.clock.now(),
            self.config.lease,
        )
    }

    fn release(&self, campaign_id: &str, number: u64) -> Result<()> {
        let owner = &self.config.owner;
        kv::update_json(
            self.store,
            &keys::delivery_batch(campaign_id, number),
            |current: Option<DeliveryBatch>| match current {
                Some(mut batch) if batch.lease.as_ref().is_some_and(|l| &l.owner == owner) => {
                    batch.lease = None;
                    Ok((Some(batch), ()))
                }
                _ => Ok((None, ())),
            },
        )
    }

    /// Mark the batch finished if this tick holds it and every entry is final, then close it and
    /// count it.
    fn finish(&self, campaign_id: &str, number: u64) -> Result<()> {
        let owner = &self.config.owner;
        let now = self.clock.now();
        let finished = kv::update_json(
            self.store,
            &keys::delivery_batch(campaign_id, number),
            |current: Option<DeliveryBatch>| match current {
                Some(batch) if batch.finished_at.is_some() => Ok((None, true)),
                Some(mut batch)
                    if batch.lease.as_ref().is_some_and(|l| &l.owner == owner)
                        && batch.open_entries() == 0 =>
                {
                    batch.lease = None;
                    batch.finished_at = Some(now);
                    Ok((Some(batch), true))
                }
                _ => Ok((None, false)),
            },
        )?;
        if finished {
            claim::close_batch(self.store, campaign_id, number)?;
            self.sync_counters(campaign_id)?;
        }
        Ok(())
    }
}

fn finalised(entry: &DeliveryEntry, state: DeliveryState, now: DateTime<Utc>) -> DeliveryEntry {
    DeliveryEntry {
        outcome: state,
        not_before: None,
        finished_at: Some(now),
        ..entry.clone()
    }
}

/// Record that the platform says the recipient blocked us (or is gone): status blocked, with evidence.
fn block<S: KvStore + ?Sized>(
    store: &S,
    id: &SubscriberId,
    campaign_id: &str,
    code: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    kv::update_json(
        store,
        &keys::subscriber(id),
        |current: Option<StoredSubscriber>| {
            let Some(mut stored) = current else {
                return Ok((None, ()));
            };
            if stored.subscriber.status == SubscriptionStatus::Blocked {
                return Ok((None, ()));
            }
            stored.subscriber.record_consent(ConsentEvent {
                action: ConsentAction::Blocked,
                at: now,
                source: format!("send:{code}"),
                evidence: format!("campaign {campaign_id}: {code} {reason}"),
            });
            Ok((Some(stored), ()))
        },
    )
}
