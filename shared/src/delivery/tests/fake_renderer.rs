//! A renderer that stands in for the template engine.

use crate::campaign::Campaign;
use crate::delivery::{EventContext, MessageRenderer};
use crate::message::RenderedMessage;
use crate::subscriber::{AttributeName, Subscriber};

/// Renders "Hi <first name> from <campaign name> (<template id>)"; a subscriber with the attribute `broken` fails to
/// render.
pub struct FakeRenderer;

impl MessageRenderer for FakeRenderer {
    fn render(
        &self,
        subscriber: &Subscriber,
        campaign: &Campaign,
    ) -> crate::Result<RenderedMessage> {
        let broken = AttributeName::parse("broken").expect("a valid attribute name");
        if subscriber.attributes.contains_key(&broken) {
            return Err(crate::Error::unprocessable(
                "template_render_failed",
                "undefined value",
            ));
        }
        Ok(RenderedMessage {
            text: format!(
                "Hi {} from {} ({})",
                subscriber.profile.first_name.as_deref().unwrap_or("friend"),
                campaign.name,
                campaign.template_id
            ),
            photo_url: None,
            buttons: vec![],
            platform_template: None,
            message_tag: None,
        })
    }

    /// The campaign's message followed by the event's data, e.g. `Hi Ada from Orders {"order":"4711"}`.
    fn render_event(
        &self,
        subscriber: &Subscriber,
        campaign: &Campaign,
        event: &EventContext,
    ) -> crate::Result<RenderedMessage> {
        let mut message = self.render(subscriber, campaign)?;
        message.text = format!("{} {}", message.text, event.data);
        Ok(message)
    }
}
