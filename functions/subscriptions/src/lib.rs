//! The subscriptions component: platform webhooks (verify, record consent, hand feedback on) and the
//! subscriber API (list, read, edit, import, erase).

use serde_json::json;
use spin_adapter::{Ports, SpinHttp};
use spinpost::clock::Clock;
use spinpost::directory::{self, ListFilter, SubscriberPatch};
use spinpost::erasure;
use spinpost::ingress;
use spinpost::paging;
use spinpost::platform::telegram::{webhook as telegram, Bots};
use spinpost::platform::whatsapp::{webhook as whatsapp, WhatsAppConfig};
use spinpost::subscriber::{Channel, SubscriberId, Tag};
use spinpost::web::{self, Group, Params, Router, DEFAULT_BODY_LIMIT, MAX_BODY_LIMIT};
use spinpost::Result;

/// What the handlers reach the world through: only the ports every component shares.
pub type Context = Ports;

/// The route table.
pub fn routes() -> Router<Context> {
    Router::new()
        // Webhooks authenticate with their platform's own rules (secret token, signature).
        .group(
            Group::open()
                .post("/webhooks/telegram/:bot", telegram_webhook)
                .get("/webhooks/whatsapp", whatsapp_verification)
                .post("/webhooks/whatsapp", whatsapp_webhook),
        )
        .group(
            Group::bearer(Ports::admin_token)
                .get("/api/v1/subscribers", list_subscribers)
                .post("/api/v1/subscribers/import", import_subscribers)
                .get("/api/v1/subscribers/:id", get_subscriber)
                .patch("/api/v1/subscribers/:id", patch_subscriber)
                .delete("/api/v1/subscribers/:id", erase_subscriber),
        )
}

spin_adapter::export_component!(Ports::from_spin, routes());

fn telegram_webhook(ctx: &Context, req: &web::Request, params: &Params) -> Result<web::Response> {
    let bots = Bots::parse(&spin_adapter::variable("telegram_bots"))?;
    // An unknown bot answers like a wrong secret, so outsiders cannot probe which bots exist.
    let bot = bots.get(params.get("bot")).map_err(|_| {
        spinpost::Error::unauthorized(
            "the X-Telegram-Bot-Api-Secret-Token header does not match this bot's webhook secret",
        )
    })?;
    // Authenticate before reading anything else of the request.
    telegram::authenticate(req, bot)?;
    req.check_body_limit(DEFAULT_BODY_LIMIT)?;
    let now = ctx.clock.now();
    let received = ingress::receive(
        &ctx.store,
        &SpinHttp,
        vec![telegram::parse_update(bot, &req.body, now)?],
        now,
    )?;
    Ok(web::Response::ok(&received))
}

fn whatsapp_config() -> Result<WhatsAppConfig> {
    WhatsAppConfig::new(
        &spin_adapter::variable("whatsapp_phone_number_id"),
        spinpost::secret::Secret::default(),
        spin_adapter::secret("whatsapp_app_secret"),
        spin_adapter::secret("whatsapp_verify_token"),
        &spin_adapter::variable("whatsapp_optin_keywords"),
    )
}

fn whatsapp_verification(_: &Context, req: &web::Request, _: &Params) -> Result<web::Response> {
    let challenge = whatsapp::verify_subscription(req, &whatsapp_config()?)?;
    Ok(web::Response::with_content(200, "text/plain", challenge))
}

/// Meta batches many messages and statuses into one notification.
fn whatsapp_webhook(ctx: &Context, req: &web::Request, _: &Params) -> Result<web::Response> {
    let config = whatsapp_config()?;
    req.check_body_limit(WHATSAPP_BODY_LIMIT)?;
    // The signature is checked over the raw body before anything is parsed.
    whatsapp::authenticate(req, &config)?;
    let now = ctx.clock.now();
    let received = ingress::receive(
        &ctx.store,
        &SpinHttp,
        whatsapp::parse_notification(&config, &req.body, now)?,
        now,
    )?;
    Ok(web::Response::ok(&received))
}

/// Meta batches statuses; a notification stays well under this.
const WHATSAPP_BODY_LIMIT: usize = 1024 * 1024;

fn list_subscribers(ctx: &Context, req: &web::Request, _: &Params) -> Result<web::Response> {
    let filter = ListFilter {
        channel: req
            .query_param("channel")
            .map(|c| Channel::parse(&c))
            .transpose()?,
        status: req.query_param("status").map(|s| s.parse()).transpose()?,
        tag: req.query_param("tag").map(|t| Tag::parse(&t)).transpose()?,
    };
    let cursor = paging::parse_cursor(req.query_param("cursor").as_deref())?;
    let limit = paging::parse_limit(req.query_param("limit").as_deref())?;
    Ok(web::Response::ok(&directory::list(
        &ctx.store, &filter, cursor, limit,
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
    req.check_body_limit(MAX_BODY_LIMIT)?;
    let body = std::str::from_utf8(&req.body).map_err(|_| {
        spinpost::Error::invalid("invalid_encoding", "the import must be UTF-8 JSON lines")
    })?;
    Ok(web::Response::ok(&directory::import(
        &ctx.store,
        body,
        ctx.clock.now(),
    )?))
}
