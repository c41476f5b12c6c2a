//! Shared test helpers: fixtures, a router, and a real server on a free loopback port.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use switchboard::{Config, Switchboard, http};
use tokio::sync::oneshot;
use tower::ServiceExt;

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
