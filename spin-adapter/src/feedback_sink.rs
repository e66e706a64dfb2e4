//! The ingress's [`FeedbackSink`] in a Spin deployment: the feedback component's private route,
//! reached by local service chaining.

use spinpost::event::{EventBatch, InboundEvent};
use spinpost::ingress::{Fate, FeedbackSink};
use spinpost::messenger::HttpClient;
use spinpost::{Error, Result};

/// Where the feedback component takes events: its private route, by Spin local service chaining.
pub const FEEDBACK_EVENTS_URL: &str = "http://feedback.spin.internal/events";

/// Hands feedback events to the feedback component over `H` (Spin's outbound HTTP in a component).
#[derive(Debug, Default, Clone, Copy)]
pub struct FeedbackService<H>(pub H);

impl<H: HttpClient> FeedbackSink for FeedbackService<H> {
    /// POST the events as one [`EventBatch`]; each event's fate is its `outcome` in the answer.
    ///
    /// # Errors
    /// 503 `feedback_unavailable` when the component cannot be reached or does not accept them.
    fn forward(&self, events: Vec<InboundEvent>) -> Result<Vec<Fate>> {
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
        fates(response.body())
            .ok_or_else(|| unavailable("answered without a fate per event".into()))
    }
}

/// The fate of each event in the feedback component's answer (`results[i].outcome`).
fn fates(body: &[u8]) -> Option<Vec<Fate>> {
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    answer["results"]
        .as_array()?
        .iter()
        .map(|result| {
            Some(match result["outcome"].as_str()? {
                "duplicate" => Fate::Duplicate,
                "rejected" => Fate::Rejected,
                _ => Fate::Applied,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spinpost::messenger::TransportError;

    struct Answer(Option<u16>, &'static str);
    impl HttpClient for Answer {
        fn send(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> std::result::Result<http::Response<Vec<u8>>, TransportError> {
            assert_eq!(request.uri(), FEEDBACK_EVENTS_URL);
            let status = self
                .0
                .ok_or_else(|| TransportError("connection refused".into()))?;
            let mut response = http::Response::new(self.1.as_bytes().to_vec());
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok(response)
        }
    }

    #[test]
    fn events_reach_the_feedback_route_or_the_webhook_is_unavailable() {
        let answered = r#"{"applied":1,"results":[{"outcome":"receipt"},{"outcome":"duplicate"},{"outcome":"rejected","reason":"x"}]}"#;
        assert_eq!(
            FeedbackService(Answer(Some(200), answered))
                .forward(vec![])
                .unwrap(),
            [Fate::Applied, Fate::Duplicate, Fate::Rejected]
        );
        for down in [
            Answer(Some(500), ""),
            Answer(None, ""),
            Answer(Some(200), "not json"),
        ] {
            let err = FeedbackService(down).forward(vec![]).unwrap_err();
            assert_eq!(err.code(), "feedback_unavailable");
        }
    }
}
