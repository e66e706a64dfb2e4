//! The A/B holdout: recipients the split put in the holdout are sent nothing.

use crate::campaign::HOLDOUT_ARM;

use super::{Candidate, SendPolicy, Verdict};

/// Skips a recipient of the holdout arm (`holdout`). It comes after the consent and channel rules, so
/// the holdout's skips count only people who would otherwise have been sent the campaign.
#[derive(Debug, Clone, Copy, Default)]
pub struct Holdout;

impl SendPolicy for Holdout {
    fn check(&self, candidate: &Candidate<'_>) -> Verdict {
        if candidate.arm == Some(HOLDOUT_ARM) {
            Verdict::Skip {
                reason: HOLDOUT_ARM.to_owned(),
            }
        } else {
            Verdict::Send
        }
    }
}
