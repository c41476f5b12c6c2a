//! Shared test helpers: fixtures, a router, and a real server on a free loopback port.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use switchboard::{Config, Switchboard, http};
use tokio::sync::oneshot;
use tower::ServiceExt;

/// A generous bound for "the server gives up on this client" or "the process exits": far above every timeout
/// the tests configure, far below the timeouts the server would otherwise wait for (or forever).
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// The fixtures directory (copied from the shared reference material, each keeping its `_source`).
pub(crate) fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vapi")
}

/// A fixture's wire body: the file without its `_source` key.
pub(crate) fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut value: Value = serde_json::from_str(&text).unwrap();
    value.as_object_mut().unwrap().remove("_source");
    value
}

/// Every message fixture's file name.
pub(crate) fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// The router over a server built from `config`.
pub(crate) async fn router(config: Config) -> Router {
    http::app(Switchboard::start(config).await.unwrap())
}

/// Sends one request through a router without a socket.
pub(crate) async fn oneshot(router: Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("non-JSON body with {status}: {}", String::from_utf8_lossy(&bytes)));
    (status, value)
}

/// A `POST` of `body` to `uri` with JSON content type.
pub(crate) fn post(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

/// A real server on a free loopback port, stopped when dropped.
pub(crate) struct TestServer {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// A client for it.
    pub(crate) client: reqwest::Client,
    /// The admin API's token (configured, or generated at start).
    pub(crate) admin_token: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server from `config` on `127.0.0.1:0`.
    pub(crate) async fn start(config: Config) -> TestServer {
        TestServer::start_with(config, switchboard::tools::ToolRegistry::new()).await
    }

    /// Starts a server from `config` with Rust tools on `127.0.0.1:0`.
    pub(crate) async fn start_with(config: Config, tools: switchboard::tools::ToolRegistry) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let limits = config.http.clone();
        let switchboard = Switchboard::start_with(config, tools).await.unwrap();
        let admin_token = switchboard.admin_token().value().to_string();
        let monitor = switchboard.monitor().clone();
        let app = http::app(switchboard.clone());
        let task = tokio::spawn(async move {
            http::serve_with(listener, app, &limits, async move {
                let _ = stopped.await;
                monitor.close();
            })
            .await
            .unwrap();
            // As `switchboard serve` does after its server stops.
            switchboard.shutdown().await;
        });
        TestServer {
            addr,
            client: reqwest::Client::new(),
            admin_token,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The URL of `path` on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a JSON body to `path`, returning the status and the JSON answer.
    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self.client.post(self.url(path)).json(body).send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.unwrap())
    }

    /// GETs `path` with the admin token, returning the status and the JSON answer.
    pub(crate) async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let response = self.admin(self.client.get(self.url(path))).send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.unwrap())
    }

    /// `GET /metrics` with the admin token: the Prometheus text.
    pub(crate) async fn metrics(&self) -> String {
        self.admin(self.client.get(self.url("/metrics")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of one series in `/metrics` (`name` or `name{labels}`, as the text writes it); 0 when absent.
    pub(crate) async fn metric(&self, series: &str) -> u64 {
        let text = self.metrics().await;
        let prefix = format!("{series} ");
        text.lines()
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .map_or(0, |value| value.trim().parse().unwrap())
    }

    /// `request` with the admin token.
    pub(crate) fn admin(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(&self.admin_token)
    }

    /// Stops the server gracefully and waits for it.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A webhook body `{"message": {"type": kind, "call": {"id": call_id}, "timestamp": at, ...fields}}`.
pub(crate) fn message(call_id: &str, kind: &str, at: i64, fields: Value) -> Value {
    let mut message = serde_json::json!({
        "type": kind,
        "timestamp": at,
        "call": {"id": call_id, "orgId": "org-1"},
        "customer": {"number": "+14155550123", "name": "Jordan"},
        "phoneNumber": {"id": "pn-1", "number": "+14155559999"},
    });
    if let (Some(target), Value::Object(fields)) = (message.as_object_mut(), fields) {
        target.extend(fields);
    }
    serde_json::json!({ "message": message })
}

/// A `tool-calls` body with the given `(id, name, arguments)` calls.
pub(crate) fn tool_calls(call_id: &str, at: i64, calls: &[(&str, &str, Value)]) -> Value {
    let list: Vec<Value> = calls
        .iter()
        .map(|(id, name, arguments)| serde_json::json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}))
        .collect();
    message(
        call_id,
        "tool-calls",
        at,
        serde_json::json!({"toolCallList": list, "toolWithToolCallList": []}),
    )
}

/// A final `transcript` body: `role` said `text` at `at`.
pub(crate) fn transcript(call_id: &str, at: i64, role: &str, text: &str) -> Value {
    message(
        call_id,
        "transcript",
        at,
        serde_json::json!({"role": role, "transcriptType": "final", "transcript": text}),
    )
}

/// The `result` of the `index`th answer to a `tool-calls` body, parsed as JSON.
pub(crate) fn tool_result(answer: &Value, index: usize) -> Value {
    let result = answer["results"][index]["result"]
        .as_str()
        .unwrap_or_else(|| panic!("no result {index}: {answer}"));
    serde_json::from_str(result).unwrap_or_else(|_| panic!("result {index} is not JSON: {result}"))
}

/// Asks `check` every 10 ms until it answers `Some`, for at most `deadline`; `None` when the deadline passes
/// first. For conditions that become true in the background: the test waits for the condition itself, never
/// for a guessed time.
pub(crate) async fn eventually<T>(deadline: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + deadline;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A `switchboard` process serving on a free loopback port, killed when dropped.
pub(crate) struct Binary {
    pub(crate) child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Its stderr lines, read by a thread so the process never blocks on a full pipe.
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Binary {
    /// Starts `switchboard <args> --config <toml> --listen 127.0.0.1:<free>` and waits (bounded) until it listens.
    pub(crate) fn start(args: &[&str], toml: &str) -> Binary {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let config = std::env::temp_dir().join(format!("switchboard-test-{}-{port}.toml", std::process::id()));
        std::fs::write(&config, toml).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .args(["--listen", &addr.to_string()])
            .env_remove("SWITCHBOARD_ADMIN_TOKEN")
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pipe = BufReader::new(child.stderr.take().unwrap());
        let (lines, stderr) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in pipe.lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let binary = Binary { child, addr, stderr };
        for _ in 0..1000 {
            if std::net::TcpStream::connect(addr).is_ok() {
                std::fs::remove_file(&config).ok();
                return binary;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("`switchboard {}` did not listen on {addr}", args.join(" "));
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The stderr lines not read yet, to the end of the stream (the process exits within `PATIENCE`).
    pub(crate) fn stderr_to_end(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.stderr.recv_timeout(PATIENCE) {
            lines.push(line);
        }
        lines
    }

    /// The stderr lines up to and including the first containing `needle`.
    pub(crate) fn stderr_until(&mut self, needle: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self
                .stderr
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("no `{needle}` on stderr: {lines:?}"));
            let found = line.contains(needle);
            lines.push(line);
            if found {
                return lines;
            }
        }
    }

    /// The process's peak resident memory in KiB (`VmHWM` of `/proc/<pid>/status`).
    pub(crate) fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Sends SIGTERM and waits (bounded by `PATIENCE`) for the exit status.
    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("still running {PATIENCE:?} after SIGTERM");
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
