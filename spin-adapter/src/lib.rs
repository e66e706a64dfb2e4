//! The Spin adapters of the core's ports, shared by the four components so each component is only its
//! route table: [`SpinStore`] (`fermyon:spin/key-value` plus `wasi:keyvalue` atomics and batch),
//! [`SpinHttp`] (outbound HTTP), [`FeedbackService`] (the ingress's feedback sink), [`variable`] (Spin
//! variables), the start-up every component shares ([`Ports`]) and request/response conversion, with
//! the request body read as a stream within its route's limit.

mod feedback_sink;

pub use feedback_sink::{FeedbackService, FEEDBACK_EVENTS_URL};

mod batch_read;
mod store;
mod write_token;

pub use store::{SpinStore, STORE_LABEL};

use spin_sdk::http::{IncomingRequest, Response};
use spinpost::clock::SystemClock;
use spinpost::messenger::{HttpClient, TransportError};
use spinpost::secret::Secret;
use spinpost::web;
use spinpost::{Error, Result};

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

    /// Start every request (`wasi:http/outgoing-handler.handle`), then wait for their answers
    /// together: spin-sdk's executor polls all their pollables at once with `wasi:io/poll.poll`.
    fn send_all(
        &self,
        requests: Vec<http::Request<Vec<u8>>>,
    ) -> Vec<Result<http::Response<Vec<u8>>, TransportError>> {
        let in_flight = requests.into_iter().map(|request| async move {
            spin_sdk::http::send::<_, http::Response<Vec<u8>>>(request)
                .await
                .map_err(|e| TransportError(e.to_string()))
        });
        spin_sdk::http::run(futures::future::join_all(in_flight))
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

/// The core's view of Spin's request head: method, path, query and headers. The body is not read
/// here: [`read_body_within`] reads it once the route has said how much it takes.
pub fn incoming_head(request: &IncomingRequest) -> web::Request {
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
        .entries()
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8(value).unwrap_or_default(),
            )
        })
        .collect();
    let path_and_query = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query.as_str(), ""));
    web::Request {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: Vec::new(),
    }
}

/// Read the request body as a stream, keeping at most `limit` bytes in memory: a body that goes past
/// it stops being read and is refused.
///
/// # Errors
/// 413 `payload_too_large` past `limit`; 400 `unreadable_body` when the stream breaks off.
pub fn read_body_within(request: IncomingRequest, limit: usize) -> Result<Vec<u8>> {
    use futures::StreamExt;
    spin_sdk::http::run(async move {
        let mut stream = request.into_body_stream();
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                Error::invalid(
                    "unreadable_body",
                    format!("the request body broke off: {}", e.to_debug_string()),
                )
            })?;
            if body.len() + chunk.len() > limit {
                return Err(web::payload_too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    })
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

/// Serve one request: open the store, build the component's context, route on the request head, read
/// the body within the route's limit, and convert back. Whatever the body's size, at most the route's
/// limit of it is ever in memory. A context that cannot be built (store unavailable) is a JSON 500,
/// logged, never a trap.
pub fn serve<C>(
    request: IncomingRequest,
    context: impl FnOnce() -> Result<C>,
    router: &web::Router<C>,
) -> Response {
    let head = incoming_head(&request);
    let response = match context() {
        Ok(context) => {
            router.handle_streamed(&context, head, |limit| read_body_within(request, limit))
        }
        Err(err) => web::error_response(&head, &err),
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
        fn handle(request: ::spin_sdk::http::IncomingRequest) -> ::spin_sdk::http::Response {
            $crate::serve(request, $start, &$routes)
        }
    };
}
