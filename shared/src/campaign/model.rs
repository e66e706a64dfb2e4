//! The campaign record, its validated parts (id, audience, variables) and the create request.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::kind::MessageKind;
use crate::error::{Error, Result};
use crate::newtype::{check_slug_id, validated_string};
use crate::segment::{Segment, Selector};
use crate::subscriber::is_slug;
use crate::subscriber::{AttributeName, Channel, ConsentAction, Subscriber, TimeZone};

use super::local_time::resolve_local;
use super::quiet_hours::QuietHoursSetting;
use super::recurrence::Recurrence;

use super::variants::{validate_variants, Variant};

/// The longest campaign id: rating button data `rate:<id>:<score>` must fit Telegram's 64 bytes.
pub const MAX_CAMPAIGN_ID_CHARS: usize = 40;
/// The start of the campaign-like ids event rules send and count under (`r--<rule>`); no campaign id
/// may start with it.
pub const EVENT_RULE_ID_PREFIX: &str = "r--";
/// The longest campaign name, in characters.
pub const MAX_CAMPAIGN_NAME_CHARS: usize = 200;
/// The most campaign variables.
pub const MAX_VARIABLES: usize = 50;
/// The longest variable value, in characters.
pub const MAX_VARIABLE_VALUE_CHARS: usize = 1024;
/// The most tags in each of an audience's `all_tags` and `any_tags`.
pub const MAX_AUDIENCE_TAGS: usize = crate::segment::MAX_SEGMENT_TAGS;
/// The most attribute conditions in an audience.
pub const MAX_AUDIENCE_ATTRIBUTES: usize = crate::segment::MAX_SEGMENT_ATTRIBUTES;
/// The longest template id.
const MAX_TEMPLATE_ID_CHARS: usize = 64;

validated_string! {
    /// A campaign id: 1-40 characters of a-z, 0-9, '_' and '-', given by the client or generated from the name.
    pub struct CampaignId;
}

impl CampaignId {
    /// Parse a client-given id.
    ///
    /// # Errors
    /// 400 `invalid_campaign_id` saying the allowed form.
    pub fn parse(s: &str) -> Result<Self> {
        check_slug_id(
            s,
            MAX_CAMPAIGN_ID_CHARS,
            "invalid_campaign_id",
            "campaign id",
        )?;
        Ok(CampaignId(s.to_owned()))
    }

    /// An id made of the name's slug and a time stamp, e.g. `black-friday-m3x9k2a1b`.
    pub fn generate(name: &str, now: DateTime<Utc>) -> Self {
        let mut slug = String::new();
        for c in name.to_lowercase().chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let stamp = base36(u64::try_from(now.timestamp_micros()).unwrap_or_default());
        let room = MAX_CAMPAIGN_ID_CHARS - stamp.len() - 1;
        let mut slug: String = slug.chars().take(room).collect();
        while slug.ends_with('-') {
            slug.pop();
        }
        if slug.is_empty() {
            slug.push_str("campaign");
        }
        CampaignId(format!("{slug}-{stamp}"))
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Created, not scheduled; can be edited, scheduled or deleted.
    Draft,
    /// Waiting for its send time.
    Scheduled,
    /// Sending.
    Running,
    /// Held by an operator; resumes where it stopped.
    Paused,
    /// Stopped for good; recipients already claimed are finalised as skipped.
    Cancelled,
    /// Every recipient has a final state.
    Completed,
}

impl CampaignState {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Draft => "draft",
            CampaignState::Scheduled => "scheduled",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Cancelled => "cancelled",
            CampaignState::Completed => "completed",
        }
    }
}

impl fmt::Display for CampaignState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a campaign goes to, besides its channel and consent: a [`Segment`] of the filter language
/// subscriber searches use too (tags, attribute values, conditions).
pub type Audience = Segment;

/// When a campaign sends, as asked and as resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// The instant sending starts.
    pub send_at: DateTime<Utc>,
    /// The zone a local time was given in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<TimeZone>,
    /// The local wall-clock time as given, when it was given that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_time: Option<NaiveDateTime>,
    /// Each recipient is due when `local_time` comes in their own timezone (those without one: in
    /// `timezone`); `send_at` is then when it first comes anywhere (UTC+14).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_recipient_timezone: bool,
    /// When the schedule was set: those subscribed at this moment or when sending starts are recipients
    /// (see [`Recipients`]); a withdrawal since is recorded as a skip when their message is due.
    pub scheduled_at: DateTime<Utc>,
    /// For a recurring campaign: how it recurs (the fields above are then its current run's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Recurrence>,
}

impl Schedule {
    /// When a recipient in `zone` (`None`: without one) is due: `send_at`, or for a per-recipient
    /// schedule the instant `local_time` comes in their zone (else the schedule's).
    pub fn due_in(&self, zone: Option<TimeZone>) -> DateTime<Utc> {
        match (self.per_recipient_timezone, self.local_time) {
            (true, Some(local)) => match zone.or(self.timezone) {
                Some(zone) => resolve_local(local, zone.tz()),
                None => self.send_at,
            },
            _ => self.send_at,
        }
    }
}

/// A campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// The id.
    pub id: CampaignId,
    /// The display name.
    pub name: String,
    /// The channel it sends on, e.g. `telegram:shop`.
    pub channel: Channel,
    /// The template to render; empty (and absent from JSON) when the campaign has variants.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub template_id: String,
    /// Transactional or promotional (a broadcast is promotional; an event rule says which it is).
    #[serde(default)]
    pub kind: MessageKind,
    /// The template version, pinned when scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_version: Option<u32>,
    /// A/B variants, each sent to a weighted share of the audience (their versions pinned when
    /// scheduled); empty for a campaign with one template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
    /// The share of the audience (percent) held back from a campaign with variants: sent nothing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub holdout_percent: u8,
    /// Values templates see as `campaign.variables.<name>`.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Who it goes to on its channel.
    #[serde(default)]
    pub audience: Audience,
    /// The life-cycle state.
    pub state: CampaignState,
    /// When it sends; absent for a draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Which quiet hours hold its messages back: the workspace's (`default`), its own, or `none`
    /// (transactional messages).
    #[serde(default, skip_serializing_if = "QuietHoursSetting::is_workspace")]
    pub quiet_hours: QuietHoursSetting,
    /// When sending began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it completed or was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl Campaign {
    /// The zone a recipient's local times are judged in (quiet hours, calendar days): theirs, else the
    /// zone the campaign was scheduled in, else UTC.
    pub fn recipient_zone(&self, subscriber: Option<&Subscriber>) -> chrono_tz::Tz {
        subscriber
            .and_then(|s| s.timezone)
            .or_else(|| self.schedule.as_ref().and_then(|s| s.timezone))
            .map_or(chrono_tz::Tz::UTC, TimeZone::tz)
    }

    /// The instant the audience is frozen at: when sending started, or — before that — when it is
    /// due to start (`now` if that has passed, or for a draft).
    pub fn audience_frozen_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.started_at.unwrap_or_else(|| {
            self.schedule
                .as_ref()
                .map_or(now, |schedule| schedule.send_at.max(now))
        })
    }

    /// The recipient test of the audience frozen at `frozen_at` (see [`Recipients`]).
    pub fn recipients_at(&self, frozen_at: DateTime<Utc>) -> Recipients<'_> {
        Recipients {
            channel: &self.channel,
            selector: self.audience.at(
                frozen_at,
                self.schedule
                    .as_ref()
                    .and_then(|s| s.timezone)
                    .map(TimeZone::tz),
            ),
            scheduled_at: self.schedule.as_ref().map(|s| s.scheduled_at),
            frozen_at,
            each_at_own_time: self
                .schedule
                .as_ref()
                .filter(|s| s.per_recipient_timezone && s.recurrence.is_some()),
        }
    }
}

/// Who a campaign sends to, as frozen at one instant (when it started): subscribers on its channel who
/// existed then and were subscribed then or when the campaign was scheduled (a withdrawal since is
/// recorded as a skip at send time, so the ledger shows why they got nothing), and who are in its
/// audience, with relative conditions judged at that instant. Someone created, or subscribed for the
/// first time since the scheduling, after the start is not a recipient, however far the walk is.
/// Tags and attributes are read as the walk reaches each record, moments before their message.
#[derive(Debug, Clone)]
pub struct Recipients<'a> {
    channel: &'a Channel,
    selector: Selector<'a>,
    scheduled_at: Option<DateTime<Utc>>,
    frozen_at: DateTime<Utc>,
    /// A recurring run per recipient timezone judges each person's relative conditions at their own
    /// send time (a birthday is the run's date where they live).
    each_at_own_time: Option<&'a Schedule>,
}

impl Recipients<'_> {
    /// Whether `subscriber` is in the audience on the campaign's channel, whatever their consent.
    pub fn in_audience(&self, subscriber: &Subscriber) -> bool {
        &subscriber.channel == self.channel
            && match self.each_at_own_time {
                Some(schedule) => self
                    .selector
                    .matches_at(subscriber, schedule.due_in(subscriber.timezone)),
                None => self.selector.matches(subscriber),
            }
    }

    /// Whether `subscriber` was one of the recipients when the audience froze.
    pub fn includes(&self, subscriber: &Subscriber) -> bool {
        self.in_audience(subscriber) && self.existed_and_subscribed(subscriber)
    }

    /// Whether `subscriber` existed when the audience froze and was subscribed then or when the
    /// campaign was scheduled (audience aside).
    pub fn existed_and_subscribed(&self, subscriber: &Subscriber) -> bool {
        let subscribed_when_scheduled = self
            .scheduled_at
            .filter(|at| *at <= self.frozen_at)
            .is_some_and(|at| was_subscribed_at(subscriber, at));
        subscriber.created_at <= self.frozen_at
            && (subscribed_when_scheduled || was_subscribed_at(subscriber, self.frozen_at))
    }
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// Whether the latest consent change at or before `at` was an opt-in.
fn was_subscribed_at(subscriber: &Subscriber, at: DateTime<Utc>) -> bool {
    subscriber
        .consent
        .iter()
        .filter(|e| e.at <= at)
        .max_by_key(|e| e.at)
        .is_some_and(|e| {
            matches!(
                e.action,
                ConsentAction::Subscribed | ConsentAction::Unblocked
            )
        })
}

/// The body of `POST /api/v1/campaigns`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    /// A client-chosen id; generated from the name when absent.
    pub id: Option<String>,
    /// The display name.
    pub name: String,
    /// `telegram:<bot>` or `whatsapp:<phone-number-id>`.
    pub channel: String,
    /// The template id; left out when `variants` are given.
    #[serde(default)]
    pub template_id: String,
    /// A template version to pin now (otherwise the latest when scheduled).
    pub template_version: Option<u32>,
    /// A/B variants (at most 4) instead of `template_id`.
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// The share of the audience (0-50 percent) that receives nothing; needs variants.
    #[serde(default)]
    pub holdout_percent: u8,
    /// Campaign variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Audience filters.
    #[serde(default)]
    pub audience: Audience,
    /// `"default"` (the workspace's quiet hours), `"none"`, or its own span like `"22:00-08:00"`.
    #[serde(default)]
    pub quiet_hours: QuietHoursSetting,
}

impl NewCampaign {
    /// Validate into a draft campaign.
    ///
    /// # Errors
    /// 400 with a code naming the field: `invalid_campaign_id`, `invalid_name`, `invalid_channel`,
    /// `invalid_template_id`, `invalid_template_version`, `invalid_variable`, `invalid_audience`, and
    /// those of [`validate_variants`].
    pub fn into_draft(self, now: DateTime<Utc>) -> Result<Campaign> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_CAMPAIGN_NAME_CHARS {
            return Err(Error::invalid(
                "invalid_name",
                format!("name must be 1-{MAX_CAMPAIGN_NAME_CHARS} characters"),
            ));
        }
        let id = match self.id.as_deref() {
            Some(id) if id.starts_with(EVENT_RULE_ID_PREFIX) => {
                return Err(Error::invalid(
                    "invalid_campaign_id",
                    format!("campaign ids starting with '{EVENT_RULE_ID_PREFIX}' are kept for event rules' statistics; choose another id"),
                ))
            }
            Some(id) => CampaignId::parse(id)?,
            // A generated id never holds "--", so never the rules' prefix.
            None => CampaignId::generate(&name, now),
        };
        let channel = Channel::parse(&self.channel)?;
        validate_variants(&self.variants, self.holdout_percent, &self.template_id)?;
        let has_variants = !self.variants.is_empty();
        if !has_variants && !is_slug(&self.template_id, MAX_TEMPLATE_ID_CHARS) {
            return Err(Error::invalid(
                "invalid_template_id",
                format!("template_id '{}' must be 1-{MAX_TEMPLATE_ID_CHARS} characters of a-z, 0-9, '_' or '-' (or give variants instead)", self.template_id),
            ));
        }
        if self.template_version == Some(0) || (has_variants && self.template_version.is_some()) {
            return Err(Error::invalid(
                "invalid_template_version",
                if has_variants {
                    "a campaign with variants pins each variant's template_version in variants"
                } else {
                    "template_version starts at 1"
                },
            ));
        }
        validate_variables(&self.variables)?;
        self.audience.validate("audience")?;
        Ok(Campaign {
            id,
            name,
            channel,
            template_id: self.template_id,
            kind: MessageKind::Promotional,
            template_version: self.template_version,
            variants: self.variants,
            holdout_percent: self.holdout_percent,
            variables: self.variables,
            audience: self.audience,
            state: CampaignState::Draft,
            schedule: None,
            quiet_hours: self.quiet_hours,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
        })
    }
}

fn validate_variables(variables: &BTreeMap<String, String>) -> Result<()> {
    if variables.len() > MAX_VARIABLES {
        return Err(Error::invalid(
            "invalid_variable",
            format!("a campaign has at most {MAX_VARIABLES} variables"),
        ));
    }
    for (name, value) in variables {
        AttributeName::parse(name).map_err(|_| {
            Error::invalid("invalid_variable", format!("variable name '{name}' must start with a letter and hold only letters, digits and '_' (at most 64)"))
        })?;
        if value.chars().count() > MAX_VARIABLE_VALUE_CHARS {
            return Err(Error::invalid(
                "invalid_variable",
                format!("variable '{name}' is longer than {MAX_VARIABLE_VALUE_CHARS} characters"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriber::{Address, ConsentEvent, Platform, Tag};

    fn now() -> DateTime<Utc> {
        "2026-11-01T10:00:00Z".parse().unwrap()
    }

    fn request(json: &str) -> NewCampaign {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_event_rules_prefix_is_no_campaign_id() {
        let err = request(
            r#"{"id": "r--order-shipped", "name": "n", "channel": "telegram:shop", "template_id": "t"}"#,
        )
        .into_draft(now())
        .unwrap_err();
        assert_eq!(err.code(), "invalid_campaign_id");
        assert!(err.message().contains("event rules"), "{}", err.message());
        let generated = CampaignId::generate("R -- sale", now());
        assert!(!generated.as_str().starts_with(EVENT_RULE_ID_PREFIX));
    }

    #[test]
    fn ids_are_slugs_of_at_most_40_characters() {
        assert!(CampaignId::parse("black-friday_2026").is_ok());
        assert_eq!(
            CampaignId::parse("Black Friday").unwrap_err().code(),
            "invalid_campaign_id"
        );
        assert!(CampaignId::parse(&"a".repeat(41)).is_err());
        let generated =
            CampaignId::generate("Black Friday: 50% off everything in the shop today!", now());
        assert!(
            generated.as_str().len() <= MAX_CAMPAIGN_ID_CHARS,
            "{generated}"
        );
        assert!(
            generated.as_str().starts_with("black-friday-50-off"),
            "{generated}"
        );
        assert!(CampaignId::parse(generated.as_str()).is_ok());
        assert!(CampaignId::generate("★★★", now())
            .as_str()
            .starts_with("campaign-"));
    }

    #[test]
    fn drafts_validate_every_field_with_a_code() {
        let ok = request(
            r#"{"name": "Launch", "channel": "telegram:shop", "template_id": "welcome", "variables": {"code": "X1"}}"#,
        );
        let draft = ok.into_draft(now()).unwrap();
        assert_eq!(draft.state, CampaignState::Draft);
        assert_eq!(draft.channel.to_string(), "telegram:shop");
        let cases = [
            (
                r#"{"name": " ", "channel": "telegram:shop", "template_id": "t"}"#,
                "invalid_name",
            ),
            (
                r#"{"name": "n", "channel": "sms:shop", "template_id": "t"}"#,
                "invalid_channel",
            ),
            (
                r#"{"name": "n", "channel": "telegram:shop", "template_id": "T 1"}"#,
                "invalid_template_id",
            ),
            (
                r#"{"name": "n", "channel": "telegram:shop", "template_id": "t", "template_version": 0}"#,
                "invalid_template_version",
            ),
            (
                r#"{"name": "n", "channel": "telegram:shop", "template_id": "t", "variables": {"1x": "v"}}"#,
                "invalid_variable",
            ),
            (
                r#"{"id": "Bad Id", "name": "n", "channel": "telegram:shop", "template_id": "t"}"#,
                "invalid_campaign_id",
            ),
        ];
        for (json, code) in cases {
            assert_eq!(
                request(json).into_draft(now()).unwrap_err().code(),
                code,
                "{json}"
            );
        }
        assert!(serde_json::from_str::<NewCampaign>(r#"{"name": "n", "channel": "telegram:shop", "template_id": "t", "audience": {"all_tags": ["has space"]}}"#).is_err());
    }

    fn subscriber(tags: &[&str], city: Option<&str>) -> Subscriber {
        let channel = Channel::parse("telegram:shop").unwrap();
        let mut s = Subscriber::new(
            channel,
            Address::parse(Platform::Telegram, "1").unwrap(),
            now(),
        );
        for t in tags {
            s.add_tag(Tag::parse(t).unwrap()).unwrap();
        }
        if let Some(city) = city {
            s.set_attribute(AttributeName::parse("city").unwrap(), city.into())
                .unwrap();
        }
        s.record_consent(ConsentEvent {
            action: ConsentAction::Subscribed,
            at: now(),
            source: "api".into(),
            evidence: "e".into(),
        });
        s
    }

    /// Whether `audience` on `channel` selects `subscriber` now, consent aside.
    fn selects(audience: &Audience, channel: &Channel, subscriber: &Subscriber) -> bool {
        let mut campaign =
            request(r#"{"name": "n", "channel": "telegram:shop", "template_id": "t"}"#)
                .into_draft(now())
                .unwrap();
        campaign.channel = channel.clone();
        campaign.audience = audience.clone();
        campaign.recipients_at(now()).in_audience(subscriber)
    }

    #[test]
    fn audiences_filter_by_channel_tags_and_attributes() {
        let audience: Audience = serde_json::from_str(
            r#"{"all_tags": ["vip"], "any_tags": ["de", "at"], "attributes": {"city": "Berlin"}}"#,
        )
        .unwrap();
        let shop = Channel::parse("telegram:shop").unwrap();
        assert!(selects(
            &audience,
            &shop,
            &subscriber(&["vip", "de"], Some("Berlin"))
        ));
        assert!(
            !selects(&audience, &shop, &subscriber(&["de"], Some("Berlin"))),
            "missing an all-tag"
        );
        assert!(
            !selects(
                &audience,
                &shop,
                &subscriber(&["vip", "fr"], Some("Berlin"))
            ),
            "none of the any-tags"
        );
        assert!(
            !selects(
                &audience,
                &shop,
                &subscriber(&["vip", "at"], Some("Munich"))
            ),
            "attribute differs"
        );
        assert!(
            !selects(&audience, &shop, &subscriber(&["vip", "at"], None)),
            "attribute absent"
        );
        assert!(
            !selects(
                &audience,
                &Channel::parse("telegram:other").unwrap(),
                &subscriber(&["vip", "de"], Some("Berlin"))
            ),
            "other channel"
        );
        assert!(selects(&Audience::default(), &shop, &subscriber(&[], None)));
    }

    /// A subscriber who opted in at [`now`] and then changed their consent as `changes` say.
    fn with_consent(changes: &[(ConsentAction, DateTime<Utc>)]) -> Subscriber {
        let mut s = subscriber(&[], None);
        for &(action, at) in changes {
            s.record_consent(ConsentEvent {
                action,
                at,
                source: "api".into(),
                evidence: at.to_rfc3339(),
            });
        }
        s
    }

    #[test]
    fn the_audience_freezes_when_sending_starts() {
        let mut campaign =
            request(r#"{"name": "n", "channel": "telegram:shop", "template_id": "t"}"#)
                .into_draft(now())
                .unwrap();
        let minutes = |n: i64| now() + chrono::Duration::minutes(n);
        assert_eq!(campaign.audience_frozen_at(now()), now(), "a draft: now");
        campaign.schedule = Some(Schedule {
            send_at: minutes(60),
            timezone: None,
            local_time: None,
            per_recipient_timezone: false,
            scheduled_at: now(),
            recurrence: None,
        });
        assert_eq!(
            campaign.audience_frozen_at(now()),
            minutes(60),
            "its send time"
        );
        assert_eq!(
            campaign.audience_frozen_at(minutes(90)),
            minutes(90),
            "overdue: now"
        );
        campaign.started_at = Some(minutes(61));
        assert_eq!(campaign.audience_frozen_at(minutes(500)), minutes(61));
        let recipients = campaign.recipients_at(minutes(61));

        let withdrew_later = with_consent(&[(ConsentAction::Unsubscribed, minutes(65))]);
        assert!(
            recipients.includes(&withdrew_later),
            "skipped at send time, in the ledger"
        );
        let withdrew_before_the_start = with_consent(&[(ConsentAction::Unsubscribed, minutes(30))]);
        assert!(
            recipients.includes(&withdrew_before_the_start),
            "subscribed when scheduled: skipped at send time, in the ledger"
        );
        let mut withdrew_before = with_consent(&[(ConsentAction::Unsubscribed, minutes(-10))]);
        withdrew_before.consent[0].at = minutes(-20);
        assert!(
            !recipients.includes(&withdrew_before),
            "unsubscribed when scheduled and started"
        );
        let mut came_back_later = with_consent(&[
            (ConsentAction::Unsubscribed, minutes(-10)),
            (ConsentAction::Subscribed, minutes(70)),
        ]);
        came_back_later.consent[0].at = minutes(-20);
        assert!(came_back_later.may_receive());
        assert!(
            !recipients.includes(&came_back_later),
            "resubscribed after the start"
        );
        let mut imported_later = subscriber(&[], None);
        imported_later.created_at = minutes(62);
        assert!(
            !recipients.includes(&imported_later),
            "created after the start, even with older consent evidence"
        );
        assert!(recipients.includes(&subscriber(&[], None)));
    }
}
