//! Erasing the directory's part of a person.

use chrono::{DateTime, Utc};

use super::{get, suppression_key, Suppression};
use crate::error::Result;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::SubscriberId;

/// Erase a subscriber: the record (names, attributes, consent history), their replies, presses and
/// ratings are deleted, and a suppression record keyed by a hash of the address keeps a re-import from
/// subscribing them again. Campaign counters keep their anonymous totals; delivery ledger entries keep
/// the subscriber id, as the record that each message was sent exactly once.
///
/// # Errors
/// 404 when absent.
pub fn erase<S: KvStore + ?Sized>(store: &S, id: &SubscriberId, now: DateTime<Utc>) -> Result<()> {
    let subscriber = get(store, id)?;
    let suppression = suppression_key(&subscriber.channel, &subscriber.address);
    // Suppress first: a crash in between leaves a suppressed record, never an erased person re-importable.
    kv::set_json(store, &suppression, &Suppression { erased_at: now })?;
    crate::feedback::erase_subscriber_feedback(store, id)?;
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
