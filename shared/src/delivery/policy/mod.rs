//! Whether and when a recipient is sent: a [`PolicyChain`] of [`SendPolicy`] checks, each one rule.
//!
//! The sender asks the chain about every recipient before reserving a send slot, and again when its
//! consent reading has grown old. The first rule that does not answer [`Verdict::Send`] decides. A new
//! rule (quiet hours, an A/B arm) is one more [`SendPolicy`] added to
//! [`crate::delivery::SenderConfig::policies`]; the sender does not change. The frequency caps are not a
//! rule of the chain: passing them reserves a send, so they are judged after it ([`crate::delivery::caps`]).

mod channel;
mod holdout;
mod local_time;
mod quiet_hours;
mod recipient;
mod window;

use std::cell::OnceCell;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::campaign::Campaign;
use crate::error::{Error, Result};
use crate::subscriber::Subscriber;

use super::Outgoing;

pub use channel::{ChannelConfigured, ConfiguredChannels};
pub use holdout::Holdout;
pub use local_time::{LocalSendTime, LOCAL_TIME_PASSED};
pub use quiet_hours::QuietHoursRule;
pub use recipient::{Consent, OtherChannel, RecipientErased};
pub use window::{PlatformWindows, ReplyWindows, ServiceWindow};

/// What one rule says about a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No objection: the next rule decides, and after the last one the message is sent.
    Send,
    /// Not sent, and not to be: the entry ends as skipped.
    Skip {
        /// Recorded as the entry's reason (`blocked`, `other_channel`, ...).
        reason: String,
    },
    /// Cannot be sent: the entry ends as failed.
    Fail {
        /// Recorded as the entry's code.
        code: String,
        /// Recorded as the entry's reason.
        reason: String,
    },
    /// Not now: the entry waits in the queue until then.
    Defer {
        /// The earliest time to ask again.
        until: DateTime<Utc>,
    },
}

/// One rule on whether and when a recipient is sent.
pub trait SendPolicy: fmt::Debug + Send + Sync {
    /// Judge `candidate`; [`Verdict::Send`] when this rule has no objection.
    fn check(&self, candidate: &Candidate<'_>) -> Verdict;
}

/// A recipient as the rules see it: the campaign, the subscriber record as it is now, and the message
/// rendered for them (on first use, so rules that decide without it cost no rendering).
pub struct Candidate<'a> {
    /// The campaign sending.
    pub campaign: &'a Campaign,
    /// The subscriber record; `None` when it was erased after the batch was claimed.
    pub subscriber: Option<&'a Subscriber>,
    /// The time of the check.
    pub now: DateTime<Utc>,
    /// The A/B arm the ledger put the recipient in (a variant's name, or `holdout`).
    pub arm: Option<&'a str>,
    render: &'a dyn Fn(&Subscriber) -> Result<Outgoing>,
    message: OnceCell<Result<Outgoing>>,
}

impl<'a> Candidate<'a> {
    /// A candidate whose message `render` produces when a rule or the sender first asks for it.
    pub fn new(
        campaign: &'a Campaign,
        subscriber: Option<&'a Subscriber>,
        now: DateTime<Utc>,
        render: &'a dyn Fn(&Subscriber) -> Result<Outgoing>,
    ) -> Self {
        Candidate {
            campaign,
            subscriber,
            now,
            arm: None,
            render,
            message: OnceCell::new(),
        }
    }

    /// This candidate in the A/B arm `arm`.
    #[must_use]
    pub fn in_arm(mut self, arm: Option<&'a str>) -> Self {
        self.arm = arm;
        self
    }

    /// The campaign's message rendered for this recipient, or the render error; `None` without a
    /// subscriber record.
    pub fn message(&self) -> Option<Result<&Outgoing, &Error>> {
        let subscriber = self.subscriber?;
        Some(
            self.message
                .get_or_init(|| (self.render)(subscriber))
                .as_ref(),
        )
    }

    /// The rendered message, rendering it if no rule did.
    pub fn into_message(self) -> Option<Result<Outgoing>> {
        let subscriber = self.subscriber?;
        let render = self.render;
        Some(
            self.message
                .into_inner()
                .unwrap_or_else(|| render(subscriber)),
        )
    }
}

/// The rules a recipient passes before being sent, in order.
#[derive(Debug, Clone)]
pub struct PolicyChain {
    rules: Vec<Arc<dyn SendPolicy>>,
}

impl PolicyChain {
    /// A chain of exactly these rules, in this order.
    pub fn new(rules: Vec<Arc<dyn SendPolicy>>) -> Self {
        PolicyChain { rules }
    }

    /// The rules every deployment applies: the record still exists, consent stands, the recipient is
    /// on the campaign's channel, is not held back by an A/B holdout, a campaign sent at a local time
    /// waits for it in the recipient's timezone, and a closed reply window leaves only an approved
    /// template to send.
    pub fn standard() -> Self {
        PolicyChain::new(vec![
            Arc::new(RecipientErased),
            Arc::new(Consent),
            Arc::new(OtherChannel),
            Arc::new(Holdout),
            Arc::new(LocalSendTime),
            Arc::new(ServiceWindow::new(PlatformWindows)),
        ])
    }

    /// [`PolicyChain::standard`] for a deployment that sends on `channels` only: a campaign on any other
    /// channel fails its recipients (`channel_not_configured`) before the reply window is judged.
    pub fn sending_on(channels: impl ConfiguredChannels + 'static) -> Self {
        PolicyChain::new(vec![
            Arc::new(RecipientErased),
            Arc::new(Consent),
            Arc::new(OtherChannel),
            Arc::new(ChannelConfigured::new(channels)),
            Arc::new(Holdout),
            Arc::new(LocalSendTime),
            Arc::new(ServiceWindow::new(PlatformWindows)),
        ])
    }

    /// This chain with `rule` added last.
    #[must_use]
    pub fn with(mut self, rule: impl SendPolicy + 'static) -> Self {
        self.rules.push(Arc::new(rule));
        self
    }

    /// The first verdict other than [`Verdict::Send`], or `Send` when every rule agrees.
    pub fn check(&self, candidate: &Candidate<'_>) -> Verdict {
        self.rules
            .iter()
            .map(|rule| rule.check(candidate))
            .find(|verdict| *verdict != Verdict::Send)
            .unwrap_or(Verdict::Send)
    }
}

#[cfg(test)]
mod tests;
