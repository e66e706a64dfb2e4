//! `spinpost-host` as a child process: started on a state dir (and optionally a runtime config file),
//! killed with SIGKILL as a crash would end it, and started again on the same state.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use crate::app::{build_components, workspace_root};

/// A running host process serving on a free loopback port.
pub struct HostProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
}

impl HostProcess {
    /// Build the components and the host if needed, then start the host on `state_dir` (its SQLite
    /// store) or the store `runtime_config` names, with the Spin variables `variables`; returns once
    /// it serves.
    ///
    /// # Panics
    /// When a build fails, or the host does not say where it serves within two minutes.
    pub fn start(
        state_dir: &Path,
        runtime_config: Option<&Path>,
        variables: &HashMap<String, String>,
    ) -> Self {
        build_components();
        let mut command = Command::new(host_binary());
        command
            .arg("--manifest")
            .arg(workspace_root().join("spin.toml"))
            .args(["--listen", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(state_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(file) = runtime_config {
            command.arg("--runtime-config-file").arg(file);
        }
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
            .expect("the host says where it serves");
        HostProcess { child, base_url }
    }

    /// Kill the process with SIGKILL (no shutdown: requests in flight are cut off) and reap it.
    pub fn kill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        // Kills exactly this child (its PID), never anything found by name.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// The `spinpost-host` binary next to the running test binary, built once per test process.
pub fn host_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            // `--workspace`: the features `cargo test --workspace` built the host's dependencies
            // with, so nothing is compiled again (`-p spinpost-host` alone rebuilds Wasmtime).
            let mut command = Command::new(cargo);
            command
                .args(["build", "--workspace", "--bin", "spinpost-host"])
                .current_dir(workspace_root());
            // Cargo gives this test process the tests package's variables; build scripts that watch
            // them (ring's) would see a change from a build in the shell and run again each time.
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy();
                let of_this_package = [
                    "CARGO_PKG_",
                    "CARGO_MANIFEST_",
                    "CARGO_CRATE_",
                    "CARGO_BIN_",
                ]
                .iter()
                .any(|prefix| name.starts_with(prefix));
                if of_this_package
                    || ["OUT_DIR", "CARGO_TARGET_TMPDIR", "CARGO_PRIMARY_PACKAGE"]
                        .contains(&name.as_ref())
                {
                    command.env_remove(name.as_ref());
                }
            }
            let status = command.status().expect("run cargo build for the host");
            assert!(status.success(), "building spinpost-host failed");
            // The test binary is <target>/<profile>/deps/<name>; the host is
            // <target>/<profile>/spinpost-host.
            let exe = std::env::current_exe().expect("the test binary's path");
            let profile_dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .expect("the test binary lives in <profile>/deps");
            profile_dir.join(format!("spinpost-host{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}
