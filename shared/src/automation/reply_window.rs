//! Whether a person's message may still be answered with a free-form message: inside the platform's
//! reply window after it was written (WhatsApp and Messenger: 24 hours; Telegram and Viber: always).

use chrono::{DateTime, Utc};

use crate::subscriber::Channel;

/// Whether a message written on `channel` at `written_at` may be answered at `now`. A webhook the
/// platform redelivers a day late finds the window closed, and the person is not answered.
pub fn may_answer(channel: &Channel, written_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    channel
        .platform()
        .capabilities()
        .service_window
        .is_none_or(|window| now - written_at < window)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn written() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn whatsapp_and_messenger_answer_only_within_a_day_of_the_message() {
        for channel in ["whatsapp:1122334455", "messenger:shop"] {
            let channel = Channel::parse(channel).unwrap();
            assert!(may_answer(
                &channel,
                written(),
                written() + Duration::hours(23)
            ));
            assert!(!may_answer(
                &channel,
                written(),
                written() + Duration::hours(24)
            ));
        }
    }

    #[test]
    fn telegram_and_viber_have_no_window() {
        for channel in ["telegram:shop", "viber:shop"] {
            let channel = Channel::parse(channel).unwrap();
            assert!(may_answer(
                &channel,
                written(),
                written() + Duration::days(30)
            ));
        }
    }
}
