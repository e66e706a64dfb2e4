//! README.md's tour ("Try it"), run as written: its shell blocks, in order, in one bash, from the
//! repository's root. Each `curl` fails the run on an HTTP error (the README's own commands are kept
//! verbatim; only `curl` is wrapped), and the figures the tour promises are checked in what it printed.
//!
//! The tour's two `cargo run` commands start the binaries this very `cargo test` built: run by cargo
//! inside a test they would resolve the workspace's features for one package and rebuild Wasmtime
//! with them (minutes), to the same programs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOUR_HEADING: &str = "## Try it";
/// The tour builds the components if needed and sends two messages; far less than this.
const TOUR_TIMEOUT: Duration = Duration::from_secs(900);

/// What runs before the tour: stop at the first failing command, treat HTTP errors as failures, stop
/// the tour's background servers however it ends, and start the tour's two programs from the binaries
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

/// The host binary `cargo test --workspace` builds next to this package's binaries; when only this
/// package was built it is missing, and the tour's own `cargo run` builds it.
fn host_binary() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_fake-platform"))
        .with_file_name(format!("spinpost-host{}", std::env::consts::EXE_SUFFIX))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The bodies of the ```sh blocks in the section that starts with `heading`, in order.
fn shell_blocks(markdown: &str, heading: &str) -> Vec<String> {
    let start = markdown
        .find(heading)
        .unwrap_or_else(|| panic!("README has no '{heading}' section"));
    let section = &markdown[start + heading.len()..];
    let section = section.find("\n## ").map_or(section, |end| &section[..end]);
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + "```sh\n".len()..];
        let close = body.find("\n```").expect("a ```sh block is closed");
        blocks.push(body[..close].to_owned());
        rest = &body[close + "\n```".len()..];
    }
    blocks
}

#[test]
fn the_tour_runs_as_written() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("read README.md");
    let blocks = shell_blocks(&readme, TOUR_HEADING);
    assert!(
        blocks.len() >= 3,
        "the tour has its shell blocks: {blocks:?}"
    );
    let script = format!("{PRELUDE}{}\n", blocks.join("\n"));

    let output_path =
        std::env::temp_dir().join(format!("spinpost-readme-{}.log", std::process::id()));
    let output = std::fs::File::create(&output_path).expect("create the tour's log");
    let mut bash = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&root)
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
        if started.elapsed() > TOUR_TIMEOUT {
            let _ = bash.kill();
            panic!(
                "the tour did not finish in {TOUR_TIMEOUT:?}; its output: {}",
                output_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut printed = String::new();
    std::fs::File::open(&output_path)
        .and_then(|mut log| log.read_to_string(&mut printed))
        .expect("read the tour's log");
    assert!(status.success(), "the tour failed ({status}):\n{printed}");

    for promised in [
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
    ] {
        assert!(
            printed.contains(promised),
            "the tour's output lacks {promised:?}:\n{printed}"
        );
    }
    let _ = std::fs::remove_file(&output_path);
}

#[test]
fn shell_blocks_are_read_in_order_from_one_section() {
    let markdown = "# T\n## Try it\ntext\n```sh\na\nb\n```\n```json\n{}\n```\n```sh\nc\n```\n## Next\n```sh\nd\n```\n";
    assert_eq!(shell_blocks(markdown, "## Try it"), vec!["a\nb", "c"]);
}
