//! Editing a paused campaign changes what the rest of its recipients get, never who they are.

use super::world::World;
use crate::campaign::{self, CampaignEdit, CampaignState, TemplateVersions};
use crate::event::counter;

struct TwoVersions;

impl TemplateVersions for TwoVersions {
    fn resolve(&self, _: &str, version: Option<u32>) -> crate::Result<u32> {
        Ok(version.unwrap_or(2))
    }
}

#[test]
fn an_edit_while_paused_keeps_every_recipient_sent_exactly_once() {
    let world = World::campaign_to(1..=150);
    world.on_send(3, |w| w.pause("c1"));
    // The wave in flight goes out; the campaign is read again before the next.
    assert_eq!(world.tick().sent, 25);
    let edit: CampaignEdit =
        serde_json::from_str(r#"{"name": "Launch, corrected", "template_version": 2}"#).unwrap();
    let edited = campaign::edit(world.store(), &TwoVersions, "c1", edit, world.now()).unwrap();
    assert_eq!(edited.template_version, Some(2));
    let frozen: CampaignEdit =
        serde_json::from_str(r#"{"audience": {"all_tags": ["vip"]}}"#).unwrap();
    assert_eq!(
        campaign::edit(world.store(), &TwoVersions, "c1", frozen, world.now())
            .unwrap_err()
            .code(),
        "audience_frozen"
    );
    world.resume("c1");
    world.drain();
    assert_eq!(world.campaign_state("c1"), CampaignState::Completed);
    assert_eq!(world.send_count(), 150);
    assert!(world.each_sent_once());
    assert_eq!(world.counter("c1", counter::SENT), 150);
}
