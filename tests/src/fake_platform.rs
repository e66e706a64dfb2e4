//! A fake messenger API on 127.0.0.1: answers like Telegram's Bot API, WhatsApp's Graph API, Viber's
//! Bot API and Messenger's Send API, records every request with its arrival time, and answers with
//! scripted errors on demand. It can hold every answer back from a given request on, so a test knows
//! exactly which requests a process it kills had sent and not had answered.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (Null if not JSON).
    pub json: serde_json::Value,
    /// When it arrived.
    pub at: Instant,
    /// What the fake answered (status, JSON body).
    pub reply: (u16, serde_json::Value),
    /// When the answer was let out to the caller; `None` while it waits (latency, or held back).
    pub answered_at: Option<Instant>,
}

impl Recorded {
    /// The Telegram API method (`sendMessage`), the last path segment.
    pub fn api_method(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }

    /// The WhatsApp message id (`wamid`) the fake answered a successful send with.
    pub fn whatsapp_message_id(&self) -> Option<String> {
        if self.reply.0 != 200 {
            return None;
        }
        self.reply.1["messages"][0]["id"]
            .as_str()
            .map(str::to_owned)
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct FakeReply {
    /// Status.
    pub status: u16,
    /// JSON body.
    pub body: serde_json::Value,
}

impl FakeReply {
    /// Telegram's 429 with `parameters.retry_after`.
    pub fn telegram_too_many_requests(retry_after: u64) -> Self {
        FakeReply {
            status: 429,
            body: serde_json::json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {retry_after}"), "parameters": {"retry_after": retry_after}}),
        }
    }

    /// Telegram's 403 for a user who blocked the bot.
    pub fn telegram_blocked() -> Self {
        FakeReply {
            status: 403,
            body: serde_json::json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
        }
    }

    /// A server error.
    pub fn server_error() -> Self {
        FakeReply {
            status: 500,
            body: serde_json::json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
        }
    }

    /// Any status and body.
    pub fn custom(status: u16, body: serde_json::Value) -> Self {
        FakeReply { status, body }
    }
}

struct Script {
    /// Matches the recipient (`chat_id` for Telegram, `to` for WhatsApp, `receiver` for Viber) as text.
    recipient: String,
    replies: VecDeque<FakeReply>,
}

#[derive(Default)]
struct State {
    recorded: Vec<Recorded>,
    scripts: Vec<Script>,
    next_message_id: u64,
    /// How long every answer takes, as a real platform's round trip would.
    latency: std::time::Duration,
    /// Hold every answer back once this many requests for this API method were received.
    hold_from: Option<(String, usize)>,
}

impl State {
    /// Viber's `broadcast_message` answer: one token for the call, and in `failed_list` every receiver
    /// whose next scripted reply has a non-zero `status` (that reply used up).
    fn viber_broadcast_reply(&mut self, json: &serde_json::Value) -> FakeReply {
        let receivers: Vec<String> = json["broadcast_list"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut failed_list = Vec::new();
        for receiver in receivers {
            let scripted = self
                .scripts
                .iter_mut()
                .find(|s| s.recipient == receiver && !s.replies.is_empty())
                .and_then(|s| s.replies.pop_front());
            if let Some(reply) = scripted {
                let status = reply.body["status"].as_i64().unwrap_or(0);
                if status != 0 {
                    failed_list.push(serde_json::json!({
                        "receiver": receiver,
                        "status": status,
                        "status_message": reply.body["status_message"],
                    }));
                }
            }
        }
        FakeReply {
            status: 200,
            body: serde_json::json!({
                "status": 0,
                "status_message": "ok",
                "message_token": VIBER_FIRST_MESSAGE_TOKEN + self.next_message_id,
                "failed_list": failed_list,
            }),
        }
    }
}

/// The running fake.
#[derive(Clone)]
pub struct FakePlatform {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// Whether answers are held back (see [`FakePlatform::hold_answers_from`]); changed only while
    /// `state` is locked, so a request is recorded and held in one step.
    holding: Arc<tokio::sync::watch::Sender<bool>>,
    /// Signalled as each request is recorded, for whoever prints them as they come.
    received: Arc<tokio::sync::Notify>,
}

fn recipient_of(json: &serde_json::Value) -> Option<String> {
    let value = json
        .get("chat_id")
        .or_else(|| json.get("to"))
        .or_else(|| json.get("receiver"))
        .or_else(|| json.pointer("/recipient/id"))?;
    Some(match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

impl FakePlatform {
    /// Start on a free loopback port; runs until the test's runtime ends.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0")
            .await
            .expect("bind fake platform")
    }

    /// Start on `listen` (e.g. `127.0.0.1:3100`); runs until the runtime ends.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn start_on(listen: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let holding = Arc::new(tokio::sync::watch::Sender::new(false));
        let fake = FakePlatform {
            addr,
            state,
            holding,
            received: Arc::new(tokio::sync::Notify::new()),
        };
        let serving = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let fake = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let fake = fake.clone();
                        async move { Ok::<_, std::convert::Infallible>(fake.answer(req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(fake)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn answer(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let method = req.method().to_string();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let headers = req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let json: serde_json::Value =
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        let (reply, index) = {
            let mut state = self.state.lock().expect("fake state");
            let recipient = recipient_of(&json);
            let scripted = recipient.as_ref().and_then(|r| {
                state
                    .scripts
                    .iter_mut()
                    .find(|s| &s.recipient == r && !s.replies.is_empty())
                    .and_then(|s| s.replies.pop_front())
            });
            let reply = match scripted {
                Some(reply) => reply,
                None if path.ends_with("/pa/broadcast_message") => {
                    state.next_message_id += 1;
                    state.viber_broadcast_reply(&json)
                }
                None => {
                    state.next_message_id += 1;
                    let messenger = json.get("messaging_type").is_some();
                    default_reply(
                        &path,
                        state.next_message_id,
                        recipient.as_deref(),
                        messenger,
                    )
                }
            };
            let api_method = path.rsplit('/').next().unwrap_or_default().to_owned();
            state.recorded.push(Recorded {
                method,
                path: path.clone(),
                headers,
                json,
                at: Instant::now(),
                reply: (reply.status, reply.body.clone()),
                answered_at: None,
            });
            // Counted only while a hold waits for its request, so the benches' fake stays O(1).
            let hold_now = state.hold_from.as_ref().is_some_and(|(method, nth)| {
                *method == api_method
                    && state
                        .recorded
                        .iter()
                        .filter(|r| r.api_method() == api_method)
                        .count()
                        >= *nth
            });
            if hold_now {
                state.hold_from = None;
                self.holding.send_replace(true);
            }
            (reply, state.recorded.len() - 1)
        };
        self.received.notify_one();
        let latency = self.state.lock().expect("fake state").latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        self.let_out(index).await;
        hyper::Response::builder()
            .status(reply.status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(reply.body.to_string())))
            .expect("valid response")
    }

    /// Wait until answers are not held back, then mark request `index` answered. Marked in the same
    /// step as the check, so an answer is either let out before a hold or held by it.
    async fn let_out(&self, index: usize) {
        let mut released = self.holding.subscribe();
        loop {
            {
                let mut state = self.state.lock().expect("fake state");
                if !*released.borrow_and_update() {
                    state.recorded[index].answered_at = Some(Instant::now());
                    return;
                }
            }
            if released.changed().await.is_err() {
                return;
            }
        }
    }

    /// From the `nth` request for `api_method` on (counting every one received so far), hold back
    /// every answer, that request's and all others not yet let out, until
    /// [`FakePlatform::release_answers`]. The hold starts as that request is recorded, so which
    /// requests it holds does not depend on when the test looks.
    pub fn hold_answers_from(&self, api_method: &str, nth: usize) {
        let mut state = self.state.lock().expect("fake state");
        let received = state
            .recorded
            .iter()
            .filter(|r| r.api_method() == api_method)
            .count();
        if received >= nth {
            self.holding.send_replace(true);
        } else {
            state.hold_from = Some((api_method.to_owned(), nth));
        }
    }

    /// Whether answers are held back now.
    pub fn holding_answers(&self) -> bool {
        *self.holding.borrow()
    }

    /// Let every held answer out, and answer normally again.
    pub fn release_answers(&self) {
        let _state = self.state.lock().expect("fake state");
        self.holding.send_replace(false);
    }

    /// The requests received whose answer has not been let out: waiting out the latency, held, or
    /// given up because the caller's connection closed first (those stay unanswered for good).
    pub fn unanswered(&self) -> Vec<Recorded> {
        self.recorded()
            .into_iter()
            .filter(|r| r.answered_at.is_none())
            .collect()
    }

    /// Answer every request `latency` after it arrived (requests in flight together wait together).
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.state.lock().expect("fake state").latency = latency;
    }

    /// Answer the next requests for `recipient` with `replies`, in order, then normally again.
    pub fn script(&self, recipient: &str, replies: Vec<FakeReply>) {
        self.state.lock().expect("fake state").scripts.push(Script {
            recipient: recipient.to_owned(),
            replies: replies.into(),
        });
    }

    /// Wait until a request is recorded (at once when one was recorded since the last wait).
    pub async fn request_received(&self) {
        self.received.notified().await;
    }

    /// Everything received so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.lock().expect("fake state").recorded.clone()
    }

    /// Requests received for one API method (last path segment, e.g. `sendMessage`, `messages`).
    pub fn calls(&self, api_method: &str) -> Vec<Recorded> {
        self.recorded()
            .into_iter()
            .filter(|r| r.api_method() == api_method)
            .collect()
    }

    /// The texts of the Telegram messages sent to chat `chat`, in order.
    pub fn telegram_texts_to(&self, chat: i64) -> Vec<String> {
        self.calls("sendMessage")
            .into_iter()
            .filter(|call| call.json["chat_id"].as_i64() == Some(chat))
            .map(|call| call.json["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The WhatsApp message ids of every successful send so far, in order.
    pub fn whatsapp_message_ids(&self) -> Vec<String> {
        self.calls("messages")
            .iter()
            .filter_map(Recorded::whatsapp_message_id)
            .collect()
    }

    /// Requests for one API method, grouped by the recipient each names (chat, phone, receiver or
    /// page-scoped id).
    pub fn calls_by_recipient(
        &self,
        api_method: &str,
    ) -> std::collections::BTreeMap<String, Vec<Recorded>> {
        let mut by_recipient = std::collections::BTreeMap::<String, Vec<Recorded>>::new();
        for call in self.calls(api_method) {
            let recipient = recipient_of(&call.json).unwrap_or_default();
            by_recipient.entry(recipient).or_default().push(call);
        }
        by_recipient
    }
}

/// The fake's Viber message tokens count up from here, above 2^53 as real ones are.
pub const VIBER_FIRST_MESSAGE_TOKEN: u64 = 5_000_000_000_000_000_000;

fn default_reply(
    path: &str,
    message_id: u64,
    recipient: Option<&str>,
    messenger: bool,
) -> FakeReply {
    if messenger && path.ends_with("/messages") {
        // Messenger's Send API: POST /{version}/{page-id}/messages.
        return FakeReply {
            status: 200,
            body: serde_json::json!({
                "recipient_id": recipient.unwrap_or_default(),
                "message_id": format!("m_fake{message_id}")
            }),
        };
    }
    if path.ends_with("/messages") {
        // Graph API: POST /{version}/{phone-number-id}/messages.
        return FakeReply {
            status: 200,
            body: serde_json::json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": recipient.unwrap_or_default(), "wa_id": recipient.unwrap_or_default()}],
                // As long as Meta's ids (base64 of the number and a message key), so that batches of
                // receipts are as large as real ones.
                "messages": [{"id": format!("wamid.HBgMOTcyNTAwMDAwMDAxFQIAERgSFAKE{message_id:0>24}AA==")}]
            }),
        };
    }
    if path.ends_with("/pa/send_message") {
        // Viber Bot API: message tokens are 64-bit integers above 2^53.
        return FakeReply {
            status: 200,
            body: serde_json::json!({
                "status": 0,
                "status_message": "ok",
                "message_token": VIBER_FIRST_MESSAGE_TOKEN + message_id,
                "chat_hostname": "SN-CHAT-01_",
                "billing_status": 0
            }),
        };
    }
    if path.ends_with("/answerCallbackQuery") {
        return FakeReply {
            status: 200,
            body: serde_json::json!({"ok": true, "result": true}),
        };
    }
    FakeReply {
        status: 200,
        body: serde_json::json!({"ok": true, "result": {"message_id": message_id, "date": 0, "chat": {"id": 0, "type": "private"}}}),
    }
}
