//! The event intake: validate an event, answer a repeated idempotency key with its first answer, and
//! otherwise let every enabled rule on the event queue its message (or say why not) and every rule
//! the event cancels drop its pending messages with the same event key.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::answer::{EventAnswer, RuleAnswer, RuleResult};
use super::idempotency::{self, Reservation};
use super::keyword_precedence::rules_answering;
use super::rule::{EventName, Rule};
use super::rules::{self, Rules};
use super::timing::Due;
use super::triggers::BUILT_IN_EVENTS;
use crate::campaign::{Audience, Campaign, CampaignState, MessageKind, QuietHoursSetting};
use crate::delivery::scheduled::{self, Cancellation, EventContext, ScheduledSend, ScheduledState};
use crate::directory::{self, ExternalId, StoredSubscriber};
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::{Subscriber, SubscriberId, SubscriptionStatus};
use crate::template;

/// The most events in one request.
pub const MAX_EVENTS_PER_REQUEST: usize = 100;
/// The body limit of `POST /api/v1/events`.
pub const EVENTS_BODY_LIMIT: usize = 1024 * 1024;
/// The most bytes of one event's `data` (as JSON).
pub const MAX_EVENT_DATA_BYTES: usize = 16 * 1024;
/// The longest idempotency key or event key.
pub const MAX_KEY_CHARS: usize = 200;

/// One event as received.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingEvent {
    /// The event name (`order.shipped`).
    pub name: String,
    /// The subscriber it concerns (or give `external_id`).
    pub subscriber_id: Option<String>,
    /// The business's customer id it concerns: every subscriber carrying it is a candidate.
    pub external_id: Option<String>,
    /// The event's own key (an order or appointment number): a cancelling event with the same key
    /// cancels the pending messages this one queued.
    pub key: Option<String>,
    /// Data templates see as `event.data`.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    /// The same key again returns the first answer and does nothing.
    pub idempotency_key: String,
}

/// `POST /api/v1/events`'s body: one event, or `{"events": [...]}`.
#[derive(Debug, Clone)]
pub enum EventsRequest {
    /// One event, answered as one answer.
    One(IncomingEvent),
    /// Several, answered as `{"answers": [...]}` in order.
    Batch(Vec<IncomingEvent>),
}

impl EventsRequest {
    /// Read the body.
    ///
    /// # Errors
    /// 400 `invalid_json` / `invalid_event` saying what to fix, `too_many_events` above the limit.
    pub fn parse(body: serde_json::Value) -> Result<Self> {
        let invalid = |e: serde_json::Error| Error::invalid("invalid_event", e.to_string());
        let batch = body
            .as_object()
            .filter(|o| o.contains_key("events"))
            .map(|o| o.len() == 1);
        match batch {
            Some(true) => {
                let events: Vec<IncomingEvent> =
                    serde_json::from_value(body["events"].clone()).map_err(invalid)?;
                if events.is_empty() || events.len() > MAX_EVENTS_PER_REQUEST {
                    return Err(Error::invalid(
                        "too_many_events",
                        format!(
                            "events holds 1-{MAX_EVENTS_PER_REQUEST} events; split larger batches"
                        ),
                    ));
                }
                Ok(EventsRequest::Batch(events))
            }
            Some(false) => Err(Error::invalid(
                "invalid_event",
                "a batch is {\"events\": [...]} with no other field",
            )),
            None => Ok(EventsRequest::One(
                serde_json::from_value(body).map_err(invalid)?,
            )),
        }
    }
}

/// Whom an event concerns.
pub(super) enum Customer {
    /// One subscriber.
    Subscriber(SubscriberId),
    /// Every subscriber carrying the business's customer id.
    External(ExternalId),
}

impl Customer {
    fn as_str(&self) -> &str {
        match self {
            Customer::Subscriber(id) => id.as_str(),
            Customer::External(id) => id.as_str(),
        }
    }

    /// The customer's subscriber records (none when unknown).
    fn subscribers<S: KvStore + ?Sized>(&self, store: &S) -> Result<Vec<Subscriber>> {
        match self {
            Customer::Subscriber(id) => {
                let record: Option<StoredSubscriber> = kv::get_json(store, &keys::subscriber(id))?;
                Ok(record.into_iter().map(|r| r.subscriber).collect())
            }
            Customer::External(id) => directory::records_of(store, id),
        }
    }
}

/// An event that passed validation (or a built-in one, made by Spinpost itself).
pub(super) struct Event {
    pub(super) name: EventName,
    pub(super) customer: Customer,
    pub(super) key: Option<String>,
    pub(super) data: serde_json::Value,
    pub(super) idempotency_key: String,
}

impl IncomingEvent {
    fn validate(self) -> Result<Event> {
        let name = EventName::parse(&self.name)?;
        if BUILT_IN_EVENTS.contains(&name.as_str()) {
            return Err(Error::invalid(
                "built_in_event",
                format!("'{name}' is emitted by Spinpost itself when a person subscribes or writes; post your own events under other names"),
            ));
        }
        let customer =
            match (self.subscriber_id.as_deref(), self.external_id.as_deref()) {
                (Some(id), None) => Customer::Subscriber(SubscriberId::parse(id)?),
                (None, Some(id)) => Customer::External(ExternalId::parse(id)?),
                _ => return Err(Error::invalid(
                    "invalid_event",
                    "give exactly one of subscriber_id and external_id: whom the event concerns",
                )),
            };
        let key_ok = |k: &str| !k.trim().is_empty() && k.chars().count() <= MAX_KEY_CHARS;
        if !key_ok(&self.idempotency_key) {
            return Err(Error::invalid(
                "invalid_idempotency_key",
                format!("idempotency_key is 1-{MAX_KEY_CHARS} characters, unique per event (e.g. order-4711-shipped)"),
            ));
        }
        if self.key.as_deref().is_some_and(|k| !key_ok(k)) {
            return Err(Error::invalid(
                "invalid_event_key",
                format!("key is 1-{MAX_KEY_CHARS} characters"),
            ));
        }
        let data = self
            .data
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()));
        if !data.is_object() {
            return Err(Error::invalid(
                "invalid_event_data",
                "data must be a JSON object",
            ));
        }
        if serde_json::to_vec(&data).map_or(0, |b| b.len()) > MAX_EVENT_DATA_BYTES {
            return Err(Error::invalid(
                "invalid_event_data",
                format!("data is at most {MAX_EVENT_DATA_BYTES} bytes of JSON"),
            ));
        }
        Ok(Event {
            name,
            customer,
            key: self.key,
            data,
            idempotency_key: self.idempotency_key,
        })
    }
}

impl Event {
    /// A hash of everything the event says, keys sorted, so the same event sent again matches.
    fn body_hash(&self) -> String {
        let mut canonical = String::new();
        let customer = match &self.customer {
            Customer::Subscriber(_) => "subscriber_id",
            Customer::External(_) => "external_id",
        };
        for part in [
            self.name.as_str(),
            customer,
            self.customer.as_str(),
            self.key.as_deref().unwrap_or("\u{0}"),
            &self.idempotency_key,
        ] {
            canonical.push_str(&serde_json::Value::from(part).to_string());
            canonical.push('\n');
        }
        write_sorted(&self.data, &mut canonical);
        idempotency::hash(&canonical)
    }
}

/// `value` as JSON with object keys in order, whatever order the parser kept.
fn write_sorted(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(fields) => {
            let sorted: BTreeMap<&String, &serde_json::Value> = fields.iter().collect();
            out.push('{');
            for (i, (name, field)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::from(name.as_str()).to_string());
                out.push(':');
                write_sorted(field, out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Receive events: every one is validated before any is acted on (a batch with an invalid event is
/// refused whole, naming it), then each is answered in order.
///
/// # Errors
/// 400 for an invalid event (`events[3]: ...` in a batch), 422 `idempotency_key_reused`; store
/// failures.
pub fn receive<S: KvStore + ?Sized>(
    store: &S,
    events: Vec<IncomingEvent>,
    now: DateTime<Utc>,
) -> Result<Vec<EventAnswer>> {
    let batch = events.len() > 1;
    let events = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            event.validate().map_err(|e| {
                if batch {
                    Error::invalid(e.code().to_owned(), format!("events[{i}]: {}", e.message()))
                } else {
                    e
                }
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let rules = rules::all(store)?;
    events
        .into_iter()
        .map(|event| receive_one(store, &rules, event, now))
        .collect()
}

pub(super) fn receive_one<S: KvStore + ?Sized>(
    store: &S,
    rules: &Rules,
    event: Event,
    now: DateTime<Utc>,
) -> Result<EventAnswer> {
    let key_hash = idempotency::hash(&event.idempotency_key);
    let body_hash = event.body_hash();
    if let Reservation::Answered(first) = idempotency::reserve(store, &key_hash, &body_hash, now)? {
        return Ok(first);
    }
    let subscribers = event.customer.subscribers(store)?;
    let mut answers = Vec::new();
    for rule in rules_answering(
        rules.values(),
        &event.name,
        &event.data,
        subscribers.first(),
    ) {
        let result = queue(store, rule, &event, &key_hash, &subscribers, now)?;
        answers.push(RuleAnswer {
            rule_id: rule.id.to_string(),
            result,
        });
    }
    for rule in rules
        .values()
        .filter(|r| r.cancelled_by.contains(&event.name))
    {
        let cancelled = cancel_pending(store, rule, &event, &subscribers, now)?;
        answers.push(RuleAnswer {
            rule_id: rule.id.to_string(),
            result: RuleResult::Cancelled { cancelled },
        });
    }
    let answer = EventAnswer {
        name: event.name.to_string(),
        idempotency_key: event.idempotency_key,
        subscriber_id: match &event.customer {
            Customer::Subscriber(id) => Some(id.to_string()),
            Customer::External(_) => None,
        },
        external_id: match &event.customer {
            Customer::External(id) => Some(id.to_string()),
            Customer::Subscriber(_) => None,
        },
        rules: answers,
    };
    idempotency::keep(store, &key_hash, &body_hash, answer, now)
}

fn skipped(reason: &str) -> RuleResult {
    RuleResult::Skipped {
        reason: reason.to_owned(),
    }
}

/// The customer's subscriber on the first of the rule's channels where they are consented, or why
/// there is none.
fn choose<'a>(
    rule: &Rule,
    subscribers: &'a [Subscriber],
) -> std::result::Result<&'a Subscriber, &'static str> {
    for channel in &rule.channels {
        if let Some(found) = subscribers
            .iter()
            .find(|s| &s.channel == channel && s.may_receive())
        {
            return Ok(found);
        }
    }
    if subscribers.is_empty() {
        return Err("no_subscriber");
    }
    let on_rule_channels = subscribers
        .iter()
        .find(|s| rule.channels.contains(&s.channel));
    Err(match on_rule_channels.map(|s| s.status) {
        Some(SubscriptionStatus::Blocked) => "blocked",
        Some(_) => "unsubscribed",
        None => "no_consented_channel",
    })
}

/// Queue the rule's message for the event, or say why not.
fn queue<S: KvStore + ?Sized>(
    store: &S,
    rule: &Rule,
    event: &Event,
    key_hash: &str,
    subscribers: &[Subscriber],
    now: DateTime<Utc>,
) -> Result<RuleResult> {
    let subscriber = match choose(rule, subscribers) {
        Ok(subscriber) => subscriber,
        Err(reason) => return Ok(skipped(reason)),
    };
    let due_at = match rule.timing.due(&event.data, now) {
        Due::At(at) => at,
        Due::Never(reason) => return Ok(skipped(reason)),
    };
    let version = match template::load_head(store, &rule.template_id) {
        Ok(head) => head.latest_version,
        Err(e) if e.status() == 404 => return Ok(skipped("template_not_found")),
        Err(e) => return Err(e),
    };
    let (id, batch) = scheduled_id(rule, key_hash);
    let send = ScheduledSend {
        id,
        rule_id: rule.id.to_string(),
        campaign: Campaign {
            id: rule.stats_id.clone(),
            name: rule.name.clone(),
            channel: subscriber.channel.clone(),
            template_id: rule.template_id.clone(),
            kind: rule.kind,
            template_version: Some(version),
            variables: BTreeMap::new(),
            audience: Audience::default(),
            // What the customer is waiting for (an order update, a reminder) goes at any hour; an
            // offer keeps the workspace's quiet hours.
            quiet_hours: match rule.kind {
                MessageKind::Transactional => QuietHoursSetting::Ignored,
                MessageKind::Promotional => QuietHoursSetting::Workspace,
            },
            variants: Vec::new(),
            holdout_percent: 0,
            state: CampaignState::Running,
            schedule: None,
            created_at: now,
            updated_at: now,
            started_at: Some(now),
            finished_at: None,
        },
        batch,
        subscriber: subscriber.id.clone(),
        due_at,
        event: EventContext {
            name: event.name.to_string(),
            key: event.key.clone(),
            data: event.data.clone(),
        },
        state: ScheduledState::Queued,
        created_at: now,
    };
    let stored = scheduled::enqueue(store, &send)?;
    Ok(RuleResult::Queued {
        message_id: stored.id,
        subscriber_id: stored.subscriber.to_string(),
        channel: stored.campaign.channel.to_string(),
        due_at: stored.due_at,
    })
}

/// The scheduled message id and ledger batch number of `rule`'s message for the event whose
/// idempotency key hashes to `key_hash`: the same event always gets the same ones.
fn scheduled_id(rule: &Rule, key_hash: &str) -> (String, u64) {
    let digest = Sha256::digest(format!("{}\n{key_hash}", rule.id).as_bytes());
    let mut number = [0u8; 8];
    number.copy_from_slice(&digest[..8]);
    // 53 bits: the number stays exact in every JSON reader.
    let batch = u64::from_be_bytes(number) & ((1 << 53) - 1);
    (format!("{}.{}", rule.id, &hex::encode(digest)[..24]), batch)
}

/// Cancel the rule's pending messages for the customer that carry the event's key.
fn cancel_pending<S: KvStore + ?Sized>(
    store: &S,
    rule: &Rule,
    event: &Event,
    subscribers: &[Subscriber],
    now: DateTime<Utc>,
) -> Result<u32> {
    let Some(key) = event.key.as_deref() else {
        return Ok(0);
    };
    let reason = format!("cancelled_by:{}", event.name);
    let mut cancelled = 0;
    for subscriber in subscribers {
        for send in scheduled::pending_of(store, &subscriber.id)? {
            if send.rule_id != rule.id.as_str() || send.event.key.as_deref() != Some(key) {
                continue;
            }
            if let Cancellation::Cancelled { .. } =
                scheduled::cancel(store, &send.id, &reason, now)?
            {
                cancelled += 1;
            }
        }
    }
    Ok(cancelled)
}
