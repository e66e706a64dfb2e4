//! Who is who: the index from a business's customer id ([`ExternalId`]) to the subscribers carrying
//! it, so a lookup reads one index record and the records it names, never a scan.
//!
//! The store has no transaction across keys, so every change keeps one invariant instead: the index
//! lists at least every subscriber whose record carries the id. A new id is listed before the record
//! is written and the previous one unlisted after, each by compare-and-swap; a failure in between
//! leaves an extra entry, and [`subscribers_of`] answers only the subscribers whose record carries
//! the id. Erasure unlists a person before their record is deleted (see [`super::erase`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::StoredSubscriber;
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::{self, KvStore};
pub use crate::subscriber::ExternalId;
use crate::subscriber::{Subscriber, SubscriberId};

/// The most subscribers one external id may have (one per channel is the usual case).
pub const MAX_SUBSCRIBERS_PER_EXTERNAL_ID: usize = 100;

const FULL: &str =
    "this external_id already has 100 subscribers (the most); clear it on some first";

/// One external id's index record.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Listing {
    subscribers: Vec<SubscriberId>,
}

fn index_key(external_id: &ExternalId) -> String {
    keys::external_id_index(&hex::encode(Sha256::digest(
        external_id.as_str().as_bytes(),
    )))
}

/// The subscribers carrying `external_id`, in the order they were given it: one read of the index
/// and one batch read of the records it lists.
///
/// # Errors
/// Store failures.
pub fn subscribers_of<S: KvStore + ?Sized>(
    store: &S,
    external_id: &ExternalId,
) -> Result<Vec<SubscriberId>> {
    Ok(records_of(store, external_id)?
        .into_iter()
        .map(|subscriber| subscriber.id)
        .collect())
}

/// The records of [`subscribers_of`].
///
/// # Errors
/// Store failures.
pub fn records_of<S: KvStore + ?Sized>(
    store: &S,
    external_id: &ExternalId,
) -> Result<Vec<Subscriber>> {
    let listing: Listing = kv::get_json(store, &index_key(external_id))?.unwrap_or_default();
    if listing.subscribers.is_empty() {
        return Ok(Vec::new());
    }
    let record_keys: Vec<String> = listing.subscribers.iter().map(keys::subscriber).collect();
    let records: Vec<Option<StoredSubscriber>> = kv::get_many_json(store, &record_keys)?;
    // An entry whose record no longer carries the id is one an interrupted change left behind.
    Ok(records
        .into_iter()
        .flatten()
        .map(|stored| stored.subscriber)
        .filter(|subscriber| subscriber.external_id.as_ref() == Some(external_id))
        .collect())
}

/// List `id` under `external_id` (before its record is given the id).
///
/// # Errors
/// 422 `too_many_subscribers` past [`MAX_SUBSCRIBERS_PER_EXTERNAL_ID`]; store failures.
pub(crate) fn list_under<S: KvStore + ?Sized>(
    store: &S,
    external_id: &ExternalId,
    id: &SubscriberId,
) -> Result<()> {
    kv::update_json(
        store,
        &index_key(external_id),
        |current: Option<Listing>| {
            let mut listing = current.unwrap_or_default();
            if listing.subscribers.contains(id) {
                return Ok((None, ()));
            }
            if listing.subscribers.len() >= MAX_SUBSCRIBERS_PER_EXTERNAL_ID {
                return Err(Error::unprocessable("too_many_subscribers", FULL));
            }
            listing.subscribers.push(id.clone());
            Ok((Some(listing), ()))
        },
    )
}

/// Unlist `id` from `external_id` (after its record no longer carries the id). An emptied index record
/// stays, holding no subscriber: the store cannot delete a key by compare-and-swap, and deleting it
/// otherwise could drop a subscriber listed meanwhile.
///
/// # Errors
/// Store failures.
pub(crate) fn unlist<S: KvStore + ?Sized>(
    store: &S,
    external_id: &ExternalId,
    id: &SubscriberId,
) -> Result<()> {
    kv::update_json(
        store,
        &index_key(external_id),
        |current: Option<Listing>| match current {
            Some(mut listing) if listing.subscribers.contains(id) => {
                listing.subscribers.retain(|listed| listed != id);
                Ok((Some(listing), ()))
            }
            _ => Ok((None, ())),
        },
    )
}

/// Write one record whose external id may change, keeping the index right around the write.
///
/// `next` is the id the write gives the record (`None`: it clears it); `write` writes the record and
/// returns its result and the id the record carried before, as the write saw it.
///
/// # Errors
/// As [`list_under`], or the error of `write` (nothing is then unlisted).
pub(crate) fn write_reindexed<S, T>(
    store: &S,
    id: &SubscriberId,
    next: Option<&ExternalId>,
    write: impl FnOnce() -> Result<(T, Option<ExternalId>)>,
) -> Result<T>
where
    S: KvStore + ?Sized,
{
    if let Some(next) = next {
        list_under(store, next, id)?;
    }
    let (result, previous) = write()?;
    if let Some(previous) = previous.filter(|previous| Some(previous) != next) {
        unlist(store, &previous, id)?;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixtures::{id, line, now};
    use crate::directory::{erase, get, import, list, patch, ListFilter, SubscriberPatch};
    use crate::kv::MemoryStore;

    fn customer(s: &str) -> ExternalId {
        ExternalId::parse(s).unwrap()
    }

    /// The subscribers a lookup of `external_id` answers.
    fn of(store: &MemoryStore, external_id: &str) -> Vec<SubscriberId> {
        subscribers_of(store, &customer(external_id)).unwrap()
    }

    fn set(store: &MemoryStore, address: &str, external_id: &str) -> Result<()> {
        let body = format!(r#"{{"external_id":{external_id}}}"#);
        let change: SubscriberPatch = serde_json::from_str(&body).unwrap();
        patch(store, &id(address), &change, now()).map(|_| ())
    }

    /// An import line for `address` on `channel` carrying `external_id`.
    fn line_on(channel: &str, address: &str, external_id: &str) -> String {
        format!(
            r#"{{"channel":"{channel}","address":"{address}","external_id":"{external_id}","consent":{{"at":"2026-01-01T00:00:00Z","source":"checkout","evidence":"form-{address}"}}}}"#
        )
    }

    #[test]
    fn the_index_follows_set_change_clear_and_erase() {
        let store = MemoryStore::new();
        import(
            &store,
            &format!("{}\n{}", line("1", ""), line("2", "")),
            now(),
        )
        .unwrap();
        assert!(of(&store, "cus_1").is_empty());

        set(&store, "1", r#""cus_1""#).unwrap();
        assert_eq!(of(&store, "cus_1"), [id("1")]);
        assert_eq!(
            get(&store, &id("1")).unwrap().external_id,
            Some(customer("cus_1"))
        );

        set(&store, "1", r#""cus_2""#).unwrap();
        assert!(of(&store, "cus_1").is_empty());
        assert_eq!(of(&store, "cus_2"), [id("1")]);

        set(&store, "2", r#""cus_2""#).unwrap();
        assert_eq!(of(&store, "cus_2"), [id("1"), id("2")]);

        set(&store, "1", "null").unwrap();
        assert_eq!(get(&store, &id("1")).unwrap().external_id, None);
        assert_eq!(of(&store, "cus_2"), [id("2")]);

        erase(&store, &id("2"), now()).unwrap();
        assert!(of(&store, "cus_2").is_empty());
        let index: Listing = kv::get_json(&store, &index_key(&customer("cus_2")))
            .unwrap()
            .unwrap();
        assert!(
            index.subscribers.is_empty(),
            "the erased person is unlisted"
        );
    }

    #[test]
    fn a_patch_that_fails_validation_changes_neither_record_nor_index() {
        let store = MemoryStore::new();
        import(&store, &line("1", ""), now()).unwrap();
        let change: SubscriberPatch =
            serde_json::from_str(r#"{"external_id":"cus_1","timezone":"Mars/Base"}"#).unwrap();
        assert!(patch(&store, &id("1"), &change, now()).is_err());
        assert!(!store.exists(&index_key(&customer("cus_1"))).unwrap());
        assert_eq!(
            set(&store, "1", r#""has space""#).unwrap_err().code(),
            "invalid_external_id"
        );
        assert_eq!(set(&store, "9", r#""cus_1""#).unwrap_err().status(), 404);
        assert!(!store.exists(&index_key(&customer("cus_1"))).unwrap());
    }

    #[test]
    fn one_customer_has_subscribers_on_several_channels_set_by_import() {
        let store = MemoryStore::new();
        let body = [
            line_on("telegram:shop", "1", "cus_9"),
            line_on("whatsapp:15550001", "+15550002", "cus_9"),
            line_on("telegram:shop", "3", "other"),
            line_on("telegram:shop", "4", "bad id"),
        ]
        .join("\n");
        let report = import(&store, &body, now()).unwrap();
        assert_eq!(report.created, 3);
        assert_eq!(report.rejected[0].code, "invalid_external_id");
        let ids: Vec<String> = of(&store, "cus_9").into_iter().map(String::from).collect();
        assert_eq!(ids, ["telegram:shop:1", "whatsapp:15550001:15550002"]);
        let on_whatsapp = ListFilter {
            external_id: Some(customer("cus_9")),
            channel: Some(crate::subscriber::Channel::parse("whatsapp:15550001").unwrap()),
            ..ListFilter::default()
        };
        let listed = list(&store, &on_whatsapp, 0, 1).unwrap();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0].external_id, Some(customer("cus_9")));
        // A re-import moves a subscriber to another customer; one without the field keeps it.
        import(&store, &line_on("telegram:shop", "1", "other"), now()).unwrap();
        import(&store, &line("3", ""), now()).unwrap();
        assert_eq!(of(&store, "other"), [id("3"), id("1")]);
        assert_eq!(of(&store, "cus_9").len(), 1);
    }

    #[test]
    fn an_entry_left_by_an_interrupted_change_is_not_answered() {
        let store = MemoryStore::new();
        import(&store, &line("1", ""), now()).unwrap();
        // Listed, then cut off before the record was written.
        list_under(&store, &customer("cus_1"), &id("1")).unwrap();
        list_under(&store, &customer("cus_1"), &id("7")).unwrap();
        assert!(of(&store, "cus_1").is_empty());
        set(&store, "1", r#""cus_1""#).unwrap();
        assert_eq!(of(&store, "cus_1"), [id("1")]);
    }

    #[test]
    fn an_external_id_has_a_bounded_number_of_subscribers() {
        let store = MemoryStore::new();
        for n in 0..MAX_SUBSCRIBERS_PER_EXTERNAL_ID {
            list_under(&store, &customer("busy"), &id(&n.to_string())).unwrap();
        }
        import(&store, &line("999", ""), now()).unwrap();
        let err = set(&store, "999", r#""busy""#).unwrap_err();
        assert_eq!((err.status(), err.code()), (422, "too_many_subscribers"));
        assert!(err
            .message()
            .contains(&MAX_SUBSCRIBERS_PER_EXTERNAL_ID.to_string()));
        assert_eq!(get(&store, &id("999")).unwrap().external_id, None);
    }
}
