//! Deleting a campaign or a template across capabilities: campaigns know which of them may go and who
//! uses a template, delivery owns the ledger, templates own their versions. This is the one place that
//! takes those steps, in an order that keeps a deletion safe to interrupt and to repeat.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::campaign;
use crate::delivery;
use crate::error::{Error, Result};
use crate::kv::KvStore;
use crate::template;

/// What deleting a campaign removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignDeletion {
    /// The deleted (and now retired) campaign id.
    pub deleted: String,
    /// Its delivery ledger batches removed.
    pub ledger_batches: u64,
    /// Its feedback statistics and exports stay readable under the retired id.
    pub feedback_kept: bool,
}

/// Delete a draft, cancelled or completed campaign: its id is retired first, then its delivery ledger
/// (batches and cursor) is removed, then its record and its place among active campaigns. Its feedback
/// statistics, exports and receipt records stay: they are the business's history, and an erased
/// person's feedback is already gone from them.
///
/// # Errors
/// As [`campaign::deletable`]: 404, 409 `campaign_not_deletable` or `campaign_closing`; store failures.
pub fn delete_campaign<S: KvStore + ?Sized>(
    store: &S,
    id: &str,
    now: DateTime<Utc>,
) -> Result<CampaignDeletion> {
    let found = campaign::deletable(store, id)?;
    campaign::retire(store, &found, now)?;
    let ledger_batches = delivery::delete_ledger(store, found.id.as_str(), found.run_date())?;
    campaign::delete_record(store, &found.id)?;
    Ok(CampaignDeletion {
        deleted: found.id.as_str().to_owned(),
        ledger_batches,
        feedback_kept: true,
    })
}

/// What deleting a template removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateDeletion {
    /// The deleted template id.
    pub deleted: String,
    /// How many versions it had.
    pub versions: u32,
}

/// Delete a template with every version, unless a scheduled, running or paused campaign renders it.
/// Drafts that name it stay; scheduling one fails until a template of that id exists again.
///
/// # Errors
/// 404 for an unknown template; 409 `template_in_use` naming the campaigns (also under
/// `error.details.campaigns`); store failures.
pub fn delete_template<S: KvStore + ?Sized>(store: &S, id: &str) -> Result<TemplateDeletion> {
    let head = template::load_head(store, id)?;
    let users = campaign::using_template(store, head.id.as_str())?;
    if !users.is_empty() {
        return Err(Error::conflict(
            "template_in_use",
            format!(
                "template '{id}' is used by campaign(s) {}; cancel them or let them complete first",
                users.join(", ")
            ),
        )
        .with_details(serde_json::json!({ "campaigns": users })));
    }
    template::delete_template(store, &head)?;
    Ok(TemplateDeletion {
        deleted: head.id.as_str().to_owned(),
        versions: head.latest_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{NewCampaign, ScheduleRequest, TemplateVersions};
    use crate::kv::MemoryStore;
    use crate::template::NewTemplate;

    struct StoredTemplates<'a>(&'a MemoryStore);

    impl TemplateVersions for StoredTemplates<'_> {
        fn resolve(&self, template_id: &str, version: Option<u32>) -> Result<u32> {
            Ok(template::load_version(self.0, template_id, version)?.version())
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-01T10:00:00Z".parse().unwrap()
    }

    fn create_template(store: &MemoryStore) {
        let request: NewTemplate = serde_json::from_str(
            r#"{"id": "promo", "name": "Promo", "locales": {"en": {"text": "Hi"}}}"#,
        )
        .unwrap();
        template::create_template(store, request, now()).unwrap();
    }

    fn campaign_using_promo(store: &MemoryStore, id: &str) {
        let request: NewCampaign = serde_json::from_str(&format!(
            r#"{{"id": "{id}", "name": "N", "channel": "telegram:shop", "template_id": "promo"}}"#
        ))
        .unwrap();
        campaign::create(store, &StoredTemplates(store), request, now()).unwrap();
    }

    #[test]
    fn a_template_in_use_is_kept_and_the_campaigns_are_named() {
        let store = MemoryStore::new();
        create_template(&store);
        for id in ["c1", "c2", "draft"] {
            campaign_using_promo(&store, id);
        }
        let request = ScheduleRequest {
            send_at: "now".into(),
            timezone: None,
            template_version: None,
            per_recipient_timezone: false,
            recurring: None,
        };
        for id in ["c1", "c2"] {
            campaign::schedule(&store, &StoredTemplates(&store), id, &request, now()).unwrap();
        }
        campaign::pause(&store, "c2", now()).unwrap();
        let err = delete_template(&store, "promo").unwrap_err();
        assert_eq!((err.status(), err.code()), (409, "template_in_use"));
        err.assert_mentions("c1, c2");
        let body: serde_json::Value = serde_json::from_slice(&err.to_json()).unwrap();
        assert_eq!(
            body["error"]["details"]["campaigns"],
            serde_json::json!(["c1", "c2"])
        );
        assert!(template::load_latest(&store, "promo").is_ok());

        for id in ["c1", "c2"] {
            campaign::cancel(&store, id, now()).unwrap();
        }
        let deleted = delete_template(&store, "promo").unwrap();
        assert_eq!((deleted.deleted.as_str(), deleted.versions), ("promo", 1));
        assert_eq!(
            template::load_head(&store, "promo").unwrap_err().status(),
            404
        );
        assert_eq!(
            template::load_version(&store, "promo", Some(1))
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(delete_template(&store, "promo").unwrap_err().status(), 404);
    }

    #[test]
    fn a_deleted_template_id_can_be_created_again_and_is_listed_once() {
        let store = MemoryStore::new();
        create_template(&store);
        template::update_template(
            &store,
            "promo",
            serde_json::from_str(r#"{"locales": {"en": {"text": "Hello"}}}"#).unwrap(),
            now(),
        )
        .unwrap();
        assert_eq!(delete_template(&store, "promo").unwrap().versions, 2);
        assert!(template::list_templates(&store, 0, 10)
            .unwrap()
            .items
            .is_empty());
        create_template(&store);
        let listed = template::list_templates(&store, 0, 10).unwrap();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(
            template::load_latest(&store, "promo")
                .unwrap()
                .version
                .version(),
            1
        );
        assert!(store
            .get_keys()
            .unwrap()
            .iter()
            .all(|k| !k.starts_with("tpl-deleted:")));
    }

    #[test]
    fn deleting_a_draft_retires_its_id() {
        let store = MemoryStore::new();
        create_template(&store);
        campaign_using_promo(&store, "c1");
        let deleted = delete_campaign(&store, "c1", now()).unwrap();
        assert_eq!(deleted.ledger_batches, 0);
        assert_eq!(campaign::get(&store, "c1").unwrap_err().status(), 404);
        let request: NewCampaign = serde_json::from_str(
            r#"{"id": "c1", "name": "N", "channel": "telegram:shop", "template_id": "promo"}"#,
        )
        .unwrap();
        assert_eq!(
            campaign::create(&store, &StoredTemplates(&store), request, now())
                .unwrap_err()
                .code(),
            "campaign_id_retired"
        );
        assert_eq!(
            delete_campaign(&store, "c1", now()).unwrap_err().status(),
            404
        );
    }
}
