//! The ports through which messages leave: [`HttpClient`] (the host's outbound HTTP, one request or
//! many in flight together), [`Messenger`] (rendered messages to addresses, answered in the
//! platform-neutral [`SendOutcome`]) and [`PressAcknowledger`] (the answer to a button press that a
//! platform's client waits for). A platform's request with the way to read its answer is an [`ApiCall`].

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

    /// Send every request at once and wait for all their answers, given in the order of `requests`.
    /// A host that can keep requests in flight together overrides this; the default sends them one
    /// after another.
    fn send_all(
        &self,
        requests: Vec<http::Request<Vec<u8>>>,
    ) -> Vec<Result<http::Response<Vec<u8>>, TransportError>> {
        requests
            .into_iter()
            .map(|request| self.send(request))
            .collect()
    }
}

/// One platform API call ready to go: the request, how its answer reads, and the credential that must
/// never show in a transport error.
pub struct ApiCall {
    /// The request to send.
    pub request: http::Request<Vec<u8>>,
    /// Reads the answer to `request`.
    pub reader: AnswerReader,
}

/// Turns the answer to an [`ApiCall`] into a [`SendOutcome`] per recipient of the call.
#[derive(Clone)]
pub struct AnswerReader {
    read: Read,
    secret: Option<crate::secret::Secret>,
}

/// How an answer reads: one outcome, or one per receiver of a broadcast.
#[derive(Clone)]
enum Read {
    One(fn(u16, &[u8]) -> SendOutcome),
    Each {
        read: fn(u16, &[u8], &[String]) -> Vec<SendOutcome>,
        receivers: Vec<String>,
    },
}

impl ApiCall {
    /// A call whose answer `read` translates from its status and body; `secret` (a token in the URL or
    /// headers) is replaced by `***` in transport errors.
    pub fn new(
        request: http::Request<Vec<u8>>,
        read: fn(u16, &[u8]) -> SendOutcome,
        secret: Option<crate::secret::Secret>,
    ) -> Self {
        ApiCall {
            request,
            reader: AnswerReader {
                read: Read::One(read),
                secret,
            },
        }
    }

    /// A call that sends one message to every address of `receivers` (a platform's broadcast); `read`
    /// translates its status and body into one outcome per receiver, in the order of `receivers`.
    pub fn for_each(
        request: http::Request<Vec<u8>>,
        read: fn(u16, &[u8], &[String]) -> Vec<SendOutcome>,
        receivers: Vec<String>,
        secret: Option<crate::secret::Secret>,
    ) -> Self {
        ApiCall {
            request,
            reader: AnswerReader {
                read: Read::Each { read, receivers },
                secret,
            },
        }
    }

    /// Send it alone and read the answer (the first receiver's outcome, for a broadcast).
    pub fn send<H: HttpClient + ?Sized>(self, client: &H) -> SendOutcome {
        let ApiCall { request, reader } = self;
        reader
            .read(client.send(request))
            .into_iter()
            .next()
            .unwrap_or_else(|| SendOutcome::Transient {
                reason: "the call named no receiver".into(),
            })
    }
}

impl AnswerReader {
    /// How many outcomes the call's answer gives.
    fn receivers(&self) -> usize {
        match &self.read {
            Read::One(_) => 1,
            Read::Each { receivers, .. } => receivers.len(),
        }
    }

    /// The outcomes of the call, one per receiver: the platform's answer translated, or a transient
    /// failure when no answer came (retried with backoff).
    pub fn read(
        &self,
        answer: Result<http::Response<Vec<u8>>, TransportError>,
    ) -> Vec<SendOutcome> {
        match answer {
            Ok(response) => {
                let (status, body) = (response.status().as_u16(), response.body());
                match &self.read {
                    Read::One(read) => vec![read(status, body)],
                    Read::Each { read, receivers } => {
                        let mut outcomes = read(status, body, receivers);
                        // A reader that answers fewer receivers than asked leaves the rest unknown.
                        outcomes.resize(
                            receivers.len(),
                            SendOutcome::Transient {
                                reason: "the answer named no outcome for this receiver".into(),
                            },
                        );
                        outcomes
                    }
                }
            }
            Err(e) => {
                let reason = e.to_string();
                let reason = match self.secret.as_ref().map(|s| s.expose()) {
                    Some(token) if !token.is_empty() => reason.replace(token, "***"),
                    _ => reason,
                };
                vec![SendOutcome::Transient { reason }; self.receivers()]
            }
        }
    }
}

/// Send `calls` in flight together through `client`: each call's outcomes (one per receiver), or the
/// outcome decided without a call (`Err`), in the order given.
pub fn send_calls<H: HttpClient + ?Sized>(
    client: &H,
    calls: Vec<Result<ApiCall, SendOutcome>>,
) -> Vec<SendOutcome> {
    let mut requests = Vec::new();
    let mut plan = Vec::with_capacity(calls.len());
    for call in calls {
        plan.push(match call {
            Ok(ApiCall { request, reader }) => {
                requests.push(request);
                Ok(reader)
            }
            Err(decided) => Err(decided),
        });
    }
    let mut answers = client.send_all(requests).into_iter();
    plan.into_iter()
        .flat_map(|planned| match planned {
            Ok(reader) => reader.read(answers.next().unwrap_or_else(|| {
                Err(TransportError(
                    "the host gave no answer to this request".into(),
                ))
            })),
            Err(decided) => vec![decided],
        })
        .collect()
}

/// The recipients of one request where the platform can carry them together: the same message to each
/// of `to` ([`Messenger::send_groups`]).
#[derive(Debug, Clone)]
pub struct Group<'a, M> {
    /// The recipients.
    pub to: Vec<&'a Address>,
    /// The message each of them gets.
    pub message: &'a M,
}

/// Cut `outcomes` (every recipient's, in order) into one list per group.
pub fn split_by_group<M>(
    outcomes: Vec<SendOutcome>,
    groups: &[Group<'_, M>],
) -> Vec<Vec<SendOutcome>> {
    let mut outcomes = outcomes.into_iter();
    groups
        .iter()
        .map(|group| outcomes.by_ref().take(group.to.len()).collect())
        .collect()
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
    /// The platform limits messages to this one recipient (WhatsApp 131056): wait before sending them
    /// again; the channel keeps sending to everyone else.
    RecipientRateLimited {
        /// Seconds to wait before this recipient is tried again.
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

    /// Send each `(address, message)` on `channel` with the requests in flight together; the outcomes
    /// in the order of `sends`. The default sends them one after another.
    fn send_many(
        &self,
        channel: &Channel,
        sends: &[(&Address, &Self::Message)],
    ) -> Vec<SendOutcome> {
        sends
            .iter()
            .map(|(to, message)| self.send(channel, to, message))
            .collect()
    }

    /// Send each group with the requests in flight together: a group of several recipients in one
    /// request where the platform broadcasts, each recipient alone otherwise; each group's outcomes
    /// in the order of its addresses. The default sends every recipient alone through
    /// [`Messenger::send_many`].
    fn send_groups(
        &self,
        channel: &Channel,
        groups: &[Group<'_, Self::Message>],
    ) -> Vec<Vec<SendOutcome>> {
        let sends: Vec<(&Address, &Self::Message)> = groups
            .iter()
            .flat_map(|group| group.to.iter().map(move |&to| (to, group.message)))
            .collect();
        split_by_group(self.send_many(channel, &sends), groups)
    }
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
