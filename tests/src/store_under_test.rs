//! The key-value store the end-to-end tests run the components on, chosen by `SPINPOST_E2E_STORE`:
//! unset or `sqlite` (Spin's default), `redis`, or `redis-spin` (Redis in Spin-compatibility mode: the
//! commands of Spin's Redis store, defects included). Each app gets a `redis-server` of its own.

use std::path::{Path, PathBuf};

#[path = "../../host/tests/support/redis_server.rs"]
pub(crate) mod redis_server;

use redis_server::RedisServer;

/// The environment variable that chooses the store.
pub const STORE_VARIABLE: &str = "SPINPOST_E2E_STORE";

/// The store of one test app; a Redis server lives as long as the app (and across its restarts).
pub enum StoreUnderTest {
    /// SQLite in the app's state dir.
    Sqlite,
    /// A `redis-server` of the app's own, and the runtime config file pointing at it.
    Redis {
        /// Kept for its lifetime: dropping it stops the server.
        server: RedisServer,
        runtime_config: PathBuf,
    },
}

impl StoreUnderTest {
    /// The store `SPINPOST_E2E_STORE` chooses; its runtime config file, if any, goes in `dir`.
    ///
    /// # Panics
    /// On an unknown choice, or when `redis-server` cannot start.
    pub fn from_env(dir: &Path) -> Self {
        let choice = std::env::var(STORE_VARIABLE).unwrap_or_default();
        let compatibility = match choice.as_str() {
            "" | "sqlite" => return StoreUnderTest::Sqlite,
            "redis" => "",
            "redis-spin" => "compatibility = \"spin\"\n",
            other => panic!("{STORE_VARIABLE}={other}: expected sqlite, redis or redis-spin"),
        };
        let server = RedisServer::start();
        let runtime_config = dir.join("runtime-config.toml");
        let contents = format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n{compatibility}",
            server.url()
        );
        std::fs::write(&runtime_config, contents).expect("write the runtime config file");
        StoreUnderTest::Redis {
            server,
            runtime_config,
        }
    }

    /// The URL of the app's Redis server, when the store is Redis.
    pub fn redis_url(&self) -> Option<String> {
        match self {
            StoreUnderTest::Sqlite => None,
            StoreUnderTest::Redis { server, .. } => Some(server.url()),
        }
    }

    /// The runtime config file the host takes, if any.
    pub fn runtime_config(&self) -> Option<PathBuf> {
        match self {
            StoreUnderTest::Sqlite => None,
            StoreUnderTest::Redis { runtime_config, .. } => Some(runtime_config.clone()),
        }
    }
}
