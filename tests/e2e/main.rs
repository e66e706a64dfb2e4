//! End-to-end tests: the real `.wasm` components in the embedded host.

mod ab_test;
mod api_lifecycle;
mod autoreplies;
mod console;
mod contract;
mod crafted_input;
mod events;
mod frequency_caps;
mod host;
mod identity;
mod intake;
mod limits;
mod local_time;
mod messenger;
mod meta_webhooks;
mod recurring;
mod segments;
mod telegram;
mod viber;
mod whatsapp;
