//! Templates in the key-value store: a head record per template (`keys::template`), one immutable
//! record per version (`keys::template_version`), and the `templates` index for listing.
//!
//! Versions are never overwritten: a version record is written only where none exists (compare-and-swap
//! against absent), and the head's `latest_version` moves only forward, so a campaign pinned to version
//! 1 keeps reading exactly what it was scheduled with.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::engine::{CampaignVars, RenderInput};
use super::model::{
    parse_name, NewTemplate, TemplateContent, TemplateHead, TemplateId, TemplateUpdate,
    TemplateVersion,
};
use super::render::render;
use super::validate::{sample_subscriber, validate_content};
use crate::error::{Error, Result};
use crate::index::Index;
use crate::keys;
use crate::kv::{self, CasOutcome, KvStore};
use crate::message::RenderedMessage;
use crate::paging::{self, Page};
use crate::subscriber::{
    AttributeName, Channel, Locale, Platform, Subscriber, SubscriberId, Tag, TimeZone,
};

/// How many versions an update tries to claim when others are saving at the same moment.
const VERSION_CLAIM_ATTEMPTS: usize = 16;

/// A template's head with one of its versions, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateWithVersion {
    /// The head record.
    #[serde(flatten)]
    pub head: TemplateHead,
    /// The version (the latest, or the one asked for).
    pub version: TemplateVersion,
}

/// Create a template and its version 1, after validating the content.
///
/// # Errors
/// 400 for a bad id or name, 422 for invalid content (nothing is stored), 409 `template_exists` when the
/// id is taken, 500 on store failure.
pub fn create_template<S: KvStore + ?Sized>(
    store: &S,
    request: NewTemplate,
    now: DateTime<Utc>,
) -> Result<TemplateWithVersion> {
    let name = parse_name(&request.name)?;
    let id = match &request.id {
        Some(id) => TemplateId::parse(id)?,
        None => TemplateId::from_name(&name)?,
    };
    let content = TemplateContent::parse(request.default_locale.as_deref(), request.locales)?;
    validate_content(&id, &content, now)?;

    // Claim the id with a head at version 0 (nothing readable yet), then write version 1, then publish
    // it. A crash in between leaves a head that the next PUT completes, never a half-visible version.
    let mut head = TemplateHead {
        id: id.clone(),
        name,
        latest_version: 0,
        created_at: now,
        updated_at: now,
    };
    let head_key = keys::template(id.as_str());
    if let CasOutcome::Conflict(_) = store.compare_and_swap(&head_key, None, &kv::encode(&head))? {
        return Err(Error::conflict(
            "template_exists",
            format!("a template with id '{id}' exists; update it with PUT /api/v1/templates/{id} or choose another id"),
        ));
    }
    let version = TemplateVersion::new(id.clone(), 1, content, now);
    claim_version(store, &version)?;
    head = publish_version(store, &id, 1, None, now)?;
    // An id deleted before is still listed: keep its index entry rather than listing it twice.
    let deleted = keys::deleted_template(id.as_str());
    if store.exists(&deleted)? {
        store.delete(&deleted)?;
    } else {
        Index::TEMPLATES.append(store, id.as_str())?;
    }
    Ok(TemplateWithVersion { head, version })
}

/// Add a new version to an existing template (and rename it when a name is given).
///
/// # Errors
/// 404 for an unknown template, 400/422 as [`create_template`], 500 on store failure.
pub fn update_template<S: KvStore + ?Sized>(
    store: &S,
    template_id: &str,
    request: TemplateUpdate,
    now: DateTime<Utc>,
) -> Result<TemplateWithVersion> {
    let head = load_head(store, template_id)?;
    let name = request.name.as_deref().map(parse_name).transpose()?;
    let content = TemplateContent::parse(request.default_locale.as_deref(), request.locales)?;
    validate_content(&head.id, &content, now)?;
    // When someone else saves a number first, take the next one.
    for number in (head.latest_version + 1..).take(VERSION_CLAIM_ATTEMPTS) {
        let version = TemplateVersion::new(head.id.clone(), number, content.clone(), now);
        if claim_version(store, &version)? {
            let head = publish_version(store, &head.id, number, name, now)?;
            return Ok(TemplateWithVersion { head, version });
        }
    }
    Err(Error::conflict(
        "contention",
        format!("template '{template_id}' is being changed by many requests; retry"),
    ))
}

/// Write a version where none exists; `false` when the number is taken.
fn claim_version<S: KvStore + ?Sized>(store: &S, version: &TemplateVersion) -> Result<bool> {
    let key = keys::template_version(version.template_id(), version.version());
    Ok(matches!(
        store.compare_and_swap(&key, None, &kv::encode(version))?,
        CasOutcome::Swapped
    ))
}

/// Move the head's latest version forward to `number` (never back) and apply a rename.
fn publish_version<S: KvStore + ?Sized>(
    store: &S,
    id: &TemplateId,
    number: u32,
    name: Option<String>,
    now: DateTime<Utc>,
) -> Result<TemplateHead> {
    kv::update_json(
        store,
        &keys::template(id.as_str()),
        |current: Option<TemplateHead>| {
            let mut head = current.ok_or_else(|| Error::not_found("template", id.as_str()))?;
            head.latest_version = head.latest_version.max(number);
            if let Some(name) = &name {
                head.name.clone_from(name);
            }
            head.updated_at = now;
            Ok((Some(head.clone()), head))
        },
    )
}

/// Delete a template: every version, then its head. Its index entry stays (listing skips it) and is
/// marked, so creating the id again reuses it. Versions go before the head, so an interrupted deletion
/// leaves a template that can be read and deleted again, never versions that block a new one.
///
/// # Errors
/// Store failures.
pub fn delete_template<S: KvStore + ?Sized>(store: &S, head: &TemplateHead) -> Result<()> {
    let id = head.id.as_str();
    store.set(&keys::deleted_template(id), b"{}")?;
    // Beyond the latest: versions an update claimed but had not published when it stopped.
    let last = head
        .latest_version
        .saturating_add(VERSION_CLAIM_ATTEMPTS as u32);
    let version_keys: Vec<String> = (1..=last).map(|n| keys::template_version(id, n)).collect();
    store.delete_many(&version_keys)?;
    Ok(store.delete(&keys::template(id))?)
}

/// A template's head record.
///
/// # Errors
/// 404 when there is no such template (or the id is not a valid one), 500 on store failure.
pub fn load_head<S: KvStore + ?Sized>(store: &S, template_id: &str) -> Result<TemplateHead> {
    let id =
        TemplateId::parse(template_id).map_err(|_| Error::not_found("template", template_id))?;
    kv::get_json(store, &keys::template(id.as_str()))?
        .ok_or_else(|| Error::not_found("template", template_id))
}

/// A version of a template: `None` is the latest.
///
/// # Errors
/// 404 when the template or version does not exist, 500 on store failure.
pub fn load_version<S: KvStore + ?Sized>(
    store: &S,
    template_id: &str,
    version: Option<u32>,
) -> Result<TemplateVersion> {
    let number = match version {
        Some(number) => number,
        None => load_head(store, template_id)?.latest_version,
    };
    let missing = || {
        Error::new(
            crate::ErrorKind::NotFound,
            "not_found",
            format!("template '{template_id}' has no version {number}"),
        )
    };
    if number == 0 {
        return Err(missing());
    }
    let id =
        TemplateId::parse(template_id).map_err(|_| Error::not_found("template", template_id))?;
    kv::get_json(store, &keys::template_version(id.as_str(), number))?.ok_or_else(missing)
}

/// A template's head with its latest version.
///
/// # Errors
/// As [`load_version`].
pub fn load_latest<S: KvStore + ?Sized>(
    store: &S,
    template_id: &str,
) -> Result<TemplateWithVersion> {
    let head = load_head(store, template_id)?;
    let version = load_version(store, template_id, Some(head.latest_version))?;
    Ok(TemplateWithVersion { head, version })
}

/// List template heads in creation order from index position `cursor`.
///
/// # Errors
/// Store failures.
pub fn list_templates<S: KvStore + ?Sized>(
    store: &S,
    cursor: u64,
    limit: usize,
) -> Result<Page<TemplateHead>> {
    paging::list_index(
        store,
        Index::TEMPLATES,
        cursor,
        limit,
        keys::template,
        |_, head: TemplateHead| Some(head),
    )
}

/// `POST /api/v1/templates/:id/preview`: what a version renders to for a stored subscriber or sample data.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The version; the latest when absent.
    pub version: Option<u32>,
    /// A stored subscriber to render for.
    pub subscriber_id: Option<String>,
    /// Sample data: a subscriber (instead of `subscriber_id`) and campaign values.
    pub sample: Option<SampleData>,
    /// The platform; the subscriber's own, else Telegram.
    pub platform: Option<Platform>,
}

/// Sample values for a preview.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleData {
    /// The recipient.
    pub subscriber: Option<SampleSubscriber>,
    /// The campaign.
    pub campaign: Option<SampleCampaign>,
}

/// A sample recipient; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSubscriber {
    /// A subscriber id such as `telegram:shop:42` (sets the channel).
    pub id: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// User name.
    pub username: Option<String>,
    /// Locale, e.g. `pt-BR` (chooses the variant).
    pub locale: Option<String>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// Sample campaign values.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleCampaign {
    /// Campaign id.
    pub id: Option<String>,
    /// Campaign name.
    pub name: Option<String>,
    /// Campaign variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// A preview: the rendered message and what produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    /// The template.
    pub template_id: String,
    /// The version rendered.
    pub version: u32,
    /// The platform rendered for.
    pub platform: Platform,
    /// The locale whose variant was used.
    pub locale: Locale,
    /// The message.
    #[serde(flatten)]
    pub message: RenderedMessage,
}

/// Render a version for a preview; nothing is stored.
///
/// # Errors
/// 404 for an unknown template, version or subscriber; 400 for bad sample values; 422 for render errors.
pub fn preview<S: KvStore + ?Sized>(
    store: &S,
    template_id: &str,
    request: PreviewRequest,
    now: DateTime<Utc>,
) -> Result<Preview> {
    let version = load_version(store, template_id, request.version)?;
    let sample = request.sample.unwrap_or_default();
    let subscriber = match (&request.subscriber_id, sample.subscriber) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "invalid_preview",
                "send either subscriber_id or sample.subscriber, not both",
            ));
        }
        (Some(id), None) => {
            let id = SubscriberId::parse(id)?;
            kv::get_json::<_, Subscriber>(store, &keys::subscriber(&id))?
                .ok_or_else(|| Error::not_found("subscriber", id.as_str()))?
        }
        (None, Some(sample)) => {
            build_sample_subscriber(sample, request.platform.unwrap_or(Platform::Telegram), now)?
        }
        (None, None) => {
            sample_subscriber(request.platform.unwrap_or(Platform::Telegram), None, now)?
        }
    };
    let platform = request.platform.unwrap_or(subscriber.channel.platform());
    let campaign = sample.campaign.unwrap_or_default();
    let input = RenderInput {
        subscriber: &subscriber,
        campaign: CampaignVars {
            id: campaign.id.as_deref().unwrap_or("preview"),
            name: campaign.name.as_deref().unwrap_or("Preview"),
            variables: &campaign.variables,
        },
    };
    let message = render(&version, &input, platform)?;
    let (locale, _) = version.content().select(subscriber.locale.as_ref())?;
    Ok(Preview {
        template_id: version.template_id().to_owned(),
        version: version.version(),
        platform,
        locale: locale.clone(),
        message,
    })
}

fn build_sample_subscriber(
    sample: SampleSubscriber,
    platform: Platform,
    now: DateTime<Utc>,
) -> Result<Subscriber> {
    let mut subscriber = match &sample.id {
        Some(id) => {
            let id = SubscriberId::parse(id)?;
            let (channel, address) = id.as_str().rsplit_once(':').unwrap_or_default();
            let channel = Channel::parse(channel)?;
            let address = crate::subscriber::Address::parse(channel.platform(), address)?;
            Subscriber::new(channel, address, now)
        }
        None => sample_subscriber(platform, None, now)?,
    };
    subscriber.profile.first_name = sample.first_name;
    subscriber.profile.last_name = sample.last_name;
    subscriber.profile.username = sample.username;
    subscriber.profile = std::mem::take(&mut subscriber.profile).bounded();
    subscriber.locale = sample.locale.as_deref().map(Locale::parse).transpose()?;
    subscriber.timezone = sample
        .timezone
        .as_deref()
        .map(TimeZone::parse)
        .transpose()?;
    for tag in &sample.tags {
        subscriber.add_tag(Tag::parse(tag)?)?;
    }
    for (name, value) in sample.attributes {
        subscriber.set_attribute(AttributeName::parse(&name)?, value)?;
    }
    Ok(subscriber)
}
