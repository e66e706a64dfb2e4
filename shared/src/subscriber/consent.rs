//! Consent changes and the evidence each one carries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many consent events a record keeps (the oldest first are summarised away beyond this).
pub const MAX_CONSENT_EVENTS: usize = 200;

/// What happened to consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    /// Opted in (command, keyword, or import with evidence).
    Subscribed,
    /// Opted out.
    Unsubscribed,
    /// Blocked the bot / became unreachable.
    Blocked,
    /// Unblocked the bot; counts as a fresh opt-in.
    Unblocked,
}

/// One consent change and its evidence: when, from where, and the platform's reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvent {
    /// What changed.
    pub action: ConsentAction,
    /// When it happened (the platform's time when it gave one).
    pub at: DateTime<Utc>,
    /// How: `telegram:/start`, `telegram:/start?summer-promo`, `whatsapp:keyword`, `import`, `api`, `send:403`…
    pub source: String,
    /// The platform's reference (update id, message id) or the importer's proof, for audits.
    pub evidence: String,
}
