//! The messaging platform as the sender sees it in these tests: it records every call with the time it
//! was asked, answers "sent" with a fresh message id unless an answer was scripted for the chat, and can
//! hand back a hook to run at the n-th call.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::messenger::SendOutcome;

/// "429: retry after `secs`".
pub fn rate_limited(retry_after_secs: u64) -> SendOutcome {
    SendOutcome::RateLimited {
        retry_after_secs,
        reason: format!("Too Many Requests: retry after {retry_after_secs}"),
    }
}

/// WhatsApp's 131056: too many messages to this one recipient.
pub fn recipient_rate_limited(retry_after_secs: u64) -> SendOutcome {
    SendOutcome::RecipientRateLimited {
        retry_after_secs,
        reason: "too many messages to this recipient in a short time".into(),
    }
}

/// A 5xx.
pub fn server_error() -> SendOutcome {
    SendOutcome::Transient {
        reason: "500: Internal Server Error".into(),
    }
}

/// The recipient blocked the bot.
pub fn blocked_by_user() -> SendOutcome {
    SendOutcome::RecipientGone {
        code: "403".into(),
        reason: "Forbidden: bot was blocked by the user".into(),
    }
}

/// A request the platform refuses for good.
pub fn bad_request() -> SendOutcome {
    SendOutcome::Rejected {
        code: "400".into(),
        reason: "Bad Request: can't parse entities".into(),
    }
}

/// The recipient has not written within the platform's service window.
pub fn outside_service_window() -> SendOutcome {
    SendOutcome::OutsideWindow {
        reason: "the recipient has not written in the last 24 hours".into(),
    }
}

/// One call to the platform: the chat and when it was asked.
pub type Call = (String, DateTime<Utc>);

/// The recording messenger's memory: calls, scripted answers and the one pending hook.
pub struct FakeMessenger<H> {
    calls: Mutex<Vec<Call>>,
    script: Mutex<HashMap<String, VecDeque<SendOutcome>>>,
    next_message_id: AtomicUsize,
    hook: Mutex<Option<(usize, H)>>,
}

impl<H> Default for FakeMessenger<H> {
    fn default() -> Self {
        FakeMessenger {
            calls: Mutex::default(),
            script: Mutex::default(),
            next_message_id: AtomicUsize::new(1000),
            hook: Mutex::new(None),
        }
    }
}

impl<H> FakeMessenger<H> {
    /// Answer the next calls to `chat` with `outcomes`, in order, then "sent" again.
    pub fn script(&self, chat: &str, outcomes: impl IntoIterator<Item = SendOutcome>) {
        self.script
            .lock()
            .unwrap()
            .insert(chat.to_owned(), outcomes.into_iter().collect());
    }

    /// Hand `hook` back at the `call_number`-th call (counting from 1, over every tick).
    pub fn on_call(&self, call_number: usize, hook: H) {
        *self.hook.lock().unwrap() = Some((call_number, hook));
    }

    /// Record a call; the hook due at this call, if any.
    pub fn record(&self, chat: &str, at: DateTime<Utc>) -> Option<H> {
        let call_number = {
            let mut calls = self.calls.lock().unwrap();
            calls.push((chat.to_owned(), at));
            calls.len()
        };
        let due = self
            .hook
            .lock()
            .unwrap()
            .take_if(|(at, _)| *at == call_number);
        due.map(|(_, hook)| hook)
    }

    /// The scripted answer for `chat`, or "sent" with a fresh message id.
    pub fn answer(&self, chat: &str) -> SendOutcome {
        let scripted = self
            .script
            .lock()
            .unwrap()
            .get_mut(chat)
            .and_then(VecDeque::pop_front);
        scripted.unwrap_or_else(|| SendOutcome::Sent {
            message_id: self
                .next_message_id
                .fetch_add(1, Ordering::SeqCst)
                .to_string(),
        })
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// How many times each chat was called.
    pub fn calls_per_chat(&self) -> BTreeMap<String, usize> {
        let mut per_chat = BTreeMap::new();
        for (chat, _) in self.calls.lock().unwrap().iter() {
            *per_chat.entry(chat.clone()).or_insert(0) += 1;
        }
        per_chat
    }
}
