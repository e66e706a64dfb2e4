//! The ingress's [`FeedbackSink`] in a Spin deployment: the feedback component's private route,
//! reached by local service chaining.

use spinpost::event::{InboundEvent, EVENT_BATCH_BODY_LIMIT};
use spinpost::feedback::MAX_EVENTS_PER_BATCH;
use spinpost::ingress::{Fate, FeedbackSink};
use spinpost::messenger::HttpClient;
use spinpost::{Error, Result};

/// Where the feedback component takes events: its private route, by Spin local service chaining.
pub const FEEDBACK_EVENTS_URL: &str = "http://feedback.spin.internal/events";

/// Hands feedback events to the feedback component over `H` (Spin's outbound HTTP in a component).
#[derive(Debug, Default, Clone, Copy)]
pub struct FeedbackService<H>(pub H);

impl<H: HttpClient> FeedbackSink for FeedbackService<H> {
    /// POST the events as [`EventBatch`](spinpost::event::EventBatch) pages, in order, each within
    /// the feedback route's limits on bytes and events (a notification accepted at the edge may hold
    /// more).
    ///
    /// Each event's fate is its `outcome` in the answer to its page. A failed page fails the whole
    /// forward: the webhook answers 503 and the platform redelivers
    /// the notification. The pages already applied are then applied again as duplicates (feedback
    /// is idempotent by the platform's ids), so the redelivery completes exactly what was missing.
    ///
    /// # Errors
    /// 503 `feedback_unavailable` when the component cannot be reached or does not accept a page.
    fn forward(&self, events: Vec<InboundEvent>) -> Result<Vec<Fate>> {
        let mut fates = Vec::with_capacity(events.len());
        for page in event_pages(&events, EVENT_BATCH_BODY_LIMIT, MAX_EVENTS_PER_BATCH) {
            fates.extend(self.post(page)?);
        }
        Ok(fates)
    }
}

impl<H: HttpClient> FeedbackService<H> {
    fn post(&self, body: Vec<u8>) -> Result<Vec<Fate>> {
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

/// The events as `{"events":[...]}` bodies of at most `limit` bytes and `max_events` events each, in
/// order; always at least one page. An event too large for any page goes alone (the feedback route
/// refuses it).
fn event_pages(events: &[InboundEvent], limit: usize, max_events: usize) -> Vec<Vec<u8>> {
    const OPEN: &[u8] = br#"{"events":["#;
    const CLOSE: &[u8] = b"]}";
    let mut pages = Vec::new();
    let mut page = OPEN.to_vec();
    let mut in_page = 0;
    for event in events {
        let encoded = spinpost::kv::encode(event);
        let separator = usize::from(in_page > 0);
        let too_large = page.len() + separator + encoded.len() + CLOSE.len() > limit;
        if in_page > 0 && (too_large || in_page == max_events) {
            page.extend_from_slice(CLOSE);
            pages.push(std::mem::replace(&mut page, OPEN.to_vec()));
            in_page = 0;
        }
        if in_page > 0 {
            page.push(b',');
        }
        page.extend_from_slice(&encoded);
        in_page += 1;
    }
    page.extend_from_slice(CLOSE);
    pages.push(page);
    pages
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
    use spinpost::event::EventBatch;
    use spinpost::messenger::TransportError;
    use std::cell::RefCell;
    use std::rc::Rc;

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

    fn status(n: usize) -> InboundEvent {
        serde_json::from_value(serde_json::json!({
            "type": "receipt",
            "platform": "whatsapp",
            "message_id": format!("wamid.{n:0>40}"),
            "status": "delivered",
            "at": "2026-11-24T12:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn pages_hold_every_event_in_order_each_within_the_limits() {
        let events: Vec<InboundEvent> = (0..1000).map(status).collect();
        for (limit, max_events, pages_at_least) in [(10_000, 1000, 10), (1 << 20, 300, 4)] {
            let pages = event_pages(&events, limit, max_events);
            assert!(pages.len() >= pages_at_least, "{}", pages.len());
            let mut decoded = Vec::new();
            for page in &pages {
                assert!(page.len() <= limit, "{} bytes", page.len());
                let batch: EventBatch = serde_json::from_slice(page).unwrap();
                assert!(batch.events.len() <= max_events);
                decoded.extend(batch.events);
            }
            assert_eq!(decoded, events);
        }
        let empty: EventBatch = serde_json::from_slice(&event_pages(&[], 100, 1)[0]).unwrap();
        assert!(empty.events.is_empty());
    }

    /// Records each page's events, refusing from the `fail_from`-th page on.
    struct Pages {
        seen: Rc<RefCell<Vec<usize>>>,
        fail_from: usize,
    }
    impl HttpClient for Pages {
        fn send(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> std::result::Result<http::Response<Vec<u8>>, TransportError> {
            let batch: EventBatch = serde_json::from_slice(request.body()).unwrap();
            let mut seen = self.seen.borrow_mut();
            let mut response = http::Response::new(Vec::new());
            if seen.len() >= self.fail_from {
                *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            }
            seen.push(batch.events.len());
            let results = vec![serde_json::json!({"outcome": "receipt"}); batch.events.len()];
            *response.body_mut() =
                serde_json::to_vec(&serde_json::json!({ "results": results })).unwrap();
            Ok(response)
        }
    }

    #[test]
    fn a_notification_over_one_page_is_forwarded_whole_or_refused() {
        let events: Vec<InboundEvent> = (0..20_000).map(status).collect();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let all = Pages {
            seen: seen.clone(),
            fail_from: usize::MAX,
        };
        let fates = FeedbackService(all).forward(events.clone()).unwrap();
        assert_eq!(
            fates.len(),
            events.len(),
            "a fate per event, over the pages"
        );
        let pages = seen.take();
        assert!(pages.len() > 1, "{pages:?}");
        assert_eq!(pages.iter().sum::<usize>(), events.len());

        let second_fails = Pages {
            seen: seen.clone(),
            fail_from: 1,
        };
        let err = FeedbackService(second_fails).forward(events).unwrap_err();
        assert_eq!(err.code(), "feedback_unavailable");
        assert_eq!(seen.take().len(), 2, "stops at the refused page");
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
