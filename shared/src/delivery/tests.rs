//! The sender driven end to end in memory: MemoryStore, ManualClock (sleeps are instant), a scriptable
//! messenger that can answer 429, 403, 5xx or 400 on demand, and a fake renderer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::campaign::{self, CampaignState, NewCampaign, ScheduleRequest, TemplateVersions};
use crate::clock::{Clock, ManualClock};
use crate::directory::{self, StoredSubscriber};
use crate::event::{counter, SentMessageRef};
use crate::keys;
use crate::kv::{self, CasOutcome, KvStore, MemoryStore, StoreError};
use crate::messenger::{Messenger, SendOutcome};
use crate::subscriber::{
    Address, AttributeName, Channel, ConsentAction, ConsentEvent, Platform, SubscriberId,
    SubscriptionStatus, Tag,
};

fn start() -> DateTime<Utc> {
    "2026-11-01T10:00:00Z".parse().unwrap()
}

fn shop() -> Channel {
    Channel::parse("telegram:shop").unwrap()
}

/// Every message the fake platform accepted or refused, with the time it was asked.
type Log = Mutex<Vec<(String, DateTime<Utc>)>>;

/// Answers scripted per chat (then "sent"), records every call, and can run a hook on the n-th call.
struct FakeMessenger<'a> {
    clock: &'a ManualClock,
    calls: &'a Log,
    script: Mutex<HashMap<String, VecDeque<SendOutcome>>>,
    next_id: AtomicUsize,
    hook_at: usize,
    hook: Option<Box<dyn Fn() + Send + Sync + 'a>>,
}

impl<'a> FakeMessenger<'a> {
    fn new(clock: &'a ManualClock, calls: &'a Log) -> Self {
        FakeMessenger {
            clock,
            calls,
            script: Mutex::new(HashMap::new()),
            next_id: AtomicUsize::new(1000),
            hook_at: 0,
            hook: None,
        }
    }

    fn answer(self, chat: &str, outcomes: Vec<SendOutcome>) -> Self {
        self.script
            .lock()
            .unwrap()
            .insert(chat.to_owned(), outcomes.into());
        self
    }

    fn on_call(mut self, n: usize, hook: impl Fn() + Send + Sync + 'a) -> Self {
        self.hook_at = n;
        self.hook = Some(Box::new(hook));
        self
    }
}

impl Messenger for FakeMessenger<'_> {
    type Message = Outgoing;

    fn send(&self, _channel: &Channel, to: &Address, message: &Outgoing) -> SendOutcome {
        assert!(message.message.text.starts_with("Hi "));
        let call_number = {
            let mut calls = self.calls.lock().unwrap();
            calls.push((to.as_str().to_owned(), self.clock.now()));
            calls.len()
        };
        if call_number == self.hook_at {
            if let Some(hook) = &self.hook {
                hook();
            }
        }
        let scripted = self
            .script
            .lock()
            .unwrap()
            .get_mut(to.as_str())
            .and_then(VecDeque::pop_front);
        scripted.unwrap_or_else(|| SendOutcome::Sent {
            message_id: self.next_id.fetch_add(1, Ordering::SeqCst).to_string(),
        })
    }
}

/// Renders "Hi <first name>"; a subscriber with the attribute `broken` fails to render.
struct FakeRenderer;

impl MessageRenderer for FakeRenderer {
    fn render(
        &self,
        subscriber: &crate::subscriber::Subscriber,
        campaign: &crate::campaign::Campaign,
    ) -> crate::Result<crate::message::RenderedMessage> {
        if subscriber
            .attributes
            .contains_key(&AttributeName::parse("broken").unwrap())
        {
            return Err(crate::Error::unprocessable(
                "template_render_failed",
                "undefined value",
            ));
        }
        Ok(crate::message::RenderedMessage {
            text: format!(
                "Hi {} from {}",
                subscriber.profile.first_name.as_deref().unwrap_or("friend"),
                campaign.name
            ),
            photo_url: None,
            buttons: vec![],
            platform_template: None,
        })
    }
}

struct PinFirstVersion;

impl TemplateVersions for PinFirstVersion {
    fn resolve(&self, _template_id: &str, version: Option<u32>) -> crate::Result<u32> {
        Ok(version.unwrap_or(1))
    }
}

/// What kind of write a [`FaultStore`] trigger sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Set,
    Cas,
    Increment,
    Other,
}

type Trigger = Box<dyn Fn(Op, &str, &[u8]) -> bool + Send + Sync>;

/// A store whose tick "dies": told to (`die`), or once armed at the first write the trigger picks. That
/// write and every later one fail until `revive`.
struct FaultStore {
    inner: MemoryStore,
    armed: AtomicBool,
    dead: AtomicBool,
    trigger: Trigger,
}

impl FaultStore {
    fn new() -> Self {
        Self::dying_at(|_, _, _| false)
    }

    fn dying_at(trigger: impl Fn(Op, &str, &[u8]) -> bool + Send + Sync + 'static) -> Self {
        FaultStore {
            inner: MemoryStore::new(),
            armed: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            trigger: Box::new(trigger),
        }
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn die(&self) {
        self.dead.store(true, Ordering::SeqCst);
    }

    fn revive(&self) {
        self.armed.store(false, Ordering::SeqCst);
        self.dead.store(false, Ordering::SeqCst);
    }

    fn died(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    fn check(&self, op: Op, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(StoreError("the tick died".into()));
        }
        if self.armed.load(Ordering::SeqCst) && (self.trigger)(op, key, value) {
            self.die();
            return Err(StoreError("the tick died here".into()));
        }
        Ok(())
    }
}

impl KvStore for FaultStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.check(Op::Set, key, value)?;
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check(Op::Other, key, &[])?;
        self.inner.delete(key)
    }
    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.exists(key)
    }
    fn get_keys(&self) -> Result<Vec<String>, StoreError> {
        self.inner.get_keys()
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<(String, Option<Vec<u8>>)>, StoreError> {
        self.inner.get_many(keys)
    }
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        self.check(Op::Other, "", &[])?;
        self.inner.set_many(entries)
    }
    fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        self.check(Op::Other, "", &[])?;
        self.inner.delete_many(keys)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        if delta != 0 {
            self.check(Op::Increment, key, &[])?;
        }
        self.inner.increment(key, delta)
    }
    fn cas_slot(&self, key: &str) -> Result<Box<dyn crate::kv::CasSlot + '_>, StoreError> {
        self.inner.cas_slot(key)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<CasOutcome, StoreError> {
        self.check(Op::Cas, key, new)?;
        self.inner.compare_and_swap(key, expected, new)
    }
}

/// A clock whose `sleep` runs a hook (once) when a sleep lasts at least `min`.
struct HookClock<'a> {
    inner: &'a ManualClock,
    min: Duration,
    fired: AtomicBool,
    hook: Box<dyn Fn() + Send + Sync + 'a>,
}

impl Clock for HookClock<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now()
    }
    fn sleep(&self, duration: Duration) {
        self.inner.sleep(duration);
        if duration >= self.min && !self.fired.swap(true, Ordering::SeqCst) {
            (self.hook)();
        }
    }
}

/// Subscribe chat `chat` on the shop bot with `tags`.
fn subscribe<S: KvStore + ?Sized>(store: &S, chat: u32, tags: &[&str]) -> SubscriberId {
    let address = Address::parse(Platform::Telegram, &chat.to_string()).unwrap();
    let subscriber = directory::touch(
        store,
        &shop(),
        &address,
        start() - Duration::days(1),
        true,
        |s| {
            s.profile.first_name = Some(format!("User{chat}"));
            for tag in tags {
                s.add_tag(Tag::parse(tag).unwrap()).unwrap();
            }
            s.record_consent(ConsentEvent {
                action: ConsentAction::Subscribed,
                at: start() - Duration::days(1),
                source: "api".into(),
                evidence: "test".into(),
            });
        },
    )
    .unwrap();
    subscriber.id
}

fn consent<S: KvStore + ?Sized>(store: &S, chat: u32, action: ConsentAction, at: DateTime<Utc>) {
    let address = Address::parse(Platform::Telegram, &chat.to_string()).unwrap();
    directory::touch(store, &shop(), &address, at, false, |s| {
        s.record_consent(ConsentEvent {
            action,
            at,
            source: "api".into(),
            evidence: format!("{at}"),
        });
    })
    .unwrap();
}

fn set_attribute<S: KvStore + ?Sized>(store: &S, chat: u32, name: &str) {
    let address = Address::parse(Platform::Telegram, &chat.to_string()).unwrap();
    directory::touch(store, &shop(), &address, start(), false, |s| {
        s.set_attribute(AttributeName::parse(name).unwrap(), "1".into())
            .unwrap()
    })
    .unwrap();
}

/// Create and schedule campaign `id` for now, with an audience.
fn launch<S: KvStore + ?Sized>(store: &S, id: &str, audience: &str) {
    let request: NewCampaign = serde_json::from_str(&format!(
        r#"{{"id": "{id}", "name": "Launch", "channel": "telegram:shop", "template_id": "welcome", "audience": {audience}}}"#
    ))
    .unwrap();
    campaign::create(store, &PinFirstVersion, request, start()).unwrap();
    let now = ScheduleRequest {
        send_at: "now".into(),
        timezone: None,
        template_version: None,
    };
    campaign::schedule(store, &PinFirstVersion, id, &now, start()).unwrap();
}

fn config(owner: &str, clock: &ManualClock, budget_secs: i64) -> SenderConfig {
    SenderConfig::new(owner, clock.now() + Duration::seconds(budget_secs))
}

/// Every ledger entry of a campaign.
fn ledger<S: KvStore + ?Sized>(store: &S, id: &str) -> Vec<DeliveryEntry> {
    let cursor = claim::cursor(store, id).unwrap();
    (0..cursor.next_batch)
        .filter_map(|n| {
            kv::get_json::<_, DeliveryBatch>(store, &keys::delivery_batch(id, n)).unwrap()
        })
        .flat_map(|b| b.entries)
        .collect()
}

fn counter_value<S: KvStore + ?Sized>(store: &S, id: &str, name: &str) -> i64 {
    store
        .increment(&keys::campaign_counter(id, name), 0)
        .unwrap()
}

fn sends_per_chat(calls: &Log) -> BTreeMap<String, usize> {
    let mut per_chat = BTreeMap::new();
    for (chat, _) in calls.lock().unwrap().iter() {
        *per_chat.entry(chat.clone()).or_insert(0) += 1;
    }
    per_chat
}

fn state_of<S: KvStore + ?Sized>(store: &S, campaign_id: &str, chat: u32) -> DeliveryState {
    let id = SubscriberId::parse(&format!("telegram:shop:{chat}")).unwrap();
    let entries: Vec<_> = ledger(store, campaign_id)
        .into_iter()
        .filter(|e| e.subscriber == id)
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "chat {chat} must be in the ledger exactly once"
    );
    entries[0].outcome.clone()
}

fn batch<S: KvStore + ?Sized>(store: &S, id: &str, n: u64) -> Option<DeliveryBatch> {
    kv::get_json(store, &keys::delivery_batch(id, n)).unwrap()
}

fn campaign_state<S: KvStore + ?Sized>(store: &S, id: &str) -> CampaignState {
    campaign::get(store, id).unwrap().state
}

/// Run ticks (ten minutes apart, so every lease lapses) until one finds nothing to do.
fn drain<S: KvStore + ?Sized>(store: &S, clock: &ManualClock, calls: &Log) {
    for i in 0..5 {
        clock.advance(Duration::minutes(10));
        let report = run_tick(
            store,
            &FakeMessenger::new(clock, calls),
            &FakeRenderer,
            clock,
            &config(&format!("drain-{i}"), clock, 60),
        )
        .unwrap();
        if report.steps.is_empty() {
            break;
        }
    }
}

/// A store that dies when the tick writes batch 0 of `c1` as finished.
fn dying_at_finish() -> FaultStore {
    FaultStore::dying_at(|op, key, value| {
        op == Op::Cas
            && key == keys::delivery_batch("c1", 0)
            && serde_json::from_slice::<DeliveryBatch>(value).is_ok_and(|b| b.finished_at.is_some())
    })
}

#[test]
fn every_targeted_recipient_gets_exactly_one_final_state_and_counters_match() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=250 {
        let tags: &[&str] = if chat % 5 == 0 { &["other"] } else { &["vip"] };
        subscribe(&store, chat, tags);
    }
    launch(&store, "c1", r#"{"any_tags": ["vip"]}"#);
    let calls = Log::default();
    let messenger = FakeMessenger::new(&clock, &calls);
    let report = run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();

    assert_eq!(report.sent, 200);
    assert!(!report.budget_spent);
    assert!(matches!(report.steps.first(), Some(Step::Started { .. })));
    assert!(matches!(report.steps.last(), Some(Step::Completed { .. })));
    let entries = ledger(&store, "c1");
    assert_eq!(entries.len(), 200, "only the vip audience is targeted");
    assert!(entries
        .iter()
        .all(|e| matches!(e.outcome, DeliveryState::Sent { .. })));
    let unique: std::collections::BTreeSet<_> = entries.iter().map(|e| &e.subscriber).collect();
    assert_eq!(unique.len(), 200);
    assert!(sends_per_chat(&calls).values().all(|&n| n == 1));
    assert_eq!(counter_value(&store, "c1", counter::TARGETED), 200);
    assert_eq!(counter_value(&store, "c1", counter::SENT), 200);
    assert_eq!(counter_value(&store, "c1", counter::FAILED), 0);
    assert_eq!(
        campaign::get(&store, "c1").unwrap().state,
        CampaignState::Completed
    );
    assert!(campaign::active_ids(&store).unwrap().is_empty());
    // A later tick has nothing to do and sends nothing again.
    assert_eq!(
        send_next_batch(
            &store,
            &messenger,
            &FakeRenderer,
            &clock,
            &config("t2", &clock, 60)
        )
        .unwrap(),
        Step::NothingDue
    );
    assert_eq!(calls.lock().unwrap().len(), 200);
}

#[test]
fn telegram_sends_leave_a_reference_for_reply_attribution_only() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    let id = subscribe(&store, 7, &[]);
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let messenger = FakeMessenger::new(&clock, &calls).answer(
        "7",
        vec![SendOutcome::Sent {
            message_id: "133".into(),
        }],
    );
    run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();
    let last: SentMessageRef = kv::get_json(&store, &keys::last_campaign_message(&id))
        .unwrap()
        .unwrap();
    assert_eq!(last.campaign_id, "c1");
    assert_eq!(last.subscriber, id);
    assert_eq!(last.message_id, "133");
    // Telegram sends no receipts and reuses message ids across chats: no id mapping is written.
    assert!(!store
        .exists(&keys::platform_message("telegram", "133"))
        .unwrap());
}

#[test]
fn a_future_schedule_waits_for_its_time() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    subscribe(&store, 1, &[]);
    let request: NewCampaign = serde_json::from_str(
        r#"{"id": "later", "name": "Later", "channel": "telegram:shop", "template_id": "welcome"}"#,
    )
    .unwrap();
    campaign::create(&store, &PinFirstVersion, request, start()).unwrap();
    let at = ScheduleRequest {
        send_at: "2026-11-01T12:00:00".into(),
        timezone: Some("Europe/Berlin".into()),
        template_version: None,
    };
    campaign::schedule(&store, &PinFirstVersion, "later", &at, start()).unwrap();
    let calls = Log::default();
    let messenger = FakeMessenger::new(&clock, &calls);
    assert_eq!(
        send_next_batch(
            &store,
            &messenger,
            &FakeRenderer,
            &clock,
            &config("t1", &clock, 60)
        )
        .unwrap(),
        Step::NothingDue
    );
    // 12:00 in Berlin is 11:00 UTC.
    clock.advance(Duration::minutes(59));
    assert_eq!(
        send_next_batch(
            &store,
            &messenger,
            &FakeRenderer,
            &clock,
            &config("t2", &clock, 60)
        )
        .unwrap(),
        Step::NothingDue
    );
    clock.advance(Duration::minutes(1));
    let report = run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t3", &clock, 60),
    )
    .unwrap();
    assert_eq!(
        report.steps[0],
        Step::Started {
            campaign_id: "later".into()
        }
    );
    assert_eq!(report.sent, 1);
}

#[test]
fn consent_withdrawn_after_scheduling_is_skipped_with_the_reason() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=3 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    consent(
        &store,
        2,
        ConsentAction::Unsubscribed,
        start() + Duration::seconds(1),
    );
    consent(
        &store,
        3,
        ConsentAction::Blocked,
        start() + Duration::seconds(1),
    );
    clock.advance(Duration::seconds(2));
    let calls = Log::default();
    let messenger = FakeMessenger::new(&clock, &calls);
    run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();
    assert!(matches!(
        state_of(&store, "c1", 1),
        DeliveryState::Sent { .. }
    ));
    assert_eq!(
        state_of(&store, "c1", 2),
        DeliveryState::Skipped {
            reason: "unsubscribed".into()
        }
    );
    assert_eq!(
        state_of(&store, "c1", 3),
        DeliveryState::Skipped {
            reason: "blocked".into()
        }
    );
    assert_eq!(sends_per_chat(&calls).keys().collect::<Vec<_>>(), ["1"]);
    assert_eq!(counter_value(&store, "c1", counter::SKIPPED), 2);
    assert_eq!(counter_value(&store, "c1", counter::TARGETED), 3);
}

#[test]
fn consent_withdrawn_after_the_batch_was_claimed_is_checked_again_before_sending() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=15 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    let calls = Log::default();
    // While the first chunk of ten goes out, chat 14 unsubscribes.
    let messenger = FakeMessenger::new(&clock, &calls).on_call(2, || {
        consent(&store, 14, ConsentAction::Unsubscribed, clock.now())
    });
    run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();
    assert_eq!(
        state_of(&store, "c1", 14),
        DeliveryState::Skipped {
            reason: "unsubscribed".into()
        }
    );
    assert_eq!(calls.lock().unwrap().len(), 14);
}

#[test]
fn a_render_failure_fails_only_that_recipient() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    subscribe(&store, 1, &[]);
    subscribe(&store, 2, &[]);
    set_attribute(&store, 2, "broken");
    launch(&store, "c1", "{}");
    let calls = Log::default();
    run_tick(
        &store,
        &FakeMessenger::new(&clock, &calls),
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();
    assert_eq!(
        state_of(&store, "c1", 2),
        DeliveryState::Failed {
            code: "template_render_failed".into(),
            reason: "undefined value".into()
        }
    );
    assert!(matches!(
        state_of(&store, "c1", 1),
        DeliveryState::Sent { .. }
    ));
}

#[test]
fn rate_limit_pauses_the_channel_and_retries_the_same_message_once() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=4 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let too_many = SendOutcome::RateLimited {
        retry_after_secs: 3,
        reason: "Too Many Requests: retry after 3".into(),
    };
    let messenger = FakeMessenger::new(&clock, &calls).answer("2", vec![too_many]);
    let report = run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();
    assert_eq!(report.sent, 4);
    assert_eq!(report.failed, 0);
    let calls = calls.lock().unwrap().clone();
    let chats: Vec<&str> = calls.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        chats,
        ["1", "2", "2", "3", "4"],
        "the refused message is sent again, the others once"
    );
    let refused_at = calls[1].1;
    assert!(
        calls[2].1 >= refused_at + Duration::seconds(3),
        "the channel waited retry_after: {calls:?}"
    );
    assert!(matches!(
        state_of(&store, "c1", 2),
        DeliveryState::Sent { .. }
    ));
    let pace: pacing::PaceState = kv::get_json(&store, &keys::pace(&shop())).unwrap().unwrap();
    assert_eq!(pace.paused_until, Some(refused_at + Duration::seconds(3)));
}

#[test]
fn a_rate_limit_beyond_the_budget_leaves_the_message_for_the_next_tick() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    subscribe(&store, 1, &[]);
    subscribe(&store, 2, &[]);
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let long_wait = SendOutcome::RateLimited {
        retry_after_secs: 300,
        reason: "Too Many Requests: retry after 300".into(),
    };
    let messenger = FakeMessenger::new(&clock, &calls).answer("1", vec![long_wait]);
    let first = run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 20),
    )
    .unwrap();
    assert_eq!(first.sent, 0);
    assert_eq!(state_of(&store, "c1", 1), DeliveryState::Pending);
    assert_eq!(
        state_of(&store, "c1", 2),
        DeliveryState::Pending,
        "not sent while the channel is paused"
    );
    clock.advance(Duration::seconds(300));
    let second = run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t2", &clock, 20),
    )
    .unwrap();
    assert_eq!(second.sent, 2);
    assert_eq!(
        sends_per_chat(&calls),
        BTreeMap::from([("1".to_owned(), 2), ("2".to_owned(), 1)])
    );
    assert_eq!(
        campaign::get(&store, "c1").unwrap().state,
        CampaignState::Completed
    );
}

#[test]
fn a_blocked_recipient_is_suppressed_and_recorded_blocked() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    let id = subscribe(&store, 1, &[]);
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let gone = SendOutcome::RecipientGone {
        code: "403".into(),
        reason: "Forbidden: bot was blocked by the user".into(),
    };
    run_tick(
        &store,
        &FakeMessenger::new(&clock, &calls).answer("1", vec![gone]),
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();
    assert_eq!(
        state_of(&store, "c1", 1),
        DeliveryState::Blocked {
            code: "403".into(),
            reason: "Forbidden: bot was blocked by the user".into()
        }
    );
    let subscriber = directory::get(&store, &id).unwrap();
    assert_eq!(subscriber.status, SubscriptionStatus::Blocked);
    let evidence = subscriber.consent.last().unwrap();
    assert_eq!(evidence.source, "send:403");
    assert!(evidence.evidence.contains("c1"));
    assert_eq!(counter_value(&store, "c1", counter::BLOCKED), 1);
    assert_eq!(calls.lock().unwrap().len(), 1, "never retried");
}

#[test]
fn server_errors_are_retried_with_backoff_then_failed() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    subscribe(&store, 1, &[]);
    subscribe(&store, 2, &[]);
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let down = || SendOutcome::Transient {
        reason: "500: Internal Server Error".into(),
    };
    let messenger = FakeMessenger::new(&clock, &calls)
        .answer("1", (0..5).map(|_| down()).collect())
        .answer("2", vec![down(), down()]);
    let report = run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 120),
    )
    .unwrap();
    assert_eq!((report.sent, report.failed), (1, 1));
    match state_of(&store, "c1", 1) {
        DeliveryState::Failed { code, reason } => {
            assert_eq!(code, "transient");
            assert!(
                reason.contains("5 attempts") && reason.contains("500"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        state_of(&store, "c1", 2),
        DeliveryState::Sent { .. }
    ));
    let times: Vec<DateTime<Utc>> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(c, _)| c == "1")
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(times.len(), 5);
    let gaps: Vec<i64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds())
        .collect();
    for (gap, expected) in gaps.iter().zip([1000, 2000, 4000, 8000]) {
        assert!(*gap >= expected, "backoff doubles: {gaps:?}");
    }
    assert_eq!(counter_value(&store, "c1", counter::FAILED), 1);
    assert_eq!(counter_value(&store, "c1", counter::TARGETED), 2);
}

#[test]
fn a_bad_request_fails_with_the_platform_description() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    subscribe(&store, 1, &[]);
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let bad = SendOutcome::Rejected {
        code: "400".into(),
        reason: "Bad Request: can't parse entities".into(),
    };
    run_tick(
        &store,
        &FakeMessenger::new(&clock, &calls).answer("1", vec![bad]),
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();
    assert_eq!(
        state_of(&store, "c1", 1),
        DeliveryState::Failed {
            code: "400".into(),
            reason: "Bad Request: can't parse entities".into()
        }
    );
    assert_eq!(calls.lock().unwrap().len(), 1);
}

#[test]
fn a_recipient_outside_the_service_window_without_an_approved_template_is_skipped_with_why() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    subscribe(&store, 1, &[]);
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let closed = SendOutcome::Rejected {
        code: crate::platform::whatsapp::send::OUTSIDE_WINDOW.into(),
        reason: "the recipient has not written in the last 24 hours".into(),
    };
    run_tick(
        &store,
        &FakeMessenger::new(&clock, &calls).answer("1", vec![closed]),
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();
    match state_of(&store, "c1", 1) {
        DeliveryState::Skipped { reason } => {
            assert!(reason.starts_with("outside_service_window"), "{reason}")
        }
        other => panic!("expected skipped, got {other:?}"),
    }
    assert_eq!(counter_value(&store, "c1", counter::SKIPPED), 1);
    assert_eq!(counter_value(&store, "c1", counter::FAILED), 0);
}

#[test]
fn pacing_spaces_sends_at_the_channel_rate() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=30 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let mut settings = config("t1", &clock, 60);
    settings.telegram_rate_per_second = 5;
    run_tick(
        &store,
        &FakeMessenger::new(&clock, &calls),
        &FakeRenderer,
        &clock,
        &settings,
    )
    .unwrap();
    let times: Vec<DateTime<Utc>> = calls.lock().unwrap().iter().map(|(_, t)| *t).collect();
    assert_eq!(times.len(), 30);
    assert!(
        times
            .windows(2)
            .all(|w| w[1] - w[0] >= Duration::milliseconds(200)),
        "{times:?}"
    );
    // 30 messages at 5/s take (30 - 1) * 200 ms of manual-clock time.
    assert_eq!(times[29] - times[0], Duration::milliseconds(29 * 200));
}

#[test]
fn a_tick_stops_at_its_budget_and_the_next_one_continues_without_duplicates() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=60 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let messenger = FakeMessenger::new(&clock, &calls);
    let mut settings = config("t1", &clock, 1);
    settings.telegram_rate_per_second = 10;
    let first = run_tick(&store, &messenger, &FakeRenderer, &clock, &settings).unwrap();
    assert!(first.budget_spent);
    assert!(first.sent > 0 && first.sent < 60, "{first:?}");
    let mut next = config("t2", &clock, 60);
    next.telegram_rate_per_second = 10;
    let second = run_tick(&store, &messenger, &FakeRenderer, &clock, &next).unwrap();
    assert_eq!(first.sent + second.sent, 60);
    assert!(sends_per_chat(&calls).values().all(|&n| n == 1));
    assert_eq!(
        campaign::get(&store, "c1").unwrap().state,
        CampaignState::Completed
    );
}

#[test]
fn two_interleaved_ticks_never_send_anyone_twice() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=35 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let mut small = config("b", &clock, 60);
    small.batch_size = 10;
    let messenger_b = FakeMessenger::new(&clock, &calls);
    let report_b = Mutex::new(None);
    // Tick B runs whole while tick A is in the middle of its first batch.
    let messenger_a = FakeMessenger::new(&clock, &calls).on_call(2, || {
        *report_b.lock().unwrap() =
            Some(run_tick(&store, &messenger_b, &FakeRenderer, &clock, &small).unwrap())
    });
    let mut settings_a = config("a", &clock, 60);
    settings_a.batch_size = 10;
    let report_a = run_tick(&store, &messenger_a, &FakeRenderer, &clock, &settings_a).unwrap();
    let report_b = report_b.lock().unwrap().take().unwrap();
    assert!(
        report_b.sent > 0,
        "B did work A had not claimed: {report_b:?}"
    );
    assert_eq!(report_a.sent + report_b.sent, 35);
    assert_eq!(sends_per_chat(&calls).len(), 35);
    assert!(sends_per_chat(&calls).values().all(|&n| n == 1));
    assert_eq!(counter_value(&store, "c1", counter::SENT), 35);
    assert_eq!(
        campaign::get(&store, "c1").unwrap().state,
        CampaignState::Completed
    );
}

#[test]
fn concurrent_ticks_on_threads_never_send_anyone_twice() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=300 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    let calls = Log::default();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (store, clock, calls) = (&store, &clock, &calls);
            scope.spawn(move || {
                let messenger = FakeMessenger::new(clock, calls);
                let mut settings = config(&format!("tick-{t}"), clock, 600);
                settings.batch_size = 20;
                run_tick(store, &messenger, &FakeRenderer, clock, &settings).unwrap();
            });
        }
    });
    // Whatever is left (a batch another thread still held when one finished) is done by one more tick.
    run_tick(
        &store,
        &FakeMessenger::new(&clock, &calls),
        &FakeRenderer,
        &clock,
        &config("last", &clock, 600),
    )
    .unwrap();
    let per_chat = sends_per_chat(&calls);
    assert_eq!(per_chat.len(), 300);
    assert!(per_chat.values().all(|&n| n == 1));
    assert_eq!(counter_value(&store, "c1", counter::TARGETED), 300);
    assert_eq!(counter_value(&store, "c1", counter::SENT), 300);
}

#[test]
fn a_crash_after_intent_resumes_without_resending_and_closes_the_unknown() {
    let store = FaultStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=25 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    let calls = Log::default();
    // The tick dies during the 13th send: the first chunk of ten is recorded, the second is in flight.
    let dying = FakeMessenger::new(&clock, &calls).on_call(13, || store.die());
    assert!(run_tick(
        &store,
        &dying,
        &FakeRenderer,
        &clock,
        &config("dies", &clock, 60)
    )
    .is_err());
    assert_eq!(
        calls.lock().unwrap().len(),
        20,
        "the in-flight chunk was handed to the platform"
    );
    store.revive();

    // While the lease is live nobody touches the batch.
    let survivor = FakeMessenger::new(&clock, &calls);
    let early = run_tick(
        &store,
        &survivor,
        &FakeRenderer,
        &clock,
        &config("early", &clock, 60),
    )
    .unwrap();
    assert_eq!(early.sent, 0);
    assert_eq!(calls.lock().unwrap().len(), 20);

    clock.advance(Duration::minutes(10));
    let report = run_tick(
        &store,
        &survivor,
        &FakeRenderer,
        &clock,
        &config("next", &clock, 60),
    )
    .unwrap();
    let per_chat = sends_per_chat(&calls);
    assert_eq!(per_chat.len(), 25);
    assert!(
        per_chat.values().all(|&n| n == 1),
        "nobody was sent twice: {per_chat:?}"
    );
    let entries = ledger(&store, "c1");
    let unknown = entries
        .iter()
        .filter(
            |e| matches!(&e.outcome, DeliveryState::Failed { code, .. } if code == OUTCOME_UNKNOWN),
        )
        .count();
    assert_eq!(unknown, 10);
    assert!(entries.iter().all(|e| e.outcome.is_final()));
    assert!(matches!(&report.steps[0], Step::Batch(b) if b.resumed && b.outcome_unknown == 10));
    assert_eq!(counter_value(&store, "c1", counter::SENT), 15);
    assert_eq!(counter_value(&store, "c1", counter::FAILED), 10);
    assert_eq!(counter_value(&store, "c1", counter::TARGETED), 25);
    assert_eq!(
        campaign::get(&store, "c1").unwrap().state,
        CampaignState::Completed
    );
}

#[test]
fn a_crash_between_claiming_a_batch_and_moving_the_cursor_loses_nobody() {
    let store = FaultStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=5 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    campaign::change(&store, "c1", |c| {
        c.transition(campaign::Transition::Start, start())
    })
    .unwrap();
    // Write batch 0 as a claimer would, then die before the cursor moves.
    let campaign = campaign::get(&store, "c1").unwrap();
    let walk = claim::walk_audience(&store, &campaign, 0, 100, 5).unwrap();
    let orphan = DeliveryBatch {
        campaign_id: "c1".into(),
        batch: 0,
        from_position: 0,
        to_position: walk.end,
        scanned: walk.scanned,
        exhausted_after: walk.exhausted,
        entries: walk
            .recipients
            .into_iter()
            .map(DeliveryEntry::pending)
            .collect(),
        lease: Some(Lease {
            owner: "dead".into(),
            expires_at: start() + Duration::seconds(30),
        }),
        created_at: start(),
        finished_at: None,
    };
    kv::set_json(&store, &keys::delivery_batch("c1", 0), &orphan).unwrap();
    clock.advance(Duration::minutes(1));
    let calls = Log::default();
    let messenger = FakeMessenger::new(&clock, &calls);
    run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();
    assert_eq!(sends_per_chat(&calls).len(), 5);
    assert!(sends_per_chat(&calls).values().all(|&n| n == 1));
    assert_eq!(
        campaign::get(&store, "c1").unwrap().state,
        CampaignState::Completed
    );
}

#[test]
fn pause_stops_sending_and_resume_continues_where_it_stopped() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=30 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let messenger = FakeMessenger::new(&clock, &calls).on_call(3, || {
        campaign::pause(&store, "c1", clock.now()).unwrap();
    });
    let first = run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();
    assert_eq!(
        first.sent, 10,
        "the chunk in flight finishes, then the batch stops"
    );
    assert!(matches!(&first.steps[1], Step::Batch(b) if b.stopped == StopReason::Paused));
    assert_eq!(
        run_tick(
            &store,
            &messenger,
            &FakeRenderer,
            &clock,
            &config("t2", &clock, 60)
        )
        .unwrap()
        .sent,
        0
    );
    assert_eq!(
        campaign::resume(&store, "c1", clock.now()).unwrap().state,
        CampaignState::Running
    );
    let second = run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t3", &clock, 60),
    )
    .unwrap();
    assert_eq!(second.sent, 20);
    assert!(sends_per_chat(&calls).values().all(|&n| n == 1));
}

#[test]
fn cancel_skips_claimed_recipients_and_sends_nothing_more() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=150 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let messenger = FakeMessenger::new(&clock, &calls).on_call(3, || {
        campaign::cancel(&store, "c1", clock.now()).unwrap();
    });
    run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();
    assert_eq!(calls.lock().unwrap().len(), 10);
    let entries = ledger(&store, "c1");
    assert_eq!(entries.len(), 100, "only the first batch had been claimed");
    assert!(entries.iter().all(|e| e.outcome.is_final()));
    let skipped = entries
        .iter()
        .filter(|e| {
            e.outcome
                == DeliveryState::Skipped {
                    reason: "campaign_cancelled".into(),
                }
        })
        .count();
    assert_eq!(skipped, 90);
    assert_eq!(counter_value(&store, "c1", counter::TARGETED), 100);
    assert!(campaign::active_ids(&store).unwrap().is_empty());
    assert_eq!(
        campaign::get(&store, "c1").unwrap().state,
        CampaignState::Cancelled
    );
}

#[test]
fn progress_reports_counts_rate_and_time_left() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=250 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let mut settings = config("t1", &clock, 6);
    settings.telegram_rate_per_second = 20;
    run_tick(
        &store,
        &FakeMessenger::new(&clock, &calls),
        &FakeRenderer,
        &clock,
        &settings,
    )
    .unwrap();
    let report = progress(&store, "c1", clock.now()).unwrap();
    assert_eq!(report.state, CampaignState::Running);
    let done = report.counts.sent;
    assert!(done > 80 && done < 250, "{report:?}");
    assert_eq!(report.counts.targeted, done);
    assert!(
        (report.messages_per_second - 20.0).abs() < 2.0,
        "{report:?}"
    );
    assert_eq!(report.estimated_remaining, 250 - done as u64);
    let left = report.estimated_seconds_left.unwrap();
    assert!((7..=10).contains(&left), "{report:?}");
    let page = deliveries(&store, "c1", 0).unwrap();
    assert!(!page.items.is_empty());
    assert_eq!(deliveries(&store, "nope", 0).unwrap_err().status(), 404);
}

#[test]
fn a_duplicate_index_entry_is_not_a_second_recipient() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    let id = subscribe(&store, 1, &[]);
    // Two concurrent first sightings can index one subscriber twice; the record names the real position.
    crate::index::Index::SUBSCRIBERS
        .append(&store, id.as_str())
        .unwrap();
    let stored: StoredSubscriber = kv::get_json(&store, &keys::subscriber(&id))
        .unwrap()
        .unwrap();
    assert_eq!(stored.index_position, Some(0));
    launch(&store, "c1", "{}");
    let calls = Log::default();
    run_tick(
        &store,
        &FakeMessenger::new(&clock, &calls),
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(counter_value(&store, "c1", counter::TARGETED), 1);
}

#[test]
fn a_crash_between_the_last_outcome_write_and_finish_still_completes() {
    let store = dying_at_finish();
    let clock = ManualClock::new(start());
    for chat in 1..=5 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    store.arm();
    let calls = Log::default();
    assert!(run_tick(
        &store,
        &FakeMessenger::new(&clock, &calls),
        &FakeRenderer,
        &clock,
        &config("dies", &clock, 60)
    )
    .is_err());
    assert!(store.died());
    store.revive();
    assert_eq!(calls.lock().unwrap().len(), 5);
    let b = batch(&store, "c1", 0).unwrap();
    assert_eq!(b.open_entries(), 0, "every outcome was recorded");
    assert!(b.finished_at.is_none());

    drain(&store, &clock, &calls);
    assert_eq!(calls.lock().unwrap().len(), 5, "nobody sent twice");
    assert_eq!(campaign_state(&store, "c1"), CampaignState::Completed);
    assert_eq!(counter_value(&store, "c1", counter::SENT), 5);
}

#[test]
fn a_crash_between_the_cancel_skips_and_finish_still_leaves_the_active_set() {
    let store = dying_at_finish();
    let clock = ManualClock::new(start());
    for chat in 1..=30 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    store.arm();
    let calls = Log::default();
    let messenger = FakeMessenger::new(&clock, &calls).on_call(3, || {
        campaign::cancel(&store, "c1", clock.now()).unwrap();
    });
    assert!(run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("dies", &clock, 60)
    )
    .is_err());
    store.revive();
    assert_eq!(batch(&store, "c1", 0).unwrap().open_entries(), 0);
    drain(&store, &clock, &calls);
    assert!(campaign::active_ids(&store).unwrap().is_empty());
    assert_eq!(counter_value(&store, "c1", counter::TARGETED), 30);
}

#[test]
fn an_orphan_batch_of_a_cancelled_campaign_is_finalised() {
    let store =
        FaultStore::dying_at(|op, key, _| op == Op::Cas && key == keys::campaign_cursor("c1"));
    let clock = ManualClock::new(start());
    for chat in 1..=5 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    store.arm();
    let calls = Log::default();
    assert!(run_tick(
        &store,
        &FakeMessenger::new(&clock, &calls),
        &FakeRenderer,
        &clock,
        &config("dies", &clock, 60)
    )
    .is_err());
    store.revive();
    assert_eq!(calls.lock().unwrap().len(), 0);
    assert_eq!(
        batch(&store, "c1", 0).unwrap().entries.len(),
        5,
        "batch 0 was written"
    );
    assert_eq!(
        claim::cursor(&store, "c1").unwrap().next_batch,
        0,
        "the cursor was not"
    );

    campaign::cancel(&store, "c1", clock.now()).unwrap();
    drain(&store, &clock, &calls);
    assert_eq!(calls.lock().unwrap().len(), 0, "nothing sent after cancel");
    let orphan = batch(&store, "c1", 0).unwrap();
    assert!(
        orphan.entries.iter().all(|e| e.outcome.is_final()),
        "{:?}",
        orphan.entries
    );
    assert_eq!(counter_value(&store, "c1", counter::TARGETED), 5);
    assert!(campaign::active_ids(&store).unwrap().is_empty());
}

#[test]
fn a_channel_paused_past_the_budget_ends_the_tick_instead_of_spinning() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    subscribe(&store, 1, &[]);
    subscribe(&store, 2, &[]);
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let long_wait = SendOutcome::RateLimited {
        retry_after_secs: 300,
        reason: "Too Many Requests: retry after 300".into(),
    };
    let messenger = FakeMessenger::new(&clock, &calls).answer("1", vec![long_wait]);
    let report = run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 20),
    )
    .unwrap();
    assert!(report.budget_spent);
    assert!(
        report.steps.len() <= 4,
        "the tick kept re-taking the same batch: {} steps",
        report.steps.len()
    );
}

#[test]
fn a_huge_retry_after_does_not_panic_the_tick() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    subscribe(&store, 1, &[]);
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let absurd = SendOutcome::RateLimited {
        retry_after_secs: u64::MAX,
        reason: "Too Many Requests".into(),
    };
    let messenger = FakeMessenger::new(&clock, &calls).answer("1", vec![absurd]);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_tick(
            &store,
            &messenger,
            &FakeRenderer,
            &clock,
            &config("t1", &clock, 20),
        )
    }));
    assert!(outcome.is_ok_and(|r| r.is_ok()));
    let pace: pacing::PaceState = kv::get_json(&store, &keys::pace(&shop())).unwrap().unwrap();
    assert!(pace.paused_until <= Some(start() + Duration::seconds(3_600)));
}

#[test]
fn a_pause_recorded_by_an_overlapping_tick_stops_sends_already_planned() {
    let store = MemoryStore::new();
    let clock = ManualClock::new(start());
    for chat in 1..=5 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    let calls = Log::default();
    let paused_at = Mutex::new(None);
    let messenger = FakeMessenger::new(&clock, &calls).on_call(2, || {
        let until = clock.now() + Duration::seconds(30);
        pacing::pause_channel(&store, &shop(), until).unwrap();
        *paused_at.lock().unwrap() = Some((clock.now(), until));
    });
    let report = run_tick(
        &store,
        &messenger,
        &FakeRenderer,
        &clock,
        &config("t1", &clock, 60),
    )
    .unwrap();
    let (from, until) = paused_at.lock().unwrap().unwrap();
    let during: Vec<_> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at > from && *at < until)
        .cloned()
        .collect();
    assert!(
        during.is_empty(),
        "sent while the channel was paused: {during:?}"
    );
    assert_eq!(report.sent, 5, "the rest went out after the pause");
    assert!(sends_per_chat(&calls).values().all(|&n| n == 1));
}

#[test]
fn consent_withdrawn_while_waiting_for_the_slot_is_honoured() {
    let store = MemoryStore::new();
    let manual = ManualClock::new(start());
    subscribe(&store, 1, &[]);
    launch(&store, "c1", "{}");
    // Another tick got a 429 a moment ago: the channel is paused for 30 s.
    pacing::pause_channel(&store, &shop(), start() + Duration::seconds(30)).unwrap();
    let clock = HookClock {
        inner: &manual,
        min: Duration::seconds(10),
        fired: AtomicBool::new(false),
        hook: Box::new(|| {
            consent(
                &store,
                1,
                ConsentAction::Unsubscribed,
                manual.now() - Duration::seconds(5),
            )
        }),
    };
    let calls = Log::default();
    run_tick(
        &store,
        &FakeMessenger::new(&manual, &calls),
        &FakeRenderer,
        &clock,
        &config("t1", &manual, 60),
    )
    .unwrap();
    assert!(
        calls.lock().unwrap().is_empty(),
        "sent to a recipient who unsubscribed 25 s before the send: {:?}",
        calls.lock().unwrap()
    );
    assert_eq!(
        state_of(&store, "c1", 1),
        DeliveryState::Skipped {
            reason: "unsubscribed".into()
        }
    );
}

#[test]
fn a_crash_between_the_outcome_write_and_the_counters_keeps_counts_exact() {
    let store = FaultStore::dying_at(|op, key, _| {
        op == Op::Increment && key == keys::campaign_counter("c1", counter::SENT)
    });
    let clock = ManualClock::new(start());
    for chat in 1..=5 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    store.arm();
    let calls = Log::default();
    assert!(run_tick(
        &store,
        &FakeMessenger::new(&clock, &calls),
        &FakeRenderer,
        &clock,
        &config("dies", &clock, 60)
    )
    .is_err());
    store.revive();
    drain(&store, &clock, &calls);
    let finals = ledger(&store, "c1")
        .iter()
        .filter(|e| e.outcome.is_final())
        .count() as i64;
    assert_eq!(finals, 5);
    assert_eq!(
        (
            counter_value(&store, "c1", counter::SENT),
            counter_value(&store, "c1", counter::TARGETED)
        ),
        (5, 5),
        "counters lost a whole chunk"
    );
    assert_eq!(campaign_state(&store, "c1"), CampaignState::Completed);
}

#[test]
fn a_crash_after_some_counters_were_incremented_counts_nothing_twice() {
    // `sent` is incremented, then the tick dies at `targeted`; the next tick adds only what is missing.
    let store = FaultStore::dying_at(|op, key, _| {
        op == Op::Increment && key == keys::campaign_counter("c1", counter::TARGETED)
    });
    let clock = ManualClock::new(start());
    for chat in 1..=5 {
        subscribe(&store, chat, &[]);
    }
    launch(&store, "c1", "{}");
    store.arm();
    let calls = Log::default();
    assert!(run_tick(
        &store,
        &FakeMessenger::new(&clock, &calls),
        &FakeRenderer,
        &clock,
        &config("dies", &clock, 60)
    )
    .is_err());
    store.revive();
    assert_eq!(counter_value(&store, "c1", counter::SENT), 5);
    drain(&store, &clock, &calls);
    assert_eq!(counter_value(&store, "c1", counter::SENT), 5);
    assert_eq!(counter_value(&store, "c1", counter::TARGETED), 5);
    assert_eq!(campaign_state(&store, "c1"), CampaignState::Completed);
    let report = progress(&store, "c1", clock.now()).unwrap();
    assert_eq!((report.counts.sent, report.counts.targeted), (5, 5));
}
