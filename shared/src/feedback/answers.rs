//! Answering button presses after they are recorded, on the platforms whose clients wait for an
//! answer. An answer only stops the spinner and shows a short note; a failure is reported and never
//! undoes or repeats what the press recorded.

use serde::Serialize;

use crate::messenger::PressAcknowledger;
use crate::subscriber::{Channel, SubscriberId};

/// Shown when a rating was recorded (or redelivered).
pub const THANKS_FOR_RATING_TEXT: &str = "Thanks for your rating!";
/// Shown when the subscriber had rated the campaign already.
pub const ALREADY_RATED_TEXT: &str = "You already rated this message";
/// How many failure reasons a summary keeps.
const MAX_FAILURE_REASONS: usize = 5;

/// A button press to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PressAnswer {
    /// Who pressed (`<platform>:<account>:<address>`: the channel that must answer).
    pub subscriber: SubscriberId,
    /// The platform's id of the press (Telegram's callback query id).
    pub callback_query_id: String,
    /// The note to show; empty answers silently.
    pub text: &'static str,
}

/// How answering went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AnswerSummary {
    /// Answers the platform accepted.
    pub answered: usize,
    /// Answers that failed.
    pub failed: usize,
    /// The first few failure reasons (never containing a token).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

/// Answer every press through the subscriber's channel.
pub fn answer_presses<A: PressAcknowledger + ?Sized>(
    acknowledger: &A,
    presses: &[PressAnswer],
) -> AnswerSummary {
    let mut summary = AnswerSummary::default();
    for press in presses {
        let result = channel_of(&press.subscriber).and_then(|channel| {
            acknowledger
                .acknowledge(&channel, &press.callback_query_id, press.text)
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

/// The channel of a subscriber id (`telegram:shop:42` is on `telegram:shop`).
fn channel_of(subscriber: &SubscriberId) -> Result<Channel, String> {
    let no_channel = || format!("subscriber '{subscriber}' has no channel to answer on");
    let (channel, _address) = subscriber
        .as_str()
        .rsplit_once(':')
        .ok_or_else(no_channel)?;
    Channel::parse(channel).map_err(|_| no_channel())
}
