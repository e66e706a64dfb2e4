//! Bulk import from JSON lines, with consent evidence required and a report per rejected line.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::external_id::{list_under, write_reindexed};
use super::patch::apply_patch;
use super::{suppression_key, StoredSubscriber, SubscriberPatch, TagPatch};
use crate::error::{Error, ErrorKind, Result};
use crate::index::{Index, PAGE_SIZE};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::{
    Address, Channel, ConsentAction, ConsentEvent, Profile, Subscriber, SubscriberId,
};

/// The most lines one import accepts.
pub const MAX_IMPORT_LINES: usize = 10_000;

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
    /// Consent evidence (required; absent only to be reported as missing). Like it, the optional
    /// fields below may be left out: serde reads a missing `Option` as `None`.
    pub consent: Option<ImportedConsent>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Locale, e.g. `pt-BR`.
    pub locale: Option<String>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// The business's customer id.
    pub external_id: Option<String>,
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

/// How far in the future an imported consent may be dated: clock skew between the importing system and
/// this one, not a consent that has not happened yet.
const CONSENT_CLOCK_SKEW: Duration = Duration::minutes(5);

fn parse_import_line(
    text: &str,
    now: DateTime<Utc>,
) -> Result<(Channel, Address, ImportLine, ImportedConsent)> {
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
    if consent.at > now + CONSENT_CLOCK_SKEW {
        return Err(Error::invalid(
            "consent_in_future",
            format!(
                "consent.at {} lies in the future; give the time the person consented",
                consent.at.to_rfc3339()
            ),
        ));
    }
    Profile {
        first_name: line.first_name.clone(),
        last_name: line.last_name.clone(),
        username: None,
    }
    .checked()?;
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
        external_id: line.external_id.clone().map(Some),
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

/// A new subscriber from a line, listed under its external id before the record exists (see
/// [`super::external_id`]); the caller writes the records of a chunk together.
fn create_line<S: KvStore + ?Sized>(
    store: &S,
    channel: &Channel,
    address: &Address,
    line: &ImportLine,
    consent: &ImportedConsent,
    now: DateTime<Utc>,
) -> Result<Subscriber> {
    let subscriber = imported_subscriber(
        Subscriber::new(channel.clone(), address.clone(), now),
        line,
        consent,
    )?;
    if let Some(external_id) = &subscriber.external_id {
        list_under(store, external_id, &subscriber.id)?;
    }
    Ok(subscriber)
}

/// An existing subscriber changed by a line, through compare-and-swap (a webhook may be writing the
/// record now), validated before anything is written and reindexed when the line gives an external id.
fn update_line<S: KvStore + ?Sized>(
    store: &S,
    existing: StoredSubscriber,
    line: &ImportLine,
    consent: &ImportedConsent,
    now: DateTime<Utc>,
) -> Result<()> {
    let id = existing.subscriber.id.clone();
    let checked = imported_subscriber(existing.subscriber, line, consent)?;
    let write = || {
        kv::update_json(
            store,
            &keys::subscriber(&id),
            |current: Option<StoredSubscriber>| {
                let mut stored = current
                    .ok_or_else(|| Error::conflict("changed", "record vanished during import"))?;
                let previous = stored.subscriber.external_id.clone();
                stored.subscriber = imported_subscriber(stored.subscriber, line, consent)?;
                stored.subscriber.updated_at = now;
                Ok((Some(stored), ((), previous)))
            },
        )
    };
    match checked
        .external_id
        .as_ref()
        .filter(|_| line.external_id.is_some())
    {
        Some(next) => write_reindexed(store, &id, Some(next), write),
        None => write().map(|_| ()),
    }
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
            ErrorKind::PayloadTooLarge,
            "too_many_lines",
            format!("an import takes at most {MAX_IMPORT_LINES} lines; split the file"),
        ));
    }
    let mut report = ImportReport::default();
    let mut parsed = Vec::new();
    let mut seen_in_file = HashSet::new();
    for (number, text) in lines {
        match parse_import_line(text, now) {
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
            .map(|(_, c, a, _, _)| suppression_key(c, a))
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
            let result = match current {
                None => create_line(store, channel, address, line, consent, now).map(Some),
                Some(existing) => update_line(store, existing, line, consent, now).map(|()| None),
            };
            match result {
                Ok(Some(subscriber)) => created.push(subscriber),
                Ok(None) => report.updated += 1,
                Err(err) if err.status() < 500 => report.rejected.push(reject(*number, &err)),
                Err(err) => return Err(err),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixtures::{id, line, listed, now};
    use crate::directory::get;
    use crate::kv::MemoryStore;
    use crate::subscriber::{AttributeName, SubscriptionStatus};

    #[test]
    fn a_consent_dated_in_the_future_or_an_overlong_name_rejects_the_line() {
        let store = MemoryStore::new();
        let consent =
            |at: &str| format!(r#""consent":{{"at":"{at}","source":"form","evidence":"e"}}"#);
        let skewed = (now() + Duration::minutes(4)).to_rfc3339();
        let body = [
            format!(
                r#"{{"channel":"telegram:shop","address":"1",{}}}"#,
                consent("9999-12-31T00:00:00Z")
            ),
            format!(
                r#"{{"channel":"telegram:shop","address":"2","first_name":"{}",{}}}"#,
                "a".repeat(100_000),
                consent("2026-01-01T00:00:00Z")
            ),
            format!(
                r#"{{"channel":"telegram:shop","address":"3",{}}}"#,
                consent(&skewed)
            ),
        ]
        .join("\n");
        let report = import(&store, &body, now()).unwrap();
        let codes: Vec<(usize, &str)> = report
            .rejected
            .iter()
            .map(|r| (r.line, r.code.as_str()))
            .collect();
        assert_eq!(codes, [(1, "consent_in_future"), (2, "name_too_long")]);
        assert_eq!(
            report.rejected[1].message,
            "first_name is 100000 characters; at most 256"
        );
        assert_eq!(report.created, 1, "a few minutes of clock skew is accepted");
        assert!(store.get(&keys::subscriber(&id("1"))).unwrap().is_none());
    }

    #[test]
    fn import_reports_each_rejected_line_and_writes_the_rest() {
        let store = MemoryStore::new();
        let body = [
            line("1", r#""vip""#),
            "{not json".to_owned(),
            r#"{"channel":"telegram:shop","address":"2"}"#.to_owned(),
            r#"{"channel":"icq:shop","address":"3","consent":{"at":"2026-01-01T00:00:00Z","source":"x","evidence":"y"}}"#.to_owned(),
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
        assert_eq!(listed(&store), 2);
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
        assert_eq!(listed(&store), 1);
    }
}
