//! `spinpost-host`: an embedded, Spin-compatible host on Wasmtime.
//!
//! It runs the components of a `spin.toml` (Spin manifest v2, HTTP triggers) without the Spin
//! CLI: Spin routing and request headers, `fermyon:spin/key-value` and `wasi:keyvalue` backed by
//! SQLite in Spin's own layout or, with Spin's runtime config file, by Redis,
//! `fermyon:spin/variables` from `SPIN_VARIABLE_*`, outbound HTTP
//! limited to `allowed_outbound_hosts`, and local service chaining (`http://<id>.spin.internal`).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let mut config = spinpost_host::HostConfig::new("spin.toml");
//! config.listen_addr = "127.0.0.1:0".parse()?;
//! config.variables_env.insert("admin_token".into(), "secret".into());
//! let host = spinpost_host::start(config).await?;
//! println!("listening on http://{}", host.local_addr());
//! host.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod compile_cache;
pub mod engine;
pub mod kv;
pub mod manifest;
pub mod outbound;
mod request_line;
pub mod router;
pub mod runtime;
pub mod runtime_config;
mod server;
pub mod test_clock;
pub mod variables;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

pub use manifest::build_components;
pub use test_clock::TestClock;

use crate::compile_cache::CompileCache;
use crate::kv::KvStores;
use crate::manifest::Manifest;
use crate::outbound::AllowedHosts;
use crate::router::Router;
use crate::runtime::{ComponentPolicy, RequestState};
use crate::runtime_config::RuntimeConfig;
use crate::server::{App, LoadedComponent};
use crate::variables::{AppVariables, VariableNames};

/// Default per-request time limit.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How to start a host.
#[derive(Clone)]
pub struct HostConfig {
    /// Path of `spin.toml`. Component sources are relative to its directory.
    pub manifest_path: PathBuf,
    /// Address to listen on; port 0 picks a free port (see [`RunningHost::local_addr`]).
    pub listen_addr: SocketAddr,
    /// Directory for state; the `default` key-value store is `<state_dir>/sqlite_key_value.db`
    /// unless the runtime config puts it elsewhere.
    pub state_dir: PathBuf,
    /// Spin's runtime config file (`spin up --runtime-config-file`): `[key_value_store.<label>]`
    /// sections with `type = "spin"` (SQLite, optional `path` relative to the file) or
    /// `type = "redis"` (`url`). `None`: only `default`, in the state dir.
    pub runtime_config: Option<PathBuf>,
    /// Variable overrides, checked before the process environment. Keys may be
    /// `SPIN_VARIABLE_ADMIN_TOKEN` or just the variable name `admin_token`.
    pub variables_env: HashMap<String, String>,
    /// If set, POST `/dispatch/tick` (with `Authorization: Bearer <tick_token>`) this often.
    pub tick_every: Option<Duration>,
    /// Time limit for one component invocation (including streaming its response body).
    pub request_timeout: Duration,
    /// Directory where compiled components are kept, so a restart loads them in milliseconds
    /// instead of compiling for seconds (see [`compile_cache`]). `None`: compile at every start.
    pub compile_cache: Option<PathBuf>,
    /// For tests: the wall clock the components read (`wasi:clocks/wall-clock`), which the test
    /// moves (see [`TestClock`]). `None`: the real time.
    pub clock: Option<TestClock>,
}

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostConfig")
            .field("manifest_path", &self.manifest_path)
            .field("listen_addr", &self.listen_addr)
            .field("state_dir", &self.state_dir)
            .field("runtime_config", &self.runtime_config)
            .field("variables_env (names)", &VariableNames(&self.variables_env))
            .field("tick_every", &self.tick_every)
            .field("request_timeout", &self.request_timeout)
            .field("compile_cache", &self.compile_cache)
            .field("clock", &self.clock.as_ref().map(TestClock::now))
            .finish()
    }
}

impl HostConfig {
    /// Defaults: listen on `127.0.0.1:3000`, state in `.spin/` next to the manifest, no
    /// overrides, no ticker, [`DEFAULT_REQUEST_TIMEOUT`], compiled components kept in the
    /// user's cache directory ([`CompileCache::default_dir`]).
    pub fn new(manifest_path: impl Into<PathBuf>) -> Self {
        let manifest_path = manifest_path.into();
        // A bare file name has the empty parent, so this gives `.spin` relative to the cwd.
        let state_dir = manifest_path
            .parent()
            .map_or_else(|| PathBuf::from(".spin"), |dir| dir.join(".spin"));
        Self {
            manifest_path,
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            state_dir,
            runtime_config: None,
            variables_env: HashMap::new(),
            tick_every: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            compile_cache: CompileCache::default_dir(),
            clock: None,
        }
    }

    /// The value for a `SPIN_VARIABLE_*` key: the overrides first, then the process environment.
    fn lookup_variable(&self, key: &str) -> Option<String> {
        self.variables_env
            .iter()
            .find(|(k, _)| k.as_str() == key || variables::env_key(k) == key)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(key).ok())
    }
}

/// A host serving requests. Stops on [`RunningHost::shutdown`] or when dropped.
#[derive(Debug)]
pub struct RunningHost {
    local_addr: SocketAddr,
    clock: Option<TestClock>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningHost {
    /// The address the host listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The test clock the components read, when [`HostConfig::clock`] gave one.
    pub fn clock(&self) -> Option<&TestClock> {
        self.clock.as_ref()
    }

    /// `http://<local_addr>`, handy for building request URLs.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Stops accepting connections, lets in-flight requests finish (up to 5 s) and waits for
    /// the server to stop. The state dir can be reused by a new host afterwards.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Loads the manifest and the runtime config, resolves variables, opens the key-value stores,
/// compiles the components (reusing compilations from earlier hosts in this process and from
/// [`HostConfig::compile_cache`]) and starts serving. Must be called inside a Tokio runtime.
///
/// Fails if the manifest or runtime config is invalid, a required variable has no value (the
/// error names it and its `SPIN_VARIABLE_*` key), a Redis store cannot be reached, a component
/// file is missing or does not compile, or the address cannot be bound.
pub async fn start(config: HostConfig) -> Result<RunningHost> {
    let manifest = Manifest::load(&config.manifest_path)?;
    let runtime_config = config
        .runtime_config
        .as_deref()
        .map(RuntimeConfig::load)
        .transpose()?;
    if let Some(rc) = &runtime_config {
        for key in &rc.ignored {
            eprintln!(
                "spinpost-host: warning: runtime config section '{key}' is not implemented by this host; ignored"
            );
        }
    }
    let stores = KvStores::open(&config.state_dir, runtime_config.as_ref()).await?;
    let manifest_dir = manifest::manifest_dir(&config.manifest_path);
    let vars = AppVariables::resolve(&manifest, |k| config.lookup_variable(k))?;

    let mut policies = Vec::new();
    for (id, def) in &manifest.component {
        let variables = vars.component_values(id, &def.variables)?;
        let expanded = def
            .allowed_outbound_hosts
            .iter()
            .map(|h| vars.expand(h))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("allowed_outbound_hosts of component '{id}'"))?;
        let allowed_hosts = AllowedHosts::parse(&expanded)
            .with_context(|| format!("allowed_outbound_hosts of component '{id}'"))?;
        for label in &def.key_value_stores {
            if !stores.is_defined(label) {
                eprintln!(
                    "spinpost-host: warning: component '{id}' lists key-value store '{label}', which this host does not define (opening it gives no-such-store)"
                );
            }
        }
        let policy = ComponentPolicy {
            id: id.clone(),
            variables,
            kv_stores: def.key_value_stores.iter().cloned().collect::<HashSet<_>>(),
            allowed_hosts,
            environment: def
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        policies.push((manifest_dir.join(&def.source), Arc::new(policy)));
    }

    // Compiling takes seconds; keep it off the async worker threads.
    let disk_cache = config.compile_cache.clone().map(CompileCache::new);
    let components = tokio::task::spawn_blocking(move || -> Result<HashMap<_, _>> {
        let engine = engine::engine()?;
        let mut out = HashMap::new();
        for (path, policy) in policies {
            let component = engine::load_component(&engine, &path, disk_cache.as_ref())
                .with_context(|| format!("component '{}'", policy.id))?;
            let pre = link(&engine, &component)
                .with_context(|| format!("cannot link component '{}'", policy.id))?;
            out.insert(policy.id.clone(), LoadedComponent { pre, policy });
        }
        Ok(out)
    })
    .await
    .map_err(|e| anyhow!("component loading panicked: {e}"))??;

    let router = Router::from_manifest(&manifest)?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen_addr))?;
    let local_addr = listener.local_addr()?;

    let app = Arc::new(App {
        components,
        router,
        stores: stores.clone(),
        request_timeout: config.request_timeout,
        permits: Arc::new(Semaphore::new(engine::MAX_CONCURRENT_REQUESTS)),
        clock: config.clock.clone(),
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = vec![tokio::spawn(server::serve(
        listener,
        app.clone(),
        shutdown_rx.clone(),
    ))];
    if let Some(every) = config.tick_every {
        match vars.get("tick_token") {
            Some(token) => tasks.push(tokio::spawn(server::tick_loop(
                app.clone(),
                every,
                token.to_owned(),
                shutdown_rx,
            ))),
            None => {
                eprintln!("spinpost-host: --tick-every ignored: variable tick_token is not defined")
            }
        }
    }
    eprintln!(
        "spinpost-host: serving {} on http://{local_addr} (key-value stores: {})",
        if manifest.application.name.is_empty() {
            "app"
        } else {
            &manifest.application.name
        },
        stores.summaries().join("; ")
    );
    Ok(RunningHost {
        local_addr,
        clock: config.clock,
        shutdown_tx,
        tasks,
    })
}

/// Links a component against every host interface. If it imports something this host does
/// not provide (e.g. `fermyon:spin/llm`), those imports trap when called instead of failing
/// start-up.
fn link(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> Result<ProxyPre<RequestState>> {
    let mut linker = Linker::<RequestState>::new(engine);
    runtime::add_to_linker(&mut linker)?;
    let pre = match linker.instantiate_pre(component) {
        Ok(pre) => pre,
        Err(first) => {
            // Only as a fallback: stubbing also stubs resource types that an interface `use`s
            // from another (e.g. atomics' `bucket`), which then no longer match.
            linker.define_unknown_imports_as_traps(component)?;
            match linker.instantiate_pre(component) {
                Ok(pre) => {
                    eprintln!(
                        "spinpost-host: warning: some imports are not provided and will trap: {first:#}"
                    );
                    pre
                }
                Err(_) => return Err(first.into()),
            }
        }
    };
    Ok(ProxyPre::new(pre)?)
}
