//! Campaign operations over the store: create, read, list, and the operator's state changes. Every
//! change of a campaign record goes through compare-and-swap, so a tick starting a campaign and an
//! operator pausing it never overwrite each other.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::index::Index;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::paging::{self, Page};

use super::model::{Campaign, CampaignId, CampaignState, NewCampaign};
use super::schedule::{ScheduleRequest, Transition};
use super::variants::Variant;

/// The port through which scheduling pins a template version, so this module does not depend on the
/// template engine.
pub trait TemplateVersions {
    /// The version to pin: `version` when given (checked to exist), else the template's latest.
    ///
    /// # Errors
    /// 404 when the template or version does not exist; store failures.
    fn resolve(&self, template_id: &str, version: Option<u32>) -> Result<u32>;
}

/// The ids of campaigns a tick must look at.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ActiveCampaigns {
    /// Campaign ids, in id order.
    pub ids: BTreeSet<String>,
}

/// Create a draft.
///
/// # Errors
/// 400 for invalid fields (see [`NewCampaign::into_draft`]); 409 `campaign_exists` when the id is taken.
pub fn create<S: KvStore + ?Sized, T: TemplateVersions + ?Sized>(
    store: &S,
    templates: &T,
    request: NewCampaign,
    now: DateTime<Utc>,
) -> Result<Campaign> {
    let campaign = request.into_draft(now)?;
    // Refuse a campaign for a template (or version) that does not exist now, rather than at scheduling.
    if campaign.variants.is_empty() {
        resolve_template(templates, &campaign.template_id, campaign.template_version)?;
    } else {
        pin_variants(templates, &campaign.variants)?;
    }
    if super::deleted::is_retired(store, campaign.id.as_str())? {
        return Err(Error::conflict(
            "campaign_id_retired",
            format!(
                "the id '{}' belonged to a deleted campaign whose statistics are kept; choose another id",
                campaign.id
            ),
        ));
    }
    let key = keys::campaign(campaign.id.as_str());
    kv::update_json(store, &key, |current: Option<Campaign>| match current {
        Some(_) => Err(Error::conflict(
            "campaign_exists",
            format!(
                "a campaign with id '{}' already exists; choose another id",
                campaign.id
            ),
        )),
        None => Ok((Some(campaign.clone()), ())),
    })?;
    Index::CAMPAIGNS.append(store, campaign.id.as_str())?;
    Ok(campaign)
}

/// The version of `template_id` to use (`version`, or the latest), as a 422 `unknown_template` when
/// the template or version does not exist.
///
/// # Errors
/// 422 `unknown_template`; store failures.
pub(super) fn resolve_template<T: TemplateVersions + ?Sized>(
    templates: &T,
    template_id: &str,
    version: Option<u32>,
) -> Result<u32> {
    templates
        .resolve(template_id, version)
        .map_err(|err| match err.kind() {
            crate::ErrorKind::NotFound => Error::unprocessable(
                "unknown_template",
                format!("{}; create the template first", err.message()),
            ),
            _ => err,
        })
}

/// `variants` with each template version pinned: the one given (checked to exist), else the latest.
///
/// # Errors
/// 422 `unknown_template` naming the variant; store failures.
pub(super) fn pin_variants<T: TemplateVersions + ?Sized>(
    templates: &T,
    variants: &[Variant],
) -> Result<Vec<Variant>> {
    variants
        .iter()
        .map(|variant| {
            let version =
                resolve_template(templates, &variant.template_id, variant.template_version)
                    .map_err(|err| match err.kind() {
                        crate::ErrorKind::Unprocessable => Error::unprocessable(
                            err.code().to_owned(),
                            format!("variant '{}': {}", variant.name, err.message()),
                        ),
                        _ => err,
                    })?;
            Ok(Variant {
                template_version: Some(version),
                ..variant.clone()
            })
        })
        .collect()
}

/// `campaign` as it would render if it started now: each template not yet pinned (the campaign's own,
/// or a variant's) at its latest version; one that does not exist stays unpinned, and the rules that need
/// the message then let everyone through.
pub fn with_latest_templates<T: TemplateVersions + ?Sized>(
    templates: &T,
    mut campaign: Campaign,
) -> Campaign {
    if campaign.template_version.is_none() && campaign.variants.is_empty() {
        campaign.template_version = templates.resolve(&campaign.template_id, None).ok();
    }
    for variant in &mut campaign.variants {
        if variant.template_version.is_none() {
            variant.template_version = templates.resolve(&variant.template_id, None).ok();
        }
    }
    campaign
}

/// A campaign by id.
///
/// # Errors
/// 404 when absent.
pub fn get<S: KvStore + ?Sized>(store: &S, id: &str) -> Result<Campaign> {
    kv::get_json(store, &record_key(id)?)?.ok_or_else(|| Error::not_found("campaign", id))
}

/// The record key of an id that came from outside (a URL); an id that cannot exist is not found,
/// and never reaches the store as part of another family's key (`c1:cursor`).
fn record_key(id: &str) -> Result<String> {
    CampaignId::parse(id)
        .map(|id| keys::campaign(id.as_str()))
        .map_err(|_| Error::not_found("campaign", id))
}

/// The A/B arm names of campaign `id` (see [`Campaign::arm_names`]), from its record or, once it is
/// deleted, from what was kept of it; empty for an unknown id.
///
/// # Errors
/// Store failures.
pub fn arm_names<S: KvStore + ?Sized>(store: &S, id: &str) -> Result<Vec<String>> {
    if let Some(campaign) = kv::get_json::<_, Campaign>(store, &record_key(id)?)? {
        return Ok(campaign.arm_names());
    }
    let deleted: Option<super::DeletedCampaign> = kv::get_json(store, &keys::deleted_campaign(id))?;
    Ok(deleted.map(|d| d.arms).unwrap_or_default())
}

/// List campaigns in creation order from index position `cursor`.
///
/// # Errors
/// Store failures.
pub fn list<S: KvStore + ?Sized>(store: &S, cursor: u64, limit: usize) -> Result<Page<Campaign>> {
    paging::list_index(
        store,
        Index::CAMPAIGNS,
        cursor,
        limit,
        keys::campaign,
        |_, campaign: Campaign| Some(campaign),
    )
}

/// Schedule a draft (or move a scheduled campaign's time), pinning the template version.
///
/// # Errors
/// 404 for an unknown campaign or template; 409 `invalid_transition`; 400/422 for the send time
/// (see [`ScheduleRequest::resolve`]).
pub fn schedule<S, T>(
    store: &S,
    templates: &T,
    id: &str,
    request: &ScheduleRequest,
    now: DateTime<Utc>,
) -> Result<Campaign>
where
    S: KvStore + ?Sized,
    T: TemplateVersions + ?Sized,
{
    let current = get(store, id)?;
    // Check the transition before touching anything else, so a refused request changes nothing.
    current.clone().transition(Transition::Schedule, now)?;
    let schedule = request.resolve(now)?;
    if request.template_version == Some(0) {
        return Err(Error::invalid(
            "invalid_template_version",
            "template_version starts at 1",
        ));
    }
    let pinned = if current.variants.is_empty() {
        let version = templates.resolve(
            &current.template_id,
            request.template_version.or(current.template_version),
        )?;
        (Some(version), Vec::new())
    } else if request.template_version.is_some() {
        return Err(Error::invalid(
            "invalid_template_version",
            "a campaign with variants pins each variant's template_version in variants (edit the draft)",
        ));
    } else {
        (None, pin_variants(templates, &current.variants)?)
    };
    // Listed as active before it becomes scheduled: a crash in between leaves a harmless extra id, never
    // a scheduled campaign no tick knows of.
    add_active(store, id)?;
    change(store, id, |campaign| {
        campaign.transition(Transition::Schedule, now)?;
        campaign.schedule = Some(schedule.clone());
        campaign.template_version = pinned.0;
        if !campaign.variants.is_empty() {
            campaign.variants.clone_from(&pinned.1);
        }
        Ok(())
    })
}

/// Pause a scheduled or running campaign; batches in flight stop after their current few sends.
///
/// # Errors
/// 404; 409 `invalid_transition`.
pub fn pause<S: KvStore + ?Sized>(store: &S, id: &str, now: DateTime<Utc>) -> Result<Campaign> {
    change(store, id, |campaign| {
        campaign.transition(Transition::Pause, now)
    })
}

/// Resume a paused campaign.
///
/// # Errors
/// 404; 409 `invalid_transition`.
pub fn resume<S: KvStore + ?Sized>(store: &S, id: &str, now: DateTime<Utc>) -> Result<Campaign> {
    change(store, id, |campaign| {
        campaign.transition(Transition::Resume, now)
    })
}

/// Cancel a campaign; recipients in batches already claimed are finalised as skipped by the next tick.
///
/// # Errors
/// 404; 409 `invalid_transition`.
pub fn cancel<S: KvStore + ?Sized>(store: &S, id: &str, now: DateTime<Utc>) -> Result<Campaign> {
    change(store, id, |campaign| {
        campaign.transition(Transition::Cancel, now)
    })
}

/// Change a campaign record through compare-and-swap.
///
/// # Errors
/// 404 when absent; the error `apply` returns.
pub fn change<S, F>(store: &S, id: &str, mut apply: F) -> Result<Campaign>
where
    S: KvStore + ?Sized,
    F: FnMut(&mut Campaign) -> Result<()>,
{
    kv::update_json(store, &record_key(id)?, |current: Option<Campaign>| {
        let mut campaign = current.ok_or_else(|| Error::not_found("campaign", id))?;
        apply(&mut campaign)?;
        Ok((Some(campaign.clone()), campaign))
    })
}

/// The ids of campaigns that may have work.
///
/// # Errors
/// Store failures.
pub fn active_ids<S: KvStore + ?Sized>(store: &S) -> Result<Vec<String>> {
    Ok(
        kv::get_json::<_, ActiveCampaigns>(store, &keys::active_campaigns())?
            .unwrap_or_default()
            .ids
            .into_iter()
            .collect(),
    )
}

/// The ids of the scheduled, running or paused campaigns that render `template_id`, found through the
/// active set (no scan of every campaign).
///
/// # Errors
/// Store failures.
pub fn using_template<S: KvStore + ?Sized>(store: &S, template_id: &str) -> Result<Vec<String>> {
    let ids = active_ids(store)?;
    let record_keys: Vec<String> = ids.iter().map(|id| keys::campaign(id)).collect();
    Ok(kv::get_many_json::<_, Campaign>(store, &record_keys)?
        .into_iter()
        .flatten()
        .filter(|c| is_active(c.state) && c.uses_template(template_id))
        .map(|c| c.id.as_str().to_owned())
        .collect())
}

fn add_active<S: KvStore + ?Sized>(store: &S, id: &str) -> Result<()> {
    kv::update_json(
        store,
        &keys::active_campaigns(),
        |current: Option<ActiveCampaigns>| {
            let mut active = current.unwrap_or_default();
            Ok(if active.ids.insert(id.to_owned()) {
                (Some(active), ())
            } else {
                (None, ())
            })
        },
    )
}

/// Drop a campaign that has no more work from the active set.
///
/// # Errors
/// Store failures.
pub fn remove_active<S: KvStore + ?Sized>(store: &S, id: &str) -> Result<()> {
    kv::update_json(
        store,
        &keys::active_campaigns(),
        |current: Option<ActiveCampaigns>| {
            let mut active = current.unwrap_or_default();
            Ok(if active.ids.remove(id) {
                (Some(active), ())
            } else {
                (None, ())
            })
        },
    )
}

/// Whether a state can still produce sends (or finalisations) and so belongs in the active set.
pub fn is_active(state: CampaignState) -> bool {
    matches!(
        state,
        CampaignState::Scheduled | CampaignState::Running | CampaignState::Paused
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::fixtures::{new, now, store_with_draft, Templates};
    use crate::kv::MemoryStore;

    #[test]
    fn an_id_that_names_another_record_is_not_found() {
        let store = store_with_draft("c1");
        store.set("camp:c1:cursor", b"{}").unwrap();
        for id in ["c1:cursor", "C1", "", "c1/x"] {
            assert_eq!(get(&store, id).unwrap_err().status(), 404, "{id}");
            assert_eq!(pause(&store, id, now()).unwrap_err().status(), 404, "{id}");
        }
    }

    #[test]
    fn a_campaign_for_a_template_that_does_not_exist_is_refused_and_not_stored() {
        let store = MemoryStore::new();
        let request: NewCampaign = serde_json::from_str(
            r#"{"id": "c9", "name": "X", "channel": "telegram:shop", "template_id": "missing"}"#,
        )
        .unwrap();
        let err = create(&store, &Templates, request, now()).unwrap_err();
        assert_eq!((err.status(), err.code()), (422, "unknown_template"));
        let request: NewCampaign = serde_json::from_str(r#"{"id": "c9", "name": "X", "channel": "telegram:shop", "template_id": "welcome", "template_version": 9}"#).unwrap();
        assert_eq!(
            create(&store, &Templates, request, now())
                .unwrap_err()
                .code(),
            "unknown_template"
        );
        assert_eq!(get(&store, "c9").unwrap_err().status(), 404);
    }

    fn schedule_request(send_at: &str) -> ScheduleRequest {
        ScheduleRequest {
            send_at: send_at.into(),
            timezone: Some("Europe/Berlin".into()),
            template_version: None,
            per_recipient_timezone: false,
            recurring: None,
        }
    }

    #[test]
    fn create_refuses_a_taken_id_and_lists_in_order() {
        let store = MemoryStore::new();
        for i in 0..5 {
            create(&store, &Templates, new(&format!("c{i}")), now()).unwrap();
        }
        assert_eq!(
            create(&store, &Templates, new("c1"), now())
                .unwrap_err()
                .code(),
            "campaign_exists"
        );
        let first = list(&store, 0, 2).unwrap();
        assert_eq!(
            first
                .items
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>(),
            ["c0", "c1"]
        );
        let rest = list(
            &store,
            crate::paging::parse_cursor(first.next_cursor.as_deref()).unwrap(),
            10,
        )
        .unwrap();
        assert_eq!(rest.items.len(), 3);
        assert!(rest.next_cursor.is_none());
        assert_eq!(get(&store, "nope").unwrap_err().status(), 404);
    }

    #[test]
    fn scheduling_in_a_timezone_pins_the_latest_template_and_activates() {
        let store = store_with_draft("c1");
        let campaign = schedule(
            &store,
            &Templates,
            "c1",
            &schedule_request("2026-12-24T09:00:00"),
            now(),
        )
        .unwrap();
        assert_eq!(campaign.state, CampaignState::Scheduled);
        assert_eq!(campaign.template_version, Some(3));
        assert_eq!(
            campaign.schedule.unwrap().send_at.to_rfc3339(),
            "2026-12-24T08:00:00+00:00"
        );
        assert_eq!(active_ids(&store).unwrap(), ["c1"]);
    }

    #[test]
    fn scheduling_refuses_unknown_templates_and_bad_states_without_side_effects() {
        let store = MemoryStore::new();
        let mut request: NewCampaign = new("c1");
        request.template_id = "missing".into();
        // The template existed when the campaign was created and is gone by scheduling time.
        struct Existed;
        impl TemplateVersions for Existed {
            fn resolve(&self, _: &str, version: Option<u32>) -> Result<u32> {
                Ok(version.unwrap_or(1))
            }
        }
        create(&store, &Existed, request, now()).unwrap();
        assert_eq!(
            schedule(&store, &Templates, "c1", &schedule_request("now"), now())
                .unwrap_err()
                .status(),
            404
        );
        assert!(active_ids(&store).unwrap().is_empty());
        create(&store, &Templates, new("c2"), now()).unwrap();
        cancel(&store, "c2", now()).unwrap();
        let err = schedule(&store, &Templates, "c2", &schedule_request("now"), now()).unwrap_err();
        assert_eq!((err.status(), err.code()), (409, "invalid_transition"));
        assert!(active_ids(&store).unwrap().is_empty());
    }

    #[test]
    fn operator_transitions_are_checked() {
        let store = store_with_draft("c1");
        assert_eq!(pause(&store, "c1", now()).unwrap_err().status(), 409);
        schedule(&store, &Templates, "c1", &schedule_request("now"), now()).unwrap();
        assert_eq!(
            pause(&store, "c1", now()).unwrap().state,
            CampaignState::Paused
        );
        assert_eq!(
            resume(&store, "c1", now()).unwrap().state,
            CampaignState::Scheduled
        );
        assert_eq!(
            cancel(&store, "c1", now()).unwrap().state,
            CampaignState::Cancelled
        );
        assert_eq!(resume(&store, "c1", now()).unwrap_err().status(), 409);
        assert_eq!(pause(&store, "missing", now()).unwrap_err().status(), 404);
    }

    #[test]
    fn scheduling_pins_each_variants_version_and_guards_their_templates() {
        let store = MemoryStore::new();
        let request: NewCampaign = serde_json::from_str(
            r#"{"id": "ab", "name": "Promo", "channel": "telegram:shop",
                "variants": [{"name": "a", "template_id": "welcome", "weight": 1},
                             {"name": "b", "template_id": "farewell", "template_version": 1, "weight": 1}]}"#,
        )
        .unwrap();
        let draft = create(&store, &Templates, request, now()).unwrap();
        assert_eq!(draft.variants[0].template_version, None);
        let err = schedule(
            &store,
            &Templates,
            "ab",
            &ScheduleRequest {
                template_version: Some(2),
                ..schedule_request("now")
            },
            now(),
        )
        .unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (400, "invalid_template_version")
        );
        let scheduled =
            schedule(&store, &Templates, "ab", &schedule_request("now"), now()).unwrap();
        let pinned: Vec<_> = scheduled
            .variants
            .iter()
            .map(|v| v.template_version)
            .collect();
        assert_eq!(pinned, [Some(3), Some(1)]);
        assert_eq!(scheduled.template_version, None);
        assert_eq!(using_template(&store, "farewell").unwrap(), ["ab"]);

        let request: NewCampaign = serde_json::from_str(
            r#"{"id": "ab2", "name": "Promo", "channel": "telegram:shop",
                "variants": [{"name": "a", "template_id": "welcome", "template_version": 9, "weight": 1}]}"#,
        )
        .unwrap();
        let err = create(&store, &Templates, request, now()).unwrap_err();
        assert_eq!((err.status(), err.code()), (422, "unknown_template"));
        err.assert_mentions("variant 'a'");
    }
}
