//! The application's health: whether the key-value store answers a read. Every route needs the store,
//! so a store that does not answer is the application being down.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::keys;
use crate::kv::KvStore;

/// What `GET /health` answers when the store works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// `ok`: a read of the store's probe key was answered.
    pub store: &'static str,
}

/// Read the fixed probe key (absent is fine: the round trip is what counts).
///
/// # Errors
/// 503 `store_unavailable` when the store fails; the store's own message stays out of the answer, as
/// it may carry connection details.
pub fn check<S: KvStore + ?Sized>(store: &S) -> Result<Health> {
    store.get(&keys::health_probe()).map_err(|_| {
        Error::unavailable(
            "store_unavailable",
            "the key-value store did not answer a read; check that it is running and that the \
             runtime config points at it",
        )
    })?;
    Ok(Health {
        status: "ok",
        store: "ok",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{CasSlot, Entries, MemoryStore, StoreError};

    /// A store that is down: every call fails.
    struct DownStore;

    fn down<T>() -> Result<T, StoreError> {
        Err(StoreError(
            "connection refused to redis://:hunter2@db:6379".into(),
        ))
    }

    impl KvStore for DownStore {
        fn get(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
            down()
        }
        fn set(&self, _: &str, _: &[u8]) -> Result<(), StoreError> {
            down()
        }
        fn delete(&self, _: &str) -> Result<(), StoreError> {
            down()
        }
        fn exists(&self, _: &str) -> Result<bool, StoreError> {
            down()
        }
        fn get_keys(&self) -> Result<Vec<String>, StoreError> {
            down()
        }
        fn get_many(&self, _: &[String]) -> Result<Entries, StoreError> {
            down()
        }
        fn set_many(&self, _: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
            down()
        }
        fn delete_many(&self, _: &[String]) -> Result<(), StoreError> {
            down()
        }
        fn increment(&self, _: &str, _: i64) -> Result<i64, StoreError> {
            down()
        }
        fn cas_slot(&self, _: &str) -> Result<Box<dyn CasSlot + '_>, StoreError> {
            down()
        }
    }

    #[test]
    fn a_store_that_answers_is_healthy_and_nothing_is_written() {
        let store = MemoryStore::new();
        let health = check(&store).unwrap();
        assert_eq!(
            serde_json::to_value(&health).unwrap(),
            serde_json::json!({"status": "ok", "store": "ok"})
        );
        assert!(store.get_keys().unwrap().is_empty());
    }

    #[test]
    fn a_failing_store_is_503_without_its_connection_details() {
        let err = check(&DownStore).unwrap_err();
        assert_eq!((err.status(), err.code()), (503, "store_unavailable"));
        let body = String::from_utf8(err.to_json()).unwrap();
        assert!(
            !body.contains("hunter2") && !body.contains("redis://"),
            "{body}"
        );
    }
}
