//! Several `spinpost-host` processes on one Redis store in Spin-compatibility mode: the replicas of
//! one app, as SpinKube runs them. Each replica is a child process that a test can kill (SIGKILL).

use std::collections::HashMap;

use tempfile::TempDir;

use crate::app::{default_variables, TestApp};
use crate::fake_platform::FakePlatform;
use crate::host_process::HostProcess;
use crate::store_under_test::redis_server::{redis_server_installed, RedisServer};

/// One replica: a host process with a state dir of its own, serving on a free port. Dropping it
/// kills the process (SIGKILL).
pub struct Replica {
    process: HostProcess,
    _state_dir: TempDir,
}

/// Replicas sharing one `redis-server` and one fake platform API.
pub struct ReplicaSet {
    replicas: Vec<Option<Replica>>,
    /// The fake platform API every replica calls.
    pub fake: FakePlatform,
    _redis: RedisServer,
    _config_dir: TempDir,
}

impl ReplicaSet {
    /// Start `count` replicas with the default test variables adjusted by `configure`; `None` (after
    /// saying so) when `redis-server` is not installed and this is not CI.
    ///
    /// # Panics
    /// When a replica does not start, or `redis-server` is missing in CI.
    pub async fn start(
        count: usize,
        configure: impl FnOnce(&mut HashMap<String, String>),
    ) -> Option<Self> {
        if !redis_server_installed() && std::env::var("CI").is_err() {
            eprintln!("skipped: redis-server is not installed (apt-get install redis-server)");
            return None;
        }
        let redis = RedisServer::start();
        let config_dir = tempfile::tempdir().expect("temp config dir");
        let runtime_config = config_dir.path().join("runtime-config.toml");
        let contents = format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\ncompatibility = \"spin\"\n",
            redis.url()
        );
        std::fs::write(&runtime_config, contents).expect("write the runtime config file");
        let fake = FakePlatform::start().await;
        let mut variables = default_variables(&fake);
        configure(&mut variables);
        // One after another, so the first fills the compiled-component cache the others read.
        let replicas = (0..count)
            .map(|_| {
                let state_dir = tempfile::tempdir().expect("temp state dir");
                let process =
                    HostProcess::start(state_dir.path(), Some(&runtime_config), &variables);
                Some(Replica {
                    process,
                    _state_dir: state_dir,
                })
            })
            .collect();
        Some(ReplicaSet {
            replicas,
            fake,
            _redis: redis,
            _config_dir: config_dir,
        })
    }

    /// A client of replica `index` with the test app's helpers.
    ///
    /// # Panics
    /// When that replica was killed.
    pub fn app(&self, index: usize) -> TestApp {
        let replica = self.replicas[index].as_ref().expect("a live replica");
        TestApp::attached(replica.process.base_url.clone(), self.fake.clone())
    }

    /// The indices of the replicas still running.
    pub fn live(&self) -> Vec<usize> {
        (0..self.replicas.len())
            .filter(|&i| self.replicas[i].is_some())
            .collect()
    }

    /// Kill replica `index` with SIGKILL: no shutdown, requests in flight are cut off.
    pub fn kill(&mut self, index: usize) {
        drop(self.replicas[index].take());
    }
}
