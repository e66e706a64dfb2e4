//! What a send leaves behind for feedback to attribute replies and receipts.

use super::world::World;
use crate::event::SentMessageRef;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::messenger::SendOutcome;

#[test]
fn telegram_sends_leave_a_reference_for_reply_attribution_only() {
    let world = World::new();
    let id = world.subscribe(7);
    world.launch("c1");
    world.answer(
        7,
        [SendOutcome::Sent {
            message_id: "133".into(),
        }],
    );
    world.tick();
    let last: SentMessageRef = kv::get_json(world.store(), &keys::last_campaign_message(&id))
        .unwrap()
        .unwrap();
    assert_eq!(last.campaign_id, "c1");
    assert_eq!(last.subscriber, id);
    assert_eq!(last.message_id, "133");
    // Telegram sends no receipts and reuses message ids across chats: no id mapping is written.
    assert!(!world
        .store()
        .exists(&keys::platform_message("telegram", "133"))
        .unwrap());
}
