//! Meta's webhook conventions, shared by the platforms on Meta's Graph API (WhatsApp, Messenger): the
//! GET verification handshake and the `X-Hub-Signature-256` HMAC over the raw body.

use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::error::{Error, ErrorKind, Result};
use crate::secret::Secret;
use crate::web::Request;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Answer the GET verification handshake: echo `hub.challenge` when `hub.mode=subscribe` and
/// `hub.verify_token` matches (constant time).
///
/// # Errors
/// 403 `verification_failed` otherwise.
pub fn verify_subscription(request: &Request, verify_token: &Secret) -> Result<String> {
    let params = request.query_params();
    let mode = params.get("hub.mode").map(String::as_str);
    let token = params
        .get("hub.verify_token")
        .map(String::as_str)
        .unwrap_or_default();
    match (mode, params.get("hub.challenge")) {
        (Some("subscribe"), Some(challenge)) if verify_token.matches(token) => Ok(challenge.clone()),
        _ => Err(Error::new(ErrorKind::Forbidden, "verification_failed", "hub.mode must be 'subscribe' and hub.verify_token must match the configured verify token")),
    }
}

/// Check `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>` in constant time.
/// `unconfigured` is the platform's answer when its app secret is not set.
///
/// # Errors
/// 401 when the header is absent, malformed or does not match; `unconfigured()` without a secret.
pub fn authenticate(
    request: &Request,
    app_secret: &Secret,
    unconfigured: impl FnOnce() -> Error,
) -> Result<()> {
    let signature = presented_signature(request, app_secret, unconfigured)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.expose().as_bytes())
        .map_err(|_| Error::internal("HMAC key"))?;
    mac.update(&request.body);
    mac.verify_slice(&signature)
        .map_err(|_| Error::unauthorized("X-Hub-Signature-256 does not match the body"))
}

/// The signature the request head presents, checked for presence and form before any of the body is
/// read (and the app secret for being set, since nothing can be verified without it).
///
/// # Errors
/// 401 when the header is absent or malformed; `unconfigured()` without a secret.
pub fn presented_signature(
    request: &Request,
    app_secret: &Secret,
    unconfigured: impl FnOnce() -> Error,
) -> Result<Vec<u8>> {
    let header = request
        .header(SIGNATURE_HEADER)
        .ok_or_else(|| Error::unauthorized("missing X-Hub-Signature-256 header"))?;
    let signature = header
        .strip_prefix("sha256=")
        .and_then(|hex_sig| hex::decode(hex_sig).ok())
        .ok_or_else(|| Error::unauthorized("X-Hub-Signature-256 must be 'sha256=<hex digest>'"))?;
    if app_secret.is_empty() {
        return Err(unconfigured());
    }
    Ok(signature)
}

/// Check the body size, then the signature over the raw body, before anything is parsed. Without an
/// app secret the platform answers 503 `<platform>_not_configured`, naming the variable to set.
///
/// # Errors
/// 413 over `limit`; as [`authenticate`] otherwise.
pub fn authenticate_within(
    request: &Request,
    limit: usize,
    app_secret: &Secret,
    platform: &str,
    secret_variable: &str,
) -> Result<()> {
    request.check_body_limit(limit)?;
    authenticate(request, app_secret, || {
        not_configured(platform, secret_variable)
    })
}

/// Admit a delivery on its head alone: a signature header of the right form and a configured app
/// secret; its body may then be read up to `limit`.
///
/// # Errors
/// As [`presented_signature`], with 503 `<platform>_not_configured` without a secret.
pub fn admit_within(
    request: &Request,
    limit: usize,
    app_secret: &Secret,
    platform: &str,
    secret_variable: &str,
) -> Result<usize> {
    presented_signature(request, app_secret, || {
        not_configured(platform, secret_variable)
    })?;
    Ok(limit)
}

fn not_configured(platform: &str, secret_variable: &str) -> Error {
    Error::unavailable(
        format!("{}_not_configured", platform.to_lowercase()),
        format!("set the variable {secret_variable} to receive {platform} webhooks"),
    )
}

/// A notification as Meta posts it: the `object` it is about and its entries, whose shape is the
/// platform's.
#[derive(Debug, serde::Deserialize)]
pub struct Notification<E> {
    /// `page`, `whatsapp_business_account`, ...
    pub object: String,
    /// The entries.
    #[serde(default = "Vec::new")]
    pub entry: Vec<E>,
}

/// Parse a `platform` notification whose `object` must be `expected`.
///
/// # Errors
/// 400 `invalid_notification` saying what is wrong.
pub fn parse_notification<E: DeserializeOwned>(
    body: &[u8],
    platform: &str,
    expected: &str,
) -> Result<Notification<E>> {
    let notification: Notification<E> = serde_json::from_slice(body).map_err(|e| {
        Error::invalid(
            "invalid_notification",
            format!("not a {platform} notification: {e}"),
        )
    })?;
    if notification.object != expected {
        return Err(Error::invalid(
            "invalid_notification",
            format!("object '{}' is not {expected}", notification.object),
        ));
    }
    Ok(notification)
}

/// The signature a body gets with `secret` (for clients and tests).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fixtures::raw;

    fn verify_token() -> Secret {
        Secret::new("verify-me")
    }

    fn check(request: &Request) -> Result<()> {
        authenticate(request, &Secret::new("app-secret"), || {
            Error::unavailable("not_configured", "no app secret")
        })
    }

    #[test]
    fn verification_echoes_the_challenge_only_for_the_right_token() {
        let handshake = |query: &str| {
            let request = Request::new(http::Method::GET, &format!("/webhooks/whatsapp?{query}"));
            verify_subscription(&request, &verify_token())
        };
        assert_eq!(
            handshake("hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444")
                .unwrap(),
            "1158201444"
        );
        for refused in [
            "hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
            "hub.verify_token=verify-me&hub.challenge=1",
        ] {
            assert_eq!(handshake(refused).unwrap_err().status(), 403, "{refused}");
        }
    }

    #[test]
    fn signatures_are_checked_over_the_raw_body() {
        let body = raw("whatsapp/webhook_inbound_text");
        let signed = Request::new(http::Method::POST, "/")
            .with_header(SIGNATURE_HEADER, &sign("app-secret", &body))
            .with_body(body.clone());
        assert!(check(&signed).is_ok());
        let forged = Request::new(http::Method::POST, "/")
            .with_header(SIGNATURE_HEADER, &sign("other", &body))
            .with_body(body.clone());
        assert_eq!(check(&forged).unwrap_err().status(), 401);
        let malformed = Request::new(http::Method::POST, "/")
            .with_header(SIGNATURE_HEADER, "md5=abc")
            .with_body(body.clone());
        assert_eq!(check(&malformed).unwrap_err().status(), 401);
        assert_eq!(
            check(&Request::new(http::Method::POST, "/").with_body(body))
                .unwrap_err()
                .status(),
            401
        );
        let unset = authenticate(&signed, &Secret::default(), || {
            Error::unavailable("not_configured", "no app secret")
        });
        assert_eq!(unset.unwrap_err().code(), "not_configured");
    }
}
