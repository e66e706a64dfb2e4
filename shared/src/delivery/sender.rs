//! The sending step ([`send_next_batch`]) and the tick loop around it ([`run_tick`]).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use crate::campaign::{self, Campaign, CampaignState, Transition};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::messenger::Messenger;

use super::chunk::Chunk;
use super::claim::{self, Takeover};
use super::config::SenderConfig;
use super::counters;
use super::ledger::{DeliveryBatch, DeliveryEntry, DeliveryState, Lease};
use super::outcome::finalised;
use super::report::{BatchReport, Step, StopReason, TickReport};
use super::runs;
use super::{MessageRenderer, Outgoing};

/// Run steps until nothing is due or the deadline passes.
///
/// # Errors
/// A store failure; work already done is recorded in the ledger and the leases lapse.
pub fn run_tick<S: KvStore + ?Sized>(
    store: &S,
    messenger: &dyn Messenger<Message = Outgoing>,
    renderer: &dyn MessageRenderer,
    clock: &dyn Clock,
    config: &SenderConfig,
) -> Result<TickReport> {
    let mut report = TickReport::default();
    let mut config = config.clone();
    // Campaigns whose channel has no send slot left within the budget (paused by a 429, or its queue
    // full): taking their batch again would only rewrite its lease until the deadline.
    let mut out_of_slots = BTreeSet::new();
    let stored = StoredBatch::default();
    // Messages scheduled for one subscriber (event rules) go ahead of broadcasts on every channel.
    Sender::new(store, messenger, renderer, clock, &config, &stored).send_due(&mut report)?;
    // Each step works on at most one batch, so this bound only guards against a bug looping in place.
    for _ in 0..10_000 {
        if clock.now() >= config.deadline {
            report.budget_spent = true;
            break;
        }
        let sender = Sender::new(store, messenger, renderer, clock, &config, &stored);
        let step = sender.next_step(&out_of_slots)?;
        if step == Step::NothingDue {
            break;
        }
        if let Step::Batch(batch) = &step {
            report.count(batch);
            if batch.stopped == StopReason::Deadline {
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
pub fn send_next_batch<S: KvStore + ?Sized>(
    store: &S,
    messenger: &dyn Messenger<Message = Outgoing>,
    renderer: &dyn MessageRenderer,
    clock: &dyn Clock,
    config: &SenderConfig,
) -> Result<Step> {
    let stored = StoredBatch::default();
    Sender::new(store, messenger, renderer, clock, config, &stored).next_step(&BTreeSet::new())
}

/// How often a batch being worked on reads its campaign again, so a pause or cancel takes effect: at
/// most once a second, not once per chunk.
pub(super) const CAMPAIGN_RECHECK: Duration = Duration::seconds(1);

/// The batch record as this tick last wrote it: its next compare-and-swap expects these bytes instead
/// of reading the record first (a read saved per write; another writer only costs a retry).
#[derive(Default)]
pub(super) struct StoredBatch(RefCell<Option<(String, Vec<u8>)>>);

impl StoredBatch {
    /// The bytes last written at `key`, if that is the record remembered.
    pub(super) fn at(&self, key: &str) -> Option<Vec<u8>> {
        self.0
            .borrow()
            .as_ref()
            .filter(|(known, _)| known == key)
            .map(|(_, bytes)| bytes.clone())
    }

    pub(super) fn remember(&self, key: String, bytes: Vec<u8>) {
        *self.0.borrow_mut() = Some((key, bytes));
    }

    fn forget(&self) {
        self.0.borrow_mut().take();
    }
}

/// One step's view of the world: the store, the platforms, the renderer, the time and the limits.
/// Only the store is a type parameter (callers hold it behind generic references); the other ports
/// are called a few times per message, where dynamic dispatch costs nothing next to the request.
pub(super) struct Sender<'a, S: ?Sized> {
    pub(super) store: &'a S,
    pub(super) messenger: &'a dyn Messenger<Message = Outgoing>,
    pub(super) renderer: &'a dyn MessageRenderer,
    pub(super) clock: &'a dyn Clock,
    pub(super) config: &'a SenderConfig,
    /// Whether the campaign is a stored record, read again between chunks so a pause or cancel takes
    /// effect; a scheduled message carries its campaign-like record instead.
    pub(super) campaign_in_store: bool,
    /// The batch record as last written, to write it again without reading it first.
    pub(super) stored: &'a StoredBatch,
    /// Where a batch closed now leaves its campaign's counters to be brought up to date once, after
    /// a run of one-message batches (scheduled messages), instead of after each; `None`: at once.
    pub(super) unsynced: Option<&'a RefCell<BTreeSet<String>>>,
}

impl<'a, S: KvStore + ?Sized> Sender<'a, S> {
    /// A step's view of stored campaigns.
    fn new(
        store: &'a S,
        messenger: &'a dyn Messenger<Message = Outgoing>,
        renderer: &'a dyn MessageRenderer,
        clock: &'a dyn Clock,
        config: &'a SenderConfig,
        stored: &'a StoredBatch,
    ) -> Self {
        Sender {
            store,
            messenger,
            renderer,
            clock,
            config,
            campaign_in_store: true,
            stored,
            unsynced: None,
        }
    }
}

impl<S: KvStore + ?Sized> Sender<'_, S> {
    /// [`send_next_batch`], passing over the campaigns in `skip`.
    fn next_step(&self, skip: &BTreeSet<String>) -> Result<Step> {
        let ids = campaign::active_ids(self.store)?;
        if ids.is_empty() {
            return Ok(Step::NothingDue);
        }
        let start = self.config.rotation % ids.len();
        for id in ids[start..].iter().chain(&ids[..start]) {
            if skip.contains(id) {
                continue;
            }
            if let Some(step) = self.step_campaign(id)? {
                return Ok(step);
            }
        }
        Ok(Step::NothingDue)
    }

    pub(super) fn lease(&self, until: DateTime<Utc>) -> Lease {
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
        // A recurring campaign's current run keeps its own ledger.
        let ledger = campaign.ledger_id();
        let cancelled = campaign.state == CampaignState::Cancelled;
        let cursor = claim::cursor(self.store, &ledger)?;
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
                self.config.batch_size_on(campaign.channel.platform()),
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
            claim::adopt_orphan(self.store, &ledger)?;
        }
        let cursor = claim::cursor(self.store, &ledger)?;
        // The claim may have found (and opened) a batch whose creator died before moving the cursor.
        if let Some(report) = self.resume_open(campaign, &cursor.open_batches, now)? {
            return Ok(Some(Step::Batch(report)));
        }
        if !cursor.open_batches.is_empty() || !(cursor.exhausted || cancelled) {
            return Ok(None);
        }
        self.close(campaign, cancelled, now)
    }

    /// Take a campaign with no batch left open out of the active set, completing it unless it was
    /// cancelled. It leaves only with its counters complete: no tick looks at it after. A recurring
    /// campaign's run ends instead: its totals join the campaign's, and the campaign waits for its
    /// next run (or, cancelled, leaves the active set).
    fn close(
        &self,
        campaign: &Campaign,
        cancelled: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Step>> {
        let id = campaign.id.as_str();
        let ledger = campaign.ledger_id();
        if !self.sync_counters(&ledger)? {
            return Ok(None);
        }
        let recurring = campaign.recurrence().is_some();
        if recurring {
            if campaign.started_at.is_some() {
                runs::end_run(self.store, campaign, now)?;
            }
            if !self.sync_counters(id)? {
                return Ok(None);
            }
        }
        if cancelled {
            campaign::remove_active(self.store, id)?;
            return Ok(None);
        }
        let changed = campaign::change(self.store, id, |c| {
            if !recurring {
                return c.transition(Transition::Complete, now);
            }
            // Another tick may have moved on to the next run already.
            if c.ledger_id() != ledger {
                return Err(Error::conflict("invalid_transition", "the run has ended"));
            }
            c.schedule_next_run(now)
        });
        match changed {
            Ok(_) if recurring => Ok(Some(Step::RunEnded {
                campaign_id: id.to_owned(),
                run: ledger,
            })),
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
        let ledger = campaign.ledger_id();
        let cancelled = campaign.state == CampaignState::Cancelled;
        let lease = self.lease(now + self.config.lease);
        for &number in open {
            match claim::take_over(self.store, &ledger, number, &lease, now, cancelled)? {
                Takeover::Taken { batch, finalised } => {
                    let report = BatchReport::taken_over(id, &batch, &finalised);
                    // A message whose answer was lost may have gone out: a recurring campaign counts
                    // it as sent for its once-per-days, so nobody gets a second copy too soon.
                    let unknown = finalised.iter().map(|&i| &batch.entries[i]);
                    runs::mark_sent(
                        self.store,
                        campaign,
                        unknown.map(|e| (&e.subscriber, e.finished_at.unwrap_or(now))),
                    )?;
                    return self.process(campaign, batch, report).map(Some);
                }
                Takeover::Finished => {
                    claim::close_batch(self.store, &ledger, number)?;
                    self.sync_counters(&ledger)?;
                }
                Takeover::Busy => {}
            }
        }
        Ok(None)
    }

    /// Work on a batch this tick holds the lease of, until it is finished or work on it must stop.
    pub(super) fn process(
        &self,
        campaign: &Campaign,
        mut batch: DeliveryBatch,
        mut report: BatchReport,
    ) -> Result<BatchReport> {
        let mut current = Cow::Borrowed(campaign);
        let mut checked_at = None;
        report.stopped = loop {
            if let Some(stopped) =
                self.advance(&mut current, &mut checked_at, &mut batch, &mut report)?
            {
                break stopped;
            }
        };
        report.remaining = batch.open_entries();
        Ok(report)
    }

    /// One round of work on a held batch: a chunk sent, or a wait for a backoff. `Some` when work on
    /// the batch stops, and why.
    fn advance(
        &self,
        current: &mut Cow<'_, Campaign>,
        checked_at: &mut Option<DateTime<Utc>>,
        batch: &mut DeliveryBatch,
        report: &mut BatchReport,
    ) -> Result<Option<StopReason>> {
        let ledger = current.ledger_id();
        let id = ledger.as_str();
        let number = batch.batch;
        if batch.finished_at.is_some() {
            // The write of its last outcomes finished it.
            self.close_batch(id, batch)?;
            return Ok(Some(StopReason::Finished));
        }
        let now = self.clock.now();
        if now >= self.config.deadline {
            return self.stop(id, number, StopReason::Deadline);
        }
        // Read again at most every second (and before the first chunk): a pause or cancel takes effect
        // between chunks.
        let due = checked_at.is_none_or(|at| now - at >= CAMPAIGN_RECHECK);
        if self.campaign_in_store && due {
            *current = Cow::Owned(campaign::get(self.store, current.id.as_str())?);
            *checked_at = Some(now);
        }
        let current: &Campaign = current;
        if current.ledger_id() != ledger {
            // The run this batch belongs to has ended.
            return self.stop(id, number, StopReason::Paused);
        }
        match current.state {
            CampaignState::Running => {}
            CampaignState::Cancelled => return self.cancel_open(id, batch, report, now).map(Some),
            _ => return self.stop(id, number, StopReason::Paused),
        }
        let chunk: Vec<usize> = batch
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_ready(now))
            .map(|(i, _)| i)
            .take(self.config.chunk_size_on(current.channel.platform()))
            .collect();
        if chunk.is_empty() {
            return self.wait_or_stop(id, batch, now);
        }
        match self.send_chunk(current, batch, &chunk, checked_at, report)? {
            Chunk::Done(written) => {
                *batch = written;
                Ok(None)
            }
            Chunk::NoSlot(written) => {
                // The channel's next free slot (or its pause) lies beyond this tick's budget.
                *batch = written;
                self.stop(id, number, StopReason::Deadline)
            }
            Chunk::LeaseLost => Ok(Some(StopReason::LeaseLost)),
        }
    }

    /// Nothing is ready now: finish a batch whose entries are all final, sleep until the earliest
    /// backoff ends if that is within the budget, or stop and leave the rest to a later tick.
    fn wait_or_stop(
        &self,
        id: &str,
        batch: &DeliveryBatch,
        now: DateTime<Utc>,
    ) -> Result<Option<StopReason>> {
        if batch.open_entries() == 0 {
            let finished = self.finish(id, batch.batch)?;
            return Ok(Some(if finished {
                StopReason::Finished
            } else {
                StopReason::LeaseLost
            }));
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
                Ok(None)
            }
            _ => self.stop(id, batch.batch, StopReason::Deferred),
        }
    }

    /// Release the batch to a later tick and stop work on it for `reason`.
    fn stop(&self, id: &str, number: u64, reason: StopReason) -> Result<Option<StopReason>> {
        self.release(id, number)?;
        Ok(Some(reason))
    }

    /// Skip every open entry of a cancelled campaign's batch, then finish the batch.
    fn cancel_open(
        &self,
        id: &str,
        batch: &mut DeliveryBatch,
        report: &mut BatchReport,
        now: DateTime<Utc>,
    ) -> Result<StopReason> {
        let cancelled = DeliveryState::Skipped {
            reason: "campaign_cancelled".into(),
        };
        let changes: Vec<(usize, DeliveryEntry)> = batch
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.outcome.is_final())
            .map(|(i, e)| (i, finalised(e, cancelled.clone(), now)))
            .collect();
        let number = batch.batch;
        match self.write(id, number, &changes, now + self.config.lease, report)? {
            Some(written) => {
                // Every entry is final now, so the write finished the batch.
                if written.finished_at.is_some() {
                    self.close_batch(id, &written)?;
                } else {
                    self.finish(id, number)?;
                }
                *batch = written;
                Ok(StopReason::Cancelled)
            }
            None => Ok(StopReason::LeaseLost),
        }
    }

    /// Write entry changes to the batch in one compare-and-swap, if this tick still owns it, renewing
    /// the lease, or finishing the batch when every entry is final; the entries that became final are
    /// added to the report (the campaign counters count them when the batch is closed). `None` when
    /// the lease was lost.
    pub(super) fn write(
        &self,
        campaign_id: &str,
        number: u64,
        changes: &[(usize, DeliveryEntry)],
        lease_until: DateTime<Utc>,
        report: &mut BatchReport,
    ) -> Result<Option<DeliveryBatch>> {
        let owner = &self.config.owner;
        let now = self.clock.now();
        let key = keys::delivery_batch(campaign_id, number);
        let written = self.update_batch(&key, |current| {
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
            if batch.open_entries() == 0 {
                // The last outcomes finish the batch in the same write (it is closed next).
                batch.finish(now);
            } else {
                batch.lease = Some(Lease {
                    owner: owner.clone(),
                    expires_at: lease_until,
                });
            }
            Ok((Some(batch.clone()), Some((batch, newly_final))))
        })?;
        let Some((batch, newly_final)) = written else {
            return Ok(None);
        };
        for state in &newly_final {
            report.tally(state);
        }
        Ok(Some(batch))
    }

    /// Bring the campaign counters up to the closed batches' totals (see `counters::sync_counters`).
    pub(super) fn sync_counters(&self, campaign_id: &str) -> Result<bool> {
        counters::sync_counters(
            self.store,
            campaign_id,
            &self.config.owner,
            self.clock.now(),
            self.config.lease,
        )
    }

    /// A batch of `campaign_id` was closed: bring its counters up to date, now or (see
    /// [`Sender::unsynced`]) once at the end of the run.
    pub(super) fn counters_changed(&self, campaign_id: &str) -> Result<()> {
        match self.unsynced {
            Some(unsynced) => {
                unsynced.borrow_mut().insert(campaign_id.to_owned());
                Ok(())
            }
            None => self.sync_counters(campaign_id).map(drop),
        }
    }

    fn release(&self, campaign_id: &str, number: u64) -> Result<()> {
        let owner = &self.config.owner;
        let key = keys::delivery_batch(campaign_id, number);
        self.update_batch(&key, |current| match current {
            Some(mut batch) if batch.lease.as_ref().is_some_and(|l| &l.owner == owner) => {
                batch.lease = None;
                Ok((Some(batch), ()))
            }
            _ => Ok((None, ())),
        })
    }

    /// Read-modify-write the batch record at `key` by compare-and-swap, expecting the bytes this tick
    /// last wrote there when it knows them (no read first), and remembering what it writes.
    fn update_batch<T>(
        &self,
        key: &str,
        mut change: impl FnMut(Option<DeliveryBatch>) -> Result<(Option<DeliveryBatch>, T)>,
    ) -> Result<T> {
        let mut change = |bytes: Option<&[u8]>| {
            let current = bytes
                .map(|b| kv::decode::<DeliveryBatch>(key, b))
                .transpose()?;
            let (new, result) = change(current)?;
            let encoded = new.map(|batch| kv::encode(&batch));
            Ok((encoded.clone(), (result, encoded)))
        };
        let known = self.stored.at(key);
        self.stored.forget();
        if let Some(bytes) = known {
            let (result, written) = kv::update_from(self.store, key, Some(bytes), &mut change)?;
            if let Some(bytes) = written {
                self.stored.remember(key.to_owned(), bytes);
                return Ok(result);
            }
            // Nothing to write on the bytes we know, which another step may have replaced since
            // (a take-over writes the record too): decide on the record as it is.
        }
        let (result, written) = kv::update(self.store, key, &mut change)?;
        if let Some(bytes) = written {
            self.stored.remember(key.to_owned(), bytes);
        }
        Ok(result)
    }

    /// Mark the batch finished if this tick holds it and every entry is final, then close it and
    /// count it. `false` when it is not finished and this tick no longer holds it.
    fn finish(&self, campaign_id: &str, number: u64) -> Result<bool> {
        let owner = &self.config.owner;
        let now = self.clock.now();
        let key = keys::delivery_batch(campaign_id, number);
        let finished = self.update_batch(&key, |current| match current {
            Some(batch) if batch.finished_at.is_some() => Ok((None, Some(batch))),
            Some(mut batch)
                if batch.lease.as_ref().is_some_and(|l| &l.owner == owner)
                    && batch.open_entries() == 0 =>
            {
                batch.finish(now);
                Ok((Some(batch.clone()), Some(batch)))
            }
            _ => Ok((None, None)),
        })?;
        let Some(finished) = finished else {
            return Ok(false);
        };
        self.close_batch(campaign_id, &finished)?;
        Ok(true)
    }

    /// Close a finished batch and count it.
    fn close_batch(&self, campaign_id: &str, finished: &DeliveryBatch) -> Result<()> {
        claim::close_finished(self.store, campaign_id, finished)?;
        self.counters_changed(campaign_id)
    }
}
