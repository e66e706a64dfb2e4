//! Meta's Graph API as the platforms on it (WhatsApp, Messenger) send through it: one authenticated
//! `POST /<version>/<account>/messages`, its answer translated by the platform.

use serde::Deserialize;
use serde_json::Value;

use crate::messenger::{ApiCall, SendOutcome};
use crate::secret::Secret;

/// Where and as whom a message is posted.
pub struct GraphAccount<'a> {
    /// The Graph API base URL (`https://graph.facebook.com`).
    pub api_url: &'a str,
    /// The API version in the path (`v21.0`).
    pub api_version: &'a str,
    /// The sending account: a phone number id or a page id.
    pub account: &'a str,
    /// The access token.
    pub token: &'a Secret,
}

/// The call posting `body` to the account's `/messages` edge, its answer translated with `outcome`
/// (a network failure is transient).
///
/// # Errors
/// `invalid_request` when the request cannot be built (a malformed API URL).
pub fn post_message(
    to: &GraphAccount<'_>,
    body: &Value,
    outcome: fn(u16, &[u8]) -> SendOutcome,
) -> Result<ApiCall, SendOutcome> {
    let url = format!(
        "{}/{}/{}/messages",
        to.api_url.trim_end_matches('/'),
        to.api_version,
        to.account
    );
    // The token goes in a header rather than the query string, so it never appears in a logged URL.
    http::Request::post(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", to.token.expose()))
        .body(body.to_string().into_bytes())
        .map(|request| ApiCall::new(request, outcome, Some(to.token.clone())))
        .map_err(|e| SendOutcome::Rejected {
            code: "invalid_request".into(),
            reason: e.to_string(),
        })
}

/// The `error` object of a refused Graph API request: act on its code, not on the HTTP status.
#[derive(Debug, Deserialize)]
pub struct GraphError {
    /// The error code (`130429`, `551`, ...).
    #[serde(default)]
    pub code: i64,
    /// The finer code some errors carry (`2018278`).
    #[serde(default)]
    pub error_subcode: Option<i64>,
    /// Meta's words.
    #[serde(default)]
    pub message: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: GraphError,
}

/// The Graph error of a refused request; without an error body the outcome is decided by the status
/// alone (5xx and 429 transient, anything else rejected as `http_<status>`).
///
/// # Errors
/// The outcome when the body carries no Graph error.
pub fn graph_error(status: u16, body: &[u8]) -> Result<GraphError, SendOutcome> {
    serde_json::from_slice::<ErrorBody>(body)
        .map(|body| body.error)
        .map_err(|_| {
            let reason = format!("HTTP {status} without an error body");
            if status >= 500 || status == 429 {
                SendOutcome::Transient { reason }
            } else {
                SendOutcome::Rejected {
                    code: format!("http_{status}"),
                    reason,
                }
            }
        })
}
