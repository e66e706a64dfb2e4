//! Answering Telegram button presses after they are recorded. An answer only stops the spinner and
//! shows a short note; a failure is reported and never undoes or repeats what the press recorded.

use serde::Serialize;

use super::platform_of;
use crate::messenger::HttpClient;
use crate::platform::telegram::callback_answer::answer_callback_query;
use crate::platform::telegram::Bots;
use crate::subscriber::{Channel, SubscriberId};

/// Shown when a rating was recorded (or redelivered).
pub const THANKS_FOR_RATING_TEXT: &str = "Thanks for your rating!";
/// Shown when the subscriber had rated the campaign already.
pub const ALREADY_RATED_TEXT: &str = "You already rated this message";
/// How many failure reasons a summary keeps.
const MAX_FAILURE_REASONS: usize = 5;

/// A Telegram callback query to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PressAnswer {
    /// Who pressed (`telegram:<bot>:<chat>`: the bot that must answer).
    pub subscriber: SubscriberId,
    /// Telegram's callback query id.
    pub callback_query_id: String,
    /// The note to show; empty answers silently.
    pub text: &'static str,
}

/// How answering went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AnswerSummary {
    /// Answers Telegram accepted.
    pub answered: usize,
    /// Answers that failed.
    pub failed: usize,
    /// The first few failure reasons (never containing a token).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

/// Answer every press through the bot of the subscriber's channel.
pub fn answer_presses<H: HttpClient + ?Sized>(
    client: &H,
    telegram_api_url: &str,
    bots: &Bots,
    presses: &[PressAnswer],
) -> AnswerSummary {
    let mut summary = AnswerSummary::default();
    for press in presses {
        let result = bot_of(&press.subscriber)
            .and_then(|channel| {
                bots.for_channel(&channel)
                    .map_err(|e| e.message().to_owned())
            })
            .and_then(|bot| {
                answer_callback_query(
                    client,
                    telegram_api_url,
                    bot,
                    &press.callback_query_id,
                    press.text,
                )
                .map_err(|e| e.message().to_owned())
            });
        match result {
            Ok(()) => summary.answered += 1,
            Err(reason) => {
                summary.failed += 1;
                if summary.failures.len() < MAX_FAILURE_REASONS {
                    summary.failures.push(reason);
                }
            }
        }
    }
    summary
}

fn bot_of(subscriber: &SubscriberId) -> Result<Channel, String> {
    let not_telegram = || format!("subscriber '{subscriber}' is not on Telegram");
    if platform_of(subscriber) != Some(crate::subscriber::Platform::Telegram) {
        return Err(not_telegram());
    }
    let (channel, _chat) = subscriber
        .as_str()
        .rsplit_once(':')
        .ok_or_else(not_telegram)?;
    Channel::parse(channel).map_err(|_| not_telegram())
}
