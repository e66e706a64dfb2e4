//! Rules on the subscriber record: it still exists, its consent stands, it is on the campaign's channel.

use crate::subscriber::SubscriptionStatus;

use super::{Candidate, SendPolicy, Verdict};

fn skip(reason: &str) -> Verdict {
    Verdict::Skip {
        reason: reason.to_owned(),
    }
}

/// Skips a recipient whose record was erased after the batch was claimed (`subscriber_erased`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RecipientErased;

impl SendPolicy for RecipientErased {
    fn check(&self, candidate: &Candidate<'_>) -> Verdict {
        match candidate.subscriber {
            Some(_) => Verdict::Send,
            None => skip("subscriber_erased"),
        }
    }
}

/// Skips a recipient who blocked us (`blocked`) or unsubscribed (`unsubscribed`), judged on the record
/// as it is now rather than as it was when the batch was claimed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Consent;

impl SendPolicy for Consent {
    fn check(&self, candidate: &Candidate<'_>) -> Verdict {
        match candidate.subscriber {
            Some(subscriber) if !subscriber.may_receive() => match subscriber.status {
                SubscriptionStatus::Blocked => skip("blocked"),
                SubscriptionStatus::Unsubscribed | SubscriptionStatus::Subscribed => {
                    skip("unsubscribed")
                }
            },
            _ => Verdict::Send,
        }
    }
}

/// Skips a recipient whose record is on another channel than the campaign's (`other_channel`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OtherChannel;

impl SendPolicy for OtherChannel {
    fn check(&self, candidate: &Candidate<'_>) -> Verdict {
        match candidate.subscriber {
            Some(subscriber) if subscriber.channel != candidate.campaign.channel => {
                skip("other_channel")
            }
            _ => Verdict::Send,
        }
    }
}
