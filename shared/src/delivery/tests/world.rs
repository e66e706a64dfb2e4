//! The world a delivery test runs in: a store that can crash, a manual clock (sleeps are instant), a
//! recording platform with scriptable answers, a fake renderer and the shop bot's subscribers and
//! campaigns. The sender's configuration is built here and only here, and every tick goes through here.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use super::crash_store::CrashStore;
use super::fake_messenger::{Call, FakeMessenger};
use super::fake_renderer::FakeRenderer;
use crate::campaign::{
    self, CampaignState, NewCampaign, QuietHours, ScheduleRequest, TemplateVersions,
};
use crate::clock::{Clock, ManualClock};
use crate::delivery::caps::SendHistory;
use crate::delivery::pacing::{self, PaceState};
use crate::delivery::policy::QuietHoursRule;
use crate::delivery::{
    claim, estimate, progress, run_tick, send_next_batch, DeliveryBatch, DeliveryEntry,
    DeliveryState, Estimate, FrequencyCaps, Outgoing, Progress, SenderConfig, Step, TickReport,
};
use crate::directory;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::messenger::{Messenger, SendOutcome};
use crate::subscriber::{
    Address, AttributeName, Channel, ConsentAction, ConsentEvent, Platform, Subscriber,
    SubscriberId, Tag, TimeZone,
};

/// Something a test runs in the middle of a tick: at the n-th send, or during a long wait.
pub type Hook<'h> = Box<dyn FnOnce(&World<'h>) + Send + 'h>;

/// When every test starts.
pub fn start() -> DateTime<Utc> {
    "2026-11-01T10:00:00Z".parse().expect("a valid time")
}

/// The one channel the tests send on.
pub fn shop() -> Channel {
    Channel::parse("telegram:shop").expect("a valid channel")
}

/// The subscriber id of chat `chat` on the shop bot.
pub fn subscriber_id(chat: u32) -> SubscriberId {
    SubscriberId::parse(&format!("telegram:shop:{chat}")).expect("a valid subscriber id")
}

/// The ledger state of a recipient skipped for `reason`.
pub fn skipped(reason: &str) -> DeliveryState {
    DeliveryState::Skipped {
        reason: reason.into(),
    }
}

/// The ledger state of a recipient whose delivery failed with `code` and `reason`.
pub fn failed(code: &str, reason: &str) -> DeliveryState {
    DeliveryState::Failed {
        code: code.into(),
        reason: reason.into(),
    }
}

/// How long a tick may run unless a test says otherwise.
const BUDGET: Duration = Duration::seconds(60);

/// Every campaign pins version 1 of its template unless the request names one.
struct PinFirstVersion;

impl TemplateVersions for PinFirstVersion {
    fn resolve(&self, _template_id: &str, version: Option<u32>) -> crate::Result<u32> {
        Ok(version.unwrap_or(1))
    }
}

pub struct World<'h> {
    store: CrashStore,
    clock: ManualClock,
    messenger: FakeMessenger<Hook<'h>>,
    long_wait: Mutex<Option<(Duration, Hook<'h>)>>,
    rate_per_second: Option<u32>,
    batch_size: Option<usize>,
    round_trip: Duration,
    frequency_caps: FrequencyCaps,
    quiet_hours: Option<QuietHours>,
    ticks: AtomicUsize,
    texts: Mutex<BTreeMap<String, String>>,
}

impl<'h> World<'h> {
    /// An empty world at [`start`] with the sender's default settings.
    pub fn new() -> Self {
        World {
            store: CrashStore::default(),
            clock: ManualClock::new(start()),
            messenger: FakeMessenger::default(),
            long_wait: Mutex::new(None),
            rate_per_second: None,
            batch_size: None,
            round_trip: Duration::zero(),
            frequency_caps: FrequencyCaps::none(),
            quiet_hours: None,
            ticks: AtomicUsize::new(0),
            texts: Mutex::new(BTreeMap::new()),
        }
    }

    /// A world where chats `chats` subscribed and campaign `c1` is launched to everyone.
    pub fn campaign_to(chats: RangeInclusive<u32>) -> Self {
        let world = World::new();
        world.subscribe_all(chats);
        world.launch("c1");
        world
    }

    /// The shop bot may send `rate` messages per second.
    pub fn sending_per_second(mut self, rate: u32) -> Self {
        self.rate_per_second = Some(rate);
        self
    }

    /// The platform answers each request (or each set of requests in flight together) `round_trip`
    /// after it starts.
    pub fn answering_after(mut self, round_trip: Duration) -> Self {
        self.round_trip = round_trip;
        self
    }

    /// Ticks claim `size` recipients per batch.
    pub fn in_batches_of(mut self, size: usize) -> Self {
        self.batch_size = Some(size);
        self
    }

    /// Ticks keep the frequency caps `caps` (as the `frequency_caps` variable writes them).
    pub fn capped_at(mut self, caps: &str) -> Self {
        self.frequency_caps = FrequencyCaps::parse(caps).expect("valid caps");
        self
    }

    /// The workspace's quiet hours are `span` (e.g. `21:00-09:00`).
    pub fn quiet_between(mut self, span: &str) -> Self {
        self.quiet_hours = Some(QuietHours::parse(span).expect("a valid span"));
        self
    }

    /// The one place a tick's settings are made.
    fn config(&self, owner: &str, budget: Duration) -> SenderConfig {
        let mut config = SenderConfig::new(owner, self.clock.now() + budget);
        if let Some(rate) = self.rate_per_second {
            config.rates.insert(Platform::Telegram, rate);
        }
        if let Some(size) = self.batch_size {
            config.batch_size = size;
        }
        config.frequency_caps = self.frequency_caps.clone();
        config.policies = config.policies.with(QuietHoursRule::new(self.quiet_hours));
        config
    }

    // Seeding.

    /// Subscribe chat `chat` on the shop bot, a day before [`start`].
    pub fn subscribe(&self, chat: u32) -> SubscriberId {
        self.subscribe_tagged(chat, &[])
    }

    /// Subscribe chats `chats`.
    pub fn subscribe_all(&self, chats: RangeInclusive<u32>) {
        for chat in chats {
            self.subscribe(chat);
        }
    }

    /// Subscribe chat `chat` with `tags`.
    pub fn subscribe_tagged(&self, chat: u32, tags: &[&str]) -> SubscriberId {
        let since = start() - Duration::days(1);
        let subscriber = self.touch(chat, since, true, |s| {
            s.profile.first_name = Some(format!("User{chat}"));
            for tag in tags {
                s.add_tag(Tag::parse(tag).expect("a valid tag"))
                    .expect("room for the tag");
            }
            s.record_consent(ConsentEvent {
                action: ConsentAction::Subscribed,
                at: since,
                source: "api".into(),
                evidence: "test".into(),
            });
        });
        subscriber.id
    }

    /// Subscribe chat `chat` now: a person first seen at this moment.
    pub fn subscribe_now(&self, chat: u32) -> SubscriberId {
        let now = self.now();
        let subscriber = self.touch(chat, now, true, |s| {
            s.record_consent(ConsentEvent {
                action: ConsentAction::Subscribed,
                at: now,
                source: "api".into(),
                evidence: "test".into(),
            });
        });
        subscriber.id
    }

    /// Chat `chat` subscribes, unsubscribes or blocks at `at`.
    pub fn record_consent(&self, chat: u32, action: ConsentAction, at: DateTime<Utc>) {
        self.touch(chat, at, false, |s| {
            s.record_consent(ConsentEvent {
                action,
                at,
                source: "api".into(),
                evidence: format!("{at}"),
            });
        });
    }

    /// Chat `chat` lives in `zone` (an IANA name).
    pub fn set_timezone(&self, chat: u32, zone: &str) {
        self.touch(chat, start(), false, |s| {
            s.timezone = Some(TimeZone::parse(zone).expect("a valid zone"));
        });
    }

    /// Give chat `chat` the attribute `name`.
    pub fn set_attribute(&self, chat: u32, name: &str) {
        self.touch(chat, start(), false, |s| {
            s.set_attribute(
                AttributeName::parse(name).expect("a valid name"),
                "1".into(),
            )
            .expect("room for the attribute")
        });
    }

    /// Set chat `chat`'s attribute `name` to `value`.
    pub fn set_attribute_to(&self, chat: u32, name: &str, value: &str) {
        self.touch(chat, start(), false, |s| {
            s.set_attribute(
                AttributeName::parse(name).expect("a valid name"),
                value.into(),
            )
            .expect("room for the attribute")
        });
    }

    fn touch(
        &self,
        chat: u32,
        at: DateTime<Utc>,
        opted_in: bool,
        change: impl FnMut(&mut Subscriber),
    ) -> Subscriber {
        let address = Address::parse(Platform::Telegram, &chat.to_string()).expect("a chat id");
        directory::touch(&self.store, &shop(), &address, at, opted_in, change)
            .expect("the subscriber is written")
    }

    /// Create and schedule campaign `id` for now, to every subscriber.
    pub fn launch(&self, id: &str) {
        self.launch_to(id, "{}");
    }

    /// Create and schedule campaign `id` for now, to `audience` (JSON).
    pub fn launch_to(&self, id: &str, audience: &str) {
        self.create_campaign(&format!(
            r#"{{"id": "{id}", "name": "Launch", "channel": "telegram:shop", "template_id": "welcome", "audience": {audience}}}"#
        ));
        self.schedule(id, "now", None);
    }

    /// Create a campaign from its JSON request, at [`start`].
    pub fn create_campaign(&self, request: &str) {
        let request: NewCampaign = serde_json::from_str(request).expect("a campaign request");
        campaign::create(&self.store, &PinFirstVersion, request, start())
            .expect("the campaign is created");
    }

    /// Schedule campaign `id` for `send_at` (in `timezone`), at [`start`].
    pub fn schedule(&self, id: &str, send_at: &str, timezone: Option<&str>) {
        let request = ScheduleRequest {
            send_at: send_at.into(),
            timezone: timezone.map(Into::into),
            ..ScheduleRequest::default()
        };
        self.try_schedule_at(id, &request, start())
            .expect("the campaign is scheduled");
    }

    /// Schedule campaign `id` as `request` asks, at the current time.
    pub fn try_schedule(&self, id: &str, request: &ScheduleRequest) -> crate::Result<()> {
        self.try_schedule_at(id, request, self.now())
    }

    fn try_schedule_at(
        &self,
        id: &str,
        request: &ScheduleRequest,
        at: DateTime<Utc>,
    ) -> crate::Result<()> {
        campaign::schedule(&self.store, &PinFirstVersion, id, request, at).map(|_| ())
    }

    pub fn pause(&self, id: &str) {
        campaign::pause(&self.store, id, self.now()).expect("the campaign pauses");
    }

    pub fn resume(&self, id: &str) -> CampaignState {
        let resumed = campaign::resume(&self.store, id, self.now()).expect("the campaign resumes");
        resumed.state
    }

    pub fn cancel(&self, id: &str) {
        campaign::cancel(&self.store, id, self.now()).expect("the campaign is cancelled");
    }

    /// Pause the shop channel until `until`, as a tick does on a 429.
    pub fn pause_channel_until(&self, until: DateTime<Utc>) {
        pacing::pause_channel(&self.store, &shop(), until).expect("the channel pauses");
    }

    // Scripting the platform and the passing of time.

    /// Answer the next sends to chat `chat` with `outcomes`, then "sent" again.
    pub fn answer(&self, chat: u32, outcomes: impl IntoIterator<Item = SendOutcome>) {
        self.messenger.script(&chat.to_string(), outcomes);
    }

    /// Run `hook` as the `call_number`-th send reaches the platform, before it answers.
    pub fn on_send(&self, call_number: usize, hook: impl FnOnce(&World<'h>) + Send + 'h) {
        self.messenger.on_call(call_number, Box::new(hook));
    }

    /// Run `hook` once, after the first wait of at least `min` a tick makes.
    pub fn on_wait_of_at_least(&self, min: Duration, hook: impl FnOnce(&World<'h>) + Send + 'h) {
        *self.long_wait.lock().unwrap() = Some((min, Box::new(hook)));
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    // Ticking.

    /// A tick with the default budget, which must succeed.
    pub fn tick(&self) -> TickReport {
        self.tick_within(BUDGET)
    }

    /// Move the clock on to `at` and tick.
    pub fn tick_at(&self, at: DateTime<Utc>) -> TickReport {
        self.advance(at - self.now());
        self.tick()
    }

    /// A tick that may run for `budget`, which must succeed.
    pub fn tick_within(&self, budget: Duration) -> TickReport {
        let owner = format!("tick-{}", self.ticks.fetch_add(1, Ordering::SeqCst));
        self.tick_as(&owner, budget).expect("the tick succeeds")
    }

    /// A tick owning its leases as `owner`, with whatever it returns.
    pub fn tick_as(&self, owner: &str, budget: Duration) -> crate::Result<TickReport> {
        run_tick(
            &self.store,
            self,
            &FakeRenderer,
            self,
            &self.config(owner, budget),
        )
    }

    /// A tick that dies on the store's crash.
    pub fn crashing_tick(&self) {
        let outcome = self.tick_as("dies", BUDGET);
        assert!(outcome.is_err(), "the tick was meant to die: {outcome:?}");
    }

    /// One step of a tick.
    pub fn step(&self) -> Step {
        let owner = format!("step-{}", self.ticks.fetch_add(1, Ordering::SeqCst));
        send_next_batch(
            &self.store,
            self,
            &FakeRenderer,
            self,
            &self.config(&owner, BUDGET),
        )
        .expect("the step succeeds")
    }

    /// Run ticks ten minutes apart, so every lease lapses, until one finds nothing to do.
    pub fn drain(&self) {
        for _ in 0..5 {
            self.advance(Duration::minutes(10));
            if self.tick().steps.is_empty() {
                break;
            }
        }
    }

    // Reading what happened.

    pub fn store(&self) -> &CrashStore {
        &self.store
    }

    /// Every send the platform was asked for, with its time.
    pub fn sends(&self) -> Vec<Call> {
        self.messenger.calls()
    }

    pub fn send_count(&self) -> usize {
        self.messenger.calls().len()
    }

    /// The times of the sends to chat `chat`.
    pub fn send_times_to(&self, chat: u32) -> Vec<DateTime<Utc>> {
        let chat = chat.to_string();
        self.sends()
            .into_iter()
            .filter(|(to, _)| *to == chat)
            .map(|(_, at)| at)
            .collect()
    }

    /// How many sends each chat got.
    pub fn sends_per_chat(&self) -> BTreeMap<String, usize> {
        self.messenger.calls_per_chat()
    }

    /// The text each chat was last sent.
    pub fn texts_per_chat(&self) -> BTreeMap<String, String> {
        self.texts.lock().unwrap().clone()
    }

    /// Whether every chat sent to was sent exactly once.
    pub fn each_sent_once(&self) -> bool {
        self.sends_per_chat().values().all(|&n| n == 1)
    }

    /// Every ledger entry of campaign `id`.
    pub fn ledger(&self, id: &str) -> Vec<DeliveryEntry> {
        let cursor = claim::cursor(&self.store, id).expect("the cursor reads");
        (0..cursor.next_batch)
            .filter_map(|n| self.batch(id, n))
            .flat_map(|b| b.entries)
            .collect()
    }

    /// The recipients of campaign `id`, in ledger order.
    pub fn recipients(&self, id: &str) -> Vec<SubscriberId> {
        self.ledger(id).into_iter().map(|e| e.subscriber).collect()
    }

    /// How many ledger entries of campaign `id` are final.
    pub fn final_entries(&self, id: &str) -> usize {
        self.ledger(id)
            .iter()
            .filter(|e| e.outcome.is_final())
            .count()
    }

    /// The one ledger state of chat `chat` in campaign `id`.
    pub fn state_of(&self, id: &str, chat: u32) -> DeliveryState {
        let subscriber = subscriber_id(chat);
        let entries: Vec<_> = self
            .ledger(id)
            .into_iter()
            .filter(|e| e.subscriber == subscriber)
            .collect();
        assert_eq!(
            entries.len(),
            1,
            "chat {chat} must be in the ledger exactly once"
        );
        entries[0].outcome.clone()
    }

    pub fn batch(&self, id: &str, n: u64) -> Option<DeliveryBatch> {
        kv::get_json(&self.store, &keys::delivery_batch(id, n)).expect("the batch reads")
    }

    /// The counters `names` of campaign `id`, in that order.
    pub fn counters<const N: usize>(&self, id: &str, names: [&str; N]) -> [i64; N] {
        names.map(|name| self.counter(id, name))
    }

    pub fn counter(&self, id: &str, name: &str) -> i64 {
        self.store
            .increment(&keys::campaign_counter(id, name), 0)
            .expect("the counter reads")
    }

    pub fn campaign_state(&self, id: &str) -> CampaignState {
        campaign::get(&self.store, id)
            .expect("the campaign exists")
            .state
    }

    pub fn active_campaigns(&self) -> Vec<String> {
        campaign::active_ids(&self.store).expect("the active set reads")
    }

    /// What campaign `id` would do, judged as the next tick's sender would.
    pub fn estimate(&self, id: &str) -> Estimate {
        let campaign = campaign::get(&self.store, id).expect("the campaign exists");
        let config = self.config("estimate", BUDGET);
        estimate(
            &self.store,
            &campaign,
            self.now(),
            &config.policies,
            &config.frequency_caps,
            &FakeRenderer,
            config.rate_for(Platform::Telegram),
        )
        .expect("the estimate reads")
    }

    pub fn progress(&self, id: &str) -> Progress {
        progress(&self.store, id, self.now()).expect("the progress reads")
    }

    /// Chat `chat`'s send history, as the frequency caps see it.
    pub fn history_of(&self, chat: u32) -> SendHistory {
        kv::get_json(&self.store, &keys::send_history(&subscriber_id(chat)))
            .expect("the history reads")
            .unwrap_or_default()
    }

    /// The shop channel's pacing record.
    pub fn pace(&self) -> PaceState {
        kv::get_json(&self.store, &keys::pace(&shop()))
            .expect("the pace reads")
            .expect("the channel has a pace record")
    }
}

impl World<'_> {
    /// A send reaching the platform: record it, run a hook due now, and take the answer.
    fn reach(&self, to: &Address, message: &Outgoing) -> SendOutcome {
        assert!(message.message.text.starts_with("Hi "));
        self.texts
            .lock()
            .unwrap()
            .insert(to.as_str().to_owned(), message.message.text.clone());
        if let Some(hook) = self.messenger.record(to.as_str(), self.now()) {
            hook(self);
        }
        self.messenger.answer(to.as_str())
    }
}

/// The world is the messenger the sender talks to: every send of a call starts at once and all are
/// answered one round trip later.
impl Messenger for World<'_> {
    type Message = Outgoing;

    fn send(&self, _channel: &Channel, to: &Address, message: &Outgoing) -> SendOutcome {
        let answer = self.reach(to, message);
        self.clock.advance(self.round_trip);
        answer
    }

    fn send_many(&self, _channel: &Channel, sends: &[(&Address, &Outgoing)]) -> Vec<SendOutcome> {
        let answers = sends
            .iter()
            .map(|(to, message)| self.reach(to, message))
            .collect();
        self.clock.advance(self.round_trip);
        answers
    }
}

/// The world is the tick's clock: manual time, plus the hook waiting for a long wait.
impl Clock for World<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn sleep(&self, duration: Duration) {
        self.clock.sleep(duration);
        let due = self
            .long_wait
            .lock()
            .unwrap()
            .take_if(|(min, _)| duration >= *min);
        if let Some((_, hook)) = due {
            hook(self);
        }
    }
}
