//! A stand-in for the messengers' APIs on your own machine, to try Spinpost without bot tokens: point
//! `telegram_api_url` (or `whatsapp_api_url`, `viber_api_url`, `messenger_api_url`) at it and every
//! message a campaign sends is answered as the platform would and printed here, one line each.
//!
//! `cargo run -p spinpost-tests --bin fake-platform -- [--listen 127.0.0.1:3100]`

use spinpost_tests::{FakePlatform, Recorded};

const DEFAULT_LISTEN: &str = "127.0.0.1:3100";
const USAGE: &str = "usage: fake-platform [--listen <address:port>]";

fn listen_address() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = DEFAULT_LISTEN.to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or(USAGE)?,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    Ok(listen)
}

/// One line for a request: the API method, the recipient and the text (or caption) it carried.
fn describe(request: &Recorded) -> String {
    let json = &request.json;
    let recipient = ["/chat_id", "/to", "/receiver", "/recipient/id"]
        .iter()
        .find_map(|pointer| json.pointer(pointer))
        .map(|value| value.to_string().trim_matches('"').to_owned())
        .unwrap_or_else(|| "-".to_owned());
    let text = ["/text", "/caption", "/text/body", "/message/text"]
        .iter()
        .find_map(|pointer| json.pointer(pointer).and_then(|v| v.as_str()))
        .unwrap_or("");
    format!(
        "{} {} to {recipient}: {text} -> {}",
        request.method,
        request.api_method(),
        request.reply.0
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let listen = match listen_address() {
        Ok(listen) => listen,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    let fake = match FakePlatform::start_on(&listen).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("fake-platform: cannot listen on {listen}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!(
        "fake-platform: answering as Telegram, WhatsApp, Viber and Messenger on {}",
        fake.url()
    );
    let mut printed = 0;
    loop {
        let recorded = fake.recorded();
        for request in &recorded[printed..] {
            println!("fake-platform: {}", describe(request));
        }
        printed = recorded.len();
        // Printed as each request arrives, before it is answered: a script that stops the fake right
        // after Spinpost reports a send has seen that send printed.
        fake.request_received().await;
    }
}
