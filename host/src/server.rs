//! The HTTP server: routing, per-request instantiation, local service chaining and outbound
//! HTTP policy.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks, WasiHttpView};

use crate::kv::KvStores;
use crate::outbound::chained_component;
use crate::request_line;
use crate::router::{RouteMatch, Router};
use crate::runtime::{ComponentPolicy, RequestState};

/// Chained calls deeper than this are refused (a component calling itself in a loop).
const MAX_CHAIN_DEPTH: u32 = 8;

/// Address reported as `spin-client-addr` for requests the host makes itself.
const LOCAL_CLIENT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// A component ready to instantiate, with its policy.
pub(crate) struct LoadedComponent {
    pub(crate) pre: ProxyPre<RequestState>,
    pub(crate) policy: Arc<ComponentPolicy>,
}

/// Everything shared by the requests of one running host.
pub(crate) struct App {
    pub(crate) components: HashMap<String, LoadedComponent>,
    pub(crate) router: Router,
    pub(crate) stores: KvStores,
    pub(crate) request_timeout: Duration,
    pub(crate) permits: Arc<Semaphore>,
    /// The wall clock components read instead of the real one (tests).
    pub(crate) clock: Option<crate::TestClock>,
}

/// JSON error response `{"error":{"code":..,"message":..}}`.
pub(crate) fn json_error(
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response<HyperOutgoingBody> {
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn full_body(body: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(body.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

fn internal_error(component_id: &str) -> Response<HyperOutgoingBody> {
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        &format!("component {component_id} failed"),
    )
}

/// How a component invocation ended without a response.
enum Failure {
    Trap(wasmtime::Error),
    Timeout,
}

impl App {
    /// Serves one request from outside (or from the host's own ticker): routes it, runs the
    /// component and logs one line.
    pub(crate) async fn handle_external<B>(
        self: Arc<Self>,
        req: Request<B>,
        client_addr: SocketAddr,
    ) -> Response<HyperOutgoingBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let Some(route) = self.router.route(&path) else {
            let resp = json_error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no route matches {path}"),
            );
            log_request(&method, &path, "-", resp.status(), start, "");
            return resp;
        };
        // Bound concurrent instances so the pool is never exhausted; the semaphore is never
        // closed, so acquisition only fails in theory.
        let permit = self.permits.clone().acquire_owned().await.ok();
        let resp = self.invoke(&route, req, client_addr, 0, permit).await;
        log_request(
            &method,
            &path,
            &route.component_id,
            resp.status(),
            start,
            "",
        );
        resp
    }

    /// Runs `route.component_id` on `req` in a fresh store and returns its response (or a JSON
    /// error response when it fails).
    async fn invoke<B>(
        self: &Arc<Self>,
        route: &RouteMatch,
        mut req: Request<B>,
        client_addr: SocketAddr,
        depth: u32,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Response<HyperOutgoingBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let id = route.component_id.clone();
        let Some(component) = self.components.get(&id) else {
            return json_error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no component {id}"),
            );
        };
        set_spin_headers(&mut req, route, client_addr);

        let hooks = OutboundHooks {
            app: self.clone(),
            policy: component.policy.clone(),
            depth,
        };
        let state = RequestState::new(
            component.policy.clone(),
            self.stores.clone(),
            hooks,
            self.clock.as_ref(),
        );
        let mut store = Store::new(component.pre.engine(), state);
        // Yield to the async runtime at every epoch tick (see engine.rs).
        store.epoch_deadline_async_yield_and_update(1);

        let (tx, rx) = oneshot::channel();
        let resources = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
            .and_then(|r| Ok((r, store.data_mut().http().new_response_outparam(tx)?)));
        let (incoming, outparam) = match resources {
            Ok(r) => r,
            Err(e) => {
                eprintln!("spinpost-host: cannot pass request to component {id}: {e:#}");
                return internal_error(&id);
            }
        };

        let pre = component.pre.clone();
        let timeout = self.request_timeout;
        // The instance runs in its own task: it may keep streaming the body after the response
        // head is returned.
        let task = tokio::spawn(async move {
            let _permit = permit;
            let run = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, outparam)
                    .await
            };
            match tokio::time::timeout(timeout, run).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(Failure::Trap(e)),
                Err(_) => Err(Failure::Timeout),
            }
        });

        match rx.await {
            Ok(Ok(resp)) => resp,
            Ok(Err(code)) => {
                eprintln!("spinpost-host: component {id} responded with error {code:?}");
                internal_error(&id)
            }
            // The sender was dropped with the store: the component ended without responding.
            Err(_) => match task.await {
                Ok(Ok(())) => {
                    eprintln!("spinpost-host: component {id} returned without setting a response");
                    internal_error(&id)
                }
                Ok(Err(Failure::Trap(e))) => {
                    eprintln!("spinpost-host: component {id} failed: {e:#}");
                    internal_error(&id)
                }
                Ok(Err(Failure::Timeout)) => {
                    eprintln!(
                        "spinpost-host: component {id} timed out after {}s",
                        timeout.as_secs()
                    );
                    json_error(
                        StatusCode::GATEWAY_TIMEOUT,
                        "timeout",
                        &format!("component {id} timed out"),
                    )
                }
                Err(e) => {
                    eprintln!("spinpost-host: component {id} task failed: {e}");
                    internal_error(&id)
                }
            },
        }
    }

    /// Serves a request to `http://<target>.spin.internal/...` in process.
    async fn handle_chained(
        self: Arc<Self>,
        target: String,
        caller: String,
        req: Request<WasiBody>,
        depth: u32,
    ) -> Response<HyperOutgoingBody> {
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let route = RouteMatch::chained(&target, &path);
        let resp = self.invoke(&route, req, LOCAL_CLIENT, depth, None).await;
        let note = format!(" (chained from {caller})");
        let shown = format!("http://{target}.spin.internal{path}");
        log_request(&method, &shown, &target, resp.status(), start, &note);
        resp
    }
}

fn log_request(
    method: &http::Method,
    path: &str,
    component: &str,
    status: StatusCode,
    start: Instant,
    note: &str,
) {
    eprintln!(
        "{method} {path} -> {component} {} {}ms{note}",
        status.as_u16(),
        start.elapsed().as_millis()
    );
}

/// Adds the headers Spin passes to components (`spin-path-info` etc.).
fn set_spin_headers<B>(req: &mut Request<B>, route: &RouteMatch, client_addr: SocketAddr) {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_owned());
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let mut pairs: Vec<(String, String)> = vec![
        (
            "spin-full-url".into(),
            format!("http://{host}{path_and_query}"),
        ),
        ("spin-path-info".into(), route.path_info.clone()),
        ("spin-matched-route".into(), route.matched_route.clone()),
        ("spin-base-path".into(), "/".into()),
        (
            "spin-raw-component-route".into(),
            route.matched_route.clone(),
        ),
        ("spin-component-route".into(), route.component_route.clone()),
        ("spin-client-addr".into(), client_addr.to_string()),
    ];
    for (name, value) in &route.params {
        pairs.push((
            format!("spin-path-match-{}", name.to_ascii_lowercase()),
            value.clone(),
        ));
    }
    let headers = req.headers_mut();
    for (name, value) in pairs {
        // Values come from the request path, which is already valid header text.
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(n, v);
        }
    }
    // wasi:http needs an authority; HTTP/1.0 clients may omit Host.
    if !headers.contains_key(http::header::HOST) {
        if let Ok(v) = HeaderValue::try_from(host) {
            headers.insert(http::header::HOST, v);
        }
    }
}

/// Outbound HTTP policy for one request: `allowed_outbound_hosts` checks and local service
/// chaining.
pub(crate) struct OutboundHooks {
    pub(crate) app: Arc<App>,
    pub(crate) policy: Arc<ComponentPolicy>,
    pub(crate) depth: u32,
}

type SendResult = Result<
    (
        Response<WasiBody>,
        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ),
    wasmtime_wasi_http::Error,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        drop(fut);
        let app = self.app.clone();
        let policy = self.policy.clone();
        let depth = self.depth;
        Box::new(async move {
            let uri = request.uri().clone();
            let allowed = policy.allowed_hosts.allows_uri(&uri);
            let host = uri.host().unwrap_or_default().to_ascii_lowercase();
            if !allowed {
                eprintln!(
                    "spinpost-host: component {} may not send requests to {}://{} (not in allowed_outbound_hosts)",
                    policy.id,
                    uri.scheme_str().unwrap_or("?"),
                    uri.authority().map(|a| a.as_str()).unwrap_or("?"),
                );
                return Err(wasmtime_wasi_http::Error::HttpRequestDenied);
            }
            if let Some(target) = chained_component(&host) {
                if !app.components.contains_key(target) {
                    return Err(wasmtime_wasi_http::Error::DestinationNotFound);
                }
                if depth >= MAX_CHAIN_DEPTH {
                    return Err(wasmtime_wasi_http::Error::LoopDetected);
                }
                let resp = app
                    .clone()
                    .handle_chained(target.to_owned(), policy.id.clone(), request, depth + 1)
                    .await;
                let done: Box<dyn Future<Output = _> + Send> = Box::new(async { Ok(()) });
                return Ok((resp, done));
            }
            let (resp, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            let io: Box<dyn Future<Output = _> + Send> = Box::new(io);
            Ok((resp.map(BodyExt::boxed_unsync), io))
        })
    }
}

/// Accepts connections until `shutdown` flips, then drains connections for up to 5 s.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let (stream, client_addr) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // E.g. too many open files: back off instead of spinning.
                        eprintln!("spinpost-host: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let app = app.clone();
                let mut conn_shutdown = shutdown.clone();
                conns.spawn(async move {
                    let Some(stream) = request_line::screen(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let app = app.clone();
                        async move { Ok::<_, Infallible>(app.handle_external(req, client_addr).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = conn_shutdown.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.abort_all();
    }
}

/// Every `every`, POSTs `/dispatch/tick` through the router with the `tick_token` bearer
/// token, until `shutdown` flips.
pub(crate) async fn tick_loop(
    app: Arc<App>,
    every: Duration,
    token: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick of an interval fires at once; wait a full period instead.
    interval.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = interval.tick() => {}
        }
        let req = Request::builder()
            .method(http::Method::POST)
            .uri("/dispatch/tick")
            .header(http::header::HOST, "localhost")
            .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Full::new(Bytes::new()));
        let req = match req {
            Ok(r) => r,
            Err(e) => {
                eprintln!("spinpost-host: tick: cannot build request: {e}");
                continue;
            }
        };
        let resp = app.clone().handle_external(req, LOCAL_CLIENT).await;
        let status = resp.status();
        // Drain the body so the component runs to completion before the next tick.
        let body = resp.into_body().collect().await;
        match body {
            Ok(b) if !status.is_success() => {
                let text = String::from_utf8_lossy(&b.to_bytes()).into_owned();
                eprintln!("spinpost-host: tick -> {} {}", status.as_u16(), text.trim());
            }
            Ok(_) => eprintln!("spinpost-host: tick -> {}", status.as_u16()),
            Err(e) => eprintln!(
                "spinpost-host: tick -> {} (body error: {e})",
                status.as_u16()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::Router;

    fn header<'a>(req: &'a Request<()>, name: &str) -> &'a str {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<missing>")
    }

    /// A request for `uri` (with `host`, if any) carrying the Spin headers for `route`.
    fn routed(
        uri: &str,
        host: Option<&str>,
        route: &RouteMatch,
        client: SocketAddr,
    ) -> Request<()> {
        let mut builder = Request::builder().uri(uri);
        if let Some(host) = host {
            builder = builder.header("host", host);
        }
        let mut req = builder.body(()).expect("request");
        set_spin_headers(&mut req, route, client);
        req
    }

    #[test]
    fn spin_headers_match_spin() {
        let mut router = Router::default();
        router
            .add("/api/v1/subscribers/...", "subs")
            .expect("route");
        router.add("/users/:id", "users").expect("route");
        let route = router.route("/api/v1/subscribers/42").expect("match");
        let client: SocketAddr = "127.0.0.1:5555".parse().expect("addr");
        let req = routed(
            "/api/v1/subscribers/42?x=1",
            Some("127.0.0.1:3000"),
            &route,
            client,
        );
        assert_eq!(
            header(&req, "spin-full-url"),
            "http://127.0.0.1:3000/api/v1/subscribers/42?x=1"
        );
        assert_eq!(header(&req, "spin-path-info"), "/42");
        assert_eq!(
            header(&req, "spin-matched-route"),
            "/api/v1/subscribers/..."
        );
        assert_eq!(
            header(&req, "spin-raw-component-route"),
            "/api/v1/subscribers/..."
        );
        assert_eq!(header(&req, "spin-component-route"), "/api/v1/subscribers");
        assert_eq!(header(&req, "spin-base-path"), "/");
        assert_eq!(header(&req, "spin-client-addr"), "127.0.0.1:5555");

        let route = router.route("/users/7").expect("match");
        let req = routed("/users/7", None, &route, client);
        assert_eq!(header(&req, "spin-path-match-id"), "7");
        assert_eq!(header(&req, "spin-path-info"), "");
        // HTTP/1.0 clients may omit Host; wasi:http needs an authority.
        assert_eq!(header(&req, "host"), "localhost");

        let route = RouteMatch::chained("feedback", "/events");
        let uri = "http://feedback.spin.internal/events";
        let req = routed(uri, None, &route, LOCAL_CLIENT);
        assert_eq!(header(&req, "spin-path-info"), "/events");
        assert_eq!(header(&req, "spin-matched-route"), "/...");
        assert_eq!(
            header(&req, "spin-full-url"),
            "http://feedback.spin.internal/events"
        );
    }

    #[test]
    fn json_errors() {
        let resp = json_error(StatusCode::NOT_FOUND, "not_found", "no route matches /x");
        assert_eq!(resp.status(), 404);
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        assert_eq!(internal_error("dispatch").status(), 500);
    }
}
