//! The ingress's [`FeedbackSink`] in a Spin deployment: the feedback component's private route,
//! reached by local service chaining.

use spinpost::event::{EventBatch, InboundEvent};
use spinpost::ingress::FeedbackSink;
use spinpost::messenger::HttpClient;
use spinpost::{Error, Result};

/// Where the feedback component takes events: its private route, by Spin local service chaining.
pub const FEEDBACK_EVENTS_URL: &str = "http://feedback.spin.internal/events";

/// Hands feedback events to the feedback component over `H` (Spin's outbound HTTP in a component).
#[derive(Debug, Default, Clone, Copy)]
pub struct FeedbackService<H>(pub H);

impl<H: HttpClient> FeedbackSink for FeedbackService<H> {
    /// POST the events as one [`EventBatch`].
    ///
    /// # Errors
    /// 503 `feedback_unavailable` when the component cannot be reached or does not accept them.
    fn forward(&self, events: Vec<InboundEvent>) -> Result<()> {
        let body = spinpost::kv::encode(&EventBatch { events });
        let request = http::Request::post(FEEDBACK_EVENTS_URL)
            .header("content-type", "application/json")
            .body(body)
            .map_err(|e| Error::internal(format!("building feedback request: {e}")))?;
        let unavailable = |why: String| {
            Error::unavailable("feedback_unavailable", format!("feedback component: {why}"))
        };
        let response = self
            .0
            .send(request)
            .map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("answered {}", response.status())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spinpost::messenger::TransportError;

    struct Answer(Option<u16>);
    impl HttpClient for Answer {
        fn send(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> std::result::Result<http::Response<Vec<u8>>, TransportError> {
            assert_eq!(request.uri(), FEEDBACK_EVENTS_URL);
            let status = self
                .0
                .ok_or_else(|| TransportError("connection refused".into()))?;
            let mut response = http::Response::new(Vec::new());
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok(response)
        }
    }

    #[test]
    fn events_reach_the_feedback_route_or_the_webhook_is_unavailable() {
        assert!(FeedbackService(Answer(Some(200))).forward(vec![]).is_ok());
        for down in [Answer(Some(500)), Answer(None)] {
            let err = FeedbackService(down).forward(vec![]).unwrap_err();
            assert_eq!(err.code(), "feedback_unavailable");
        }
    }
}
