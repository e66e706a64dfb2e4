//! Subscribers: who may be messaged, on which channel, with what consent, and what we know of them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The most tags one subscriber may carry.
pub const MAX_TAGS: usize = 50;
/// The most attributes one subscriber may carry.
pub const MAX_ATTRIBUTES: usize = 50;
/// The longest attribute value, in characters.
pub const MAX_ATTRIBUTE_VALUE_CHARS: usize = 1024;
/// The longest profile name, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// How many consent events a record keeps (the oldest first are summarised away beyond this).
pub const MAX_CONSENT_EVENTS: usize = 200;

/// A messenger platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Telegram Bot API.
    Telegram,
    /// WhatsApp Cloud API.
    Whatsapp,
}

impl Platform {
    /// Whether the platform reports delivery and reading per message (WhatsApp does, Telegram does not).
    pub fn sends_receipts(self) -> bool {
        matches!(self, Platform::Whatsapp)
    }

    /// The lower-case name used in routes, keys and ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Telegram => "telegram",
            Platform::Whatsapp => "whatsapp",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "telegram" => Ok(Platform::Telegram),
            "whatsapp" => Ok(Platform::Whatsapp),
            other => Err(Error::invalid(
                "invalid_platform",
                format!("platform '{other}' is not one of: telegram, whatsapp"),
            )),
        }
    }
}

/// Whether `s` is 1 to `max` characters of a-z, 0-9, '_' or '-' (ids that are safe inside store keys).
pub(crate) fn is_slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A channel: one account on one platform, e.g. `telegram:shop` (bot "shop") or `whatsapp:1122334455667`
/// (a WhatsApp phone number id). Campaigns target channels; subscribers belong to one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Channel {
    platform: Platform,
    account: String,
}

impl Channel {
    /// Parse `platform:account`; the account is a slug of at most 64 characters.
    ///
    /// # Errors
    /// `invalid_channel` saying which part is wrong.
    pub fn parse(s: &str) -> Result<Self> {
        let (platform, account) = s.split_once(':').ok_or_else(|| {
            Error::invalid(
                "invalid_channel",
                format!(
                    "channel '{s}' must look like 'telegram:<bot>' or 'whatsapp:<phone-number-id>'"
                ),
            )
        })?;
        let platform: Platform = platform.parse().map_err(|_| {
            Error::invalid(
                "invalid_channel",
                format!("channel '{s}': platform must be telegram or whatsapp"),
            )
        })?;
        Self::new(platform, account)
    }

    /// A channel from its parts.
    ///
    /// # Errors
    /// `invalid_channel` when the account is not a slug.
    pub fn new(platform: Platform, account: &str) -> Result<Self> {
        if !is_slug(account, 64) {
            return Err(Error::invalid(
                "invalid_channel",
                format!("account '{account}' must be 1-64 characters of a-z, 0-9, '_' or '-'"),
            ));
        }
        Ok(Channel {
            platform,
            account: account.to_owned(),
        })
    }

    /// The platform.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The account (bot name or phone number id).
    pub fn account(&self) -> &str {
        &self.account
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.account)
    }
}

impl TryFrom<String> for Channel {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Channel::parse(&s)
    }
}

impl From<Channel> for String {
    fn from(c: Channel) -> String {
        c.to_string()
    }
}

/// A subscriber's address on a platform: a Telegram chat id or a WhatsApp id (digits of the phone number).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Address(String);

impl Address {
    /// Parse an address for a platform into its one canonical form, so one person never has two
    /// subscriber ids (or two suppression hashes): Telegram chat ids are integers (negative for
    /// groups) written without leading zeros or '+'; WhatsApp ids are 6 to 15 digits of an E.164
    /// number without '+' (country codes never start with 0).
    ///
    /// # Errors
    /// `invalid_address` saying the expected form.
    pub fn parse(platform: Platform, s: &str) -> Result<Self> {
        let s = s.trim();
        let canonical = match platform {
            Platform::Telegram => s.parse::<i64>().ok().map(|id| id.to_string()),
            Platform::Whatsapp => {
                let digits = s.strip_prefix('+').unwrap_or(s);
                let valid = (6..=15).contains(&digits.len())
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && !digits.starts_with('0');
                valid.then(|| digits.to_owned())
            }
        };
        canonical.map(Address).ok_or_else(|| {
            let expected = match platform {
                Platform::Telegram => "an integer chat id",
                Platform::Whatsapp => {
                    "6 to 15 digits of an international phone number, starting with the country code"
                }
            };
            Error::invalid("invalid_address", format!("address '{s}' is not {expected}"))
        })
    }

    /// The address text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A subscriber's id: `<platform>:<account>:<address>`, derived from channel and address so a webhook
/// finds the record without an index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SubscriberId(String);

impl SubscriberId {
    /// The id of `address` on `channel`.
    pub fn of(channel: &Channel, address: &Address) -> Self {
        SubscriberId(format!("{channel}:{address}"))
    }

    /// Parse an id from a URL or body.
    ///
    /// # Errors
    /// `invalid_subscriber_id` when it is not `<platform>:<account>:<address>`.
    pub fn parse(s: &str) -> Result<Self> {
        let invalid = || {
            Error::invalid(
                "invalid_subscriber_id",
                format!("'{s}' is not a subscriber id like 'telegram:shop:1111111'"),
            )
        };
        let (channel, address) = s.rsplit_once(':').ok_or_else(invalid)?;
        let channel = Channel::parse(channel).map_err(|_| invalid())?;
        let address = Address::parse(channel.platform(), address).map_err(|_| invalid())?;
        Ok(SubscriberId::of(&channel, &address))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tag: lower-case slug of at most 64 characters (input is lower-cased).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    /// Parse a tag.
    ///
    /// # Errors
    /// `invalid_tag`.
    pub fn parse(s: &str) -> Result<Self> {
        let lower = s.trim().to_lowercase();
        if !is_slug(&lower, 64) {
            return Err(Error::invalid(
                "invalid_tag",
                format!("tag '{s}' must be 1-64 characters of a-z, 0-9, '_' or '-'"),
            ));
        }
        Ok(Tag(lower))
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Tag {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Tag::parse(&s)
    }
}

impl From<Tag> for String {
    fn from(t: Tag) -> String {
        t.0
    }
}

/// An attribute name: starts with a letter, then letters, digits or '_', at most 64 (usable in templates).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AttributeName(String);

impl AttributeName {
    /// Parse an attribute name.
    ///
    /// # Errors
    /// `invalid_attribute`.
    pub fn parse(s: &str) -> Result<Self> {
        let mut chars = s.chars();
        let valid = s.len() <= 64
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(Error::invalid(
                "invalid_attribute",
                format!("attribute name '{s}' must start with a letter and hold only letters, digits and '_' (at most 64)"),
            ));
        }
        Ok(AttributeName(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AttributeName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        AttributeName::parse(&s)
    }
}

impl From<AttributeName> for String {
    fn from(a: AttributeName) -> String {
        a.0
    }
}

/// Check an attribute value's length.
///
/// # Errors
/// `invalid_attribute` when longer than [`MAX_ATTRIBUTE_VALUE_CHARS`].
pub fn check_attribute_value(name: &AttributeName, value: &str) -> Result<()> {
    if value.chars().count() > MAX_ATTRIBUTE_VALUE_CHARS {
        return Err(Error::invalid(
            "invalid_attribute",
            format!(
                "attribute '{}' is longer than {MAX_ATTRIBUTE_VALUE_CHARS} characters",
                name.as_str()
            ),
        ));
    }
    Ok(())
}

/// A locale as a BCP 47 language tag, normalised: `en`, `pt-BR`, `zh-Hant`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale(String);

impl Locale {
    /// Parse and normalise a locale (`pt_br` and `PT-br` become `pt-BR`).
    ///
    /// # Errors
    /// `invalid_locale`.
    pub fn parse(s: &str) -> Result<Self> {
        let invalid = || {
            Error::invalid(
                "invalid_locale",
                format!("locale '{s}' is not a language tag like 'en' or 'pt-BR'"),
            )
        };
        let mut parts = s.trim().split(['-', '_']);
        let language = parts
            .next()
            .filter(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()))
            .ok_or_else(invalid)?;
        let mut normalised = language.to_ascii_lowercase();
        for part in parts {
            if part.is_empty() || part.len() > 8 || !part.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(invalid());
            }
            normalised.push('-');
            match part.len() {
                2 => normalised.push_str(&part.to_ascii_uppercase()),
                4 => {
                    let mut chars = part.chars();
                    if let Some(first) = chars.next() {
                        normalised.push(first.to_ascii_uppercase());
                    }
                    normalised.push_str(&chars.as_str().to_ascii_lowercase());
                }
                _ => normalised.push_str(&part.to_ascii_lowercase()),
            }
        }
        Ok(Locale(normalised))
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary language (`pt` for `pt-BR`), for fallback.
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl TryFrom<String> for Locale {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Locale::parse(&s)
    }
}

impl From<Locale> for String {
    fn from(l: Locale) -> String {
        l.0
    }
}

/// An IANA time zone, e.g. `Europe/Berlin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    /// Parse an IANA zone name.
    ///
    /// # Errors
    /// `invalid_timezone`.
    pub fn parse(s: &str) -> Result<Self> {
        s.parse::<chrono_tz::Tz>().map(TimeZone).map_err(|_| {
            Error::invalid(
                "invalid_timezone",
                format!("'{s}' is not an IANA time zone like 'Europe/Berlin'"),
            )
        })
    }

    /// The zone.
    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }
}

impl TryFrom<String> for TimeZone {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        TimeZone::parse(&s)
    }
}

impl From<TimeZone> for String {
    fn from(t: TimeZone) -> String {
        t.0.name().to_owned()
    }
}

/// Whether a subscriber may be messaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Consented and reachable.
    Subscribed,
    /// Asked to stop.
    Unsubscribed,
    /// Blocked the bot or is unreachable; suppressed until they come back.
    Blocked,
}

impl FromStr for SubscriptionStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "subscribed" => Ok(Self::Subscribed),
            "unsubscribed" => Ok(Self::Unsubscribed),
            "blocked" => Ok(Self::Blocked),
            other => Err(Error::invalid(
                "invalid_status",
                format!("status '{other}' is not one of: subscribed, unsubscribed, blocked"),
            )),
        }
    }
}

/// What happened to consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    /// Opted in (command, keyword, or import with evidence).
    Subscribed,
    /// Opted out.
    Unsubscribed,
    /// Blocked the bot / became unreachable.
    Blocked,
    /// Unblocked the bot; counts as a fresh opt-in.
    Unblocked,
}

/// One consent change and its evidence: when, from where, and the platform's reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvent {
    /// What changed.
    pub action: ConsentAction,
    /// When it happened (the platform's time when it gave one).
    pub at: DateTime<Utc>,
    /// How: `telegram:/start`, `telegram:/start?summer-promo`, `whatsapp:keyword`, `import`, `api`, `send:403`…
    pub source: String,
    /// The platform's reference (update id, message id) or the importer's proof, for audits.
    pub evidence: String,
}

/// What the platform told us about the person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Platform user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl Profile {
    /// Trim names to [`MAX_NAME_CHARS`]; platforms allow long names, our templates need not.
    pub fn bounded(self) -> Self {
        let cut = |s: Option<String>| s.map(|s| s.chars().take(MAX_NAME_CHARS).collect());
        Profile {
            first_name: cut(self.first_name),
            last_name: cut(self.last_name),
            username: cut(self.username),
        }
    }
}

/// A subscriber record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscriber {
    /// Derived from channel and address.
    pub id: SubscriberId,
    /// The channel they subscribed on.
    pub channel: Channel,
    /// Their address there.
    pub address: Address,
    /// Whether they may be messaged.
    pub status: SubscriptionStatus,
    /// Every consent change, oldest first.
    pub consent: Vec<ConsentEvent>,
    /// Names from the platform or import.
    #[serde(default)]
    pub profile: Profile,
    /// Preferred locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<Locale>,
    /// Time zone for local-time schedules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<TimeZone>,
    /// Tags for audiences.
    #[serde(default)]
    pub tags: BTreeSet<Tag>,
    /// Free attributes for audiences and templates.
    #[serde(default)]
    pub attributes: BTreeMap<AttributeName, String>,
    /// Where the subscription came from (deep-link payload, import batch…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The last message they sent us; opens WhatsApp's 24-hour service window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// First seen.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Subscriber {
    /// A new subscriber with no consent yet (status unsubscribed until an opt-in is recorded).
    pub fn new(channel: Channel, address: Address, now: DateTime<Utc>) -> Self {
        Subscriber {
            id: SubscriberId::of(&channel, &address),
            channel,
            address,
            status: SubscriptionStatus::Unsubscribed,
            consent: Vec::new(),
            profile: Profile::default(),
            locale: None,
            timezone: None,
            tags: BTreeSet::new(),
            attributes: BTreeMap::new(),
            source: None,
            last_inbound_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Record a consent change and the status it leads to. Returns whether the status changed.
    pub fn record_consent(&mut self, event: ConsentEvent) -> bool {
        let status = match event.action {
            ConsentAction::Subscribed | ConsentAction::Unblocked => SubscriptionStatus::Subscribed,
            ConsentAction::Unsubscribed => SubscriptionStatus::Unsubscribed,
            ConsentAction::Blocked => SubscriptionStatus::Blocked,
        };
        let changed = status != self.status;
        self.status = status;
        self.updated_at = self.updated_at.max(event.at);
        self.consent.push(event);
        if self.consent.len() > MAX_CONSENT_EVENTS {
            // Keep the first opt-in (the original evidence) and the most recent history.
            let excess = self.consent.len() - MAX_CONSENT_EVENTS;
            self.consent.drain(1..=excess);
        }
        changed
    }

    /// Whether a message may be sent now: consent is checked at send time, not only at scheduling.
    pub fn may_receive(&self) -> bool {
        self.status == SubscriptionStatus::Subscribed
    }

    /// Add a tag, within [`MAX_TAGS`].
    ///
    /// # Errors
    /// `too_many_tags`.
    pub fn add_tag(&mut self, tag: Tag) -> Result<()> {
        if !self.tags.contains(&tag) && self.tags.len() >= MAX_TAGS {
            return Err(Error::invalid(
                "too_many_tags",
                format!("a subscriber carries at most {MAX_TAGS} tags"),
            ));
        }
        self.tags.insert(tag);
        Ok(())
    }

    /// Set an attribute, within [`MAX_ATTRIBUTES`]; an empty value removes it.
    ///
    /// # Errors
    /// `too_many_attributes` or `invalid_attribute`.
    pub fn set_attribute(&mut self, name: AttributeName, value: String) -> Result<()> {
        if value.is_empty() {
            self.attributes.remove(&name);
            return Ok(());
        }
        check_attribute_value(&name, &value)?;
        if !self.attributes.contains_key(&name) && self.attributes.len() >= MAX_ATTRIBUTES {
            return Err(Error::invalid(
                "too_many_attributes",
                format!("a subscriber carries at most {MAX_ATTRIBUTES} attributes"),
            ));
        }
        self.attributes.insert(name, value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn channel_parses_and_rejects_clearly() {
        let c = Channel::parse("telegram:shop").unwrap();
        assert_eq!(c.platform(), Platform::Telegram);
        assert_eq!(c.account(), "shop");
        assert_eq!(c.to_string(), "telegram:shop");
        assert_eq!(
            Channel::parse("shop").unwrap_err().code(),
            "invalid_channel"
        );
        assert!(Channel::parse("viber:shop")
            .unwrap_err()
            .message()
            .contains("telegram or whatsapp"));
        assert!(Channel::parse("telegram:Shop Bot").is_err());
    }

    #[test]
    fn addresses_follow_the_platform() {
        assert!(Address::parse(Platform::Telegram, "1111111").is_ok());
        assert!(Address::parse(Platform::Telegram, "-100123").is_ok());
        assert!(Address::parse(Platform::Telegram, "abc").is_err());
        // One chat, one canonical address: leading zeros and '+' do not make a second subscriber.
        assert_eq!(
            Address::parse(Platform::Telegram, "007").unwrap().as_str(),
            "7"
        );
        assert_eq!(
            Address::parse(Platform::Telegram, "+7").unwrap().as_str(),
            "7"
        );
        assert_eq!(
            Address::parse(Platform::Telegram, "-0100")
                .unwrap()
                .as_str(),
            "-100"
        );
        assert!(Address::parse(Platform::Whatsapp, "0972987654321").is_err());
        assert_eq!(
            Address::parse(Platform::Whatsapp, "+972987654321")
                .unwrap()
                .as_str(),
            "972987654321"
        );
        let err = Address::parse(Platform::Whatsapp, "12ab").unwrap_err();
        assert_eq!(err.code(), "invalid_address");
        assert!(err.message().contains("phone number"));
    }

    #[test]
    fn subscriber_id_round_trips() {
        let channel = Channel::parse("telegram:shop").unwrap();
        let id = SubscriberId::of(&channel, &Address::parse(Platform::Telegram, "42").unwrap());
        assert_eq!(id.as_str(), "telegram:shop:42");
        assert_eq!(SubscriberId::parse("telegram:shop:42").unwrap(), id);
        assert!(SubscriberId::parse("telegram:shop:x").is_err());
        assert!(SubscriberId::parse("nonsense").is_err());
    }

    #[test]
    fn tags_are_lowercased_and_bounded() {
        assert_eq!(Tag::parse(" VIP ").unwrap().as_str(), "vip");
        assert_eq!(Tag::parse("has space").unwrap_err().code(), "invalid_tag");
        assert!(Tag::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn locales_are_normalised() {
        assert_eq!(Locale::parse("pt_br").unwrap().as_str(), "pt-BR");
        assert_eq!(Locale::parse("zh-hant").unwrap().as_str(), "zh-Hant");
        assert_eq!(Locale::parse("EN").unwrap().language(), "en");
        assert_eq!(Locale::parse("e").unwrap_err().code(), "invalid_locale");
        assert!(Locale::parse("en-").is_err());
    }

    #[test]
    fn timezones_are_iana_names() {
        assert_eq!(
            String::from(TimeZone::parse("Europe/Berlin").unwrap()),
            "Europe/Berlin"
        );
        assert_eq!(
            TimeZone::parse("Mars/Olympus").unwrap_err().code(),
            "invalid_timezone"
        );
    }

    #[test]
    fn attribute_names_and_values_are_checked() {
        assert!(AttributeName::parse("order_id").is_ok());
        assert!(AttributeName::parse("1st").is_err());
        assert!(AttributeName::parse("a-b").is_err());
        let mut s = Subscriber::new(
            Channel::parse("telegram:shop").unwrap(),
            Address::parse(Platform::Telegram, "1").unwrap(),
            at("2026-01-01T00:00:00Z"),
        );
        let name = AttributeName::parse("city").unwrap();
        assert!(s
            .set_attribute(name.clone(), "x".repeat(MAX_ATTRIBUTE_VALUE_CHARS + 1))
            .is_err());
        s.set_attribute(name.clone(), "Berlin".into()).unwrap();
        s.set_attribute(name.clone(), String::new()).unwrap();
        assert!(s.attributes.is_empty());
    }

    #[test]
    fn consent_changes_status_and_keeps_evidence() {
        let mut s = Subscriber::new(
            Channel::parse("telegram:shop").unwrap(),
            Address::parse(Platform::Telegram, "1").unwrap(),
            at("2026-01-01T00:00:00Z"),
        );
        assert!(!s.may_receive());
        let changed = s.record_consent(ConsentEvent {
            action: ConsentAction::Subscribed,
            at: at("2026-01-02T00:00:00Z"),
            source: "telegram:/start".into(),
            evidence: "update 10000".into(),
        });
        assert!(changed);
        assert!(s.may_receive());
        s.record_consent(ConsentEvent {
            action: ConsentAction::Blocked,
            at: at("2026-01-03T00:00:00Z"),
            source: "telegram:kicked".into(),
            evidence: "update 2".into(),
        });
        assert_eq!(s.status, SubscriptionStatus::Blocked);
        assert!(!s.may_receive());
        assert_eq!(s.consent.len(), 2);
    }

    #[test]
    fn consent_history_is_bounded_but_keeps_the_first_opt_in() {
        let mut s = Subscriber::new(
            Channel::parse("telegram:shop").unwrap(),
            Address::parse(Platform::Telegram, "1").unwrap(),
            at("2026-01-01T00:00:00Z"),
        );
        for i in 0..(MAX_CONSENT_EVENTS + 10) {
            let action = if i % 2 == 0 {
                ConsentAction::Subscribed
            } else {
                ConsentAction::Unsubscribed
            };
            s.record_consent(ConsentEvent {
                action,
                at: at("2026-01-02T00:00:00Z"),
                source: "x".into(),
                evidence: i.to_string(),
            });
        }
        assert_eq!(s.consent.len(), MAX_CONSENT_EVENTS);
        assert_eq!(s.consent[0].evidence, "0");
        assert_eq!(
            s.consent.last().unwrap().evidence,
            (MAX_CONSENT_EVENTS + 9).to_string()
        );
    }
}
