//! What the campaign tests share: a template catalogue, a clock reading and a create request.

use chrono::{DateTime, Utc};

use super::model::NewCampaign;
use super::schedule::ScheduleRequest;
use super::service::{create, TemplateVersions};
use crate::error::{Error, Result};
use crate::kv::MemoryStore;

/// Templates `welcome` (versions 1-3) and `farewell` (versions 1-2).
pub struct Templates;

impl TemplateVersions for Templates {
    fn resolve(&self, template_id: &str, version: Option<u32>) -> Result<u32> {
        let latest = match template_id {
            "welcome" => 3,
            "farewell" => 2,
            _ => return Err(Error::not_found("template", template_id)),
        };
        match version {
            None => Ok(latest),
            Some(v) if (1..=latest).contains(&v) => Ok(v),
            Some(_) => Err(Error::not_found("template", template_id)),
        }
    }
}

/// The tests' "now".
pub fn now() -> DateTime<Utc> {
    "2026-11-01T10:00:00Z".parse().unwrap()
}

/// A create request for campaign `id` on `telegram:shop` with template `welcome`.
pub fn new(id: &str) -> NewCampaign {
    serde_json::from_str(&format!(r#"{{"id": "{id}", "name": "Launch", "channel": "telegram:shop", "template_id": "welcome"}}"#)).unwrap()
}

/// A request to send now, pinning `template_version` (the latest when `None`).
pub fn schedule_now(template_version: Option<u32>) -> ScheduleRequest {
    ScheduleRequest {
        send_at: "now".into(),
        timezone: None,
        template_version,
        per_recipient_timezone: false,
        recurring: None,
    }
}

/// A store holding the draft campaign `id` (made by [`new`] with [`Templates`]).
pub fn store_with_draft(id: &str) -> MemoryStore {
    let store = MemoryStore::new();
    create(&store, &Templates, new(id), now()).unwrap();
    store
}
