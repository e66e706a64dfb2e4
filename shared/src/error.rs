//! The one error type of the core, and its single mapping to an HTTP status and JSON body.

use std::borrow::Cow;

use serde::Serialize;

/// What kind of failure an [`Error`] is; decides the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or a field is invalid (400).
    BadRequest,
    /// Missing or wrong credentials (401).
    Unauthorized,
    /// Credentials are fine but the action is refused (403).
    Forbidden,
    /// No such resource or route (404).
    NotFound,
    /// The route exists but not for this method (405).
    MethodNotAllowed,
    /// The request conflicts with the current state (409).
    Conflict,
    /// The body is larger than the route accepts (413).
    PayloadTooLarge,
    /// Well-formed input that the domain rejects, e.g. a template that does not render (422).
    Unprocessable,
    /// A required setting is absent, e.g. a platform that is not configured (503).
    Unavailable,
    /// A failure of the host or store that the caller cannot fix (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status code for this kind.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::Unprocessable => 422,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

/// An error with a stable machine-readable `code` and a message that tells the caller what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    kind: ErrorKind,
    code: Cow<'static, str>,
    message: String,
    /// Extra structured detail (e.g. per-field problems); serialised under `error.details`.
    details: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorFields<'a>,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a serde_json::Value>,
}

impl Error {
    /// An error of any kind with a code and message.
    pub fn new(
        kind: ErrorKind,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Error {
            kind,
            code: code.into(),
            message: message.into(),
            details: None,
        }
    }

    /// 400: the input is invalid; `code` names the problem (e.g. `invalid_locale`).
    pub fn invalid(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, code, message)
    }

    /// 422: well-formed input the domain cannot accept.
    pub fn unprocessable(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unprocessable, code, message)
    }

    /// 404 for a named resource.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            "not_found",
            format!("no {what} with id '{id}'"),
        )
    }

    /// 409: the request conflicts with the resource's state.
    pub fn conflict(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }

    /// 401 with a message that never echoes the credential received.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, "unauthorized", message)
    }

    /// 503: a setting the route needs is not configured.
    pub fn unavailable(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, code, message)
    }

    /// 500: the store or host failed. The message is for operators (the edge logs it and answers callers
    /// with a generic message) and holds no secrets.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, "internal", message)
    }

    /// Attach structured details, e.g. a list of unresolved variables.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The kind, which decides the status.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The JSON body `{"error":{"code":"...","message":"..."}}`.
    pub fn to_json(&self) -> Vec<u8> {
        let body = ErrorBody {
            error: ErrorFields {
                code: &self.code,
                message: &self.message,
                details: self.details.as_ref(),
            },
        };
        // Serialising a struct of strings and a Value cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

/// Result with the core's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
impl Error {
    /// Fails the test unless the message names `part`: errors must say what to fix.
    pub(crate) fn assert_mentions(&self, part: &str) {
        assert!(
            self.message.contains(part),
            "{:?} does not mention {part:?}",
            self.message
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_code_and_message() {
        let err = Error::invalid("invalid_locale", "locale 'xx_' is not a BCP 47 tag");
        assert_eq!(err.status(), 400);
        let body: serde_json::Value = serde_json::from_slice(&err.to_json()).unwrap();
        assert_eq!(body["error"]["code"], "invalid_locale");
        assert_eq!(body["error"]["message"], "locale 'xx_' is not a BCP 47 tag");
        assert!(body["error"].get("details").is_none());
    }

    #[test]
    fn details_are_serialised_when_present() {
        let err =
            Error::unprocessable("unknown_variables", "x").with_details(serde_json::json!(["a"]));
        let body: serde_json::Value = serde_json::from_slice(&err.to_json()).unwrap();
        assert_eq!(body["error"]["details"][0], "a");
        assert_eq!(err.status(), 422);
    }
}
