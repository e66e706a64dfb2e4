//! The Redis backend (runtime config `type = "redis"`), with Spin's semantics
//! (`spinframework/spin`, `crates/key-value-redis`): keys are stored as they are, without the
//! store label (one store per Redis database, as in Spin), so data written by `spin up` with the
//! same runtime config is read here and back; counters are Redis integers (`INCRBY`, decimal
//! strings); `get-keys` is `KEYS *`.
//!
//! Compare-and-swap is one Lua script (compare the value, then `SET`), which Redis runs
//! atomically. It compares values like the SQLite backend, where Spin uses `WATCH`/`MULTI` on a
//! connection of its own per CAS handle.
//!
//! In Spin-compatibility mode ([`RedisCommands::SpinCompatible`], runtime config
//! `compatibility = "spin"`) the store issues exactly the commands Spin's Redis store does (Spin 3.6
//! to 4.0), defects included, so tests prove the components survive it: `get-many` is
//! `KEYS <k1> <k2> ...` (an error for two keys or more), and compare-and-swap is `WATCH` and `GET` on
//! a connection of its own, then `MULTI` / `SET` / `EXEC` and `UNWATCH <key>` (which Redis rejects,
//! so every swap reports failure, also when its `SET` was applied).

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, Script};

use super::{KvBackend, KvError, KvFuture, KvResult, Snapshot, WatchedKey};

/// Replaces `KEYS[1]` with `ARGV[3]` if its value is `ARGV[2]` (`ARGV[1] == "1"`) or if it is
/// absent (`ARGV[1] == "0"`). Returns 1 if it did.
const CAS_SCRIPT: &str = r#"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current == false or current ~= ARGV[2] then return 0 end
elseif current ~= false then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"#;

/// How long to wait for a connection, and for any one reply.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which commands a [`RedisStore`] issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisCommands {
    /// `MGET` for batch reads, a compare-and-swap script: correct results.
    #[default]
    Correct,
    /// Exactly those of Spin's Redis store, with its defects (see the module documentation).
    SpinCompatible,
}

/// A Redis database used as one key-value store.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    client: redis::Client,
    address: String,
    cas: Script,
    commands: RedisCommands,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl From<redis::RedisError> for KvError {
    fn from(e: redis::RedisError) -> Self {
        KvError::Other(format!("key-value store error (redis): {e}"))
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`). The connection
    /// reconnects by itself if Redis restarts later.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, RedisCommands::Correct).await
    }

    /// Connects to `url`, issuing `commands`.
    pub async fn connect_with(url: &str, commands: RedisCommands) -> Result<Self> {
        let address = redacted_address(url)?;
        let client =
            redis::Client::open(url).with_context(|| format!("invalid Redis URL for {address}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .with_context(|| format!("cannot connect to Redis at {address}"))?;
        Ok(Self {
            conn,
            client,
            address,
            cas: Script::new(CAS_SCRIPT),
            commands,
        })
    }

    /// Which commands it issues.
    pub fn commands(&self) -> RedisCommands {
        self.commands
    }

    /// `host:port[/db]` of the server, without credentials.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Runs one command on a clone of the shared (multiplexed) connection.
    fn query<T: FromRedisValue + Send + 'static>(&self, cmd: Cmd) -> KvFuture<T> {
        let mut conn = self.conn.clone();
        Box::pin(async move { Ok(cmd.query_async::<T>(&mut conn).await?) })
    }
}

/// `host:port[/db]` from a Redis URL, so logs never show a password.
fn redacted_address(url: &str) -> Result<String> {
    let parsed = redis::parse_redis_url(url)
        .ok_or_else(|| anyhow!("invalid Redis URL (expected redis://host:port)"))?;
    let host = parsed.host_str().unwrap_or("localhost");
    let port = parsed.port().unwrap_or(6379);
    let db = parsed.path().trim_start_matches('/');
    Ok(if db.is_empty() || db == "0" {
        format!("{host}:{port}")
    } else {
        format!("{host}:{port}/{db}")
    })
}

fn no_op<T: Send + 'static>(value: T) -> KvFuture<T> {
    Box::pin(async move { Ok(value) })
}

impl KvBackend for RedisStore {
    fn get(&self, key: String) -> KvFuture<Option<Vec<u8>>> {
        self.query(redis::cmd("GET").arg(key).clone())
    }

    fn set(&self, key: String, value: Vec<u8>) -> KvFuture<()> {
        self.query(redis::cmd("SET").arg(key).arg(value).clone())
    }

    fn delete(&self, key: String) -> KvFuture<()> {
        self.query(redis::cmd("DEL").arg(key).clone())
    }

    fn exists(&self, key: String) -> KvFuture<bool> {
        self.query(redis::cmd("EXISTS").arg(key).clone())
    }

    fn keys(&self) -> KvFuture<Vec<String>> {
        self.query(redis::cmd("KEYS").arg("*").clone())
    }

    fn get_many(&self, keys: Vec<String>) -> KvFuture<Vec<(String, Option<Vec<u8>>)>> {
        // Redis rejects MGET, MSET and DEL without keys; an empty batch is a no-op.
        if keys.is_empty() {
            return no_op(Vec::new());
        }
        if self.commands == RedisCommands::SpinCompatible {
            // Spin's `get_many`: `KEYS` with the keys as patterns, its reply read as key/value pairs.
            return self.query(redis::cmd("KEYS").arg(keys).clone());
        }
        let values = self.query::<Vec<Option<Vec<u8>>>>(redis::cmd("MGET").arg(&keys).clone());
        Box::pin(async move {
            let values = values.await?;
            if values.len() != keys.len() {
                return Err(KvError::Other(format!(
                    "redis MGET returned {} values for {} keys",
                    values.len(),
                    keys.len()
                )));
            }
            Ok(keys.into_iter().zip(values).collect())
        })
    }

    fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> KvFuture<()> {
        if pairs.is_empty() {
            return no_op(());
        }
        // MSET is atomic, like the SQLite backend's transaction.
        let mut cmd = redis::cmd("MSET");
        for (k, v) in &pairs {
            cmd.arg(k).arg(v);
        }
        self.query(cmd)
    }

    fn delete_many(&self, keys: Vec<String>) -> KvFuture<()> {
        if keys.is_empty() {
            return no_op(());
        }
        self.query(redis::cmd("DEL").arg(keys).clone())
    }

    fn increment(&self, key: String, delta: i64) -> KvFuture<i64> {
        self.query(redis::cmd("INCRBY").arg(key).arg(delta).clone())
    }

    fn compare_and_swap(&self, key: String, expected: Snapshot, new: Vec<u8>) -> KvFuture<()> {
        let mut conn = self.conn.clone();
        let script = self.cas.clone();
        Box::pin(async move {
            let mut invocation = script.key(key);
            match &expected {
                Some(old) => invocation.arg("1").arg(old.as_slice()),
                None => invocation.arg("0").arg(""),
            };
            // EVALSHA, falling back to EVAL (which caches the script) the first time.
            let swapped: i64 = invocation.arg(new).invoke_async(&mut conn).await?;
            if swapped == 1 {
                KvResult::Ok(())
            } else {
                Err(KvError::CasFailed)
            }
        })
    }

    fn watch(&self, key: &str) -> Option<KvFuture<Box<dyn WatchedKey>>> {
        if self.commands != RedisCommands::SpinCompatible {
            return None;
        }
        let client = self.client.clone();
        let key = key.to_owned();
        Some(Box::pin(async move {
            // A connection of its own, as Spin opens one per compare-and-swap handle: `WATCH` is
            // scoped to a connection.
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT));
            let conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            KvResult::Ok(Box::new(SpinWatchedKey { conn, key }) as Box<dyn WatchedKey>)
        }))
    }
}

/// A compare-and-swap handle as Spin's Redis store keeps one.
#[derive(Debug)]
struct SpinWatchedKey {
    conn: redis::aio::MultiplexedConnection,
    key: String,
}

impl WatchedKey for SpinWatchedKey {
    fn current(&self) -> KvFuture<Option<Vec<u8>>> {
        let (mut conn, key) = (self.conn.clone(), self.key.clone());
        Box::pin(async move {
            redis::cmd("WATCH").arg(&key).exec_async(&mut conn).await?;
            Ok(redis::cmd("GET").arg(&key).query_async(&mut conn).await?)
        })
    }

    fn swap(&self, value: Vec<u8>) -> KvFuture<()> {
        let (mut conn, key) = (self.conn.clone(), self.key.clone());
        Box::pin(async move {
            // An aborted `EXEC` answers nil, which reads as success here, as in Spin.
            let transaction: redis::RedisResult<()> = redis::pipe()
                .atomic()
                .set(&key, value)
                .query_async(&mut conn)
                .await;
            // `UNWATCH` takes no argument: Redis rejects this, and the swap is reported as failed.
            if redis::cmd("UNWATCH")
                .arg(&key)
                .exec_async(&mut conn)
                .await
                .is_err()
            {
                return Err(KvError::CasFailed);
            }
            transaction.map_err(|_| KvError::CasFailed)
        })
    }
}

// Shared with the end-to-end tests and the bench.
#[cfg(test)]
#[path = "../../tests/support/redis_server.rs"]
mod redis_server;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::kv::conformance;
    use redis_server::RedisServer;

    #[test]
    fn the_address_never_shows_credentials() {
        assert_eq!(
            redacted_address("redis://:hunter2@cache.internal:6380/2").expect("url"),
            "cache.internal:6380/2"
        );
        assert_eq!(
            redacted_address("redis://user:pw@localhost").expect("url"),
            "localhost:6379"
        );
        assert!(redacted_address("http://localhost").is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn behaves_like_the_sqlite_backend() {
        let Some(server) = RedisServer::start_or_skip() else {
            return;
        };
        let store = RedisStore::connect(&server.url()).await.expect("connect");
        conformance::check(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_compare_and_swap_and_increments_lose_no_update() {
        let Some(server) = RedisServer::start_or_skip() else {
            return;
        };
        let store = RedisStore::connect(&server.url()).await.expect("connect");
        conformance::check_concurrent_cas(Arc::new(store), 8).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stores_keys_and_counters_as_spin_does() {
        let Some(server) = RedisServer::start_or_skip() else {
            return;
        };
        let store = RedisStore::connect(&server.url()).await.expect("connect");
        store.set("k".into(), b"v".to_vec()).await.expect("set");
        store.increment("n".into(), 42).await.expect("inc");
        // Another client sees plain keys (no label prefix) and decimal counters.
        let mut other = redis::Client::open(server.url())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        for (key, expected) in [("k", &b"v"[..]), ("n", &b"42"[..])] {
            let value: Option<Vec<u8>> = redis::cmd("GET")
                .arg(key)
                .query_async(&mut other)
                .await
                .expect("GET");
            assert_eq!(value.as_deref(), Some(expected), "{key}");
        }
        // A binary value with bytes Lua must not mangle survives compare-and-swap.
        let binary = vec![0u8, 255, b'\n', 0, 7];
        store
            .compare_and_swap("b".into(), None, binary.clone())
            .await
            .expect("insert");
        store
            .compare_and_swap("b".into(), Some(binary), b"next".to_vec())
            .await
            .expect("swap on binary snapshot");
        assert_eq!(
            store.get("b".into()).await.expect("get"),
            Some(b"next".to_vec())
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_spin_compatibility_mode_the_commands_are_spins_defects_included() {
        let Some(server) = RedisServer::start_or_skip() else {
            return;
        };
        let store = RedisStore::connect_with(&server.url(), RedisCommands::SpinCompatible)
            .await
            .expect("connect");
        store
            .set_many(vec![
                ("a".into(), b"1".to_vec()),
                ("b".into(), b"2".to_vec()),
            ])
            .await
            .expect("set_many");
        let err = store
            .get_many(vec!["a".into(), "b".into()])
            .await
            .expect_err("KEYS takes one pattern");
        assert!(
            err.to_string().contains("wrong number of arguments"),
            "{err}"
        );
        // One key absent: `KEYS` matches nothing, which reads as an empty answer.
        assert_eq!(
            store.get_many(vec!["nope".into()]).await.expect("get_many"),
            Vec::new()
        );
        assert!(RedisStore::connect(&server.url())
            .await
            .expect("connect")
            .watch("a")
            .is_none());

        // Every swap reports failure, applied or not: unchanged since `current`, the `SET` applies
        // yet `UNWATCH <key>` fails the swap; changed since, `EXEC` aborts and nothing is written.
        for (seen, other_writer, stored) in [
            (None, None, &b"mine"[..]),
            (Some(&b"mine"[..]), Some(&b"theirs"[..]), &b"theirs"[..]),
        ] {
            let cas = store
                .watch("k")
                .expect("spin-compatible store watches")
                .await
                .expect("open");
            assert_eq!(cas.current().await.expect("current").as_deref(), seen);
            if let Some(value) = other_writer {
                store.set("k".into(), value.to_vec()).await.expect("set");
            }
            assert!(matches!(
                cas.swap(b"mine".to_vec()).await,
                Err(KvError::CasFailed)
            ));
            assert_eq!(
                store.get("k".into()).await.expect("get").as_deref(),
                Some(stored)
            );
        }
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_with_its_address() {
        // Port 1 on loopback: nothing listens there.
        let err = RedisStore::connect("redis://:secret@127.0.0.1:1")
            .await
            .expect_err("must fail");
        let message = format!("{err:#}");
        assert!(message.contains("127.0.0.1:1"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }
}
