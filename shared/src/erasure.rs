//! Erasing a person across capabilities. The directory and feedback each erase their own part and
//! know nothing of each other; this is the one place that takes both steps, in the order that keeps
//! an erasure safe to interrupt.

use chrono::{DateTime, Utc};

use crate::delivery::{self, caps};
use crate::directory;
use crate::error::Result;
use crate::feedback;
use crate::kv::KvStore;
use crate::subscriber::SubscriberId;

/// Erase a subscriber: the record (names, attributes, consent history), their replies, presses and
/// ratings, their send history (the frequency caps' record of when they were messaged), the messages
/// event rules queued for them and the marks of the recurring campaigns that sent them are deleted,
/// and a suppression record keyed by a hash of the address keeps a re-import from
/// subscribing them again. Campaign counters keep their anonymous totals; delivery ledger entries keep
/// the subscriber id, as the record that each message was sent exactly once.
///
/// The address is suppressed before anything is deleted and the record goes last: a failure part-way
/// leaves a suppressed person whose record is still there, so a second erasure finds and finishes them,
/// and no import can bring them back in between.
///
/// # Errors
/// 404 when absent (nothing is changed then); store failures.
pub fn erase_subscriber<S: KvStore + ?Sized>(
    store: &S,
    id: &SubscriberId,
    now: DateTime<Utc>,
) -> Result<()> {
    directory::suppress(store, id, now)?;
    feedback::erase_subscriber_feedback(store, id)?;
    caps::erase_send_history(store, id)?;
    delivery::erase_marks(store, id)?;
    delivery::scheduled::erase_of(store, id, now)?;
    directory::erase(store, id, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::InboundEvent;
    use crate::feedback::{apply_events, FeedbackSettings};
    use crate::kv::MemoryStore;

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn person() -> SubscriberId {
        SubscriberId::parse("telegram:shop:42").unwrap()
    }

    const IMPORT_LINE: &str = r#"{"channel":"telegram:shop","address":"42","first_name":"Ada","consent":{"at":"2026-01-01T00:00:00Z","source":"checkout","evidence":"form-42"}}"#;

    /// What the feedback intake keeps when `subscriber` writes `text`.
    fn record_reply(store: &MemoryStore, subscriber: &SubscriberId, text: &str) {
        let reply = InboundEvent::Reply {
            subscriber: subscriber.clone(),
            message_id: "101".into(),
            text: text.into(),
            at: now(),
        };
        apply_events(store, &FeedbackSettings::default(), &[reply]).unwrap();
    }

    fn keys_naming(store: &MemoryStore, id: &SubscriberId) -> Vec<String> {
        let mut keys: Vec<String> = store
            .get_keys()
            .unwrap()
            .into_iter()
            .filter(|k| k.contains(id.as_str()))
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn erasing_a_person_removes_their_record_and_feedback_and_refuses_a_reimport() {
        let store = MemoryStore::new();
        directory::import(&store, IMPORT_LINE, now()).unwrap();
        record_reply(&store, &person(), "Call me on +49 151 000");
        let caps = caps::FrequencyCaps::parse("promotional:1/7d").unwrap();
        let send = caps::PastSend::campaign("spring", now());
        caps::reserve(&store, &caps, &person(), &send, chrono_tz::Tz::UTC, None).unwrap();
        assert!(store.exists(&crate::keys::send_history(&person())).unwrap());

        erase_subscriber(&store, &person(), now()).unwrap();

        assert_eq!(directory::get(&store, &person()).unwrap_err().status(), 404);
        assert_eq!(keys_naming(&store, &person()), Vec::<String>::new());
        let again = directory::import(&store, IMPORT_LINE, now()).unwrap();
        assert_eq!(again.created, 0);
        assert_eq!(again.rejected[0].code, "erased");
    }

    #[test]
    fn erasing_an_unknown_person_is_not_found_and_changes_nothing() {
        let store = MemoryStore::new();
        let stranger = SubscriberId::parse("telegram:shop:7").unwrap();
        record_reply(&store, &stranger, "hello");
        let before = store.get_keys().unwrap();

        let err = erase_subscriber(&store, &stranger, now()).unwrap_err();

        assert_eq!(err.status(), 404);
        assert_eq!(store.get_keys().unwrap(), before);
    }
}
