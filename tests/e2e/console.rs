//! The web console in a real browser: `tests/browser/console.test.mjs` drives Debian's headless
//! Chromium through login, a template and its preview, a WhatsApp campaign to 100% and its open rate
//! after receipts, with axe-core on every view. This test starts the app (with the scheduler ticking)
//! and runs the script with `node`.
//!
//! Without node, Chromium or `npm ci` in `tests/browser` the test says so and passes, unless
//! `SPINPOST_REQUIRE_BROWSER=1` (CI), where that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use spinpost_tests::app::{workspace_root, WHATSAPP_APP_SECRET, WHATSAPP_PHONE_NUMBER_ID};
use spinpost_tests::{TestApp, ADMIN_TOKEN, TICK_TOKEN};

const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// What the browser test needs, or why it cannot run here.
struct BrowserTools {
    node: PathBuf,
    chromium: PathBuf,
    script_dir: PathBuf,
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

fn browser_tools() -> Result<BrowserTools, String> {
    let node = on_path("node").ok_or("node is not installed (apt-get install nodejs npm)")?;
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROMIUM));
    if !chromium.is_file() {
        return Err(format!(
            "{} is missing (apt-get install chromium)",
            chromium.display()
        ));
    }
    let script_dir = workspace_root().join("tests/browser");
    if !script_dir.join("node_modules/puppeteer-core").is_dir() {
        return Err("tests/browser has no node_modules (run npm ci there)".to_owned());
    }
    Ok(BrowserTools {
        node,
        chromium,
        script_dir,
    })
}

/// The tools, or `None` after saying why the test is skipped; a failure when CI requires the browser.
fn require_or_skip() -> Option<BrowserTools> {
    match browser_tools() {
        Ok(tools) => Some(tools),
        Err(missing) if std::env::var("SPINPOST_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("SPINPOST_REQUIRE_BROWSER=1 but {missing}")
        }
        Err(missing) => {
            eprintln!("skipping the console browser test: {missing}");
            None
        }
    }
}

/// Call the scheduler route every `every` until the returned task is aborted, as `--tick-every` does.
fn keep_ticking(base_url: String, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        loop {
            // A failed tick is retried by the next one, like the host's own ticker.
            let _ = client
                .post(format!("{base_url}/dispatch/tick"))
                .bearer_auth(TICK_TOKEN)
                .send()
                .await;
            tokio::time::sleep(every).await;
        }
    })
}

fn run_script(tools: &BrowserTools, base_url: &str, artifacts: &Path) -> std::process::Output {
    Command::new(&tools.node)
        .arg("console.test.mjs")
        .current_dir(&tools.script_dir)
        .env("SPINPOST_URL", base_url)
        .env("SPINPOST_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SPINPOST_WHATSAPP_APP_SECRET", WHATSAPP_APP_SECRET)
        .env(
            "SPINPOST_WHATSAPP_PHONE_NUMBER_ID",
            WHATSAPP_PHONE_NUMBER_ID,
        )
        .env("CHROMIUM", &tools.chromium)
        .env("ARTIFACTS_DIR", artifacts)
        .output()
        .expect("run node")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_runs_a_campaign_in_a_headless_browser_without_accessibility_faults() {
    let Some(tools) = require_or_skip() else {
        return;
    };
    // A slow number, so the page sees the campaign between 0 and 100%.
    let app = TestApp::start_with(|variables| {
        variables.insert("whatsapp_rate_per_second".into(), "4".into());
    })
    .await;
    let ticker = keep_ticking(app.base_url.clone(), Duration::from_millis(500));
    let artifacts = tools.script_dir.join("artifacts");
    let base_url = app.base_url.clone();
    let (output, artifacts) = tokio::task::spawn_blocking(move || {
        let output = run_script(&tools, &base_url, &artifacts);
        (output, artifacts)
    })
    .await
    .expect("the browser script's thread");
    ticker.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser test failed ({}), screenshots in {}:\n{stdout}\n{stderr}",
        output.status,
        artifacts.display()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_serves_the_console_with_its_policy_and_keeps_the_data_behind_the_token() {
    let app = TestApp::start().await;
    for (path, content_type) in [
        ("/console", "text/html; charset=utf-8"),
        ("/console/", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
    ] {
        let response = app
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("the console answers");
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("content-type"), content_type, "{path}");
        assert!(
            header("content-security-policy").starts_with("default-src 'self'"),
            "{path}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
    }
    let (status, body) =
        spinpost_tests::app::send(app.request(reqwest::Method::GET, "/console/missing.js")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) =
        spinpost_tests::app::send(app.request(reqwest::Method::GET, "/api/v1/campaigns")).await;
    assert_eq!(status, 401, "the console's data needs the admin token");
}
