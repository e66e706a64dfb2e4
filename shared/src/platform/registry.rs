//! The configured platforms of a deployment, and the core's ports served through them: a component
//! builds one [`Platforms`] from its variables and hands [`Platforms::connect`] to delivery (as its
//! [`Messenger`]) and feedback (as its [`PressAcknowledger`]).

use std::collections::{BTreeMap, BTreeSet};

use super::adapter::{channel_not_configured, Adapter, Broadcast, Configured, Envelope, Press};
use super::Platform;
use crate::clock::Clock;
use crate::delivery::Outgoing;
use crate::error::{Error, Result};
use crate::messenger::{
    send_calls, split_by_group, Group, HttpClient, Messenger, PressAcknowledger, SendOutcome,
};
use crate::subscriber::{Address, Channel};

/// Every platform as this deployment configured it.
pub struct Platforms {
    configured: BTreeMap<Platform, Configured>,
    /// The raw `<platform>_rate_per_second` values, judged only where a rate is needed.
    rates: BTreeMap<Platform, String>,
}

impl Platforms {
    /// Configure every platform from the deployment's variables (`read` gives a variable's value, empty
    /// when unset). A platform configured wrongly is an error only where it is used.
    pub fn from_variables(read: impl Fn(&str) -> String) -> Self {
        let read: &dyn Fn(&str) -> String = &read;
        Platforms {
            configured: Platform::ALL
                .into_iter()
                .map(|platform| (platform, platform.configure(read)))
                .collect(),
            rates: Platform::ALL
                .into_iter()
                .map(|platform| (platform, read(&rate_variable(platform))))
                .collect(),
        }
    }

    /// The adapter of `platform`.
    ///
    /// # Errors
    /// 503 when the platform is not configured (`whatsapp_not_configured`…) or configured wrongly
    /// (`invalid_configuration`).
    pub fn adapter(&self, platform: Platform) -> Result<&dyn Adapter> {
        match self.configured.get(&platform) {
            Some(Configured::Ready(adapter)) => Ok(adapter.as_ref()),
            Some(Configured::Absent(err) | Configured::Invalid(err)) => Err(err.clone()),
            None => Err(Error::unavailable(
                "invalid_configuration",
                format!("platform {platform} is not registered"),
            )),
        }
    }

    /// Every channel a ready platform serves: what the delivery's channel rule checks campaigns against.
    pub fn configured_channels(&self) -> BTreeSet<Channel> {
        self.configured
            .values()
            .filter_map(|configured| match configured {
                Configured::Ready(adapter) => Some(adapter.channels()),
                Configured::Absent(_) | Configured::Invalid(_) => None,
            })
            .flatten()
            .collect()
    }

    /// Fail when any platform is configured wrongly (absent platforms are fine), its send rate
    /// included.
    ///
    /// # Errors
    /// The first platform's configuration error.
    pub fn check(&self) -> Result<()> {
        self.configured
            .values()
            .try_for_each(|configured| match configured {
                Configured::Invalid(err) => Err(err.clone()),
                Configured::Ready(_) | Configured::Absent(_) => Ok(()),
            })?;
        Platform::ALL
            .into_iter()
            .try_for_each(|platform| self.rate_per_second(platform).map(drop))
    }

    /// Refuse a channel this deployment cannot send on.
    ///
    /// # Errors
    /// 422 `channel_not_configured`; the platform's configuration error when it is configured wrongly.
    pub fn require_configured(&self, channel: &Channel) -> Result<()> {
        let not_configured = |why: String| {
            Error::unprocessable(
                "channel_not_configured",
                format!("channel '{channel}' is not configured here: {why}"),
            )
        };
        match self.configured.get(&channel.platform()) {
            Some(Configured::Ready(adapter)) if adapter.serves(channel) => {}
            Some(Configured::Ready(_)) => {
                return Err(not_configured(format!(
                    "add its account '{}' to the variable {}",
                    channel.account(),
                    channel.platform().account_variable()
                )))
            }
            Some(Configured::Invalid(err)) => return Err(err.clone()),
            Some(Configured::Absent(err)) => return Err(not_configured(err.message().to_owned())),
            None => {
                return Err(not_configured(format!(
                    "{} is not registered",
                    channel.platform()
                )))
            }
        }
        Ok(())
    }

    /// A link on `channel` that opens a conversation carrying `code` (see [`Adapter::deep_link`]).
    ///
    /// # Errors
    /// 422 `channel_not_configured` or `links_not_supported`; the platform's configuration error.
    pub fn deep_link(&self, channel: &Channel, code: &str) -> Result<String> {
        self.require_configured(channel)?;
        self.adapter(channel.platform())?.deep_link(channel, code)
    }

    /// The send rate of `platform` from `<platform>_rate_per_second`, its default when unset.
    ///
    /// # Errors
    /// 503 `invalid_configuration` when the value is not a number from 1 to the platform's ceiling:
    /// its `max_rate_per_second`, or its `max_paid_rate_per_second` when every account pays for its
    /// broadcasts.
    pub fn rate_per_second(&self, platform: Platform) -> Result<u32> {
        let capabilities = platform.capabilities();
        let raw = self.rates.get(&platform).map_or("", |raw| raw.trim());
        if raw.is_empty() {
            return Ok(capabilities.default_rate_per_second);
        }
        let variable = rate_variable(platform);
        let invalid = |why: String| Error::unavailable("invalid_configuration", why);
        let rate: u32 = raw.parse().map_err(|_| {
            invalid(format!(
                "variable '{variable}' must be a number, got '{raw}'"
            ))
        })?;
        if rate == 0 {
            return Err(invalid(format!("variable '{variable}' must be at least 1")));
        }
        let paid = self
            .adapter(platform)
            .is_ok_and(|adapter| adapter.pays_for_broadcasts());
        let ceiling = match capabilities.max_paid_rate_per_second {
            Some(paid_ceiling) if paid => paid_ceiling,
            _ => capabilities.max_rate_per_second,
        };
        if rate > ceiling {
            let paid_note = match capabilities.max_paid_rate_per_second {
                Some(paid_ceiling) if !paid => format!(
                    " (up to {paid_ceiling} when every account pays for broadcasts, e.g. \"allow_paid_broadcast\": true for each bot)"
                ),
                _ => String::new(),
            };
            return Err(invalid(format!(
                "variable '{variable}' must be at most {ceiling}, {platform}'s limit{paid_note}"
            )));
        }
        Ok(rate)
    }

    /// The platforms with what they reach the world through, serving the core's ports.
    pub fn connect<'a>(&'a self, http: &'a dyn HttpClient, clock: &'a dyn Clock) -> Connected<'a> {
        Connected {
            platforms: self,
            http,
            clock,
        }
    }

    fn serving(&self, channel: &Channel) -> Option<&dyn Adapter> {
        self.adapter(channel.platform())
            .ok()
            .filter(|adapter| adapter.serves(channel))
    }
}

fn rate_variable(platform: Platform) -> String {
    format!("{platform}_rate_per_second")
}

/// [`Platforms`] with outbound HTTP and the time: the [`Messenger`] and [`PressAcknowledger`] ports.
pub struct Connected<'a> {
    platforms: &'a Platforms,
    http: &'a dyn HttpClient,
    clock: &'a dyn Clock,
}

impl Messenger for Connected<'_> {
    type Message = Outgoing;

    fn send(&self, channel: &Channel, to: &Address, message: &Outgoing) -> SendOutcome {
        match self.platforms.serving(channel) {
            Some(adapter) => {
                let envelope = Envelope {
                    channel,
                    to,
                    message,
                    now: self.clock.now(),
                };
                adapter.send(self.http, &envelope)
            }
            None => channel_not_configured(channel),
        }
    }

    fn send_many(&self, channel: &Channel, sends: &[(&Address, &Outgoing)]) -> Vec<SendOutcome> {
        let alone: Vec<Group<'_, Outgoing>> = sends
            .iter()
            .map(|&(to, message)| Group {
                to: vec![to],
                message,
            })
            .collect();
        self.send_groups(channel, &alone)
            .into_iter()
            .flatten()
            .collect()
    }

    fn send_groups(
        &self,
        channel: &Channel,
        groups: &[Group<'_, Outgoing>],
    ) -> Vec<Vec<SendOutcome>> {
        let Some(adapter) = self.platforms.serving(channel) else {
            return groups
                .iter()
                .map(|group| {
                    group
                        .to
                        .iter()
                        .map(|_| channel_not_configured(channel))
                        .collect()
                })
                .collect();
        };
        let now = self.clock.now();
        let mut calls = Vec::new();
        for group in groups {
            let alone = |to| {
                adapter.prepare(&Envelope {
                    channel,
                    to,
                    message: group.message,
                    now,
                })
            };
            let broadcast = Broadcast {
                channel,
                to: &group.to,
                message: group.message,
                now,
            };
            match group.to.len() {
                0 => {}
                1 => calls.extend(group.to.iter().map(|to| alone(to))),
                _ => match adapter.prepare_broadcast(&broadcast) {
                    Some(Ok(call)) => calls.push(Ok(call)),
                    Some(Err(decided)) => {
                        calls.extend(group.to.iter().map(|_| Err(decided.clone())));
                    }
                    None => calls.extend(group.to.iter().map(|to| alone(to))),
                },
            }
        }
        split_by_group(send_calls(self.http, calls), groups)
    }
}

impl PressAcknowledger for Connected<'_> {
    fn acknowledge(&self, channel: &Channel, press_id: &str, text: &str) -> Result<()> {
        let press = Press {
            channel,
            id: press_id,
            text,
        };
        self.platforms
            .adapter(channel.platform())?
            .acknowledge_press(self.http, &press)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::message::RenderedMessage;
    use crate::platform::fixtures::FakeApi;

    fn variables(name: &str) -> String {
        match name {
            "telegram_api_url" => "http://tg",
            "telegram_bots" => r#"{"shop": {"token": "1:T", "webhook_secret": "w"}}"#,
            "whatsapp_api_url" => "http://wa",
            "whatsapp_api_version" => "v21.0",
            "whatsapp_phone_number_id" => "1122334455667",
            "whatsapp_access_token" => "t",
            "telegram_rate_per_second" => "28",
            _ => "",
        }
        .to_owned()
    }

    /// A campaign message "hi", from someone who last wrote at `last_inbound_at`.
    fn outgoing(last_inbound_at: Option<chrono::DateTime<chrono::Utc>>) -> Outgoing {
        Outgoing {
            campaign_id: "c1".into(),
            message: RenderedMessage {
                text: "hi".into(),
                photo_url: None,
                buttons: vec![],
                platform_template: None,
                message_tag: None,
            },
            last_inbound_at,
        }
    }

    /// Both platforms' APIs, a fixed clock and both platforms configured.
    fn world() -> (FakeApi, ManualClock, Platforms) {
        (
            FakeApi::default()
                .answer("/messages", 200, r#"{"messages":[{"id":"wamid.1"}]}"#)
                .answer("/answerCallbackQuery", 200, r#"{"ok":true,"result":true}"#)
                .answer("/", 200, r#"{"ok":true,"result":{"message_id":5}}"#),
            ManualClock::new("2026-11-01T10:00:00Z".parse().unwrap()),
            Platforms::from_variables(variables),
        )
    }

    #[test]
    fn each_platform_goes_through_its_adapter() {
        let (http, clock, platforms) = world();
        let messenger = platforms.connect(&http, &clock);
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
        assert!(matches!(
            messenger.send(&whatsapp, &phone, &outgoing(None)),
            SendOutcome::OutsideWindow { .. }
        ));
        let unknown = Channel::parse("telegram:other").unwrap();
        assert!(
            matches!(messenger.send(&unknown, &chat, &outgoing(None)), SendOutcome::Rejected { code, .. } if code == "channel_not_configured")
        );
        assert_eq!(
            http.urls(),
            [
                "http://tg/bot1:T/sendMessage",
                "http://wa/v21.0/1122334455667/messages"
            ]
        );
    }

    #[test]
    fn many_sends_go_out_in_flight_together_and_answer_in_order() {
        let http = FakeApi::default()
            .answer("/messages", 200, r#"{"messages":[{"id":"wamid.1"}]}"#)
            .refuse("/bot1:T/");
        let (_, clock, platforms) = world();
        let messenger = platforms.connect(&http, &clock);
        let whatsapp = Channel::parse("whatsapp:1122334455667").unwrap();
        let phone = |n: &str| Address::parse(Platform::Whatsapp, n).unwrap();
        let (a, b, c) = (
            phone("972000000001"),
            phone("972000000002"),
            phone("972000000003"),
        );
        let (open, closed) = (outgoing(Some(clock.now())), outgoing(None));
        let outcomes = messenger.send_many(&whatsapp, &[(&a, &open), (&b, &closed), (&c, &open)]);
        let sent = SendOutcome::Sent {
            message_id: "wamid.1".into(),
        };
        assert_eq!(outcomes[0], sent);
        assert!(matches!(outcomes[1], SendOutcome::OutsideWindow { .. }));
        assert_eq!(outcomes[2], sent);
        assert_eq!(http.rounds(), [2], "the two calls went out together");
        // A transport failure is transient and never shows the token in the URL.
        let telegram = Channel::parse("telegram:shop").unwrap();
        let chat = Address::parse(Platform::Telegram, "42").unwrap();
        let failed = messenger.send_many(&telegram, &[(&chat, &closed)]);
        assert!(
            matches!(&failed[0], SendOutcome::Transient { reason } if !reason.contains("1:T") && reason.contains("***")),
            "{failed:?}"
        );
    }

    #[test]
    fn presses_are_acknowledged_by_the_bot_of_the_channel_where_the_platform_needs_it() {
        let (http, clock, platforms) = world();
        let acknowledger = platforms.connect(&http, &clock);
        let shop = Channel::parse("telegram:shop").unwrap();
        assert!(acknowledger.acknowledge(&shop, "cb1", "Thanks").is_ok());
        let other = Channel::parse("telegram:other").unwrap();
        let err = acknowledger.acknowledge(&other, "cb9", "").unwrap_err();
        assert!(err.message().contains("other"), "{}", err.message());
        let whatsapp = Channel::parse("whatsapp:1122334455667").unwrap();
        assert!(acknowledger.acknowledge(&whatsapp, "wamid.9", "").is_ok());
        assert_eq!(http.urls(), ["http://tg/bot1:T/answerCallbackQuery"]);
    }

    /// The test variables with WhatsApp left unset.
    fn without_whatsapp() -> Platforms {
        Platforms::from_variables(|name| {
            if name.starts_with("whatsapp") {
                String::new()
            } else {
                variables(name)
            }
        })
    }

    #[test]
    fn an_absent_platform_serves_nothing_and_says_how_to_configure_it() {
        let platforms = without_whatsapp();
        assert!(platforms.check().is_ok());
        assert_eq!(
            platforms.adapter(Platform::Whatsapp).err().unwrap().code(),
            "whatsapp_not_configured"
        );
        let whatsapp = Channel::parse("whatsapp:1122334455667").unwrap();
        assert_eq!(
            platforms.require_configured(&whatsapp).unwrap_err().code(),
            "channel_not_configured"
        );
        assert!(platforms
            .require_configured(&Channel::parse("telegram:shop").unwrap())
            .is_ok());
    }

    #[test]
    fn an_unconfigured_channel_names_the_variable_to_set() {
        let platforms = without_whatsapp();
        let news = platforms
            .require_configured(&Channel::parse("telegram:news").unwrap())
            .unwrap_err();
        assert_eq!(
            (news.status(), news.code()),
            (422, "channel_not_configured")
        );
        news.assert_mentions("telegram:news");
        news.assert_mentions("'news' to the variable telegram_bots");
        let whatsapp = platforms
            .require_configured(&Channel::parse("whatsapp:1122334455667").unwrap())
            .unwrap_err();
        whatsapp.assert_mentions("whatsapp_phone_number_id");
    }

    #[test]
    fn a_platform_configured_wrongly_fails_where_it_is_used() {
        let platforms = Platforms::from_variables(|name| match name {
            "telegram_bots" => "{not json".to_owned(),
            other => variables(other),
        });
        assert_eq!(
            platforms.check().unwrap_err().code(),
            "invalid_configuration"
        );
        let shop = Channel::parse("telegram:shop").unwrap();
        assert_eq!(
            platforms.require_configured(&shop).unwrap_err().code(),
            "invalid_configuration"
        );
        assert!(platforms.adapter(Platform::Whatsapp).is_ok());
    }

    #[test]
    fn rates_default_from_capabilities_and_are_bounded_by_the_maximum() {
        let platforms = Platforms::from_variables(variables);
        assert_eq!(platforms.rate_per_second(Platform::Telegram).unwrap(), 28);
        assert_eq!(
            platforms.rate_per_second(Platform::Whatsapp).unwrap(),
            Platform::Whatsapp.capabilities().default_rate_per_second
        );
        for (raw, why) in [
            ("0", "at least 1"),
            ("x", "a number"),
            ("31", "at most 30"),
            ("31", "allow_paid_broadcast"),
        ] {
            let platforms = Platforms::from_variables(|name| match name {
                "telegram_rate_per_second" => raw.to_owned(),
                other => variables(other),
            });
            let err = platforms.rate_per_second(Platform::Telegram).unwrap_err();
            assert!(err.message().contains(why), "{raw}: {}", err.message());
        }
    }

    #[test]
    fn a_telegram_bot_paying_for_broadcasts_may_send_up_to_1000_a_second() {
        let paid = |rate: &'static str, bots: &'static str| {
            Platforms::from_variables(move |name| match name {
                "telegram_rate_per_second" => rate.to_owned(),
                "telegram_bots" => bots.to_owned(),
                other => variables(other),
            })
        };
        let all_paid =
            r#"{"shop": {"token": "1:T", "webhook_secret": "w", "allow_paid_broadcast": true}}"#;
        let one_unpaid = r#"{"shop": {"token": "1:T", "webhook_secret": "w", "allow_paid_broadcast": true},
                             "news": {"token": "2:T", "webhook_secret": "w"}}"#;
        assert_eq!(
            paid("1000", all_paid)
                .rate_per_second(Platform::Telegram)
                .unwrap(),
            1000
        );
        let over = paid("1001", all_paid).check().unwrap_err();
        assert!(
            over.message().contains("at most 1000"),
            "{}",
            over.message()
        );
        let unpaid = paid("300", one_unpaid).check().unwrap_err();
        assert_eq!(unpaid.code(), "invalid_configuration");
        assert!(
            unpaid.message().contains("at most 30"),
            "{}",
            unpaid.message()
        );
        // WhatsApp numbers reach 1000 a second on the upper tier, without paying per message.
        let whatsapp = Platforms::from_variables(|name| match name {
            "whatsapp_rate_per_second" => "1000".to_owned(),
            other => variables(other),
        });
        assert_eq!(whatsapp.rate_per_second(Platform::Whatsapp).unwrap(), 1000);
    }
}
