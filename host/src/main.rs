//! `spinpost-host`: run the components of a `spin.toml` locally, without the Spin CLI.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;

/// Runs a Spin application (spin.toml, HTTP triggers) on an embedded Wasmtime host.
#[derive(Debug, Parser)]
#[command(name = "spinpost-host", version)]
struct Args {
    /// Path of the application manifest.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,

    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,

    /// State directory (key-value database). Default: `.spin/` next to the manifest.
    #[arg(long)]
    state_dir: Option<PathBuf>,

    /// Spin runtime config file (as for `spin up --runtime-config-file`), e.g. to put the
    /// key-value store in Redis: `[key_value_store.default]` with `type = "redis"`, `url = ...`.
    #[arg(long, value_name = "PATH")]
    runtime_config_file: Option<PathBuf>,

    /// Run each component's build command first; fail if one fails.
    #[arg(long)]
    build: bool,

    /// Every N seconds, POST /dispatch/tick with the tick_token, so scheduled campaigns are
    /// sent without an outside cron.
    #[arg(long, value_name = "SECONDS")]
    tick_every: Option<u64>,

    /// Keep compiled components in this directory, so a restart skips compiling them.
    /// Default: `$XDG_CACHE_HOME/spinpost-host` or `~/.cache/spinpost-host`.
    #[arg(long, value_name = "DIR", conflicts_with = "disable_cache")]
    cache_dir: Option<PathBuf>,

    /// Compile every component at each start instead of keeping them on disk.
    #[arg(long)]
    disable_cache: bool,

    /// Time limit for one request, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = spinpost_host::DEFAULT_REQUEST_TIMEOUT.as_secs())]
    request_timeout: u64,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("spinpost-host: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One readable line (with causes) instead of a debug dump with a backtrace.
            eprintln!("spinpost-host: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<()> {
    if args.build {
        let manifest = args.manifest.clone();
        tokio::task::spawn_blocking(move || spinpost_host::build_components(&manifest)).await??;
    }
    let mut config = spinpost_host::HostConfig::new(&args.manifest);
    config.listen_addr = args.listen;
    if let Some(dir) = args.state_dir {
        config.state_dir = dir;
    }
    config.runtime_config = args.runtime_config_file;
    if args.disable_cache {
        config.compile_cache = None;
    } else if let Some(dir) = args.cache_dir {
        config.compile_cache = Some(dir);
    }
    if let Some(secs) = args.tick_every {
        anyhow::ensure!(secs > 0, "--tick-every must be at least 1 second");
        config.tick_every = Some(Duration::from_secs(secs));
    }
    anyhow::ensure!(
        args.request_timeout > 0,
        "--request-timeout must be at least 1 second"
    );
    config.request_timeout = Duration::from_secs(args.request_timeout);

    let host = spinpost_host::start(config).await?;
    eprintln!("spinpost-host: press Ctrl-C to stop");
    shutdown_signal().await;
    eprintln!("spinpost-host: shutting down");
    host.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
