//! Meta's Graph API as the platforms on it (WhatsApp, Messenger) send through it: one authenticated
//! `POST /<version>/<account>/messages`, its answer translated by the platform.

use serde::Deserialize;
use serde_json::Value;

use crate::messenger::{ApiCall, SendOutcome};
use crate::secret::Secret;

/// Meta's Graph API as a deployment reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphApi {
    /// The base URL (`https://graph.facebook.com`).
    pub url: String,
    /// The API version in the path (`v21.0`).
    pub version: String,
}

impl GraphApi {
    /// `<prefix>_api_url` and `<prefix>_api_version`.
    pub fn from_variables(read: &dyn Fn(&str) -> String, prefix: &str) -> Self {
        GraphApi {
            url: read(&format!("{prefix}_api_url")),
            version: read(&format!("{prefix}_api_version")),
        }
    }

    /// The call posting `body` to `account`'s `/messages` edge (a phone number id or a page id) with
    /// `token`, its answer translated with `outcome` (a network failure is transient).
    ///
    /// # Errors
    /// `invalid_request` when the request cannot be built (a malformed API URL).
    pub fn post_message(
        &self,
        account: &str,
        token: &Secret,
        body: &Value,
        outcome: fn(u16, &[u8]) -> SendOutcome,
    ) -> Result<ApiCall, SendOutcome> {
        let url = format!(
            "{}/{}/{account}/messages",
            self.url.trim_end_matches('/'),
            self.version,
        );
        // The token goes in a header rather than the query string, so it never appears in a logged URL.
        http::Request::post(url)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", token.expose()))
            .body(body.to_string().into_bytes())
            .map(|request| ApiCall::new(request, outcome, Some(token.clone())))
            .map_err(|e| SendOutcome::Rejected {
                code: "invalid_request".into(),
                reason: e.to_string(),
            })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fixtures::FakeApi;

    fn accepted(_: u16, body: &[u8]) -> SendOutcome {
        SendOutcome::Sent {
            message_id: String::from_utf8_lossy(body).into_owned(),
        }
    }

    #[test]
    fn a_message_is_posted_to_the_account_with_the_token_in_a_header() {
        let graph = GraphApi {
            url: "http://graph/".into(),
            version: "v21.0".into(),
        };
        let api = FakeApi::default().answer("/messages", 200, "m_1");
        let token = Secret::new("page-token");
        let call = graph
            .post_message("1691462197845448", &token, &serde_json::json!({}), accepted)
            .unwrap();
        assert_eq!(
            call.send(&api),
            SendOutcome::Sent {
                message_id: "m_1".into()
            }
        );
        let requests = api.requests();
        assert_eq!(
            requests[0].uri().to_string(),
            "http://graph/v21.0/1691462197845448/messages"
        );
        assert_eq!(requests[0].headers()["authorization"], "Bearer page-token");
        drop(requests);
        let down = FakeApi::default().refuse("/messages");
        let call = graph
            .post_message("1", &token, &serde_json::json!({}), accepted)
            .unwrap();
        assert!(matches!(call.send(&down), SendOutcome::Transient { .. }));
    }
}
