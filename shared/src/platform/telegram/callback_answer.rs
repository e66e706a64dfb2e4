//! Answering a callback query (`answerCallbackQuery`): until a bot answers, the user's Telegram client
//! shows a spinner on the pressed button; the answer's text appears as a short notification.

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Result};
use crate::messenger::HttpClient;

use super::BotConfig;

/// Telegram shows at most 200 characters of an answer's text.
pub const MAX_ANSWER_TEXT_CHARS: usize = 200;

/// The Bot API's answer envelope; only what a failure needs.
#[derive(Deserialize)]
struct ApiAnswer {
    ok: bool,
    #[serde(default)]
    description: Option<String>,
}

/// The `answerCallbackQuery` request for a press on `bot`'s message. An empty `text` answers silently.
///
/// # Errors
/// 500 when the request cannot be built (an API URL that is not a URL).
pub fn answer_request(
    api_url: &str,
    bot: &BotConfig,
    callback_query_id: &str,
    text: &str,
) -> Result<http::Request<Vec<u8>>> {
    let mut body = json!({ "callback_query_id": callback_query_id });
    if !text.is_empty() {
        body["text"] = text
            .chars()
            .take(MAX_ANSWER_TEXT_CHARS)
            .collect::<String>()
            .into();
    }
    let url = format!(
        "{}/bot{}/answerCallbackQuery",
        api_url.trim_end_matches('/'),
        bot.token.expose()
    );
    http::Request::post(url)
        .header("content-type", "application/json")
        .body(crate::kv::encode(&body))
        // The URL holds the token: say what failed without it.
        .map_err(|_| Error::internal("building the answerCallbackQuery request failed; check variable 'telegram_api_url'"))
}

/// Answer a callback query.
///
/// Answering is a courtesy to the user: callers record what the press meant first and treat a failure
/// here as something to report, never as a reason to undo or redo the press.
///
/// # Errors
/// 503 `telegram_unavailable` when no answer arrived or Telegram refused (e.g. the query is older than
/// Telegram keeps it); the message never contains the bot token.
pub fn answer_callback_query<H: HttpClient + ?Sized>(
    client: &H,
    api_url: &str,
    bot: &BotConfig,
    callback_query_id: &str,
    text: &str,
) -> Result<()> {
    let request = answer_request(api_url, bot, callback_query_id, text)?;
    let scrub = |message: String| message.replace(bot.token.expose(), "***");
    let unavailable = |why: String| {
        Error::unavailable(
            "telegram_unavailable",
            scrub(format!("answerCallbackQuery: {why}")),
        )
    };
    let response = client
        .send(request)
        .map_err(|e| unavailable(e.to_string()))?;
    let answer: Option<ApiAnswer> = serde_json::from_slice(response.body()).ok();
    match answer {
        Some(ApiAnswer { ok: true, .. }) if response.status().is_success() => Ok(()),
        Some(ApiAnswer {
            description: Some(description),
            ..
        }) => Err(unavailable(format!(
            "HTTP {}: {description}",
            response.status().as_u16()
        ))),
        _ => Err(unavailable(format!(
            "HTTP {} without a Bot API answer",
            response.status().as_u16()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fixtures::{telegram_bot, FakeApi};

    fn shop() -> BotConfig {
        telegram_bot("123:abc", "s")
    }

    #[test]
    fn answer_posts_the_query_id_and_text_to_the_bot_url() {
        let telegram = FakeApi::default().answer("/", 200, r#"{"ok":true,"result":true}"#);
        answer_callback_query(
            &telegram,
            "http://127.0.0.1:9/",
            &shop(),
            "4382bfdwdsb323b2d9",
            "Thanks for your rating!",
        )
        .unwrap();
        let requests = telegram.requests();
        assert_eq!(
            requests[0].uri(),
            "http://127.0.0.1:9/bot123:abc/answerCallbackQuery"
        );
        assert_eq!(requests[0].method(), http::Method::POST);
        let body: serde_json::Value = serde_json::from_slice(requests[0].body()).unwrap();
        assert_eq!(
            body,
            json!({ "callback_query_id": "4382bfdwdsb323b2d9", "text": "Thanks for your rating!" })
        );
    }

    #[test]
    fn empty_text_answers_silently_and_long_text_is_cut() {
        let request = answer_request("https://api.telegram.org", &shop(), "q", "").unwrap();
        let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert!(body.get("text").is_none());
        let request =
            answer_request("https://api.telegram.org", &shop(), "q", &"x".repeat(500)).unwrap();
        let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(
            body["text"].as_str().unwrap().chars().count(),
            MAX_ANSWER_TEXT_CHARS
        );
    }

    #[test]
    fn refusals_and_transport_failures_are_errors_without_the_token() {
        let telegram = FakeApi::default().answer("/", 400, r#"{"ok":false,"error_code":400,"description":"Bad Request: query is too old and response timeout expired or query ID is invalid"}"#);
        let err =
            answer_callback_query(&telegram, "http://127.0.0.1:9", &shop(), "q", "hi").unwrap_err();
        assert_eq!(err.code(), "telegram_unavailable");
        assert!(
            err.message().contains("query is too old"),
            "{}",
            err.message()
        );
        let unreachable = FakeApi::default().refuse("/");
        let err = answer_callback_query(&unreachable, "http://127.0.0.1:9", &shop(), "q", "hi")
            .unwrap_err();
        assert!(!err.message().contains("123:abc"), "{}", err.message());
        assert!(err.message().contains("connection refused"));
    }
}
