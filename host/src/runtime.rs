//! Per-request store state and the Spin host interfaces: `fermyon:spin/key-value`,
//! `fermyon:spin/variables` and `wasi:keyvalue/{store,atomics,batch}`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::kv::{KvBackend, KvError, KvResult, KvStores, Snapshot, WatchedKey};
use crate::outbound::AllowedHosts;
use crate::variables::VariableNames;

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

/// An open `fermyon:spin/key-value` store: the backend of its label.
#[derive(Debug)]
pub struct StoreHandle {
    store: Arc<dyn KvBackend>,
}

/// An open `wasi:keyvalue` bucket: the backend of its label.
#[derive(Debug)]
pub struct BucketHandle {
    store: Arc<dyn KvBackend>,
}

/// Resources that stand for an open store.
trait OpenStore: Send + 'static {
    fn new(store: Arc<dyn KvBackend>) -> Self;
    fn store(&self) -> &Arc<dyn KvBackend>;
}

impl OpenStore for StoreHandle {
    fn new(store: Arc<dyn KvBackend>) -> Self {
        Self { store }
    }

    fn store(&self) -> &Arc<dyn KvBackend> {
        &self.store
    }
}

impl OpenStore for BucketHandle {
    fn new(store: Arc<dyn KvBackend>) -> Self {
        Self { store }
    }

    fn store(&self) -> &Arc<dyn KvBackend> {
        &self.store
    }
}

/// A `wasi:keyvalue/atomics.cas` handle: the key and the value it was last seen with, or the
/// backend's own handle when its swaps are tied to one ([`KvBackend::watch`]).
#[derive(Debug)]
pub struct CasHandle {
    store: Arc<dyn KvBackend>,
    key: String,
    snapshot: Snapshot,
    watched: Option<Box<dyn WatchedKey>>,
}

impl CasHandle {
    /// A handle on `key`, opened without reading, as Spin opens one: the backend's watched handle, or
    /// a snapshot that `current` fills in. A `swap` before any `current` expects the key absent (Spin's
    /// SQLite store inserts only if absent then), so the guest's usual `current`, `swap` costs one read.
    async fn open(store: Arc<dyn KvBackend>, key: String) -> KvResult<Self> {
        let watched = match store.watch(&key) {
            Some(watching) => Some(watching.await?),
            None => None,
        };
        let snapshot = None;
        Ok(Self {
            store,
            key,
            snapshot,
            watched,
        })
    }

    /// The value now; the value a snapshot handle's `swap` expects from here on.
    async fn current(&mut self) -> KvResult<Option<Vec<u8>>> {
        match &self.watched {
            Some(watched) => watched.current().await,
            None => {
                self.snapshot = self.store.get(self.key.clone()).await?;
                Ok(self.snapshot.clone())
            }
        }
    }
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
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentPolicy")
            .field("id", &self.id)
            .field("variables (names)", &VariableNames(&self.variables))
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
    pub(crate) stores: KvStores,
}

impl RequestState {
    pub(crate) fn new(
        policy: Arc<ComponentPolicy>,
        stores: KvStores,
        hooks: crate::server::OutboundHooks,
        clock: Option<&crate::TestClock>,
    ) -> Self {
        let mut wasi = WasiCtx::builder();
        // Component stdout/stderr go to the host's, so component logs show.
        wasi.inherit_stdout().inherit_stderr();
        if let Some(clock) = clock {
            wasi.wall_clock(clock.clone());
        }
        for (k, v) in &policy.environment {
            wasi.env(k, v);
        }
        Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks,
            policy,
            stores,
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

impl From<OpenError> for spin_kv::Error {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::AccessDenied => Self::AccessDenied,
            OpenError::NoSuchStore => Self::NoSuchStore,
        }
    }
}

impl From<OpenError> for wasi_kv::Error {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::AccessDenied => Self::AccessDenied,
            OpenError::NoSuchStore => Self::NoSuchStore,
        }
    }
}

impl From<KvError> for spin_kv::Error {
    fn from(e: KvError) -> Self {
        Self::Other(e.to_string())
    }
}

impl From<KvError> for wasi_kv::Error {
    fn from(e: KvError) -> Self {
        Self::Other(e.to_string())
    }
}

impl RequestState {
    /// Opens `label` as a `H` resource if the component may use it and the host defines it.
    fn open_store<H: OpenStore, E: From<OpenError>>(
        &mut self,
        label: &str,
    ) -> wasmtime::Result<Result<Resource<H>, E>> {
        if !self.policy.kv_stores.contains(label) {
            return Ok(Err(OpenError::AccessDenied.into()));
        }
        match self.stores.get(label).cloned() {
            Some(store) => Ok(Ok(self.table.push(H::new(store))?)),
            None => Ok(Err(OpenError::NoSuchStore.into())),
        }
    }

    /// The backend behind an open store or bucket. The futures it returns own what they need,
    /// so they can be awaited while `self` (which is not `Sync`) is borrowed mutably.
    fn store<S: OpenStore>(&self, handle: &Resource<S>) -> wasmtime::Result<Arc<dyn KvBackend>> {
        Ok(self.table.get(handle)?.store().clone())
    }
}

/// Host functions that are one call on the backend of an open store or bucket, with the
/// backend's error turned into the interface's own: each interface lists them as
/// `name(arguments) -> ok type;` and gets the same forwarding body.
macro_rules! forward_to_backend {
    ($handle:ty, $error:ty; $($op:ident($($arg:ident: $arg_ty:ty),*) -> $ok:ty;)*) => {$(
        async fn $op(
            &mut self,
            handle: Resource<$handle>,
            $($arg: $arg_ty),*
        ) -> wasmtime::Result<Result<$ok, $error>> {
            let store = self.store(&handle)?;
            Ok(store.$op($($arg),*).await.map_err(Into::into))
        }
    )*};
}

/// The single-key operations `fermyon:spin/key-value.store` and `wasi:keyvalue/store.bucket`
/// share.
macro_rules! single_key_operations {
    ($handle:ty, $error:ty) => {
        forward_to_backend!($handle, $error;
            get(key: String) -> Option<Vec<u8>>;
            set(key: String, value: Vec<u8>) -> ();
            delete(key: String) -> ();
            exists(key: String) -> bool;
        );

        async fn drop(&mut self, handle: Resource<$handle>) -> wasmtime::Result<()> {
            self.table.delete(handle)?;
            Ok(())
        }
    };
}

// ---- fermyon:spin/key-value@2.0.0 ----

impl spin_kv::Host for RequestState {}

impl spin_kv::HostStore for RequestState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, spin_kv::Error>> {
        self.open_store(&label)
    }

    single_key_operations!(StoreHandle, spin_kv::Error);

    async fn get_keys(
        &mut self,
        store: Resource<StoreHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        Ok(self.store(&store)?.keys().await.map_err(Into::into))
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
        self.open_store(&identifier)
    }
}

impl wasi_kv::HostBucket for RequestState {
    single_key_operations!(BucketHandle, wasi_kv::Error);

    async fn list_keys(
        &mut self,
        bucket: Resource<BucketHandle>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_kv::KeyResponse, wasi_kv::Error>> {
        let store = self.store(&bucket)?;
        // Spin returns every key in one page and ignores the cursor; do the same.
        let _ = cursor;
        Ok(store
            .keys()
            .await
            .map(|keys| wasi_kv::KeyResponse { keys, cursor: None })
            .map_err(Into::into))
    }
}

// ---- wasi:keyvalue/atomics@0.2.0-draft2 ----

impl atomics::Host for RequestState {
    forward_to_backend!(BucketHandle, wasi_kv::Error;
        increment(key: String, delta: i64) -> i64;
    );

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        // `swap` takes ownership of the cas handle; on conflict a fresh handle, already read, is
        // handed back so the guest can retry (as Spin does).
        let CasHandle {
            store,
            key,
            snapshot,
            watched,
        } = self.table.delete(cas)?;
        let result = match watched {
            Some(watched) => watched.swap(value).await,
            None => store.compare_and_swap(key.clone(), snapshot, value).await,
        };
        match result {
            Ok(()) => Ok(Ok(())),
            Err(KvError::CasFailed) => {
                let fresh = match CasHandle::open(store, key).await {
                    Ok(mut fresh) => fresh.current().await.map(|_| fresh),
                    Err(e) => Err(e),
                };
                match fresh {
                    Ok(fresh) => Ok(Err(atomics::CasError::CasFailed(self.table.push(fresh)?))),
                    Err(e) => Ok(Err(atomics::CasError::StoreError(e.into()))),
                }
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(e.into()))),
        }
    }
}

impl atomics::HostCas for RequestState {
    async fn new(
        &mut self,
        bucket: Resource<BucketHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, wasi_kv::Error>> {
        let store = self.store(&bucket)?;
        match CasHandle::open(store, key).await {
            Ok(handle) => Ok(Ok(self.table.push(handle)?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        // Re-read like Spin does, and compare against what the guest saw last.
        Ok(self
            .table
            .get_mut(&cas)?
            .current()
            .await
            .map_err(Into::into))
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

// ---- wasi:keyvalue/batch@0.2.0-draft2 ----

impl batch::Host for RequestState {
    forward_to_backend!(BucketHandle, wasi_kv::Error;
        get_many(keys: Vec<String>) -> Vec<(String, Option<Vec<u8>>)>;
        set_many(key_values: Vec<(String, Vec<u8>)>) -> ();
        delete_many(keys: Vec<String>) -> ();
    );
}
