//! Per-record cost of key-value writes: N single `set`s, one `set_many` of N, N `increment`s and
//! N compare-and-swap cycles (read, then swap), each as a ratio against the `set_many` per-record
//! cost measured in the same run (machines are noisy; ratios travel better than microseconds).
//!
//! Backends: this host's SQLite store (WAL, `synchronous=NORMAL`), SQLite as Spin opens it
//! (rollback journal, `synchronous=FULL`: an fsync per committed write), and Redis when
//! `redis-server` is installed.
//!
//! ```sh
//! cargo bench -p spinpost-host --bench store_writes            # N = 1000
//! STORE_BENCH_N=200 STORE_BENCH_DIR=/var/tmp cargo bench -p spinpost-host --bench store_writes
//! ```

#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use spinpost_host::kv::{
    KvBackend, KvDb, KvError, KvFuture, KvResult, RedisStore, Snapshot, SqliteStore,
};

/// A typical per-recipient record.
const VALUE_BYTES: usize = 200;
/// `set_many` is short: repeat it and take the median.
const BATCH_REPEATS: usize = 5;

fn main() {
    let n: usize = std::env::var("STORE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1000);
    let base = std::env::var_os("STORE_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "store_writes: N = {n} records of {VALUE_BYTES} bytes; state in a temp dir under {}",
        base.display()
    );
    println!(
        "{:<60} {:>10} {:>12} {:>10} {:>10}",
        "backend / operation", "total", "per record", "records/s", "x set_many"
    );

    runtime.block_on(async {
        let dir = tempfile::tempdir_in(&base).expect("temp dir");
        let host = SqliteStore::new(KvDb::open_in_dir(dir.path()).expect("open"), "default");
        run("spinpost-host sqlite (WAL)", Arc::new(host), n).await;

        let spin = SpinSqlite::open(&dir.path().join("spin_defaults.db"));
        run("sqlite as Spin opens it", Arc::new(spin), n).await;

        if redis_server::redis_server_installed() {
            let server = redis_server::RedisServer::start();
            let redis = RedisStore::connect(&server.url()).await.expect("connect");
            run("redis (no persistence)", Arc::new(redis), n).await;
        } else {
            println!("redis: skipped (redis-server is not installed)");
        }
    });
}

struct Measured {
    name: &'static str,
    total: Duration,
    records: usize,
}

impl Measured {
    /// `records` operations that began at `started` and have just finished.
    fn since(name: &'static str, started: Instant, records: usize) -> Self {
        Self {
            name,
            total: started.elapsed(),
            records,
        }
    }

    fn per_record(&self) -> Duration {
        self.total / self.records as u32
    }
}

async fn run(backend: &str, store: Arc<dyn KvBackend>, n: usize) {
    let value = vec![b'v'; VALUE_BYTES];
    let keys =
        |prefix: &str| -> Vec<String> { (0..n).map(|i| format!("{prefix}:{i:06}")).collect() };

    // Warm up (file creation, prepared statements, connection, script load).
    store.set("warm".into(), value.clone()).await.expect("set");
    store.increment("warm-n".into(), 1).await.expect("inc");
    store
        .compare_and_swap("warm-c".into(), None, value.clone())
        .await
        .expect("cas");

    let mut batch_runs = Vec::new();
    for round in 0..BATCH_REPEATS {
        let pairs: Vec<_> = keys(&format!("batch{round}"))
            .into_iter()
            .map(|k| (k, value.clone()))
            .collect();
        let started = Instant::now();
        store.set_many(pairs).await.expect("set_many");
        batch_runs.push(started.elapsed());
    }
    batch_runs.sort();
    let set_many = Measured {
        name: "set_many of N (median)",
        total: batch_runs[BATCH_REPEATS / 2],
        records: n,
    };

    let started = Instant::now();
    for k in keys("single") {
        store.set(k, value.clone()).await.expect("set");
    }
    let single = Measured::since("single set", started, n);

    let started = Instant::now();
    for _ in 0..n {
        store.increment("counter".into(), 1).await.expect("inc");
    }
    let increment = Measured::since("increment", started, n);

    // What a guest's `cas::new` + `swap` costs the host: read the snapshot, then swap.
    let started = Instant::now();
    for i in 0..n {
        let current = store.get("cursor".into()).await.expect("get");
        store
            .compare_and_swap("cursor".into(), current, i.to_string().into_bytes())
            .await
            .expect("uncontended cas");
    }
    let cas = Measured::since("compare-and-swap (read + swap)", started, n);

    let baseline = set_many.per_record().as_secs_f64();
    for m in [&set_many, &single, &increment, &cas] {
        let per = m.per_record().as_secs_f64();
        println!(
            "{:<60} {:>8.1}ms {:>10.2}µs {:>10.0} {:>9.1}x",
            format!("{backend}: {}", m.name),
            m.total.as_secs_f64() * 1e3,
            per * 1e6,
            1.0 / per,
            per / baseline
        );
    }
}

/// SQLite the way Spin's `spin-key-value-spin` opens it: default rollback journal and
/// `synchronous=FULL`, the same table and statements; one connection behind a mutex, blocking
/// work on Tokio's blocking pool.
#[derive(Debug, Clone)]
struct SpinSqlite {
    conn: Arc<Mutex<Connection>>,
}

const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
     ON CONFLICT(store, key) DO UPDATE SET value=$3";
const SELECT: &str = "SELECT value FROM spin_key_value WHERE store=$1 AND key=$2";
const STORE: &str = "default";

impl SpinSqlite {
    fn open(path: &Path) -> Self {
        let conn = Connection::open(path).expect("open");
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                PRIMARY KEY (store, key))",
            [],
        )
        .expect("create table");
        Self {
            conn: Arc::new(Mutex::new(conn)),
        }
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> KvFuture<T> {
        let conn = self.conn.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
                f(&mut conn).map_err(|e| KvError::Other(e.to_string()))
            })
            .await
            .unwrap_or_else(|e| Err(KvError::Other(e.to_string())))
        })
    }
}

fn not_measured<T: Send + 'static>() -> KvFuture<T> {
    Box::pin(async { KvResult::Err(KvError::Other("not measured".into())) })
}

impl KvBackend for SpinSqlite {
    fn get(&self, key: String) -> KvFuture<Option<Vec<u8>>> {
        self.run(move |c| {
            c.prepare_cached(SELECT)?
                .query_row(params![STORE, key], |r| r.get(0))
                .optional()
        })
    }

    fn set(&self, key: String, value: Vec<u8>) -> KvFuture<()> {
        self.run(move |c| {
            c.prepare_cached(UPSERT)?
                .execute(params![STORE, key, value])
                .map(drop)
        })
    }

    fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> KvFuture<()> {
        self.run(move |c| {
            let tx = c.transaction()?;
            for (k, v) in pairs {
                tx.prepare_cached(UPSERT)?.execute(params![STORE, k, v])?;
            }
            tx.commit()
        })
    }

    fn increment(&self, key: String, delta: i64) -> KvFuture<i64> {
        self.run(move |c| {
            let tx = c.transaction()?;
            let current: Option<Vec<u8>> = tx
                .prepare_cached(SELECT)?
                .query_row(params![STORE, key], |r| r.get(0))
                .optional()?;
            let n = current
                .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                .map_or(0, i64::from_le_bytes)
                + delta;
            tx.prepare_cached(UPSERT)?
                .execute(params![STORE, key, n.to_le_bytes()])?;
            tx.commit()?;
            Ok(n)
        })
    }

    fn compare_and_swap(&self, key: String, expected: Snapshot, new: Vec<u8>) -> KvFuture<()> {
        let swapped = self.run(move |c| match expected {
            Some(old) => c
                .prepare_cached(
                    "UPDATE spin_key_value SET value=?4 WHERE store=?1 AND key=?2 AND value=?3",
                )?
                .execute(params![STORE, key, old, new]),
            None => {
                let tx = c.transaction()?;
                let rows = tx
                    .prepare_cached(
                        "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
                         ON CONFLICT(store, key) DO NOTHING",
                    )?
                    .execute(params![STORE, key, new])?;
                tx.commit()?;
                Ok(rows)
            }
        });
        Box::pin(async move {
            match swapped.await? {
                1 => Ok(()),
                _ => Err(KvError::CasFailed),
            }
        })
    }

    fn delete(&self, _key: String) -> KvFuture<()> {
        not_measured()
    }

    fn exists(&self, _key: String) -> KvFuture<bool> {
        not_measured()
    }

    fn keys(&self) -> KvFuture<Vec<String>> {
        not_measured()
    }

    fn get_many(&self, _keys: Vec<String>) -> KvFuture<Vec<(String, Option<Vec<u8>>)>> {
        not_measured()
    }

    fn delete_many(&self, _keys: Vec<String>) -> KvFuture<()> {
        not_measured()
    }
}
