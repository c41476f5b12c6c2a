//! The built-in tools as a model uses them, over HTTP: `recall` finds the caller's own words however often the
//! assistant repeated the topic, by stem and near form, with speaker and time; hostile arguments stay bounded.

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchboard::Config;

use crate::support::{TestServer, message, tool_calls, tool_result, transcript};

/// 2026-08-21T16:00:00Z, in epoch milliseconds.
const START: i64 = 1_787_328_000_000;

/// The answer of one tool call (its id made of `at`: each tool call id runs once), parsed from its `result`.
async fn call_tool(server: &TestServer, call: &str, at: i64, name: &str, arguments: Value) -> Value {
    let id = format!("tc-{at}");
    let (status, answer) = server
        .post_json("/webhook", &tool_calls(call, at, &[(&id, name, arguments)]))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    tool_result(&answer, 0)
}

/// A call where the caller asks to move their appointment and the assistant says "appointment" in each of its
/// 13 later turns.
async fn appointment_call(server: &TestServer, call: &str) {
    let mut script = vec![
        message(call, "status-update", START, json!({"status": "in-progress"})),
        transcript(
            call,
            START + 1_000,
            "assistant",
            "Thanks for calling Bright Smiles. How can I help?",
        ),
        transcript(call, START + 4_000, "user", "I want to move my appointment."),
    ];
    for i in 0..13 {
        let at = START + 10_000 + i * 5_000;
        script.push(transcript(
            call,
            at,
            "assistant",
            &format!("Let me check the appointment book, step {i}."),
        ));
        script.push(transcript(call, at + 2_000, "user", "Okay."));
    }
    for body in &script {
        assert_eq!(server.post_json("/webhook", body).await.0, StatusCode::OK, "{body}");
    }
}

#[tokio::test]
async fn recall_finds_the_callers_words_first_after_thirteen_assistant_mentions() {
    let server = TestServer::start(Config::default()).await;
    let call = "call-recall";
    appointment_call(&server, call).await;

    let answer = call_tool(&server, call, START + 90_000, "recall", json!({"topic": "appointment"})).await;
    assert_eq!(answer["found"], true, "{answer}");
    let said = answer["said"].as_array().unwrap();
    assert_eq!(said.len(), 3, "{answer}");
    assert_eq!(
        said[0],
        json!({"speaker": "caller", "at": "2026-08-21T16:00:04Z", "secondsIntoCall": 4,
               "text": "I want to move my appointment."}),
        "{answer}"
    );
    // Then the assistant's latest mentions.
    assert_eq!(said[1]["speaker"], "assistant");
    assert_eq!(said[1]["text"], "Let me check the appointment book, step 12.");

    for (i, topic) in [
        "appointments",
        "moving",
        "APPOINTMENT?",
        "apointment",
        "move the appointment",
    ]
    .into_iter()
    .enumerate()
    {
        let answer = call_tool(
            &server,
            call,
            START + 91_000 + i as i64,
            "recall",
            json!({"topic": topic}),
        )
        .await;
        assert_eq!(answer["found"], true, "{topic}: {answer}");
        assert_eq!(
            answer["said"][0]["text"], "I want to move my appointment.",
            "{topic}: {answer}"
        );
        assert_eq!(answer["said"][0]["speaker"], "caller", "{topic}");
    }

    let answer = call_tool(&server, call, START + 92_000, "recall", json!({"topic": "insurance"})).await;
    assert_eq!(answer, json!({"topic": "insurance", "found": false, "said": []}));
    server.stop().await;
}

#[tokio::test]
async fn recall_with_hostile_arguments_answers_briefly() {
    let server = TestServer::start(Config::default()).await;
    let call = "call-recall-hostile";
    appointment_call(&server, call).await;

    // A huge topic is read (and echoed) only as far as a topic goes; the answer stays small.
    let huge = "appointment ".repeat(50_000);
    let (status, answer) = server
        .post_json(
            "/webhook",
            &tool_calls(call, START + 90_000, &[("big", "recall", json!({"topic": huge}))]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let result = answer["results"][0]["result"].as_str().unwrap();
    assert!(result.len() < 2_000, "{} bytes", result.len());
    let parsed = tool_result(&answer, 0);
    assert_eq!(parsed["said"][0]["speaker"], "caller", "{parsed}");

    // Wrong or missing arguments are an error for that call, naming the problem.
    let (status, answer) = server
        .post_json(
            "/webhook",
            &tool_calls(
                call,
                START + 91_000,
                &[
                    ("none", "recall", json!({})),
                    ("number", "recall", json!({"topic": 7})),
                    ("empty", "recall", json!({"topic": "  "})),
                ],
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let results = answer["results"].as_array().unwrap();
    assert!(
        results[0]["error"].as_str().unwrap().contains("missing field `topic`"),
        "{answer}"
    );
    assert!(
        results[1]["error"].as_str().unwrap().contains("invalid type"),
        "{answer}"
    );
    assert_eq!(
        tool_result(&answer, 2),
        json!({"topic": "  ", "found": false, "said": []})
    );
    server.stop().await;
}

#[tokio::test]
async fn the_other_builtin_tools_answer_only_what_the_call_knows() {
    let server = TestServer::start(Config::default()).await;
    let call = "call-builtins";
    appointment_call(&server, call).await;

    let details = call_tool(&server, call, START + 90_000, "caller_details", json!({})).await;
    assert_eq!(
        details,
        json!({"callId": call, "customerNumber": "+14155550123", "customerName": "Jordan",
               "phoneNumber": "+14155559999", "startedAt": "2026-08-21T16:00:00Z", "status": "in-progress"})
    );
    let noted = call_tool(
        &server,
        call,
        START + 91_000,
        "remember",
        json!({"key": "new_day", "value": "Friday"}),
    )
    .await;
    assert_eq!(noted, json!({"noted": "new_day", "scope": "call"}));
    // Without a conversation (`/webhook`), a conversation note is the call's, and the answer says so.
    let noted = call_tool(
        &server,
        call,
        START + 91_500,
        "remember",
        json!({"key": "tier", "value": "gold", "scope": "conversation"}),
    )
    .await;
    assert_eq!(noted, json!({"noted": "tier", "scope": "call"}));
    let note = call_tool(&server, call, START + 92_000, "read_note", json!({"key": "new_day"})).await;
    assert_eq!(note, json!({"key": "new_day", "found": true, "value": "Friday"}));
    let missing = call_tool(&server, call, START + 93_000, "read_note", json!({"key": "nope"})).await;
    assert_eq!(missing, json!({"key": "nope", "found": false}));
    let summary = call_tool(&server, call, START + 94_000, "summarize_call", json!({})).await;
    assert_eq!(summary["turns"], 28, "{summary}");
    assert_eq!(summary["callerTurns"], 14, "{summary}");
    assert!(summary.get("language").is_none(), "{summary}");
    assert!(
        summary["recent"].as_str().unwrap().ends_with("Caller: Okay."),
        "{summary}"
    );
    server.stop().await;
}
