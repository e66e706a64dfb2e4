//! The key-value store port. Spin's store is the production adapter; [`MemoryStore`] is the test double.
//!
//! The contract follows `wasi:keyvalue@0.2.0-draft2` as Spin implements it: single-key operations,
//! batch operations that write in one round trip, an atomic increment, and compare-and-swap.
//! There is no prefix scan: `get_keys` lists the whole store and is for tests and tooling only.

mod memory;

#[cfg(test)]
pub(crate) use memory::concurrently;
pub use memory::MemoryStore;

use serde::{de::DeserializeOwned, Serialize};

use crate::error::Error;

/// A failure of the store itself (not a missing key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key-value store: {0}")]
pub struct StoreError(pub String);

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        Error::internal(err.to_string())
    }
}

/// Keys with their values (`None`: absent), as batch reads return them.
pub type Entries = Vec<(String, Option<Vec<u8>>)>;

/// The result of a compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasOutcome {
    /// The value was written.
    Swapped,
    /// The stored value was not the expected one; nothing was written. Holds the value seen.
    Conflict(Option<Vec<u8>>),
}

/// The key-value store port.
///
/// # Errors
/// Every method returns [`StoreError`] only when the store fails; an absent key is `Ok(None)` / `Ok(false)`.
pub trait KvStore {
    /// The value at `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Write `value` at `key`.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Remove `key`; removing an absent key succeeds.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Whether `key` holds a value.
    fn exists(&self, key: &str) -> Result<bool, StoreError>;
    /// Every key of the store. Never call it on a request path: keep index records instead.
    fn get_keys(&self) -> Result<Vec<String>, StoreError>;
    /// Values of many keys in one round trip, in the order asked.
    fn get_many(&self, keys: &[String]) -> Result<Entries, StoreError>;
    /// Write many values in one round trip (one transaction on Spin's SQLite store).
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError>;
    /// Remove many keys in one round trip.
    fn delete_many(&self, keys: &[String]) -> Result<(), StoreError>;
    /// Atomically add `delta` to the counter at `key` (absent counts as 0); returns the new value.
    /// `increment(key, 0)` reads a counter portably, whatever encoding the backend uses.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;
    /// Hold `key` for a compare-and-swap: the store's atomic read and write of one key.
    fn cas_slot(&self, key: &str) -> Result<Box<dyn CasSlot + '_>, StoreError>;
    /// Write `new` at `key` only if the stored value equals `expected` (`None`: the key is absent).
    /// Every store shares this comparison; a store differs only in its [`KvStore::cas_slot`].
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<CasOutcome, StoreError> {
        compare_and_swap_slot(self.cas_slot(key)?, expected, new)
    }
}

/// One key of a store, held for a compare-and-swap ([`KvStore::cas_slot`]). Each store says how it reads
/// the key and writes it atomically; [`compare_and_swap_slot`] is the comparison they all share.
pub trait CasSlot {
    /// The value at the key now (`None`: absent).
    ///
    /// # Errors
    /// Store failure.
    fn current(&self) -> Result<Option<Vec<u8>>, StoreError>;
    /// Write `new` at the key: `Conflict` with the value seen when another writer came in since
    /// [`CasSlot::current`].
    ///
    /// # Errors
    /// Store failure.
    fn swap(self: Box<Self>, new: &[u8]) -> Result<CasOutcome, StoreError>;
}

/// Compare-and-swap through a store's slot: write `new` only if the key holds `expected`, otherwise
/// report what it holds. Every [`KvStore::compare_and_swap`] goes through here.
///
/// # Errors
/// Store failure.
pub fn compare_and_swap_slot(
    slot: Box<dyn CasSlot + '_>,
    expected: Option<&[u8]>,
    new: &[u8],
) -> Result<CasOutcome, StoreError> {
    let current = slot.current()?;
    if current.as_deref() != expected {
        return Ok(CasOutcome::Conflict(current));
    }
    slot.swap(new)
}

/// How many times a read-modify-write retries on conflict before giving up.
pub const CAS_ATTEMPTS: usize = 64;

/// Read-modify-write `key` through compare-and-swap until it sticks.
///
/// `change` gets the current value and returns the new value and a result, or `None` to leave the record
/// as it is. It may run several times, so it must not have side effects.
///
/// # Errors
/// The error `change` returns, a store failure, or a `conflict` after [`CAS_ATTEMPTS`] lost races.
pub fn update<S, T, F>(store: &S, key: &str, mut change: F) -> Result<T, Error>
where
    S: KvStore + ?Sized,
    F: FnMut(Option<&[u8]>) -> Result<(Option<Vec<u8>>, T), Error>,
{
    // The slot's own read is the one the swap compares against: no read of the key before it.
    for _ in 0..CAS_ATTEMPTS {
        let slot = store.cas_slot(key)?;
        let current = slot.current()?;
        let (new, result) = change(current.as_deref())?;
        let Some(new) = new else { return Ok(result) };
        if slot.swap(&new)? == CasOutcome::Swapped {
            return Ok(result);
        }
    }
    Err(Error::conflict(
        "contention",
        format!("record '{key}' kept changing; retry the request"),
    ))
}

/// Like [`update`], starting from `current`, the value the caller has just read at `key` (a read saved).
///
/// # Errors
/// As [`update`].
pub fn update_from<S, T, F>(
    store: &S,
    key: &str,
    mut current: Option<Vec<u8>>,
    mut change: F,
) -> Result<T, Error>
where
    S: KvStore + ?Sized,
    F: FnMut(Option<&[u8]>) -> Result<(Option<Vec<u8>>, T), Error>,
{
    for _ in 0..CAS_ATTEMPTS {
        let (new, result) = change(current.as_deref())?;
        let Some(new) = new else { return Ok(result) };
        match store.compare_and_swap(key, current.as_deref(), &new)? {
            CasOutcome::Swapped => return Ok(result),
            CasOutcome::Conflict(seen) => current = seen,
        }
    }
    Err(Error::conflict(
        "contention",
        format!("record '{key}' kept changing; retry the request"),
    ))
}

/// Like [`update`] for a JSON record.
///
/// # Errors
/// As [`update`], plus an internal error when the stored record is not valid JSON of type `R`.
pub fn update_json<S, R, T, F>(store: &S, key: &str, mut change: F) -> Result<T, Error>
where
    S: KvStore + ?Sized,
    R: Serialize + DeserializeOwned,
    F: FnMut(Option<R>) -> Result<(Option<R>, T), Error>,
{
    update(store, key, |bytes| {
        let record = bytes.map(|b| decode::<R>(key, b)).transpose()?;
        let (new, result) = change(record)?;
        Ok((new.map(|r| encode(&r)), result))
    })
}

/// Like [`update_json`], starting from `current`, the value the caller has just read at `key`.
///
/// # Errors
/// As [`update_json`].
pub fn update_json_from<S, R, T, F>(
    store: &S,
    key: &str,
    current: Option<Vec<u8>>,
    mut change: F,
) -> Result<T, Error>
where
    S: KvStore + ?Sized,
    R: Serialize + DeserializeOwned,
    F: FnMut(Option<R>) -> Result<(Option<R>, T), Error>,
{
    update_from(store, key, current, |bytes| {
        let record = bytes.map(|b| decode::<R>(key, b)).transpose()?;
        let (new, result) = change(record)?;
        Ok((new.map(|r| encode(&r)), result))
    })
}

/// Read a JSON record.
///
/// # Errors
/// Store failure, or an internal error when the record does not decode.
pub fn get_json<S: KvStore + ?Sized, R: DeserializeOwned>(
    store: &S,
    key: &str,
) -> Result<Option<R>, Error> {
    store.get(key)?.map(|b| decode(key, &b)).transpose()
}

/// Write a JSON record.
///
/// # Errors
/// Store failure.
pub fn set_json<S: KvStore + ?Sized, R: Serialize>(
    store: &S,
    key: &str,
    record: &R,
) -> Result<(), Error> {
    Ok(store.set(key, &encode(record))?)
}

/// Read many JSON records in one round trip; absent keys give `None`.
///
/// # Errors
/// Store failure, or a record that does not decode.
pub fn get_many_json<S: KvStore + ?Sized, R: DeserializeOwned>(
    store: &S,
    keys: &[String],
) -> Result<Vec<Option<R>>, Error> {
    store
        .get_many(keys)?
        .into_iter()
        .map(|(key, value)| value.map(|b| decode(&key, &b)).transpose())
        .collect()
}

/// Serialise a record; our records are plain data, so this cannot fail.
pub fn encode<R: Serialize>(record: &R) -> Vec<u8> {
    serde_json::to_vec(record).unwrap_or_default()
}

/// Decode the JSON record read at `key` (for callers that read several kinds of record in one batch).
///
/// # Errors
/// An internal error when the record does not decode; the details go to the component log only.
pub fn decode<R: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<R, Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        // The details are for the operator's log; the caller learns only that a record is unreadable.
        eprintln!("spinpost: record '{key}' does not decode: {e}");
        Error::internal("a stored record could not be read; the component log names it")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_retries_after_a_conflicting_write() {
        let store = MemoryStore::new();
        store.set("n", b"1").unwrap();
        let mut interfered = false;
        let result = update(&store, "n", |current| {
            if !interfered {
                // Another writer changes the record between our read and our swap.
                store.set("n", b"5").unwrap();
                interfered = true;
            }
            let value: i64 = std::str::from_utf8(current.unwrap())
                .unwrap()
                .parse()
                .unwrap();
            Ok((Some((value + 1).to_string().into_bytes()), value + 1))
        })
        .unwrap();
        assert_eq!(result, 6);
        assert_eq!(store.get("n").unwrap().unwrap(), b"6");
    }

    /// A slot whose store refuses the swap, as a host does when another writer came in.
    struct RacedSlot {
        current: Option<Vec<u8>>,
        swapped: std::rc::Rc<std::cell::Cell<bool>>,
    }

    impl CasSlot for RacedSlot {
        fn current(&self) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self.current.clone())
        }

        fn swap(self: Box<Self>, _: &[u8]) -> Result<CasOutcome, StoreError> {
            self.swapped.set(true);
            Ok(CasOutcome::Conflict(Some(b"theirs".to_vec())))
        }
    }

    #[test]
    fn the_shared_compare_and_swap_swaps_only_over_the_expected_value() {
        let swapped = std::rc::Rc::new(std::cell::Cell::new(false));
        let slot = |current: Option<&[u8]>| {
            Box::new(RacedSlot {
                current: current.map(<[u8]>::to_vec),
                swapped: std::rc::Rc::clone(&swapped),
            })
        };
        assert_eq!(
            compare_and_swap_slot(slot(Some(b"v1")), Some(b"v0"), b"v2").unwrap(),
            CasOutcome::Conflict(Some(b"v1".to_vec()))
        );
        assert_eq!(
            compare_and_swap_slot(slot(None), Some(b"v0"), b"v2").unwrap(),
            CasOutcome::Conflict(None)
        );
        assert!(!swapped.get(), "a mismatch never reaches the store's swap");
        // A swap the store refuses reports the value it saw instead.
        assert_eq!(
            compare_and_swap_slot(slot(Some(b"v0")), Some(b"v0"), b"v2").unwrap(),
            CasOutcome::Conflict(Some(b"theirs".to_vec()))
        );
        assert!(swapped.get());
    }

    #[test]
    fn update_can_leave_the_record_unchanged() {
        let store = MemoryStore::new();
        let seen = update(&store, "absent", |current| Ok((None, current.is_none()))).unwrap();
        assert!(seen);
        assert!(!store.exists("absent").unwrap());
    }

    #[test]
    fn json_records_round_trip_and_corruption_is_reported() {
        let store = MemoryStore::new();
        set_json(&store, "r", &vec![1, 2, 3]).unwrap();
        assert_eq!(
            get_json::<_, Vec<i32>>(&store, "r").unwrap(),
            Some(vec![1, 2, 3])
        );
        store.set("bad", b"{").unwrap();
        let err = get_json::<_, Vec<i32>>(&store, "bad").unwrap_err();
        assert_eq!(err.status(), 500);
        assert!(
            !err.message().contains("bad"),
            "the key layout stays out of responses"
        );
    }
}
