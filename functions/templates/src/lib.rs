//! The templates component: its route table over the core's [`spinpost::template`] store functions.
//! Every route requires `Authorization: Bearer <admin_token>`.

use spin_adapter::{Ports, SpinStore};
#[cfg(target_arch = "wasm32")]
use spin_sdk::http::{Request, Response};
#[cfg(target_arch = "wasm32")]
use spin_sdk::http_component;
use spinpost::clock::{Clock, SystemClock};
use spinpost::kv::KvStore;
use spinpost::paging;
use spinpost::template::{self, NewTemplate, PreviewRequest, TemplateUpdate};
use spinpost::web::{self, Group, Method, Params, Router};
use spinpost::{Error, Result};

/// What the handlers reach the world through: only the ports every component shares.
pub type Context<S = SpinStore, C = SystemClock> = Ports<S, C>;

/// The route table: every route is an admin route.
pub fn routes<S: KvStore, C: Clock>() -> Router<Context<S, C>> {
    Router::new().group(
        Group::bearer(Ports::admin_token)
            .route(Method::POST, "/api/v1/templates", create)
            .route(Method::GET, "/api/v1/templates", list)
            .route(Method::GET, "/api/v1/templates/:id", get)
            .route(Method::PUT, "/api/v1/templates/:id", update)
            .route(
                Method::GET,
                "/api/v1/templates/:id/versions/:version",
                get_version,
            )
            .route(Method::POST, "/api/v1/templates/:id/preview", preview),
    )
}

/// `POST /api/v1/templates` → 201 with the head and version 1.
fn create<S: KvStore, C: Clock>(
    ctx: &Context<S, C>,
    request: &web::Request,
    _: &Params,
) -> Result<web::Response> {
    let body: NewTemplate = request.json()?;
    let created = template::create_template(&ctx.store, body, ctx.clock.now())?;
    Ok(web::Response::json(201, &created).with_header(
        "location",
        &format!("/api/v1/templates/{}", created.head.id),
    ))
}

/// `GET /api/v1/templates?cursor=&limit=` → `{"items": [...], "next_cursor": "..."}`.
fn list<S: KvStore, C: Clock>(
    ctx: &Context<S, C>,
    request: &web::Request,
    _: &Params,
) -> Result<web::Response> {
    let cursor = paging::parse_cursor(request.query_param("cursor").as_deref())?;
    let limit = paging::parse_limit(request.query_param("limit").as_deref())?;
    let page = template::list_templates(&ctx.store, cursor, limit)?;
    Ok(web::Response::ok(&page))
}

/// `GET /api/v1/templates/:id` → the head and the latest version.
fn get<S: KvStore, C: Clock>(
    ctx: &Context<S, C>,
    _: &web::Request,
    params: &Params,
) -> Result<web::Response> {
    Ok(web::Response::ok(&template::load_latest(
        &ctx.store,
        params.get("id"),
    )?))
}

/// `PUT /api/v1/templates/:id` → 200 with the head and the new version.
fn update<S: KvStore, C: Clock>(
    ctx: &Context<S, C>,
    request: &web::Request,
    params: &Params,
) -> Result<web::Response> {
    let body: TemplateUpdate = request.json()?;
    Ok(web::Response::ok(&template::update_template(
        &ctx.store,
        params.get("id"),
        body,
        ctx.clock.now(),
    )?))
}

/// `GET /api/v1/templates/:id/versions/:version` → that version.
fn get_version<S: KvStore, C: Clock>(
    ctx: &Context<S, C>,
    _: &web::Request,
    params: &Params,
) -> Result<web::Response> {
    let number: u32 = params.get("version").parse().map_err(|_| {
        Error::invalid(
            "invalid_version",
            format!(
                "version '{}' is not a version number like 1",
                params.get("version")
            ),
        )
    })?;
    Ok(web::Response::ok(&template::load_version(
        &ctx.store,
        params.get("id"),
        Some(number),
    )?))
}

/// `POST /api/v1/templates/:id/preview` → the rendered message with `template_id`, `version`,
/// `platform` and `locale`. An empty body previews the latest version with sample data on Telegram.
fn preview<S: KvStore, C: Clock>(
    ctx: &Context<S, C>,
    request: &web::Request,
    params: &Params,
) -> Result<web::Response> {
    let body: PreviewRequest = if request.body.iter().all(u8::is_ascii_whitespace) {
        PreviewRequest::default()
    } else {
        request.json()?
    };
    Ok(web::Response::ok(&template::preview(
        &ctx.store,
        params.get("id"),
        body,
        ctx.clock.now(),
    )?))
}

#[cfg(target_arch = "wasm32")]
#[http_component]
fn handle(request: Request) -> Response {
    spin_adapter::serve(request, Ports::from_spin, &routes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use spinpost::clock::ManualClock;
    use spinpost::kv::MemoryStore;
    use spinpost::secret::Secret;

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
        let mut request =
            web::Request::new(method, path).with_header("authorization", "Bearer admin");
        if !body.is_null() {
            request = request.with_body(body.to_string());
        }
        let response = routes().handle(ctx, &request);
        (
            response.status,
            serde_json::from_slice(&response.body).unwrap_or_default(),
        )
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
        let (status, body) = call(
            &ctx,
            Method::GET,
            "/api/v1/templates/welcome/versions/1",
            serde_json::Value::Null,
        );
        assert_eq!(
            (status, body["locales"]["en"]["text"].as_str()),
            (200, Some("Hi {{ subscriber.first_name }}"))
        );
        let (_, body) = call(
            &ctx,
            Method::GET,
            "/api/v1/templates/welcome",
            serde_json::Value::Null,
        );
        assert_eq!(body["version"]["version"], 2);
        let (_, body) = call(
            &ctx,
            Method::GET,
            "/api/v1/templates?limit=10",
            serde_json::Value::Null,
        );
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
    fn errors_are_json_with_the_right_status() {
        let ctx = context();
        assert_eq!(
            call(
                &ctx,
                Method::GET,
                "/api/v1/templates/nope",
                serde_json::Value::Null
            )
            .0,
            404
        );
        assert_eq!(
            call(
                &ctx,
                Method::GET,
                "/api/v1/templates/nope/versions/x",
                serde_json::Value::Null
            )
            .0,
            400
        );
        let looping = serde_json::json!({ "name": "Loop", "locales": { "en": { "text": "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}" } } });
        let (status, body) = call(&ctx, Method::POST, "/api/v1/templates", looping);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("template_out_of_fuel"))
        );
        let unauthenticated =
            routes().handle(&ctx, &web::Request::new(Method::GET, "/api/v1/templates"));
        assert_eq!(unauthenticated.status, 401);
    }
}
