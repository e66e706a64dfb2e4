//! The API's contract as the running application serves it.

use reqwest::Method;
use serde_json::Value;
use spinpost_tests::app::send;
use spinpost_tests::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_is_served_without_a_token() {
    let app = TestApp::start().await;
    let (status, body) = send(app.request(Method::GET, "/api/v1/openapi.json")).await;
    let document: Value = serde_json::from_str(templates::OPENAPI_DOCUMENT).unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, document);
}
