//! Webhook bodies built from the platform fixtures, with the ids, people and texts a test needs.

use serde_json::Value;

use crate::fixtures::{payload, unix_now_secs};

/// A Telegram text message `text` from chat `chat` (also the sender), as update `update_id`.
pub fn telegram_text(update_id: i64, chat: i64, text: &str) -> String {
    let mut update = payload("telegram/update_text_message");
    update["update_id"] = update_id.into();
    update["message"]["chat"]["id"] = chat.into();
    update["message"]["from"]["id"] = chat.into();
    update["message"]["text"] = text.into();
    update["message"]["date"] = unix_now_secs().into();
    update.to_string()
}

/// A Telegram button press with `data` by `chat`, as update `update_id` with callback id `press_id`.
pub fn telegram_press(update_id: i64, chat: i64, press_id: &str, data: &str) -> String {
    let mut update = payload("telegram/update_callback_query");
    update["update_id"] = update_id.into();
    update["callback_query"]["id"] = press_id.into();
    update["callback_query"]["from"]["id"] = chat.into();
    update["callback_query"]["data"] = data.into();
    update.to_string()
}

/// A WhatsApp text message `text` from `from` (named `Person <from>`), with message id `message_id`.
pub fn whatsapp_text(from: &str, message_id: &str, text: &str) -> String {
    let mut payload = payload("whatsapp/webhook_inbound_text");
    let value = &mut payload["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["wa_id"] = from.into();
    value["contacts"][0]["profile"]["name"] = format!("Person {from}").into();
    let message = &mut value["messages"][0];
    message["from"] = from.into();
    message["id"] = message_id.into();
    message["timestamp"] = unix_now_secs().to_string().into();
    message["text"]["body"] = text.into();
    payload.to_string()
}

/// One WhatsApp notification carrying a status per `(message id, status)`, in the fixture's shape.
pub fn whatsapp_statuses(items: &[(&str, &str)]) -> String {
    let mut notification = payload("whatsapp/webhook_status_delivered");
    let template = notification["entry"][0]["changes"][0]["value"]["statuses"][0].clone();
    let statuses: Vec<Value> = items
        .iter()
        .map(|(id, status)| {
            let mut item = template.clone();
            item["id"] = (*id).into();
            item["status"] = (*status).into();
            item["timestamp"] = unix_now_secs().to_string().into();
            item
        })
        .collect();
    notification["entry"][0]["changes"][0]["value"]["statuses"] = Value::Array(statuses);
    notification.to_string()
}
