//! The templates component: its route table over the core's [`spinpost::template`] store functions
//! (and [`spinpost::deletion`] for deleting a template no active campaign uses).
//! Every template route requires `Authorization: Bearer <admin_token>`; the API's OpenAPI document is
//! served here too, to anyone.

use std::marker::PhantomData;

use spin_adapter::{Ports, SpinStore};
use spinpost::clock::{Clock, SystemClock};
use spinpost::deletion;
use spinpost::kv::KvStore;
use spinpost::paging;
use spinpost::template::{self, NewTemplate, PreviewRequest, TemplateUpdate};
use spinpost::web::{Group, Params, Request, Response, Router};
use spinpost::{Error, Result};

/// What the handlers reach the world through: only the ports every component shares.
pub type Context<S = SpinStore, C = SystemClock> = Ports<S, C>;

/// The OpenAPI 3.1 document of every `/api/v1` route (`openapi/openapi.json`; a test keeps it in step
/// with the route tables of all four components).
pub const OPENAPI_DOCUMENT: &str = include_str!("../../../openapi/openapi.json");

/// The route table: the contract is open, every template route is an admin route.
pub fn routes<S: KvStore, C: Clock>() -> Router<Context<S, C>> {
    Router::new()
        .group(Group::open().get("/api/v1/openapi.json", Handlers::openapi_document))
        .group(
            Group::bearer(Ports::admin_token)
                .post("/api/v1/templates", Handlers::create)
                .get("/api/v1/templates", Handlers::list)
                .get("/api/v1/templates/:id", Handlers::get)
                .put("/api/v1/templates/:id", Handlers::update)
                .delete("/api/v1/templates/:id", Handlers::delete)
                .get(
                    "/api/v1/templates/:id/versions/:version",
                    Handlers::get_version,
                )
                .post("/api/v1/templates/:id/preview", Handlers::preview),
        )
}

/// The handlers, generic over the store and clock once (tests use the memory store and a manual clock).
struct Handlers<S, C>(PhantomData<(S, C)>);

impl<S: KvStore, C: Clock> Handlers<S, C> {
    /// `GET /api/v1/openapi.json` → the API's contract, no token needed.
    fn openapi_document(_: &Context<S, C>, _: &Request, _: &Params) -> Result<Response> {
        Ok(Response::with_content(
            200,
            "application/json",
            OPENAPI_DOCUMENT,
        ))
    }

    /// `POST /api/v1/templates` → 201 with the head and version 1.
    fn create(ctx: &Context<S, C>, request: &Request, _: &Params) -> Result<Response> {
        let body: NewTemplate = request.json()?;
        let created = template::create_template(&ctx.store, body, ctx.clock.now())?;
        let location = format!("/api/v1/templates/{}", created.head.id);
        Ok(Response::json(201, &created).with_header("location", &location))
    }

    /// `GET /api/v1/templates?cursor=&limit=` → `{"items": [...], "next_cursor": "..."}`.
    fn list(ctx: &Context<S, C>, request: &Request, _: &Params) -> Result<Response> {
        let cursor = paging::parse_cursor(request.query_param("cursor").as_deref())?;
        let limit = paging::parse_limit(request.query_param("limit").as_deref())?;
        let page = template::list_templates(&ctx.store, cursor, limit)?;
        Ok(Response::ok(&page))
    }

    /// `GET /api/v1/templates/:id` → the head and the latest version.
    fn get(ctx: &Context<S, C>, _: &Request, params: &Params) -> Result<Response> {
        let latest = template::load_latest(&ctx.store, params.get("id"))?;
        Ok(Response::ok(&latest))
    }

    /// `PUT /api/v1/templates/:id` → 200 with the head and the new version.
    fn update(ctx: &Context<S, C>, request: &Request, params: &Params) -> Result<Response> {
        let body: TemplateUpdate = request.json()?;
        let now = ctx.clock.now();
        let updated = template::update_template(&ctx.store, params.get("id"), body, now)?;
        Ok(Response::ok(&updated))
    }

    /// `DELETE /api/v1/templates/:id` → 200 with the id and how many versions went; 409
    /// `template_in_use` while a scheduled, running or paused campaign renders it.
    fn delete(ctx: &Context<S, C>, _: &Request, params: &Params) -> Result<Response> {
        let deleted = deletion::delete_template(&ctx.store, params.get("id"))?;
        Ok(Response::ok(&deleted))
    }

    /// `GET /api/v1/templates/:id/versions/:version` → that version.
    fn get_version(ctx: &Context<S, C>, _: &Request, params: &Params) -> Result<Response> {
        let number: u32 = params.get("version").parse().map_err(|_| {
            Error::invalid(
                "invalid_version",
                format!(
                    "version '{}' is not a version number like 1",
                    params.get("version")
                ),
            )
        })?;
        let version = template::load_version(&ctx.store, params.get("id"), Some(number))?;
        Ok(Response::ok(&version))
    }

    /// `POST /api/v1/templates/:id/preview` → the rendered message with `template_id`, `version`,
    /// `platform` and `locale`. An empty body previews the latest version with sample data on Telegram.
    fn preview(ctx: &Context<S, C>, request: &Request, params: &Params) -> Result<Response> {
        let body: PreviewRequest = if request.body.iter().all(u8::is_ascii_whitespace) {
            PreviewRequest::default()
        } else {
            request.json()?
        };
        let now = ctx.clock.now();
        let preview = template::preview(&ctx.store, params.get("id"), body, now)?;
        Ok(Response::ok(&preview))
    }
}

spin_adapter::export_component!(Ports::from_spin, routes());

#[cfg(test)]
mod tests {
    use super::*;
    use spinpost::clock::ManualClock;
    use spinpost::kv::MemoryStore;
    use spinpost::secret::Secret;
    use spinpost::web::Method;

    fn context() -> Context<MemoryStore, ManualClock> {
        let start = "2026-03-01T12:00:00Z".parse().unwrap_or_default();
        Context::new(
            MemoryStore::new(),
            ManualClock::new(start),
            Secret::new("admin"),
        )
    }

    fn call(
        ctx: &Context<MemoryStore, ManualClock>,
        method: Method,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut request = Request::new(method, path).with_header("authorization", "Bearer admin");
        if !body.is_null() {
            request = request.with_body(body.to_string());
        }
        let response = routes().handle(ctx, &request);
        (
            response.status,
            serde_json::from_slice(&response.body).unwrap_or_default(),
        )
    }

    fn get(ctx: &Context<MemoryStore, ManualClock>, path: &str) -> (u16, serde_json::Value) {
        call(ctx, Method::GET, path, serde_json::Value::Null)
    }

    #[test]
    fn templates_are_created_versioned_listed_and_previewed_over_http() {
        let ctx = context();
        let create = serde_json::json!({ "name": "Welcome", "locales": { "en": { "text": "Hi {{ subscriber.first_name }}" } } });
        let (status, body) = call(&ctx, Method::POST, "/api/v1/templates", create.clone());
        assert_eq!(
            (
                status,
                body["id"].as_str(),
                body["version"]["version"].as_u64()
            ),
            (201, Some("welcome"), Some(1))
        );
        assert_eq!(call(&ctx, Method::POST, "/api/v1/templates", create).0, 409);

        let change = serde_json::json!({ "locales": { "en": { "text": "Hello {{ subscriber.first_name }}" } } });
        let (status, body) = call(&ctx, Method::PUT, "/api/v1/templates/welcome", change);
        assert_eq!((status, body["latest_version"].as_u64()), (200, Some(2)));
        let (status, body) = get(&ctx, "/api/v1/templates/welcome/versions/1");
        assert_eq!(
            (status, body["locales"]["en"]["text"].as_str()),
            (200, Some("Hi {{ subscriber.first_name }}"))
        );
        let (_, body) = get(&ctx, "/api/v1/templates/welcome");
        assert_eq!(body["version"]["version"], 2);
        let (_, body) = get(&ctx, "/api/v1/templates?limit=10");
        assert_eq!(body["items"][0]["id"], "welcome");

        let sample = serde_json::json!({ "version": 1, "sample": { "subscriber": { "first_name": "<Ada>" } } });
        let (status, body) = call(
            &ctx,
            Method::POST,
            "/api/v1/templates/welcome/preview",
            sample,
        );
        assert_eq!(
            (status, body["text"].as_str()),
            (200, Some("Hi &lt;Ada&gt;"))
        );
        let (status, body) = call(
            &ctx,
            Method::POST,
            "/api/v1/templates/welcome/preview",
            serde_json::Value::Null,
        );
        assert_eq!((status, body["text"].as_str()), (200, Some("Hello Ada")));
    }

    #[test]
    fn a_template_is_deleted_over_http_with_every_version() {
        let ctx = context();
        let create =
            serde_json::json!({ "name": "Welcome", "locales": { "en": { "text": "Hi" } } });
        assert_eq!(call(&ctx, Method::POST, "/api/v1/templates", create).0, 201);
        let (status, body) = call(
            &ctx,
            Method::DELETE,
            "/api/v1/templates/welcome",
            serde_json::Value::Null,
        );
        assert_eq!(
            (status, body),
            (
                200,
                serde_json::json!({"deleted": "welcome", "versions": 1})
            )
        );
        assert_eq!(get(&ctx, "/api/v1/templates/welcome").0, 404);
        assert_eq!(get(&ctx, "/api/v1/templates/welcome/versions/1").0, 404);
        let again = call(
            &ctx,
            Method::DELETE,
            "/api/v1/templates/welcome",
            serde_json::Value::Null,
        );
        assert_eq!(again.0, 404);
    }

    #[test]
    fn the_openapi_document_is_served_without_a_token() {
        let ctx = context();
        let response = routes().handle(&ctx, &Request::new(Method::GET, "/api/v1/openapi.json"));
        assert_eq!(response.status, 200);
        let document: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(document["info"]["title"], "Spinpost API");
    }

    #[test]
    fn errors_are_json_with_the_right_status() {
        let ctx = context();
        assert_eq!(get(&ctx, "/api/v1/templates/nope").0, 404);
        assert_eq!(get(&ctx, "/api/v1/templates/nope/versions/x").0, 400);
        let looping = serde_json::json!({ "name": "Loop", "locales": { "en": { "text": "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}" } } });
        let (status, body) = call(&ctx, Method::POST, "/api/v1/templates", looping);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("template_out_of_fuel"))
        );
        let unauthenticated =
            routes().handle(&ctx, &Request::new(Method::GET, "/api/v1/templates"));
        assert_eq!(unauthenticated.status, 401);
    }
}
