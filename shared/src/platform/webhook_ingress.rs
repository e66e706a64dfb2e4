//! The one webhook ingress, `/webhooks/<platform>[/<account>]`: the path names the platform, the
//! registry finds its adapter, and the adapter answers the handshake (GET) or authenticates and parses
//! the delivery (POST) by its own rules.

use chrono::{DateTime, Utc};

use super::{Platform, Platforms, Webhook};
use crate::error::{Error, ErrorKind, Result};
use crate::ingress::{Inbound, InboundKind};
use crate::message::RenderedMessage;
use crate::web::{Request, Response};

/// The webhook routes' patterns.
pub const WEBHOOK_PATHS: [&str; 2] = ["/webhooks/:platform", "/webhooks/:platform/:account"];

impl<'a> Webhook<'a> {
    /// A delivery to the path's `account` segment (empty when the path has none).
    pub fn new(request: &'a Request, account: &'a str) -> Self {
        Webhook {
            request,
            account: Some(account).filter(|account| !account.is_empty()),
        }
    }
}

impl Platforms {
    /// Answer `GET /webhooks/<platform>[/<account>]`: the platform's verification handshake.
    ///
    /// # Errors
    /// 404 for a path naming no platform; 405 (with `Allow: POST`, as an answer) for a platform
    /// without a handshake; 503 when it is not configured; the platform's refusal.
    pub fn answer_handshake(&self, platform: &str, webhook: &Webhook<'_>) -> Result<Response> {
        let adapter = self.adapter(webhook_platform(platform, webhook.request)?)?;
        match adapter.handshake(webhook) {
            Ok(challenge) => Ok(Response::with_content(200, "text/plain", challenge)),
            Err(err) if err.kind() == ErrorKind::MethodNotAllowed => {
                Ok(Response::from(err).with_header("allow", "POST"))
            }
            Err(err) => Err(err),
        }
    }

    /// Admit `POST /webhooks/<platform>[/<account>]` on its head, before any of its body is read: the
    /// platform's header checks, and the most body its deliveries carry.
    ///
    /// # Errors
    /// 404 for a path naming no platform; 503 when it is not configured; the adapter's 401.
    pub fn admit_webhook(&self, platform: &str, webhook: &Webhook<'_>) -> Result<usize> {
        let platform = webhook_platform(platform, webhook.request)?;
        self.adapter(platform)?.admit(webhook)
    }

    /// Take `POST /webhooks/<platform>[/<account>]`: authenticate the delivery the platform's way,
    /// then parse what it says.
    ///
    /// # Errors
    /// 404 for a path naming no platform; 503 when it is not configured; the adapter's 401, 413 or 400.
    pub fn receive_webhook(
        &self,
        platform: &str,
        webhook: &Webhook<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Inbound>> {
        let platform = webhook_platform(platform, webhook.request)?;
        self.adapter(platform)?.receive(webhook, now)
    }

    /// The answer to a delivery in which a person opened a conversation
    /// ([`InboundKind::ConversationOpened`]): the platform's welcome, rendered by `render` from its
    /// welcome template for that person, or an answer without body when it names no template or the
    /// welcome cannot be rendered (logged: the platform would only retry). `None` when nobody
    /// opened one, and the usual answer stands.
    ///
    /// # Errors
    /// When the platform is not configured or cannot answer with a welcome.
    pub fn answer_opened(
        &self,
        inbounds: &[Inbound],
        render: &dyn Fn(&str, &Inbound) -> Result<RenderedMessage>,
    ) -> Result<Option<Response>> {
        let Some(opened) = inbounds
            .iter()
            .find(|inbound| inbound.kind == InboundKind::ConversationOpened)
        else {
            return Ok(None);
        };
        let without_body = Response::with_content(200, "text/plain", Vec::new());
        let adapter = self.adapter(opened.channel.platform())?;
        let Some(template) = adapter.welcome_template() else {
            return Ok(Some(without_body));
        };
        match render(template, opened) {
            Ok(welcome) => adapter.welcome_answer(&opened.channel, &welcome).map(Some),
            Err(err) => {
                eprintln!(
                    "spinpost: no welcome on {}: template '{template}': {} {}",
                    opened.channel,
                    err.code(),
                    err.message()
                );
                Ok(Some(without_body))
            }
        }
    }
}

/// The platform a webhook path names; any other name is no route at all.
fn webhook_platform(name: &str, request: &Request) -> Result<Platform> {
    name.parse().map_err(|_| {
        Error::new(
            ErrorKind::NotFound,
            "not_found",
            format!("no route matches {}", request.path),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fixtures::raw;
    use crate::platform::meta_webhook::{sign, SIGNATURE_HEADER};
    use crate::platform::telegram::webhook::SECRET_HEADER;
    use http::Method;

    fn platforms(whatsapp: bool) -> Platforms {
        Platforms::from_variables(move |name| {
            match name {
                "telegram_bots" => r#"{"shop": {"token": "1:T", "webhook_secret": "hook"}}"#,
                "whatsapp_phone_number_id" if whatsapp => "1122334455667",
                "whatsapp_app_secret" if whatsapp => "app-secret",
                "whatsapp_verify_token" if whatsapp => "verify-me",
                _ => "",
            }
            .to_owned()
        })
    }

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    /// What `GET <path>` answers; the account is the path's fourth segment.
    fn handshake(platforms: &Platforms, path: &str) -> Result<Response> {
        let request = Request::new(Method::GET, path);
        let segments: Vec<&str> = request.path.split('/').collect();
        let (platform, account) = (segments[2], segments.get(3).copied().unwrap_or(""));
        platforms.answer_handshake(platform, &Webhook::new(&request, account))
    }

    fn telegram_update(path: &str, secret: &str) -> Request {
        Request::new(Method::POST, path)
            .with_header(SECRET_HEADER, secret)
            .with_body(raw("telegram/update_start_command"))
    }

    #[test]
    fn telegram_deliveries_need_the_bot_and_its_secret_and_an_unknown_bot_answers_alike() {
        let platforms = platforms(true);
        let ok = telegram_update("/webhooks/telegram/shop", "hook");
        let events = platforms
            .receive_webhook("telegram", &Webhook::new(&ok, "shop"), now())
            .unwrap();
        assert_eq!(events.len(), 1);
        let wrong = telegram_update("/webhooks/telegram/shop", "nope");
        let wrong_secret = platforms
            .receive_webhook("telegram", &Webhook::new(&wrong, "shop"), now())
            .unwrap_err();
        let unknown = telegram_update("/webhooks/telegram/other", "hook");
        for account in ["other", ""] {
            let err = platforms
                .receive_webhook("telegram", &Webhook::new(&unknown, account), now())
                .unwrap_err();
            assert_eq!(err.status(), 401);
            assert_eq!(err.message(), wrong_secret.message());
        }
    }

    #[test]
    fn whatsapp_deliveries_are_signed_and_its_handshake_echoes_the_challenge() {
        let platforms = platforms(true);
        let body = raw("whatsapp/webhook_inbound_text");
        let signed = Request::new(Method::POST, "/webhooks/whatsapp")
            .with_header(SIGNATURE_HEADER, &sign("app-secret", &body))
            .with_body(body.clone());
        let events = platforms
            .receive_webhook("whatsapp", &Webhook::new(&signed, ""), now())
            .unwrap();
        assert_eq!(events.len(), 1);
        let unsigned = Request::new(Method::POST, "/webhooks/whatsapp").with_body(body);
        let err = platforms
            .receive_webhook("whatsapp", &Webhook::new(&unsigned, ""), now())
            .unwrap_err();
        assert_eq!(err.status(), 401);
        let answer = handshake(
            &platforms,
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=42",
        )
        .unwrap();
        assert_eq!(
            (answer.status, answer.body.as_slice()),
            (200, b"42".as_slice())
        );
    }

    #[test]
    fn a_delivery_is_admitted_on_its_headers_alone_within_its_platform_limit() {
        use crate::platform::meta_adapter::NOTIFICATION_BODY_LIMIT;
        use crate::web::DEFAULT_BODY_LIMIT;
        let configured = platforms(true);
        let admit = |platform: &str, account: &str, header: Option<(&str, &str)>| {
            let mut head = Request::new(Method::POST, "/webhooks/x");
            if let Some((name, value)) = header {
                head = head.with_header(name, value);
            }
            configured.admit_webhook(platform, &Webhook::new(&head, account))
        };
        // Whatever the body will be: only the header's form is checked before reading it.
        let signature = sign("app-secret", b"not the body");
        assert_eq!(
            admit("whatsapp", "", Some((SIGNATURE_HEADER, &signature))).unwrap(),
            NOTIFICATION_BODY_LIMIT
        );
        assert_eq!(
            admit("telegram", "shop", Some((SECRET_HEADER, "hook"))).unwrap(),
            DEFAULT_BODY_LIMIT
        );
        for (platform, account, header) in [
            ("whatsapp", "", None),
            ("whatsapp", "", Some((SIGNATURE_HEADER, "md5=00"))),
            ("telegram", "shop", None),
            ("telegram", "shop", Some((SECRET_HEADER, "nope"))),
            ("telegram", "other", Some((SECRET_HEADER, "hook"))),
        ] {
            let err = admit(platform, account, header).unwrap_err();
            assert_eq!(err.status(), 401, "{platform} {header:?}");
        }
        assert_eq!(admit("icq", "", None).unwrap_err().status(), 404);
        let unconfigured = platforms(false);
        let head = Request::new(Method::POST, "/webhooks/whatsapp")
            .with_header(SIGNATURE_HEADER, &signature);
        let err = unconfigured
            .admit_webhook("whatsapp", &Webhook::new(&head, ""))
            .unwrap_err();
        assert_eq!(err.status(), 503);
    }

    #[test]
    fn unknown_platforms_are_no_route_and_telegram_has_no_handshake() {
        let platforms = platforms(true);
        let answer = handshake(&platforms, "/webhooks/telegram/shop").unwrap();
        assert_eq!(answer.status, 405);
        assert!(answer
            .headers
            .contains(&("allow".to_owned(), "POST".to_owned())));
        let nowhere = Request::new(Method::POST, "/webhooks/icq");
        let err = platforms
            .receive_webhook("icq", &Webhook::new(&nowhere, ""), now())
            .unwrap_err();
        assert_eq!((err.status(), err.code()), (404, "not_found"));
    }

    #[test]
    fn an_unconfigured_platform_says_how_to_configure_it() {
        let err = handshake(&platforms(false), "/webhooks/whatsapp").unwrap_err();
        assert_eq!((err.status(), err.code()), (503, "whatsapp_not_configured"));
    }

    /// The Viber bot `shop` (sender "Shop"), welcoming with `welcome_template` (empty: none).
    fn viber_welcoming(welcome_template: &'static str) -> Platforms {
        Platforms::from_variables(move |name| {
            match name {
                "viber_bots" => r#"{"shop": {"token": "t", "sender_name": "Shop"}}"#,
                "viber_welcome_template" => welcome_template,
                _ => "",
            }
            .to_owned()
        })
    }

    /// What `conversation_started` of the fixture parses into on `platforms`.
    fn opened(platforms: &Platforms) -> Vec<Inbound> {
        let body = raw("viber/callback_conversation_started");
        let request = Request::new(Method::POST, "/webhooks/viber/shop")
            .with_header(
                crate::platform::viber::webhook::SIGNATURE_HEADER,
                &crate::platform::viber::webhook::sign("t", &body),
            )
            .with_body(body);
        platforms
            .receive_webhook("viber", &Webhook::new(&request, "shop"), now())
            .unwrap()
    }

    #[test]
    fn a_conversation_opened_is_answered_with_the_welcome_or_without_body() {
        let hello = |template: &str, opened: &Inbound| -> Result<RenderedMessage> {
            let name = opened.profile.first_name.clone().unwrap_or_default();
            let text = format!("{template}: hello {name}");
            Ok(serde_json::from_value(serde_json::json!({ "text": text })).unwrap())
        };
        let welcoming = viber_welcoming("vb-welcome");
        let answer = welcoming
            .answer_opened(&opened(&welcoming), &hello)
            .unwrap()
            .expect("a conversation was opened");
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(body["text"], "vb-welcome: hello John McClane");
        assert_eq!(body["sender"]["name"], "Shop");
        // A welcome that does not render, or none configured: answered without body.
        let broken = |_: &str, _: &Inbound| -> Result<RenderedMessage> {
            Err(Error::not_found("template", "vb-welcome"))
        };
        let answer = welcoming
            .answer_opened(&opened(&welcoming), &broken)
            .unwrap()
            .unwrap();
        assert!(answer.body.is_empty());
        let silent = viber_welcoming("");
        let answer = silent
            .answer_opened(&opened(&silent), &hello)
            .unwrap()
            .unwrap();
        assert!(answer.body.is_empty());
        // Nobody opened a conversation: the usual answer stands.
        assert!(welcoming.answer_opened(&[], &hello).unwrap().is_none());
    }
}
