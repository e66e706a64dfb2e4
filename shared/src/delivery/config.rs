//! How a tick sends: [`SenderConfig`], its per-platform rates and its retry limits.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::subscriber::Platform;

use super::caps::FrequencyCaps;
use super::outcome::RetryPolicy;
use super::policy::PolicyChain;

/// The longest time budget a tick may be given.
pub const MAX_BUDGET_MS: u64 = 600_000;

/// The default [`SenderConfig::wave_window`].
pub const WAVE_WINDOW_MS: i64 = 1000;

/// The send rate of a platform when the deployment sets none: what its API allows for broadcasts.
pub fn default_rate(platform: Platform) -> u32 {
    platform.capabilities().default_rate_per_second
}

/// How a tick sends: who it is, until when, and the limits it keeps.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// This tick's lease owner id (unique per tick).
    pub owner: String,
    /// Stop starting work at this time.
    pub deadline: DateTime<Utc>,
    /// Messages per second per channel, by platform; a platform missing here sends at [`default_rate`].
    pub rates: BTreeMap<Platform, u32>,
    /// Recipients per batch record (more when the channel's rate needs more in flight, see
    /// [`SenderConfig::batch_size_for`]): the few dozen store commands of claiming, closing and
    /// counting a batch spread over this many messages.
    pub batch_size: usize,
    /// The fewest recipients judged and given send slots together (more when the channel's rate needs
    /// more in flight).
    pub chunk_size: usize,
    /// The platform round trip the sender plans for: requests in flight = rate × this, twice over.
    pub expected_latency: Duration,
    /// The most requests one tick keeps in flight on a channel: the most entries that can end as
    /// `outcome_unknown` after a crash.
    pub max_in_flight: usize,
    /// How far ahead of its send slot a request may start: a wave of requests started together takes
    /// every slot within this window, so at low rates a wave (with its two ledger writes) carries
    /// several messages instead of one. Where the in-flight cap holds a wave to fewer slots, the window
    /// is divided evenly (see [`SenderConfig::wave_window_for`]). Set to a second (or a whole fraction
    /// of one), no second holds more than the rate's messages.
    pub wave_window: Duration,
    /// Index pages one audience walk reads at most.
    pub max_pages_per_walk: u64,
    /// How long a lease outlives the last reserved send slot. Each chunk's write renews it, so it only
    /// needs to cover one chunk's sends; short, so a tick that died holds its batch for seconds.
    pub lease: Duration,
    /// Attempts for transient failures (5xx, network) before the delivery fails.
    pub max_attempts: u32,
    /// The first backoff after a transient failure; it doubles with each attempt.
    pub backoff_base: Duration,
    /// Rate-limit answers for one message before it fails (the platform keeps refusing).
    pub max_rate_limited: u32,
    /// Which active campaign a step looks at first, so campaigns share ticks.
    pub rotation: usize,
    /// The checks that decide whether and when each recipient is sent, in order.
    pub policies: PolicyChain,
    /// The workspace's frequency caps, judged after the policies (a recipient they pass reserves a
    /// send); none by default.
    pub frequency_caps: FrequencyCaps,
}

impl SenderConfig {
    /// Defaults: the platforms' default rates, batches of 400 sent in waves of the requests due within a
    /// second (at least those in flight at once over a 100 ms round trip), 5 attempts, the
    /// standard policy chain, no frequency caps.
    pub fn new(owner: impl Into<String>, deadline: DateTime<Utc>) -> Self {
        SenderConfig {
            owner: owner.into(),
            deadline,
            rates: BTreeMap::new(),
            batch_size: 400,
            chunk_size: 10,
            expected_latency: Duration::milliseconds(100),
            max_in_flight: 256,
            wave_window: Duration::milliseconds(WAVE_WINDOW_MS),
            max_pages_per_walk: 5,
            lease: Duration::seconds(15),
            max_attempts: 5,
            backoff_base: Duration::seconds(1),
            max_rate_limited: 10,
            rotation: 0,
            policies: PolicyChain::standard(),
            frequency_caps: FrequencyCaps::none(),
        }
    }

    /// Defaults, with the deadline `budget_ms` after `now` (at most ten minutes: a tick is one HTTP request).
    pub fn with_budget(owner: impl Into<String>, now: DateTime<Utc>, budget_ms: u64) -> Self {
        let budget =
            Duration::milliseconds(i64::try_from(budget_ms.min(MAX_BUDGET_MS)).unwrap_or(0));
        Self::new(owner, now + budget)
    }

    /// The send rate of a platform: the configured one, else its default.
    pub fn rate_for(&self, platform: Platform) -> u32 {
        self.rates
            .get(&platform)
            .copied()
            .unwrap_or_else(|| default_rate(platform))
    }

    /// How many requests may be in flight on a channel sending `rate` messages a second: by Little's
    /// law rate × round trip are in flight; twice that leaves room to catch up after a slow answer.
    pub fn in_flight_for(&self, rate: u32) -> usize {
        let round_trip_ms = self.expected_latency.num_milliseconds().max(1);
        let needed = (i64::from(rate) * round_trip_ms * 2 + 999) / 1000;
        usize::try_from(needed)
            .unwrap_or(usize::MAX)
            .clamp(1, self.max_in_flight.max(1))
    }

    /// How many slots ahead a wave takes on a channel sending `rate` a second: the wave window, divided
    /// into as many equal parts as the in-flight cap needs (so waves stay evenly spread: a second never
    /// holds more than the rate's messages).
    pub fn wave_window_for(&self, rate: u32) -> Duration {
        let window_ms = self.wave_window.num_milliseconds().max(0);
        let in_window = (i64::from(rate) * window_ms + 999) / 1000;
        let cap = i64::try_from(self.max_in_flight.max(1)).unwrap_or(i64::MAX);
        let parts = ((in_window + cap - 1) / cap).max(1);
        Duration::milliseconds(window_ms / parts)
    }

    /// The most requests started together on a channel sending `rate` a second: the slots of its wave
    /// window, or those in flight at once ([`SenderConfig::in_flight_for`]) if that is more.
    pub fn wave_size_for(&self, rate: u32) -> usize {
        let window_ms = self.wave_window_for(rate).num_milliseconds();
        let in_window = (i64::from(rate) * window_ms + 999) / 1000;
        usize::try_from(in_window)
            .unwrap_or(usize::MAX)
            .max(self.in_flight_for(rate))
            .clamp(1, self.max_in_flight.max(1))
    }

    /// How far behind its pace a channel may make up (see [`super::pacing`]): two round trips, the wait
    /// for a round of answers plus a batch's turnover.
    pub fn catch_up(&self) -> Duration {
        self.expected_latency * 2
    }

    /// Recipients judged and given slots together on a channel sending `rate` a second: four full
    /// waves, whose records are read in one round trip and whose slots are reserved as one block (so
    /// overlapping ticks take turns by blocks, not by single slots).
    pub fn chunk_size_for(&self, rate: u32) -> usize {
        self.chunk_size.max(self.wave_size_for(rate) * 4)
    }

    /// Recipients per batch on a channel sending `rate` a second: a batch's last answers are awaited
    /// before the next batch starts, so a batch holds at least two rounds of requests in flight.
    pub fn batch_size_for(&self, rate: u32) -> usize {
        self.batch_size.max(self.in_flight_for(rate) * 2)
    }

    /// Recipients judged and given slots together on a channel of `platform`: enough to keep its
    /// requests in flight, and one full request where the platform broadcasts.
    pub fn chunk_size_on(&self, platform: Platform) -> usize {
        self.chunk_size_for(self.rate_for(platform))
            .max(platform.capabilities().broadcast_recipients)
    }

    /// Recipients per batch on a channel of `platform`: as [`SenderConfig::batch_size_for`] its rate,
    /// and one full request where the platform broadcasts.
    pub fn batch_size_on(&self, platform: Platform) -> usize {
        self.batch_size_for(self.rate_for(platform))
            .max(platform.capabilities().broadcast_recipients)
    }

    /// The limits under which a send outcome is retried or given up.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts,
            backoff_base: self.backoff_base,
            max_rate_limited: self.max_rate_limited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_rate_overrides_the_platform_default() {
        let mut config = SenderConfig::new("t", Utc::now());
        assert_eq!(config.rate_for(Platform::Telegram), 25);
        assert_eq!(config.rate_for(Platform::Whatsapp), 80);
        config.rates.insert(Platform::Telegram, 5);
        assert_eq!(config.rate_for(Platform::Telegram), 5);
        assert_eq!(config.rate_for(Platform::Whatsapp), 80);
    }

    #[test]
    fn requests_in_flight_follow_rate_times_round_trip_within_the_cap() {
        let mut config = SenderConfig::new("t", Utc::now());
        config.expected_latency = Duration::milliseconds(100);
        assert_eq!(config.in_flight_for(25), 5);
        assert_eq!(config.in_flight_for(80), 16);
        assert_eq!(config.in_flight_for(1000), 200);
        assert_eq!(config.batch_size_for(1000), 400);
        // A wave takes the slots of a second at low rates, so it carries several messages; where the
        // in-flight cap allows fewer, of an even part of a second.
        assert_eq!(config.wave_size_for(25), 25);
        assert_eq!(config.wave_size_for(80), 80);
        assert_eq!(config.wave_window_for(300), Duration::milliseconds(500));
        assert_eq!(config.wave_size_for(300), 150);
        assert_eq!(config.wave_window_for(1000), Duration::milliseconds(250));
        assert_eq!(config.wave_size_for(1000), 250);
        assert_eq!(config.chunk_size_for(25), 100);
        config.wave_window = Duration::zero();
        assert_eq!(config.wave_size_for(25), 5);
        assert_eq!(config.chunk_size_for(25), 20);
        config.max_in_flight = 50;
        assert_eq!(config.in_flight_for(1000), 50);
        config.expected_latency = Duration::zero();
        assert_eq!(config.in_flight_for(1), 1);
    }

    #[test]
    fn a_broadcasting_platform_judges_and_claims_a_full_broadcast_at_once() {
        let mut config = SenderConfig::new("t", Utc::now());
        config.batch_size = 10;
        let per_broadcast = Platform::Viber.capabilities().broadcast_recipients;
        assert!(per_broadcast > 1);
        assert_eq!(config.chunk_size_on(Platform::Viber), per_broadcast);
        assert_eq!(config.batch_size_on(Platform::Viber), per_broadcast);
        assert_eq!(config.chunk_size_on(Platform::Telegram), 100);
        assert_eq!(config.batch_size_on(Platform::Telegram), 10);
    }

    #[test]
    fn the_budget_is_capped_at_ten_minutes() {
        let now = Utc::now();
        let config = SenderConfig::with_budget("t", now, u64::MAX);
        assert_eq!(config.deadline - now, Duration::milliseconds(600_000));
    }
}
