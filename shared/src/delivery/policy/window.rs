//! The rule that a platform with a reply window gets a free-form message only inside it.

use std::fmt;

use chrono::Duration;

use crate::delivery::outcome::OUTSIDE_SERVICE_WINDOW;
use crate::subscriber::Channel;

use super::{Candidate, SendPolicy, Verdict};

/// Tells how long after a person's last message a channel's platform accepts a free-form message.
pub trait ReplyWindows: fmt::Debug + Send + Sync {
    /// The window on `channel`; `None` when its platform has none.
    fn reply_window(&self, channel: &Channel) -> Option<Duration>;
}

/// The reply windows the platforms' capabilities state, for platforms that accept an approved template
/// outside them (a platform without that fallback has no window to judge here).
#[derive(Debug, Clone, Copy)]
pub struct PlatformWindows;

impl ReplyWindows for PlatformWindows {
    fn reply_window(&self, channel: &Channel) -> Option<Duration> {
        let capabilities = channel.platform().capabilities();
        capabilities
            .service_window
            .filter(|_| capabilities.approved_templates)
    }
}

/// Skips (`outside_service_window: ...`) a recipient whose reply window is closed when the message has
/// no approved platform template to send instead, before a send slot is spent on them. A render
/// failure is left for the sender to record.
#[derive(Debug, Clone)]
pub struct ServiceWindow<W> {
    windows: W,
}

impl<W: ReplyWindows> ServiceWindow<W> {
    /// The rule, asking `windows`.
    pub fn new(windows: W) -> Self {
        ServiceWindow { windows }
    }
}

impl<W: ReplyWindows> SendPolicy for ServiceWindow<W> {
    fn check(&self, candidate: &Candidate<'_>) -> Verdict {
        let Some(subscriber) = candidate.subscriber else {
            return Verdict::Send;
        };
        let Some(window) = self.windows.reply_window(&subscriber.channel) else {
            return Verdict::Send;
        };
        let open = subscriber
            .last_inbound_at
            .is_some_and(|at| candidate.now - at < window);
        if open {
            return Verdict::Send;
        }
        let Some(Ok(outgoing)) = candidate.message() else {
            return Verdict::Send;
        };
        if outgoing.message.platform_template.is_some() {
            return Verdict::Send;
        }
        Verdict::Skip {
            reason: format!(
                "{OUTSIDE_SERVICE_WINDOW}: the recipient has not written in the last {} hours and the template has no approved whatsapp_template",
                window.num_hours()
            ),
        }
    }
}
