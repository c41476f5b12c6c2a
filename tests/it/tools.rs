//! Tool calls answered from the call's context, over HTTP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::Config;
use switchboard::tools::{ToolContext, ToolRegistry};

use crate::support::{TestServer, message, tool_calls, tool_result, transcript};

#[derive(Deserialize)]
struct OrderArgs {}

/// A typed tool that needs the order number the caller gave earlier in the call.
fn order_tools() -> ToolRegistry {
    let mut tools = ToolRegistry::new();
    tools.register("order_status", |_: OrderArgs, context: ToolContext| async move {
        let order = context
            .call()
            .user_turns()
            .flat_map(|turn| turn.text.split(|c: char| !c.is_ascii_digit()))
            .find(|digits| digits.len() >= 5)
            .map(str::to_string)
            .ok_or("the caller has not given an order number yet")?;
        Ok::<_, String>(json!({"order": order, "status": "shipped"}))
    });
    tools
}

#[tokio::test]
async fn a_tool_answers_from_an_order_number_given_turns_earlier() {
    let server = TestServer::start_with(Config::default(), order_tools()).await;
    let call = "call-order";
    let script = [
        message(call, "status-update", 1, json!({"status": "in-progress"})),
        transcript(call, 2, "assistant", "Thanks for calling Acme. How can I help?"),
        transcript(call, 3, "user", "Hi, I'm calling about my order, the number is 48213."),
        transcript(call, 4, "assistant", "Thanks. What would you like to know?"),
        transcript(call, 5, "user", "It was supposed to arrive on Monday."),
        transcript(call, 6, "assistant", "I'm sorry to hear that."),
        transcript(call, 7, "user", "Can you tell me where it is now?"),
    ];
    for body in &script {
        assert_eq!(server.post_json("/webhook", body).await.0, StatusCode::OK);
    }
    let (status, answer) = server
        .post_json(
            "/webhook",
            &tool_calls(
                call,
                8,
                &[
                    ("tc-1", "order_status", json!({})),
                    ("tc-2", "recall", json!({"topic": "order number"})),
                ],
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[0]["toolCallId"], "tc-1");
    assert_eq!(tool_result(&answer, 0), json!({"order": "48213", "status": "shipped"}));
    assert!(results[1]["result"].as_str().unwrap().contains("48213"), "{answer}");

    // The results are recorded in the call's context.
    let (_, context) = server.get_json(&format!("/calls/{call}")).await;
    let recorded: Vec<&str> = context["toolCalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(recorded, ["tc-1", "tc-2"]);
    assert!(context["toolCalls"][0]["result"].as_str().unwrap().contains("48213"));
    server.stop().await;
}

#[tokio::test]
async fn fast_slow_panicking_and_unknown_tools_in_one_message() {
    let mut tools = ToolRegistry::new();
    tools.register("fast", |_: Value, _: ToolContext| async { Ok::<_, String>("done") });
    tools.register("slow", |_: Value, _: ToolContext| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, String>("too late")
    });
    tools.register("boom", |_: Value, _: ToolContext| async {
        if true {
            panic!("tool bug");
        }
        Ok::<_, String>("unreachable")
    });
    let config = Config::from_toml("[tools]\ndeadline_ms = 300\n").unwrap();
    let server = TestServer::start_with(config, tools).await;
    let body = tool_calls(
        "call-four",
        1,
        &[
            ("a", "fast", json!({})),
            ("b", "slow", json!({})),
            ("c", "boom", json!({})),
            ("d", "nope", json!({})),
        ],
    );
    // Bounded: the slow tool sleeps a minute; the answer must not wait for it.
    let (status, answer) = tokio::time::timeout(Duration::from_secs(10), server.post_json("/webhook", &body))
        .await
        .expect("answered in time");
    assert_eq!(status, StatusCode::OK);
    let results = answer["results"].as_array().unwrap();
    let ids: Vec<&str> = results.iter().map(|r| r["toolCallId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    assert_eq!(results[0]["result"], "done");
    assert_eq!(results[1]["error"], "tool `slow` did not answer within 300 ms");
    assert_eq!(results[2]["error"], "tool `boom` failed unexpectedly");
    assert!(results[3]["error"].as_str().unwrap().starts_with("unknown tool `nope`"));
    for result in &results[1..] {
        assert!(result.get("result").is_none(), "{result}");
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_arguments_are_an_error_for_that_call() {
    #[derive(Deserialize)]
    struct Args {
        #[allow(dead_code)]
        count: u32,
    }
    let mut tools = ToolRegistry::new();
    tools.register("count", |_: Args, _: ToolContext| async { Ok::<_, String>("ok") });
    let server = TestServer::start_with(Config::default(), tools).await;
    let body = tool_calls(
        "call-args",
        1,
        &[
            ("x", "count", json!({"count": "many"})),
            ("y", "count", json!({"count": 2})),
        ],
    );
    let (status, answer) = server.post_json("/webhook", &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer["results"][0]["error"],
        "invalid arguments for `count`: invalid type: string \"many\", expected u32"
    );
    assert_eq!(answer["results"][1]["result"], "ok");
    server.stop().await;
}

#[tokio::test]
async fn memory_is_shared_by_the_calls_of_a_conversation() {
    let server = TestServer::start(Config::default()).await;
    let path = "/api/webhook/customer-7";
    let remember = tool_calls(
        "call-one",
        1,
        &[
            (
                "m1",
                "remember",
                json!({"key": "preferred_day", "value": "Tuesday", "scope": "conversation"}),
            ),
            ("m2", "remember", json!({"key": "mood", "value": "calm"})),
        ],
    );
    let (_, answer) = server.post_json(path, &remember).await;
    assert_eq!(
        answer["results"][0]["result"],
        r#"{"noted":"preferred_day","scope":"conversation"}"#
    );
    // A later call of the same conversation reads the conversation note, not the first call's own note.
    let read = tool_calls(
        "call-two",
        2,
        &[
            ("r1", "read_note", json!({"key": "preferred_day"})),
            ("r2", "read_note", json!({"key": "mood"})),
        ],
    );
    let (_, answer) = server.post_json(path, &read).await;
    assert_eq!(
        tool_result(&answer, 0),
        json!({"key": "preferred_day", "found": true, "value": "Tuesday"})
    );
    assert_eq!(tool_result(&answer, 1)["found"], false);
    // The first call's own memory holds its note.
    let (_, context) = server.get_json("/calls/call-one").await;
    assert_eq!(context["memory"], json!({"mood": "calm"}));
    server.stop().await;
}

#[tokio::test]
async fn an_http_tool_gets_the_call_context_and_its_answer_is_used() {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let backend = {
        let seen = Arc::clone(&seen);
        axum::Router::new().route(
            "/tools/lookup",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                    let seen = Arc::clone(&seen);
                    async move {
                        assert_eq!(headers["x-tool-key"], "k1");
                        seen.lock().unwrap().push(body);
                        axum::Json(json!({"result": {"balance": "12.50"}}))
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, backend).await.unwrap() });

    let config = Config::from_toml(&format!(
        "[[tools.http]]\nname = \"lookup\"\nurl = \"http://{backend_addr}/tools/lookup\"\ntimeout_ms = 2000\nheaders = {{ x-tool-key = \"k1\" }}\n"
    ))
    .unwrap();
    let server = TestServer::start(config).await;
    let call = "call-http";
    server
        .post_json(
            "/webhook",
            &transcript(call, 1, "user", "What is my balance on account 9912?"),
        )
        .await;
    let (status, answer) = server
        .post_json(
            "/webhook",
            &tool_calls(call, 2, &[("h1", "lookup", json!({"account": "9912"}))]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["results"][0]["result"], "{\"balance\":\"12.50\"}");

    let forwarded = seen.lock().unwrap().pop().expect("the backend was called");
    assert_eq!(
        forwarded["toolCall"],
        json!({"id": "h1", "name": "lookup", "arguments": {"account": "9912"}})
    );
    assert_eq!(forwarded["call"]["id"], call);
    assert_eq!(forwarded["call"]["customer"]["number"], "+14155550123");
    assert_eq!(
        forwarded["call"]["conversation"],
        json!([{"role": "user", "text": "What is my balance on account 9912?"}])
    );
    server.stop().await;
}

#[tokio::test]
async fn an_http_tool_that_fails_is_an_error_result() {
    let backend = axum::Router::new().route(
        "/t",
        axum::routing::post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database down") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, backend).await.unwrap() });
    let config = Config::from_toml(&format!("[[tools.http]]\nname = \"t\"\nurl = \"http://{addr}/t\"\n")).unwrap();
    let server = TestServer::start(config).await;
    let (status, answer) = server
        .post_json("/webhook", &tool_calls("c", 1, &[("1", "t", json!({}))]))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer["results"][0]["error"],
        "tool `t` backend answered 500: database down"
    );
    server.stop().await;
}

#[tokio::test]
async fn async_tools_are_acknowledged_at_once_and_recorded_later() {
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let released = Arc::new(tokio::sync::Mutex::new(Some(released)));
    let mut tools = ToolRegistry::new();
    tools.register("send_email", move |_: Value, _: ToolContext| {
        let released = Arc::clone(&released);
        async move {
            if let Some(released) = released.lock().await.take() {
                let _ = released.await;
            }
            Ok::<_, String>("email sent")
        }
    });
    tools.set_async("send_email", true);
    let server = TestServer::start_with(Config::default(), tools).await;
    let (_, answer) = server
        .post_json(
            "/webhook",
            &tool_calls("call-async", 1, &[("e1", "send_email", json!({}))]),
        )
        .await;
    assert_eq!(
        answer["results"][0]["result"],
        "`send_email` started in the background; its result cannot reach this conversation, so do not wait for it. \
         It will be recorded with the call."
    );
    release.send(()).unwrap();
    let mut recorded = Value::Null;
    for _ in 0..200 {
        let (_, context) = server.get_json("/calls/call-async").await;
        recorded = context["toolCalls"][0]["result"].clone();
        if recorded == "email sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(recorded, "email sent");
    server.stop().await;
}

#[tokio::test]
async fn legacy_function_calls_use_the_same_tools() {
    let server = TestServer::start_with(Config::default(), order_tools()).await;
    server
        .post_json("/webhook", &transcript("call-legacy", 1, "user", "order 77001 please"))
        .await;
    let body = message(
        "call-legacy",
        "function-call",
        2,
        json!({"functionCall": {"name": "order_status", "parameters": {}}}),
    );
    let (status, answer) = server.post_json("/webhook", &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["result"], "{\"order\":\"77001\",\"status\":\"shipped\"}");
    // The call and its result are one record: the result is filed under the id the call was recorded with.
    let (_, context) = server.get_json("/calls/call-legacy").await;
    let records = context["toolCalls"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{context}");
    assert_eq!(records[0]["name"], "order_status");
    assert_eq!(records[0]["result"], answer["result"]);
    server.stop().await;
}
