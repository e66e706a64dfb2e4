//! The process-wide Wasmtime [`Engine`] and compiled-component cache.
//!
//! Tests start many hosts in one process: sharing one engine (and so one instance pool) and
//! reusing compiled components keeps that cheap. Across processes, the [`CompileCache`] on disk
//! spares a restarted host the compilation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context, Result};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::compile_cache::{CompileCache, ComponentDigest};

/// Concurrent top-level requests allowed per process; each may chain into one more instance.
pub(crate) const MAX_CONCURRENT_REQUESTS: usize = 64;

/// Component instances the pool holds: room for every request plus its chained call.
const POOL_COMPONENT_INSTANCES: u32 = 2 * MAX_CONCURRENT_REQUESTS as u32 + 16;

/// How often the epoch advances; guests yield to the async runtime at each tick, so a busy
/// guest cannot starve other requests and a timed-out one can be dropped.
const EPOCH_TICK: Duration = Duration::from_millis(10);

static ENGINE: OnceLock<std::result::Result<Engine, String>> = OnceLock::new();

/// A component file as last seen: canonical path, modification time and size.
type FileKey = (PathBuf, SystemTime, u64);
static COMPONENTS: OnceLock<Mutex<HashMap<FileKey, (ComponentDigest, Component)>>> =
    OnceLock::new();

/// The shared engine (pooling allocator when the system allows it, else on-demand).
pub fn engine() -> Result<Engine> {
    ENGINE
        .get_or_init(|| build_engine().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!("cannot create the Wasmtime engine: {e}"))
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}

fn build_engine() -> Result<Engine> {
    let mut pooling = PoolingAllocationConfig::default();
    // Modest limits: a Rust component is a handful of core instances with one memory each.
    pooling
        .total_component_instances(POOL_COMPONENT_INSTANCES)
        .total_core_instances(POOL_COMPONENT_INSTANCES * 8)
        .total_memories(POOL_COMPONENT_INSTANCES * 2)
        .total_tables(POOL_COMPONENT_INSTANCES * 8)
        .total_stacks(POOL_COMPONENT_INSTANCES)
        .max_memory_size(256 << 20)
        .max_unused_warm_slots(32);
    let mut config = base_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        Err(e) => {
            // E.g. a low `ulimit -v`: the pool reserves address space up front.
            eprintln!(
                "spinpost-host: pooling allocator unavailable ({e}); using on-demand allocation"
            );
            Engine::new(&base_config())?
        }
    };
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("spinpost-epoch".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .context("cannot start the epoch thread")?;
    Ok(engine)
}

/// The compiled component at `path`: from this process's earlier hosts (same path, mtime and
/// size), else from `disk` (same content), else compiled now and written to `disk`. A cache
/// that cannot be written only costs the next start a compilation, so it is a warning.
pub fn load_component(
    engine: &Engine,
    path: &Path,
    disk: Option<&CompileCache>,
) -> Result<Component> {
    let meta = std::fs::metadata(path).with_context(|| {
        format!(
            "component file {} not found (build it first, e.g. with --build)",
            path.display()
        )
    })?;
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let key = (canonical, meta.modified()?, meta.len());
    let name = path
        .file_stem()
        .map_or_else(|| "component".into(), |stem| stem.to_string_lossy());
    let memory = COMPONENTS.get_or_init(Default::default);
    let seen = memory
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .cloned();
    if let Some((digest, component)) = seen {
        if let Some(disk) = disk.filter(|d| !d.contains(engine, &name, &digest)) {
            keep_on_disk(engine, disk, &name, &digest, &component);
        }
        return Ok(component);
    }

    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let digest = ComponentDigest::of(&bytes);
    let component = match disk.and_then(|d| d.load(engine, &name, &digest)) {
        Some(component) => component,
        None => {
            let component = Component::new(engine, &bytes)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot compile {}", path.display()))?;
            if let Some(disk) = disk {
                keep_on_disk(engine, disk, &name, &digest, &component);
            }
            component
        }
    };
    memory
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, (digest, component.clone()));
    Ok(component)
}

fn keep_on_disk(
    engine: &Engine,
    disk: &CompileCache,
    name: &str,
    digest: &ComponentDigest,
    component: &Component,
) {
    if let Err(e) = disk.store(engine, name, digest, component) {
        eprintln!("spinpost-host: warning: compiled component not cached: {e:#}");
    }
}
