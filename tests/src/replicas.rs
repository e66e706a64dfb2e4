//! Several `spinpost-host` processes on one Redis store in Spin-compatibility mode: the replicas of
//! one app, as SpinKube runs them. Each replica is a child process that a test can kill (SIGKILL).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

use crate::app::{build_components, default_variables, workspace_root, TestApp};
use crate::fake_platform::FakePlatform;
use crate::store_under_test::redis_server::{redis_server_installed, RedisServer};

/// One replica: a host process with a state dir of its own, serving on a free port.
pub struct Replica {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    _state_dir: TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        // Kills exactly this child (its PID), never anything found by name.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
        build_components();
        let host = host_binary();
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
            .map(|_| Some(spawn_replica(&host, &runtime_config, &variables)))
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
        TestApp::attached(replica.base_url.clone(), self.fake.clone())
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

/// The `spinpost-host` binary next to the running test binary, built if needed.
fn host_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "-p", "spinpost-host", "--bin", "spinpost-host"])
        .current_dir(workspace_root())
        .status()
        .expect("run cargo build for the host");
    assert!(status.success(), "building spinpost-host failed");
    // The test binary is <target>/<profile>/deps/<name>; the host is <target>/<profile>/spinpost-host.
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in <profile>/deps");
    profile_dir.join(format!("spinpost-host{}", std::env::consts::EXE_SUFFIX))
}

fn spawn_replica(
    host: &PathBuf,
    runtime_config: &std::path::Path,
    variables: &HashMap<String, String>,
) -> Replica {
    let state_dir = tempfile::tempdir().expect("temp state dir");
    let mut command = Command::new(host);
    command
        .arg("--manifest")
        .arg(workspace_root().join("spin.toml"))
        .args(["--listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(state_dir.path())
        .arg("--runtime-config-file")
        .arg(runtime_config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in variables {
        command.env(format!("SPIN_VARIABLE_{}", name.to_uppercase()), value);
    }
    let mut child = command.spawn().expect("spawn spinpost-host");
    let stderr = child.stderr.take().expect("piped stderr");
    let (address_tx, address_rx) = mpsc::channel();
    // Reads the host's log for its address, then keeps draining it so the pipe never fills.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line
                .split(" on ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
            {
                if line.starts_with("spinpost-host: serving") {
                    let _ = address_tx.send(url.to_owned());
                }
            }
        }
    });
    let base_url = address_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the replica says where it serves");
    Replica {
        child,
        base_url,
        _state_dir: state_dir,
    }
}
