//! The campaign counters (`keys::campaign_counter`), which the stats endpoint reads, kept equal to the
//! cursor's `counted` totals.
//!
//! A counter changes only by increment, and an increment cannot be written in the same atomic step as a
//! record saying it was made. So the counters are never incremented by a delta that could be applied
//! twice: one tick at a time (holding `Cursor::sync`, a lease in the cursor record) reads each counter
//! and adds what it lacks of the target. A tick that dies half way leaves the sync to lapse; the next one
//! reads the counters again and adds only what is still missing.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::error::Result;
use crate::keys;
use crate::kv::{self, KvStore};

use super::ledger::{CounterSync, Cursor, Tally};

/// How many times one call starts over when batches were closed while it synced.
const SYNC_ROUNDS: usize = 4;

enum Claim {
    UpToDate,
    Busy,
    /// This tick syncs: the totals, the arms' totals, and the arms whose totals moved since the last sync.
    Mine(Tally, BTreeMap<String, Tally>, BTreeMap<String, Tally>),
}

/// Add to counter `key` what it lacks of `want` (never taking anything away).
fn raise_to<S: KvStore + ?Sized>(store: &S, key: &str, want: u64) -> Result<()> {
    let want = i64::try_from(want).unwrap_or(i64::MAX);
    let have = store.increment(key, 0)?;
    if have < want {
        store.increment(key, want - have)?;
    }
    Ok(())
}

/// Bring campaign `campaign_id`'s counters up to the cursor's `counted` totals. Returns whether they
/// are up to date (`false` while another tick's sync holds the cursor).
///
/// # Errors
/// Store failures.
pub fn sync_counters<S: KvStore + ?Sized>(
    store: &S,
    campaign_id: &str,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<bool> {
    let key = keys::campaign_cursor(campaign_id);
    for _ in 0..SYNC_ROUNDS {
        let claim = kv::update_json(store, &key, |current: Option<Cursor>| {
            let mut cursor = current.unwrap_or_default();
            if cursor.synced == cursor.counted
                && cursor.synced_by_arm == cursor.counted_by_arm
                && cursor.sync.is_none()
            {
                return Ok((None, Claim::UpToDate));
            }
            if cursor
                .sync
                .as_ref()
                .is_some_and(|s| s.owner != owner && s.expires_at > now)
            {
                return Ok((None, Claim::Busy));
            }
            let target = cursor.counted;
            let target_by_arm = cursor.counted_by_arm.clone();
            // Only arms whose totals moved need their counters read.
            let moved: BTreeMap<String, Tally> = target_by_arm
                .iter()
                .filter(|(arm, tally)| cursor.synced_by_arm.get(*arm) != Some(*tally))
                .map(|(arm, tally)| (arm.clone(), *tally))
                .collect();
            cursor.sync = Some(CounterSync {
                owner: owner.to_owned(),
                expires_at: now + lease,
                target,
                target_by_arm: target_by_arm.clone(),
            });
            Ok((Some(cursor), Claim::Mine(target, target_by_arm, moved)))
        })?;
        let (target, target_by_arm, moved) = match claim {
            Claim::UpToDate => return Ok(true),
            Claim::Busy => return Ok(false),
            Claim::Mine(target, target_by_arm, moved) => (target, target_by_arm, moved),
        };
        for (name, want) in target.counters() {
            raise_to(store, &keys::campaign_counter(campaign_id, name), want)?;
        }
        for (arm, tally) in &moved {
            for (name, want) in tally.counters() {
                raise_to(
                    store,
                    &keys::campaign_arm_counter(campaign_id, arm, name),
                    want,
                )?;
            }
        }
        let done = kv::update_json(store, &key, |current: Option<Cursor>| {
            let mut cursor = current.unwrap_or_default();
            if cursor.sync.as_ref().is_none_or(|s| s.owner != owner) {
                // Our sync lapsed and another tick took it over: its result stands.
                return Ok((None, false));
            }
            cursor.sync = None;
            cursor.synced = target;
            cursor.synced_by_arm.clone_from(&target_by_arm);
            let done =
                cursor.synced == cursor.counted && cursor.synced_by_arm == cursor.counted_by_arm;
            Ok((Some(cursor), done))
        })?;
        if done {
            return Ok(true);
        }
    }
    Ok(false)
}
