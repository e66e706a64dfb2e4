//! What WhatsApp and Messenger share: Meta's verification handshake and signed notifications.

use serde_json::{json, Value};
use spinpost_tests::app::{
    whatsapp_signature, MESSENGER_APP_SECRET, MESSENGER_VERIFY_TOKEN, WHATSAPP_APP_SECRET,
    WHATSAPP_VERIFY_TOKEN,
};
use spinpost_tests::{fixtures, TestApp};

/// One Meta webhook: its route, its secrets and a notification in its shape.
struct MetaWebhook {
    path: &'static str,
    verify_token: &'static str,
    app_secret: &'static str,
    notification: String,
}

fn meta_webhooks() -> [MetaWebhook; 2] {
    [
        MetaWebhook {
            path: "/webhooks/whatsapp",
            verify_token: WHATSAPP_VERIFY_TOKEN,
            app_secret: WHATSAPP_APP_SECRET,
            notification: fixtures::payload("whatsapp/webhook_inbound_text").to_string(),
        },
        MetaWebhook {
            path: "/webhooks/messenger",
            verify_token: MESSENGER_VERIFY_TOKEN,
            app_secret: MESSENGER_APP_SECRET,
            notification: fixtures::payload("messenger/webhook_message_text").to_string(),
        },
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn verification_handshake_answers_only_the_right_token() {
    let app = TestApp::start().await;
    for hook in meta_webhooks() {
        let answer = app
            .meta_handshake(hook.path, hook.verify_token, "1158201444")
            .await;
        assert_eq!(answer, (200, "1158201444".to_owned()), "{}", hook.path);
        let (status, body) = app.meta_handshake(hook.path, "guess", "1").await;
        assert_eq!(status, 403, "{}: {body}", hook.path);
        let error: Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(error["error"]["code"], "verification_failed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_signature_is_rejected_with_nothing_stored() {
    let app = TestApp::start().await;
    for hook in meta_webhooks() {
        let body = hook.notification.as_str();
        let refused = [
            whatsapp_signature("not-the-secret", body.as_bytes()),
            "sha256=zz".to_owned(),
            // Signed with the right secret over other bytes than were sent.
            whatsapp_signature(hook.app_secret, b"{}"),
        ];
        for signature in refused {
            let (status, reply) = app
                .meta_notification_signed(hook.path, body, &signature)
                .await;
            assert_eq!(status, 401, "{} {signature}: {reply}", hook.path);
        }
    }
    let (_, list) = app.admin_get("/api/v1/subscribers").await;
    assert_eq!(list["items"], json!([]), "{list}");
}
