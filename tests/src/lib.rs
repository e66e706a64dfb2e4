//! The end-to-end harness: builds the components once, runs them in the embedded host on a free port
//! with a temporary state dir, and stands up a fake platform API that records what it receives.

pub mod app;
pub mod bench;
pub mod fake_platform;
pub mod fixtures;
pub mod host_process;
pub mod raw_http;
pub mod replicas;
pub mod store_under_test;
pub mod webhooks;

pub use app::{TestApp, ADMIN_TOKEN, TELEGRAM_BOT, TELEGRAM_WEBHOOK_SECRET, TICK_TOKEN};
pub use fake_platform::{FakePlatform, FakeReply, Recorded};
