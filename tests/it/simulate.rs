//! The simulator end to end: every bundled call file played against a real server with zero failures, and a
//! server that answers `{}` to everything caught by the checks.

use std::path::PathBuf;
use std::time::Duration;

use axum::routing::post;
use switchboard::Config;
use switchboard::simulate::{self, Plan};

use crate::support::TestServer;

fn calls_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/calls")
}

fn bundled() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(calls_dir())
        .unwrap()
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

fn plan(calls: usize) -> Plan {
    Plan {
        calls,
        concurrency: 8,
        timeout: Duration::from_secs(10),
        ..Plan::default()
    }
}

#[test]
fn the_bundled_calls_are_realistic() {
    let files = bundled();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["booking.jsonl", "knowledge.jsonl", "support.jsonl"]);
    for path in files {
        let file = simulate::load(&path).unwrap();
        let kinds: Vec<&str> = file.lines.iter().map(|l| l.kind.as_str()).collect();
        assert!((25..=60).contains(&kinds.len()), "{}: {} lines", file.name, kinds.len());
        assert_eq!(file.call_ids.len(), 1, "{}: one call per file", file.name);
        assert_eq!(kinds.first(), Some(&"status-update"), "{}", file.name);
        assert_eq!(kinds.last(), Some(&"end-of-call-report"), "{}", file.name);
        for kind in ["speech-update", "transcript", "conversation-update", "tool-calls"] {
            assert!(kinds.contains(&kind), "{}: no {kind}", file.name);
        }
        let special = match path.file_stem().unwrap().to_str().unwrap() {
            "booking" => "transfer-destination-request",
            "knowledge" => "knowledge-base-request",
            _ => "tool-calls",
        };
        assert!(kinds.contains(&special), "{}: no {special}", file.name);
    }
}

#[tokio::test]
async fn every_bundled_call_replays_against_switchboard_without_failures() {
    // The sample folder answers the knowledge call's question, which its `expect` checks.
    let mut config = Config::default();
    config.knowledge.dir = Some(calls_dir().join("../knowledge"));
    let server = TestServer::start(config).await;
    let target = server.url("/webhook");
    for path in bundled() {
        let file = simulate::load(&path).unwrap();
        let report = simulate::simulate(&file, &target, &plan(20)).await.unwrap();
        assert!(report.ok(), "{report}");
        assert_eq!(report.calls, 20);
        assert_eq!(report.requests, 20 * file.lines.len());
        for line in &file.lines {
            let seen = report.types.get(&line.kind).map_or(0, |t| t.requests);
            let expected = 20 * file.lines.iter().filter(|l| l.kind == line.kind).count();
            assert_eq!(seen, expected, "{}: {}", file.name, line.kind);
        }
        // Each simulated call is a call of its own on the server, with what it said.
        let original = &file.call_ids[0];
        let id = simulate::simulated_id(original, 19);
        let (status, context) = server.get_json(&format!("/calls/{id}")).await;
        assert_eq!(status, 200, "{context}");
        assert!(context.to_string().contains("user"), "{context}");
        let rendered = report.to_string();
        assert!(rendered.contains("| tool-calls |"), "{rendered}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_server_that_answers_nothing_fails_the_answer_checks() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/webhook",
        post(|body: axum::body::Bytes| async move {
            let _ = serde_json::from_slice::<serde_json::Value>(&body);
            axum::Json(serde_json::json!({}))
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let path = calls_dir().join("booking.jsonl");
    let file = simulate::load(&path).unwrap();
    let report = simulate::simulate(&file, &format!("http://{addr}/webhook"), &plan(3))
        .await
        .unwrap();
    assert!(!report.ok());
    let failed = |kind: &str| report.types.get(kind).map_or(0, |t| t.failed);
    assert_eq!(failed("tool-calls"), 3 * 2);
    assert_eq!(failed("transfer-destination-request"), 3);
    assert_eq!(failed("call.endpointing.request"), 3 * 4);
    assert_eq!(failed("transcript"), 0);
    assert_eq!(failed("status-update"), 0);
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.kind == "tool-calls" && f.reason.ends_with("not answered")),
        "{report}"
    );
    server.abort();
}

/// A server answering every tool call of a request, well formed, with `answer`.
async fn answering_every_tool_call_with(answer: &'static str) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/webhook",
        post(move |body: axum::body::Bytes| async move {
            let response = match vapi_types::parse_body(&body).map(|message| message.body) {
                Ok(vapi_types::MessageBody::ToolCalls(request)) => vapi_types::ToolCallsResponse {
                    results: request
                        .tool_call_list
                        .iter()
                        .map(|call| vapi_types::ToolCallResult::ok(&call.id, &call.function.name, answer))
                        .collect(),
                    error: None,
                },
                _ => vapi_types::ToolCallsResponse::default(),
            };
            axum::Json(response)
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

#[tokio::test]
async fn a_well_formed_but_wrong_answer_fails_its_expectation() {
    let (addr, server) = answering_every_tool_call_with("OK").await;
    let file = simulate::load(&calls_dir().join("booking.jsonl")).unwrap();
    let expecting = file.lines.iter().filter(|line| line.expect.is_some()).count();
    assert_eq!(expecting, 2, "the booking call checks what two tool calls answer");
    let report = simulate::simulate(&file, &format!("http://{addr}/webhook"), &plan(2))
        .await
        .unwrap();
    assert!(!report.ok());
    let tool_failures: Vec<_> = report.failures.iter().filter(|f| f.kind == "tool-calls").collect();
    assert_eq!(tool_failures.len(), 2 * 2, "{report}");
    assert!(
        tool_failures
            .iter()
            .all(|f| f.reason.starts_with("expected the answer to contain")),
        "{report}"
    );
    assert!(report.to_string().contains("\"next Tuesday\""), "{report}");

    // The command fails too, naming the wrong answers.
    // The stub answers on this test's runtime: wait for the command without blocking it.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["simulate", "--quiet", "--timeout-ms", "5000", "--target"])
        .arg(format!("http://{addr}/webhook"))
        .arg(calls_dir().join("support.jsonl"))
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("expected the answer to contain \"Dana Whitfield\""),
        "{stdout}"
    );
    server.abort();
}

#[tokio::test]
async fn an_unreachable_target_is_a_failure_not_a_hang() {
    // A port that was free a moment ago: connections are refused.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let path = calls_dir().join("support.jsonl");
    let file = simulate::load(&path).unwrap();
    let plan = Plan {
        timeout: Duration::from_secs(2),
        ..plan(1)
    };
    let report = simulate::simulate(&file, &format!("http://{addr}/webhook"), &plan)
        .await
        .unwrap();
    assert_eq!(report.failed, file.lines.len());
    assert!(simulate::simulate(&file, "not a url", &plan).await.is_err());
}

#[tokio::test]
async fn the_secret_is_sent() {
    let config = Config {
        auth: switchboard::auth::AuthConfig::Secret {
            secret: "s3cret".into(),
        },
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let file = simulate::load(&calls_dir().join("support.jsonl")).unwrap();
    let without = simulate::simulate(&file, &server.url("/webhook"), &plan(1))
        .await
        .unwrap();
    assert_eq!(without.failed, file.lines.len());
    assert!(without.failures[0].reason.starts_with("HTTP 401"), "{without}");
    let with = Plan {
        secret: Some("s3cret".into()),
        rate: Some(2000.0),
        ..plan(2)
    };
    let report = simulate::simulate(&file, &server.url("/webhook"), &with).await.unwrap();
    assert!(report.ok(), "{report}");
    server.stop().await;
}
