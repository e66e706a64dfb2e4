//! The feedback component: its route table over the core's [`spinpost::feedback`].
//!
//! - `POST /events` (private: reachable only by local service chaining from the subscriptions component
//!   at `http://feedback.spin.internal/events`): apply an `EventBatch`, answer button presses.
//! - `GET /api/v1/feedback/campaigns/:id/stats` (admin): the campaign's statistics.
//! - `GET /api/v1/feedback/campaigns/:id/export?format=csv|jsonl&from=N` (admin): its feedback records.
//! - `GET /api/v1/feedback/unattributed/export?format=csv|jsonl&from=N` (admin): feedback no campaign
//!   could be credited with.
//! - `GET /health` (open): the application's health, after a read of the store. It lives here because
//!   this is the smallest component, so the check starts fastest.

use serde::Serialize;
use spin_adapter::{Ports, SpinHttp};
use spinpost::event::{EventBatch, EVENT_BATCH_BODY_LIMIT};
use spinpost::feedback::{self, AnswerSummary, ExportFormat, FeedbackSettings, IntakeReport};
use spinpost::platform::Platforms;
use spinpost::web::{self, Group, Params, Router};
use spinpost::{Error, Result};

/// What the handlers reach the world through: only the ports every component shares.
pub type Context = Ports;

/// The route table.
pub fn routes() -> Router<Context> {
    Router::new()
        // Private: only local service chaining reaches it.
        .group(
            Group::open()
                .get("/health", health)
                .within(EVENT_BATCH_BODY_LIMIT)
                .post("/events", apply_events),
        )
        .group(
            Group::bearer(Ports::admin_token)
                .get("/api/v1/feedback/campaigns/:id/stats", campaign_stats)
                .get("/api/v1/feedback/campaigns/:id/export", export_campaign)
                .get("/api/v1/feedback/unattributed/export", export_unattributed),
        )
}

#[derive(Serialize)]
struct IntakeResponse {
    #[serde(flatten)]
    report: IntakeReport,
    callback_answers: AnswerSummary,
}

fn apply_events(context: &Context, request: &web::Request, _: &Params) -> Result<web::Response> {
    let batch: EventBatch = request.json_within(EVENT_BATCH_BODY_LIMIT)?;
    let settings =
        FeedbackSettings::with_reply_window_hours(spin_adapter::number("reply_window_hours")?)?;
    let mut report = feedback::apply_events(&context.store, &settings, &batch.events)?;
    // Presses are recorded by now; answering is best effort and reported, never a reason to fail.
    let presses = std::mem::take(&mut report.press_answers);
    let callback_answers = if presses.is_empty() {
        AnswerSummary::default()
    } else {
        let platforms = Platforms::from_variables(spin_adapter::variable);
        match platforms.check() {
            Ok(()) => {
                feedback::answer_presses(&platforms.connect(&SpinHttp, &context.clock), &presses)
            }
            Err(err) => AnswerSummary {
                answered: 0,
                failed: presses.len(),
                failures: vec![err.message().to_owned()],
            },
        }
    };
    Ok(web::Response::ok(&IntakeResponse {
        report,
        callback_answers,
    }))
}

/// `GET /health`: 200 `{"status":"ok","store":"ok"}`, or 503 `store_unavailable`.
fn health(context: &Context, _: &web::Request, _: &Params) -> Result<web::Response> {
    Ok(web::Response::ok(&spinpost::health::check(&context.store)?))
}

fn campaign_stats(context: &Context, _: &web::Request, params: &Params) -> Result<web::Response> {
    let campaign_id = params.get("id");
    feedback::require_campaign(&context.store, campaign_id)?;
    Ok(web::Response::ok(&feedback::campaign_stats(
        &context.store,
        campaign_id,
    )?))
}

fn export_campaign(
    context: &Context,
    request: &web::Request,
    params: &Params,
) -> Result<web::Response> {
    let campaign_id = params.get("id");
    feedback::require_campaign(&context.store, campaign_id)?;
    export(context, request, Some(campaign_id))
}

fn export_unattributed(
    context: &Context,
    request: &web::Request,
    _: &Params,
) -> Result<web::Response> {
    export(context, request, None)
}

fn export(
    context: &Context,
    request: &web::Request,
    campaign_id: Option<&str>,
) -> Result<web::Response> {
    let format = ExportFormat::parse(request.query_param("format").as_deref())?;
    let from = match request.query_param("from") {
        None => 0,
        Some(from) => from.parse().map_err(|_| Error::invalid("invalid_from", format!("'from' must be a position from a previous page's x-next-from header, got '{from}'")))?,
    };
    let page = feedback::export_feedback(&context.store, campaign_id, format, from)?;
    let file = format!(
        "feedback-{}.{}",
        campaign_id.unwrap_or("unattributed"),
        format.extension()
    );
    let mut response = web::Response::with_content(200, format.content_type(), page.body)
        .with_header(
            "content-disposition",
            &format!("attachment; filename=\"{file}\""),
        )
        .with_header("x-export-rows", &page.rows.to_string());
    if let Some(next) = page.next_from {
        let format_name = format.extension();
        response = response
            .with_header("x-next-from", &next.to_string())
            .with_header(
                "link",
                &format!(
                    "<{}?format={format_name}&from={next}>; rel=\"next\"",
                    request.path
                ),
            );
    }
    Ok(response)
}

spin_adapter::export_component!(Ports::from_spin, routes());
