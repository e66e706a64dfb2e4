//! The subscriber directory: create and change subscriber records safely under concurrent webhooks,
//! list them with filters and cursor paging, edit, bulk-import with per-line reports, and erase.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::index::{Index, PAGE_SIZE};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::paging::{self, Page};
use crate::subscriber::{
    Address, AttributeName, Channel, ConsentAction, ConsentEvent, Locale, Profile, Subscriber,
    SubscriberId, SubscriptionStatus, Tag, TimeZone,
};

/// The most lines one import accepts.
pub const MAX_IMPORT_LINES: usize = 10_000;

/// A record as stored: the subscriber plus its place in the subscriber index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSubscriber {
    /// The subscriber.
    #[serde(flatten)]
    pub subscriber: Subscriber,
    /// Position in [`Index::SUBSCRIBERS`]; `None` until indexed. The audience walk skips index entries
    /// whose position differs, so a duplicate index entry never means a duplicate message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_position: Option<u64>,
}

/// Create (if absent) and change the record of `address` on `channel` through compare-and-swap, then
/// make sure it is indexed. An explicit opt-in lifts an erasure suppression.
///
/// # Errors
/// Store failures.
pub fn touch<S, F>(
    store: &S,
    channel: &Channel,
    address: &Address,
    now: DateTime<Utc>,
    opted_in: bool,
    mut change: F,
) -> Result<Subscriber>
where
    S: KvStore + ?Sized,
    F: FnMut(&mut Subscriber),
{
    let key = keys::subscriber(&SubscriberId::of(channel, address));
    let stored = kv::update_json(store, &key, |current: Option<StoredSubscriber>| {
        let mut stored = current.unwrap_or_else(|| StoredSubscriber {
            subscriber: Subscriber::new(channel.clone(), address.clone(), now),
            index_position: None,
        });
        change(&mut stored.subscriber);
        stored.subscriber.updated_at = stored.subscriber.updated_at.max(now);
        Ok((Some(stored.clone()), stored))
    })?;
    if opted_in {
        store.delete(&keys::suppression(channel, &address_hash(address)))?;
    }
    ensure_indexed(store, &key, stored)
}

fn ensure_indexed<S: KvStore + ?Sized>(
    store: &S,
    key: &str,
    stored: StoredSubscriber,
) -> Result<Subscriber> {
    if stored.index_position.is_some() {
        return Ok(stored.subscriber);
    }
    let position = Index::SUBSCRIBERS.append(store, stored.subscriber.id.as_str())?;
    kv::update_json(
        store,
        key,
        |current: Option<StoredSubscriber>| match current {
            // Another request indexed it first; our entry is a duplicate the audience walk skips.
            Some(s) if s.index_position.is_some() => Ok((None, ())),
            Some(mut s) => {
                s.index_position = Some(position);
                Ok((Some(s), ()))
            }
            None => Ok((None, ())),
        },
    )?;
    Ok(stored.subscriber)
}

/// A subscriber by id.
///
/// # Errors
/// 404 when absent (or erased).
pub fn get<S: KvStore + ?Sized>(store: &S, id: &SubscriberId) -> Result<Subscriber> {
    kv::get_json::<_, StoredSubscriber>(store, &keys::subscriber(id))?
        .map(|s| s.subscriber)
        .ok_or_else(|| Error::not_found("subscriber", id.as_str()))
}

/// Filters for listing.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this channel.
    pub channel: Option<Channel>,
    /// Only this status.
    pub status: Option<SubscriptionStatus>,
    /// Only subscribers carrying this tag.
    pub tag: Option<Tag>,
}

impl ListFilter {
    fn matches(&self, s: &Subscriber) -> bool {
        self.channel.as_ref().is_none_or(|c| &s.channel == c)
            && self.status.is_none_or(|st| s.status == st)
            && self.tag.as_ref().is_none_or(|t| s.tags.contains(t))
    }
}

/// List subscribers in the order they were first seen, filtered, from index position `cursor`.
///
/// # Errors
/// Store failures.
pub fn list<S: KvStore + ?Sized>(
    store: &S,
    filter: &ListFilter,
    cursor: u64,
    limit: usize,
) -> Result<Page<Subscriber>> {
    paging::list_index(
        store,
        Index::SUBSCRIBERS,
        cursor,
        limit,
        |id| format!("sub:{id}"),
        // An entry whose position differs from the record's is a duplicate left by a race: skip it.
        |position, record: StoredSubscriber| {
            (record.index_position == Some(position) && filter.matches(&record.subscriber))
                .then_some(record.subscriber)
        },
    )
}

/// Tag changes in a patch: replace the set, or add and remove.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TagPatch {
    /// The new set.
    Replace(Vec<String>),
    /// Additions and removals.
    Change {
        /// Tags to add.
        #[serde(default)]
        add: Vec<String>,
        /// Tags to remove.
        #[serde(default)]
        remove: Vec<String>,
    },
}

/// An edit of a subscriber's data; consent is not editable here (it changes only with evidence).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberPatch {
    /// Tag changes.
    #[serde(default)]
    pub tags: Option<TagPatch>,
    /// Attribute changes; `null` or `""` removes one.
    #[serde(default)]
    pub attributes: Option<BTreeMap<String, Option<serde_json::Value>>>,
    /// A new locale; `null` clears it.
    #[serde(default, with = "double_option")]
    pub locale: Option<Option<String>>,
    /// A new time zone; `null` clears it.
    #[serde(default, with = "double_option")]
    pub timezone: Option<Option<String>>,
    /// Profile names.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Profile names.
    #[serde(default)]
    pub last_name: Option<String>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

fn attribute_text(name: &str, value: &serde_json::Value) -> Result<String> {
    match value {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        serde_json::Value::Null => Ok(String::new()),
        _ => Err(Error::invalid(
            "invalid_attribute",
            format!("attribute '{name}' must be a string, number or boolean"),
        )),
    }
}

/// Validate a patch fully before touching the record, so a bad field changes nothing.
fn apply_patch(subscriber: &mut Subscriber, patch: &SubscriberPatch) -> Result<()> {
    let mut next = subscriber.clone();
    match &patch.tags {
        Some(TagPatch::Replace(tags)) => {
            next.tags.clear();
            for t in tags {
                next.add_tag(Tag::parse(t)?)?;
            }
        }
        Some(TagPatch::Change { add, remove }) => {
            for t in remove {
                next.tags.remove(&Tag::parse(t)?);
            }
            for t in add {
                next.add_tag(Tag::parse(t)?)?;
            }
        }
        None => {}
    }
    for (name, value) in patch.attributes.iter().flatten() {
        let attribute = AttributeName::parse(name)?;
        let text = value
            .as_ref()
            .map(|v| attribute_text(name, v))
            .transpose()?
            .unwrap_or_default();
        next.set_attribute(attribute, text)?;
    }
    if let Some(locale) = &patch.locale {
        next.locale = locale.as_deref().map(Locale::parse).transpose()?;
    }
    if let Some(tz) = &patch.timezone {
        next.timezone = tz.as_deref().map(TimeZone::parse).transpose()?;
    }
    let bounded = Profile {
        first_name: patch.first_name.clone(),
        last_name: patch.last_name.clone(),
        username: None,
    }
    .bounded();
    if bounded.first_name.is_some() {
        next.profile.first_name = bounded.first_name;
    }
    if bounded.last_name.is_some() {
        next.profile.last_name = bounded.last_name;
    }
    *subscriber = next;
    Ok(())
}

/// Edit a subscriber's tags, attributes, locale, time zone or names.
///
/// # Errors
/// 404 when absent; 400 naming the invalid field (nothing is written then).
pub fn patch<S: KvStore + ?Sized>(
    store: &S,
    id: &SubscriberId,
    patch: &SubscriberPatch,
    now: DateTime<Utc>,
) -> Result<Subscriber> {
    kv::update_json(
        store,
        &keys::subscriber(id),
        |current: Option<StoredSubscriber>| {
            let mut stored = current.ok_or_else(|| Error::not_found("subscriber", id.as_str()))?;
            apply_patch(&mut stored.subscriber, patch)?;
            stored.subscriber.updated_at = now;
            Ok((Some(stored.clone()), stored.subscriber))
        },
    )
}

/// The evidence an import must carry for each subscriber: consent is never assumed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedConsent {
    /// When the person consented.
    pub at: DateTime<Utc>,
    /// Where (`checkout-form`, `store-signup`…).
    pub source: String,
    /// The proof (form submission id, signed record…).
    pub evidence: String,
}

/// One line of a JSON-lines import.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportLine {
    /// `telegram:<bot>` or `whatsapp:<phone-number-id>`.
    pub channel: String,
    /// The platform address.
    pub address: String,
    /// Consent evidence (required).
    pub consent: Option<ImportedConsent>,
    /// Names.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Names.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Locale.
    #[serde(default)]
    pub locale: Option<String>,
    /// Time zone.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// A rejected import line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RejectedLine {
    /// 1-based line number.
    pub line: usize,
    /// The error code.
    pub code: String,
    /// What to fix.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct ImportReport {
    /// New subscribers.
    pub created: usize,
    /// Existing subscribers updated.
    pub updated: usize,
    /// Lines rejected, with why.
    pub rejected: Vec<RejectedLine>,
}

fn reject(line: usize, err: &Error) -> RejectedLine {
    RejectedLine {
        line,
        code: err.code().to_owned(),
        message: err.message().to_owned(),
    }
}

fn parse_import_line(text: &str) -> Result<(Channel, Address, ImportLine, ImportedConsent)> {
    let line: ImportLine =
        serde_json::from_str(text).map_err(|e| Error::invalid("invalid_json", e.to_string()))?;
    let channel = Channel::parse(&line.channel)?;
    let address = Address::parse(channel.platform(), &line.address)?;
    let consent = line.consent.clone().ok_or_else(|| {
        Error::invalid(
            "consent_required",
            "each line needs consent {at, source, evidence}: Spinpost never assumes consent",
        )
    })?;
    if consent.source.trim().is_empty()
        || consent.evidence.trim().is_empty()
        || consent.source.len() > 256
        || consent.evidence.len() > 1024
    {
        return Err(Error::invalid(
            "consent_required",
            "consent.source (at most 256) and consent.evidence (at most 1024) must be non-empty",
        ));
    }
    Ok((channel, address, line, consent))
}

fn imported_subscriber(
    base: Subscriber,
    line: &ImportLine,
    consent: &ImportedConsent,
) -> Result<Subscriber> {
    let mut s = base;
    let patch = SubscriberPatch {
        tags: Some(TagPatch::Change {
            add: line.tags.clone(),
            remove: Vec::new(),
        }),
        attributes: Some(
            line.attributes
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
        ),
        locale: line.locale.clone().map(Some),
        timezone: line.timezone.clone().map(Some),
        first_name: line.first_name.clone(),
        last_name: line.last_name.clone(),
    };
    apply_patch(&mut s, &patch)?;
    let event = ConsentEvent {
        action: ConsentAction::Subscribed,
        at: consent.at,
        source: format!("import:{}", consent.source),
        evidence: consent.evidence.clone(),
    };
    // Re-importing the same evidence is not a new consent; a person who opted out stays out unless the
    // evidence is new (e.g. a later signup).
    if !s
        .consent
        .iter()
        .any(|e| e.evidence == event.evidence && e.source == event.source)
    {
        if s.source.is_none() {
            s.source = Some(event.source.clone());
        }
        s.record_consent(event);
    }
    Ok(s)
}

/// Import subscribers from JSON lines. Each line is validated on its own; valid lines are written in
/// batches (new records with one `set_many`), invalid ones reported with their line number.
///
/// # Errors
/// 413 over [`MAX_IMPORT_LINES`]; store failures.
pub fn import<S: KvStore + ?Sized>(
    store: &S,
    body: &str,
    now: DateTime<Utc>,
) -> Result<ImportReport> {
    let lines: Vec<(usize, &str)> = body
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    if lines.len() > MAX_IMPORT_LINES {
        return Err(Error::new(
            crate::ErrorKind::PayloadTooLarge,
            "too_many_lines",
            format!("an import takes at most {MAX_IMPORT_LINES} lines; split the file"),
        ));
    }
    let mut report = ImportReport::default();
    let mut parsed = Vec::new();
    let mut seen_in_file = std::collections::HashSet::new();
    for (number, text) in lines {
        match parse_import_line(text) {
            Ok((channel, address, line, consent)) => {
                let id = SubscriberId::of(&channel, &address);
                if !seen_in_file.insert(id.clone()) {
                    report.rejected.push(RejectedLine {
                        line: number,
                        code: "duplicate_line".into(),
                        message: format!("{id} appears earlier in this import"),
                    });
                    continue;
                }
                parsed.push((number, channel, address, line, consent));
            }
            Err(err) => report.rejected.push(reject(number, &err)),
        }
    }
    for chunk in parsed.chunks(PAGE_SIZE as usize) {
        let record_keys: Vec<String> = chunk
            .iter()
            .map(|(_, c, a, _, _)| keys::subscriber(&SubscriberId::of(c, a)))
            .collect();
        let suppression_keys: Vec<String> = chunk
            .iter()
            .map(|(_, c, a, _, _)| keys::suppression(c, &address_hash(a)))
            .collect();
        let existing: Vec<Option<StoredSubscriber>> = kv::get_many_json(store, &record_keys)?;
        let suppressed = store.get_many(&suppression_keys)?;
        let mut created = Vec::new();
        for (((number, channel, address, line, consent), current), (_, suppression)) in
            chunk.iter().zip(existing).zip(suppressed)
        {
            if suppression.is_some() {
                report.rejected.push(RejectedLine {
                    line: *number,
                    code: "erased".into(),
                    message: format!(
                        "{} was erased at their request; they must opt in again themselves",
                        SubscriberId::of(channel, address)
                    ),
                });
                continue;
            }
            match current {
                None => match imported_subscriber(
                    Subscriber::new(channel.clone(), address.clone(), now),
                    line,
                    consent,
                ) {
                    Ok(s) => created.push(s),
                    Err(err) => report.rejected.push(reject(*number, &err)),
                },
                Some(_) => {
                    // Existing records change through compare-and-swap: a webhook may be writing them now.
                    let key = keys::subscriber(&SubscriberId::of(channel, address));
                    let result =
                        kv::update_json(store, &key, |current: Option<StoredSubscriber>| {
                            let mut stored = current.ok_or_else(|| {
                                Error::conflict("changed", "record vanished during import")
                            })?;
                            stored.subscriber =
                                imported_subscriber(stored.subscriber, line, consent)?;
                            stored.subscriber.updated_at = now;
                            Ok((Some(stored), ()))
                        });
                    match result {
                        Ok(()) => report.updated += 1,
                        Err(err) if err.status() < 500 => {
                            report.rejected.push(reject(*number, &err))
                        }
                        Err(err) => return Err(err),
                    }
                }
            }
        }
        if created.is_empty() {
            continue;
        }
        let first = Index::SUBSCRIBERS.append_many(
            store,
            &created
                .iter()
                .map(|s| s.id.as_str().to_owned())
                .collect::<Vec<_>>(),
        )?;
        let entries: Vec<(String, Vec<u8>)> = created
            .into_iter()
            .enumerate()
            .map(|(i, subscriber)| {
                let key = keys::subscriber(&subscriber.id);
                (
                    key,
                    kv::encode(&StoredSubscriber {
                        subscriber,
                        index_position: Some(first + i as u64),
                    }),
                )
            })
            .collect();
        report.created += entries.len();
        store.set_many(&entries)?;
    }
    report.rejected.sort_by_key(|r| r.line);
    Ok(report)
}

/// What remains after an erasure: no personal data, only enough to refuse a re-import.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Suppression {
    /// When the person was erased.
    pub erased_at: DateTime<Utc>,
}

/// A one-way hash of an address, so a suppression record holds no personal data.
pub fn address_hash(address: &Address) -> String {
    hex::encode(Sha256::digest(address.as_str().as_bytes()))
}

/// Erase a subscriber: the record (names, attributes, consent history), their replies, presses and
/// ratings are deleted, and a suppression record keyed by a hash of the address keeps a re-import from
/// subscribing them again. Campaign counters keep their anonymous totals; delivery ledger entries keep
/// the subscriber id, as the record that each message was sent exactly once.
///
/// # Errors
/// 404 when absent.
pub fn erase<S: KvStore + ?Sized>(store: &S, id: &SubscriberId, now: DateTime<Utc>) -> Result<()> {
    let subscriber = get(store, id)?;
    let suppression = keys::suppression(&subscriber.channel, &address_hash(&subscriber.address));
    // Suppress first: a crash in between leaves a suppressed record, never an erased person re-importable.
    kv::set_json(store, &suppression, &Suppression { erased_at: now })?;
    crate::feedback::erase_subscriber_feedback(store, id)?;
    store.delete_many(&[keys::subscriber(id), keys::last_campaign_message(id)])?;
    Ok(())
}

/// Whether an address was erased on a channel.
///
/// # Errors
/// Store failures.
pub fn is_suppressed<S: KvStore + ?Sized>(
    store: &S,
    channel: &Channel,
    address: &Address,
) -> Result<bool> {
    Ok(store.exists(&keys::suppression(channel, &address_hash(address)))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryStore;
    use crate::subscriber::Platform;

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn line(address: &str, tags: &str) -> String {
        format!(
            r#"{{"channel":"telegram:shop","address":"{address}","first_name":"N{address}","tags":[{tags}],"attributes":{{"city":"Berlin","orders":3}},"consent":{{"at":"2026-01-01T00:00:00Z","source":"checkout","evidence":"form-{address}"}}}}"#
        )
    }

    fn id(address: &str) -> SubscriberId {
        SubscriberId::parse(&format!("telegram:shop:{address}")).unwrap()
    }

    #[test]
    fn import_reports_each_rejected_line_and_writes_the_rest() {
        let store = MemoryStore::new();
        let body = [
            line("1", r#""vip""#),
            "{not json".to_owned(),
            r#"{"channel":"telegram:shop","address":"2"}"#.to_owned(),
            r#"{"channel":"viber:shop","address":"3","consent":{"at":"2026-01-01T00:00:00Z","source":"x","evidence":"y"}}"#.to_owned(),
            line("4", r#""Bad Tag""#),
            line("1", ""),
            line("5", ""),
        ]
        .join("\n");
        let report = import(&store, &body, now()).unwrap();
        assert_eq!(report.created, 2);
        let codes: Vec<(usize, &str)> = report
            .rejected
            .iter()
            .map(|r| (r.line, r.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            vec![
                (2, "invalid_json"),
                (3, "consent_required"),
                (4, "invalid_channel"),
                (5, "invalid_tag"),
                (6, "duplicate_line")
            ]
        );
        let s = get(&store, &id("1")).unwrap();
        assert_eq!(s.status, SubscriptionStatus::Subscribed);
        assert_eq!(s.attributes[&AttributeName::parse("orders").unwrap()], "3");
        assert_eq!(s.consent[0].evidence, "form-1");
        assert!(
            get(&store, &id("4")).is_err(),
            "a rejected line writes nothing"
        );
        assert_eq!(
            list(&store, &ListFilter::default(), 0, 50)
                .unwrap()
                .items
                .len(),
            2
        );
    }

    #[test]
    fn reimport_updates_without_duplicating_consent_or_index_entries() {
        let store = MemoryStore::new();
        import(&store, &line("1", r#""vip""#), now()).unwrap();
        let report = import(&store, &line("1", r#""gold""#), now()).unwrap();
        assert_eq!((report.created, report.updated), (0, 1));
        let s = get(&store, &id("1")).unwrap();
        assert_eq!(s.consent.len(), 1);
        assert_eq!(s.tags.len(), 2);
        assert_eq!(
            list(&store, &ListFilter::default(), 0, 50)
                .unwrap()
                .items
                .len(),
            1
        );
    }

    #[test]
    fn erased_subscribers_are_gone_and_not_reimported() {
        let store = MemoryStore::new();
        import(&store, &line("1", ""), now()).unwrap();
        erase(&store, &id("1"), now()).unwrap();
        assert_eq!(get(&store, &id("1")).unwrap_err().status(), 404);
        let keys = store.get_keys().unwrap();
        assert!(keys.iter().all(|k| !k.starts_with("sub:")), "{keys:?}");
        let report = import(&store, &line("1", ""), now()).unwrap();
        assert_eq!(report.rejected[0].code, "erased");
        assert!(is_suppressed(
            &store,
            &Channel::parse("telegram:shop").unwrap(),
            &Address::parse(Platform::Telegram, "1").unwrap()
        )
        .unwrap());
        // The person opting in again themselves lifts the suppression.
        touch(
            &store,
            &Channel::parse("telegram:shop").unwrap(),
            &Address::parse(Platform::Telegram, "1").unwrap(),
            now(),
            true,
            |_| {},
        )
        .unwrap();
        assert!(!is_suppressed(
            &store,
            &Channel::parse("telegram:shop").unwrap(),
            &Address::parse(Platform::Telegram, "1").unwrap()
        )
        .unwrap());
    }

    #[test]
    fn another_spelling_of_an_erased_address_is_still_refused() {
        let store = MemoryStore::new();
        import(&store, &line("1111111", ""), now()).unwrap();
        erase(&store, &id("1111111"), now()).unwrap();
        for spelling in ["01111111", "+1111111", " 1111111 "] {
            let report = import(&store, &line(spelling, ""), now()).unwrap();
            assert_eq!(report.created, 0, "{spelling}");
            assert_eq!(report.rejected[0].code, "erased", "{spelling}");
        }
    }

    #[test]
    fn list_filters_and_pages_with_a_cursor() {
        let store = MemoryStore::new();
        let body: Vec<String> = (1..=25)
            .map(|i| line(&i.to_string(), if i % 2 == 0 { r#""even""# } else { "" }))
            .collect();
        import(&store, &body.join("\n"), now()).unwrap();
        let filter = ListFilter {
            tag: Some(Tag::parse("even").unwrap()),
            ..ListFilter::default()
        };
        let first = list(&store, &filter, 0, 5).unwrap();
        assert_eq!(first.items.len(), 5);
        let cursor = paging::parse_cursor(first.next_cursor.as_deref()).unwrap();
        let second = list(&store, &filter, cursor, 50).unwrap();
        assert_eq!(second.items.len(), 7);
        assert!(second.next_cursor.is_none());
        let all: Vec<_> = first
            .items
            .iter()
            .chain(&second.items)
            .map(|s| s.id.clone())
            .collect();
        assert_eq!(all.len(), 12);
    }

    #[test]
    fn a_bad_patch_field_changes_nothing() {
        let store = MemoryStore::new();
        import(&store, &line("1", ""), now()).unwrap();
        let patch: SubscriberPatch =
            serde_json::from_str(r#"{"tags":{"add":["new"]},"timezone":"Mars/Base"}"#).unwrap();
        assert_eq!(
            super::patch(&store, &id("1"), &patch, now())
                .unwrap_err()
                .code(),
            "invalid_timezone"
        );
        assert!(get(&store, &id("1")).unwrap().tags.is_empty());
        let patch: SubscriberPatch =
            serde_json::from_str(r#"{"tags":["a","b"],"attributes":{"city":null,"tier":"gold"},"locale":"pt_br","timezone":"Europe/Lisbon"}"#).unwrap();
        let s = super::patch(&store, &id("1"), &patch, now()).unwrap();
        assert_eq!(s.tags.len(), 2);
        assert_eq!(
            s.attributes.len(),
            2,
            "city removed, orders kept, tier added"
        );
        assert_eq!(s.locale.unwrap().as_str(), "pt-BR");
        assert!(
            serde_json::from_str::<SubscriberPatch>(r#"{"status":"subscribed"}"#).is_err(),
            "consent is not patchable"
        );
    }

    #[test]
    fn concurrent_touches_index_a_subscriber_once_for_the_audience() {
        let store = std::sync::Arc::new(MemoryStore::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let store = std::sync::Arc::clone(&store);
                std::thread::spawn(move || {
                    let channel = Channel::parse("telegram:shop").unwrap();
                    let address = Address::parse(Platform::Telegram, "7").unwrap();
                    touch(store.as_ref(), &channel, &address, now(), true, |_| {}).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            list(store.as_ref(), &ListFilter::default(), 0, 50)
                .unwrap()
                .items
                .len(),
            1
        );
    }
}
