//! One [`Messenger`] over every configured platform: it picks the adapter by the channel's platform, so
//! a second platform is one more arm here, not a second sending pipeline.

use crate::clock::Clock;
use crate::messenger::{HttpClient, Messenger, SendOutcome};
use crate::platform::telegram::{self, Bots};
use crate::platform::whatsapp::{self, WhatsAppConfig};
use crate::subscriber::{Address, Channel, Platform};

use super::Outgoing;

/// Telegram settings: the Bot API base URL and the bots.
#[derive(Debug, Clone)]
pub struct TelegramSender {
    /// `telegram_api_url`, e.g. `https://api.telegram.org`.
    pub api_url: String,
    /// The configured bots (`telegram_bots`).
    pub bots: Bots,
}

/// WhatsApp settings: the Graph API base URL and version, and the number's configuration.
#[derive(Debug, Clone)]
pub struct WhatsAppSender {
    /// `whatsapp_api_url`, e.g. `https://graph.facebook.com`.
    pub api_url: String,
    /// `whatsapp_api_version`, e.g. `v21.0`.
    pub api_version: String,
    /// The number and its token.
    pub config: WhatsAppConfig,
}

/// Sends an [`Outgoing`] message through the adapter of the channel's platform.
pub struct PlatformMessenger<'a, H: ?Sized> {
    /// Outbound HTTP.
    pub http: &'a H,
    /// The time, for WhatsApp's service window.
    pub clock: &'a dyn Clock,
    /// Telegram, when configured.
    pub telegram: Option<TelegramSender>,
    /// WhatsApp, when configured.
    pub whatsapp: Option<WhatsAppSender>,
}

fn not_configured(channel: &Channel) -> SendOutcome {
    SendOutcome::Rejected {
        code: "channel_not_configured".into(),
        reason: format!("channel '{channel}' is not configured in this deployment"),
    }
}

impl<H: HttpClient + ?Sized> Messenger for PlatformMessenger<'_, H> {
    type Message = Outgoing;

    fn send(&self, channel: &Channel, to: &Address, message: &Outgoing) -> SendOutcome {
        match channel.platform() {
            Platform::Telegram => {
                let Some(settings) = &self.telegram else {
                    return not_configured(channel);
                };
                let Ok(bot) = settings.bots.for_channel(channel) else {
                    return not_configured(channel);
                };
                let request = telegram::send::request(&message.campaign_id, to, &message.message);
                telegram::send::send(self.http, &settings.api_url, bot, &request)
            }
            Platform::Whatsapp => {
                let Some(settings) = self
                    .whatsapp
                    .as_ref()
                    .filter(|w| &w.config.channel == channel)
                else {
                    return not_configured(channel);
                };
                let form = match whatsapp::send::choose_form(
                    &message.message,
                    message.last_inbound_at,
                    self.clock.now(),
                ) {
                    Ok(form) => form,
                    Err((code, reason)) => return SendOutcome::Rejected { code, reason },
                };
                let body =
                    whatsapp::send::request_body(&message.campaign_id, to, &message.message, &form);
                whatsapp::send::send(
                    self.http,
                    &settings.api_url,
                    &settings.api_version,
                    &settings.config,
                    &body,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::message::RenderedMessage;
    use crate::messenger::TransportError;
    use crate::secret::Secret;
    use std::sync::Mutex;

    struct Recorder(Mutex<Vec<String>>);
    impl HttpClient for Recorder {
        fn send(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> Result<http::Response<Vec<u8>>, TransportError> {
            self.0.lock().unwrap().push(request.uri().to_string());
            let body = if request.uri().to_string().contains("/messages") {
                br#"{"messages":[{"id":"wamid.1"}]}"#.to_vec()
            } else {
                br#"{"ok":true,"result":{"message_id":5}}"#.to_vec()
            };
            Ok(http::Response::new(body))
        }
    }

    #[test]
    fn each_platform_goes_through_its_adapter() {
        let http = Recorder(Mutex::new(Vec::new()));
        let clock = ManualClock::new("2026-11-01T10:00:00Z".parse().unwrap());
        let messenger = PlatformMessenger {
            http: &http,
            clock: &clock,
            telegram: Some(TelegramSender {
                api_url: "http://tg".into(),
                bots: Bots::parse(r#"{"shop": {"token": "1:T", "webhook_secret": "w"}}"#).unwrap(),
            }),
            whatsapp: Some(WhatsAppSender {
                api_url: "http://wa".into(),
                api_version: "v21.0".into(),
                config: WhatsAppConfig::new(
                    "1122334455667",
                    Secret::new("t"),
                    Secret::new("s"),
                    Secret::new("v"),
                    "START",
                )
                .unwrap(),
            }),
        };
        let outgoing = |last_inbound_at| Outgoing {
            campaign_id: "c1".into(),
            message: RenderedMessage {
                text: "hi".into(),
                photo_url: None,
                buttons: vec![],
                platform_template: None,
            },
            last_inbound_at,
        };
        let telegram = Channel::parse("telegram:shop").unwrap();
        let chat = Address::parse(Platform::Telegram, "42").unwrap();
        assert_eq!(
            messenger.send(&telegram, &chat, &outgoing(None)),
            SendOutcome::Sent {
                message_id: "5".into()
            }
        );
        let whatsapp = Channel::parse("whatsapp:1122334455667").unwrap();
        let phone = Address::parse(Platform::Whatsapp, "972987654321").unwrap();
        assert_eq!(
            messenger.send(&whatsapp, &phone, &outgoing(Some(clock.now()))),
            SendOutcome::Sent {
                message_id: "wamid.1".into()
            }
        );
        assert!(
            matches!(messenger.send(&whatsapp, &phone, &outgoing(None)), SendOutcome::Rejected { code, .. } if code == whatsapp::send::OUTSIDE_WINDOW)
        );
        let unknown = Channel::parse("telegram:other").unwrap();
        assert!(
            matches!(messenger.send(&unknown, &chat, &outgoing(None)), SendOutcome::Rejected { code, .. } if code == "channel_not_configured")
        );
        assert_eq!(
            *http.0.lock().unwrap(),
            [
                "http://tg/bot1:T/sendMessage",
                "http://wa/v21.0/1122334455667/messages"
            ]
        );
    }
}
