//! The Spin adapters of the core's ports, shared by the four components so each component is only its
//! route table: [`SpinStore`] (`fermyon:spin/key-value` plus `wasi:keyvalue` atomics and batch),
//! [`SpinHttp`] (outbound HTTP), [`FeedbackService`] (the ingress's feedback sink), [`variable`] (Spin
//! variables), the start-up every component shares ([`Ports`]) and request/response conversion.

mod feedback_sink;

pub use feedback_sink::{FeedbackService, FEEDBACK_EVENTS_URL};

use spin_sdk::http::{Request, Response};
use spin_sdk::key_value::Store;
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store as wasi_store};
use spinpost::clock::SystemClock;
use spinpost::kv::{CasOutcome, CasSlot, Entries, KvStore, StoreError};
use spinpost::messenger::{HttpClient, TransportError};
use spinpost::secret::Secret;
use spinpost::web;
use spinpost::{Error, Result};

/// The label of the one store every component uses.
pub const STORE_LABEL: &str = "default";

/// The Spin key-value store behind the [`KvStore`] port.
///
/// Plain reads and writes use `fermyon:spin/key-value`; atomics and batches use `wasi:keyvalue`,
/// which Spin backs with the same store for the same label.
pub struct SpinStore {
    store: Store,
    bucket: wasi_store::Bucket,
}

impl SpinStore {
    /// Open the default store.
    ///
    /// # Errors
    /// 500 when the component has no access to the store (a spin.toml mistake).
    pub fn open_default() -> Result<Self> {
        let store = Store::open_default()
            .map_err(|e| Error::internal(format!("opening key-value store: {e}")))?;
        let bucket = wasi_store::open(STORE_LABEL)
            .map_err(|e| Error::internal(format!("opening key-value bucket: {e:?}")))?;
        Ok(SpinStore { store, bucket })
    }
}

fn spin_err(e: spin_sdk::key_value::Error) -> StoreError {
    StoreError(e.to_string())
}

fn wasi_err(e: wasi_store::Error) -> StoreError {
    StoreError(match e {
        wasi_store::Error::NoSuchStore => "no such store".to_owned(),
        wasi_store::Error::AccessDenied => "access denied".to_owned(),
        wasi_store::Error::Other(message) => message,
    })
}

impl KvStore for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(key).map_err(spin_err)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.store.set(key, value).map_err(spin_err)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store.delete(key).map_err(spin_err)
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.store.exists(key).map_err(spin_err)
    }

    fn get_keys(&self) -> Result<Vec<String>, StoreError> {
        self.store.get_keys().map_err(spin_err)
    }

    fn get_many(&self, keys: &[String]) -> Result<Entries, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let found = batch::get_many(&self.bucket, keys).map_err(wasi_err)?;
        // Hosts may return only the keys they hold, or in another order: answer in the order asked.
        let mut by_key: std::collections::HashMap<String, Option<Vec<u8>>> =
            found.into_iter().collect();
        Ok(keys
            .iter()
            .map(|k| (k.clone(), by_key.remove(k).flatten()))
            .collect())
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        batch::set_many(&self.bucket, entries).map_err(wasi_err)
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        batch::delete_many(&self.bucket, keys).map_err(wasi_err)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(&self.bucket, key, delta).map_err(wasi_err)
    }

    fn cas_slot(&self, key: &str) -> Result<Box<dyn CasSlot + '_>, StoreError> {
        Ok(Box::new(SpinCasSlot {
            store: self,
            key: key.to_owned(),
            cas: atomics::Cas::new(&self.bucket, key).map_err(wasi_err)?,
        }))
    }
}

/// A key held through `wasi:keyvalue/atomics`: the host refuses the swap if the key changed since.
struct SpinCasSlot<'a> {
    store: &'a SpinStore,
    key: String,
    cas: atomics::Cas,
}

impl CasSlot for SpinCasSlot<'_> {
    fn current(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.cas.current().map_err(wasi_err)
    }

    fn swap(self: Box<Self>, new: &[u8]) -> Result<CasOutcome, StoreError> {
        let SpinCasSlot { store, key, cas } = *self;
        match atomics::swap(cas, new) {
            Ok(()) => Ok(CasOutcome::Swapped),
            Err(atomics::CasError::CasFailed(_)) => Ok(CasOutcome::Conflict(store.get(&key)?)),
            Err(atomics::CasError::StoreError(e)) => Err(wasi_err(e)),
        }
    }
}

/// What every component's handlers reach the world through: the store, the clock and the admin token.
/// A component wraps it with what is its own (dispatch adds its tick token).
pub struct Ports<S = SpinStore, C = SystemClock> {
    /// The key-value store.
    pub store: S,
    /// The time of everything a handler records, schedules or paces.
    pub clock: C,
    /// The bearer token of the admin routes.
    pub admin_token: Secret,
}

impl<S, C> Ports<S, C> {
    /// Ports over any store and clock (tests use the in-memory store and a manual clock).
    pub fn new(store: S, clock: C, admin_token: Secret) -> Self {
        Ports {
            store,
            clock,
            admin_token,
        }
    }

    /// The admin token, as an admin route group asks for it: `Group::bearer(Ports::admin_token)`.
    pub fn admin_token(&self) -> &Secret {
        &self.admin_token
    }
}

impl Ports {
    /// The start-up every component shares: open the default store, take the system clock and read the
    /// `admin_token` variable.
    ///
    /// # Errors
    /// 500 when the component has no access to the store (a spin.toml mistake).
    pub fn from_spin() -> Result<Self> {
        Ok(Ports::new(
            SpinStore::open_default()?,
            SystemClock,
            secret("admin_token"),
        ))
    }
}

/// Outbound HTTP through Spin (`wasi:http/outgoing-handler`), limited by `allowed_outbound_hosts`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpinHttp;

impl HttpClient for SpinHttp {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        spin_sdk::http::run(spin_sdk::http::send::<_, http::Response<Vec<u8>>>(request))
            .map_err(|e| TransportError(e.to_string()))
    }
}

/// A Spin variable; absent or unset gives the empty string (spin.toml gives every variable a default or
/// marks it required, so an absent one is a manifest mistake that the route reports as unavailable).
pub fn variable(name: &str) -> String {
    spin_sdk::variables::get(name).unwrap_or_default()
}

/// A secret Spin variable.
pub fn secret(name: &str) -> Secret {
    Secret::new(variable(name))
}

/// A numeric Spin variable, with a message naming the variable when it is not a number.
///
/// # Errors
/// 503 `invalid_configuration`.
pub fn number<T: std::str::FromStr>(name: &str) -> Result<T> {
    let raw = variable(name);
    raw.trim().parse().map_err(|_| {
        Error::unavailable(
            "invalid_configuration",
            format!("variable '{name}' must be a number, got '{raw}'"),
        )
    })
}

/// Convert Spin's request into the core's.
pub fn incoming(request: Request) -> web::Request {
    let method = match request.method() {
        spin_sdk::http::Method::Get => web::Method::GET,
        spin_sdk::http::Method::Post => web::Method::POST,
        spin_sdk::http::Method::Put => web::Method::PUT,
        spin_sdk::http::Method::Delete => web::Method::DELETE,
        spin_sdk::http::Method::Patch => web::Method::PATCH,
        spin_sdk::http::Method::Head => web::Method::HEAD,
        spin_sdk::http::Method::Options => web::Method::OPTIONS,
        spin_sdk::http::Method::Connect => web::Method::CONNECT,
        spin_sdk::http::Method::Trace => web::Method::TRACE,
        // A method that is not a valid token matches no route (405) rather than passing as GET.
        spin_sdk::http::Method::Other(other) => {
            web::Method::from_bytes(other.as_bytes()).unwrap_or(web::Method::CONNECT)
        }
    };
    let headers = request
        .headers()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                value.as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let path = request.path().to_owned();
    let query = request.query().to_owned();
    web::Request {
        method,
        path,
        query,
        headers,
        body: request.into_body(),
    }
}

/// Convert the core's response into Spin's.
pub fn outgoing(response: web::Response) -> Response {
    let mut builder = Response::builder();
    builder.status(response.status);
    for (name, value) in &response.headers {
        builder.header(name.as_str(), value.as_str());
    }
    builder.body(response.body).build()
}

/// Serve one request: open the store, build the component's context, route, and convert back.
/// A context that cannot be built (store unavailable) is a JSON 500, logged, never a trap.
pub fn serve<C>(
    request: Request,
    context: impl FnOnce() -> Result<C>,
    router: &web::Router<C>,
) -> Response {
    let request = incoming(request);
    let response = match context() {
        Ok(context) => router.handle(&context, &request),
        Err(err) => web::error_response(&request, &err),
    };
    outgoing(response)
}

/// Export a component's Spin entry point: each request is served by [`serve`] through the route table
/// `routes` over the context `start` builds, e.g. `spin_adapter::export_component!(Ports::from_spin, routes())`.
///
/// Only the wasm build exports it: natively the component is a library that tests drive through its route
/// table (a native cdylib cannot link the component's wasm export names).
#[macro_export]
macro_rules! export_component {
    ($start:expr, $routes:expr) => {
        #[cfg(target_arch = "wasm32")]
        #[::spin_sdk::http_component]
        fn handle(request: ::spin_sdk::http::Request) -> ::spin_sdk::http::Response {
            $crate::serve(request, $start, &$routes)
        }
    };
}
