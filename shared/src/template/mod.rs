//! Message templates: versioned, per-locale message content written in minijinja, validated when saved
//! and rendered per recipient into a [`crate::message::RenderedMessage`]. Texts are written in a neutral
//! HTML subset ([`markup`]), every substituted value escaped; each platform writes that markup its own
//! way and sets its limits ([`crate::capabilities::TextFormat`]).
//!
//! The dispatcher calls [`load_version`] (pinning the version a campaign was scheduled with) and
//! [`render`] (or a [`Renderer`] for a batch); the templates component calls the CRUD and preview
//! functions of [`store`].
//!
//! ```
//! use std::collections::BTreeMap;
//! use spinpost::kv::MemoryStore;
//! use spinpost::subscriber::Platform;
//! use spinpost::template::{self, CampaignVars, NewTemplate, RenderInput};
//!
//! let store = MemoryStore::new();
//! let now = "2026-01-01T00:00:00Z".parse().unwrap();
//! let request: NewTemplate = serde_json::from_str(
//!     r#"{"name": "Welcome", "locales": {"en": {"text": "Hi <b>{{ subscriber.first_name | default('friend') }}</b>"}}}"#,
//! ).unwrap();
//! template::create_template(&store, request, now).unwrap();
//! let version = template::load_version(&store, "welcome", None).unwrap();
//! let subscriber = template::sample_subscriber(Platform::Telegram, None, now).unwrap();
//! let variables = BTreeMap::new();
//! let input = RenderInput { subscriber: &subscriber, campaign: CampaignVars { id: "c1", name: "Launch", variables: &variables } };
//! let message = template::render(&version, &input, Platform::Telegram).unwrap();
//! assert_eq!(message.text, "Hi <b>Ada</b>");
//! ```

mod engine;
pub mod limits;
pub mod markup;
mod model;
mod render;
pub mod store;
mod validate;

pub use engine::{CampaignVars, EventVars, RenderInput};
pub use markup::{escape_html, SUPPORTED_TAGS};
pub use model::{
    parse_name, ButtonSpec, NewTemplate, TemplateContent, TemplateHead, TemplateId, TemplateUpdate,
    TemplateVersion, Variant, WhatsappTemplateSpec,
};
pub use render::{render, render_with_event, Renderer};
pub use store::{
    create_template, delete_template, list_templates, load_head, load_latest, load_version,
    preview, update_template, Preview, PreviewRequest, SampleCampaign, SampleData,
    SampleSubscriber, TemplateWithVersion,
};
pub use validate::{sample_subscriber, validate_content};

#[cfg(test)]
mod tests;
