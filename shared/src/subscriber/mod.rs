//! Subscribers: who may be messaged, on which channel, with what consent, and what we know of them.
//! One concept per file; everything is re-exported here, so `crate::subscriber::X` names each.

mod address;
mod attribute;
mod channel;
mod consent;
mod external_id;
mod locale;
mod profile;
mod record;
mod status;
mod subscriber_id;
mod tag;
mod timezone;

pub use address::Address;
pub use attribute::{check_attribute_value, AttributeName, MAX_ATTRIBUTE_VALUE_CHARS};
pub(crate) use channel::is_slug;
pub use channel::{Channel, Platform};
pub use consent::{ConsentAction, ConsentEvent, MAX_CONSENT_EVENTS};
pub use external_id::{ExternalId, MAX_EXTERNAL_ID_CHARS};
pub use locale::Locale;
pub use profile::{Profile, MAX_NAME_CHARS};
pub use record::{Subscriber, MAX_ATTRIBUTES, MAX_TAGS};
pub use status::SubscriptionStatus;
pub use subscriber_id::SubscriberId;
pub use tag::Tag;
pub use timezone::TimeZone;
