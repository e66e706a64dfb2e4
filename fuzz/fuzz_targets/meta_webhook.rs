//! Meta's webhook conventions on their own (`platform::meta_webhook`): the `X-Hub-Signature-256` check
//! with any secret, header and body; the body limit; the GET verification handshake with any query; and
//! the notification envelope with any `object`.
#![no_main]

use arbitrary::Arbitrary;
use http::Method;
use libfuzzer_sys::fuzz_target;
use spinpost::platform::meta_webhook;
use spinpost::secret::Secret;
use spinpost::web::Request;
use spinpost::Error;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    app_secret: &'a str,
    /// The presented header; `None` presents the body's true signature.
    signature: Option<Option<&'a str>>,
    limit: u16,
    query: &'a str,
    verify_token: &'a str,
    object: &'a str,
    body: &'a [u8],
}

fn unconfigured() -> Error {
    Error::unavailable("fuzz_not_configured", "no app secret")
}

fuzz_target!(|input: Input<'_>| {
    let secret = Secret::new(input.app_secret);
    let true_signature = meta_webhook::sign(input.app_secret, input.body);
    let presented = match input.signature {
        None => Some(true_signature.as_str()),
        Some(header) => header,
    };
    let mut request = Request::new(Method::POST, "/webhooks/meta").with_body(input.body);
    if let Some(header) = presented {
        request = request.with_header(meta_webhook::SIGNATURE_HEADER, header);
    }

    match meta_webhook::authenticate(&request, &secret, unconfigured) {
        Ok(()) => {
            assert!(!input.app_secret.is_empty(), "accepted without a secret");
            assert_eq!(
                presented.map(str::to_ascii_lowercase).as_deref(),
                Some(true_signature.as_str()),
                "accepted a signature that is not the body's"
            );
        }
        Err(err) => {
            assert!(
                matches!(err.status(), 401 | 503),
                "signature check answered {}",
                err.status()
            );
            assert!(
                input.app_secret.is_empty() || presented != Some(true_signature.as_str()),
                "refused the body's own signature: {err:?}"
            );
            assert!(
                !err.message().contains(&true_signature),
                "the refusal shows the expected signature"
            );
        }
    }

    let limit = usize::from(input.limit);
    let within =
        meta_webhook::authenticate_within(&request, limit, &secret, "Fuzz", "fuzz_app_secret");
    if input.body.len() > limit {
        assert_eq!(
            within.map_err(|e| e.status()),
            Err(413),
            "body over the limit"
        );
    }

    let handshake = Request::new(Method::GET, &format!("/webhooks/meta?{}", input.query));
    let verify_token = Secret::new(input.verify_token);
    match meta_webhook::verify_subscription(&handshake, &verify_token) {
        Ok(challenge) => {
            let params = handshake.query_params();
            assert_eq!(
                params.get("hub.mode").map(String::as_str),
                Some("subscribe")
            );
            assert_eq!(params.get("hub.challenge"), Some(&challenge));
            assert!(
                !input.verify_token.is_empty(),
                "handshake passed without a token"
            );
            assert_eq!(
                params.get("hub.verify_token").map(String::as_str),
                Some(input.verify_token)
            );
        }
        Err(err) => assert_eq!(err.status(), 403, "handshake refusal"),
    }

    match meta_webhook::parse_notification::<serde_json::Value>(input.body, "Fuzz", input.object) {
        Ok(notification) => assert_eq!(notification.object, input.object),
        Err(err) => {
            assert_eq!(err.status(), 400);
            assert_eq!(err.code(), "invalid_notification");
        }
    }
});
