//! The subscriptions component: platform webhooks (verify, record consent, hand feedback on) and the
//! subscriber API (list, read, edit, import, erase, signed links that tie a chat to a customer id).

use serde_json::json;
use spin_adapter::{FeedbackService, Ports, SpinHttp};
use spinpost::automation;
use spinpost::clock::Clock;
use spinpost::directory::{self, ExternalId, ListFilter, SearchRequest, SubscriberPatch};
use spinpost::erasure;
use spinpost::ingress;
use spinpost::link::{self, LinkKey, LinkRequest};
use spinpost::paging;
use spinpost::platform::{Platforms, Webhook, WEBHOOK_PATHS};
use spinpost::subscriber::{Channel, SubscriberId, Tag};
use spinpost::web::{self, Group, Params, Router, MAX_BODY_LIMIT};
use spinpost::welcome;
use spinpost::Result;

/// What the handlers reach the world through: only the ports every component shares.
pub type Context = Ports;

/// The route table.
pub fn routes() -> Router<Context> {
    Router::new()
        // Webhooks authenticate with their platform's own rules (secret token, signature); a delivery
        // is admitted on its headers, and within its platform's limit, before its body is read.
        .group(
            Group::open()
                .get(WEBHOOK_PATHS[0], handshake)
                .get(WEBHOOK_PATHS[1], handshake)
                .admitted_by(admit_webhook)
                .post(WEBHOOK_PATHS[0], receive_webhook)
                .post(WEBHOOK_PATHS[1], receive_webhook),
        )
        .group(
            Group::bearer(Ports::admin_token)
                .get("/api/v1/subscribers", list_subscribers)
                .post("/api/v1/subscribers/search", search_subscribers)
                .within(MAX_BODY_LIMIT)
                .post("/api/v1/subscribers/import", import_subscribers)
                .within(web::DEFAULT_BODY_LIMIT)
                .post("/api/v1/subscribers/links", create_link)
                .get("/api/v1/subscribers/:id", get_subscriber)
                .patch("/api/v1/subscribers/:id", patch_subscriber)
                .delete("/api/v1/subscribers/:id", erase_subscriber),
        )
}

spin_adapter::export_component!(Ports::from_spin, routes());

/// `GET /webhooks/<platform>[/<account>]`: the platform's verification handshake, if it has one.
fn handshake(_: &Context, req: &web::Request, params: &Params) -> Result<web::Response> {
    Platforms::from_variables(spin_adapter::variable).answer_handshake(
        params.get("platform"),
        &Webhook::new(req, params.get("account")),
    )
}

/// The head of `POST /webhooks/<platform>[/<account>]`: the platform's header checks and body limit.
fn admit_webhook(_: &Context, req: &web::Request, params: &Params) -> Result<usize> {
    Platforms::from_variables(spin_adapter::variable).admit_webhook(
        params.get("platform"),
        &Webhook::new(req, params.get("account")),
    )
}

/// `POST /webhooks/<platform>[/<account>]`: a delivery authenticated and parsed by its platform's
/// rules, then received; a conversation opened is answered with the platform's welcome. A new
/// subscription and a subscribed person's text are handed to the rules (the welcome, the keyword
/// replies), which queue their messages for dispatch's tick.
fn receive_webhook(ctx: &Context, req: &web::Request, params: &Params) -> Result<web::Response> {
    let now = ctx.clock.now();
    let platforms = Platforms::from_variables(spin_adapter::variable);
    let inbounds = platforms.receive_webhook(
        params.get("platform"),
        &Webhook::new(req, params.get("account")),
        now,
    )?;
    // A person who opened a conversation is answered with the welcome (or nothing), in the
    // platform's shape.
    let welcome = welcome::answer_opened(&ctx.store, &platforms, &inbounds, now)?;
    let received = ingress::receive(
        &ctx.store,
        &FeedbackService(SpinHttp),
        &link_key(),
        inbounds,
        now,
    )?;
    automation::hand_to_rules(&ctx.store, &received.triggers, now)?;
    Ok(welcome.unwrap_or_else(|| web::Response::ok(&received)))
}

/// The key that signs and verifies links (`link_signing_key`; empty: no links).
fn link_key() -> LinkKey {
    LinkKey::new(spin_adapter::secret("link_signing_key"))
}

/// `POST /api/v1/subscribers/links`: a signed, expiring link that ties the chat it opens to a customer id.
fn create_link(ctx: &Context, req: &web::Request, _: &Params) -> Result<web::Response> {
    let request: LinkRequest = req.json()?;
    let platforms = Platforms::from_variables(spin_adapter::variable);
    let issued = link::issue(
        &ctx.store,
        &link_key(),
        &request,
        ctx.clock.now(),
        |channel, code| platforms.deep_link(channel, code),
    )?;
    Ok(web::Response::json(201, &issued))
}

fn list_subscribers(ctx: &Context, req: &web::Request, _: &Params) -> Result<web::Response> {
    let filter = ListFilter {
        channel: req
            .query_param("channel")
            .map(|c| Channel::parse(&c))
            .transpose()?,
        status: req.query_param("status").map(|s| s.parse()).transpose()?,
        tag: req.query_param("tag").map(|t| Tag::parse(&t)).transpose()?,
        external_id: req
            .query_param("external_id")
            .map(|e| ExternalId::parse(&e))
            .transpose()?,
        ..ListFilter::default()
    };
    list_page(ctx, req, &filter)
}

/// `POST /api/v1/subscribers/search`: the audience filter language over subscribers, a page at a time.
fn search_subscribers(ctx: &Context, req: &web::Request, _: &Params) -> Result<web::Response> {
    let search: SearchRequest = req.json()?;
    list_page(ctx, req, &search.into_filter()?)
}

/// The page of `filter` the query's `cursor` and `limit` ask for.
fn list_page(ctx: &Context, req: &web::Request, filter: &ListFilter) -> Result<web::Response> {
    let cursor = paging::parse_cursor(req.query_param("cursor").as_deref())?;
    let limit = paging::parse_limit(req.query_param("limit").as_deref())?;
    Ok(web::Response::ok(&directory::list(
        &ctx.store,
        filter,
        ctx.clock.now(),
        cursor,
        limit,
    )?))
}

fn get_subscriber(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    let id = SubscriberId::parse(params.get("id"))?;
    Ok(web::Response::ok(&directory::get(&ctx.store, &id)?))
}

fn patch_subscriber(ctx: &Context, req: &web::Request, params: &Params) -> Result<web::Response> {
    let id = SubscriberId::parse(params.get("id"))?;
    let patch: SubscriberPatch = req.json()?;
    Ok(web::Response::ok(&directory::patch(
        &ctx.store,
        &id,
        &patch,
        ctx.clock.now(),
    )?))
}

fn erase_subscriber(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    let id = SubscriberId::parse(params.get("id"))?;
    erasure::erase_subscriber(&ctx.store, &id, ctx.clock.now())?;
    Ok(web::Response::ok(
        &json!({ "erased": id, "suppressed": true }),
    ))
}

fn import_subscribers(ctx: &Context, req: &web::Request, _: &Params) -> Result<web::Response> {
    let body = std::str::from_utf8(&req.body).map_err(|_| {
        spinpost::Error::invalid("invalid_encoding", "the import must be UTF-8 JSON lines")
    })?;
    let platforms = Platforms::from_variables(spin_adapter::variable);
    directory::require_configured_channels(body, |channel| platforms.require_configured(channel))?;
    Ok(web::Response::ok(&directory::import(
        &ctx.store,
        body,
        ctx.clock.now(),
    )?))
}
