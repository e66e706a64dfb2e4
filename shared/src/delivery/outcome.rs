//! What a platform's answer does to a ledger entry: [`apply_outcome`], a pure function of the entry,
//! the answer and the [`RetryPolicy`], returning the new entry and the [`Effects`] the caller performs.

use chrono::{DateTime, Duration, Utc};

use crate::event::SentMessageRef;
use crate::messenger::SendOutcome;

use super::ledger::{DeliveryEntry, DeliveryState};

/// The longest pause a rate-limit answer can impose on a channel.
pub const MAX_RETRY_AFTER_SECS: u64 = 3_600;

/// The skip reason's code for a recipient whose service window is closed to this message.
pub const OUTSIDE_SERVICE_WINDOW: &str = "outside_service_window";

/// When a send that did not get through is tried again, and when it is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts for transient failures (5xx, network) before the delivery fails.
    pub max_attempts: u32,
    /// The first backoff after a transient failure; it doubles with each attempt.
    pub backoff_base: Duration,
    /// Rate-limit answers for one message before it fails (the platform keeps refusing).
    pub max_rate_limited: u32,
}

/// Which send an outcome answers: what a [`SentMessageRef`] records besides the message id.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The campaign sending.
    pub campaign_id: &'a str,
    /// The batch holding the entry.
    pub batch: u64,
    /// When the answer came.
    pub answered_at: DateTime<Utc>,
}

/// The platform said the recipient blocked us or is gone: the subscriber is to be marked blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecipient {
    /// The platform's code.
    pub code: String,
    /// The platform's words.
    pub reason: String,
}

/// What the caller must do besides writing the new entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Pause the whole channel until then (a rate-limit answer); sends after this one wait.
    pub pause_channel_until: Option<DateTime<Utc>>,
    /// Mark the subscriber blocked, with this evidence.
    pub block: Option<BlockRecipient>,
    /// Record this reference, so replies and receipts find the campaign.
    pub reference: Option<SentMessageRef>,
    /// The entry stays open to be tried again (counted as retried).
    pub retried: bool,
}

/// An entry after an outcome, and what the caller must do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The entry as it is to be written: final, or pending again (with a backoff for a transient failure).
    pub entry: DeliveryEntry,
    /// The side effects for the caller.
    pub effects: Effects,
}

/// Apply a send outcome to the entry it answers, under `policy`.
pub fn apply_outcome(
    entry: &DeliveryEntry,
    outcome: SendOutcome,
    policy: &RetryPolicy,
    attempt: Attempt<'_>,
) -> Applied {
    let now = attempt.answered_at;
    let mut effects = Effects::default();
    let mut entry = match outcome {
        SendOutcome::Sent { message_id } => {
            if !message_id.is_empty() {
                effects.reference = Some(SentMessageRef {
                    campaign_id: attempt.campaign_id.to_owned(),
                    subscriber: entry.subscriber.clone(),
                    message_id: message_id.clone(),
                    batch: attempt.batch,
                    sent_at: now,
                    arm: entry.arm.clone(),
                });
            }
            finalised(entry, DeliveryState::Sent { message_id }, now)
        }
        SendOutcome::RateLimited {
            retry_after_secs,
            reason,
        } => {
            effects.pause_channel_until = Some(pause_end(retry_after_secs, now));
            let retry = Retry::after_rate_limit("429", reason, None);
            retry.apply(entry, policy, &mut effects, now)
        }
        SendOutcome::RecipientRateLimited {
            retry_after_secs,
            reason,
        } => {
            // Only this recipient waits; the channel is not paused.
            let wait = Some(pause_end(retry_after_secs, now));
            let retry = Retry::after_rate_limit("recipient_rate_limited", reason, wait);
            retry.apply(entry, policy, &mut effects, now)
        }
        SendOutcome::Transient { reason } => {
            let mut entry = entry.clone();
            entry.attempts += 1;
            if entry.attempts >= policy.max_attempts {
                let reason = format!("gave up after {} attempts: {reason}", entry.attempts);
                give_up(&entry, "transient", reason, now)
            } else {
                effects.retried = true;
                let factor = 1i32 << (entry.attempts - 1).min(16);
                entry.not_before = Some(now + policy.backoff_base * factor);
                entry
            }
        }
        SendOutcome::OutsideWindow { reason } => {
            let reason = format!("{OUTSIDE_SERVICE_WINDOW}: {reason}");
            finalised(entry, DeliveryState::Skipped { reason }, now)
        }
        SendOutcome::RecipientGone { code, reason } => {
            effects.block = Some(BlockRecipient {
                code: code.clone(),
                reason: reason.clone(),
            });
            finalised(entry, DeliveryState::Blocked { code, reason }, now)
        }
        SendOutcome::Rejected { code, reason } => {
            finalised(entry, DeliveryState::Failed { code, reason }, now)
        }
    };
    // Not final: it goes back to the queue rather than staying in flight.
    if entry.outcome == DeliveryState::InFlight {
        entry.outcome = DeliveryState::Pending;
    }
    Applied { entry, effects }
}

/// When a channel told to wait `retry_after_secs` may send again. Platform data: clamped to 1 s..1 h,
/// so an absurd value can neither overflow the time nor stop the channel for good.
fn pause_end(retry_after_secs: u64, now: DateTime<Utc>) -> DateTime<Utc> {
    let secs = retry_after_secs.clamp(1, MAX_RETRY_AFTER_SECS);
    Duration::try_seconds(i64::try_from(secs).unwrap_or(i64::MAX))
        .and_then(|wait| now.checked_add_signed(wait))
        .unwrap_or(now)
}

/// One more rate-limit answer for an entry: what to record if it is the last one allowed, and until
/// when the entry waits otherwise.
struct Retry<'a> {
    code: &'a str,
    reason: String,
    not_before: Option<DateTime<Utc>>,
}

impl<'a> Retry<'a> {
    fn after_rate_limit(code: &'a str, reason: String, not_before: Option<DateTime<Utc>>) -> Self {
        Retry {
            code,
            reason,
            not_before,
        }
    }

    /// Give up after the policy's limit of rate-limit answers; keep the entry open otherwise.
    fn apply(
        self,
        entry: &DeliveryEntry,
        policy: &RetryPolicy,
        effects: &mut Effects,
        now: DateTime<Utc>,
    ) -> DeliveryEntry {
        let mut entry = entry.clone();
        entry.rate_limited += 1;
        if entry.rate_limited >= policy.max_rate_limited {
            return give_up(&entry, self.code, self.reason, now);
        }
        effects.retried = true;
        if self.not_before.is_some() {
            entry.not_before = self.not_before;
        }
        entry
    }
}

fn give_up(entry: &DeliveryEntry, code: &str, reason: String, now: DateTime<Utc>) -> DeliveryEntry {
    let state = DeliveryState::Failed {
        code: code.to_owned(),
        reason,
    };
    finalised(entry, state, now)
}

/// The entry with a final state reached at `now`.
pub(super) fn finalised(
    entry: &DeliveryEntry,
    state: DeliveryState,
    now: DateTime<Utc>,
) -> DeliveryEntry {
    DeliveryEntry {
        outcome: state,
        not_before: None,
        finished_at: Some(now),
        ..entry.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriber::SubscriberId;

    fn now() -> DateTime<Utc> {
        "2026-11-01T10:00:00Z".parse().unwrap()
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            backoff_base: Duration::seconds(2),
            max_rate_limited: 2,
        }
    }

    fn in_flight() -> DeliveryEntry {
        let mut entry = DeliveryEntry::pending(SubscriberId::parse("telegram:shop:42").unwrap());
        entry.outcome = DeliveryState::InFlight;
        entry
    }

    fn apply(entry: &DeliveryEntry, outcome: SendOutcome) -> Applied {
        let attempt = Attempt {
            campaign_id: "spring",
            batch: 7,
            answered_at: now(),
        };
        apply_outcome(entry, outcome, &policy(), attempt)
    }

    /// The answer to a first attempt.
    fn first(outcome: SendOutcome) -> Applied {
        apply(&in_flight(), outcome)
    }

    fn failed(code: &str, reason: &str) -> DeliveryState {
        DeliveryState::Failed {
            code: code.into(),
            reason: reason.into(),
        }
    }

    fn transient() -> SendOutcome {
        SendOutcome::Transient {
            reason: "502".into(),
        }
    }

    fn rate_limited(retry_after_secs: u64) -> SendOutcome {
        SendOutcome::RateLimited {
            retry_after_secs,
            reason: "slow down".into(),
        }
    }

    #[test]
    fn sent_is_final_and_leaves_a_reference() {
        let applied = first(SendOutcome::Sent {
            message_id: "m1".into(),
        });
        assert_eq!(
            applied.entry.outcome,
            DeliveryState::Sent {
                message_id: "m1".into()
            }
        );
        assert_eq!(applied.entry.finished_at, Some(now()));
        let reference = applied.effects.reference.expect("a reference");
        assert_eq!(reference.campaign_id, "spring");
        assert_eq!(reference.subscriber, in_flight().subscriber);
        assert_eq!(reference.batch, 7);
        assert_eq!(reference.sent_at, now());
        assert!(!applied.effects.retried);
    }

    #[test]
    fn sent_without_a_message_id_leaves_no_reference() {
        let applied = first(SendOutcome::Sent {
            message_id: String::new(),
        });
        assert!(applied.entry.outcome.is_final());
        assert_eq!(applied.effects, Effects::default());
    }

    #[test]
    fn rate_limited_pauses_the_channel_and_goes_back_to_pending() {
        let applied = first(rate_limited(30));
        assert_eq!(applied.entry.outcome, DeliveryState::Pending);
        assert_eq!(applied.entry.rate_limited, 1);
        assert_eq!(applied.entry.not_before, None);
        assert_eq!(
            applied.effects.pause_channel_until,
            Some(now() + Duration::seconds(30))
        );
        assert!(applied.effects.retried);
    }

    #[test]
    fn rate_limited_too_often_fails_with_429_and_still_pauses() {
        let once = first(rate_limited(5)).entry;
        let applied = apply(&once, rate_limited(5));
        assert_eq!(applied.entry.outcome, failed("429", "slow down"));
        assert!(applied.effects.pause_channel_until.is_some());
        assert!(!applied.effects.retried);
    }

    #[test]
    fn a_recipient_limit_backs_off_that_recipient_only() {
        let limited = || SendOutcome::RecipientRateLimited {
            retry_after_secs: 6,
            reason: "too many messages to this recipient".into(),
        };
        let applied = first(limited());
        assert_eq!(applied.entry.outcome, DeliveryState::Pending);
        assert_eq!(applied.entry.not_before, Some(now() + Duration::seconds(6)));
        assert_eq!(applied.effects.pause_channel_until, None);
        assert!(applied.effects.retried);
        let again = apply(&applied.entry, limited());
        assert!(matches!(
            again.entry.outcome,
            DeliveryState::Failed { ref code, .. } if code == "recipient_rate_limited"
        ));
        assert_eq!(again.effects.pause_channel_until, None);
    }

    #[test]
    fn retry_after_is_clamped_between_a_second_and_an_hour() {
        let zero = first(rate_limited(0)).effects;
        assert_eq!(zero.pause_channel_until, Some(now() + Duration::seconds(1)));
        let absurd = first(rate_limited(u64::MAX)).effects;
        assert_eq!(
            absurd.pause_channel_until,
            Some(now() + Duration::seconds(3_600))
        );
    }

    #[test]
    fn transient_failures_back_off_doubling_then_give_up() {
        let once = first(transient());
        assert_eq!(once.entry.outcome, DeliveryState::Pending);
        assert_eq!(once.entry.not_before, Some(now() + Duration::seconds(2)));
        assert!(once.effects.retried);
        let second = apply(&once.entry, transient());
        assert_eq!(second.entry.not_before, Some(now() + Duration::seconds(4)));
        let third = apply(&second.entry, transient());
        assert_eq!(
            third.entry.outcome,
            failed("transient", "gave up after 3 attempts: 502")
        );
        assert_eq!(third.entry.not_before, None);
        assert!(!third.effects.retried);
    }

    #[test]
    fn outside_the_window_is_skipped_with_the_reason() {
        let applied = first(SendOutcome::OutsideWindow {
            reason: "no approved template".into(),
        });
        assert_eq!(
            applied.entry.outcome,
            DeliveryState::Skipped {
                reason: "outside_service_window: no approved template".into()
            }
        );
        assert_eq!(applied.effects, Effects::default());
    }

    #[test]
    fn recipient_gone_is_blocked_and_asks_to_block_the_subscriber() {
        let applied = first(SendOutcome::RecipientGone {
            code: "403".into(),
            reason: "blocked by the user".into(),
        });
        assert_eq!(
            applied.entry.outcome,
            DeliveryState::Blocked {
                code: "403".into(),
                reason: "blocked by the user".into()
            }
        );
        assert_eq!(
            applied.effects.block,
            Some(BlockRecipient {
                code: "403".into(),
                reason: "blocked by the user".into()
            })
        );
    }

    #[test]
    fn rejected_fails_with_the_platform_code() {
        let applied = first(SendOutcome::Rejected {
            code: "400".into(),
            reason: "bad request".into(),
        });
        assert_eq!(applied.entry.outcome, failed("400", "bad request"));
        assert_eq!(applied.effects, Effects::default());
    }
}
