//! Campaigns: a message (a pinned template version and variables) to an audience on one channel, at a
//! time. This module owns the record, its validation, the schedule and the life-cycle state machine;
//! [`crate::delivery`] does the sending.

mod deleted;
mod edit;
#[cfg(test)]
mod fixtures;
mod kind;
pub mod local_time;
mod model;
mod quiet_hours;
mod recurrence;
mod schedule;
mod service;
mod variants;

pub use deleted::{deletable, delete_record, is_retired, retire, DeletedCampaign};
pub use edit::{edit, CampaignEdit};
pub use kind::MessageKind;
pub use model::{
    Audience, Campaign, CampaignId, CampaignState, NewCampaign, Recipients, Schedule,
    EVENT_RULE_ID_PREFIX, MAX_AUDIENCE_ATTRIBUTES, MAX_AUDIENCE_TAGS, MAX_CAMPAIGN_ID_CHARS,
    MAX_CAMPAIGN_NAME_CHARS, MAX_VARIABLES, MAX_VARIABLE_VALUE_CHARS,
};
pub use quiet_hours::{workspace_quiet_hours, QuietHours, QuietHoursSetting};
pub use recurrence::{run_id, Every, Recurrence, RecurringRequest, MAX_ONCE_PER_DAYS};
pub use schedule::{ScheduleRequest, Transition};
pub use service::{
    active_ids, arm_names, cancel, change, create, get, is_active, list, pause, remove_active,
    resume, schedule, using_template, with_latest_templates, ActiveCampaigns, TemplateVersions,
};
pub use variants::{
    split_point, validate_variants, Arm, Variant, HOLDOUT_ARM, MAX_HOLDOUT_PERCENT, MAX_VARIANTS,
    MAX_VARIANT_WEIGHT,
};
