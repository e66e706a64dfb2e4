//! The dispatch component: the campaign API (create, list, read, edit, delete, schedule, pause, resume,
//! cancel, progress, ledger) and the scheduler's tick route, which sends due batches within a time budget.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use spin_adapter::{Ports, SpinHttp, SpinStore};
use spinpost::automation::{self, EventAnswer, EventsRequest, NewRule, Rule};
use spinpost::campaign::{
    self, Campaign, CampaignEdit, NewCampaign, QuietHours, ScheduleRequest, TemplateVersions,
};
use spinpost::clock::Clock;
use spinpost::deletion;
use spinpost::delivery::policy::QuietHoursRule;
use spinpost::delivery::scheduled;
use spinpost::delivery::Cancellation;
use spinpost::delivery::{
    self, EventContext, FrequencyCaps, MessageRenderer, PolicyChain, SenderConfig,
};
use spinpost::directory::{self, ExternalId};
use spinpost::feedback;
use spinpost::kv::KvStore;
use spinpost::message::RenderedMessage;
use spinpost::paging;
use spinpost::platform::Platforms;
use spinpost::secret::Secret;
use spinpost::subscriber::{Channel, Platform, Subscriber, SubscriberId};
use spinpost::template::{self, CampaignVars, EventVars, RenderInput, TemplateVersion};
use spinpost::web::{self, Group, Params, Router};
use spinpost::{Error, Result};

/// What the handlers reach the world through: the shared ports and the scheduler's token.
pub struct Context {
    ports: Ports,
    tick_token: Secret,
}

impl Context {
    // Natively (clippy, unit tests) there is no Spin host to export the handler to.
    #[cfg(target_arch = "wasm32")]
    fn from_spin() -> Result<Self> {
        Ok(Context {
            ports: Ports::from_spin()?,
            tick_token: spin_adapter::secret("tick_token"),
        })
    }

    fn admin_token(&self) -> &Secret {
        &self.ports.admin_token
    }

    fn tick_token(&self) -> &Secret {
        &self.tick_token
    }
}

/// The route table.
pub fn routes() -> Router<Context> {
    Router::new()
        .group(Group::bearer(Context::tick_token).post("/dispatch/tick", tick))
        .group(
            Group::bearer(Context::admin_token)
                .post("/api/v1/campaigns", create_campaign)
                .get("/api/v1/campaigns", list_campaigns)
                .get("/api/v1/campaigns/:id", get_campaign)
                .patch("/api/v1/campaigns/:id", edit_campaign)
                .delete("/api/v1/campaigns/:id", delete_campaign)
                .post("/api/v1/campaigns/:id/schedule", schedule_campaign)
                .post("/api/v1/campaigns/:id/pause", pause_campaign)
                .post("/api/v1/campaigns/:id/resume", resume_campaign)
                .post("/api/v1/campaigns/:id/cancel", cancel_campaign)
                .get("/api/v1/campaigns/:id/progress", campaign_progress)
                .get("/api/v1/campaigns/:id/runs", campaign_runs)
                .get("/api/v1/campaigns/:id/estimate", estimate_campaign)
                .post("/api/v1/campaigns/:id/estimate", estimate_campaign)
                .get("/api/v1/campaigns/:id/deliveries", campaign_deliveries)
                .post("/api/v1/rules", create_rule)
                .get("/api/v1/rules", list_rules)
                .get("/api/v1/rules/:id", get_rule)
                .put("/api/v1/rules/:id", replace_rule)
                .delete("/api/v1/rules/:id", delete_rule)
                .get("/api/v1/rules/:id/stats", rule_stats)
                .get("/api/v1/scheduled", list_scheduled)
                .get("/api/v1/scheduled/:id", get_scheduled)
                .delete("/api/v1/scheduled/:id", cancel_scheduled),
        )
        .group(
            Group::bearer(Context::admin_token)
                .within(automation::EVENTS_BODY_LIMIT)
                .post("/api/v1/events", receive_events),
        )
}

spin_adapter::export_component!(Context::from_spin, routes());

fn create_campaign(ctx: &Context, req: &web::Request, _: &Params) -> Result<web::Response> {
    let request: NewCampaign = req.json()?;
    require_configured(&Channel::parse(&request.channel)?)?;
    let store = &ctx.ports.store;
    Ok(web::Response::json(
        201,
        &campaign::create(
            store,
            &StoredTemplates { store },
            request,
            ctx.ports.clock.now(),
        )?,
    ))
}

fn list_campaigns(ctx: &Context, req: &web::Request, _: &Params) -> Result<web::Response> {
    let cursor = paging::parse_cursor(req.query_param("cursor").as_deref())?;
    let limit = paging::parse_limit(req.query_param("limit").as_deref())?;
    Ok(web::Response::ok(&campaign::list(
        &ctx.ports.store,
        cursor,
        limit,
    )?))
}

fn get_campaign(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    Ok(web::Response::ok(&campaign::get(
        &ctx.ports.store,
        params.get("id"),
    )?))
}

fn edit_campaign(ctx: &Context, req: &web::Request, params: &Params) -> Result<web::Response> {
    let edit: CampaignEdit = req.json()?;
    if let Some(channel) = edit.channel()? {
        require_configured(&channel)?;
    }
    let store = &ctx.ports.store;
    Ok(web::Response::ok(&campaign::edit(
        store,
        &StoredTemplates { store },
        params.get("id"),
        edit,
        ctx.ports.clock.now(),
    )?))
}

fn delete_campaign(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    at_now(ctx, params, deletion::delete_campaign)
}

fn schedule_campaign(ctx: &Context, req: &web::Request, params: &Params) -> Result<web::Response> {
    let request: ScheduleRequest = req.json()?;
    let store = &ctx.ports.store;
    let current = campaign::get(store, params.get("id"))?;
    require_configured(&current.channel)?;
    Ok(web::Response::ok(&campaign::schedule(
        store,
        &StoredTemplates { store },
        params.get("id"),
        &request,
        ctx.ports.clock.now(),
    )?))
}

fn pause_campaign(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    at_now(ctx, params, campaign::pause)
}

fn resume_campaign(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    at_now(ctx, params, campaign::resume)
}

fn cancel_campaign(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    at_now(ctx, params, campaign::cancel)
}

fn campaign_progress(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    at_now(ctx, params, delivery::progress)
}

fn campaign_runs(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    at_now(ctx, params, delivery::runs)
}

/// Answer what `action` makes of the campaign in the path at the context's current time.
fn at_now<T: Serialize>(
    ctx: &Context,
    params: &Params,
    action: fn(&SpinStore, &str, DateTime<Utc>) -> Result<T>,
) -> Result<web::Response> {
    let answer = action(&ctx.ports.store, params.get("id"), ctx.ports.clock.now())?;
    Ok(web::Response::ok(&answer))
}

fn campaign_deliveries(
    ctx: &Context,
    req: &web::Request,
    params: &Params,
) -> Result<web::Response> {
    let cursor = paging::parse_cursor(req.query_param("cursor").as_deref())?;
    Ok(web::Response::ok(&delivery::deliveries(
        &ctx.ports.store,
        params.get("id"),
        cursor,
    )?))
}

fn create_rule(ctx: &Context, req: &web::Request, _: &Params) -> Result<web::Response> {
    let request: NewRule = req.json()?;
    require_configured_all(&request.channels)?;
    let rule = automation::rules::create(&ctx.ports.store, request, ctx.ports.clock.now())?;
    Ok(web::Response::json(201, &rule))
}

fn list_rules(ctx: &Context, _: &web::Request, _: &Params) -> Result<web::Response> {
    let rules: Vec<Rule> = automation::rules::all(&ctx.ports.store)?
        .into_values()
        .collect();
    Ok(web::Response::ok(&json!({ "rules": rules })))
}

fn get_rule(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    Ok(web::Response::ok(&automation::rules::get(
        &ctx.ports.store,
        params.get("id"),
    )?))
}

fn replace_rule(ctx: &Context, req: &web::Request, params: &Params) -> Result<web::Response> {
    let request: NewRule = req.json()?;
    require_configured_all(&request.channels)?;
    Ok(web::Response::ok(&automation::rules::replace(
        &ctx.ports.store,
        params.get("id"),
        request,
        ctx.ports.clock.now(),
    )?))
}

fn delete_rule(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    automation::rules::delete(&ctx.ports.store, params.get("id"))?;
    Ok(web::Response::no_content())
}

/// A rule's statistics: those of the campaign-like id its messages are sent under.
fn rule_stats(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    let rule = automation::rules::get(&ctx.ports.store, params.get("id"))?;
    Ok(web::Response::ok(&feedback::campaign_stats(
        &ctx.ports.store,
        rule.stats_id.as_str(),
    )?))
}

/// `POST /api/v1/events`: one event, or `{"events": [...]}`.
fn receive_events(ctx: &Context, req: &web::Request, _: &Params) -> Result<web::Response> {
    let body: serde_json::Value = req.json_within(automation::EVENTS_BODY_LIMIT)?;
    let now = ctx.ports.clock.now();
    let store = &ctx.ports.store;
    Ok(match EventsRequest::parse(body)? {
        EventsRequest::One(event) => {
            let answers = automation::receive(store, vec![event], now)?;
            web::Response::ok(&answers[0])
        }
        EventsRequest::Batch(events) => web::Response::ok(&BatchAnswer {
            answers: automation::receive(store, events, now)?,
        }),
    })
}

/// The answer to a batch of events, each answer with its fields in their documented order.
#[derive(Serialize)]
struct BatchAnswer {
    answers: Vec<EventAnswer>,
}

/// `GET /api/v1/scheduled?subscriber_id=...` or `?external_id=...`: the messages not yet sent to a
/// subscriber, or to every subscriber of a customer.
fn list_scheduled(ctx: &Context, req: &web::Request, _: &Params) -> Result<web::Response> {
    let store = &ctx.ports.store;
    let subscribers = match (
        req.query_param("subscriber_id"),
        req.query_param("external_id"),
    ) {
        (Some(id), None) => vec![SubscriberId::parse(&id)?],
        (None, Some(id)) => directory::subscribers_of(store, &ExternalId::parse(&id)?)?,
        _ => {
            return Err(Error::invalid(
                "invalid_query",
                "give one of subscriber_id=<id> and external_id=<customer id>",
            ))
        }
    };
    let mut pending = Vec::new();
    for subscriber in &subscribers {
        pending.extend(scheduled::pending_of(store, subscriber)?);
    }
    pending.sort_by(|a, b| a.due_at.cmp(&b.due_at).then_with(|| a.id.cmp(&b.id)));
    Ok(web::Response::ok(&json!({ "scheduled": pending })))
}

fn get_scheduled(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    Ok(web::Response::ok(&scheduled::get(
        &ctx.ports.store,
        params.get("id"),
    )?))
}

/// `DELETE /api/v1/scheduled/:id`: cancel a message still waiting; 409 once it is being sent.
fn cancel_scheduled(ctx: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    let id = params.get("id");
    match scheduled::cancel(&ctx.ports.store, id, "api", ctx.ports.clock.now())? {
        Cancellation::Cancelled { send } => Ok(web::Response::ok(&send)),
        Cancellation::TooLate { send } => Err(Error::conflict(
            "not_cancellable",
            format!(
                "scheduled message '{id}' is {}: only a queued message can be cancelled",
                send.state.name()
            ),
        )),
    }
}

/// Refuse a rule on a channel this deployment cannot send on.
fn require_configured_all(channels: &[String]) -> Result<()> {
    let platforms = Platforms::from_variables(spin_adapter::variable);
    for channel in channels {
        platforms.require_configured(&Channel::parse(channel)?)?;
    }
    Ok(())
}

/// `POST /dispatch/tick`: send what is due until nothing is or `tick_budget_ms` is spent.
fn tick(ctx: &Context, _: &web::Request, _: &Params) -> Result<web::Response> {
    let clock = &ctx.ports.clock;
    let started_at = clock.now();
    let budget_ms: u64 = spin_adapter::number("tick_budget_ms")?;
    let mut config = SenderConfig::with_budget(
        tick_owner(started_at.timestamp_micros()),
        started_at,
        budget_ms,
    );
    // Caps written wrongly stop the tick with what to fix, rather than sending uncapped.
    config.frequency_caps = workspace_frequency_caps()?;
    let platforms = Platforms::from_variables(spin_adapter::variable);
    for platform in Platform::ALL {
        config
            .rates
            .insert(platform, platforms.rate_per_second(platform)?);
    }
    // A platform configured wrongly stops the tick rather than failing each of its recipients.
    platforms.check()?;
    config.policies = delivery_policies(&platforms)?;
    let messenger = platforms.connect(&SpinHttp, clock);
    let renderer = TemplateRenderer::new(&ctx.ports.store);
    let report = delivery::run_tick(&ctx.ports.store, &messenger, &renderer, clock, &config)?;
    let finished_at = clock.now();
    Ok(web::Response::ok(&json!({
        "owner": config.owner,
        "started_at": started_at,
        "finished_at": finished_at,
        "budget_ms": budget_ms.min(delivery::MAX_BUDGET_MS),
        "report": report,
    })))
}

/// The rules every recipient passes before being sent, for the tick and for estimates alike.
///
/// # Errors
/// 503 `invalid_configuration` when the `quiet_hours` variable is written wrongly.
fn delivery_policies(platforms: &Platforms) -> Result<PolicyChain> {
    Ok(PolicyChain::sending_on(platforms.configured_channels())
        .with(QuietHoursRule::new(workspace_quiet_hours()?)))
}

/// `GET|POST /api/v1/campaigns/:id/estimate`: what the campaign would do at its send time, or (with a
/// schedule body, before it starts) at that send time; the template is its pinned version, else the
/// latest.
fn estimate_campaign(ctx: &Context, req: &web::Request, params: &Params) -> Result<web::Response> {
    let store = &ctx.ports.store;
    let now = ctx.ports.clock.now();
    let mut campaign = campaign::get(store, params.get("id"))?;
    let templates = StoredTemplates { store };
    if !req.body.is_empty() {
        let request: ScheduleRequest = req.json()?;
        if campaign.started_at.is_none() {
            campaign.schedule = Some(request.resolve(now)?);
        }
        if let Some(version) = request.template_version {
            campaign.template_version =
                Some(templates.resolve(&campaign.template_id, Some(version))?);
        }
    }
    let campaign = campaign::with_latest_templates(&templates, campaign);
    let platforms = Platforms::from_variables(spin_adapter::variable);
    let rate = platforms.rate_per_second(campaign.channel.platform())?;
    let estimate = delivery::estimate(
        store,
        &campaign,
        now,
        &delivery_policies(&platforms)?,
        &workspace_frequency_caps()?,
        &TemplateRenderer::new(store),
        rate,
    )?;
    Ok(web::Response::ok(&estimate))
}

/// The `frequency_caps` variable; a wrong value stops the tick (503 `invalid_configuration`).
fn workspace_frequency_caps() -> Result<FrequencyCaps> {
    FrequencyCaps::parse(&spin_adapter::variable("frequency_caps"))
}

/// The `quiet_hours` variable (`21:00-09:00`; empty for none); a wrong value stops the tick.
fn workspace_quiet_hours() -> Result<Option<QuietHours>> {
    let setting = spin_adapter::variable("quiet_hours");
    campaign::workspace_quiet_hours(&setting).map_err(|e| {
        Error::unavailable(
            "invalid_configuration",
            format!("variable 'quiet_hours': {}", e.message()),
        )
    })
}

/// A lease owner id unique to this tick: the time plus randomness from the host (WASI random).
fn tick_owner(micros: i64) -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_i64(micros);
    format!("tick-{micros}-{:016x}", hasher.finish())
}

/// Refuse to create, move or schedule a campaign on a channel this deployment cannot send on.
fn require_configured(channel: &Channel) -> Result<()> {
    Platforms::from_variables(spin_adapter::variable).require_configured(channel)
}

/// Pins template versions through the template store.
struct StoredTemplates<'a, S: ?Sized> {
    store: &'a S,
}

impl<S: KvStore + ?Sized> TemplateVersions for StoredTemplates<'_, S> {
    fn resolve(&self, template_id: &str, version: Option<u32>) -> Result<u32> {
        Ok(template::load_version(self.store, template_id, version)?.version())
    }
}

/// Renders campaigns with the template engine, loading each pinned version once per request.
struct TemplateRenderer<'a, S: ?Sized> {
    store: &'a S,
    versions: RefCell<HashMap<(String, u32), Rc<TemplateVersion>>>,
}

impl<'a, S: KvStore + ?Sized> TemplateRenderer<'a, S> {
    fn new(store: &'a S) -> Self {
        TemplateRenderer {
            store,
            versions: RefCell::new(HashMap::new()),
        }
    }

    fn version(&self, template_id: &str, number: u32) -> Result<Rc<TemplateVersion>> {
        let key = (template_id.to_owned(), number);
        if let Some(version) = self.versions.borrow().get(&key) {
            return Ok(Rc::clone(version));
        }
        let version = Rc::new(template::load_version(
            self.store,
            template_id,
            Some(number),
        )?);
        self.versions.borrow_mut().insert(key, Rc::clone(&version));
        Ok(version)
    }
}

impl<S: KvStore + ?Sized> TemplateRenderer<'_, S> {
    fn pinned(&self, campaign: &Campaign) -> Result<Rc<TemplateVersion>> {
        let number = campaign.template_version.ok_or_else(|| {
            Error::unprocessable(
                "template_not_pinned",
                format!("campaign '{}' has no pinned template version", campaign.id),
            )
        })?;
        self.version(&campaign.template_id, number)
    }
}

fn render_input<'a>(subscriber: &'a Subscriber, campaign: &'a Campaign) -> RenderInput<'a> {
    RenderInput {
        subscriber,
        campaign: CampaignVars {
            id: campaign.id.as_str(),
            name: &campaign.name,
            variables: &campaign.variables,
        },
    }
}

impl<S: KvStore + ?Sized> MessageRenderer for TemplateRenderer<'_, S> {
    fn render(&self, subscriber: &Subscriber, campaign: &Campaign) -> Result<RenderedMessage> {
        let version = self.pinned(campaign)?;
        let input = render_input(subscriber, campaign);
        template::render(&version, &input, subscriber.channel.platform())
    }

    fn render_event(
        &self,
        subscriber: &Subscriber,
        campaign: &Campaign,
        event: &EventContext,
    ) -> Result<RenderedMessage> {
        let version = self.pinned(campaign)?;
        let input = render_input(subscriber, campaign);
        let event = EventVars {
            name: &event.name,
            key: event.key.as_deref(),
            data: &event.data,
        };
        template::render_with_event(&version, &input, &event, subscriber.channel.platform())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spinpost::clock::SystemClock;
    use spinpost::kv::MemoryStore;
    use spinpost::subscriber::{Address, ConsentAction, ConsentEvent};

    #[test]
    fn the_renderer_and_version_pinning_use_the_template_store() {
        let store = MemoryStore::new();
        let now = || SystemClock.now();
        let request: template::NewTemplate =
            serde_json::from_str(r#"{"name": "Welcome", "locales": {"en": {"text": "Hi <b>{{ subscriber.first_name }}</b> {{ campaign.variables.code }}"}}}"#).unwrap();
        template::create_template(&store, request, now()).unwrap();
        let templates = StoredTemplates { store: &store };
        assert_eq!(templates.resolve("welcome", None).unwrap(), 1);
        assert_eq!(
            templates.resolve("welcome", Some(2)).unwrap_err().status(),
            404
        );
        let new: NewCampaign = serde_json::from_str(
            r#"{"id": "c1", "name": "Launch", "channel": "telegram:shop", "template_id": "welcome", "template_version": 1, "variables": {"code": "X1"}}"#,
        )
        .unwrap();
        let campaign =
            campaign::create(&store, &StoredTemplates { store: &store }, new, now()).unwrap();
        let channel = Channel::parse("telegram:shop").unwrap();
        let mut subscriber = Subscriber::new(
            channel,
            Address::parse(Platform::Telegram, "1").unwrap(),
            now(),
        );
        subscriber.profile.first_name = Some("Ada & Co".into());
        subscriber.record_consent(ConsentEvent {
            action: ConsentAction::Subscribed,
            at: now(),
            source: "api".into(),
            evidence: "e".into(),
        });
        let message = TemplateRenderer::new(&store)
            .render(&subscriber, &campaign)
            .unwrap();
        assert_eq!(message.text, "Hi <b>Ada &amp; Co</b> X1");
    }

    #[test]
    fn tick_owners_differ() {
        assert_ne!(tick_owner(1), tick_owner(1));
    }
}
