//! Compiled components kept on disk, so a restarted host maps them in instead of compiling
//! every component again with Cranelift (seconds each; milliseconds from the cache).
//!
//! An entry is named after the SHA-256 of the `.wasm` bytes and the engine's compatibility hash,
//! so a rebuilt component, another Wasmtime version or another engine configuration simply
//! misses. Entries are written to a temporary file, flushed and renamed into place, so a host
//! killed while writing leaves no partial entry behind. An entry that cannot be loaded is
//! compiled again and replaced.
//!
//! Trust: loading an entry runs the machine code in it, as Wasmtime's and Spin's own caches do;
//! the cache directory must be writable only by the user running the host.

use std::cmp::Reverse;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// File name extension of an entry (Wasmtime's own for precompiled code).
const ENTRY_EXTENSION: &str = "cwasm";

/// Entries kept per component file name; older builds of the same component are removed.
const ENTRIES_KEPT_PER_COMPONENT: usize = 3;

/// The SHA-256 of a component's `.wasm` bytes: what an entry is looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ComponentDigest([u8; 32]);

impl ComponentDigest {
    /// The digest of `wasm`.
    pub fn of(wasm: &[u8]) -> Self {
        Self(Sha256::digest(wasm).into())
    }

    fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A directory of compiled components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// A cache in `dir` (created when the first entry is written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The user's cache directory for this host: `$XDG_CACHE_HOME/spinpost-host`, else
    /// `$HOME/.cache/spinpost-host`; `None` when neither variable is set.
    pub fn default_dir() -> Option<PathBuf> {
        let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        non_empty("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| non_empty("HOME").map(|home| Path::new(&home).join(".cache")))
            .map(|cache| cache.join("spinpost-host"))
    }

    /// The directory the entries are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The compiled form of the component named `name` with `digest`, if the cache holds one
    /// this engine can load.
    pub fn load(&self, engine: &Engine, name: &str, digest: &ComponentDigest) -> Option<Component> {
        let path = self.entry_path(engine, name, digest);
        if !path.is_file() {
            return None;
        }
        // SAFETY: entries are only ever written by `store` below from `Component::serialize`
        // of an engine with the same compatibility hash (part of the name), and Wasmtime checks
        // the header (version, target, settings) again; the directory is the user's own (see
        // the module docs).
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                // Mark it used, so pruning keeps the entries that are in use.
                let _ = std::fs::File::options()
                    .append(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(SystemTime::now()));
                Some(component)
            }
            Err(e) => {
                eprintln!(
                    "spinpost-host: warning: compiled component {} cannot be loaded ({e}); compiling again",
                    path.display()
                );
                None
            }
        }
    }

    /// Whether an entry for the component named `name` with `digest` exists.
    pub fn contains(&self, engine: &Engine, name: &str, digest: &ComponentDigest) -> bool {
        self.entry_path(engine, name, digest).is_file()
    }

    /// Writes the compiled `component` as the entry for `name` with `digest`, then removes
    /// the older entries of the same name beyond the few most recently used.
    pub fn store(
        &self,
        engine: &Engine,
        name: &str,
        digest: &ComponentDigest,
        component: &Component,
    ) -> Result<()> {
        let path = self.entry_path(engine, name, digest);
        let bytes = component.serialize()?;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        // Unique per process and entry, so concurrent hosts never write the same temporary file.
        let partial = path.with_extension(format!("{ENTRY_EXTENSION}.{}.part", std::process::id()));
        let written = std::fs::File::create(&partial).and_then(|mut file| {
            file.write_all(&bytes)?;
            file.sync_all()
        });
        if let Err(e) = written.and_then(|()| std::fs::rename(&partial, &path)) {
            let _ = std::fs::remove_file(&partial);
            return Err(e).with_context(|| format!("cannot write {}", path.display()));
        }
        self.prune(name);
        Ok(())
    }

    /// `<dir>/<name>-<wasm sha-256>-<engine hash>.cwasm`.
    fn entry_path(&self, engine: &Engine, name: &str, digest: &ComponentDigest) -> PathBuf {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir.join(format!(
            "{}-{}-{:016x}.{ENTRY_EXTENSION}",
            entry_prefix(name),
            digest.hex(),
            hasher.finish()
        ))
    }

    /// Removes the least recently used entries of `name` beyond [`ENTRIES_KEPT_PER_COMPONENT`].
    /// Best effort: a failure only leaves an unused file behind.
    fn prune(&self, name: &str) {
        let prefix = format!("{}-", entry_prefix(name));
        let Ok(listing) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<(SystemTime, PathBuf)> = listing
            .filter_map(|entry| entry.ok())
            .filter(|entry| {
                let file_name = entry.file_name();
                let file_name = file_name.to_string_lossy();
                file_name.starts_with(&prefix)
                    && file_name.ends_with(&format!(".{ENTRY_EXTENSION}"))
            })
            .filter_map(|entry| {
                let modified = entry.metadata().and_then(|m| m.modified()).ok()?;
                Some((modified, entry.path()))
            })
            .collect();
        entries.sort_by_key(|(modified, _)| Reverse(*modified));
        for (_, stale) in entries.into_iter().skip(ENTRIES_KEPT_PER_COMPONENT) {
            let _ = std::fs::remove_file(stale);
        }
    }
}

/// The component name as it may appear in a file name: letters, digits, `_` and `.`, the
/// rest replaced by `_` (a `-` would make one name's prefix match another's).
fn entry_prefix(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest valid component: the preamble with no sections.
    const EMPTY_COMPONENT: &[u8] = &[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    fn compiled(engine: &Engine) -> Component {
        Component::new(engine, EMPTY_COMPONENT).expect("the empty component compiles")
    }

    fn entries(cache: &CompileCache) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(cache.dir())
            .expect("cache dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_stored_component_is_loaded_back_and_another_build_misses() {
        let engine = crate::engine::engine().expect("engine");
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::new(dir.path().join("compiled"));
        let digest = ComponentDigest::of(EMPTY_COMPONENT);
        assert!(cache.load(&engine, "app", &digest).is_none());

        cache
            .store(&engine, "app", &digest, &compiled(&engine))
            .expect("store");
        assert!(cache.contains(&engine, "app", &digest));
        assert!(cache.load(&engine, "app", &digest).is_some());

        let rebuilt = ComponentDigest::of(b"another build");
        assert!(!cache.contains(&engine, "app", &rebuilt));
        assert!(cache.load(&engine, "app", &rebuilt).is_none());
        let names = entries(&cache);
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].starts_with("app-") && names[0].ends_with(".cwasm"));
    }

    #[test]
    fn an_entry_that_cannot_be_loaded_misses_and_is_replaced() {
        let engine = crate::engine::engine().expect("engine");
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::new(dir.path());
        let digest = ComponentDigest::of(EMPTY_COMPONENT);
        cache
            .store(&engine, "app", &digest, &compiled(&engine))
            .expect("store");
        let entry = dir.path().join(&entries(&cache)[0]);
        std::fs::write(&entry, b"not a compiled component").expect("corrupt the entry");

        assert!(cache.load(&engine, "app", &digest).is_none());
        cache
            .store(&engine, "app", &digest, &compiled(&engine))
            .expect("store again");
        assert!(cache.load(&engine, "app", &digest).is_some());
    }

    #[test]
    fn only_the_most_recent_entries_of_a_component_are_kept() {
        let engine = crate::engine::engine().expect("engine");
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::new(dir.path());
        let component = compiled(&engine);
        for build in 0..5u8 {
            let digest = ComponentDigest::of(&[build]);
            cache
                .store(&engine, "app", &digest, &component)
                .expect("store");
            // Distinct modification times, oldest first.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        cache
            .store(&engine, "app-two", &ComponentDigest::of(b"x"), &component)
            .expect("store another component");

        let names = entries(&cache);
        let of_app: Vec<_> = names.iter().filter(|n| n.starts_with("app-")).collect();
        assert_eq!(of_app.len(), ENTRIES_KEPT_PER_COMPONENT, "{names:?}");
        for kept in 2..5u8 {
            let digest = ComponentDigest::of(&[kept]);
            assert!(cache.contains(&engine, "app", &digest), "build {kept} kept");
        }
        assert!(!cache.contains(&engine, "app", &ComponentDigest::of(&[0])));
        assert!(cache.contains(&engine, "app-two", &ComponentDigest::of(b"x")));
    }
}
