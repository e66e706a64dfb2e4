//! Per-request store state and the Spin host interfaces: `fermyon:spin/key-value`,
//! `fermyon:spin/variables` and `wasi:keyvalue/{store,atomics,batch}`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::kv::{KvDb, KvError, KvResult};
use crate::outbound::AllowedHosts;

/// Bindings generated from `host/wit` (copied from spin-sdk 5.2.0).
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spinpost:host/host",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/key-value.store": crate::runtime::StoreHandle,
            "wasi:keyvalue/store.bucket": crate::runtime::BucketHandle,
            "wasi:keyvalue/atomics.cas": crate::runtime::CasHandle,
        },
    });
}

use bindings::fermyon::spin::{key_value as spin_kv, variables as spin_vars};
use bindings::wasi::keyvalue::{atomics, batch, store as wasi_kv};

/// Store labels this host defines (Spin defines only `default` without runtime config).
pub const DEFINED_STORES: &[&str] = &["default"];

/// An open key-value store (Spin `store` or wasi `bucket`): just its label.
#[derive(Debug)]
pub struct StoreHandle {
    label: String,
}

/// An open `wasi:keyvalue` bucket: just its label.
#[derive(Debug)]
pub struct BucketHandle {
    label: String,
}

/// Resources that name a store label.
trait Labelled: 'static {
    fn label(&self) -> &str;
}

impl Labelled for StoreHandle {
    fn label(&self) -> &str {
        &self.label
    }
}

impl Labelled for BucketHandle {
    fn label(&self) -> &str {
        &self.label
    }
}

/// A `wasi:keyvalue/atomics.cas` handle: the key and the value it was last seen with.
#[derive(Debug)]
pub struct CasHandle {
    label: String,
    key: String,
    snapshot: Option<Vec<u8>>,
}

/// What a component is allowed to do, resolved from the manifest at start-up.
pub struct ComponentPolicy {
    /// Component id.
    pub id: String,
    /// Resolved `[component.<id>.variables]`.
    pub variables: HashMap<String, String>,
    /// `key_value_stores` labels.
    pub kv_stores: HashSet<String>,
    /// Parsed, expanded `allowed_outbound_hosts`.
    pub allowed_hosts: AllowedHosts,
    /// WASI environment variables.
    pub environment: Vec<(String, String)>,
}

impl std::fmt::Debug for ComponentPolicy {
    // Variable values may be secrets: show only their names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.variables.keys().collect();
        names.sort();
        f.debug_struct("ComponentPolicy")
            .field("id", &self.id)
            .field("variables (names)", &names)
            .field("kv_stores", &self.kv_stores)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish_non_exhaustive()
    }
}

/// The `T` of each request's `Store<T>`.
pub struct RequestState {
    pub(crate) table: ResourceTable,
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: crate::server::OutboundHooks,
    pub(crate) policy: Arc<ComponentPolicy>,
    pub(crate) db: KvDb,
}

impl RequestState {
    pub(crate) fn new(
        policy: Arc<ComponentPolicy>,
        db: KvDb,
        hooks: crate::server::OutboundHooks,
    ) -> Self {
        let mut wasi = WasiCtx::builder();
        // Component stdout/stderr go to the host's, so component logs show.
        wasi.inherit_stdout().inherit_stderr();
        for (k, v) in &policy.environment {
            wasi.env(k, v);
        }
        Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks,
            policy,
            db,
        }
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Adds every host interface (WASI, wasi:http and the Spin ones) to `linker`.
pub fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    spin_kv::add_to_linker::<_, HasSelf<RequestState>>(linker, |s| s)?;
    spin_vars::add_to_linker::<_, HasSelf<RequestState>>(linker, |s| s)?;
    wasi_kv::add_to_linker::<_, HasSelf<RequestState>>(linker, |s| s)?;
    atomics::add_to_linker::<_, HasSelf<RequestState>>(linker, |s| s)?;
    batch::add_to_linker::<_, HasSelf<RequestState>>(linker, |s| s)?;
    Ok(())
}

/// Why a store label cannot be opened.
enum OpenError {
    AccessDenied,
    NoSuchStore,
}

impl RequestState {
    fn check_open(&self, label: &str) -> Result<(), OpenError> {
        if !self.policy.kv_stores.contains(label) {
            return Err(OpenError::AccessDenied);
        }
        if !DEFINED_STORES.contains(&label) {
            return Err(OpenError::NoSuchStore);
        }
        Ok(())
    }

    fn label<L: Labelled>(&self, handle: &Resource<L>) -> wasmtime::Result<String> {
        Ok(self.table.get(handle)?.label().to_owned())
    }

    /// Runs a blocking SQLite operation off the async runtime's worker threads.
    /// (Returns a future that does not borrow `self`, which is not `Sync`.)
    fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&KvDb) -> KvResult<T> + Send + 'static,
    ) -> impl std::future::Future<Output = KvResult<T>> + Send + 'static {
        let db = self.db.clone();
        async move {
            tokio::task::spawn_blocking(move || f(&db))
                .await
                .unwrap_or_else(|e| Err(KvError::Other(format!("key-value task failed: {e}"))))
        }
    }
}

fn kv_other(e: KvError) -> String {
    e.to_string()
}

// ---- fermyon:spin/key-value@2.0.0 ----

impl spin_kv::Host for RequestState {}

impl spin_kv::HostStore for RequestState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, spin_kv::Error>> {
        match self.check_open(&label) {
            Err(OpenError::AccessDenied) => return Ok(Err(spin_kv::Error::AccessDenied)),
            Err(OpenError::NoSuchStore) => return Ok(Err(spin_kv::Error::NoSuchStore)),
            Ok(()) => {}
        }
        Ok(Ok(self.table.push(StoreHandle { label })?))
    }

    async fn get(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        let label = self.label(&store)?;
        Ok(self
            .db(move |db| db.get(&label, &key))
            .await
            .map_err(|e| spin_kv::Error::Other(kv_other(e))))
    }

    async fn set(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let label = self.label(&store)?;
        Ok(self
            .db(move |db| db.set(&label, &key, &value))
            .await
            .map_err(|e| spin_kv::Error::Other(kv_other(e))))
    }

    async fn delete(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let label = self.label(&store)?;
        Ok(self
            .db(move |db| db.delete(&label, &key))
            .await
            .map_err(|e| spin_kv::Error::Other(kv_other(e))))
    }

    async fn exists(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        let label = self.label(&store)?;
        Ok(self
            .db(move |db| db.exists(&label, &key))
            .await
            .map_err(|e| spin_kv::Error::Other(kv_other(e))))
    }

    async fn get_keys(
        &mut self,
        store: Resource<StoreHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        let label = self.label(&store)?;
        Ok(self
            .db(move |db| db.keys(&label))
            .await
            .map_err(|e| spin_kv::Error::Other(kv_other(e))))
    }

    async fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

// ---- fermyon:spin/variables@2.0.0 ----

impl spin_vars::Host for RequestState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, spin_vars::Error>> {
        if let Err(e) = crate::variables::validate_name(&name) {
            return Ok(Err(spin_vars::Error::InvalidName(e.to_string())));
        }
        Ok(match self.policy.variables.get(&name) {
            Some(v) => Ok(v.clone()),
            None => Err(spin_vars::Error::Undefined(format!(
                "no variable '{name}' for component '{}'",
                self.policy.id
            ))),
        })
    }
}

// ---- wasi:keyvalue/store@0.2.0-draft2 ----

impl wasi_kv::Host for RequestState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<BucketHandle>, wasi_kv::Error>> {
        match self.check_open(&identifier) {
            Err(OpenError::AccessDenied) => return Ok(Err(wasi_kv::Error::AccessDenied)),
            Err(OpenError::NoSuchStore) => return Ok(Err(wasi_kv::Error::NoSuchStore)),
            Ok(()) => {}
        }
        Ok(Ok(self.table.push(BucketHandle { label: identifier })?))
    }
}

fn wasi_other(e: KvError) -> wasi_kv::Error {
    wasi_kv::Error::Other(e.to_string())
}

impl wasi_kv::HostBucket for RequestState {
    async fn get(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .db(move |db| db.get(&label, &key))
            .await
            .map_err(wasi_other))
    }

    async fn set(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .db(move |db| db.set(&label, &key, &value))
            .await
            .map_err(wasi_other))
    }

    async fn delete(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .db(move |db| db.delete(&label, &key))
            .await
            .map_err(wasi_other))
    }

    async fn exists(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .db(move |db| db.exists(&label, &key))
            .await
            .map_err(wasi_other))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<BucketHandle>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_kv::KeyResponse, wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        // Spin returns every key in one page and ignores the cursor; do the same.
        let _ = cursor;
        Ok(self
            .db(move |db| db.keys(&label))
            .await
            .map(|keys| wasi_kv::KeyResponse { keys, cursor: None })
            .map_err(wasi_other))
    }

    async fn drop(&mut self, bucket: Resource<BucketHandle>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

// ---- wasi:keyvalue/atomics@0.2.0-draft2 ----

impl atomics::Host for RequestState {
    async fn increment(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .db(move |db| db.increment(&label, &key, delta))
            .await
            .map_err(wasi_other))
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        // `swap` takes ownership of the cas handle; on conflict a fresh handle (with a new
        // snapshot) is handed back so the guest can retry.
        let handle = self.table.delete(cas)?;
        let (label, key, snapshot) = (handle.label, handle.key, handle.snapshot);
        let (l, k, s) = (label.clone(), key.clone(), snapshot.clone());
        let result = self
            .db(move |db| db.compare_and_swap(&l, &k, s.as_deref(), &value))
            .await;
        match result {
            Ok(()) => Ok(Ok(())),
            Err(KvError::CasFailed) => {
                let (l, k) = (label.clone(), key.clone());
                let current = match self.db(move |db| db.get(&l, &k)).await {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(atomics::CasError::StoreError(wasi_other(e)))),
                };
                let fresh = self.table.push(CasHandle {
                    label,
                    key,
                    snapshot: current,
                })?;
                Ok(Err(atomics::CasError::CasFailed(fresh)))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(wasi_other(e)))),
        }
    }
}

impl atomics::HostCas for RequestState {
    async fn new(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        let (l, k) = (label.clone(), key.clone());
        // Snapshot now: `swap` succeeds only if the value is still this one.
        let snapshot = match self.db(move |db| db.get(&l, &k)).await {
            Ok(v) => v,
            Err(e) => return Ok(Err(wasi_other(e))),
        };
        Ok(Ok(self.table.push(CasHandle {
            label,
            key,
            snapshot,
        })?))
    }

    async fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        let h = self.table.get(&cas)?;
        let (label, key) = (h.label.clone(), h.key.clone());
        // Re-read like Spin does, and compare against what the guest saw last.
        match self.db(move |db| db.get(&label, &key)).await {
            Ok(v) => {
                self.table.get_mut(&cas)?.snapshot = v.clone();
                Ok(Ok(v))
            }
            Err(e) => Ok(Err(wasi_other(e))),
        }
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

// ---- wasi:keyvalue/batch@0.2.0-draft2 ----

impl batch::Host for RequestState {
    async fn get_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .db(move |db| db.get_many(&label, &keys))
            .await
            .map_err(wasi_other))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .db(move |db| db.set_many(&label, &key_values))
            .await
            .map_err(wasi_other))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<BucketHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let label = self.label(&bucket)?;
        Ok(self
            .db(move |db| db.delete_many(&label, &keys))
            .await
            .map_err(wasi_other))
    }
}
