//! The key-value stores behind `fermyon:spin/key-value` and `wasi:keyvalue`.
//!
//! Each store label (`default`, or one named in the runtime config) is one [`KvBackend`]:
//! [`SqliteStore`] (Spin's `type = "spin"`, the default) or [`RedisStore`] (`type = "redis"`).
//! The host interfaces see only the trait, so the backends are interchangeable.

mod redis;
mod sqlite;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context, Result};

pub use self::redis::{RedisCommands, RedisStore};
pub use self::sqlite::{KvDb, SqliteStore, DB_FILE_NAME};
use crate::runtime_config::{KvStoreConfig, RuntimeConfig};

/// The label Spin defines without any runtime config.
pub const DEFAULT_STORE: &str = "default";

/// Errors surfaced to components as `other(..)` (or `cas-failed` for [`KvError::CasFailed`]).
#[derive(Debug)]
pub enum KvError {
    /// The value changed since the CAS snapshot.
    CasFailed,
    /// Anything else (I/O, SQLite, Redis, bad increment value).
    Other(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::CasFailed => f.write_str("compare-and-swap failed: value changed"),
            KvError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for KvError {}

/// Result of store operations.
pub type KvResult<T> = std::result::Result<T, KvError>;

/// A store operation in flight. It owns everything it needs (`'static`), so a caller holding
/// non-`Sync` state (a request's `Store<T>`) can await it.
pub type KvFuture<T> = Pin<Box<dyn Future<Output = KvResult<T>> + Send + 'static>>;

/// A key's value as it was read (`None`: absent): what a compare-and-swap expects still to find.
pub type Snapshot = Option<Vec<u8>>;

/// One key-value store (one label), with the operations of `wasi:keyvalue/{store,batch,atomics}`.
///
/// Implementations must not block the async runtime's worker threads.
pub trait KvBackend: Send + Sync + std::fmt::Debug {
    /// The value of `key`, if any.
    fn get(&self, key: String) -> KvFuture<Option<Vec<u8>>>;
    /// Sets `key`, replacing any value.
    fn set(&self, key: String, value: Vec<u8>) -> KvFuture<()>;
    /// Deletes `key` (no error when absent).
    fn delete(&self, key: String) -> KvFuture<()>;
    /// Whether `key` exists.
    fn exists(&self, key: String) -> KvFuture<bool>;
    /// Every key of the store (Spin has no prefix scan either).
    fn keys(&self) -> KvFuture<Vec<String>>;
    /// Values for `keys` (absent keys map to `None`), in the order asked.
    fn get_many(&self, keys: Vec<String>) -> KvFuture<Vec<(String, Option<Vec<u8>>)>>;
    /// Sets all pairs at once (atomically in both backends).
    fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> KvFuture<()>;
    /// Deletes all `keys` at once.
    fn delete_many(&self, keys: Vec<String>) -> KvFuture<()>;
    /// Atomically adds `delta` to the counter at `key` (absent counts as 0); returns the new
    /// value. The encoding is the backend's, as in Spin: 8-byte little-endian in SQLite,
    /// a decimal string in Redis (`INCRBY`).
    fn increment(&self, key: String, delta: i64) -> KvFuture<i64>;
    /// Atomically replaces the value of `key` with `new` only if it still equals `expected`
    /// (`None`: the key must still be absent); otherwise [`KvError::CasFailed`].
    fn compare_and_swap(&self, key: String, expected: Snapshot, new: Vec<u8>) -> KvFuture<()>;
    /// A compare-and-swap handle that keeps `key` watched, for a backend whose swaps are tied to
    /// a handle (Spin's Redis store); `None`, the default: swaps compare against a snapshot through
    /// [`KvBackend::compare_and_swap`].
    fn watch(&self, key: &str) -> Option<KvFuture<Box<dyn WatchedKey>>> {
        let _ = key;
        None
    }
}

/// A key held for compare-and-swap by a backend that ties the swap to the handle
/// ([`KvBackend::watch`]).
pub trait WatchedKey: Send + Sync + std::fmt::Debug {
    /// Watches the key and reads its value.
    fn current(&self) -> KvFuture<Option<Vec<u8>>>;
    /// Writes `value` unless the key changed since [`WatchedKey::current`]; otherwise
    /// [`KvError::CasFailed`].
    fn swap(&self, value: Vec<u8>) -> KvFuture<()>;
}

/// The stores a host defines, by label. Cheap to clone (one per request).
#[derive(Debug, Clone, Default)]
pub struct KvStores {
    stores: Arc<BTreeMap<String, DefinedStore>>,
}

#[derive(Debug, Clone)]
struct DefinedStore {
    backend: Arc<dyn KvBackend>,
    /// Where its data lives, for the start-up line (no credentials).
    summary: String,
}

impl KvStores {
    /// Opens the stores: every `[key_value_store.<label>]` of `runtime_config`, plus `default`
    /// (when the runtime config does not redefine it) as SQLite in
    /// `<state_dir>/sqlite_key_value.db`, as `spin up` does. Redis stores connect now, so a
    /// wrong URL fails start-up instead of the first request.
    pub async fn open(state_dir: &Path, runtime_config: Option<&RuntimeConfig>) -> Result<Self> {
        let mut stores = Self::default();
        // Labels pointing at the same SQLite file share one connection.
        let mut files: BTreeMap<std::path::PathBuf, KvDb> = BTreeMap::new();
        let configured = runtime_config.map(|c| &c.key_value_stores);
        for (label, config) in configured.into_iter().flatten() {
            let (backend, summary): (Arc<dyn KvBackend>, String) = match config {
                KvStoreConfig::Spin { path: Some(path) } => {
                    let db = match files.get(path) {
                        Some(db) => db.clone(),
                        None => {
                            if let Some(parent) =
                                path.parent().filter(|p| !p.as_os_str().is_empty())
                            {
                                std::fs::create_dir_all(parent).with_context(|| {
                                    format!("cannot create directory {}", parent.display())
                                })?;
                            }
                            let db = KvDb::open(path)?;
                            files.insert(path.clone(), db.clone());
                            db
                        }
                    };
                    (
                        Arc::new(SqliteStore::new(db, label.clone())),
                        format!("sqlite {}", path.display()),
                    )
                }
                KvStoreConfig::Spin { path: None } => (
                    // Spin's rule: `type = "spin"` without a path is a temporary in-memory store.
                    Arc::new(SqliteStore::new(KvDb::open_in_memory()?, label.clone())),
                    "sqlite in memory (temporary)".to_owned(),
                ),
                KvStoreConfig::Redis { url, commands } => {
                    let store = RedisStore::connect_with(url, *commands)
                        .await
                        .with_context(|| format!("key-value store '{label}'"))?;
                    let summary = match commands {
                        RedisCommands::Correct => format!("redis at {}", store.address()),
                        RedisCommands::SpinCompatible => {
                            format!("redis at {} (Spin-compatible commands)", store.address())
                        }
                    };
                    (Arc::new(store), summary)
                }
            };
            stores.insert(label, backend, summary);
        }
        if !stores.stores.contains_key(DEFAULT_STORE) {
            let path = state_dir.join(DB_FILE_NAME);
            let db = KvDb::open_in_dir(state_dir)?;
            stores.insert(
                DEFAULT_STORE,
                Arc::new(SqliteStore::new(db, DEFAULT_STORE)),
                format!("sqlite {}", path.display()),
            );
        }
        Ok(stores)
    }

    /// Adds (or replaces) a store; `summary` says where its data lives, for the start-up line.
    pub fn insert(&mut self, label: &str, backend: Arc<dyn KvBackend>, summary: String) {
        Arc::make_mut(&mut self.stores).insert(label.to_owned(), DefinedStore { backend, summary });
    }

    /// The store for `label`, if this host defines it.
    pub fn get(&self, label: &str) -> Option<&Arc<dyn KvBackend>> {
        self.stores.get(label).map(|s| &s.backend)
    }

    /// Whether `label` is defined.
    pub fn is_defined(&self, label: &str) -> bool {
        self.stores.contains_key(label)
    }

    /// One line per store: `<label>: <where>` (no credentials).
    pub fn summaries(&self) -> Vec<String> {
        self.stores
            .iter()
            .map(|(label, s)| format!("{label}: {}", s.summary))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_runtime_config_only_default_exists_in_the_state_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stores = KvStores::open(dir.path(), None).await.expect("open");
        assert!(stores.is_defined("default"));
        assert!(!stores.is_defined("other"));
        let default = stores.get("default").expect("default");
        default.set("k".into(), b"v".to_vec()).await.expect("set");
        assert!(dir.path().join(DB_FILE_NAME).exists());
        assert_eq!(
            stores.summaries(),
            vec![format!(
                "default: sqlite {}",
                dir.path().join(DB_FILE_NAME).display()
            )]
        );
    }

    #[tokio::test]
    async fn runtime_config_defines_labels_and_can_move_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let config = RuntimeConfig::parse(
            "[key_value_store.default]\ntype = \"spin\"\npath = \"kv/main.db\"\n\
             [key_value_store.also_main]\ntype = \"spin\"\npath = \"kv/main.db\"\n\
             [key_value_store.scratch]\ntype = \"spin\"\n",
            dir.path(),
        )
        .expect("parse");
        let stores = KvStores::open(&state, Some(&config)).await.expect("open");
        for label in ["default", "also_main", "scratch"] {
            assert!(stores.is_defined(label), "{label}");
        }
        // `default` moved: nothing in the state dir.
        assert!(!state.join(DB_FILE_NAME).exists());
        assert!(dir.path().join("kv/main.db").exists());
        // Two labels in one file stay separate stores, as in Spin's table.
        let (a, b) = (
            stores.get("default").expect("a"),
            stores.get("also_main").expect("b"),
        );
        a.set("k".into(), b"a".to_vec()).await.expect("set");
        assert_eq!(b.get("k".into()).await.expect("get"), None);
        assert!(stores
            .summaries()
            .contains(&"scratch: sqlite in memory (temporary)".to_owned()));
    }
}

/// Behaviour every backend must share, run by each backend's tests.
#[cfg(test)]
pub(crate) mod conformance {
    use super::{KvBackend, KvError};

    fn k(s: &str) -> String {
        s.to_owned()
    }

    /// CRUD, batch, increment and compare-and-swap on an empty store.
    pub(crate) async fn check(store: &dyn KvBackend) {
        assert_eq!(store.get(k("a")).await.expect("get"), None);
        assert!(!store.exists(k("a")).await.expect("exists"));
        store.set(k("a"), b"1".to_vec()).await.expect("set");
        store.set(k("a"), b"3".to_vec()).await.expect("overwrite");
        assert_eq!(store.get(k("a")).await.expect("get"), Some(b"3".to_vec()));
        assert!(store.exists(k("a")).await.expect("exists"));
        store.set(k("b"), Vec::new()).await.expect("empty value");
        assert_eq!(store.get(k("b")).await.expect("get"), Some(Vec::new()));
        let mut keys = store.keys().await.expect("keys");
        keys.sort();
        assert_eq!(keys, vec!["a", "b"]);
        store.delete(k("a")).await.expect("delete");
        store.delete(k("missing")).await.expect("delete absent");
        assert!(!store.exists(k("a")).await.expect("exists"));
        store.delete(k("b")).await.expect("delete");

        // Batch, including empty batches (a no-op, not an error).
        store
            .set_many(vec![(k("x"), b"1".to_vec()), (k("y"), b"2".to_vec())])
            .await
            .expect("set_many");
        store.set_many(Vec::new()).await.expect("empty set_many");
        assert_eq!(
            store
                .get_many(vec![k("y"), k("nope"), k("x")])
                .await
                .expect("get_many"),
            vec![
                (k("y"), Some(b"2".to_vec())),
                (k("nope"), None),
                (k("x"), Some(b"1".to_vec())),
            ]
        );
        assert!(store
            .get_many(Vec::new())
            .await
            .expect("empty get_many")
            .is_empty());
        store
            .delete_many(vec![k("x"), k("y"), k("nope")])
            .await
            .expect("delete_many");
        store
            .delete_many(Vec::new())
            .await
            .expect("empty delete_many");
        assert!(store.keys().await.expect("keys").is_empty());

        // Counters: absent is 0; reading is increment by 0 (the only way Spinpost reads them).
        assert_eq!(store.increment(k("n"), 1).await.expect("inc"), 1);
        assert_eq!(store.increment(k("n"), 2).await.expect("inc"), 3);
        assert_eq!(store.increment(k("n"), -10).await.expect("inc"), -7);
        assert_eq!(store.increment(k("n"), 0).await.expect("read"), -7);
        store.set(k("text"), b"abc".to_vec()).await.expect("set");
        assert!(matches!(
            store.increment(k("text"), 1).await,
            Err(KvError::Other(_))
        ));

        // Compare-and-swap against a snapshot.
        store
            .compare_and_swap(k("c"), None, b"v1".to_vec())
            .await
            .expect("insert when absent");
        assert!(matches!(
            store.compare_and_swap(k("c"), None, b"x".to_vec()).await,
            Err(KvError::CasFailed)
        ));
        store
            .compare_and_swap(k("c"), Some(b"v1".to_vec()), b"v2".to_vec())
            .await
            .expect("swap");
        assert!(matches!(
            store
                .compare_and_swap(k("c"), Some(b"v1".to_vec()), b"v3".to_vec())
                .await,
            Err(KvError::CasFailed)
        ));
        assert_eq!(store.get(k("c")).await.expect("get"), Some(b"v2".to_vec()));
        store.delete(k("c")).await.expect("delete");
        assert!(matches!(
            store
                .compare_and_swap(k("c"), Some(b"v2".to_vec()), b"v3".to_vec())
                .await,
            Err(KvError::CasFailed)
        ));
        assert_eq!(store.get(k("c")).await.expect("get"), None);
    }

    /// `tasks` concurrent read-modify-write loops through compare-and-swap lose no update.
    pub(crate) async fn check_concurrent_cas(store: std::sync::Arc<dyn KvBackend>, tasks: usize) {
        const ROUNDS: usize = 25;
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    for _ in 0..ROUNDS {
                        loop {
                            let current = store.get(k("shared")).await.expect("get");
                            let n: usize = current
                                .as_deref()
                                .map(|v| String::from_utf8_lossy(v).parse().expect("number"))
                                .unwrap_or(0);
                            match store
                                .compare_and_swap(
                                    k("shared"),
                                    current,
                                    (n + 1).to_string().into_bytes(),
                                )
                                .await
                            {
                                Ok(()) => break,
                                Err(KvError::CasFailed) => continue,
                                Err(e) => panic!("cas: {e}"),
                            }
                        }
                        store.increment(k("counter"), 1).await.expect("inc");
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("task");
        }
        let total = (tasks * ROUNDS).to_string().into_bytes();
        assert_eq!(store.get(k("shared")).await.expect("get"), Some(total));
        assert_eq!(
            store.increment(k("counter"), 0).await.expect("read"),
            (tasks * ROUNDS) as i64
        );
    }
}
