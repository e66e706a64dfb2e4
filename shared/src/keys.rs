//! The key layout of the store, in one place. Every key family has a short prefix; ids are embedded
//! verbatim (they are validated slugs or digits), so keys never collide across families.
//!
//! Spin's store has no prefix scan, so every collection that must be listed has an explicit index
//! (see [`crate::index`]) and every lookup a webhook needs is by a key derived from what it carries.

use crate::subscriber::{Channel, SubscriberId};

/// A subscriber record.
pub fn subscriber(id: &SubscriberId) -> String {
    format!("sub:{id}")
}

/// The subscribers carrying one external id, keyed by a hash of the id (any printable characters,
/// up to 128) so the key has a fixed shape whatever the business's ids look like.
pub fn external_id_index(external_id_hash: &str) -> String {
    format!("extid:{external_id_hash}")
}

/// A signed link's record (the external id and channel it links), by the link's id.
pub fn link(link_id: &str) -> String {
    format!("link:{link_id}")
}

/// Suppression after erasure: keyed by a hash of the address so no personal data remains.
pub fn suppression(channel: &Channel, address_hash: &str) -> String {
    format!("suppress:{channel}:{address_hash}")
}

/// A template's head record (name, latest version).
pub fn template(id: &str) -> String {
    format!("tpl:{id}")
}

/// Marks a deleted template whose id is still listed in the templates index, so creating the id again
/// reuses that entry instead of listing the template twice.
pub fn deleted_template(id: &str) -> String {
    format!("tpl-deleted:{id}")
}

/// One immutable version of a template.
pub fn template_version(id: &str, version: u32) -> String {
    format!("tpl:{id}:v{version}")
}

/// A campaign record.
pub fn campaign(id: &str) -> String {
    format!("camp:{id}")
}

/// What remains of a deleted campaign: its id is retired (its feedback history stays under it).
pub fn deleted_campaign(id: &str) -> String {
    format!("camp-deleted:{id}")
}

/// A campaign's send cursor: how far through the audience the batches have been claimed.
pub fn campaign_cursor(id: &str) -> String {
    format!("camp:{id}:cursor")
}

/// One batch of a campaign's delivery ledger (intent and outcomes of up to a batch of recipients).
pub fn delivery_batch(campaign_id: &str, batch: u64) -> String {
    format!("dlv:{campaign_id}:{batch}")
}

/// When each recurring campaign last sent a person (the run's date): read when a run's recipients are
/// claimed, written with the outcome, erased with the person.
pub fn recurring_marks(subscriber: &SubscriberId) -> String {
    format!("rmark:{subscriber}")
}

/// A campaign counter (`sent`, `failed`, `replied`, …), changed only by atomic increment.
pub fn campaign_counter(campaign_id: &str, counter: &str) -> String {
    format!("stat:{campaign_id}:{counter}")
}

/// A counter of one A/B arm of a campaign (`sent`, `delivered`, `replied`, …), changed only by atomic
/// increment. Arm names are slugs (no ':'), like counter names.
pub fn campaign_arm_counter(campaign_id: &str, arm: &str, counter: &str) -> String {
    format!("stat-arm:{campaign_id}:{arm}:{counter}")
}

/// The last campaign message sent to a subscriber, for reply attribution.
pub fn last_campaign_message(subscriber: &SubscriberId) -> String {
    format!("last:{subscriber}")
}

/// The latest A/B holdout a subscriber was held back in (a [`crate::event::HeldOutRef`]), for counting
/// the holdout's replies.
pub fn held_out(subscriber: &SubscriberId) -> String {
    format!("held:{subscriber}")
}

/// A platform message id mapped back to its delivery (receipts carry only the message id).
pub fn platform_message(platform: &str, message_id: &str) -> String {
    format!("msg:{platform}:{message_id}")
}

/// A channel's pacing state (next free send slot, pause until).
pub fn pace(channel: &Channel) -> String {
    format!("pace:{channel}")
}

/// A rating given by a subscriber for a campaign (one per subscriber and campaign).
pub fn rating(campaign_id: &str, subscriber: &SubscriberId) -> String {
    format!("rating:{campaign_id}:{subscriber}")
}

/// The receipt record of one message we sent: its delivery state and what it has been credited with.
pub fn receipt(platform: &str, message_id: &str) -> String {
    format!("rcpt:{platform}:{message_id}")
}

/// The lease every writer of receipt records holds while it reads, merges and writes them, so a batch of
/// statuses is applied with batched reads and writes instead of a compare-and-swap per record.
pub fn receipt_lease() -> String {
    "rcpt-lease".to_owned()
}

/// A campaign's receipt counters (delivered, read, reported failed; in all and per A/B arm), one record
/// written with the receipt records it counts.
pub fn receipt_counters(campaign_id: &str) -> String {
    format!("rcpt-stat:{campaign_id}")
}

/// A reply record, keyed by what the platform redelivers (the sender and their message id).
pub fn reply(subscriber: &SubscriberId, message_id: &str) -> String {
    format!("reply:{subscriber}:{message_id}")
}

/// A button-press record for button data that is not a rating, keyed by the platform's press id.
pub fn button_press(subscriber: &SubscriberId, press_id: &str) -> String {
    format!("press:{subscriber}:{press_id}")
}

/// How many replies a subscriber sent to a campaign (an atomic counter; its first step counts `replied`).
pub fn campaign_replies_of(campaign_id: &str, subscriber: &SubscriberId) -> String {
    format!("replies:{campaign_id}:{subscriber}")
}

/// The name of a campaign's feedback log index (see [`crate::index::Index::named`]); `None` is the log
/// of feedback no campaign could be credited with. Campaign ids never contain ':'.
pub fn feedback_log(campaign_id: Option<&str>) -> String {
    match campaign_id {
        Some(id) => format!("feedback:{id}"),
        None => "feedback-unattributed".to_owned(),
    }
}

/// The small set of campaign ids a scheduler tick looks at (scheduled, running, paused, or cancelled
/// with batches still open), so a tick never lists every campaign.
pub fn active_campaigns() -> String {
    "active:campaigns".to_owned()
}

/// The name of a subscriber's own feedback log (their replies, presses and ratings), so an erasure
/// finds their personal data without a scan.
pub fn subscriber_feedback_log(subscriber: &SubscriberId) -> String {
    format!("feedback-of:{subscriber}")
}

/// A person's recent sends, which the frequency caps are judged on (see `delivery::caps`).
pub fn send_history(subscriber: &SubscriberId) -> String {
    format!("sent-to:{subscriber}")
}

/// A message scheduled for one subscriber (an event rule's message), by its id.
pub fn scheduled_send(id: &str) -> String {
    format!("sched:{id}")
}

/// The ids of the messages scheduled for a subscriber that are not finished yet.
pub fn scheduled_of(subscriber: &SubscriberId) -> String {
    format!("sched-of:{subscriber}")
}

/// The name of the index of scheduled messages due within one minute (minutes since the Unix epoch;
/// see [`crate::index::Index::named`]).
pub fn due_index(minute: i64) -> String {
    format!("due-{minute}")
}

/// The first minute whose due bucket may still hold unfinished messages.
pub fn due_cursor() -> String {
    "due-cursor".to_owned()
}

/// Every event rule, in one record (the intake reads them all in one round trip).
pub fn event_rules() -> String {
    "rules".to_owned()
}

/// The answer given to an event with an idempotency key, keyed by a hash of the key.
pub fn event_answer(key_hash: &str) -> String {
    format!("idem:{key_hash}")
}

/// The fixed key the health check reads (it is never written).
pub fn health_probe() -> String {
    "health:probe".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriber::{Address, Platform};

    #[test]
    fn keys_embed_ids_without_collisions() {
        let channel = Channel::parse("telegram:shop").unwrap();
        let id = SubscriberId::of(&channel, &Address::parse(Platform::Telegram, "42").unwrap());
        assert_eq!(subscriber(&id), "sub:telegram:shop:42");
        assert_eq!(template_version("welcome", 3), "tpl:welcome:v3");
        assert_eq!(delivery_batch("c1", 7), "dlv:c1:7");
        assert_eq!(campaign_counter("c1", "sent"), "stat:c1:sent");
        assert_eq!(pace(&channel), "pace:telegram:shop");
        // Families never share a prefix.
        let all = [
            subscriber(&id),
            template("x"),
            campaign("x"),
            deleted_campaign("x"),
            deleted_template("x"),
            health_probe(),
            delivery_batch("x", 1),
            last_campaign_message(&id),
            held_out(&id),
            rating("x", &id),
            scheduled_send("x"),
            scheduled_of(&id),
            due_cursor(),
            event_rules(),
            event_answer("x"),
            external_id_index("x"),
            link("x"),
            recurring_marks(&id),
            receipt("whatsapp", "x"),
            receipt_lease(),
            receipt_counters("x"),
        ];
        let prefixes: std::collections::BTreeSet<_> = all
            .iter()
            .map(|k| k.split(':').next().unwrap().to_owned())
            .collect();
        assert_eq!(prefixes.len(), all.len());
    }
}
