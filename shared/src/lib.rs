//! Spinpost's domain core: subscribers and consent, templates, campaigns and the delivery ledger,
//! feedback and statistics, and the ports ([`kv::KvStore`], [`messenger::Messenger`], [`clock::Clock`])
//! through which the Spin components reach the world. Nothing here depends on Spin or any host.

pub mod automation;
pub mod campaign;
pub mod capabilities;
pub mod clock;
pub mod deletion;
pub mod delivery;
pub mod directory;
pub mod erasure;
pub mod error;
pub mod event;
pub mod feedback;
pub mod health;
pub mod index;
pub mod ingress;
pub mod keys;
pub mod kv;
pub mod link;
pub mod message;
pub mod messenger;
mod newtype;
pub mod paging;
pub mod platform;
pub mod secret;
pub mod segment;
pub mod subscriber;
pub mod template;
pub mod web;
pub mod welcome;

pub use error::{Error, ErrorKind, Result};
