//! The rule that a campaign's channel is configured in this deployment.

use std::collections::BTreeSet;
use std::fmt;

use crate::subscriber::Channel;

use super::{Candidate, SendPolicy, Verdict};

/// Tells which channels this deployment can send on (the platform registry, once it knows).
pub trait ConfiguredChannels: fmt::Debug + Send + Sync {
    /// Whether messages can be sent on `channel`.
    fn is_configured(&self, channel: &Channel) -> bool;
}

/// Fails every recipient of a campaign whose channel this deployment cannot send on
/// (`channel_not_configured`), without spending a send slot on them.
#[derive(Debug, Clone)]
pub struct ChannelConfigured<C> {
    channels: C,
}

impl<C: ConfiguredChannels> ChannelConfigured<C> {
    /// The rule, asking `channels`.
    pub fn new(channels: C) -> Self {
        ChannelConfigured { channels }
    }
}

impl<C: ConfiguredChannels> SendPolicy for ChannelConfigured<C> {
    fn check(&self, candidate: &Candidate<'_>) -> Verdict {
        let channel = &candidate.campaign.channel;
        if self.channels.is_configured(channel) {
            Verdict::Send
        } else {
            Verdict::Fail {
                code: "channel_not_configured".into(),
                reason: format!("channel '{channel}' is not configured in this deployment"),
            }
        }
    }
}

/// The channels a deployment configured, as the platform registry lists them.
impl ConfiguredChannels for BTreeSet<Channel> {
    fn is_configured(&self, channel: &Channel) -> bool {
        self.contains(channel)
    }
}
