//! The token of a signed link: short enough for Telegram's start parameter (at most 64 characters of
//! A-Z, a-z, 0-9, '_' and '-'), and saying nothing of the key or the customer.
//!
//! A token is the hex of `link id (8 bytes) ‖ expiry (4 bytes, Unix seconds) ‖ MAC (16 bytes)`: 56
//! characters. The MAC is HMAC-SHA256 under the deployment's link signing key over the link id, the
//! expiry, the channel and the external id, truncated to 128 bits. The external id itself does not fit;
//! the link's record, stored under the link id, holds it, and the MAC binds the record to the token.

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::{constant_time_eq, Secret};
use crate::subscriber::{Channel, ExternalId};

const ID_BYTES: usize = 8;
const EXPIRY_BYTES: usize = 4;
const MAC_BYTES: usize = 16;
/// The length of a token, in characters.
pub const TOKEN_CHARS: usize = 2 * (ID_BYTES + EXPIRY_BYTES + MAC_BYTES);

/// The deployment's key for signing links (the secret Spin variable `link_signing_key`).
#[derive(Debug, Clone, Default)]
pub struct LinkKey(Secret);

impl LinkKey {
    /// The key; an empty one signs nothing and verifies nothing.
    pub fn new(secret: Secret) -> Self {
        LinkKey(secret)
    }

    /// Whether a key is configured.
    pub fn is_configured(&self) -> bool {
        !self.0.is_empty()
    }

    fn mac(&self, domain: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(domain);
        for part in parts {
            // Length-prefixed, so no two different inputs read alike.
            mac.update(&(part.len() as u32).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// What a token carries and what it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The link's id (hex), naming its record and the consent evidence.
    pub link_id: String,
    /// When the token stops linking.
    pub expires_at: DateTime<Utc>,
}

/// The parts of a token as read, before it is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// The link's id (hex).
    pub link_id: String,
    /// The expiry the token claims.
    pub expires_at: DateTime<Utc>,
    mac: Vec<u8>,
}

/// Sign a link of `external_id` on `channel` until `expires_at` (whole seconds): its id is derived
/// from what it links, so the same request signs the same token.
pub fn sign(
    key: &LinkKey,
    external_id: &ExternalId,
    channel: &Channel,
    expires_at: DateTime<Utc>,
) -> (Signed, String) {
    let expiry = expiry_bytes(expires_at);
    let channel_text = channel.to_string();
    let id_mac = key.mac(
        b"spinpost link id",
        &[
            &expiry,
            channel_text.as_bytes(),
            external_id.as_str().as_bytes(),
        ],
    );
    let id = &id_mac[..ID_BYTES];
    let mac = token_mac(key, id, &expiry, channel, external_id);
    let token = hex::encode([id, &expiry[..], &mac[..MAC_BYTES]].concat());
    let signed = Signed {
        link_id: hex::encode(id),
        expires_at: from_expiry(expiry),
    };
    (signed, token)
}

/// Whether `text` has a token's shape (a platform uses it to tell a link's code in a message).
pub fn is_code(text: &str) -> bool {
    text.len() == TOKEN_CHARS && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Read a token's parts; `None` when it is not a token at all (e.g. an ordinary deep-link payload).
pub fn read(token: &str) -> Option<Presented> {
    if !is_code(token) {
        return None;
    }
    let bytes = hex::decode(token).ok()?;
    let (id, rest) = bytes.split_at(ID_BYTES);
    let (expiry, mac) = rest.split_at(EXPIRY_BYTES);
    Some(Presented {
        link_id: hex::encode(id),
        expires_at: from_expiry(expiry.try_into().ok()?),
        mac: mac.to_vec(),
    })
}

/// Whether `presented` was signed with `key` for `external_id` on `channel` and is unexpired at `now`.
/// The MAC is compared in constant time.
pub fn verify(
    key: &LinkKey,
    presented: &Presented,
    external_id: &ExternalId,
    channel: &Channel,
    now: DateTime<Utc>,
) -> bool {
    if !key.is_configured() || presented.expires_at <= now {
        return false;
    }
    let Ok(id) = hex::decode(&presented.link_id) else {
        return false;
    };
    let expiry = expiry_bytes(presented.expires_at);
    let expected = token_mac(key, &id, &expiry, channel, external_id);
    constant_time_eq(&expected[..MAC_BYTES], &presented.mac)
}

fn token_mac(
    key: &LinkKey,
    id: &[u8],
    expiry: &[u8],
    channel: &Channel,
    external_id: &ExternalId,
) -> [u8; 32] {
    let channel_text = channel.to_string();
    key.mac(
        b"spinpost link token",
        &[
            id,
            expiry,
            channel_text.as_bytes(),
            external_id.as_str().as_bytes(),
        ],
    )
}

/// Unix seconds in four bytes (enough until 2106); times outside that range are clamped.
fn expiry_bytes(at: DateTime<Utc>) -> [u8; EXPIRY_BYTES] {
    u32::try_from(at.timestamp().max(0))
        .unwrap_or(u32::MAX)
        .to_be_bytes()
}

fn from_expiry(bytes: [u8; EXPIRY_BYTES]) -> DateTime<Utc> {
    Utc.timestamp_opt(i64::from(u32::from_be_bytes(bytes)), 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn key(k: &str) -> LinkKey {
        LinkKey::new(Secret::new(k))
    }

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn customer() -> ExternalId {
        ExternalId::parse("cus_1042").unwrap()
    }

    fn shop() -> Channel {
        Channel::parse("telegram:shop").unwrap()
    }

    #[test]
    fn a_token_round_trips_and_fits_a_telegram_start_parameter() {
        let (signed, token) = sign(&key("k1"), &customer(), &shop(), now() + Duration::days(7));
        assert_eq!(token.len(), TOKEN_CHARS);
        assert!(token.len() <= 64);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(!token.contains("cus_1042"));
        let presented = read(&token).unwrap();
        assert_eq!(presented.link_id, signed.link_id);
        assert_eq!(presented.expires_at, now() + Duration::days(7));
        assert!(verify(&key("k1"), &presented, &customer(), &shop(), now()));
        // Signing the same link again gives the same token.
        assert_eq!(
            sign(&key("k1"), &customer(), &shop(), now() + Duration::days(7)).1,
            token
        );
    }

    #[test]
    fn a_tampered_token_or_another_key_customer_or_channel_does_not_verify() {
        let (_, token) = sign(&key("k1"), &customer(), &shop(), now() + Duration::days(7));
        let presented = read(&token).unwrap();
        assert!(!verify(&key("k2"), &presented, &customer(), &shop(), now()));
        assert!(!verify(&key(""), &presented, &customer(), &shop(), now()));
        let other = ExternalId::parse("cus_1043").unwrap();
        assert!(!verify(&key("k1"), &presented, &other, &shop(), now()));
        let elsewhere = Channel::parse("telegram:other").unwrap();
        assert!(!verify(
            &key("k1"),
            &presented,
            &customer(),
            &elsewhere,
            now()
        ));
        // Every single changed character breaks it: the id, the expiry (a later one) and the MAC.
        for position in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[position] = if bytes[position] == b'f' { b'0' } else { b'f' };
            let tampered = String::from_utf8(bytes).unwrap();
            let presented = read(&tampered).unwrap();
            assert!(
                !verify(&key("k1"), &presented, &customer(), &shop(), now()),
                "{position}"
            );
        }
        assert!(read("summer-promo").is_none());
        assert!(read(&"z".repeat(TOKEN_CHARS)).is_none());
    }

    #[test]
    fn a_token_expires() {
        let expires = now() + Duration::hours(1);
        let (_, token) = sign(&key("k1"), &customer(), &shop(), expires);
        let presented = read(&token).unwrap();
        assert!(verify(
            &key("k1"),
            &presented,
            &customer(),
            &shop(),
            expires - Duration::seconds(1)
        ));
        assert!(!verify(
            &key("k1"),
            &presented,
            &customer(),
            &shop(),
            expires
        ));
        assert!(!verify(
            &key("k1"),
            &presented,
            &customer(),
            &shop(),
            expires + Duration::days(1)
        ));
    }
}
