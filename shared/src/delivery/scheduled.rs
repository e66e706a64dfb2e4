//! Messages scheduled for one subscriber at a time (an event rule's order update or reminder): the
//! record, queueing it, cancelling it, and listing a subscriber's pending ones.
//!
//! A scheduled send is a one-recipient batch of a campaign-like record it carries (the rule's
//! statistics id, the chosen channel, the pinned template, the kind): when it is due, the sender
//! creates ledger batch `batch` under that id and sends it like any campaign batch, so the ledger,
//! pacing, the policy chain, receipts and statistics are the campaigns' own.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::campaign::Campaign;
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::{self, CasOutcome, KvStore};
use crate::subscriber::SubscriberId;

use super::due_index;
use super::ledger::DeliveryState;

/// The event a scheduled message answers, as its template sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventContext {
    /// The event name (`order.shipped`).
    pub name: String,
    /// The event's own key (an order or appointment number), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The event's data object.
    pub data: serde_json::Value,
}

/// Where a scheduled message stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ScheduledState {
    /// Waiting for its due time; it can still be cancelled.
    Queued,
    /// Its ledger batch exists: it is being sent and can no longer be cancelled.
    Sending,
    /// Cancelled before it was sent.
    Cancelled {
        /// When.
        at: DateTime<Utc>,
        /// Why (`cancelled_by:appointment.cancelled`, `api`).
        reason: String,
    },
    /// Its ledger entry reached a final state.
    Finished {
        /// That state.
        outcome: DeliveryState,
    },
}

impl ScheduledState {
    /// The lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            ScheduledState::Queued => "queued",
            ScheduledState::Sending => "sending",
            ScheduledState::Cancelled { .. } => "cancelled",
            ScheduledState::Finished { .. } => "finished",
        }
    }

    /// Whether nothing more happens to it.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            ScheduledState::Cancelled { .. } | ScheduledState::Finished { .. }
        )
    }
}

/// One message scheduled for one subscriber.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledSend {
    /// Its id, derived from what made it (an event's idempotency key and a rule), so making it twice
    /// finds the first one.
    pub id: String,
    /// The rule that made it.
    pub rule_id: String,
    /// The campaign-like record it is sent as: its id keys the ledger and the statistics.
    pub campaign: Campaign,
    /// The ledger batch number under the campaign id.
    pub batch: u64,
    /// The recipient.
    pub subscriber: SubscriberId,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// The event it answers.
    pub event: EventContext,
    /// Where it stands.
    #[serde(flatten)]
    pub state: ScheduledState,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// Queue `send`: its record, the subscriber's pending list, then its due bucket. Returns the record as
/// stored: `send` itself, or the one queued first under the same id (nothing else is written then, but
/// the lists are completed, in case the first writer stopped half way).
///
/// # Errors
/// Store failures.
pub fn enqueue<S: KvStore + ?Sized>(store: &S, send: &ScheduledSend) -> Result<ScheduledSend> {
    let key = keys::scheduled_send(&send.id);
    let stored = match store.compare_and_swap(&key, None, &kv::encode(send))? {
        CasOutcome::Swapped => send.clone(),
        CasOutcome::Conflict(_) => kv::get_json(store, &key)?.unwrap_or_else(|| send.clone()),
    };
    if stored.state.is_final() {
        return Ok(stored);
    }
    add_to_set(store, &keys::scheduled_of(&stored.subscriber), &stored.id)?;
    due_index::add(store, &stored.id, stored.due_at, send.created_at)?;
    Ok(stored)
}

/// One scheduled message.
///
/// # Errors
/// 404 `not_found`; store failures.
pub fn get<S: KvStore + ?Sized>(store: &S, id: &str) -> Result<ScheduledSend> {
    kv::get_json(store, &keys::scheduled_send(id))?
        .ok_or_else(|| Error::not_found("scheduled message", id))
}

/// How cancelling a scheduled message ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Cancellation {
    /// It will not be sent.
    Cancelled {
        /// The record as it is now.
        send: Box<ScheduledSend>,
    },
    /// It was already being sent, sent, or cancelled: nothing changed.
    TooLate {
        /// The record as it is now.
        send: Box<ScheduledSend>,
    },
}

/// Cancel scheduled message `id` if it is still queued.
///
/// # Errors
/// 404 `not_found` for an unknown id; store failures.
pub fn cancel<S: KvStore + ?Sized>(
    store: &S,
    id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Cancellation> {
    let outcome = kv::update_json(
        store,
        &keys::scheduled_send(id),
        |current: Option<ScheduledSend>| {
            let Some(mut send) = current else {
                return Ok((None, None));
            };
            if send.state != ScheduledState::Queued {
                return Ok((
                    None,
                    Some(Cancellation::TooLate {
                        send: Box::new(send),
                    }),
                ));
            }
            send.state = ScheduledState::Cancelled {
                at: now,
                reason: reason.to_owned(),
            };
            let answer = Cancellation::Cancelled {
                send: Box::new(send.clone()),
            };
            Ok((Some(send), Some(answer)))
        },
    )?;
    let outcome = outcome.ok_or_else(|| Error::not_found("scheduled message", id))?;
    if let Cancellation::Cancelled { send } = &outcome {
        remove_from_set(store, &keys::scheduled_of(&send.subscriber), &send.id)?;
    }
    Ok(outcome)
}

/// A subscriber's scheduled messages that are not finished (queued or being sent), by due time.
///
/// # Errors
/// Store failures.
pub fn pending_of<S: KvStore + ?Sized>(
    store: &S,
    subscriber: &SubscriberId,
) -> Result<Vec<ScheduledSend>> {
    let ids: BTreeSet<String> =
        kv::get_json(store, &keys::scheduled_of(subscriber))?.unwrap_or_default();
    let record_keys: Vec<String> = ids.iter().map(|id| keys::scheduled_send(id)).collect();
    let mut pending: Vec<ScheduledSend> = kv::get_many_json(store, &record_keys)?
        .into_iter()
        .flatten()
        .filter(|send: &ScheduledSend| !send.state.is_final())
        .collect();
    pending.sort_by(|a, b| a.due_at.cmp(&b.due_at).then_with(|| a.id.cmp(&b.id)));
    Ok(pending)
}

/// Erase what a subscriber's queued messages hold (the event data is personal data): each one still
/// queued is cancelled and its record deleted, then their pending list. A message already being sent
/// finishes as the ledger says (the sender finds an erased recipient and skips them).
///
/// # Errors
/// Store failures.
pub fn erase_of<S: KvStore + ?Sized>(
    store: &S,
    subscriber: &SubscriberId,
    now: DateTime<Utc>,
) -> Result<()> {
    for send in pending_of(store, subscriber)? {
        if let Cancellation::Cancelled { .. } = cancel(store, &send.id, "subscriber_erased", now)? {
            store.delete(&keys::scheduled_send(&send.id))?;
        }
    }
    store.delete(&keys::scheduled_of(subscriber))?;
    Ok(())
}

/// Record the final state of a sent message and take it off its subscriber's pending list.
///
/// # Errors
/// Store failures.
pub(super) fn finish<S: KvStore + ?Sized>(
    store: &S,
    send: &ScheduledSend,
    outcome: DeliveryState,
) -> Result<()> {
    kv::update_json(
        store,
        &keys::scheduled_send(&send.id),
        |current: Option<ScheduledSend>| match current {
            Some(mut stored) if !stored.state.is_final() => {
                stored.state = ScheduledState::Finished {
                    outcome: outcome.clone(),
                };
                Ok((Some(stored), ()))
            }
            _ => Ok((None, ())),
        },
    )?;
    remove_from_set(store, &keys::scheduled_of(&send.subscriber), &send.id)
}

/// Move a queued message to sending, unless it was cancelled meanwhile. Returns the record as it is
/// now.
///
/// # Errors
/// Store failures.
pub(super) fn start<S: KvStore + ?Sized>(store: &S, id: &str) -> Result<Option<ScheduledSend>> {
    kv::update_json(
        store,
        &keys::scheduled_send(id),
        |current: Option<ScheduledSend>| match current {
            Some(mut send) if send.state == ScheduledState::Queued => {
                send.state = ScheduledState::Sending;
                Ok((Some(send.clone()), Some(send)))
            }
            other => Ok((None, other)),
        },
    )
}

pub(super) fn add_to_set<S: KvStore + ?Sized>(store: &S, key: &str, id: &str) -> Result<()> {
    kv::update_json(store, key, |current: Option<BTreeSet<String>>| {
        let mut ids = current.unwrap_or_default();
        if !ids.insert(id.to_owned()) {
            return Ok((None, ()));
        }
        Ok((Some(ids), ()))
    })
}

pub(super) fn remove_from_set<S: KvStore + ?Sized>(store: &S, key: &str, id: &str) -> Result<()> {
    kv::update_json(store, key, |current: Option<BTreeSet<String>>| {
        let Some(mut ids) = current else {
            return Ok((None, ()));
        };
        if !ids.remove(id) {
            return Ok((None, ()));
        }
        Ok((Some(ids), ()))
    })
}
