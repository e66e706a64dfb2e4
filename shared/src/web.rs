//! HTTP at the edge of the core: a host-independent request and response, a route table that answers
//! 404 and 405 itself, guarded route groups (admin and tick bearer tokens), body size limits, JSON parsing
//! with field-level messages, and answers to errors that keep internal causes in the log.
//!
//! Components convert Spin's request into [`Request`], dispatch it through a [`Router`], and convert the
//! [`Response`] back; everything in between is plain Rust that unit tests drive directly.

use std::collections::HashMap;

pub use http::Method;
use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::secret::Secret;

/// The largest body any route accepts (bulk imports); other routes use [`DEFAULT_BODY_LIMIT`].
pub const MAX_BODY_LIMIT: usize = 4 * 1024 * 1024;
/// The body limit of ordinary JSON routes and webhooks.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// What a 500 tells the caller; the cause goes to the component log.
pub const INTERNAL_ERROR_MESSAGE: &str = "internal error";

/// An incoming request, as the core sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The path, without the query string.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no headers or body, for tests and internal calls.
    pub fn new(method: Method, path_and_query: &str) -> Self {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Request {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Builder: add a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Builder: set the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The decoded query parameters (last value wins).
    pub fn query_params(&self) -> HashMap<String, String> {
        form_urlencoded_pairs(&self.query).collect()
    }

    /// One query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded_pairs(&self.query)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Reject a body over `limit` bytes with 413.
    ///
    /// # Errors
    /// `payload_too_large` naming the limit.
    pub fn check_body_limit(&self, limit: usize) -> Result<()> {
        if self.body.len() > limit {
            return Err(payload_too_large(limit));
        }
        Ok(())
    }

    /// The body length the `content-length` header declares, if it declares one.
    ///
    /// # Errors
    /// 400 `invalid_content_length` when the header is not a number.
    pub fn declared_body_length(&self) -> Result<Option<u64>> {
        self.header("content-length")
            .map(|value| {
                value.trim().parse().map_err(|_| {
                    Error::invalid(
                        "invalid_content_length",
                        "the content-length header must be a number of bytes",
                    )
                })
            })
            .transpose()
    }

    /// Parse the body as JSON of type `T`, within [`DEFAULT_BODY_LIMIT`].
    ///
    /// # Errors
    /// 413 over the limit; 400 `invalid_json` with the line, column and serde's explanation otherwise.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        self.json_within(DEFAULT_BODY_LIMIT)
    }

    /// Parse the body as JSON within a given limit.
    ///
    /// # Errors
    /// As [`Request::json`].
    pub fn json_within<T: DeserializeOwned>(&self, limit: usize) -> Result<T> {
        self.check_body_limit(limit)?;
        if self.body.is_empty() {
            return Err(Error::invalid(
                "invalid_json",
                "the request body is empty; send a JSON object",
            ));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::invalid("invalid_json", format!("request body: {e}")))
    }
}

/// The answer to a body over a route's limit (413 `payload_too_large`), whether it was declared up
/// front or found while reading: the body is never read further, so its size is not known.
pub fn payload_too_large(limit: usize) -> Error {
    Error::new(
        ErrorKind::PayloadTooLarge,
        "payload_too_large",
        format!("the body is larger than this route accepts: at most {limit} bytes"),
    )
}

/// Decode `application/x-www-form-urlencoded` pairs (also used for query strings).
pub fn form_urlencoded_pairs(input: &str) -> impl Iterator<Item = (String, String)> + '_ {
    input.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h * 16 + l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// An outgoing response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// 200 with a JSON body.
    pub fn ok<T: Serialize + ?Sized>(value: &T) -> Self {
        Self::json(200, value)
    }

    /// A body of a given content type.
    pub fn with_content(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// 204 with no body.
    pub fn no_content() -> Self {
        Response {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The JSON error response for `err`. A 500 says only that something failed inside: store errors,
    /// serde text and keys never reach callers (use [`error_response`] to log the cause).
    pub fn from_error(err: &Error) -> Self {
        let body = if err.kind() == ErrorKind::Internal {
            Error::internal(INTERNAL_ERROR_MESSAGE).to_json()
        } else {
            err.to_json()
        };
        let mut response = Response {
            status: err.status(),
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        };
        if err.kind() == ErrorKind::Unauthorized {
            response
                .headers
                .push(("www-authenticate".into(), "Bearer".into()));
        }
        response
    }

    /// Add a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

impl From<Error> for Response {
    fn from(err: Error) -> Self {
        Response::from_error(&err)
    }
}

/// Path parameters captured by `:name` segments of a route.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    /// A captured parameter; routes only ask for names they declare.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

/// A route handler over a context `C` (the component's ports).
pub type Handler<C> = fn(&C, &Request, &Params) -> Result<Response>;

/// What a route checks from the request head (method, path, headers; the body is still unread) and
/// the most body it then reads, e.g. a webhook's signature header and its platform's limit.
pub type Admission<C> = fn(&C, &Request, &Params) -> Result<usize>;

/// How much body the routes of a [`Group`] read; decided before any of the body is read.
pub enum BodyLimit<C> {
    /// At most this many bytes.
    Fixed(usize),
    /// What the admission answers from the request head.
    Admitted(Admission<C>),
}

impl<C> Clone for BodyLimit<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for BodyLimit<C> {}

/// Where a guard finds the token a caller must present, in the component's context.
pub type TokenOf<C> = fn(&C) -> &Secret;

/// Who may call the routes of a [`Group`]; the router checks it before any of their handlers runs.
pub enum Guard<C> {
    /// Anyone: webhooks authenticate with their platform's own rules, private routes are unreachable
    /// from outside.
    Open,
    /// `Authorization: Bearer <token>` with the token the context holds (see [`require_bearer`]).
    Bearer(TokenOf<C>),
}

// Derived `Clone`/`Copy` would require `C: Copy`; a function pointer is always copyable.
impl<C> Clone for Guard<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Guard<C> {}

impl<C> Guard<C> {
    /// Let the request through, or answer it with the guard's error.
    ///
    /// # Errors
    /// 401 `unauthorized` from [`require_bearer`].
    pub fn check(self, context: &C, request: &Request) -> Result<()> {
        match self {
            Guard::Open => Ok(()),
            Guard::Bearer(token) => require_bearer(request, token(context)),
        }
    }
}

/// Routes that share a guard and a body limit, e.g. every admin route of a component.
pub struct Group<C> {
    guard: Guard<C>,
    body_limit: BodyLimit<C>,
    routes: Vec<Route<C>>,
}

impl<C> Group<C> {
    /// Routes anyone may call.
    pub fn open() -> Self {
        Self::guarded(Guard::Open)
    }

    /// Routes that require `Authorization: Bearer` with the token `token` picks from the context.
    pub fn bearer(token: TokenOf<C>) -> Self {
        Self::guarded(Guard::Bearer(token))
    }

    /// Routes behind `guard`.
    pub fn guarded(guard: Guard<C>) -> Self {
        Group {
            guard,
            body_limit: BodyLimit::Fixed(DEFAULT_BODY_LIMIT),
            routes: Vec::new(),
        }
    }

    /// Builder: the routes added after this read at most `limit` bytes of body
    /// ([`DEFAULT_BODY_LIMIT`] unless set).
    pub fn within(mut self, limit: usize) -> Self {
        self.body_limit = BodyLimit::Fixed(limit);
        self
    }

    /// Builder: the routes added after this are admitted by `admission` from the request head,
    /// which also sets how much body they read.
    pub fn admitted_by(mut self, admission: Admission<C>) -> Self {
        self.body_limit = BodyLimit::Admitted(admission);
        self
    }

    /// Add a `GET` route (which also answers `HEAD`).
    pub fn get(self, pattern: &'static str, handler: Handler<C>) -> Self {
        self.route(Method::GET, pattern, handler)
    }

    /// Add a `POST` route.
    pub fn post(self, pattern: &'static str, handler: Handler<C>) -> Self {
        self.route(Method::POST, pattern, handler)
    }

    /// Add a `PUT` route.
    pub fn put(self, pattern: &'static str, handler: Handler<C>) -> Self {
        self.route(Method::PUT, pattern, handler)
    }

    /// Add a `PATCH` route.
    pub fn patch(self, pattern: &'static str, handler: Handler<C>) -> Self {
        self.route(Method::PATCH, pattern, handler)
    }

    /// Add a `DELETE` route.
    pub fn delete(self, pattern: &'static str, handler: Handler<C>) -> Self {
        self.route(Method::DELETE, pattern, handler)
    }

    /// Add a route, e.g. `.route(Method::GET, "/api/v1/subscribers/:id", get_subscriber)`.
    pub fn route(mut self, method: Method, pattern: &'static str, handler: Handler<C>) -> Self {
        let segments = pattern
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        self.routes.push(Route {
            method,
            pattern,
            segments,
            guard: self.guard,
            body_limit: self.body_limit,
            handler,
        });
        self
    }
}

struct Route<C> {
    method: Method,
    pattern: &'static str,
    segments: Vec<&'static str>,
    guard: Guard<C>,
    body_limit: BodyLimit<C>,
    handler: Handler<C>,
}

impl<C> Route<C> {
    /// Everything decided from the request head, before any of the body is read: the guard, the
    /// admission, and the limit (also against a declared `content-length`). Gives the limit.
    fn admit(&self, context: &C, head: &Request, params: &Params) -> Result<usize> {
        self.guard.check(context, head)?;
        let limit = match self.body_limit {
            BodyLimit::Fixed(limit) => limit,
            BodyLimit::Admitted(admission) => admission(context, head, params)?,
        };
        match head.declared_body_length()? {
            Some(declared) if declared > limit as u64 => Err(payload_too_large(limit)),
            _ => Ok(limit),
        }
    }
}

/// One row of a route table as documentation and contract tests see it: no handler, no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// The method (a `GET` route also answers `HEAD`).
    pub method: Method,
    /// The pattern as written, e.g. `/api/v1/subscribers/:id`.
    pub pattern: &'static str,
    /// Whether anyone may call it (no bearer token is checked).
    pub open: bool,
}

/// A route table: method plus a path pattern of literal and `:param` segments, each route behind the
/// guard of the [`Group`] it was added in.
pub struct Router<C> {
    routes: Vec<Route<C>>,
}

impl<C> Default for Router<C> {
    fn default() -> Self {
        Router { routes: Vec::new() }
    }
}

impl<C> Router<C> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a group of routes; earlier routes match first.
    pub fn group(mut self, group: Group<C>) -> Self {
        self.routes.extend(group.routes);
        self
    }

    /// The routes in matching order, e.g. to check them against the API's published contract.
    pub fn table(&self) -> Vec<RouteEntry> {
        self.routes
            .iter()
            .map(|route| RouteEntry {
                method: route.method.clone(),
                pattern: route.pattern,
                open: matches!(route.guard, Guard::Open),
            })
            .collect()
    }

    /// Run the matching handler behind its guard, on a request whose body is already in memory;
    /// 404 when no pattern matches, 405 (with `Allow`) when only the method differs, 413 when the
    /// body is over the route's limit. Errors become JSON error responses (see [`error_response`]).
    pub fn handle(&self, context: &C, request: &Request) -> Response {
        let (route, params) = match self.find(request) {
            Ok(found) => found,
            Err(refusal) => return refusal,
        };
        route
            .admit(context, request, &params)
            .and_then(|limit| request.check_body_limit(limit))
            .and_then(|()| (route.handler)(context, request, &params))
            .unwrap_or_else(|err| error_response(request, &err))
    }

    /// Run the matching handler on a request whose body is still to be read: everything the head
    /// decides (route, guard, admission, declared length) is answered first, then `read_body` reads
    /// at most the route's limit — it must fail with [`payload_too_large`] rather than read past it.
    pub fn handle_streamed(
        &self,
        context: &C,
        mut head: Request,
        read_body: impl FnOnce(usize) -> Result<Vec<u8>>,
    ) -> Response {
        let (route, params) = match self.find(&head) {
            Ok(found) => found,
            Err(refusal) => return refusal,
        };
        let body = route.admit(context, &head, &params).and_then(read_body);
        match body {
            Ok(body) => {
                head.body = body;
                (route.handler)(context, &head, &params)
                    .unwrap_or_else(|err| error_response(&head, &err))
            }
            Err(err) => error_response(&head, &err),
        }
    }

    /// The route of a request and its parameters, or the 404 or 405 answer.
    fn find(&self, request: &Request) -> std::result::Result<(&Route<C>, Params), Response> {
        let path: Vec<&str> = request
            .path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let mut allowed = Vec::new();
        for route in &self.routes {
            let Some(params) = match_pattern(&route.segments, &path) else {
                continue;
            };
            if route.method == request.method
                || (request.method == Method::HEAD && route.method == Method::GET)
            {
                return Ok((route, params));
            }
            allowed.push(route.method.as_str());
        }
        if allowed.is_empty() {
            return Err(Error::new(
                ErrorKind::NotFound,
                "not_found",
                format!("no route matches {}", request.path),
            )
            .into());
        }
        allowed.dedup();
        let allow = allowed.join(", ");
        Err(Response::from(Error::new(
            ErrorKind::MethodNotAllowed,
            "method_not_allowed",
            format!(
                "{} is not allowed on {}; use {allow}",
                request.method, request.path
            ),
        ))
        .with_header("allow", &allow))
    }
}

/// The answer to a request that failed with `err`. A 500 is logged (one stderr line naming the route
/// and the cause) and answered with a generic message: its cause is for operators, not callers.
pub fn error_response(request: &Request, err: &Error) -> Response {
    if err.kind() == ErrorKind::Internal {
        let cause = err.message().replace(['\n', '\r'], " ");
        eprintln!(
            "spinpost: 500 on {} {}: {}: {cause}",
            request.method,
            request.path,
            err.code()
        );
    }
    Response::from_error(err)
}

fn match_pattern(pattern: &[&'static str], path: &[&str]) -> Option<Params> {
    if pattern.len() != path.len() {
        return None;
    }
    let mut params = Vec::new();
    for (expected, actual) in pattern.iter().zip(path) {
        if let Some(name) = expected.strip_prefix(':') {
            params.push((name, percent_decode(actual)));
        } else if expected != actual {
            return None;
        }
    }
    Some(Params(params))
}

/// Require `Authorization: Bearer <token>` matching `expected`, compared in constant time.
///
/// # Errors
/// 401 `unauthorized` when the header is absent, malformed or wrong; the message never echoes it.
pub fn require_bearer(request: &Request, expected: &Secret) -> Result<()> {
    let presented = request
        .header("authorization")
        // The scheme is case-insensitive (RFC 9110 section 11.1).
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match presented {
        Some(token) if expected.matches(token) => Ok(()),
        Some(_) => Err(Error::unauthorized("the bearer token is not valid")),
        None => Err(Error::unauthorized(
            "send 'Authorization: Bearer <admin token>'",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(_: &(), _: &Request, params: &Params) -> Result<Response> {
        Ok(Response::ok(&serde_json::json!({ "id": params.get("id") })))
    }

    fn router() -> Router<()> {
        Router::new().group(
            Group::open()
                .route(Method::GET, "/api/v1/things/:id", hello)
                .route(Method::DELETE, "/api/v1/things/:id", hello),
        )
    }

    /// A context holding two tokens, like a component with admin and tick routes.
    struct Tokens {
        admin: Secret,
        tick: Secret,
    }

    fn guarded_router() -> Router<Tokens> {
        fn whoami(_: &Tokens, _: &Request, _: &Params) -> Result<Response> {
            Ok(Response::no_content())
        }
        Router::new()
            .group(Group::bearer(|t: &Tokens| &t.tick).route(Method::POST, "/tick", whoami))
            .group(
                Group::bearer(|t: &Tokens| &t.admin)
                    .route(Method::GET, "/admin/:id", whoami)
                    .route(Method::DELETE, "/admin/:id", whoami),
            )
            .group(Group::open().route(Method::POST, "/webhook", whoami))
    }

    fn tokens() -> Tokens {
        Tokens {
            admin: Secret::new("admin-secret"),
            tick: Secret::new("tick-secret"),
        }
    }

    fn call(method: Method, path: &str, token: Option<&str>) -> Response {
        let mut request = Request::new(method, path);
        if let Some(token) = token {
            request = request.with_header("authorization", &format!("Bearer {token}"));
        }
        guarded_router().handle(&tokens(), &request)
    }

    #[test]
    fn a_group_guard_runs_before_every_handler_of_the_group() {
        assert_eq!(
            call(Method::GET, "/admin/1", Some("admin-secret")).status,
            204
        );
        assert_eq!(call(Method::POST, "/tick", Some("tick-secret")).status, 204);
        assert_eq!(call(Method::POST, "/webhook", None).status, 204);
        for (method, path, token) in [
            (Method::GET, "/admin/1", None),
            (Method::DELETE, "/admin/1", Some("tick-secret")),
            (Method::POST, "/tick", Some("admin-secret")),
        ] {
            let response = call(method, path, token);
            assert_eq!(response.status, 401, "{path}");
            assert_eq!(body(&response)["error"]["code"], "unauthorized");
            assert!(response
                .headers
                .contains(&("www-authenticate".into(), "Bearer".into())));
        }
    }

    /// A router whose webhook admits only a request with an `x-signature` header, and reads up to 10
    /// bytes of it; its admin routes read up to 20 (upload) or the default.
    fn limited_router() -> Router<Tokens> {
        fn size(_: &Tokens, request: &Request, _: &Params) -> Result<Response> {
            Ok(Response::ok(&request.body.len()))
        }
        fn signed(_: &Tokens, head: &Request, _: &Params) -> Result<usize> {
            head.header("x-signature")
                .map(|_| 10)
                .ok_or_else(|| Error::unauthorized("missing x-signature header"))
        }
        Router::new()
            .group(Group::open().admitted_by(signed).post("/webhook", size))
            .group(
                Group::bearer(|t: &Tokens| &t.admin)
                    .get("/admin", size)
                    .within(20)
                    .post("/admin/upload", size),
            )
    }

    /// What a streamed request answers, and the limit its body was read within (if it was read).
    fn streamed(request: Request, body_len: usize) -> (u16, Option<usize>) {
        let mut read_within = None;
        let response = limited_router().handle_streamed(&tokens(), request, |limit| {
            read_within = Some(limit);
            if body_len > limit {
                return Err(payload_too_large(limit));
            }
            Ok(vec![b'x'; body_len])
        });
        (response.status, read_within)
    }

    #[test]
    fn the_head_is_answered_before_any_body_is_read_and_bodies_are_read_within_the_route_limit() {
        let admin = |path: &str| {
            Request::new(Method::POST, path).with_header("authorization", "Bearer admin-secret")
        };
        let webhook = || Request::new(Method::POST, "/webhook").with_header("x-signature", "s");
        // No credential, no route: the body is never read.
        assert_eq!(
            streamed(Request::new(Method::POST, "/admin/upload"), 1 << 30),
            (401, None)
        );
        assert_eq!(
            streamed(Request::new(Method::POST, "/webhook"), 1 << 30),
            (401, None)
        );
        assert_eq!(
            streamed(Request::new(Method::POST, "/nowhere"), 1 << 30),
            (404, None)
        );
        // A declared length over the limit: refused without reading.
        let declared = admin("/admin/upload").with_header("content-length", "21");
        assert_eq!(streamed(declared, 21), (413, None));
        let declared = webhook().with_header("content-length", "314572800");
        assert_eq!(streamed(declared, 300 << 20), (413, None));
        let nonsense = webhook().with_header("content-length", "lots");
        assert_eq!(streamed(nonsense, 1), (400, None));
        // Read within each route's own limit.
        assert_eq!(streamed(admin("/admin/upload"), 20), (200, Some(20)));
        assert_eq!(streamed(admin("/admin/upload"), 21), (413, Some(20)));
        assert_eq!(streamed(webhook(), 10), (200, Some(10)));
        assert_eq!(streamed(webhook(), 11), (413, Some(10)));
        let get =
            Request::new(Method::GET, "/admin").with_header("authorization", "Bearer admin-secret");
        assert_eq!(streamed(get, 0), (200, Some(DEFAULT_BODY_LIMIT)));
    }

    #[test]
    fn a_body_already_in_memory_is_held_to_the_same_limits() {
        let router = limited_router();
        let upload = |len: usize| {
            Request::new(Method::POST, "/admin/upload")
                .with_header("authorization", "Bearer admin-secret")
                .with_body(vec![b'x'; len])
        };
        assert_eq!(router.handle(&tokens(), &upload(20)).status, 200);
        let response = router.handle(&tokens(), &upload(21));
        assert_eq!(response.status, 413);
        assert_eq!(body(&response)["error"]["code"], "payload_too_large");
        let unsigned = Request::new(Method::POST, "/webhook").with_body(vec![b'x'; 11]);
        assert_eq!(router.handle(&tokens(), &unsigned).status, 401);
    }

    #[test]
    fn guarded_routes_answer_404_and_405_before_asking_for_a_token() {
        assert_eq!(call(Method::GET, "/admin", None).status, 404);
        assert_405_allowing(&call(Method::PUT, "/admin/1", None), "GET, DELETE");
    }

    #[test]
    fn the_table_lists_every_route_with_its_pattern_and_guard() {
        let table = guarded_router().table();
        let rows: Vec<(&str, &str, bool)> = table
            .iter()
            .map(|r| (r.method.as_str(), r.pattern, r.open))
            .collect();
        assert_eq!(
            rows,
            [
                ("POST", "/tick", false),
                ("GET", "/admin/:id", false),
                ("DELETE", "/admin/:id", false),
                ("POST", "/webhook", true),
            ]
        );
    }

    #[test]
    fn a_500_hides_its_cause_and_other_errors_keep_their_message() {
        fn failing(_: &(), _: &Request, params: &Params) -> Result<Response> {
            match params.get("kind") {
                "store" => Err(Error::internal("key-value store: disk full at 'sub:42'")),
                _ => Err(Error::unavailable(
                    "telegram_unavailable",
                    "set variable 'telegram_bots'",
                )),
            }
        }
        let router = Router::new().group(Group::open().route(Method::GET, "/fail/:kind", failing));
        let response = router.handle(&(), &Request::new(Method::GET, "/fail/store"));
        assert_eq!(response.status, 500);
        assert_eq!(
            body(&response),
            serde_json::json!({"error": {"code": "internal", "message": INTERNAL_ERROR_MESSAGE}})
        );
        let response = router.handle(&(), &Request::new(Method::GET, "/fail/config"));
        assert_eq!(response.status, 503);
        assert_eq!(body(&response)["error"]["code"], "telegram_unavailable");
        assert_eq!(
            body(&response)["error"]["message"],
            "set variable 'telegram_bots'"
        );
    }

    fn body(response: &Response) -> serde_json::Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    #[test]
    fn routes_capture_params() {
        let response = router().handle(&(), &Request::new(Method::GET, "/api/v1/things/a%20b"));
        assert_eq!(response.status, 200);
        assert_eq!(body(&response)["id"], "a b");
    }

    #[test]
    fn unknown_path_is_404_and_wrong_method_is_405_with_allow() {
        let response = router().handle(&(), &Request::new(Method::GET, "/api/v1/nothing"));
        assert_eq!(response.status, 404);
        assert_eq!(body(&response)["error"]["code"], "not_found");
        let response = router().handle(&(), &Request::new(Method::POST, "/api/v1/things/x"));
        assert_405_allowing(&response, "GET, DELETE");
    }

    fn assert_405_allowing(response: &Response, allow: &str) {
        assert_eq!(response.status, 405);
        assert_eq!(body(response)["error"]["code"], "method_not_allowed");
        assert!(response.headers.contains(&("allow".into(), allow.into())));
    }

    #[test]
    fn bearer_is_required_and_compared() {
        let secret = Secret::new("s3cret");
        let ok = Request::new(Method::GET, "/").with_header("Authorization", "Bearer s3cret");
        assert!(require_bearer(&ok, &secret).is_ok());
        for scheme in ["bearer", "BEARER", "BeArEr"] {
            let any_case = Request::new(Method::GET, "/")
                .with_header("Authorization", &format!("{scheme} s3cret"));
            assert!(require_bearer(&any_case, &secret).is_ok(), "{scheme}");
        }
        let basic = Request::new(Method::GET, "/").with_header("Authorization", "Basic s3cret");
        assert_eq!(require_bearer(&basic, &secret).unwrap_err().status(), 401);
        let wrong = Request::new(Method::GET, "/").with_header("Authorization", "Bearer nope");
        let err = require_bearer(&wrong, &secret).unwrap_err();
        assert_eq!(err.status(), 401);
        assert!(!err.message().contains("nope"));
        assert_eq!(
            require_bearer(&Request::new(Method::GET, "/"), &secret)
                .unwrap_err()
                .status(),
            401
        );
    }

    #[test]
    fn json_body_errors_say_what_to_fix() {
        let request = Request::new(Method::POST, "/").with_body("{\"a\": ");
        let err = request.json::<serde_json::Value>().unwrap_err();
        assert_eq!(err.code(), "invalid_json");
        assert!(err.message().contains("line 1"), "{}", err.message());
        let big = Request::new(Method::POST, "/").with_body(vec![b' '; DEFAULT_BODY_LIMIT + 1]);
        assert_eq!(big.json::<serde_json::Value>().unwrap_err().status(), 413);
        assert_eq!(
            Request::new(Method::POST, "/")
                .json::<serde_json::Value>()
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn query_strings_are_decoded() {
        let request = Request::new(Method::GET, "/x?tag=vip%21&status=subscribed&q=a+b");
        assert_eq!(request.query_param("tag").as_deref(), Some("vip!"));
        assert_eq!(request.query_param("q").as_deref(), Some("a b"));
        assert_eq!(request.query_param("none"), None);
    }
}
