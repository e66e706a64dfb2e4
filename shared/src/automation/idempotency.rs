//! Idempotency of the event API: the first answer to an idempotency key is kept under a hash of the key
//! for [`RETENTION_DAYS`], and the same key again gets that answer verbatim without doing anything; the
//! same key with a different event is refused.
//!
//! A key is reserved (with the event's hash) before any work and answered after. A request that finds
//! the key reserved but not answered (the first request stopped half way, or is still running) does the
//! work again: every write it makes has a key derived from the idempotency key, so doing it twice makes
//! nothing twice, and the first answer written is the one kept.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::answer::EventAnswer;
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::{self, CasOutcome, KvStore};

/// How long an answer is kept: the same key within this time gets it again; after it, the key is new.
pub const RETENTION_DAYS: i64 = 7;
/// How many times a reservation retries after losing a race.
const ATTEMPTS: usize = 8;

/// What is stored under an idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct KeptAnswer {
    /// A hash of the event the key was first used with.
    body_hash: String,
    /// When the key may be used for another event.
    expires_at: DateTime<Utc>,
    /// The first answer, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    answer: Option<EventAnswer>,
}

/// What a reservation found.
#[derive(Debug, Clone, PartialEq)]
pub enum Reservation {
    /// The key was answered before: this is the answer.
    Answered(EventAnswer),
    /// Do the work, then [`keep`] the answer.
    Proceed,
}

/// The hex SHA-256 of `text`.
pub fn hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Reserve idempotency key `key_hash` for an event whose hash is `body_hash`.
///
/// # Errors
/// 422 `idempotency_key_reused` when the key was used for a different event; store failures.
pub fn reserve<S: KvStore + ?Sized>(
    store: &S,
    key_hash: &str,
    body_hash: &str,
    now: DateTime<Utc>,
) -> Result<Reservation> {
    let key = keys::event_answer(key_hash);
    for _ in 0..ATTEMPTS {
        let current = store.get(&key)?;
        let kept: Option<KeptAnswer> = match &current {
            Some(bytes) => Some(
                serde_json::from_slice(bytes)
                    .map_err(|e| Error::internal(format!("record '{key}' is corrupt: {e}")))?,
            ),
            None => None,
        };
        if let Some(kept) = kept.filter(|k| k.expires_at > now) {
            if kept.body_hash != body_hash {
                return Err(reused());
            }
            return Ok(match kept.answer {
                Some(answer) => Reservation::Answered(answer),
                None => Reservation::Proceed,
            });
        }
        let reserved = KeptAnswer {
            body_hash: body_hash.to_owned(),
            expires_at: now + Duration::days(RETENTION_DAYS),
            answer: None,
        };
        match store.compare_and_swap(&key, current.as_deref(), &kv::encode(&reserved))? {
            CasOutcome::Swapped => return Ok(Reservation::Proceed),
            CasOutcome::Conflict(_) => {}
        }
    }
    Err(Error::conflict(
        "idempotency_key_busy",
        "other requests with this idempotency key keep racing; send it again",
    ))
}

/// Keep `answer` as the answer to the key, unless one is kept already: the kept one is returned.
///
/// # Errors
/// 422 `idempotency_key_reused` when the key was taken for a different event meanwhile; store failures.
pub fn keep<S: KvStore + ?Sized>(
    store: &S,
    key_hash: &str,
    body_hash: &str,
    answer: EventAnswer,
    now: DateTime<Utc>,
) -> Result<EventAnswer> {
    kv::update_json(
        store,
        &keys::event_answer(key_hash),
        |current: Option<KeptAnswer>| match current {
            Some(kept) if kept.expires_at > now && kept.body_hash != body_hash => Err(reused()),
            Some(KeptAnswer {
                answer: Some(first),
                ..
            }) => Ok((None, first)),
            current => {
                let kept = KeptAnswer {
                    body_hash: body_hash.to_owned(),
                    expires_at: current
                        .map_or(now + Duration::days(RETENTION_DAYS), |k| k.expires_at),
                    answer: Some(answer.clone()),
                };
                Ok((Some(kept), answer.clone()))
            }
        },
    )
}

fn reused() -> Error {
    Error::unprocessable(
        "idempotency_key_reused",
        format!("this idempotency_key was used for a different event within {RETENTION_DAYS} days; use a new key for a new event"),
    )
}
