//! A subscriber's id, derived from channel and address.

use super::{Address, Channel};
use crate::error::{Error, Result};
use crate::newtype::validated_string;

validated_string! {
    /// A subscriber's id: `<platform>:<account>:<address>`, derived from channel and address so a webhook
    /// finds the record without an index.
    #[serde(transparent)]
    pub struct SubscriberId;
}

impl SubscriberId {
    /// The id of `address` on `channel`.
    pub fn of(channel: &Channel, address: &Address) -> Self {
        SubscriberId(format!("{channel}:{address}"))
    }

    /// Parse an id from a URL or body.
    ///
    /// # Errors
    /// `invalid_subscriber_id` when it is not `<platform>:<account>:<address>`.
    pub fn parse(s: &str) -> Result<Self> {
        let invalid = || {
            Error::invalid(
                "invalid_subscriber_id",
                format!("'{s}' is not a subscriber id like 'telegram:shop:1111111'"),
            )
        };
        let (channel, address) = s.rsplit_once(':').ok_or_else(invalid)?;
        let channel = Channel::parse(channel).map_err(|_| invalid())?;
        let address = Address::parse(channel.platform(), address).map_err(|_| invalid())?;
        Ok(SubscriberId::of(&channel, &address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriber::Platform;

    #[test]
    fn subscriber_id_round_trips() {
        let id = SubscriberId::parse("telegram:shop:42").unwrap();
        assert_eq!(id.as_str(), "telegram:shop:42");
        let derived = SubscriberId::of(
            &Channel::parse("telegram:shop").unwrap(),
            &Address::parse(Platform::Telegram, "42").unwrap(),
        );
        assert_eq!(derived, id);
        // Another spelling of the same address is the same subscriber.
        assert_eq!(SubscriberId::parse("telegram:shop:042").unwrap(), id);
        assert!(SubscriberId::parse("telegram:shop:x").is_err());
        assert!(SubscriberId::parse("nonsense").is_err());
    }
}
