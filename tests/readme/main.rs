//! README.md's commands, run as written, from bash, against the real components in the host:
//! - the tour ("Try it"): its shell blocks in order, from the repository's root;
//! - the API examples ("Use it", without the "Connecting ..." parts that need real platform
//!   accounts): in order, against a host and stand-in started as the tour starts them, with the
//!   `subscribers.jsonl` the section shows.
//!
//! Each `curl` fails the run on an HTTP error (the README's own commands are kept verbatim; only
//! `curl` is wrapped), and what each part promises is checked in what it printed.
//!
//! The tour's two `cargo run` commands start the binaries this very `cargo test` built: run by cargo
//! inside a test they would resolve the workspace's features for one package and rebuild Wasmtime
//! with them (minutes), to the same programs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TOUR_HEADING: &str = "## Try it";
const EXAMPLES_HEADING: &str = "## Use it";
/// Subsections of "Use it" that talk to the real platforms (webhook registration with a bot token).
const NEEDS_A_PLATFORM_ACCOUNT: &str = "### Connecting";
/// Each part builds the components if needed and makes a few dozen requests; far less than this.
const PART_TIMEOUT: Duration = Duration::from_secs(900);

/// What runs before each part: stop at the first failing command, treat HTTP errors as failures,
/// stop the background servers however it ends, and start the tour's two programs from the binaries
/// already built (`exec`: the tour starts both in the background, and `kill %1 %2` must reach them).
const PRELUDE: &str = r#"set -euo pipefail
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
curl() { command curl --fail-with-body --silent --show-error --max-time 60 "$@"; }
cargo() {
  case "$*" in
    "run -q -p spinpost-tests --bin fake-platform -- "*) shift 7; exec "$FAKE_PLATFORM_BIN" "$@" ;;
    "run -q -p spinpost-host -- "*) if [ -x "$HOST_BIN" ]; then shift 5; exec "$HOST_BIN" "$@"; fi ;;
  esac
  command cargo "$@"
}
"#;

/// The API examples expect what the tour starts: the stand-in, and the host with the bot "shop" and
/// the admin token `change-me`, on a fresh store.
const EXAMPLES_SETUP: &str = r#"
cargo run -q -p spinpost-tests --bin fake-platform -- --listen 127.0.0.1:3100 &
export SPIN_VARIABLE_ADMIN_TOKEN=change-me SPIN_VARIABLE_TICK_TOKEN=change-me-too
export SPIN_VARIABLE_TELEGRAM_API_URL=http://127.0.0.1:3100
export SPIN_VARIABLE_TELEGRAM_BOTS='{"shop": {"token": "123456:demo", "webhook_secret": "demo-secret", "username": "ShopDemoBot"}}'
export SPIN_VARIABLE_LINK_SIGNING_KEY=change-me-three
cargo run -q -p spinpost-host -- --build --tick-every 1 --state-dir "$(mktemp -d)" &
until curl -s localhost:3000/health; do sleep 1; done
"#;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The host binary `cargo test --workspace` builds next to this package's binaries; when only this
/// package was built it is missing, and the `cargo run` of the README builds it.
fn host_binary() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_fake-platform"))
        .with_file_name(format!("spinpost-host{}", std::env::consts::EXE_SUFFIX))
}

/// The text of the section that starts with `heading`, up to the next `## ` heading.
fn section<'a>(markdown: &'a str, heading: &str) -> &'a str {
    let start = markdown
        .find(heading)
        .unwrap_or_else(|| panic!("README has no '{heading}' section"));
    let section = &markdown[start + heading.len()..];
    section.find("\n## ").map_or(section, |end| &section[..end])
}

/// The section without its `### ` subsections whose heading starts with `skipped`.
fn without_subsections(section: &str, skipped: &str) -> String {
    let mut kept = String::new();
    for (i, part) in section.split("\n### ").enumerate() {
        if i == 0 {
            kept.push_str(part);
        } else if !format!("### {part}").starts_with(skipped) {
            kept.push_str("\n### ");
            kept.push_str(part);
        }
    }
    kept
}

/// The bodies of the ```` ```lang ```` blocks of `text`, in order.
fn code_blocks(text: &str, lang: &str) -> Vec<String> {
    let open_fence = format!("```{lang}\n");
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(&open_fence) {
        let body = &rest[open + open_fence.len()..];
        let close = body.find("\n```").expect("a code block is closed");
        blocks.push(body[..close].to_owned());
        rest = &body[close + "\n```".len()..];
    }
    blocks
}

/// The parts listen on the README's fixed ports, so they run one at a time.
static FIXED_PORTS: Mutex<()> = Mutex::new(());

/// Runs `script` after the prelude in bash from `dir`; its exit status and everything it printed.
fn run_part(name: &str, script: &str, dir: &Path) -> (std::process::ExitStatus, String) {
    let _ports = FIXED_PORTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let output_path =
        std::env::temp_dir().join(format!("spinpost-readme-{name}-{}.log", std::process::id()));
    let output = std::fs::File::create(&output_path).expect("create the part's log");
    let mut bash = Command::new("bash")
        .arg("-c")
        .arg(format!("{PRELUDE}{script}\n"))
        .current_dir(dir)
        .env("FAKE_PLATFORM_BIN", env!("CARGO_BIN_EXE_fake-platform"))
        .env("HOST_BIN", host_binary())
        .stdin(Stdio::null())
        .stdout(output.try_clone().expect("clone log handle"))
        .stderr(output)
        .spawn()
        .expect("start bash");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = bash.try_wait().expect("wait for bash") {
            break status;
        }
        if started.elapsed() > PART_TIMEOUT {
            let _ = bash.kill();
            panic!(
                "README {name} did not finish in {PART_TIMEOUT:?}; its output: {}",
                output_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut printed = String::new();
    std::fs::File::open(&output_path)
        .and_then(|mut log| log.read_to_string(&mut printed))
        .expect("read the part's log");
    let _ = std::fs::remove_file(&output_path);
    (status, printed)
}

fn assert_printed(part: &str, printed: &str, promised: &[&str]) {
    for expected in promised {
        assert!(
            printed.contains(expected),
            "README {part}: the output lacks {expected:?}:\n{printed}"
        );
    }
}

#[test]
fn the_tour_runs_as_written() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("read README.md");
    let blocks = code_blocks(section(&readme, TOUR_HEADING), "sh");
    assert!(
        blocks.len() >= 3,
        "the tour has its shell blocks: {blocks:?}"
    );
    let (status, printed) = run_part("tour", &blocks.join("\n"), &root);
    assert!(status.success(), "the tour failed ({status}):\n{printed}");
    assert_printed(
        "tour",
        &printed,
        &[
            // The preview, with the campaign variable the README passes.
            "Hi Ada! Your code: SNOW-26",
            // The stand-in received both personal messages.
            "sendMessage to 1111111: Hi Ada! Your code: SNOW-26",
            "sendMessage to 2222222: Hi Grace! Your code: SNOW-26",
            // Progress: both sent, the campaign completed.
            r#""state":"completed""#,
            r#""sent":2"#,
            // Ada's reply counts for the campaign.
            r#""replies":1"#,
            "Thanks, see you soon!",
        ],
    );
}

#[test]
fn the_api_examples_run_as_written() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("read README.md");
    let examples =
        without_subsections(section(&readme, EXAMPLES_HEADING), NEEDS_A_PLATFORM_ACCOUNT);
    let blocks = code_blocks(&examples, "sh");
    assert!(
        blocks.len() >= 4,
        "the examples have their shell blocks: {blocks:?}"
    );
    let subscribers = code_blocks(&examples, "json")
        .into_iter()
        .find(|block| block.contains(r#""consent""#))
        .expect("the section shows subscribers.jsonl");

    // The commands read `subscribers.jsonl` from the current directory, as a user's would.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("subscribers.jsonl"),
        format!("{subscribers}\n"),
    )
    .expect("write subscribers.jsonl");
    let script = format!(
        "cd {root:?}\n{EXAMPLES_SETUP}cd {dir:?}\n{}",
        blocks.join("\n"),
        dir = dir.path()
    );
    let (status, printed) = run_part("examples", &script, dir.path());
    assert!(
        status.success(),
        "the API examples failed ({status}):\n{printed}"
    );
    assert_printed(
        "examples",
        &printed,
        &[
            r#""created":2"#,
            // The preview for the stored subscriber, with the campaign variable.
            "Hi <b>Ada</b>! Your code: SNOW-26",
            r#""state":"paused""#,
            r#""deleted":"winter-26""#,
            r#""campaign_id":"winter-26""#,
            // The customer found through the link's `/start <code>`.
            r#""external_id":"cus_2002""#,
            // The shipped order's message went out for the rule; the reminder was cancelled.
            r#""campaign_id":"r--order-shipped""#,
            r#""sent":1"#,
            r#""result":"cancelled","cancelled":1"#,
            // The welcome on "/start" and the keyword's answer went out.
            "sendMessage to 3333333: Welcome, Linus! Ask me about our opening hours.",
            "sendMessage to 3333333: We are open 9:00-18:00, Monday to Saturday.",
        ],
    );
}

#[test]
fn code_blocks_are_read_in_order_from_one_section() {
    let markdown = "# T\n## Try it\ntext\n```sh\na\nb\n```\n```json\n{}\n```\n```sh\nc\n```\n## Next\n```sh\nd\n```\n";
    let tour = section(markdown, "## Try it");
    assert_eq!(code_blocks(tour, "sh"), vec!["a\nb", "c"]);
    assert_eq!(code_blocks(tour, "json"), vec!["{}"]);
}

#[test]
fn subsections_that_need_a_platform_account_are_left_out() {
    let text =
        "intro\n```sh\na\n```\n### Connecting X\n```sh\nb\n```\n### Templates\n```sh\nc\n```\n";
    let kept = without_subsections(text, "### Connecting");
    assert_eq!(code_blocks(&kept, "sh"), vec!["a", "c"]);
}
