//! The campaign record, its validated parts (id, audience, variables) and the create request.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::kind::MessageKind;
use crate::error::{Error, Result};
use crate::newtype::{check_slug_id, validated_string};
use crate::subscriber::is_slug;
use crate::subscriber::{AttributeName, Channel, ConsentAction, Subscriber, Tag, TimeZone};

/// The longest campaign id: rating button data `rate:<id>:<score>` must fit Telegram's 64 bytes.
pub const MAX_CAMPAIGN_ID_CHARS: usize = 40;
/// The longest campaign name, in characters.
pub const MAX_CAMPAIGN_NAME_CHARS: usize = 200;
/// The most campaign variables.
pub const MAX_VARIABLES: usize = 50;
/// The longest variable value, in characters.
pub const MAX_VARIABLE_VALUE_CHARS: usize = 1024;
/// The most tags in each of an audience's `all_tags` and `any_tags`.
pub const MAX_AUDIENCE_TAGS: usize = 20;
/// The most attribute conditions in an audience.
pub const MAX_AUDIENCE_ATTRIBUTES: usize = 20;
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

/// Who a campaign goes to, besides its channel: subscribers carrying every tag of `all_tags`, at least
/// one of `any_tags` (when given), and exactly the given attribute values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// Tags a recipient must all carry.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub all_tags: BTreeSet<Tag>,
    /// Tags of which a recipient must carry at least one (ignored when empty).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub any_tags: BTreeSet<Tag>,
    /// Attribute values a recipient must have, compared exactly.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<AttributeName, String>,
}

impl Audience {
    /// Check the sizes.
    ///
    /// # Errors
    /// 400 `invalid_audience` naming the limit.
    pub fn validate(&self) -> Result<()> {
        if self.all_tags.len() > MAX_AUDIENCE_TAGS || self.any_tags.len() > MAX_AUDIENCE_TAGS {
            return Err(Error::invalid(
                "invalid_audience",
                format!("all_tags and any_tags hold at most {MAX_AUDIENCE_TAGS} tags each"),
            ));
        }
        if self.attributes.len() > MAX_AUDIENCE_ATTRIBUTES {
            return Err(Error::invalid(
                "invalid_audience",
                format!("audience.attributes holds at most {MAX_AUDIENCE_ATTRIBUTES} conditions"),
            ));
        }
        for (name, value) in &self.attributes {
            crate::subscriber::check_attribute_value(name, value)?;
        }
        Ok(())
    }

    /// Whether `subscriber` on `channel` belongs to this audience (consent is judged separately).
    pub fn matches(&self, channel: &Channel, subscriber: &Subscriber) -> bool {
        &subscriber.channel == channel
            && self.all_tags.iter().all(|t| subscriber.tags.contains(t))
            && (self.any_tags.is_empty()
                || self.any_tags.iter().any(|t| subscriber.tags.contains(t)))
            && self
                .attributes
                .iter()
                .all(|(name, value)| subscriber.attributes.get(name) == Some(value))
    }
}

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
    /// When the schedule was set: the audience is those subscribed at this moment (and still subscribed
    /// when their message goes out).
    pub scheduled_at: DateTime<Utc>,
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
    /// The template to render.
    pub template_id: String,
    /// Transactional or promotional (a broadcast is promotional; an event rule says which it is).
    #[serde(default)]
    pub kind: MessageKind,
    /// The template version, pinned when scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_version: Option<u32>,
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
    /// When sending began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it completed or was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl Campaign {
    /// Whether `subscriber` is a recipient: in the audience, and either subscribed now or subscribed when
    /// the campaign was scheduled (a withdrawal since then is recorded as a skip at send time, so the
    /// ledger shows why they got nothing).
    pub fn targets(&self, subscriber: &Subscriber) -> bool {
        if !self.audience.matches(&self.channel, subscriber) {
            return false;
        }
        subscriber.may_receive()
            || self
                .schedule
                .as_ref()
                .is_some_and(|s| was_subscribed_at(subscriber, s.scheduled_at))
    }
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
    /// The template id.
    pub template_id: String,
    /// A template version to pin now (otherwise the latest when scheduled).
    pub template_version: Option<u32>,
    /// Campaign variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Audience filters.
    #[serde(default)]
    pub audience: Audience,
}

impl NewCampaign {
    /// Validate into a draft campaign.
    ///
    /// # Errors
    /// 400 with a code naming the field: `invalid_campaign_id`, `invalid_name`, `invalid_channel`,
    /// `invalid_template_id`, `invalid_template_version`, `invalid_variable`, `invalid_audience`.
    pub fn into_draft(self, now: DateTime<Utc>) -> Result<Campaign> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_CAMPAIGN_NAME_CHARS {
            return Err(Error::invalid(
                "invalid_name",
                format!("name must be 1-{MAX_CAMPAIGN_NAME_CHARS} characters"),
            ));
        }
        let id = match self.id.as_deref() {
            Some(id) => CampaignId::parse(id)?,
            None => CampaignId::generate(&name, now),
        };
        let channel = Channel::parse(&self.channel)?;
        if !is_slug(&self.template_id, MAX_TEMPLATE_ID_CHARS) {
            return Err(Error::invalid(
                "invalid_template_id",
                format!("template_id '{}' must be 1-{MAX_TEMPLATE_ID_CHARS} characters of a-z, 0-9, '_' or '-'", self.template_id),
            ));
        }
        if self.template_version == Some(0) {
            return Err(Error::invalid(
                "invalid_template_version",
                "template_version starts at 1",
            ));
        }
        validate_variables(&self.variables)?;
        self.audience.validate()?;
        Ok(Campaign {
            id,
            name,
            channel,
            template_id: self.template_id,
            kind: MessageKind::Promotional,
            template_version: self.template_version,
            variables: self.variables,
            audience: self.audience,
            state: CampaignState::Draft,
            schedule: None,
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
    use crate::subscriber::{Address, ConsentEvent, Platform};

    fn now() -> DateTime<Utc> {
        "2026-11-01T10:00:00Z".parse().unwrap()
    }

    fn request(json: &str) -> NewCampaign {
        serde_json::from_str(json).unwrap()
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

    #[test]
    fn audiences_filter_by_channel_tags_and_attributes() {
        let audience: Audience = serde_json::from_str(
            r#"{"all_tags": ["vip"], "any_tags": ["de", "at"], "attributes": {"city": "Berlin"}}"#,
        )
        .unwrap();
        let shop = Channel::parse("telegram:shop").unwrap();
        assert!(audience.matches(&shop, &subscriber(&["vip", "de"], Some("Berlin"))));
        assert!(
            !audience.matches(&shop, &subscriber(&["de"], Some("Berlin"))),
            "missing an all-tag"
        );
        assert!(
            !audience.matches(&shop, &subscriber(&["vip", "fr"], Some("Berlin"))),
            "none of the any-tags"
        );
        assert!(
            !audience.matches(&shop, &subscriber(&["vip", "at"], Some("Munich"))),
            "attribute differs"
        );
        assert!(
            !audience.matches(&shop, &subscriber(&["vip", "at"], None)),
            "attribute absent"
        );
        assert!(
            !audience.matches(
                &Channel::parse("telegram:other").unwrap(),
                &subscriber(&["vip", "de"], Some("Berlin"))
            ),
            "other channel"
        );
        assert!(Audience::default().matches(&shop, &subscriber(&[], None)));
    }

    #[test]
    fn recipients_are_those_subscribed_when_scheduled_or_now() {
        let mut campaign =
            request(r#"{"name": "n", "channel": "telegram:shop", "template_id": "t"}"#)
                .into_draft(now())
                .unwrap();
        let scheduled_at = now() + chrono::Duration::hours(1);
        campaign.schedule = Some(Schedule {
            send_at: scheduled_at,
            timezone: None,
            local_time: None,
            scheduled_at,
        });
        let mut withdrew_later = subscriber(&[], None);
        withdrew_later.record_consent(ConsentEvent {
            action: ConsentAction::Unsubscribed,
            at: scheduled_at + chrono::Duration::minutes(5),
            source: "api".into(),
            evidence: "x".into(),
        });
        assert!(campaign.targets(&withdrew_later));
        let mut withdrew_before = subscriber(&[], None);
        withdrew_before.record_consent(ConsentEvent {
            action: ConsentAction::Unsubscribed,
            at: now(),
            source: "api".into(),
            evidence: "y".into(),
        });
        withdrew_before.consent[1].at = now() + chrono::Duration::minutes(1);
        assert!(!campaign.targets(&withdrew_before));
        assert!(campaign.targets(&subscriber(&[], None)));
    }
}
