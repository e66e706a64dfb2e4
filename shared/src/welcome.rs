//! The welcome a person gets on opening a conversation, where the platform lets the webhook's
//! answer carry one message: composed at the edge, the platform naming the template and writing the
//! answer, the template store rendering it for the person in their language.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::ingress::Inbound;
use crate::kv::KvStore;
use crate::message::RenderedMessage;
use crate::platform::Platforms;
use crate::subscriber::Subscriber;
use crate::template::{self, CampaignVars, RenderInput};
use crate::web::Response;

/// The answer to a webhook delivery in which someone opened a conversation (see
/// [`Platforms::answer_opened`]); `None` when nobody did.
///
/// # Errors
/// When the platform is not configured or cannot answer with a welcome.
pub fn answer_opened<S: KvStore + ?Sized>(
    store: &S,
    platforms: &Platforms,
    inbounds: &[Inbound],
    now: DateTime<Utc>,
) -> Result<Option<Response>> {
    platforms.answer_opened(inbounds, &|template_id, opened| {
        render_welcome(store, template_id, opened, now)
    })
}

/// The latest version of `template_id` rendered for the person who opened the conversation: their
/// name and language as the platform sent them; no campaign.
fn render_welcome<S: KvStore + ?Sized>(
    store: &S,
    template_id: &str,
    opened: &Inbound,
    now: DateTime<Utc>,
) -> Result<RenderedMessage> {
    let address = opened.address.clone().ok_or_else(|| {
        Error::invalid(
            "invalid_callback",
            "the conversation was opened by nobody named",
        )
    })?;
    let mut person = Subscriber::new(opened.channel.clone(), address, now);
    person.profile = opened.profile.clone();
    person.locale = opened.locale.clone();
    let latest = template::load_latest(store, template_id)?;
    let no_variables = BTreeMap::new();
    let input = RenderInput {
        subscriber: &person,
        campaign: CampaignVars {
            id: "",
            name: "",
            variables: &no_variables,
        },
    };
    template::render(&latest.version, &input, opened.channel.platform())
}
