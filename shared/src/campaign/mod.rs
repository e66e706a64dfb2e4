//! Campaigns: a message (a pinned template version and variables) to an audience on one channel, at a
//! time. This module owns the record, its validation, the schedule and the life-cycle state machine;
//! [`crate::delivery`] does the sending.

mod deleted;
mod edit;
#[cfg(test)]
mod fixtures;
mod kind;
mod model;
mod schedule;
mod service;

pub use deleted::{deletable, delete_record, is_retired, retire, DeletedCampaign};
pub use edit::{edit, CampaignEdit};
pub use kind::MessageKind;
pub use model::{
    Audience, Campaign, CampaignId, CampaignState, NewCampaign, Schedule, MAX_AUDIENCE_ATTRIBUTES,
    MAX_AUDIENCE_TAGS, MAX_CAMPAIGN_ID_CHARS, MAX_CAMPAIGN_NAME_CHARS, MAX_VARIABLES,
    MAX_VARIABLE_VALUE_CHARS,
};
pub use schedule::{ScheduleRequest, Transition};
pub use service::{
    active_ids, cancel, change, create, get, is_active, list, pause, remove_active, resume,
    schedule, using_template, ActiveCampaigns, TemplateVersions,
};
