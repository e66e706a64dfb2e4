//! Any body delivered to the Messenger webhook, forged and authentic: see `webhook_delivery::check`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spinpost::platform::Platform;
use spinpost_fuzz::webhook_delivery;

fuzz_target!(|body: &[u8]| webhook_delivery::check(Platform::Messenger, body));
