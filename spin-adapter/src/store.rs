//! The Spin key-value store behind the core's [`KvStore`] port.
//!
//! It trusts no host with more than Spin guarantees: compare-and-swap writes carry write tokens and are
//! read back ([`crate::write_token`]), and batch reads fall back to single reads ([`crate::batch_read`]),
//! so the same components run on Spin's SQLite store and on its Redis store as it ships.

use std::cell::RefCell;

use spin_sdk::key_value::Store;
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store as wasi_store};
use spinpost::kv::{CasOutcome, CasSlot, Entries, KvStore, StoreError};
use spinpost::{Error, Result};
use wasi::random::random;

use crate::batch_read::BatchReads;
use crate::write_token::{outcome_when_absent, Sealed, WriteToken};

/// The label of the one store every component uses.
pub const STORE_LABEL: &str = "default";

/// The Spin key-value store behind the [`KvStore`] port.
///
/// Plain reads and writes use `fermyon:spin/key-value`; atomics and batches use `wasi:keyvalue`,
/// which Spin backs with the same store for the same label.
pub struct SpinStore {
    store: Store,
    bucket: wasi_store::Bucket,
    batch_reads: BatchReads,
}

impl SpinStore {
    /// Open the default store.
    ///
    /// # Errors
    /// 500 when the component has no access to the store (a spin.toml mistake).
    pub fn open_default() -> Result<Self> {
        let store = Store::open_default()
            .map_err(|e| Error::internal(format!("opening key-value store: {e}")))?;
        let bucket = wasi_store::open(STORE_LABEL)
            .map_err(|e| Error::internal(format!("opening key-value bucket: {e:?}")))?;
        Ok(SpinStore {
            store,
            bucket,
            batch_reads: BatchReads::default(),
        })
    }

    /// The stored value at `key`, seal and all.
    fn get_sealed(&self, key: &str) -> Result<Option<Sealed>, StoreError> {
        Ok(self.store.get(key).map_err(spin_err)?.map(Sealed::open))
    }
}

fn spin_err(e: spin_sdk::key_value::Error) -> StoreError {
    StoreError(e.to_string())
}

fn wasi_err(e: wasi_store::Error) -> StoreError {
    StoreError(match e {
        wasi_store::Error::NoSuchStore => "no such store".to_owned(),
        wasi_store::Error::AccessDenied => "access denied".to_owned(),
        wasi_store::Error::Other(message) => message,
    })
}

fn record(value: Option<Vec<u8>>) -> Option<Vec<u8>> {
    value.map(|raw| Sealed::open(raw).value)
}

impl KvStore for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_sealed(key)?.map(|sealed| sealed.value))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.store.set(key, value).map_err(spin_err)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store.delete(key).map_err(spin_err)
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.store.exists(key).map_err(spin_err)
    }

    fn get_keys(&self) -> Result<Vec<String>, StoreError> {
        self.store.get_keys().map_err(spin_err)
    }

    fn get_many(&self, keys: &[String]) -> Result<Entries, StoreError> {
        let entries = self.batch_reads.read(
            keys,
            |keys| batch::get_many(&self.bucket, keys).map_err(wasi_err),
            |key| self.store.get(key).map_err(spin_err),
        )?;
        Ok(entries
            .into_iter()
            .map(|(key, value)| (key, record(value)))
            .collect())
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        batch::set_many(&self.bucket, entries).map_err(wasi_err)
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        batch::delete_many(&self.bucket, keys).map_err(wasi_err)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(&self.bucket, key, delta).map_err(wasi_err)
    }

    fn cas_slot(&self, key: &str) -> Result<Box<dyn CasSlot + '_>, StoreError> {
        Ok(Box::new(SpinCasSlot {
            store: self,
            key: key.to_owned(),
            cas: atomics::Cas::new(&self.bucket, key).map_err(wasi_err)?,
            seen: RefCell::new(Sealed::open(Vec::new())),
        }))
    }
}

/// A key held through `wasi:keyvalue/atomics`. The host's verdict on the swap is checked by reading the
/// key back: Spin's Redis store reports every swap as failed, and may report an aborted one as done.
struct SpinCasSlot<'a> {
    store: &'a SpinStore,
    key: String,
    cas: atomics::Cas,
    /// The value [`CasSlot::current`] saw, whose lineage our write continues.
    seen: RefCell<Sealed>,
}

impl CasSlot for SpinCasSlot<'_> {
    fn current(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let current = self.cas.current().map_err(wasi_err)?.map(Sealed::open);
        let record = current.as_ref().map(|sealed| sealed.value.clone());
        *self.seen.borrow_mut() = current.unwrap_or_else(|| Sealed::open(Vec::new()));
        Ok(record)
    }

    fn swap(self: Box<Self>, new: &[u8]) -> Result<CasOutcome, StoreError> {
        let SpinCasSlot {
            store,
            key,
            cas,
            seen,
        } = *self;
        let token = WriteToken::from_random(random::get_random_u64(), random::get_random_u64());
        let reported_swapped = match atomics::swap(cas, &seen.into_inner().succeeded_by(new, token))
        {
            Ok(()) => true,
            Err(atomics::CasError::CasFailed(_)) => false,
            Err(atomics::CasError::StoreError(e)) => return Err(wasi_err(e)),
        };
        Ok(match store.get_sealed(&key)? {
            Some(read_back) => read_back.outcome_of(token, reported_swapped),
            None => outcome_when_absent(reported_swapped),
        })
    }
}
