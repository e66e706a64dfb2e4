//! End-to-end tests: the real `.wasm` components in the embedded host.

mod api_lifecycle;
mod autoreplies;
mod console;
mod contract;
mod crafted_input;
mod events;
mod host;
mod identity;
mod intake;
mod limits;
mod messenger;
mod meta_webhooks;
mod telegram;
mod viber;
mod whatsapp;
