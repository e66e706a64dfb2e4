//! Reserving a send in a person's history by compare-and-swap, and releasing it.

use chrono_tz::Tz;

use crate::error::Result;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::SubscriberId;

use super::history::SendHistory;
use super::rules::FrequencyCaps;
use super::PastSend;

/// What a reservation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The send is in the person's history: it may go out.
    Reserved,
    /// A cap refuses it; nothing was written. Holds the skip reason (`frequency_cap: ...`).
    Capped(String),
}

/// Reserve `send` in `subscriber`'s history under `caps` (calendar days in `zone`), starting from
/// `current`, the record as the caller last read it (a stale reading only costs a retry): one
/// compare-and-swap when nobody wrote the record since. Two senders reserving for one person at once
/// are serialised by the swap, so the second is judged with the first's send in the history.
///
/// # Errors
/// A store failure, an unreadable record, or a `conflict` after too many lost races.
pub fn reserve<S: KvStore + ?Sized>(
    store: &S,
    caps: &FrequencyCaps,
    subscriber: &SubscriberId,
    send: &PastSend,
    zone: Tz,
    current: Option<Vec<u8>>,
) -> Result<Reservation> {
    kv::update_from(store, &keys::send_history(subscriber), current, |bytes| {
        let history = SendHistory::decode(bytes)?;
        if let Some(reason) = caps.refusal(&history, send, zone) {
            return Ok((None, Reservation::Capped(reason)));
        }
        let reserved = history.with(send.clone(), caps.span());
        Ok((Some(kv::encode(&reserved)), Reservation::Reserved))
    })
}

/// Take `source`'s send out of `subscriber`'s history again: it definitively did not go out (or goes
/// back to the queue to be reserved again when it is retried), so it counts against no cap.
///
/// # Errors
/// A store failure, an unreadable record, or a `conflict` after too many lost races.
pub fn release<S: KvStore + ?Sized>(
    store: &S,
    subscriber: &SubscriberId,
    source: &str,
) -> Result<()> {
    kv::update(store, &keys::send_history(subscriber), |bytes| {
        let history = SendHistory::decode(bytes)?;
        Ok((history.without(source).map(|h| kv::encode(&h)), ()))
    })
}

/// Delete a person's send history (part of erasing them: it holds when they were messaged).
///
/// # Errors
/// A store failure.
pub fn erase_send_history<S: KvStore + ?Sized>(store: &S, subscriber: &SubscriberId) -> Result<()> {
    Ok(store.delete(&keys::send_history(subscriber))?)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};

    use super::*;
    use crate::delivery::caps::MessageKind;
    use crate::kv::MemoryStore;

    fn person() -> SubscriberId {
        SubscriberId::parse("telegram:shop:42").unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-10T10:00:00Z".parse().unwrap()
    }

    fn history(store: &MemoryStore) -> SendHistory {
        kv::get_json(store, &keys::send_history(&person()))
            .unwrap()
            .unwrap_or_default()
    }

    #[test]
    fn concurrent_reservations_never_exceed_a_cap() {
        let store = MemoryStore::new();
        let caps = FrequencyCaps::parse("promotional:2/7d").unwrap();
        let outcomes = std::sync::Mutex::new(Vec::new());
        kv::concurrently(&store, 8, |store, thread| {
            let send = PastSend::campaign(&format!("c{thread}"), now());
            // Every thread starts from the same stale reading: nothing sent yet.
            let outcome = reserve(store, &caps, &person(), &send, Tz::UTC, None);
            outcomes.lock().unwrap().push(outcome.unwrap());
        });
        let outcomes = outcomes.into_inner().unwrap();
        let reserved = outcomes.iter().filter(|o| **o == Reservation::Reserved);
        assert_eq!(reserved.count(), 2, "{outcomes:?}");
        assert_eq!(history(&store).sends.len(), 2);
    }

    #[test]
    fn a_released_send_counts_no_more_and_a_transactional_one_is_kept() {
        let store = MemoryStore::new();
        let caps = FrequencyCaps::parse("promotional:1/calendar_day").unwrap();
        let order = PastSend {
            at: now(),
            kind: MessageKind::Transactional,
            source: "order:7".into(),
        };
        let first = PastSend::campaign("spring", now());
        let second = PastSend::campaign("summer", now() + Duration::hours(1));
        let reserve_now = |send: &PastSend| {
            let current = store.get(&keys::send_history(&person())).unwrap();
            reserve(&store, &caps, &person(), send, Tz::UTC, current).unwrap()
        };
        assert_eq!(reserve_now(&order), Reservation::Reserved);
        assert_eq!(reserve_now(&first), Reservation::Reserved);
        assert!(
            matches!(reserve_now(&second), Reservation::Capped(reason) if reason.starts_with("frequency_cap: "))
        );
        release(&store, &person(), "campaign:spring").unwrap();
        assert_eq!(reserve_now(&second), Reservation::Reserved);
        let kinds: Vec<_> = history(&store).sends.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [MessageKind::Transactional, MessageKind::Promotional],
            "the transactional message stays in the history"
        );
        erase_send_history(&store, &person()).unwrap();
        assert_eq!(history(&store), SendHistory::default());
    }
}
