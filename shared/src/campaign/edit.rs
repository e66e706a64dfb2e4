//! Editing a campaign (`PATCH /api/v1/campaigns/:id`) while it is a draft or paused.
//!
//! A paused campaign has begun (or is about to begin) walking its audience into the delivery ledger, and
//! each recipient's place in that walk is what makes sending exactly-once: so its channel and audience
//! are frozen. Its name, variables, template (and version) and quiet hours may change; they apply to the recipients
//! not yet sent when it resumes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::kv::KvStore;
use crate::subscriber::Channel;

use super::model::{Audience, Campaign, CampaignState, NewCampaign};
use super::quiet_hours::QuietHoursSetting;
use super::service::{change, get, pin_variants, resolve_template, TemplateVersions};
use super::variants::Variant;

/// The body of `PATCH /api/v1/campaigns/:id`: the fields to change; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignEdit {
    /// A new display name.
    pub name: Option<String>,
    /// A new channel (drafts only).
    pub channel: Option<String>,
    /// Another template. Without `template_version` a draft then pins at scheduling and a paused
    /// campaign pins that template's latest version now.
    pub template_id: Option<String>,
    /// Another version of the (new or current) template.
    pub template_version: Option<u32>,
    /// The variables, replacing all of them.
    pub variables: Option<BTreeMap<String, String>>,
    /// The audience, replacing it (drafts only).
    pub audience: Option<Audience>,
    /// Which quiet hours it keeps: `"default"`, `"none"` or a span like `"22:00-08:00"`.
    pub quiet_hours: Option<QuietHoursSetting>,
    /// The A/B variants, replacing them (drafts only; `[]` with a `template_id` returns to one template).
    pub variants: Option<Vec<Variant>>,
    /// The holdout share in percent (drafts only).
    pub holdout_percent: Option<u8>,
}

impl CampaignEdit {
    /// The channel the edit names, parsed (so a caller can check the deployment serves it).
    ///
    /// # Errors
    /// 400 `invalid_channel`.
    pub fn channel(&self) -> Result<Option<Channel>> {
        self.channel.as_deref().map(Channel::parse).transpose()
    }
}

/// Apply `edit` to campaign `id`, validated as on create.
///
/// # Errors
/// 404 for an unknown campaign; 409 `campaign_not_editable` unless it is a draft or paused; 409
/// `audience_frozen` for a change of a paused campaign's channel or audience; 400 for an invalid field
/// (see [`NewCampaign::into_draft`]); 422 `unknown_template` when the template or version does not exist.
pub fn edit<S: KvStore + ?Sized, T: TemplateVersions + ?Sized>(
    store: &S,
    templates: &T,
    id: &str,
    edit: CampaignEdit,
    now: DateTime<Utc>,
) -> Result<Campaign> {
    let current = get(store, id)?;
    check_editable(&current, &edit)?;
    let template_changes = edit
        .template_id
        .as_ref()
        .is_some_and(|t| *t != current.template_id);
    let version = edit
        .template_version
        .or(current.template_version.filter(|_| !template_changes));
    // Validate the edited campaign exactly as a new one, then take only the edited fields from it.
    let edited = NewCampaign {
        id: Some(current.id.as_str().to_owned()),
        name: or_current(&edit.name, &current.name),
        channel: or_current(&edit.channel, &current.channel.to_string()),
        template_id: or_current(&edit.template_id, &current.template_id),
        template_version: version,
        variables: or_current(&edit.variables, &current.variables),
        audience: or_current(&edit.audience, &current.audience),
        quiet_hours: or_current(&edit.quiet_hours, &current.quiet_hours),
        variants: or_current(&edit.variants, &current.variants),
        holdout_percent: or_current(&edit.holdout_percent, &current.holdout_percent),
    }
    .into_draft(now)?;
    // A paused campaign renders from a pinned version; a draft pins when it is scheduled. A paused
    // campaign's variants are frozen, and were pinned when it was scheduled.
    let pinned = if edited.variants.is_empty() {
        let resolved = resolve_template(templates, &edited.template_id, edited.template_version)?;
        match current.state {
            CampaignState::Paused => Some(resolved),
            _ => edited.template_version,
        }
    } else {
        pin_variants(templates, &edited.variants)?;
        None
    };
    change(store, id, |campaign| {
        // The campaign may have moved on since it was read.
        if campaign.state != current.state {
            return Err(Error::conflict(
                "campaign_changed",
                format!(
                    "campaign '{id}' became {} while it was being edited; read it and edit again",
                    campaign.state
                ),
            ));
        }
        campaign.name.clone_from(&edited.name);
        campaign.channel = edited.channel.clone();
        campaign.template_id.clone_from(&edited.template_id);
        campaign.template_version = pinned;
        campaign.variables.clone_from(&edited.variables);
        campaign.audience = edited.audience.clone();
        campaign.quiet_hours = edited.quiet_hours;
        campaign.variants.clone_from(&edited.variants);
        campaign.holdout_percent = edited.holdout_percent;
        campaign.updated_at = now;
        Ok(())
    })
}

/// The edited value when the edit names one, else the current one.
fn or_current<T: Clone>(edited: &Option<T>, current: &T) -> T {
    edited.clone().unwrap_or_else(|| current.clone())
}

/// Whether `edit` may be applied to `campaign` in its state.
fn check_editable(campaign: &Campaign, edit: &CampaignEdit) -> Result<()> {
    match campaign.state {
        CampaignState::Draft => Ok(()),
        CampaignState::Paused => {
            let channel_changes = edit.channel()?.is_some_and(|c| c != campaign.channel);
            let audience_changes = edit
                .audience
                .as_ref()
                .is_some_and(|a| *a != campaign.audience);
            let split_changes = edit
                .variants
                .as_ref()
                .is_some_and(|v| *v != campaign.variants)
                || edit
                    .holdout_percent
                    .is_some_and(|h| h != campaign.holdout_percent);
            if split_changes {
                return Err(Error::conflict(
                    "variants_frozen",
                    format!(
                        "campaign '{}' is paused: its variants and holdout are frozen once it is scheduled, so each person stays in the arm they were given; name and variables may still change",
                        campaign.id
                    ),
                ));
            }
            if channel_changes || audience_changes {
                return Err(Error::conflict(
                    "audience_frozen",
                    format!(
                        "campaign '{}' is paused: its channel and audience are frozen once it is scheduled, so no recipient is sent twice or missed; name, variables and template may still change (cancel it and create a new campaign for another audience)",
                        campaign.id
                    ),
                ));
            }
            Ok(())
        }
        CampaignState::Scheduled
        | CampaignState::Running
        | CampaignState::Cancelled
        | CampaignState::Completed => Err(Error::conflict(
            "campaign_not_editable",
            format!(
                "campaign '{}' is {}; only draft and paused campaigns can be edited{}",
                campaign.id,
                campaign.state,
                match campaign.state {
                    CampaignState::Scheduled | CampaignState::Running => " (pause it first)",
                    _ => "",
                }
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::fixtures::{new, now, schedule_now, store_with_draft, Templates};
    use crate::campaign::{cancel, create, pause, schedule};
    use crate::kv::MemoryStore;

    fn patch(json: &str) -> CampaignEdit {
        serde_json::from_str(json).unwrap()
    }

    /// Campaign `c1` edited by the JSON `change`, now.
    fn edit_c1(store: &MemoryStore, change: &str) -> Result<Campaign> {
        edit(store, &Templates, "c1", patch(change), now())
    }

    fn scheduled_and_paused(store: &MemoryStore, id: &str) {
        create(store, &Templates, new(id), now()).unwrap();
        schedule(store, &Templates, id, &schedule_now(Some(2)), now()).unwrap();
        pause(store, id, now()).unwrap();
    }

    #[test]
    fn a_draft_changes_every_field_validated_as_on_create() {
        let store = store_with_draft("c1");
        let later = now() + chrono::Duration::minutes(5);
        let change = patch(
            r#"{"name": " Spring ", "channel": "telegram:news", "template_id": "farewell", "template_version": 1, "variables": {"code": "S1"}, "audience": {"all_tags": ["vip"]}}"#,
        );
        let edited = edit(&store, &Templates, "c1", change, later).unwrap();
        assert_eq!(edited.name, "Spring");
        assert_eq!(edited.channel.to_string(), "telegram:news");
        assert_eq!(
            (edited.template_id.as_str(), edited.template_version),
            ("farewell", Some(1))
        );
        assert_eq!(edited.variables["code"], "S1");
        assert_eq!(edited.audience.all_tags.len(), 1);
        assert_eq!((edited.created_at, edited.updated_at), (now(), later));
        assert_eq!(crate::campaign::get(&store, "c1").unwrap(), edited);

        // Another template without a version unpins: the draft pins its latest when scheduled.
        let edited = edit_c1(&store, r#"{"template_id": "welcome"}"#).unwrap();
        assert_eq!(edited.template_version, None);

        for (json, status, code) in [
            (r#"{"template_id": "missing"}"#, 422, "unknown_template"),
            (r#"{"template_version": 7}"#, 422, "unknown_template"),
            (r#"{"name": ""}"#, 400, "invalid_name"),
            (r#"{"channel": "sms:x"}"#, 400, "invalid_channel"),
            (r#"{"variables": {"1x": "v"}}"#, 400, "invalid_variable"),
        ] {
            let err = edit(&store, &Templates, "c1", patch(json), now()).unwrap_err();
            assert_eq!((err.status(), err.code()), (status, code), "{json}");
        }
        assert_eq!(
            crate::campaign::get(&store, "c1").unwrap(),
            edited,
            "a refused edit changes nothing"
        );
        assert!(serde_json::from_str::<CampaignEdit>(r#"{"id": "other"}"#).is_err());
        assert_eq!(
            edit(&store, &Templates, "nope", CampaignEdit::default(), now())
                .unwrap_err()
                .status(),
            404
        );
    }

    #[test]
    fn a_paused_campaign_keeps_its_audience_and_pins_a_new_template() {
        let store = MemoryStore::new();
        scheduled_and_paused(&store, "c1");
        let err = edit_c1(&store, r#"{"audience": {"all_tags": ["vip"]}}"#).unwrap_err();
        assert_eq!((err.status(), err.code()), (409, "audience_frozen"));
        err.assert_mentions("cancel it and create a new campaign");
        let err = edit_c1(&store, r#"{"channel": "telegram:news"}"#).unwrap_err();
        assert_eq!(err.code(), "audience_frozen");
        // Restating the same audience and channel is no change.
        let same = edit_c1(
            &store,
            r#"{"channel": "telegram:shop", "audience": {}, "variables": {"code": "NEW"}}"#,
        )
        .unwrap();
        assert_eq!(
            (same.state, same.template_version),
            (CampaignState::Paused, Some(2))
        );
        assert_eq!(same.variables["code"], "NEW");
        let other = edit_c1(&store, r#"{"template_id": "farewell"}"#).unwrap();
        assert_eq!(
            (other.template_id.as_str(), other.template_version),
            ("farewell", Some(2)),
            "pinned to the new template's latest"
        );
        let older = edit_c1(&store, r#"{"template_version": 1}"#).unwrap();
        assert_eq!(older.template_version, Some(1));
        assert!(older.schedule.is_some());
    }

    #[test]
    fn only_drafts_and_paused_campaigns_are_editable() {
        let store = MemoryStore::new();
        scheduled_and_paused(&store, "c1");
        crate::campaign::resume(&store, "c1", now()).unwrap();
        let err = edit_c1(&store, r#"{"name": "X"}"#).unwrap_err();
        assert_eq!((err.status(), err.code()), (409, "campaign_not_editable"));
        err.assert_mentions("pause it first");
        cancel(&store, "c1", now()).unwrap();
        let err = edit_c1(&store, r#"{"name": "X"}"#).unwrap_err();
        assert_eq!(err.code(), "campaign_not_editable");
        assert_eq!(crate::campaign::get(&store, "c1").unwrap().name, "Launch");
    }

    fn ab_draft(store: &MemoryStore) {
        let request: NewCampaign = serde_json::from_str(
            r#"{"id": "ab", "name": "Promo", "channel": "telegram:shop", "holdout_percent": 10,
                "variants": [{"name": "a", "template_id": "welcome", "weight": 1},
                             {"name": "b", "template_id": "farewell", "template_version": 1, "weight": 1}]}"#,
        )
        .unwrap();
        create(store, &Templates, request, now()).unwrap();
    }

    #[test]
    fn a_drafts_variants_change_and_a_paused_campaigns_are_frozen() {
        let store = MemoryStore::new();
        ab_draft(&store);
        let edited = edit(
            &store,
            &Templates,
            "ab",
            patch(r#"{"holdout_percent": 20}"#),
            now(),
        )
        .unwrap();
        assert_eq!((edited.holdout_percent, edited.variants.len()), (20, 2));
        let err = edit(
            &store,
            &Templates,
            "ab",
            patch(r#"{"variants": [{"name": "a", "template_id": "missing", "weight": 1}]}"#),
            now(),
        )
        .unwrap_err();
        assert_eq!((err.status(), err.code()), (422, "unknown_template"));
        err.assert_mentions("variant 'a'");
        let err = edit(
            &store,
            &Templates,
            "ab",
            patch(r#"{"template_id": "welcome"}"#),
            now(),
        )
        .unwrap_err();
        assert_eq!((err.status(), err.code()), (400, "invalid_variants"));
        // Back to one template: no variants, no holdout.
        let single = edit(
            &store,
            &Templates,
            "ab",
            patch(r#"{"template_id": "welcome", "variants": [], "holdout_percent": 0}"#),
            now(),
        )
        .unwrap();
        assert!(single.variants.is_empty() && single.template_id == "welcome");

        let store = MemoryStore::new();
        ab_draft(&store);
        schedule(&store, &Templates, "ab", &schedule_now(None), now()).unwrap();
        pause(&store, "ab", now()).unwrap();
        let err = edit(
            &store,
            &Templates,
            "ab",
            patch(r#"{"holdout_percent": 0}"#),
            now(),
        )
        .unwrap_err();
        assert_eq!((err.status(), err.code()), (409, "variants_frozen"));
        let renamed = edit(
            &store,
            &Templates,
            "ab",
            patch(r#"{"name": "Promo 2"}"#),
            now(),
        )
        .unwrap();
        assert_eq!(renamed.name, "Promo 2");
        assert_eq!(
            renamed
                .variants
                .iter()
                .map(|v| v.template_version)
                .collect::<Vec<_>>(),
            [Some(3), Some(1)],
            "the versions pinned at scheduling stay"
        );
    }
}
