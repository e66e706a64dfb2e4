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

/// Reserve one send slot per address, in order, no later than `deadline`; returns the slots (fewer than
/// asked when the deadline comes first). A slot up to `catch_up` before `now` is due at once.
///
/// # Errors
/// Store failures or contention.
pub fn reserve_slots<S: KvStore + ?Sized>(
    store: &S,
    channel: &Channel,
    addresses: &[&Address],
    rate_per_second: u32,
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
    catch_up: Duration,
) -> Result<Vec<DateTime<Utc>>> {
    let gap = interval(rate_per_second);
    let per_chat = Duration::milliseconds(PER_CHAT_GAP_MS);
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
    Ok(pace
        .and_then(|p| p.paused_until)
        .is_some_and(|until| until > slot))
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

    /// Slots for `recipients` at `rate`, any time in the next hour, without catching up.
    fn reserve_now(
        store: &MemoryStore,
        channel: &Channel,
        recipients: &[Address],
        rate: u32,
    ) -> Vec<DateTime<Utc>> {
        let recipients: Vec<&Address> = recipients.iter().collect();
        let far = now() + Duration::hours(1);
        reserve_slots(
            store,
            channel,
            &recipients,
            rate,
            now(),
            far,
            Duration::zero(),
        )
        .unwrap()
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
    fn no_slot_is_reserved_past_the_deadline() {
        let store = MemoryStore::new();
        let channel = Channel::parse("telegram:shop").unwrap();
        let many = addresses(&["1", "2", "3", "4", "5"]);
        let slots = reserve_slots(
            &store,
            &channel,
            &many.iter().collect::<Vec<_>>(),
            2,
            now(),
            now() + Duration::seconds(1),
            Duration::zero(),
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
        let catch_up = Duration::milliseconds(200);
        let first = addresses(&["1"]);
        reserve_slots(&store, &channel, &[&first[0]], 10, now(), far, catch_up).unwrap();
        // Half a second later the pace's next slot (now + 100 ms) lies 400 ms behind: 200 ms are made up.
        let later = now() + Duration::milliseconds(500);
        let next = addresses(&["2", "3", "4", "5"]);
        let slots = reserve_slots(
            &store,
            &channel,
            &next.iter().collect::<Vec<_>>(),
            10,
            later,
            far,
            catch_up,
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
