//! Sending due scheduled messages: each is a one-recipient batch of its campaign-like record, created
//! under a ledger key fixed when it was queued, then worked on by the same [`Sender::process`] as any
//! campaign batch. Creating the batch is a compare-and-swap on that key, so two ticks that find the same
//! message due send it once; a tick that dies mid-send leaves the batch to be taken over like a
//! campaign's (an entry in flight ends `outcome_unknown`, never sent twice).

use std::cell::RefCell;
use std::collections::BTreeSet;

use crate::campaign::Campaign;
use crate::error::Result;
use crate::keys;
use crate::kv::{self, CasOutcome, KvStore};
use crate::message::RenderedMessage;
use crate::subscriber::Subscriber;

use super::claim::{self, Takeover};
use super::due_index;
use super::ledger::{Cursor, DeliveryBatch, DeliveryEntry};
use super::report::{BatchReport, Step, StopReason, TickReport};
use super::scheduled::{self, EventContext, ScheduledSend, ScheduledState};
use super::sender::Sender;
use super::MessageRenderer;

/// Renders a scheduled message with the event it answers.
struct WithEvent<'a> {
    renderer: &'a dyn MessageRenderer,
    event: &'a EventContext,
}

impl MessageRenderer for WithEvent<'_> {
    fn render(&self, subscriber: &Subscriber, campaign: &Campaign) -> Result<RenderedMessage> {
        self.renderer.render_event(subscriber, campaign, self.event)
    }

    fn render_event(
        &self,
        subscriber: &Subscriber,
        campaign: &Campaign,
        event: &EventContext,
    ) -> Result<RenderedMessage> {
        self.renderer.render_event(subscriber, campaign, event)
    }
}

impl<S: KvStore + ?Sized> Sender<'_, S> {
    /// Send every scheduled message that is due, then bring the counters of the rules that sent
    /// them up to date, once each (not once per message).
    pub(super) fn send_due(&self, report: &mut TickReport) -> Result<()> {
        let unsynced = RefCell::new(BTreeSet::new());
        let sender = Sender {
            unsynced: Some(&unsynced),
            ..*self
        };
        let sent = sender.send_due_minutes(report);
        for campaign_id in unsynced.into_inner() {
            self.sync_counters(&campaign_id)?;
        }
        sent
    }

    /// Send the due messages minute by minute from the due cursor, moving the cursor past what is
    /// finished once a minute has settled.
    fn send_due_minutes(&self, report: &mut TickReport) -> Result<()> {
        let now = self.clock.now();
        let mut settling = true;
        for due in due_index::due_minutes(self.store, now)? {
            let record_keys: Vec<String> = due
                .entries
                .iter()
                .map(|(_, id)| keys::scheduled_send(id))
                .collect();
            let sends: Vec<Option<ScheduledSend>> = kv::get_many_json(self.store, &record_keys)?;
            let mut first_unfinished = None;
            for ((position, _), send) in due.entries.iter().zip(sends) {
                // A record is written before its index entry, so a missing one was deleted.
                let Some(send) = send else { continue };
                let finished = if send.state.is_final() {
                    true
                } else if send.due_at > self.clock.now() || self.clock.now() >= self.config.deadline
                {
                    false
                } else {
                    self.send_one(send, report)?
                };
                if !finished && first_unfinished.is_none() {
                    first_unfinished = Some(*position);
                }
            }
            // The cursor stops at the first minute with work left (or not yet settled); the minutes
            // after it are sent all the same.
            settling =
                settling && due_index::settle(self.store, due.minute, first_unfinished, now)?;
        }
        Ok(())
    }

    /// Send one due message. `true` when it is finished (sent, failed, skipped or cancelled).
    fn send_one(&self, send: ScheduledSend, report: &mut TickReport) -> Result<bool> {
        let send = match send.state {
            ScheduledState::Queued => match scheduled::start(self.store, &send.id)? {
                Some(started) if started.state == ScheduledState::Sending => started,
                Some(other) => return Ok(other.state.is_final()),
                None => return Ok(true),
            },
            _ => send,
        };
        let campaign = &send.campaign;
        let id = campaign.id.as_str();
        let now = self.clock.now();
        let lease = self.lease(now + self.config.lease);
        let key = keys::delivery_batch(id, send.batch);
        let fresh = DeliveryBatch {
            campaign_id: id.to_owned(),
            batch: send.batch,
            from_position: 0,
            to_position: 0,
            scanned: 0,
            exhausted_after: false,
            entries: vec![DeliveryEntry::pending(send.subscriber.clone())],
            lease: Some(lease.clone()),
            created_at: now,
            finished_at: None,
        };
        let encoded = kv::encode(&fresh);
        let (batch, mut batch_report) = match self.store.compare_and_swap(&key, None, &encoded)? {
            CasOutcome::Swapped => {
                // Its first write expects these bytes instead of reading the record.
                self.stored.remember(key.clone(), encoded);
                (fresh, BatchReport::new(id, send.batch, false))
            }
            CasOutcome::Conflict(_) => {
                match claim::take_over(self.store, id, send.batch, &lease, now, false)? {
                    Takeover::Taken { batch, finalised } => {
                        let resumed = BatchReport::taken_over(id, &batch, &finalised);
                        (batch, resumed)
                    }
                    Takeover::Finished => return self.settle(&send),
                    Takeover::Busy => return Ok(false),
                }
            }
        };
        // Only the holder of the lease opens the batch, so a batch already closed is never reopened.
        open_batch(self.store, id, send.batch)?;
        let renderer = WithEvent {
            renderer: self.renderer,
            event: &send.event,
        };
        let sender = Sender {
            renderer: &renderer,
            campaign_in_store: false,
            ..*self
        };
        batch_report = sender.process(campaign, batch, batch_report)?;
        let finished = batch_report.stopped == StopReason::Finished;
        report.count(&batch_report);
        report.steps.push(Step::Batch(batch_report));
        if finished {
            // This tick finished the batch, closed and counted it: its finishing write, remembered
            // unless the batch was found finished already, holds the outcome.
            let batch = match self.stored.at(&key) {
                Some(bytes) => Some(kv::decode(&key, &bytes)?),
                None => kv::get_json(self.store, &key)?,
            };
            return self.record_outcome(&send, batch);
        }
        Ok(false)
    }

    /// Count a batch another tick finished (it may have died before closing it) and record its
    /// outcome on the scheduled message.
    fn settle(&self, send: &ScheduledSend) -> Result<bool> {
        let id = send.campaign.id.as_str();
        let batch = claim::close_batch(self.store, id, send.batch)?;
        self.counters_changed(id)?;
        self.record_outcome(send, batch)
    }

    /// Record the outcome of the finished one-message `batch` on its scheduled message.
    fn record_outcome(&self, send: &ScheduledSend, batch: Option<DeliveryBatch>) -> Result<bool> {
        let Some(outcome) = batch.and_then(|b| b.entries.into_iter().next()) else {
            return Ok(false);
        };
        scheduled::finish(self.store, send, outcome.outcome)?;
        Ok(true)
    }
}

/// Add batch `number` to the open set of its campaign-like record's cursor, so closing it counts it in
/// the statistics exactly once.
fn open_batch<S: KvStore + ?Sized>(store: &S, campaign_id: &str, number: u64) -> Result<()> {
    kv::update_json(
        store,
        &keys::campaign_cursor(campaign_id),
        |current: Option<Cursor>| {
            let mut cursor = current.unwrap_or_default();
            if !cursor.open_batches.insert(number) {
                return Ok((None, ()));
            }
            cursor.claimed += 1;
            Ok((Some(cursor), ()))
        },
    )
}
