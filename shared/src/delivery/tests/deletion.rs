//! Deleting a finished campaign removes its ledger and record, keeps its statistics, and retires its id.

use super::world::World;
use crate::campaign::CampaignState;
use crate::deletion::delete_campaign;
use crate::event::counter;
use crate::keys;
use crate::kv::KvStore;

#[test]
fn a_completed_campaign_is_deleted_with_its_ledger_and_its_statistics_stay() {
    let world = World::campaign_to(1..=250).in_batches_of(100);
    world.drain();
    assert_eq!(world.campaign_state("c1"), CampaignState::Completed);
    let deleted = delete_campaign(world.store(), "c1", world.now()).unwrap();
    assert_eq!((deleted.ledger_batches, deleted.feedback_kept), (3, true));
    let store = world.store();
    let left: Vec<String> = store
        .get_keys()
        .unwrap()
        .into_iter()
        .filter(|k| k.starts_with("dlv:c1:") || k.starts_with("camp:c1"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(world.active_campaigns().is_empty());
    assert_eq!(
        world.counter("c1", counter::SENT),
        250,
        "statistics are kept"
    );
    assert!(crate::feedback::require_campaign(store, "c1").is_ok());
    assert!(store.exists(&keys::deleted_campaign("c1")).unwrap());
    assert_eq!(
        delete_campaign(store, "c1", world.now())
            .unwrap_err()
            .status(),
        404
    );
}

#[test]
fn a_running_campaign_is_not_deleted() {
    let world = World::campaign_to(1..=150);
    world.on_send(3, |w| w.pause("c1"));
    world.tick();
    let err = delete_campaign(world.store(), "c1", world.now()).unwrap_err();
    assert_eq!((err.status(), err.code()), (409, "campaign_not_deletable"));
    assert!(world.batch("c1", 0).is_some(), "nothing was deleted");
    world.resume("c1");
    world.drain();
    assert!(world.each_sent_once());
}
