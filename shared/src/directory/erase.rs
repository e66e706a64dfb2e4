//! Erasing the directory's part of a person.

use chrono::{DateTime, Utc};

use super::external_id::unlist;
use super::{get, suppression_key, Suppression};
use crate::error::Result;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::{Subscriber, SubscriberId};

/// The first step of erasing a person: from now on a suppression record keyed by a hash of the
/// address refuses a re-import. Everything else holding the person's data is deleted after this, so a
/// failure part-way leaves a suppressed record that a second erasure finishes, never a half-erased
/// person who can be imported again. Returns the record, still stored.
///
/// # Errors
/// 404 when absent.
pub fn suppress<S: KvStore + ?Sized>(
    store: &S,
    id: &SubscriberId,
    now: DateTime<Utc>,
) -> Result<Subscriber> {
    let subscriber = get(store, id)?;
    let suppression = suppression_key(&subscriber.channel, &subscriber.address);
    kv::set_json(store, &suppression, &Suppression { erased_at: now })?;
    Ok(subscriber)
}

/// Erase the directory's part of a person: the record (names, attributes, consent history), its entry
/// in the index of its external id, and the reference to the last campaign message they received are deleted after [`suppress`]ing the address.
/// What other capabilities hold (replies, presses, ratings) is theirs to erase: callers erasing a whole
/// person use [`crate::erasure::erase_subscriber`], which does so between the two steps.
///
/// # Errors
/// 404 when absent.
pub fn erase<S: KvStore + ?Sized>(store: &S, id: &SubscriberId, now: DateTime<Utc>) -> Result<()> {
    // Suppress first: a crash in between leaves a suppressed record, never an erased person re-importable.
    let subscriber = suppress(store, id, now)?;
    // Unlisted while the record is still there, so an erasure cut off here is found and finished again.
    if let Some(external_id) = &subscriber.external_id {
        unlist(store, external_id, id)?;
    }
    store.delete_many(&[keys::subscriber(id), keys::last_campaign_message(id)])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixtures::{id, line, now};
    use crate::directory::{import, is_suppressed, touch};
    use crate::kv::MemoryStore;
    use crate::subscriber::{Address, Channel, Platform};

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
}
