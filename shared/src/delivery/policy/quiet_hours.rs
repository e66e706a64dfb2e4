//! The rule that no message goes out inside the recipient's quiet hours.

use crate::campaign::QuietHours;

use super::{Candidate, SendPolicy, Verdict};

/// Defers a recipient whose local time is inside the quiet hours in force until they end: the
/// campaign's own, else the workspace's; none for a campaign marked `quiet_hours: none` (transactional
/// messages). The local time is the recipient's timezone, else the campaign's schedule zone, else UTC.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuietHoursRule {
    workspace: Option<QuietHours>,
}

impl QuietHoursRule {
    /// The rule with the workspace's quiet hours (`None`: only campaigns with their own have any).
    pub fn new(workspace: Option<QuietHours>) -> Self {
        QuietHoursRule { workspace }
    }
}

impl SendPolicy for QuietHoursRule {
    fn check(&self, candidate: &Candidate<'_>) -> Verdict {
        let campaign = candidate.campaign;
        let Some(quiet) = campaign.quiet_hours.in_force(self.workspace) else {
            return Verdict::Send;
        };
        let zone = campaign.recipient_zone(candidate.subscriber);
        match quiet.end_after(candidate.now, zone) {
            Some(until) => Verdict::Defer { until },
            None => Verdict::Send,
        }
    }
}
