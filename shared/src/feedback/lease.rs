//! The receipt lease: whoever writes receipt records (the intake applying statuses, the dispatcher
//! crediting early receipts) holds it while it reads, merges and writes them. Under it a batch of
//! statuses needs one batch read and one batch write, instead of a compare-and-swap per record.
//!
//! It is taken by one compare-and-swap and given back in the same batch write as the records and counters
//! it guarded, so a holder that dies leaves either everything or nothing written; its lease then runs out
//! after [`LEASE_TTL_SECS`], longer than any request lives.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::{self, CasOutcome, KvStore};

/// How long a lease holds when its holder never gives it back (a request that died).
pub(crate) const LEASE_TTL_SECS: i64 = 30;
/// How long a request waits for a lease others hold before it gives up (the platform redelivers).
pub(crate) const LEASE_WAIT_SECS: i64 = 10;

/// The stored lease.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LeaseRecord {
    /// Held until then; `None` when free.
    pub held_until: Option<DateTime<Utc>>,
    /// How many times it was given back; tells a lease taken again from the one seen before.
    #[serde(default)]
    pub generation: u64,
}

impl LeaseRecord {
    fn is_held_at(&self, now: DateTime<Utc>) -> bool {
        self.held_until.is_some_and(|until| until > now)
    }
}

/// A receipt lease this request holds; give it back with [`HeldLease::release_entry`] in the batch write
/// of what it guarded, or with [`HeldLease::release`].
#[derive(Debug)]
pub(crate) struct HeldLease {
    generation: u64,
}

impl HeldLease {
    /// Take the lease, waiting while another request holds it.
    ///
    /// # Errors
    /// 409 `receipts_busy` after [`LEASE_WAIT_SECS`] of waiting; a store failure.
    pub(crate) fn acquire<S: KvStore + ?Sized>(store: &S) -> Result<Self> {
        Self::acquire_with(store, &SystemClock)
    }

    pub(crate) fn acquire_with<S: KvStore + ?Sized, C: Clock + ?Sized>(
        store: &S,
        clock: &C,
    ) -> Result<Self> {
        let key = keys::receipt_lease();
        let give_up_at = clock.now() + Duration::seconds(LEASE_WAIT_SECS);
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            let now = clock.now();
            // The slot's read is the value the swap compares against: one read, one swap.
            let slot = store.cas_slot(&key)?;
            let current = slot.current()?;
            // A record that does not decode is taken as free, so it cannot stop receipts for good.
            let lease: LeaseRecord = current
                .as_deref()
                .and_then(|bytes| serde_json::from_slice(bytes).ok())
                .unwrap_or_default();
            if !lease.is_held_at(now) {
                let taken = LeaseRecord {
                    held_until: Some(now + Duration::seconds(LEASE_TTL_SECS)),
                    generation: lease.generation,
                };
                if slot.swap(&kv::encode(&taken))? == CasOutcome::Swapped {
                    return Ok(HeldLease {
                        generation: lease.generation,
                    });
                }
                continue;
            }
            drop(slot);
            if now >= give_up_at {
                return Err(Error::conflict(
                    "receipts_busy",
                    "receipts are being applied by other requests; retry the request",
                ));
            }
            clock.sleep(Duration::from_std(pause).unwrap_or_default());
            pause = (pause * 2).min(std::time::Duration::from_millis(50));
        }
    }

    /// The entry that gives the lease back, for the batch write of the records it guarded.
    pub(crate) fn release_entry(&self) -> (String, Vec<u8>) {
        let free = LeaseRecord {
            held_until: None,
            generation: self.generation + 1,
        };
        (keys::receipt_lease(), kv::encode(&free))
    }

    /// Give the lease back when there is nothing to write.
    ///
    /// # Errors
    /// Store failure (the lease then runs out by itself).
    pub(crate) fn release<S: KvStore + ?Sized>(self, store: &S) -> Result<()> {
        let (key, value) = self.release_entry();
        Ok(store.set(&key, &value)?)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::kv::MemoryStore;

    /// A clock whose sleeps pass at once.
    struct ManualClock(Cell<DateTime<Utc>>);

    impl Clock for ManualClock {
        fn now(&self) -> DateTime<Utc> {
            self.0.get()
        }
        fn sleep(&self, duration: Duration) {
            self.0.set(self.0.get() + duration);
        }
    }

    fn clock() -> ManualClock {
        ManualClock(Cell::new("2026-03-01T10:00:00Z".parse().unwrap()))
    }

    fn stored(store: &MemoryStore) -> LeaseRecord {
        kv::get_json(store, &keys::receipt_lease())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_held_lease_is_waited_for_and_given_back_with_a_new_generation() {
        let store = MemoryStore::new();
        let clock = clock();
        let first = HeldLease::acquire_with(&store, &clock).unwrap();
        assert!(stored(&store).is_held_at(clock.now()));
        // Another request waits the whole of its patience, then gives up: the platform redelivers.
        let err = HeldLease::acquire_with(&store, &clock).unwrap_err();
        assert_eq!((err.status(), err.code()), (409, "receipts_busy"));
        first.release(&store).unwrap();
        assert_eq!(stored(&store).generation, 1);
        let second = HeldLease::acquire_with(&store, &clock).unwrap();
        let (key, value) = second.release_entry();
        store.set(&key, &value).unwrap();
        assert_eq!(
            stored(&store),
            LeaseRecord {
                held_until: None,
                generation: 2
            }
        );
    }

    #[test]
    fn a_lease_whose_holder_died_runs_out_and_is_taken_over() {
        let store = MemoryStore::new();
        let clock = clock();
        let _died = HeldLease::acquire_with(&store, &clock).unwrap();
        clock.sleep(Duration::seconds(LEASE_TTL_SECS - LEASE_WAIT_SECS + 1));
        // Waiting less than its patience, the next request sees the lease run out and takes it.
        HeldLease::acquire_with(&store, &clock).unwrap();
        assert!(stored(&store).held_until.unwrap() > clock.now());
    }

    #[test]
    fn an_unreadable_lease_counts_as_free() {
        let store = MemoryStore::new();
        store.set(&keys::receipt_lease(), b"{").unwrap();
        HeldLease::acquire_with(&store, &clock()).unwrap();
    }
}
