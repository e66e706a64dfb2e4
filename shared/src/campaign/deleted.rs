//! Deleting a campaign, as far as the campaign records go: which campaigns may be deleted, and the small
//! record that retires a deleted campaign's id. The id is never used again, because the campaign's
//! feedback statistics and exports are kept under it as the business's history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::Channel;

use super::model::{Campaign, CampaignId, CampaignState};
use super::service::{active_ids, get};

/// What remains of a deleted campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedCampaign {
    /// The retired id.
    pub id: CampaignId,
    /// Its name when deleted.
    pub name: String,
    /// Its channel.
    pub channel: Channel,
    /// Its state when deleted: `draft`, `cancelled` or `completed`.
    pub state: CampaignState,
    /// When it was deleted.
    pub deleted_at: DateTime<Utc>,
    /// Its A/B arms, whose statistics are kept too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arms: Vec<String>,
}

/// Whether `id` belonged to a deleted campaign.
///
/// # Errors
/// Store failures.
pub fn is_retired<S: KvStore + ?Sized>(store: &S, id: &str) -> Result<bool> {
    Ok(store.exists(&keys::deleted_campaign(id))?)
}

/// The campaign `id` if it may be deleted now: a draft, a completed campaign, or a cancelled one the
/// scheduler has finished closing (its claimed recipients all have a final state).
///
/// # Errors
/// 404 for an unknown id; 409 `campaign_not_deletable` while it is scheduled, running or paused; 409
/// `campaign_closing` while a cancelled campaign's claimed recipients are still being finalised.
pub fn deletable<S: KvStore + ?Sized>(store: &S, id: &str) -> Result<Campaign> {
    let campaign = get(store, id)?;
    match campaign.state {
        CampaignState::Draft | CampaignState::Completed => Ok(campaign),
        CampaignState::Cancelled => {
            if active_ids(store)?.iter().any(|active| active == id) {
                return Err(Error::conflict(
                    "campaign_closing",
                    format!("campaign '{id}' was cancelled and the scheduler is still closing its claimed batches; retry after the next tick"),
                ));
            }
            Ok(campaign)
        }
        CampaignState::Scheduled | CampaignState::Running | CampaignState::Paused => {
            Err(Error::conflict(
                "campaign_not_deletable",
                format!(
                    "campaign '{id}' is {}; only draft, cancelled or completed campaigns can be deleted (cancel it first)",
                    campaign.state
                ),
            ))
        }
    }
}

/// Retire the campaign's id, before anything of it is deleted: a deletion that stops half way leaves a
/// retired id whose remains the next `DELETE` removes, never an id that a new campaign could take over
/// together with the old one's statistics.
///
/// # Errors
/// Store failures.
pub fn retire<S: KvStore + ?Sized>(
    store: &S,
    campaign: &Campaign,
    now: DateTime<Utc>,
) -> Result<DeletedCampaign> {
    let deleted = DeletedCampaign {
        id: campaign.id.clone(),
        name: campaign.name.clone(),
        channel: campaign.channel.clone(),
        state: campaign.state,
        deleted_at: now,
        arms: campaign.arm_names(),
    };
    kv::set_json(
        store,
        &keys::deleted_campaign(campaign.id.as_str()),
        &deleted,
    )?;
    Ok(deleted)
}

/// Remove the campaign's record and its place in the active set: the last step of a deletion, after its
/// ledger is gone, so a deletion that stops half way can be finished by deleting again.
///
/// # Errors
/// Store failures.
pub fn delete_record<S: KvStore + ?Sized>(store: &S, id: &CampaignId) -> Result<()> {
    super::service::remove_active(store, id.as_str())?;
    Ok(store.delete(&keys::campaign(id.as_str()))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::fixtures::{new, now, schedule_now, store_with_draft, Templates};
    use crate::campaign::{cancel, create, schedule};
    use crate::kv::MemoryStore;

    #[test]
    fn drafts_completed_and_closed_cancelled_campaigns_are_deletable() {
        let store = store_with_draft("c1");
        assert_eq!(deletable(&store, "c1").unwrap().state, CampaignState::Draft);
        schedule(&store, &Templates, "c1", &schedule_now(None), now()).unwrap();
        let err = deletable(&store, "c1").unwrap_err();
        assert_eq!((err.status(), err.code()), (409, "campaign_not_deletable"));
        err.assert_mentions("cancel it first");
        cancel(&store, "c1", now()).unwrap();
        let err = deletable(&store, "c1").unwrap_err();
        assert_eq!((err.status(), err.code()), (409, "campaign_closing"));
        crate::campaign::remove_active(&store, "c1").unwrap();
        assert_eq!(
            deletable(&store, "c1").unwrap().state,
            CampaignState::Cancelled
        );
        assert_eq!(deletable(&store, "nope").unwrap_err().status(), 404);
    }

    #[test]
    fn a_retired_id_cannot_be_created_again() {
        let store = MemoryStore::new();
        let campaign = create(&store, &Templates, new("c1"), now()).unwrap();
        let deleted = retire(&store, &campaign, now()).unwrap();
        delete_record(&store, &campaign.id).unwrap();
        assert_eq!(deleted.state, CampaignState::Draft);
        assert!(is_retired(&store, "c1").unwrap());
        assert_eq!(
            crate::campaign::get(&store, "c1").unwrap_err().status(),
            404
        );
        let err = create(&store, &Templates, new("c1"), now()).unwrap_err();
        assert_eq!((err.status(), err.code()), (409, "campaign_id_retired"));
        assert!(crate::campaign::list(&store, 0, 10)
            .unwrap()
            .items
            .is_empty());
    }
}
