use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{CasOutcome, CasSlot, Entries, KvStore, StoreError};

type Map = BTreeMap<String, Vec<u8>>;

/// How long a compare-and-swap waits for its turn on a key another slot holds before it goes ahead and
/// relies on the comparison alone (a slot opened again on its own key by the same caller never waits
/// for good).
const TURN_WAIT: Duration = Duration::from_millis(50);

/// An in-memory [`KvStore`] with the same atomicity as the real store: each call is one critical section.
/// Compare-and-swaps of one key take turns: threads in a test have no round trip to spread them out,
/// and without turns one of them can lose every retry of a read-modify-write to the others.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<Map>,
    /// Keys a compare-and-swap slot holds, and the signal that one was given back.
    held: Mutex<BTreeSet<String>>,
    given_back: Condvar,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> MutexGuard<'_, Map> {
        // A panic while holding the lock cannot leave a half-applied operation, so the data stays valid.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl KvStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.entries().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.entries().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.entries().remove(key);
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.entries().contains_key(key))
    }

    fn get_keys(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.entries().keys().cloned().collect())
    }

    fn get_many(&self, keys: &[String]) -> Result<Entries, StoreError> {
        let entries = self.entries();
        Ok(keys
            .iter()
            .map(|k| (k.clone(), entries.get(k).cloned()))
            .collect())
    }

    fn set_many(&self, items: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let mut entries = self.entries();
        for (key, value) in items {
            entries.insert(key.clone(), value.clone());
        }
        Ok(())
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut entries = self.entries();
        for key in keys {
            entries.remove(key);
        }
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut entries = self.entries();
        let current = match entries.get(key) {
            None => 0,
            Some(bytes) => std::str::from_utf8(bytes)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| StoreError(format!("value at '{key}' is not a counter")))?,
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| StoreError(format!("counter '{key}' would overflow")))?;
        entries.insert(key.to_owned(), next.to_string().into_bytes());
        Ok(next)
    }

    fn cas_slot(&self, key: &str) -> Result<Box<dyn CasSlot + '_>, StoreError> {
        let turn = self.take_turn(key);
        Ok(Box::new(WatchedKey {
            store: self,
            key: key.to_owned(),
            seen: Mutex::new(None),
            turn,
        }))
    }
}

impl MemoryStore {
    /// Wait (at most [`TURN_WAIT`]) until no other slot holds `key`, then hold it; `true` when held.
    fn take_turn(&self, key: &str) -> bool {
        let give_up_at = Instant::now() + TURN_WAIT;
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        while held.contains(key) {
            let left = give_up_at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            held = self
                .given_back
                .wait_timeout(held, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        held.insert(key.to_owned())
    }
}

/// A key held for a compare-and-swap as the real stores hold it: the swap writes only if the key still
/// holds what [`CasSlot::current`] saw, so the caller may use the store in between.
struct WatchedKey<'a> {
    store: &'a MemoryStore,
    key: String,
    seen: Mutex<Option<Vec<u8>>>,
    /// Whether this slot holds the key's turn (given back when the slot is dropped).
    turn: bool,
}

impl Drop for WatchedKey<'_> {
    fn drop(&mut self) {
        if self.turn {
            let mut held = self.store.held.lock().unwrap_or_else(|p| p.into_inner());
            held.remove(&self.key);
            self.store.given_back.notify_all();
        }
    }
}

impl CasSlot for WatchedKey<'_> {
    fn current(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let current = self.store.entries().get(&self.key).cloned();
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = current.clone();
        Ok(current)
    }

    fn swap(self: Box<Self>, new: &[u8]) -> Result<CasOutcome, StoreError> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut entries = self.store.entries();
        let now = entries.get(&self.key);
        if now != seen.as_ref() {
            return Ok(CasOutcome::Conflict(now.cloned()));
        }
        entries.insert(self.key.clone(), new.to_vec());
        Ok(CasOutcome::Swapped)
    }
}

/// Run `work` on `threads` threads at once against one store, as concurrent requests would; `work` gets
/// the store and its thread's number. A panic in any thread fails the caller.
#[cfg(test)]
pub(crate) fn concurrently(
    store: &MemoryStore,
    threads: usize,
    work: impl Fn(&MemoryStore, usize) + Sync,
) {
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let work = &work;
            scope.spawn(move || work(store, thread));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_set_delete_exists() {
        let store = MemoryStore::new();
        assert_eq!(store.get("a").unwrap(), None);
        store.set("a", b"1").unwrap();
        assert!(store.exists("a").unwrap());
        assert_eq!(store.get("a").unwrap(), Some(b"1".to_vec()));
        store.delete("a").unwrap();
        assert!(!store.exists("a").unwrap());
        store.delete("a").unwrap();
    }

    #[test]
    fn batch_operations_keep_order_and_report_absent_keys() {
        let store = MemoryStore::new();
        store
            .set_many(&[("x".into(), b"1".to_vec()), ("y".into(), b"2".to_vec())])
            .unwrap();
        let got = store
            .get_many(&["y".into(), "z".into(), "x".into()])
            .unwrap();
        assert_eq!(
            got,
            vec![
                ("y".into(), Some(b"2".to_vec())),
                ("z".into(), None),
                ("x".into(), Some(b"1".to_vec()))
            ]
        );
        store.delete_many(&["x".into(), "y".into()]).unwrap();
        assert!(store.get_keys().unwrap().is_empty());
    }

    #[test]
    fn compare_and_swap_detects_conflicts() {
        let store = MemoryStore::new();
        assert_eq!(
            store.compare_and_swap("k", None, b"v1").unwrap(),
            CasOutcome::Swapped
        );
        // Expecting absence fails once the key exists, and reports what is there.
        assert_eq!(
            store.compare_and_swap("k", None, b"v2").unwrap(),
            CasOutcome::Conflict(Some(b"v1".to_vec()))
        );
        assert_eq!(
            store.compare_and_swap("k", Some(b"stale"), b"v2").unwrap(),
            CasOutcome::Conflict(Some(b"v1".to_vec()))
        );
        assert_eq!(
            store.compare_and_swap("k", Some(b"v1"), b"v2").unwrap(),
            CasOutcome::Swapped
        );
        assert_eq!(store.get("k").unwrap(), Some(b"v2".to_vec()));
    }

    #[test]
    fn increment_is_exact_under_concurrency() {
        let store = MemoryStore::new();
        concurrently(&store, 8, |store, _| {
            for _ in 0..100 {
                store.increment("c", 1).unwrap();
            }
        });
        assert_eq!(store.increment("c", 0).unwrap(), 800);
    }

    #[test]
    fn concurrent_cas_updates_lose_nothing() {
        let store = MemoryStore::new();
        concurrently(&store, 8, |store, _| {
            for _ in 0..50 {
                crate::kv::update(store, "list", |current| {
                    let mut n: u64 = current
                        .map(|b| std::str::from_utf8(b).unwrap().parse().unwrap())
                        .unwrap_or(0);
                    n += 1;
                    Ok((Some(n.to_string().into_bytes()), ()))
                })
                .unwrap();
            }
        });
        assert_eq!(store.get("list").unwrap(), Some(b"400".to_vec()));
    }

    #[test]
    fn increment_rejects_non_counters() {
        let store = MemoryStore::new();
        store.set("c", b"not a number").unwrap();
        assert!(store.increment("c", 1).is_err());
    }
}
