//! The SQLite backend (runtime config `type = "spin"`, and the default store), with the same
//! layout as Spin's (`<state-dir>/sqlite_key_value.db`, table `spin_key_value`), so a state
//! directory moves between this host and `spin up`. Increment values are 8-byte little-endian
//! `i64`s, as in Spin.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

use super::{KvBackend, KvError, KvFuture, KvResult, Snapshot};

/// The file name Spin uses for its default key-value store.
pub const DB_FILE_NAME: &str = "sqlite_key_value.db";

/// A handle on the SQLite database shared by all stores (labels) and requests.
#[derive(Clone)]
pub struct KvDb {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for KvDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvDb").finish_non_exhaustive()
    }
}

impl KvDb {
    /// Opens (creating if needed) `<state_dir>/sqlite_key_value.db`.
    pub fn open_in_dir(state_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create state dir {}", state_dir.display()))?;
        Self::open(&state_dir.join(DB_FILE_NAME))
    }

    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open key-value database {}", path.display()))?;
        Self::init(conn)
    }

    /// An in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self> {
        // Another host (or a restarted one) may share the file: wait for its locks briefly
        // instead of failing with SQLITE_BUSY.
        conn.busy_timeout(Duration::from_secs(10))?;
        // WAL lets readers run beside a writer; the pragma returns a row, so query it.
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous=NORMAL;")?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (statements are
        // atomic, transactions roll back on drop), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value of `key` in `store`.
    pub fn get(&self, store: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
        let conn = self.lock();
        get_value(&conn, store, key)
    }

    /// Sets `key` in `store`, replacing any value.
    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> KvResult<()> {
        let conn = self.lock();
        set_value(&conn, store, key, value)
    }

    /// Deletes `key` (no error when absent).
    pub fn delete(&self, store: &str, key: &str) -> KvResult<()> {
        let conn = self.lock();
        conn.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
            .execute(params![store, key])?;
        Ok(())
    }

    /// Whether `key` exists.
    pub fn exists(&self, store: &str, key: &str) -> KvResult<bool> {
        let conn = self.lock();
        let found = conn
            .prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2 LIMIT 1")?
            .exists(params![store, key])?;
        Ok(found)
    }

    /// All keys of `store`, sorted.
    pub fn keys(&self, store: &str) -> KvResult<Vec<String>> {
        let conn = self.lock();
        let mut stmt =
            conn.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?;
        let keys = stmt
            .query_map(params![store], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(keys)
    }

    /// Values for `keys` (absent keys map to `None`), in the order asked.
    pub fn get_many(
        &self,
        store: &str,
        keys: &[String],
    ) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        let conn = self.lock();
        keys.iter()
            .map(|k| Ok((k.clone(), get_value(&conn, store, k)?)))
            .collect()
    }

    /// Sets all pairs in one transaction.
    pub fn set_many(&self, store: &str, pairs: &[(String, Vec<u8>)]) -> KvResult<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for (k, v) in pairs {
            set_value(&tx, store, k, v)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes all `keys` in one transaction.
    pub fn delete_many(&self, store: &str, keys: &[String]) -> KvResult<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for k in keys {
            tx.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![store, k])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Atomically adds `delta` to the `i64` stored (8 bytes little-endian, as Spin does) at
    /// `key`; an absent key counts as 0. Returns the new value.
    pub fn increment(&self, store: &str, key: &str, delta: i64) -> KvResult<i64> {
        let mut conn = self.lock();
        // IMMEDIATE takes the write lock up front so another process cannot interleave.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current = match get_value(&tx, store, key)? {
            None => 0,
            Some(bytes) => {
                let arr: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                    KvError::Other(format!(
                        "value of key {key:?} is not an 8-byte little-endian integer ({} bytes)",
                        bytes.len()
                    ))
                })?;
                i64::from_le_bytes(arr)
            }
        };
        let new = current
            .checked_add(delta)
            .ok_or_else(|| KvError::Other(format!("increment of key {key:?} overflows i64")))?;
        set_value(&tx, store, key, &new.to_le_bytes())?;
        tx.commit()?;
        Ok(new)
    }

    /// Replaces the value of `key` with `new` only if it still equals `expected`
    /// (`None`: the key must still be absent). Otherwise [`KvError::CasFailed`].
    pub fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<()> {
        let conn = self.lock();
        let changed = match expected {
            Some(old) => conn
                .prepare_cached(
                    "UPDATE spin_key_value SET value = ?4 WHERE store = ?1 AND key = ?2 AND value = ?3",
                )?
                .execute(params![store, key, old, new])?,
            None => conn
                .prepare_cached(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, key) DO NOTHING",
                )?
                .execute(params![store, key, new])?,
        };
        if changed == 1 {
            Ok(())
        } else {
            Err(KvError::CasFailed)
        }
    }
}

impl From<rusqlite::Error> for KvError {
    fn from(e: rusqlite::Error) -> Self {
        KvError::Other(format!("key-value store error: {e}"))
    }
}

/// One store label in a [`KvDb`]: the [`KvBackend`] for `type = "spin"`. Each operation runs
/// on Tokio's blocking pool, so SQLite's fsyncs never stall the async worker threads.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    db: KvDb,
    label: String,
}

impl SqliteStore {
    /// The store `label` inside `db`.
    pub fn new(db: KvDb, label: impl Into<String>) -> Self {
        Self {
            db,
            label: label.into(),
        }
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&KvDb, &str) -> KvResult<T> + Send + 'static,
    ) -> KvFuture<T> {
        let (db, label) = (self.db.clone(), self.label.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&db, &label))
                .await
                .unwrap_or_else(|e| Err(KvError::Other(format!("key-value task failed: {e}"))))
        })
    }
}

impl KvBackend for SqliteStore {
    fn get(&self, key: String) -> KvFuture<Option<Vec<u8>>> {
        self.run(move |db, label| db.get(label, &key))
    }

    fn set(&self, key: String, value: Vec<u8>) -> KvFuture<()> {
        self.run(move |db, label| db.set(label, &key, &value))
    }

    fn delete(&self, key: String) -> KvFuture<()> {
        self.run(move |db, label| db.delete(label, &key))
    }

    fn exists(&self, key: String) -> KvFuture<bool> {
        self.run(move |db, label| db.exists(label, &key))
    }

    fn keys(&self) -> KvFuture<Vec<String>> {
        self.run(move |db, label| db.keys(label))
    }

    fn get_many(&self, keys: Vec<String>) -> KvFuture<Vec<(String, Option<Vec<u8>>)>> {
        self.run(move |db, label| db.get_many(label, &keys))
    }

    fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> KvFuture<()> {
        self.run(move |db, label| db.set_many(label, &pairs))
    }

    fn delete_many(&self, keys: Vec<String>) -> KvFuture<()> {
        self.run(move |db, label| db.delete_many(label, &keys))
    }

    fn increment(&self, key: String, delta: i64) -> KvFuture<i64> {
        self.run(move |db, label| db.increment(label, &key, delta))
    }

    fn compare_and_swap(&self, key: String, expected: Snapshot, new: Vec<u8>) -> KvFuture<()> {
        self.run(move |db, label| db.compare_and_swap(label, &key, expected.as_deref(), &new))
    }
}

fn get_value(conn: &Connection, store: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
        .query_row(params![store, key], |r| r.get::<_, Vec<u8>>(0))
        .optional()?)
}

fn set_value(conn: &Connection, store: &str, key: &str, value: &[u8]) -> KvResult<()> {
    conn.prepare_cached(
        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![store, key, value])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crud_and_isolation_between_stores() {
        let db = KvDb::open_in_memory().expect("db");
        assert_eq!(db.get("default", "a").expect("get"), None);
        db.set("default", "a", b"1").expect("set");
        db.set("other", "a", b"2").expect("set");
        db.set("default", "a", b"3").expect("overwrite");
        assert_eq!(
            db.get("default", "a").expect("get").as_deref(),
            Some(&b"3"[..])
        );
        assert_eq!(
            db.get("other", "a").expect("get").as_deref(),
            Some(&b"2"[..])
        );
        assert!(db.exists("default", "a").expect("exists"));
        db.set("default", "b", b"").expect("empty value");
        assert_eq!(db.keys("default").expect("keys"), vec!["a", "b"]);
        db.delete("default", "a").expect("delete");
        db.delete("default", "missing")
            .expect("delete absent is fine");
        assert!(!db.exists("default", "a").expect("exists"));
    }

    #[test]
    fn batch() {
        let db = KvDb::open_in_memory().expect("db");
        db.set_many(
            "s",
            &[("x".into(), b"1".to_vec()), ("y".into(), b"2".to_vec())],
        )
        .expect("set_many");
        let got = db
            .get_many("s", &["y".into(), "nope".into(), "x".into()])
            .expect("get_many");
        assert_eq!(
            got,
            vec![
                ("y".to_owned(), Some(b"2".to_vec())),
                ("nope".to_owned(), None),
                ("x".to_owned(), Some(b"1".to_vec())),
            ]
        );
        db.delete_many("s", &["x".into(), "y".into()])
            .expect("delete_many");
        assert!(db.keys("s").expect("keys").is_empty());
    }

    #[test]
    fn increment_uses_spin_encoding() {
        let db = KvDb::open_in_memory().expect("db");
        assert_eq!(db.increment("s", "n", 1).expect("inc"), 1);
        assert_eq!(db.increment("s", "n", 2).expect("inc"), 3);
        assert_eq!(db.increment("s", "n", -10).expect("inc"), -7);
        assert_eq!(
            db.get("s", "n").expect("get"),
            Some((-7i64).to_le_bytes().to_vec())
        );
        db.set("s", "text", b"abc").expect("set");
        assert!(matches!(
            db.increment("s", "text", 1),
            Err(KvError::Other(_))
        ));
    }

    #[test]
    fn compare_and_swap() {
        let db = KvDb::open_in_memory().expect("db");
        // Absent and still absent: succeeds.
        db.compare_and_swap("s", "k", None, b"v1").expect("insert");
        // Absent snapshot but now present: fails.
        assert!(matches!(
            db.compare_and_swap("s", "k", None, b"x"),
            Err(KvError::CasFailed)
        ));
        // Matching snapshot: succeeds.
        db.compare_and_swap("s", "k", Some(b"v1"), b"v2")
            .expect("swap");
        // Stale snapshot: fails and leaves the value alone.
        assert!(matches!(
            db.compare_and_swap("s", "k", Some(b"v1"), b"v3"),
            Err(KvError::CasFailed)
        ));
        assert_eq!(db.get("s", "k").expect("get"), Some(b"v2".to_vec()));
        // Present snapshot but deleted since: fails.
        db.delete("s", "k").expect("delete");
        assert!(matches!(
            db.compare_and_swap("s", "k", Some(b"v2"), b"v3"),
            Err(KvError::CasFailed)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn behaves_like_every_backend() {
        let store = SqliteStore::new(KvDb::open_in_memory().expect("db"), "default");
        crate::kv::conformance::check(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_compare_and_swap_loses_no_update() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::new(KvDb::open_in_dir(dir.path()).expect("db"), "default");
        crate::kv::conformance::check_concurrent_cas(std::sync::Arc::new(store), 8).await;
    }

    #[test]
    fn concurrent_increments_are_atomic_and_persist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = KvDb::open_in_dir(dir.path()).expect("db");
        // A second connection on the same file, as a second host on the same state dir would.
        let db2 = KvDb::open_in_dir(dir.path()).expect("db2");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let db = if i % 2 == 0 { db.clone() } else { db2.clone() };
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        db.increment("default", "counter", 1).expect("inc");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        drop((db, db2));
        let reopened = KvDb::open_in_dir(dir.path()).expect("reopen");
        assert_eq!(
            reopened.increment("default", "counter", 0).expect("read"),
            400
        );
    }
}
