//! Pacing per channel, shared by every tick through one record (`keys::pace(channel)`): ticks reserve
//! send slots by compare-and-swap, so two overlapping ticks together stay within the channel's rate,
//! each chat gets at most one message a second, and a 429 pauses the whole channel.
//!
//! A tick waits for a round of answers between rounds of requests, so the channel's next slot can fall
//! behind the clock. Slots up to `catch_up` in the past are still given (and sent at once): the time
//! lost waiting is made up, while over any window the channel sends at most rate × (window + catch_up).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::{Address, Channel};

/// The smallest gap between two messages to the same chat (Telegram: one per second per chat).
pub const PER_CHAT_GAP_MS: i64 = 1000;

/// A channel's pacing record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaceState {
    /// The earliest time the next message may go out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_slot_at: Option<DateTime<Utc>>,
    /// The platform asked us to stop until then (429 `retry_after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<DateTime<Utc>>,
    /// Chats given a slot within the last second, with that slot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_chats: Vec<(String, DateTime<Utc>)>,
}

/// The gap between two messages on a channel sending `rate_per_second`.
pub fn interval(rate_per_second: u32) -> Duration {
    Duration::nanoseconds(1_000_000_000 / i64::from(rate_per_second.max(1)))
}

/// How a tick paces a channel: its rate, how far behind its pace it may make up, and how early a
/// request may start before its slot (a wave takes every slot within its window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub rate_per_second: u32,
    pub catch_up: Duration,
    pub sent_early: Duration,
}

/// Reserve one send slot per address, in order, no later than `deadline`; returns the slots (fewer than
/// asked when the deadline comes first). A slot up to `pace.catch_up` before `now` is due at once.
/// Slots of one call are contiguous, so a tick's waves never interleave single slots with another's.
/// A chat's next slot is at least a second plus `pace.sent_early` after its last: either may start up
/// to `sent_early` before its slot.
///
/// # Errors
/// Store failures or contention.
pub fn reserve_slots<S: KvStore + ?Sized>(
    store: &S,
    channel: &Channel,
    addresses: &[&Address],
    pace: Pace,
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>> {
    let gap = interval(pace.rate_per_second);
    let per_chat = Duration::milliseconds(PER_CHAT_GAP_MS) + pace.sent_early.max(Duration::zero());
    let catch_up = pace.catch_up;
    kv::update_json(store, &keys::pace(channel), |current: Option<PaceState>| {
        let mut pace = current.unwrap_or_default();
        pace.recent_chats.retain(|(_, at)| *at + per_chat > now);
        // A fresh channel starts now; a channel behind its pace makes up at most `catch_up`.
        let earliest = pace.next_slot_at.map_or(now, |_| now - catch_up);
        let mut next = [Some(earliest), pace.next_slot_at, pace.paused_until]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now);
        let mut slots = Vec::with_capacity(addresses.len());
        for address in addresses {
            let chat_free_at = pace
                .recent_chats
                .iter()
                .filter(|(chat, _)| chat == address.as_str())
                .map(|(_, at)| *at + per_chat)
                .max();
            let slot = chat_free_at.map_or(next, |free| free.max(next));
            if slot > deadline {
                break;
            }
            slots.push(slot);
            // A slot made up from the past goes out now: the chat's second starts then.
            pace.recent_chats
                .push((address.as_str().to_owned(), slot.max(now)));
            next = slot + gap;
        }
        if slots.is_empty() {
            return Ok((None, slots));
        }
        pace.next_slot_at = Some(next);
        Ok((Some(pace), slots))
    })
}

/// Pause the channel until `until` (a later pause already recorded stands).
///
/// # Errors
/// Store failures or contention.
pub fn pause_channel<S: KvStore + ?Sized>(
    store: &S,
    channel: &Channel,
    until: DateTime<Utc>,
) -> Result<()> {
    kv::update_json(store, &keys::pace(channel), |current: Option<PaceState>| {
        let mut pace = current.unwrap_or_default();
        if pace.paused_until.is_some_and(|p| p >= until) {
            return Ok((None, ()));
        }
        pace.paused_until = Some(until);
        Ok((Some(pace), ()))
    })
}

/// Whether the channel is paused beyond `slot`: a pause recorded after the slot was reserved (a slot is
/// never reserved inside a pause already known).
///
/// # Errors
/// Store failures.
pub fn paused_beyond<S: KvStore + ?Sized>(
    store: &S,
    channel: &Channel,
    slot: DateTime<Utc>,
) -> Result<bool> {
    let pace: Option<PaceState> = kv::get_json(store, &keys::pace(channel))?;
    Ok(paused_past(pace.as_ref(), slot))
}

/// Whether the pacing record `pace` (as read) pauses the channel beyond `slot`.
pub fn paused_past(pace: Option<&PaceState>, slot: DateTime<Utc>) -> bool {
    pace.and_then(|p| p.paused_until)
        .is_some_and(|until| until > slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryStore;
    use crate::subscriber::Platform;

    fn now() -> DateTime<Utc> {
        "2026-11-01T10:00:00Z".parse().unwrap()
    }

    fn addresses(ids: &[&str]) -> Vec<Address> {
        ids.iter()
            .map(|a| Address::parse(Platform::Telegram, a).unwrap())
            .collect()
    }

    /// Pacing at `rate`, making up at most `catch_up_ms`, no request sent before its slot.
    fn paced(rate: u32, catch_up_ms: i64) -> Pace {
        Pace {
            rate_per_second: rate,
            catch_up: Duration::milliseconds(catch_up_ms),
            sent_early: Duration::zero(),
        }
    }

    /// Slots for `recipients` at `rate`, any time in the next hour, without catching up.
    fn reserve_now(
        store: &MemoryStore,
        channel: &Channel,
        recipients: &[Address],
        rate: u32,
    ) -> Vec<DateTime<Utc>> {
        let recipients: Vec<&Address> = recipients.iter().collect();
        let far = now() + Duration::hours(1);
        reserve_slots(store, channel, &recipients, paced(rate, 0), now(), far).unwrap()
    }

    #[test]
    fn two_reservations_share_the_channel_rate() {
        let store = MemoryStore::new();
        let channel = Channel::parse("telegram:shop").unwrap();
        let a = reserve_now(&store, &channel, &addresses(&["1", "2"]), 10);
        let b = reserve_now(&store, &channel, &addresses(&["3", "4"]), 10);
        let all: Vec<_> = a.into_iter().chain(b).collect();
        for pair in all.windows(2) {
            assert_eq!(pair[1] - pair[0], Duration::milliseconds(100));
        }
    }

    #[test]
    fn a_chat_waits_a_second_and_a_pause_holds_the_channel() {
        let store = MemoryStore::new();
        let channel = Channel::parse("telegram:shop").unwrap();
        let chat = addresses(&["7"]);
        let one = reserve_now(&store, &channel, &chat, 30);
        let two = reserve_now(&store, &channel, &chat, 30);
        assert_eq!(two[0] - one[0], Duration::seconds(1));
        pause_channel(&store, &channel, now() + Duration::seconds(30)).unwrap();
        pause_channel(&store, &channel, now() + Duration::seconds(5)).unwrap();
        let after = reserve_now(&store, &channel, &addresses(&["8"]), 30);
        assert_eq!(after[0], now() + Duration::seconds(30));
    }

    #[test]
    fn a_chat_sent_early_waits_a_second_plus_the_window() {
        let store = MemoryStore::new();
        let channel = Channel::parse("telegram:shop").unwrap();
        let chat = addresses(&["7"]);
        let pace = Pace {
            sent_early: Duration::milliseconds(500),
            ..paced(30, 0)
        };
        let far = now() + Duration::hours(1);
        let one = reserve_slots(&store, &channel, &[&chat[0]], pace, now(), far).unwrap();
        let two = reserve_slots(&store, &channel, &[&chat[0]], pace, now(), far).unwrap();
        // The first may go out at its slot and the second half a second before its own.
        assert_eq!(two[0] - one[0], Duration::milliseconds(1_500));
    }

    #[test]
    fn no_slot_is_reserved_past_the_deadline() {
        let store = MemoryStore::new();
        let channel = Channel::parse("telegram:shop").unwrap();
        let many = addresses(&["1", "2", "3", "4", "5"]);
        let slots = reserve_slots(
            &store,
            &channel,
            &many.iter().collect::<Vec<_>>(),
            paced(2, 0),
            now(),
            now() + Duration::seconds(1),
        )
        .unwrap();
        assert_eq!(
            slots,
            vec![
                now(),
                now() + Duration::milliseconds(500),
                now() + Duration::seconds(1)
            ]
        );
    }

    #[test]
    fn a_channel_behind_its_pace_makes_up_at_most_the_catch_up() {
        let store = MemoryStore::new();
        let channel = Channel::parse("telegram:shop").unwrap();
        let far = now() + Duration::hours(1);
        let pace = paced(10, 200);
        let catch_up = pace.catch_up;
        let first = addresses(&["1"]);
        reserve_slots(&store, &channel, &[&first[0]], pace, now(), far).unwrap();
        // Half a second later the pace's next slot (now + 100 ms) lies 400 ms behind: 200 ms are made up.
        let later = now() + Duration::milliseconds(500);
        let next = addresses(&["2", "3", "4", "5"]);
        let slots = reserve_slots(
            &store,
            &channel,
            &next.iter().collect::<Vec<_>>(),
            pace,
            later,
            far,
        )
        .unwrap();
        let behind = later - catch_up;
        assert_eq!(
            slots,
            vec![
                behind,
                behind + Duration::milliseconds(100),
                behind + Duration::milliseconds(200),
                behind + Duration::milliseconds(300),
            ]
        );
    }
}
