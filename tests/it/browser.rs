//! The live call monitor in a real browser: headless Chromium, driven over W3C WebDriver by ChromeDriver
//! (Debian's `chromium` and `chromium-driver`, which `scripts/test` installs), opens `/monitor`, a bundled call
//! is played with `simulate`, and its transcript, a tool call and an endpointing decision appear on the page
//! without a reload.
//!
//! WebDriver is plain JSON over HTTP, so the client is a few requests with `reqwest` (already a dependency)
//! rather than a WebDriver or DevTools crate: nothing new to build, and the protocol is a W3C standard that
//! ChromeDriver follows. Without Chromium the test says so loudly and passes, unless `CI` is set: in CI it must
//! run, so it fails.
//!
//! `MONITOR_SCREENSHOT=docs/monitor.png` saves a screenshot of the page at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use switchboard::Config;
use switchboard::simulate::{self, Plan};

use crate::support::TestServer;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A ChromeDriver process and one browser session, both ended when dropped.
struct Browser {
    driver: Child,
    client: reqwest::Client,
    session: String,
    base: String,
    profile: PathBuf,
}

impl Browser {
    /// Starts ChromeDriver on a free port and a headless Chromium session with an empty profile.
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ready = client.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver not ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("switchboard-monitor-chromium-{port}"));
        // The flags keep Chromium from reaching out to the network (updates, sync, field trials), which this
        // machine's closed network refuses, and let it run as root in a container.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1440,900",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let response: Value = client
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {response}"))
            .to_string();
        Browser {
            driver,
            client,
            session,
            base,
            profile,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.client.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(answer["value"].get("error").is_none(), "webdriver {path}: {answer}");
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Runs `script` (a function body) in the page and gives its return value.
    async fn run(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Polls `script` until `done` accepts its value, for at most 20 seconds.
    /// Opens `server`'s monitor with the token in the URL and waits until its event stream is live.
    async fn open_monitor(&self, server: &TestServer) {
        self.open(&server.url(&format!("/monitor?token={}", server.admin_token)))
            .await;
        self.wait_for("return document.getElementById('connection').textContent;", |v| {
            v == "live"
        })
        .await;
    }

    /// Waits until the calls table has a row naming `call` that also shows `text`.
    async fn wait_for_listed(&self, call: &str, text: &str) {
        self.wait_for(
            "return [...document.querySelectorAll('#calls tbody tr')].map(tr => tr.textContent);",
            |rows| {
                rows.as_array().unwrap().iter().any(|row| {
                    let row = row.as_str().unwrap();
                    row.contains(call) && row.contains(text)
                })
            },
        )
        .await;
    }

    async fn wait_for(&self, script: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let value = self.run(script).await;
            if done(&value) {
                return value;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the page never showed it; last: {value}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn screenshot(&self, path: &Path) {
        let png = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Deleting the session quits the browser (killing ChromeDriver alone would leave Chromium running).
        // Drop cannot await, so the request is written on a plain socket and its answer awaited there.
        let address = self.base.trim_start_matches("http://").to_string();
        if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
            use std::io::{Read, Write};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n",
                self.session
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Whether the browser is here; without it, skips loudly outside CI and fails in CI.
fn browser_present() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        let message = format!(
            "SKIPPED the browser test: {CHROMIUM} or {CHROMEDRIVER} is missing \
             (apt-get install chromium chromium-driver, or run scripts/test)"
        );
        assert!(std::env::var_os("CI").is_none(), "{message}; CI is set, so it must run");
        eprintln!("\n!!! {message} !!!\n");
    }
    present
}

fn path_of(call_file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/calls")
        .join(call_file)
}

/// The timeline's rows: `[kind, text]`, and whether the page was reloaded since `window.stayed` was set.
const ROWS: &str = "return {
    stayed: window.stayed === true,
    title: document.getElementById('call-title').textContent,
    rows: [...document.querySelectorAll('#timeline li')].map(li => [li.dataset.kind, li.textContent]),
};";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_shows_a_simulated_call_live_in_a_real_browser() {
    if !browser_present() {
        return;
    }
    let server = TestServer::start(Config::default()).await;
    let browser = Browser::start().await;
    browser.open_monitor(&server).await;
    // The token left the address bar for the cookie.
    let location = browser.run("return location.href;").await;
    assert_eq!(location, json!(server.url("/monitor")));
    browser.run("window.stayed = true; return null;").await;

    let file = simulate::load(&path_of("booking.jsonl")).unwrap();
    let plan = Plan {
        calls: 1,
        concurrency: 1,
        rate: Some(40.0),
        ..Plan::default()
    };
    let report = simulate::simulate(&file, &server.url("/webhook"), &plan).await.unwrap();
    assert!(report.ok(), "{report}");

    let call = simulate::simulated_id(&file.call_ids[0], 0);
    let seen = browser
        .wait_for(ROWS, |page| {
            let rows = page["rows"].as_array().unwrap();
            let has = |kind: &str, text: &str| {
                rows.iter()
                    .any(|r| r[0] == kind && r[1].as_str().unwrap().contains(text))
            };
            has("transcript", "zero one four two")
                && has("tool", "recall(")
                && has("endpointing", "wait ")
                && has("status", "ended")
        })
        .await;
    assert_eq!(seen["stayed"], true, "the page was reloaded");
    assert_eq!(seen["title"], json!(call));
    // Partials were replaced by their finals: no partial of a finished utterance is left.
    let rows = seen["rows"].as_array().unwrap();
    let transcripts: Vec<&str> = rows
        .iter()
        .filter(|r| r[0] == "transcript")
        .map(|r| r[1].as_str().unwrap())
        .collect();
    assert!(
        !transcripts.iter().any(|t| t.ends_with("Four one five")),
        "{transcripts:?}"
    );
    // The call is listed with its customer.
    let customer = "+14155550142";
    browser.wait_for_listed(&call, customer).await;
    // The call's context is one click away.
    browser
        .run("document.getElementById('context-button').click(); return null;")
        .await;
    let context = browser
        .wait_for("return document.getElementById('context').textContent;", |v| {
            v.as_str().is_some_and(|t| t.contains("\"conversation\""))
        })
        .await;
    assert!(context.as_str().unwrap().contains(&call));
    browser
        .run("document.getElementById('context-button').click(); return null;")
        .await;
    if let Some(path) = std::env::var_os("MONITOR_SCREENSHOT") {
        // A fuller picture: two more calls listed, the first call's timeline from its first tool call.
        for name in ["support.jsonl", "knowledge.jsonl"] {
            let other = simulate::load(&path_of(name)).unwrap();
            simulate::simulate(&other, &server.url("/webhook"), &plan)
                .await
                .unwrap();
        }
        browser
            .run("document.querySelector('#timeline li[data-kind=endpointing]').scrollIntoView(); return null;")
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        browser.screenshot(Path::new(&path)).await;
    }
    // The call ended and its actor retired: a fresh page lists it from `/calls`' recently ended calls.
    browser.open(&server.url("/monitor")).await;
    browser.wait_for_listed(&call, "ended").await;
    drop(browser);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_texts_are_shown_as_text_and_a_hostile_role_hides_nothing() {
    if !browser_present() {
        return;
    }
    let server = TestServer::start(Config::default()).await;
    let browser = Browser::start().await;
    browser.open_monitor(&server).await;
    let script = r#"<script>window.pwned = 1</script>"><img src=x onerror="window.pwned = 2">"#;
    let said = |at: i64, role: &str, text: &str| {
        crate::support::message(
            "call-hostile",
            "transcript",
            at,
            json!({"role": role, "transcriptType": "final", "transcript": text}),
        )
    };
    for body in [
        said(1, "user", script),
        // A role no class name can hold: the page must go on showing the call.
        said(2, "user assistant", "after a hostile role"),
        crate::support::tool_calls(
            "call-hostile",
            3,
            &[("tc-1", "<img src=x onerror=window.pwned=3>", json!({"q": script}))],
        ),
        said(4, "assistant", "the last words"),
    ] {
        let (status, answer) = server.post_json("/webhook", &body).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
    }
    let seen = browser
        .wait_for(ROWS, |page| {
            let rows = page["rows"].as_array().unwrap();
            rows.iter().any(|r| r[1].as_str().unwrap().contains("the last words"))
        })
        .await;
    let texts: Vec<&str> = seen["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_str().unwrap())
        .collect();
    assert!(texts.iter().any(|t| t.contains(script)), "shown as text: {texts:?}");
    assert!(texts.iter().any(|t| t.contains("after a hostile role")), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("<img src=x onerror=window.pwned=3>(")),
        "{texts:?}"
    );
    let injected = browser
        .run("return [window.pwned === undefined, document.querySelectorAll('#timeline img, #timeline script, #calls img').length];")
        .await;
    assert_eq!(injected, json!([true, 0]));
    drop(browser);
    server.stop().await;
}
