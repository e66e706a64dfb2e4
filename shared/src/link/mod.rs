//! Signed, expiring links that tie a chat to the business's customer: the shop asks for a link for a
//! customer id and a channel, shows it to the signed-in customer, and the `/start <token>` (or the
//! code message) that comes back through the webhook attaches the customer id to the subscriber.
//!
//! The token is signed ([`token`]); the link's record, under the link's id, holds the customer id the
//! token cannot carry. A token that is forged, altered, expired or meant for another channel links
//! nothing, and nothing outside says why.

pub mod token;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::{Channel, ExternalId};
pub use token::{is_code, LinkKey, TOKEN_CHARS};

/// How long a link links when the request does not say: a week.
pub const DEFAULT_LINK_TTL_SECONDS: i64 = 7 * 24 * 60 * 60;
/// The longest a link may link: 30 days.
pub const MAX_LINK_TTL_SECONDS: i64 = 30 * 24 * 60 * 60;
/// The shortest: a minute.
pub const MIN_LINK_TTL_SECONDS: i64 = 60;

/// A request for a link (`POST /api/v1/subscribers/links`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The customer to link.
    pub external_id: String,
    /// The channel to link on, e.g. `telegram:shop`.
    pub channel: String,
    /// How long the link links, in seconds ([`DEFAULT_LINK_TTL_SECONDS`] when absent).
    pub ttl_seconds: Option<i64>,
}

/// A link made for a customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssuedLink {
    /// The link's id, as consent evidence names it.
    pub link_id: String,
    /// The link to show the customer (`https://t.me/<bot>?start=<code>`, `https://wa.me/<number>?text=…`).
    pub url: String,
    /// The code the link carries (Telegram's start parameter; the code in the WhatsApp text).
    pub code: String,
    /// The customer.
    pub external_id: ExternalId,
    /// The channel.
    pub channel: Channel,
    /// When the link stops linking.
    pub expires_at: DateTime<Utc>,
}

/// A link's record: what its token cannot carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LinkRecord {
    external_id: ExternalId,
    channel: Channel,
    expires_at: DateTime<Utc>,
}

/// A link redeemed by a webhook: whom to attach, with the link's id as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    /// The link's id.
    pub link_id: String,
    /// The customer.
    pub external_id: ExternalId,
}

/// Make a link for `request`: validated, signed, given its platform's URL by `url_of` (channel and
/// code), and recorded. Asking again for the same customer, channel and expiry answers the same link.
///
/// # Errors
/// 400 `invalid_external_id`, `invalid_channel` or `invalid_ttl`; `url_of`'s error (the channel cannot
/// make links); 503 `links_not_configured` without a signing key. Nothing is written then.
pub fn issue<S: KvStore + ?Sized>(
    store: &S,
    key: &LinkKey,
    request: &LinkRequest,
    now: DateTime<Utc>,
    url_of: impl FnOnce(&Channel, &str) -> Result<String>,
) -> Result<IssuedLink> {
    let external_id = ExternalId::parse(&request.external_id)?;
    let channel = Channel::parse(&request.channel)?;
    let ttl = request.ttl_seconds.unwrap_or(DEFAULT_LINK_TTL_SECONDS);
    if !(MIN_LINK_TTL_SECONDS..=MAX_LINK_TTL_SECONDS).contains(&ttl) {
        return Err(Error::invalid(
            "invalid_ttl",
            format!(
                "ttl_seconds must be {MIN_LINK_TTL_SECONDS} to {MAX_LINK_TTL_SECONDS} (30 days), got {ttl}"
            ),
        ));
    }
    if !key.is_configured() {
        return Err(Error::unavailable(
            "links_not_configured",
            "links are not configured: set the secret variable link_signing_key",
        ));
    }
    let (signed, code) = token::sign(key, &external_id, &channel, now + Duration::seconds(ttl));
    let url = url_of(&channel, &code)?;
    let record = LinkRecord {
        external_id: external_id.clone(),
        channel: channel.clone(),
        expires_at: signed.expires_at,
    };
    kv::set_json(store, &keys::link(&signed.link_id), &record)?;
    Ok(IssuedLink {
        link_id: signed.link_id,
        url,
        code,
        external_id,
        channel,
        expires_at: signed.expires_at,
    })
}

/// The customer a deep-link payload arriving on `channel` links, when it is a link's token signed with
/// `key`, unexpired at `now`, made for `channel`, and its record is there. Anything else is `None`,
/// without saying which.
///
/// # Errors
/// Store failures.
pub fn redeem<S: KvStore + ?Sized>(
    store: &S,
    key: &LinkKey,
    channel: &Channel,
    payload: &str,
    now: DateTime<Utc>,
) -> Result<Option<Redeemed>> {
    let Some(presented) = token::read(payload) else {
        return Ok(None);
    };
    if !key.is_configured() || presented.expires_at <= now {
        return Ok(None);
    }
    let Some(record) = kv::get_json::<_, LinkRecord>(store, &keys::link(&presented.link_id))?
    else {
        return Ok(None);
    };
    let valid = &record.channel == channel
        && token::verify(key, &presented, &record.external_id, channel, now);
    Ok(valid.then_some(Redeemed {
        link_id: presented.link_id,
        external_id: record.external_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryStore;
    use crate::secret::Secret;

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn key() -> LinkKey {
        LinkKey::new(Secret::new("link-key"))
    }

    fn request(ttl_seconds: Option<i64>) -> LinkRequest {
        LinkRequest {
            external_id: "cus_1042".into(),
            channel: "telegram:shop".into(),
            ttl_seconds,
        }
    }

    fn telegram_url(_: &Channel, code: &str) -> Result<String> {
        Ok(format!("https://t.me/shopbot?start={code}"))
    }

    fn shop() -> Channel {
        Channel::parse("telegram:shop").unwrap()
    }

    #[test]
    fn an_issued_link_is_redeemed_on_its_channel_until_it_expires() {
        let store = MemoryStore::new();
        let link = issue(&store, &key(), &request(Some(3600)), now(), telegram_url).unwrap();
        assert_eq!(
            link.url,
            format!("https://t.me/shopbot?start={}", link.code)
        );
        assert_eq!(link.expires_at, now() + Duration::hours(1));
        let redeemed = redeem(&store, &key(), &shop(), &link.code, now())
            .unwrap()
            .unwrap();
        assert_eq!(redeemed.external_id.as_str(), "cus_1042");
        assert_eq!(redeemed.link_id, link.link_id);
        let other = Channel::parse("telegram:other").unwrap();
        assert!(redeem(&store, &key(), &other, &link.code, now())
            .unwrap()
            .is_none());
        let later = now() + Duration::hours(1);
        assert!(redeem(&store, &key(), &shop(), &link.code, later)
            .unwrap()
            .is_none());
        let wrong_key = LinkKey::new(Secret::new("other"));
        assert!(redeem(&store, &wrong_key, &shop(), &link.code, now())
            .unwrap()
            .is_none());
        assert!(redeem(&store, &key(), &shop(), "summer-promo", now())
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_forged_token_without_a_record_links_nothing() {
        let store = MemoryStore::new();
        let (_, forged) = token::sign(
            &key(),
            &ExternalId::parse("cus_1").unwrap(),
            &shop(),
            now() + Duration::hours(1),
        );
        assert!(redeem(&store, &key(), &shop(), &forged, now())
            .unwrap()
            .is_none());
    }

    #[test]
    fn bad_requests_write_nothing() {
        let store = MemoryStore::new();
        for (ttl, code) in [
            (Some(59), "invalid_ttl"),
            (Some(MAX_LINK_TTL_SECONDS + 1), "invalid_ttl"),
        ] {
            let err = issue(&store, &key(), &request(ttl), now(), telegram_url).unwrap_err();
            assert_eq!(err.code(), code);
        }
        let mut bad = request(None);
        bad.external_id = "a b".into();
        let err = issue(&store, &key(), &bad, now(), telegram_url).unwrap_err();
        assert_eq!(err.code(), "invalid_external_id");
        let err = issue(
            &store,
            &LinkKey::default(),
            &request(None),
            now(),
            telegram_url,
        )
        .unwrap_err();
        assert_eq!((err.status(), err.code()), (503, "links_not_configured"));
        let refuse = |channel: &Channel, _: &str| -> Result<String> {
            Err(Error::unprocessable(
                "links_not_supported",
                format!("{channel}"),
            ))
        };
        let err = issue(&store, &key(), &request(None), now(), refuse).unwrap_err();
        assert_eq!(err.code(), "links_not_supported");
        assert!(store.get_keys().unwrap().is_empty());
        let link = issue(&store, &key(), &request(None), now(), telegram_url).unwrap();
        assert_eq!(
            link.expires_at,
            now() + Duration::seconds(DEFAULT_LINK_TTL_SECONDS)
        );
        assert!(!format!("{link:?}").contains("link-key"));
    }
}
