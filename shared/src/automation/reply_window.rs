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

    #[test]
    fn whatsapp_and_messenger_answer_within_a_day_telegram_and_viber_always() {
        let written: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
        for (channel, after_23h, after_24h, after_30d) in [
            ("whatsapp:1122334455", true, false, false),
            ("messenger:shop", true, false, false),
            ("telegram:shop", true, true, true),
            ("viber:shop", true, true, true),
        ] {
            let channel = Channel::parse(channel).unwrap();
            let answers = |later: Duration| may_answer(&channel, written, written + later);
            assert_eq!(answers(Duration::hours(23)), after_23h, "{channel}");
            assert_eq!(answers(Duration::hours(24)), after_24h, "{channel}");
            assert_eq!(answers(Duration::days(30)), after_30d, "{channel}");
        }
    }
}
