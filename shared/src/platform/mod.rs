//! Platform specifics, one module each: configuration, webhook parsing and signature checks, and the
//! translation of a rendered message into the platform's API request and of its answer into a
//! [`crate::messenger::SendOutcome`]. Everything else in the core is platform-neutral.

#[cfg(test)]
mod fixtures;
pub mod telegram;
pub mod whatsapp;
