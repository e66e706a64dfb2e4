//! The channels an import names, checked before anything is written: importing people to a channel this
//! deployment cannot send on would only look like success.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::subscriber::Channel;

/// The one field this check reads of an import line; the rest is judged by the import itself.
#[derive(Deserialize)]
struct LineChannel {
    channel: String,
}

/// Refuse the whole import when any line names a channel that `require_configured` refuses. Lines
/// that do not parse, or name no valid channel, are left to the import's per-line report.
///
/// # Errors
/// 422 `channel_not_configured`: each refused channel's reason (which variable to set) in the message,
/// and under `error.details.channels` each channel with its line numbers.
pub fn require_configured_channels(
    body: &str,
    require_configured: impl Fn(&Channel) -> Result<()>,
) -> Result<()> {
    let mut lines_of: BTreeMap<Channel, Vec<usize>> = BTreeMap::new();
    for (number, text) in body.lines().enumerate() {
        let Ok(line) = serde_json::from_str::<LineChannel>(text.trim()) else {
            continue;
        };
        if let Ok(channel) = Channel::parse(&line.channel) {
            lines_of.entry(channel).or_default().push(number + 1);
        }
    }
    let mut reasons = Vec::new();
    let mut details = Vec::new();
    for (channel, lines) in lines_of {
        if let Err(err) = require_configured(&channel) {
            reasons.push(err.message().to_owned());
            details.push(serde_json::json!({ "channel": channel.to_string(), "lines": lines }));
        }
    }
    if reasons.is_empty() {
        return Ok(());
    }
    Err(Error::unprocessable(
        "channel_not_configured",
        format!("nothing was imported: {}", reasons.join("; ")),
    )
    .with_details(serde_json::json!({ "channels": details })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only_shop(channel: &Channel) -> Result<()> {
        if channel.to_string() == "telegram:shop" {
            Ok(())
        } else {
            Err(Error::unprocessable(
                "channel_not_configured",
                format!("channel '{channel}' is not configured here: set the variable x"),
            ))
        }
    }

    #[test]
    fn an_import_naming_an_unconfigured_channel_is_refused_with_its_lines() {
        let body = concat!(
            r#"{"channel": "telegram:shop", "address": "1"}"#,
            "\n",
            r#"{"channel": "telegram:news", "address": "2"}"#,
            "\nnot json\n",
            r#"{"channel": "sms:x"}"#,
            "\n",
            r#"{"channel": "telegram:news", "address": "3"}"#,
        );
        let err = require_configured_channels(body, only_shop).unwrap_err();
        assert_eq!((err.status(), err.code()), (422, "channel_not_configured"));
        err.assert_mentions("nothing was imported: channel 'telegram:news'");
        err.assert_mentions("set the variable x");
        let body: serde_json::Value = serde_json::from_slice(&err.to_json()).unwrap();
        assert_eq!(
            body["error"]["details"]["channels"],
            serde_json::json!([{"channel": "telegram:news", "lines": [2, 5]}])
        );
    }

    #[test]
    fn an_import_to_configured_channels_passes() {
        let body = "{\"channel\": \"telegram:shop\"}\n\n{\"channel\": \"telegram:shop\"}";
        assert!(require_configured_channels(body, only_shop).is_ok());
    }
}
