//! The live call monitor: one trace (log line, histogram, event) of every answer, the event stream over a real
//! server (each kind, reconnects, slow subscribers), and the page and stream behind the admin token.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use futures::{Stream, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{TestServer, message, tool_calls};

/// A config with espeak-ng as the voice (fast, installed by `scripts/test`) and the given `[monitor]` table.
fn config(monitor: &str) -> Config {
    Config::from_toml(&format!(
        "[voice]\nengine = \"espeak\"\npool_size = 1\ncache_bytes = 0\n\n[monitor]\n{monitor}"
    ))
    .unwrap()
}

/// One webhook body of every kind the monitor shows, on call `call`, in a call's order.
fn every_kind(call: &str) -> Vec<Value> {
    let user = |text: &str| json!({"messagesOpenAIFormatted": [{"role": "user", "content": text}]});
    vec![
        message(call, "assistant-request", 1, json!({})),
        message(call, "status-update", 2, json!({"status": "in-progress"})),
        message(
            call,
            "speech-update",
            3,
            json!({"status": "started", "role": "user", "turn": 1}),
        ),
        message(
            call,
            "transcript",
            4,
            json!({"role": "user", "transcriptType": "partial", "transcript": "I want to move"}),
        ),
        message(
            call,
            "transcript",
            5,
            json!({"role": "user", "transcriptType": "final", "transcript": "I want to move my appointment."}),
        ),
        message(
            call,
            "call.endpointing.request",
            6,
            user("I want to move my appointment."),
        ),
        tool_calls(call, 7, &[("tc-1", "recall", json!({"topic": "appointment"}))]),
        // Vapi's retry of the same tool call: answered from the first run.
        tool_calls(call, 8, &[("tc-1", "recall", json!({"topic": "appointment"}))]),
        message(call, "knowledge-base-request", 9, user("What are your opening hours?")),
        message(
            call,
            "voice-request",
            10,
            json!({"text": "One moment.", "sampleRate": 16000}),
        ),
        message(call, "user-interrupted", 11, json!({})),
        message(call, "transfer-destination-request", 12, json!({})),
        message(
            call,
            "handoff-destination-request",
            13,
            json!({"parameters": {"destination": "billing"}}),
        ),
        message(
            call,
            "transfer-update",
            14,
            json!({"destination": {"type": "number", "number": "+14155550000"}}),
        ),
        message(call, "hang", 15, json!({})),
        message(
            call,
            "status-update",
            16,
            json!({"status": "ended", "endedReason": "customer-ended-call"}),
        ),
        message(
            call,
            "end-of-call-report",
            17,
            json!({"endedReason": "customer-ended-call", "summary": "Moved an appointment."}),
        ),
    ]
}

/// The kinds of event `every_kind` gives, each at least once.
const KINDS: [&str; 12] = [
    "transcript",
    "speech",
    "interruption",
    "status",
    "tool",
    "knowledge",
    "route",
    "endpointing",
    "voice",
    "transfer",
    "hang",
    "report",
];

/// Posts every body, reading each answer whole (a voice answer is audio), and checks each is a 200.
async fn post_all(server: &TestServer, bodies: &[Value]) {
    for body in bodies {
        let response = server
            .client
            .post(server.url("/webhook"))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}: {}", String::from_utf8_lossy(&bytes));
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
struct SseEvent {
    id: Option<u64>,
    event: String,
    data: String,
}

impl SseEvent {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// A client of `GET /monitor/events`, reading with reqwest's byte stream.
struct SseClient {
    stream: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buffer: String,
}

impl SseClient {
    async fn connect(server: &TestServer, last_event_id: Option<u64>) -> SseClient {
        let mut request = server.admin(server.client.get(server.url("/monitor/events")));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseClient {
            stream: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped), within 10 seconds.
    async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    id: None,
                    event: "message".into(),
                    data: String::new(),
                };
                let mut fields = 0;
                for line in block.lines() {
                    let (name, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match name {
                        "id" => event.id = Some(value.parse().unwrap()),
                        "event" => event.event = value.to_string(),
                        "data" => event.data.push_str(value),
                        _ => continue,
                    }
                    fields += 1;
                }
                if fields > 0 {
                    return event;
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("no event within 10 s")
                .expect("stream ended")
                .unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Events until one satisfies `done` (included).
    async fn until(&mut self, done: impl Fn(&SseEvent) -> bool) -> Vec<SseEvent> {
        let mut events = Vec::new();
        loop {
            let event = self.next().await;
            let finished = done(&event);
            events.push(event);
            if finished {
                return events;
            }
        }
    }
}

fn is_report(event: &SseEvent) -> bool {
    event.event == "message" && event.json()["kind"] == "report"
}

#[tokio::test]
async fn the_stream_carries_every_kind_of_event_with_increasing_ids() {
    let server = TestServer::start(config("")).await;
    let mut client = SseClient::connect(&server, None).await;
    let ready = client.next().await;
    assert_eq!(ready.event, "ready");
    post_all(&server, &every_kind("call-kinds")).await;
    let events = client.until(is_report).await;
    let ids: Vec<u64> = events.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "ids not consecutive: {ids:?}");
    assert_eq!(ids[0], ready.id.unwrap() + 1);
    let bodies: Vec<Value> = events.iter().map(SseEvent::json).collect();
    let kinds: BTreeSet<&str> = bodies.iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, KINDS.into_iter().collect());
    for body in &bodies {
        assert_eq!(body["callId"], "call-kinds", "{body}");
    }
    let find = |kind: &'static str| bodies.iter().filter(move |b| b["kind"] == kind);
    // Partials and finals are told apart.
    let transcripts: Vec<(bool, &str)> = find("transcript")
        .map(|b| (b["final"].as_bool().unwrap(), b["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        transcripts,
        [(false, "I want to move"), (true, "I want to move my appointment.")]
    );
    // The tool ran once; Vapi's retry was answered from that run.
    let tools: Vec<&Value> = find("tool").collect();
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["name"], "recall");
    assert_eq!(tools[0]["arguments"], json!({"topic": "appointment"}));
    assert!(
        tools[0]["result"].as_str().unwrap().contains("appointment"),
        "{}",
        tools[0]
    );
    assert_eq!(tools[0].get("dedup"), None);
    assert_eq!(tools[1]["dedup"], "completed");
    assert_eq!(tools[1]["result"], tools[0]["result"]);
    let endpointing = find("endpointing").next().unwrap();
    assert!((0.0..=15.0).contains(&endpointing["timeoutSeconds"].as_f64().unwrap()));
    assert!(!endpointing["reasons"].as_array().unwrap().is_empty(), "{endpointing}");
    let decisions: Vec<&str> = find("route").map(|b| b["decision"].as_str().unwrap()).collect();
    assert_eq!(decisions, ["assistant", "transfer", "handoff"]);
    let knowledge = find("knowledge").next().unwrap();
    assert_eq!(knowledge["query"], "What are your opening hours?");
    assert!(knowledge["documents"].is_array());
    let voice = find("voice").next().unwrap();
    assert_eq!(
        (voice["status"].as_u64(), voice["text"].as_str()),
        (Some(200), Some("One moment."))
    );
    assert!(voice["ttfbMs"].as_f64().unwrap() >= 0.0, "{voice}");
    let statuses: Vec<&str> = find("status").map(|b| b["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["in-progress", "ended"]);
    assert_eq!(find("report").next().unwrap()["summary"], "Moved an appointment.");
    server.stop().await;
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_loses_and_repeats_nothing() {
    let server = TestServer::start(config("")).await;
    let mut client = SseClient::connect(&server, None).await;
    client.next().await;
    let bodies = every_kind("call-reconnect");
    let (first, rest) = bodies.split_at(5);
    post_all(&server, first).await;
    let seen = client
        .until(|e| e.json()["kind"] == "transcript" && e.json()["final"] == true)
        .await;
    let last = seen.last().unwrap().id.unwrap();
    // The browser goes away; the call goes on.
    drop(client);
    post_all(&server, rest).await;
    let mut again = SseClient::connect(&server, Some(last)).await;
    let ready = again.next().await;
    assert_eq!((ready.event.as_str(), ready.id), ("ready", None));
    let missed = again.until(is_report).await;
    let ids: Vec<u64> = missed.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(ids[0], last + 1, "the first missed event comes first");
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    let all: BTreeSet<String> = seen
        .iter()
        .chain(&missed)
        .map(|e| e.json()["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all, KINDS.iter().map(|k| k.to_string()).collect());
    // Live events follow the replay on the same stream.
    post_all(&server, &[message("call-reconnect", "hang", 20, json!({}))]).await;
    let live = again.next().await;
    assert_eq!(
        (live.id, live.json()["kind"].as_str()),
        (Some(ids.last().unwrap() + 1), Some("hang"))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_reconnect_older_than_the_ring_or_from_another_process_gets_resync() {
    let server = TestServer::start(config("replay_events = 4\n")).await;
    let mut client = SseClient::connect(&server, None).await;
    let ready = client.next().await.id.unwrap();
    post_all(&server, &every_kind("call-ring")).await;
    client.until(is_report).await;
    // Events after `ready` were dropped from a ring of 4.
    let mut old = SseClient::connect(&server, Some(ready)).await;
    let resync = old.next().await;
    assert_eq!(resync.event, "resync");
    // Its id is the last event's: a further reconnect resumes from there.
    post_all(&server, &[message("call-ring", "hang", 30, json!({}))]).await;
    let live = old.next().await;
    assert_eq!(live.id, Some(resync.id.unwrap() + 1));
    // An id this process never gave (a restarted server's client from the future, or garbage) resyncs too.
    let mut future = SseClient::connect(&server, Some(u64::MAX / 2)).await;
    assert_eq!(future.next().await.event, "resync");
    server.stop().await;
}

/// Opens `GET /monitor/events` on a raw socket with a small receive buffer and never reads it.
async fn stalled_subscriber(server: &TestServer) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    let request = format!(
        "GET /monitor/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        server.addr, server.admin_token
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Reads a raw subscriber's stream up to its `ready` event: from then on it is subscribed.
async fn read_until_ready(stream: &mut tokio::net::TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"event: ready\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("no ready event")
            .unwrap();
        assert_eq!(n, 1, "stream closed");
        head.push(byte[0]);
    }
}

#[tokio::test]
async fn a_subscriber_that_never_reads_does_not_hold_up_the_webhook_and_gets_resync() {
    let server = TestServer::start(config("subscriber_buffer = 8\n")).await;
    let mut stalled = stalled_subscriber(&server).await;
    // It reads up to its `ready` event (so it is subscribed), then never again.
    read_until_ready(&mut stalled).await;
    let said = "a long sentence the caller keeps saying over and over ".repeat(36);
    let mut sent = 0;
    // Answers keep coming while the subscriber's socket and then its buffer fill; the bus drops it behind.
    while !server.metrics().await.contains("switchboard_monitor_resyncs_total 1") {
        assert!(sent < 20_000, "the stalled subscriber was never dropped behind");
        let bodies: Vec<Value> = (0..100)
            .map(|n| {
                message(
                    "call-flood",
                    "transcript",
                    sent + n,
                    json!({"role": "user", "transcriptType": "final", "transcript": said}),
                )
            })
            .collect();
        post_all(&server, &bodies).await;
        sent += 100;
    }
    // A reader on another connection is served meanwhile.
    let mut reader = SseClient::connect(&server, None).await;
    reader.next().await;
    post_all(&server, &[message("call-flood", "hang", 1, json!({}))]).await;
    assert_eq!(reader.next().await.json()["kind"], "hang");
    // The stalled subscriber, once it reads, finds the resync after what its buffers held.
    let mut text = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let n = stalled.read(&mut chunk).await.unwrap();
            assert!(n > 0, "stream closed");
            text.extend_from_slice(&chunk[..n]);
            if text.windows(13).any(|w| w == b"event: resync") {
                return;
            }
        }
    })
    .await;
    assert!(found.is_ok(), "no resync event");
    server.stop().await;
}

#[tokio::test]
async fn the_page_and_the_stream_refuse_requests_without_the_right_token() {
    let server = TestServer::start(config("")).await;
    for path in [
        "/monitor",
        "/monitor/events",
        "/monitor/monitor.js",
        "/monitor/monitor.css",
    ] {
        let url = server.url(path);
        let none = server.client.get(&url).send().await.unwrap();
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED, "{path}");
        let wrong_bearer = server.client.get(&url).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(wrong_bearer.status(), StatusCode::UNAUTHORIZED, "{path}");
        let wrong_query = server.client.get(format!("{url}?token=wrong")).send().await.unwrap();
        assert_eq!(wrong_query.status(), StatusCode::UNAUTHORIZED, "{path}");
        let wrong_cookie = server
            .client
            .get(&url)
            .header("cookie", "switchboard_admin=wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong_cookie.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(wrong_cookie.headers().get("set-cookie").is_none());
    }
    // The login form is open and carries no data.
    let login = server.client.get(server.url("/monitor/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    assert!(login.text().await.unwrap().contains("name=\"token\""));
    // The startup URL's token opens the page and is kept in an HttpOnly cookie.
    let opened = server
        .client
        .get(server.url(&format!("/monitor?token={}", server.admin_token)))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    let cookie = opened.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let csp = opened.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert_eq!(opened.headers()["referrer-policy"], "no-referrer");
    let page = opened.text().await.unwrap();
    // Nothing is fetched from anywhere else.
    assert!(!page.contains("http://") && !page.contains("https://"), "{page}");
    let pair = cookie.split(';').next().unwrap();
    let with_cookie = server
        .client
        .get(server.url("/monitor/events"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), StatusCode::OK);
    server.stop().await;
}

/// A `MakeWriter` that keeps every log line.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

// One thread: the subscriber set for this test's thread sees the server's tasks.
#[tokio::test(flavor = "current_thread")]
async fn every_answer_leaves_one_log_line_and_tools_a_histogram() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = TestServer::start(config("")).await;
    let mut bodies = every_kind("call-log");
    bodies.push(tool_calls("call-log", 40, &[("tc-x", "made_up_tool", json!({}))]));
    post_all(&server, &bodies).await;
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let answers: Vec<Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "answer")
        .map(|line| line["fields"].clone())
        .collect();
    let summary: Vec<(String, String)> = answers
        .iter()
        .map(|a| (a["kind"].as_str().unwrap().into(), a["name"].as_str().unwrap().into()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("route", "assistant"),
        ("endpointing", "en"),
        ("tool", "recall"),
        ("tool", "recall"),
        ("knowledge", ""),
        ("voice", "default"),
        ("route", "transfer"),
        ("route", "handoff"),
        ("tool", "made_up_tool"),
    ]
    .iter()
    .map(|(k, n)| (k.to_string(), n.to_string()))
    .collect();
    assert_eq!(summary, expected, "{text}");
    for answer in &answers {
        assert_eq!(answer["call_id"], "call-log", "{answer}");
        assert!(answer["latency_ms"].as_f64().unwrap() >= 0.0, "{answer}");
        assert!(answer.get("outcome").is_some(), "{answer}");
    }
    assert_eq!(answers[2]["outcome"], "ok");
    assert_eq!(answers[2].get("dedup"), None);
    assert_eq!(answers[3]["dedup"], "completed");
    assert_eq!(answers[8]["outcome"], "error");
    assert!(
        !answers[1]["detail"].as_str().unwrap().is_empty(),
        "endpointing reasons: {}",
        answers[1]
    );
    let metrics = server.metrics().await;
    // Configured tools are labelled by name; a name the model made up counts as `other`.
    assert!(
        metrics.contains("switchboard_tool_duration_seconds_count{tool=\"recall\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchboard_tool_duration_seconds_count{tool=\"other\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("made_up_tool"));
    server.stop().await;
}

#[tokio::test]
async fn a_shutdown_ends_open_streams_instead_of_waiting_out_the_grace_period() {
    let mut config = config("");
    // A grace period longer than the client's wait: only the stream's own end can finish it in time.
    config.http.shutdown_grace_seconds = 120;
    let server = TestServer::start(config).await;
    let mut client = SseClient::connect(&server, None).await;
    client.next().await;
    let stopping = tokio::spawn(server.stop());
    let ended = tokio::time::timeout(Duration::from_secs(10), client.stream.next()).await;
    assert!(matches!(ended, Ok(None)), "the stream did not end: {ended:?}");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the server did not stop")
        .unwrap();
}

#[tokio::test]
async fn hostile_field_sizes_are_cut_before_the_replay_ring_keeps_them() {
    let server = TestServer::start(config("")).await;
    let mut client = SseClient::connect(&server, None).await;
    client.next().await;
    // Fields Vapi fills with a word or two, a megabyte each: the ring keeps thousands of events.
    let huge = |c: &str| c.repeat(1 << 20);
    let call = "call-huge";
    post_all(
        &server,
        &[
            message(
                call,
                "transcript",
                1,
                json!({"role": huge("r"), "transcriptType": "final", "transcript": "hi"}),
            ),
            message(
                call,
                "speech-update",
                2,
                json!({"role": huge("r"), "status": huge("s")}),
            ),
            message(
                call,
                "status-update",
                3,
                json!({"status": huge("s"), "endedReason": huge("e")}),
            ),
            tool_calls(call, 4, &[("tc-huge", &huge("n"), json!({}))]),
            message(call, "end-of-call-report", 5, json!({"endedReason": huge("e")})),
        ],
    )
    .await;
    let events = client.until(is_report).await;
    let kinds: Vec<String> = events
        .iter()
        .map(|e| e.json()["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["transcript", "speech", "status", "tool", "report"]);
    for event in &events {
        assert!(
            event.data.len() < 4096,
            "{} bytes: {:.200}",
            event.data.len(),
            event.data
        );
    }
    // What is kept still shows what came.
    assert!(events[0].json()["role"].as_str().unwrap().starts_with("rrrr"));
    assert!(events[3].json()["name"].as_str().unwrap().starts_with("nnnn"));
    server.stop().await;
}

#[tokio::test]
async fn a_full_monitor_answers_503_and_a_client_gone_mid_stream_frees_its_place() {
    let server = TestServer::start(config("max_subscribers = 1\n")).await;
    let mut first = stalled_subscriber(&server).await;
    read_until_ready(&mut first).await;
    let events = || server.admin(server.client.get(server.url("/monitor/events")));
    let refused = events().send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("subscribers"), "{body}");
    // The first client goes away in the middle of the stream, without a word.
    post_all(&server, &[message("call-gone", "hang", 1, json!({}))]).await;
    drop(first);
    let mut admitted = None;
    for _ in 0..200 {
        let response = events().send().await.unwrap();
        if response.status() == StatusCode::OK {
            admitted = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted.is_some(), "the departed client's place was never freed");
    drop(admitted);
    server.stop().await;
}

/// Posts the sign-in form with `fields`, without following the redirect.
async fn sign_in(server: &TestServer, fields: &[(&str, &str)], forwarded_proto: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client.post(server.url("/monitor/login")).form(fields);
    if let Some(proto) = forwarded_proto {
        request = request.header("x-forwarded-proto", proto);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_sign_in_form_posts_the_token_and_its_cookie_carries_any_token() {
    let mut config = config("");
    // A configured token holding what a cookie value cannot: `;`, a space, quotes.
    let token = "s3cret; Path=/elsewhere \"quoted\"";
    config.admin.token = Some(token.into());
    let server = TestServer::start(config).await;
    // The form posts: a token in a query string lands in every proxy's access log.
    let form = server.client.get(server.url("/monitor/login")).send().await.unwrap();
    let form = form.text().await.unwrap();
    assert!(form.contains("method=\"post\" action=\"/monitor/login\""), "{form}");

    let wrong = sign_in(&server, &[("token", "guess")], None).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());

    // A return address in the form is not followed anywhere: the answer always sends the browser to /monitor.
    let signed = sign_in(&server, &[("token", token), ("next", "https://evil.example/")], None).await;
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed.headers()["location"], "/monitor");
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    // Over plain http the cookie cannot be `Secure` (the browser would drop it).
    assert!(!cookie.contains("Secure"), "{cookie}");
    let pair = cookie.split(';').next().unwrap();
    for path in ["/monitor/events", "/calls"] {
        let opened = server
            .client
            .get(server.url(path))
            .header("cookie", pair)
            .send()
            .await
            .unwrap();
        assert_eq!(opened.status(), StatusCode::OK, "{path} with {pair}");
    }

    // Behind a TLS-terminating proxy the cookie is `Secure`, from the form and from the startup URL alike.
    let secure = sign_in(&server, &[("token", token)], Some("https")).await;
    let cookie = secure.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let opened = server
        .client
        .get(server.url("/monitor"))
        .query(&[("token", token)])
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    assert!(opened.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));

    // The form's body is small: a big one is refused before it is read.
    let big = "x".repeat(64 * 1024);
    let refused = sign_in(&server, &[("token", big.as_str())], None).await;
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    server.stop().await;
}

#[tokio::test]
async fn hostile_last_event_ids_start_a_stream_and_never_a_replay_of_everything() {
    let server = TestServer::start(config("")).await;
    post_all(&server, &[message("call-ids", "hang", 1, json!({}))]).await;
    let huge = "9".repeat(4000);
    for (n, (value, first)) in [
        ("-5", "ready"),
        ("abc", "ready"),
        ("1e9", "ready"),
        ("99999999999999999999999999", "ready"),
        (huge.as_str(), "ready"),
        // From the future (or another process): reload, do not replay.
        ("18446744073709551615", "resync"),
        // Before this process's first id: everything since is not kept, so reload.
        ("0", "resync"),
    ]
    .into_iter()
    .enumerate()
    {
        let response = server
            .admin(server.client.get(server.url("/monitor/events")))
            .header("last-event-id", value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{value:.20}");
        let mut client = SseClient {
            stream: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        };
        let event = client.next().await;
        assert_eq!(event.event, first, "{value:.20}");
        // Nothing old follows: the next event is a live one.
        let live = format!("call-live-{n}");
        post_all(&server, &[message(&live, "hang", 2, json!({}))]).await;
        let next = client.next().await;
        assert_eq!(next.json()["callId"], live, "{value:.20}: {next:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_sign_in_body_that_never_arrives_is_cut_at_the_body_deadline() {
    let mut config = config("");
    config.http.body_timeout_seconds = 1;
    let server = TestServer::start(config).await;
    // Headers promise a form; one byte comes, then nothing: the open route must not hold the connection.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "POST /monitor/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 100\r\n\r\nt",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection is still held");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    server.stop().await;
}
