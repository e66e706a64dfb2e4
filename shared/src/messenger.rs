//! The ports through which messages leave: [`HttpClient`] (the host's outbound HTTP), [`Messenger`]
//! (one rendered message to one address, answered in the platform-neutral [`SendOutcome`]) and
//! [`PressAcknowledger`] (the answer to a button press that a platform's client waits for).

use crate::error::Result;
use crate::subscriber::{Address, Channel};

/// A failure to get any HTTP response (refused host, DNS, connection reset, timeout).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transport: {0}")]
pub struct TransportError(pub String);

/// Outbound HTTP: Spin's `wasi:http/outgoing-handler` in components, a fake in unit tests.
pub trait HttpClient {
    /// Send a request and read the whole response.
    ///
    /// # Errors
    /// [`TransportError`] when no response arrived; an HTTP error status is a response, not an error.
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError>;
}

/// What became of one send attempt, in terms the dispatcher acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted by the platform.
    Sent {
        /// The platform's message id (Telegram `message_id`, WhatsApp `wamid…`).
        message_id: String,
    },
    /// The platform asks us to slow down: pause this channel, then try the same message again.
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
        /// The platform's words.
        reason: String,
    },
    /// A temporary failure (5xx, network): retry with backoff.
    Transient {
        /// What happened.
        reason: String,
    },
    /// The platform allows this message only inside the recipient's service (reply) window, which is
    /// closed: not sent now, recorded as skipped.
    OutsideWindow {
        /// Why the window does not allow it.
        reason: String,
    },
    /// The recipient blocked us, left or does not exist: suppress them, never retry.
    RecipientGone {
        /// The platform's code.
        code: String,
        /// The platform's words.
        reason: String,
    },
    /// The platform refused this message for good (bad request, policy): record it, do not retry.
    Rejected {
        /// The platform's code.
        code: String,
        /// The platform's words.
        reason: String,
    },
}

/// Sends rendered messages on one platform.
pub trait Messenger {
    /// The platform-specific rendered message this messenger sends.
    type Message;
    /// Send `message` to `to` on `channel`.
    fn send(&self, channel: &Channel, to: &Address, message: &Self::Message) -> SendOutcome;
}

/// Acknowledges button presses on the platforms whose clients wait for an answer
/// ([`crate::capabilities::Capabilities::acknowledges_presses`]).
pub trait PressAcknowledger {
    /// Answer the press `press_id` made on `channel`, showing `text` (empty: silently).
    ///
    /// # Errors
    /// When the channel is not configured, or the platform could not be reached or refused; the
    /// message never contains a credential.
    fn acknowledge(&self, channel: &Channel, press_id: &str, text: &str) -> Result<()>;
}
