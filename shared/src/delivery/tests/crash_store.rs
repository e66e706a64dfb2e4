//! A store whose tick "dies": every write goes through one fault decision, then to a [`MemoryStore`].
//! It also counts its round trips by operation, so a test can tell what a feature costs in store calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::kv::{CasOutcome, CasSlot, KvStore, MemoryStore, StoreError};

/// What kind of write a crash trigger sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Set,
    Cas,
    Increment,
    Other,
}

/// Picks the write at which the tick dies: its kind, key and new value.
pub type Trigger = Box<dyn Fn(Write, &str, &[u8]) -> bool + Send + Sync>;

/// What the store answers (shortened so the delegating methods read as one line each).
type Reply<T> = Result<T, StoreError>;

/// Reads always succeed; a write fails once the store is dead, and the store dies when told to or at
/// the first write the armed trigger picks. That write and every later one fail until `recover`.
#[derive(Default)]
pub struct CrashStore {
    inner: MemoryStore,
    trigger: Mutex<Option<Trigger>>,
    dead: AtomicBool,
    round_trips: Mutex<BTreeMap<&'static str, usize>>,
}

impl CrashStore {
    /// Die at the first write `trigger` picks from now on.
    pub fn crash_at(&self, trigger: impl Fn(Write, &str, &[u8]) -> bool + Send + Sync + 'static) {
        *self.trigger.lock().unwrap() = Some(Box::new(trigger));
    }

    /// Die now.
    pub fn crash(&self) {
        self.dead.store(true, Ordering::SeqCst);
    }

    /// Come back to life with no trigger armed.
    pub fn recover(&self) {
        self.trigger.lock().unwrap().take();
        self.dead.store(false, Ordering::SeqCst);
    }

    /// The calls made so far, by operation (`get`, `get_many`, `cas`, ...).
    pub fn round_trips(&self) -> BTreeMap<&'static str, usize> {
        self.round_trips.lock().unwrap().clone()
    }

    fn count(&self, operation: &'static str) {
        *self
            .round_trips
            .lock()
            .unwrap()
            .entry(operation)
            .or_default() += 1;
    }

    pub fn crashed(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// The one fault decision every write passes.
    fn admit(&self, write: Write, key: &str, value: &[u8]) -> Reply<()> {
        if self.crashed() {
            return Err(StoreError("the tick died".into()));
        }
        let armed = self.trigger.lock().unwrap();
        if armed.as_ref().is_some_and(|picks| picks(write, key, value)) {
            self.crash();
            return Err(StoreError("the tick died here".into()));
        }
        Ok(())
    }
}

impl KvStore for CrashStore {
    fn get(&self, key: &str) -> Reply<Option<Vec<u8>>> {
        self.count("get");
        self.inner.get(key)
    }
    fn exists(&self, key: &str) -> Reply<bool> {
        self.count("exists");
        self.inner.exists(key)
    }
    fn get_keys(&self) -> Reply<Vec<String>> {
        self.count("get_keys");
        self.inner.get_keys()
    }
    fn get_many(&self, keys: &[String]) -> Reply<Vec<(String, Option<Vec<u8>>)>> {
        self.count("get_many");
        self.inner.get_many(keys)
    }
    fn set(&self, key: &str, value: &[u8]) -> Reply<()> {
        self.count("set");
        self.admit(Write::Set, key, value)?;
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Reply<()> {
        self.count("delete");
        self.admit(Write::Other, key, &[])?;
        self.inner.delete(key)
    }
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Reply<()> {
        self.count("set_many");
        self.admit(Write::Other, "", &[])?;
        self.inner.set_many(entries)
    }
    fn delete_many(&self, keys: &[String]) -> Reply<()> {
        self.count("delete_many");
        self.admit(Write::Other, "", &[])?;
        self.inner.delete_many(keys)
    }
    fn increment(&self, key: &str, delta: i64) -> Reply<i64> {
        self.count("increment");
        // Reading a counter (`delta` 0) is not a write.
        if delta != 0 {
            self.admit(Write::Increment, key, &[])?;
        }
        self.inner.increment(key, delta)
    }
    fn cas_slot(&self, key: &str) -> Reply<Box<dyn CasSlot + '_>> {
        self.count("cas_slot");
        Ok(Box::new(AdmittedSlot {
            store: self,
            key: key.to_owned(),
            inner: self.inner.cas_slot(key)?,
        }))
    }
    fn compare_and_swap(&self, key: &str, old: Option<&[u8]>, new: &[u8]) -> Reply<CasOutcome> {
        self.count("cas");
        self.admit(Write::Cas, key, new)?;
        self.inner.compare_and_swap(key, old, new)
    }
}

/// A compare-and-swap slot whose swap passes the store's fault decision like any write.
struct AdmittedSlot<'a> {
    store: &'a CrashStore,
    key: String,
    inner: Box<dyn CasSlot + 'a>,
}

impl CasSlot for AdmittedSlot<'_> {
    fn current(&self) -> Reply<Option<Vec<u8>>> {
        self.inner.current()
    }

    fn swap(self: Box<Self>, new: &[u8]) -> Reply<CasOutcome> {
        self.store.count("cas");
        self.store.admit(Write::Cas, &self.key, new)?;
        self.inner.swap(new)
    }
}
