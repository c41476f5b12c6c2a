//! Tool calls run once however Vapi delivers them, and no tool outlives Vapi's wait: a counting HTTP backend
//! (a real server on `127.0.0.1:0`) hit by sequential, concurrent, cross-instance (real `redis-server`) and
//! legacy retries, by an instance killed mid-run, and by bodies and fan-outs that must stay bounded.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use switchboard::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::redis::redis_server::RedisServer;
use crate::support::{TestServer, message, tool_calls};

/// What the counting backend saw.
#[derive(Default)]
struct Seen {
    runs: AtomicUsize,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    keys: Mutex<Vec<String>>,
}

/// A tool backend that counts its invocations and answers `#n`, after `delay`.
pub(crate) struct Backend {
    addr: SocketAddr,
    seen: Arc<Seen>,
}

impl Backend {
    pub(crate) async fn start(delay: Duration) -> Backend {
        let seen = Arc::new(Seen::default());
        let handler = {
            let seen = Arc::clone(&seen);
            move |headers: HeaderMap| {
                let seen = Arc::clone(&seen);
                async move {
                    let run = seen.runs.fetch_add(1, Ordering::SeqCst) + 1;
                    if let Some(key) = headers.get("idempotency-key") {
                        seen.keys.lock().unwrap().push(key.to_str().unwrap().to_string());
                    }
                    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    seen.peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
                    axum::Json(json!({ "result": format!("#{run}") }))
                }
            }
        };
        let router = axum::Router::new().route("/tool", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Backend { addr, seen }
    }

    pub(crate) fn runs(&self) -> usize {
        self.seen.runs.load(Ordering::SeqCst)
    }

    fn keys(&self) -> Vec<String> {
        self.seen.keys.lock().unwrap().clone()
    }

    /// A config with the tool `book` served by this backend, under `[tools]` settings `tools`.
    fn toml(&self, tools: &str) -> String {
        format!(
            "[tools]\n{tools}\n[[tools.http]]\nname = \"book\"\nurl = \"http://{}/tool\"\n",
            self.addr
        )
    }

    pub(crate) fn config(&self, tools: &str) -> Config {
        Config::from_toml(&self.toml(tools)).unwrap()
    }
}

fn with_redis(mut config: Config, url: &str) -> Config {
    config.redis = Some(call_runtime::RedisConfig {
        response_timeout_ms: 500,
        ..call_runtime::RedisConfig::new(url)
    });
    config
}

pub(crate) fn booking(call: &str) -> Value {
    tool_calls(call, 10, &[("tc-book-1", "book", json!({"slot": "tuesday 10:00"}))])
}

#[tokio::test]
async fn a_tool_call_delivered_twice_runs_once() {
    let backend = Backend::start(Duration::ZERO).await;
    let server = TestServer::start(backend.config("")).await;
    let (status, first) = server.post_json("/webhook", &booking("call-seq")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["results"][0]["result"], "#1", "{first}");
    let (status, second) = server.post_json("/webhook", &booking("call-seq")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second, first, "the retry gets the recorded answer verbatim");
    assert_eq!(backend.runs(), 1);
    assert_eq!(
        backend.keys(),
        ["tc-book-1"],
        "the backend may dedup on the tool call id too"
    );
    // The same tool call id in another call is another tool call.
    let (_, other) = server.post_json("/webhook", &booking("call-other")).await;
    assert_eq!(other["results"][0]["result"], "#2");
    // Recorded once in the call's context.
    let (_, context) = server.get_json("/calls/call-seq").await;
    assert_eq!(context["toolCalls"].as_array().unwrap().len(), 1, "{context}");
    let text = server.metrics().await;
    assert!(
        text.contains("switchboard_tool_dedup_total{state=\"completed\"} 1"),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_during_the_run_waits_for_it() {
    let backend = Backend::start(Duration::from_millis(600)).await;
    let server = TestServer::start(backend.config("")).await;
    let body = booking("call-concurrent");
    let first = server.post_json("/webhook", &body);
    let retry = async {
        // Arrives while the first delivery's run is at the backend.
        tokio::time::sleep(Duration::from_millis(150)).await;
        server.post_json("/webhook", &body).await
    };
    let ((s1, a1), (s2, a2)) = tokio::join!(first, retry);
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(a1["results"][0]["result"], "#1", "{a1}");
    assert_eq!(a2, a1);
    assert_eq!(backend.runs(), 1);
    let text = server.metrics().await;
    assert!(
        text.contains("switchboard_tool_dedup_total{state=\"in_flight\"} 1"),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_redis_run_a_tool_call_once() {
    let redis = RedisServer::start();
    let backend = Backend::start(Duration::from_millis(600)).await;
    let a = TestServer::start(with_redis(backend.config(""), &redis.url())).await;
    let b = TestServer::start(with_redis(backend.config(""), &redis.url())).await;
    let body = booking("call-shared");
    let on_b = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        b.post_json("/webhook", &body).await
    };
    let ((s1, a1), (s2, a2)) = tokio::join!(a.post_json("/webhook", &body), on_b);
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(a1["results"][0]["result"], "#1", "{a1}");
    assert_eq!(a2, a1, "the other instance waited for the same run");
    // A later retry on a fresh instance finds the recorded answer.
    let c = TestServer::start(with_redis(backend.config(""), &redis.url())).await;
    let (_, a3) = c.post_json("/webhook", &body).await;
    assert_eq!(a3, a1);
    assert_eq!(backend.runs(), 1);
    assert!(
        b.metrics()
            .await
            .contains("switchboard_tool_dedup_total{state=\"in_flight\"} 1")
    );
    assert!(
        c.metrics()
            .await
            .contains("switchboard_tool_dedup_total{state=\"completed\"} 1")
    );
    for server in [a, b, c] {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_with_effects_is_not_run_while_redis_cannot_record_its_claim() {
    let mut redis = RedisServer::start();
    let backend = Backend::start(Duration::ZERO).await;
    let server = TestServer::start(with_redis(backend.config(""), &redis.url())).await;
    redis.kill();
    let body = tool_calls(
        "call-outage",
        1,
        &[("b1", "book", json!({})), ("s1", "summarize_call", json!({}))],
    );
    let (status, answer) = server.post_json("/webhook", &body).await;
    assert_eq!(status, StatusCode::OK);
    let refused = answer["results"][0]["error"].as_str().unwrap_or_default();
    assert!(refused.starts_with("tool `book` not run: "), "{answer}");
    assert_eq!(
        backend.runs(),
        0,
        "a booking that cannot be recorded could be made twice"
    );
    // A built-in tool (it reads the call, nothing outside) still answers from what this instance knows.
    assert!(answer["results"][1]["result"].is_string(), "{answer}");
    // Redis back: the retry runs the call, once.
    redis.restart();
    let mut result = Value::Null;
    for _ in 0..100 {
        let (_, answer) = server.post_json("/webhook", &body).await;
        result = answer["results"][0]["result"].clone();
        if result.is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(result, "#1");
    assert_eq!(backend.runs(), 1);
    server.stop().await;
}

#[tokio::test]
async fn an_async_tool_delivered_twice_is_acknowledged_alike_and_runs_once() {
    let backend = Backend::start(Duration::from_millis(200)).await;
    let config = Config::from_toml(&format!(
        "[[tools.http]]\nname = \"book\"\nurl = \"http://{}/tool\"\nasync = true\n",
        backend.addr
    ))
    .unwrap();
    let server = TestServer::start(config).await;
    let body = booking("call-async-once");
    let (_, first) = server.post_json("/webhook", &body).await;
    let (_, second) = server.post_json("/webhook", &body).await;
    assert_eq!(
        first["results"][0]["result"],
        "`book` started in the background; its result cannot reach this conversation, so do not wait for it. \
         It will be recorded with the call."
    );
    assert_eq!(second, first);
    let mut recorded = Value::Null;
    for _ in 0..300 {
        let (_, context) = server.get_json("/calls/call-async-once").await;
        recorded = context["toolCalls"][0]["result"].clone();
        if recorded == "#1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(recorded, "#1", "the background run's outcome is recorded");
    let (_, third) = server.post_json("/webhook", &body).await;
    assert_eq!(third, first, "the acknowledgement is the recorded answer");
    assert_eq!(backend.runs(), 1, "one background run");
    server.stop().await;
}

#[tokio::test]
async fn a_legacy_function_call_delivered_twice_runs_once() {
    let backend = Backend::start(Duration::ZERO).await;
    let server = TestServer::start(backend.config("")).await;
    let body = message(
        "call-legacy-once",
        "function-call",
        5,
        json!({"functionCall": {"name": "book", "parameters": {"slot": "friday"}}}),
    );
    let (_, first) = server.post_json("/webhook", &body).await;
    let (_, second) = server.post_json("/webhook", &body).await;
    assert_eq!(first, json!({"result": "#1"}));
    assert_eq!(second, first);
    assert_eq!(backend.runs(), 1);
    let keys = backend.keys();
    assert!(
        keys[0].starts_with("function-call-"),
        "the derived id is the key: {keys:?}"
    );
    // Another function call (other arguments) is another tool call.
    let other = message(
        "call-legacy-once",
        "function-call",
        6,
        json!({"functionCall": {"name": "book", "parameters": {"slot": "monday"}}}),
    );
    let (_, third) = server.post_json("/webhook", &other).await;
    assert_eq!(third, json!({"result": "#2"}));
    server.stop().await;
}

/// A `switchboard serve` process, killed (SIGKILL) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_whose_owner_died_lapses_and_a_later_retry_runs() {
    let redis = RedisServer::start();
    // The backend holds the first run for longer than the test lets its instance live.
    let backend = Backend::start(Duration::from_secs(30)).await;
    let tools = "deadline_ms = 400";
    let config = std::env::temp_dir().join(format!("switchboard-once-{}.toml", std::process::id()));
    std::fs::write(&config, backend.toml(tools)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let owner = Process(
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--listen", &listen, "--redis-url", &redis.url(), "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Ready before the owner dies, so its first retry comes well inside the claim.
    let survivor = TestServer::start(with_redis(backend.config(tools), &redis.url())).await;
    let mut listening = false;
    for _ in 0..500 {
        if std::net::TcpStream::connect(&listen).is_ok() {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(listening, "switchboard serve did not listen on {listen}");
    let body = booking("call-orphan");
    let delivery = {
        let (url, body) = (format!("http://{listen}/webhook"), body.clone());
        tokio::spawn(async move { reqwest::Client::new().post(url).json(&body).send().await })
    };
    for _ in 0..500 {
        if backend.runs() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(backend.runs(), 1, "the first delivery reached the backend");
    // The owner dies mid-run: its claim stays in Redis until it lapses.
    drop(owner);
    std::fs::remove_file(&config).ok();
    assert!(delivery.await.unwrap().is_err(), "the first delivery got no answer");
    let (_, early) = survivor.post_json("/webhook", &body).await;
    let error = early["results"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("still running for an earlier delivery"), "{early}");
    assert_eq!(backend.runs(), 1, "no second run while the claim holds");
    // Past the claim (deadline + margin), a retry runs the call.
    tokio::time::sleep(Duration::from_millis(400) + call_runtime::CLAIM_MARGIN).await;
    let (_, late) = survivor.post_json("/webhook", &body).await;
    assert_eq!(backend.runs(), 2, "{late}");
    // This backend holds every run past the deadline: the timeout is the recorded answer, and a retry gets it.
    assert_eq!(late["results"][0]["error"], "tool `book` did not answer within 400 ms");
    let (_, again) = survivor.post_json("/webhook", &body).await;
    assert_eq!(again, late);
    assert_eq!(backend.runs(), 2);
    assert_eq!(backend.keys(), ["tc-book-1", "tc-book-1"]);
    survivor.stop().await;
}

#[tokio::test]
async fn a_tool_past_the_deadline_is_cut_and_its_error_recorded() {
    let backend = Backend::start(Duration::from_secs(30)).await;
    let server = TestServer::start(backend.config("deadline_ms = 300")).await;
    let body = booking("call-slow");
    let (status, first) = tokio::time::timeout(Duration::from_secs(10), server.post_json("/webhook", &body))
        .await
        .expect("answered near the deadline, not after the backend");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["results"][0]["error"], "tool `book` did not answer within 300 ms");
    let (_, retry) = server.post_json("/webhook", &body).await;
    assert_eq!(retry, first, "the recorded error, not a second run");
    assert_eq!(backend.runs(), 1);
    server.stop().await;
}

#[test]
fn deadlines_vapi_cannot_wait_for_are_refused_at_start() {
    let cases = [
        (
            "[tools]\ndeadline_ms = 20000\n",
            "tools.deadline_ms must be within 1..20000",
        ),
        (
            "[tools]\ndeadline_ms = 2000\n[[tools.http]]\nname = \"t\"\nurl = \"http://127.0.0.1:9/t\"\ntimeout_ms = 2500\n",
            "tools.http[0].timeout_ms (2500) is above tools.deadline_ms (2000)",
        ),
        (
            "[[tools.http]]\nname = \"t\"\nurl = \"http://127.0.0.1:9/t\"\ntimeout_ms = 60000\n",
            "tools.http[0]: `timeout_ms` must be within 1..20000, got 60000",
        ),
        (
            "[tools]\nmax_concurrent_per_message = 0\n",
            "tools.max_concurrent_per_message must be within 1..=100000",
        ),
    ];
    for (toml, expected) in cases {
        let path = std::env::temp_dir().join(format!(
            "switchboard-deadline-{}-{}.toml",
            std::process::id(),
            expected.len()
        ));
        std::fs::write(&path, toml).unwrap();
        let mut child = Process(
            Command::new(env!("CARGO_BIN_EXE_switchboard"))
                .args(["serve", "--listen", "127.0.0.1:0", "--config"])
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        // Bounded: a config that were accepted would serve forever.
        let mut status = None;
        for _ in 0..1_000 {
            status = child.0.try_wait().unwrap();
            if status.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::remove_file(&path).ok();
        let status = status.unwrap_or_else(|| panic!("started with {toml}"));
        assert!(!status.success(), "{toml}");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(stderr.contains(expected), "{toml}\n{stderr}");
    }
    // A tool's own timeout below the deadline, or none (the deadline), is fine.
    let fine = Config::from_toml(
        "[tools]\ndeadline_ms = 19999\n[[tools.http]]\nname = \"t\"\nurl = \"http://127.0.0.1:9/t\"\ntimeout_ms = 1000\n[[tools.http]]\nname = \"u\"\nurl = \"http://127.0.0.1:9/u\"\n",
    )
    .unwrap();
    fine.validate().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_calls_in_one_message_stay_under_the_per_message_cap() {
    let backend = Backend::start(Duration::from_millis(20)).await;
    let server = TestServer::start(backend.config("max_concurrent_per_message = 16")).await;
    let calls: Vec<(String, &str, Value)> = (0..200).map(|i| (format!("t{i}"), "book", json!({}))).collect();
    let calls: Vec<(&str, &str, Value)> = calls.iter().map(|(id, n, a)| (id.as_str(), *n, a.clone())).collect();
    let (status, answer) = server
        .post_json("/webhook", &tool_calls("call-fanout", 1, &calls))
        .await;
    assert_eq!(status, StatusCode::OK);
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 200);
    let mut answers = std::collections::HashSet::new();
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["toolCallId"], format!("t{i}"), "answers in request order");
        answers.insert(result["result"].as_str().unwrap().to_string());
    }
    assert_eq!(answers.len(), 200, "one run per call");
    assert_eq!(backend.runs(), 200);
    let peak = backend.seen.peak.load(Ordering::SeqCst);
    assert!((2..=16).contains(&peak), "peak concurrency {peak}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_messages_stay_under_the_global_cap() {
    let backend = Backend::start(Duration::from_millis(20)).await;
    let server = TestServer::start(backend.config("max_concurrent_per_message = 16\nmax_concurrent = 5")).await;
    let message = |call: &str| {
        let ids: Vec<String> = (0..20).map(|i| format!("{call}-{i}")).collect();
        let calls: Vec<(&str, &str, Value)> = ids.iter().map(|id| (id.as_str(), "book", json!({}))).collect();
        tool_calls(call, 1, &calls)
    };
    let (one, two, three) = (message("g1"), message("g2"), message("g3"));
    let (a, b, c) = tokio::join!(
        server.post_json("/webhook", &one),
        server.post_json("/webhook", &two),
        server.post_json("/webhook", &three),
    );
    for (status, answer) in [a, b, c] {
        assert_eq!(status, StatusCode::OK);
        let results = answer["results"].as_array().unwrap();
        assert!(results.iter().all(|r| r["result"].is_string()), "{answer}");
    }
    assert_eq!(backend.runs(), 60);
    let peak = backend.seen.peak.load(Ordering::SeqCst);
    assert!((2..=5).contains(&peak), "peak concurrency {peak}");
    server.stop().await;
}

/// A raw HTTP backend that answers every request with an endless chunked body, until the client goes away.
async fn endless_backend() -> (SocketAddr, Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let closed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&closed);
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0u8; 64 * 1024];
        let _ = socket.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("{:x}\r\n{}\r\n", 8192, "x".repeat(8192));
        // Stops only when the client stops reading and closes the connection.
        while socket.write_all(chunk.as_bytes()).await.is_ok() {}
        flag.store(true, Ordering::SeqCst);
    });
    (addr, closed)
}

#[tokio::test]
async fn an_endless_answer_is_cut_at_the_cap() {
    let (addr, closed) = endless_backend().await;
    let config = Config::from_toml(&format!(
        "[[tools.http]]\nname = \"firehose\"\nurl = \"http://{addr}/\"\n"
    ))
    .unwrap();
    let server = TestServer::start(config).await;
    let (status, answer) = tokio::time::timeout(
        Duration::from_secs(10),
        server.post_json("/webhook", &tool_calls("call-big", 1, &[("f1", "firehose", json!({}))])),
    )
    .await
    .expect("answered without reading the whole stream");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer["results"][0]["error"],
        format!(
            "tool `firehose` backend answer too large: more than {} bytes",
            switchboard::tools::http::MAX_ANSWER_BYTES
        )
    );
    // Switchboard hung up: the backend's writes fail.
    for _ in 0..500 {
        if closed.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed.load(Ordering::SeqCst), "the connection was dropped");
    server.stop().await;
}
