//! End of turn on the main webhook: timeouts that learn the caller (cut-offs, pauses), the decisions kept with
//! the call, the call's language, and the standalone endpointing path staying stateless. Every timestamp is
//! Vapi's (`message.timestamp`), chosen by the test; arrival order is varied on purpose.

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchboard::Config;

use crate::redis::redis_server::RedisServer;
use crate::support::{TestServer, message};

/// A turn the tests decide on: complete-looking enough that a fresh call answers fast.
const PROBE: &str = "I'd like to move my appointment";

fn endpointing_request(call: &str, at: i64, text: &str) -> Value {
    message(
        call,
        "call.endpointing.request",
        at,
        json!({"messagesOpenAIFormatted": [
            {"role": "assistant", "content": "Thanks for calling, how can I help?"},
            {"role": "user", "content": text},
        ]}),
    )
}

fn speech(call: &str, at: i64, role: &str, status: &str) -> Value {
    message(call, "speech-update", at, json!({"role": role, "status": status}))
}

async fn decide(server: &TestServer, call: &str, at: i64, text: &str) -> f64 {
    let (status, answer) = server.post_json("/webhook", &endpointing_request(call, at, text)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["timeoutSeconds"].as_f64().unwrap()
}

async fn send(server: &TestServer, body: &Value) {
    let (status, answer) = server.post_json("/webhook", body).await;
    assert_eq!(status, StatusCode::OK, "{body} -> {answer}");
}

/// One turn the assistant takes at `at + 600` after our decision at `at`; the caller resumes `resume_after`
/// ms after the assistant started (within a second: a cut-off).
async fn turn(server: &TestServer, call: &str, at: i64, resume_after: i64) {
    decide(server, call, at, "I'd like to move my appointment").await;
    send(server, &speech(call, at + 600, "assistant", "started")).await;
    send(server, &speech(call, at + 600 + resume_after, "user", "started")).await;
}

async fn history(server: &TestServer, call: &str) -> Value {
    let (status, context) = server.get_json(&format!("/calls/{call}")).await;
    assert_eq!(status, StatusCode::OK, "{context}");
    context["endpointing"].clone()
}

#[tokio::test]
async fn a_caller_cut_off_three_times_waits_longer_then_recovers_as_turns_go_well() {
    let server = TestServer::start(Config::default()).await;
    let fresh = decide(&server, "fresh", 1_000_000, PROBE).await;
    assert!(fresh < 0.6, "the probe is answered fast on a fresh call: {fresh}");

    let call = "cut-three-times";
    for i in 0..3 {
        turn(&server, call, 1_000_000 + i * 10_000, 400).await;
    }
    let after_cut_offs = decide(&server, call, 1_040_000, PROBE).await;
    assert!(
        after_cut_offs >= fresh + 0.8,
        "three cut-offs lengthen the same turn: {fresh} -> {after_cut_offs}"
    );
    let shown = history(&server, call).await;
    assert_eq!(shown["cutOffs"], 3, "{shown}");
    let last = shown["decisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["timeoutSeconds"].as_f64(), Some(after_cut_offs), "{last}");
    assert_eq!(last["baseTimeoutSeconds"].as_f64(), Some(fresh), "{last}");
    assert!(
        last["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("after_cut_offs(level 3.0)")),
        "{last}"
    );

    // Turns that go well: the caller speaks again only long after the assistant started.
    let mut at = 1_050_000;
    let mut relaxed = Vec::new();
    for _ in 0..6 {
        turn(&server, call, at, 4_000).await;
        at += 10_000;
        relaxed.push(decide(&server, call, at - 1_000, PROBE).await);
    }
    assert!(
        relaxed.windows(2).all(|w| w[1] <= w[0]) && relaxed[0] < after_cut_offs,
        "each good turn relaxes the timeout: {relaxed:?}"
    );
    assert!(relaxed[2] > fresh, "not all at once: {relaxed:?}");
    assert_eq!(relaxed[5], fresh, "back to a fresh call's timeout: {relaxed:?}");
    assert_eq!(history(&server, call).await["adaptation"]["cutOffLevel"], 0.0);
    server.stop().await;
}

#[tokio::test]
async fn duplicate_late_and_out_of_order_speech_updates_count_as_one_cut_off_or_none() {
    let server = TestServer::start(Config::default()).await;
    let fresh = decide(&server, "fresh", 2_000_000, PROBE).await;

    // One cut-off, delivered cleanly.
    turn(&server, "clean", 2_000_000, 300).await;
    let once = decide(&server, "clean", 2_010_000, PROBE).await;
    assert!(once > fresh, "{fresh} -> {once}");

    // The same cut-off, messily: the caller's resumption arrives before the assistant's start, then twice more
    // (Vapi retrying), then a `user-interrupted` in the same window; the caller's own start of the turn,
    // spoken before the decision, arrives last.
    let call = "messy";
    let resumed = speech(call, 2_000_900, "user", "started");
    decide(&server, call, 2_000_000, "I'd like to move my appointment").await;
    send(&server, &resumed).await;
    send(&server, &speech(call, 2_000_600, "assistant", "started")).await;
    send(&server, &resumed).await;
    send(&server, &resumed).await;
    send(
        &server,
        &message(call, "user-interrupted", 2_001_000, json!({"turnId": "t-1"})),
    )
    .await;
    send(&server, &speech(call, 1_998_000, "user", "started")).await;
    let messy = decide(&server, call, 2_010_000, PROBE).await;
    assert_eq!(messy, once, "counted as the one cut-off it was");
    assert_eq!(history(&server, call).await["cutOffs"], 1);

    // A resumption that arrives right after the assistant's start but was spoken seconds later, and a retried
    // assistant start: no cut-off at all.
    let call = "late-but-not-cut";
    decide(&server, call, 2_000_000, "I'd like to move my appointment").await;
    let started = speech(call, 2_000_600, "assistant", "started");
    send(&server, &started).await;
    send(&server, &speech(call, 2_004_000, "user", "started")).await;
    send(&server, &started).await;
    assert_eq!(decide(&server, call, 2_010_000, PROBE).await, fresh);
    assert_eq!(history(&server, call).await["cutOffs"], 0);
    server.stop().await;
}

#[tokio::test]
async fn a_caller_with_long_pauses_inside_a_turn_gets_more_patience() {
    let server = TestServer::start(Config::default()).await;
    let fresh = decide(&server, "fresh", 3_000_000, PROBE).await;
    let call = "slow-talker";
    let mut at = 3_000_000;
    for _ in 0..3 {
        // Starts, pauses 1.3 s mid-turn, goes on; no assistant start between.
        send(&server, &speech(call, at, "user", "started")).await;
        send(&server, &speech(call, at + 2_000, "user", "stopped")).await;
        send(&server, &speech(call, at + 3_300, "user", "started")).await;
        at += 10_000;
    }
    let patient = decide(&server, call, at, PROBE).await;
    assert!(
        patient >= 1.3,
        "waits out the caller's usual pause: {fresh} -> {patient}"
    );
    let shown = history(&server, call).await;
    assert_eq!(shown["adaptation"]["pauseSeconds"], 1.3, "{shown}");
    // A turn that clearly ends is still answered fast.
    assert!(decide(&server, call, at + 5_000, "okay thanks").await < 0.6);
    server.stop().await;
}

#[tokio::test]
async fn calls_show_each_decision_with_its_reasons() {
    let server = TestServer::start(Config::default()).await;
    let call = "shown";
    let unfinished = decide(&server, call, 4_000_000, "I would like to book a cleaning for").await;
    let finished = decide(&server, call, 4_001_000, "I would like to book a cleaning for Tuesday.").await;
    let shown = history(&server, call).await;
    let decisions = shown["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 2, "{shown}");
    assert_eq!(decisions[0]["atMs"], 4_000_000);
    assert_eq!(decisions[0]["timeoutSeconds"].as_f64(), Some(unfinished));
    assert_eq!(decisions[0]["language"], "en");
    assert_eq!(decisions[0]["text"], "I would like to book a cleaning for");
    assert!(
        decisions[0]["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("trailing_preposition")),
        "{shown}"
    );
    assert_eq!(decisions[1]["timeoutSeconds"].as_f64(), Some(finished));
    assert!(
        decisions[1]["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("terminal_punctuation")),
        "{shown}"
    );
    assert!(unfinished > 1.0 && finished < 0.6, "{unfinished} {finished}");

    // Kept bounded: only the newest decisions stay.
    for i in 0..40 {
        decide(&server, call, 4_010_000 + i, PROBE).await;
    }
    let shown = history(&server, call).await;
    let decisions = shown["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), call_state::endpointing::MAX_DECISIONS);
    assert_eq!(decisions.last().unwrap()["atMs"], 4_010_039);
    server.stop().await;
}

#[tokio::test]
async fn the_standalone_path_gives_the_same_answer_whatever_the_call_did() {
    let server = TestServer::start(Config::default()).await;
    let call = "history-heavy";
    let body = endpointing_request(call, 5_100_000, PROBE);
    let (_, before) = server.post_json("/endpointing", &body).await;
    for i in 0..3 {
        turn(&server, call, 5_000_000 + i * 10_000, 200).await;
    }
    let (status, after) = server.post_json("/endpointing", &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after, before, "the standalone path keeps no history");
    let (_, on_webhook) = server.post_json("/webhook", &body).await;
    assert!(on_webhook["timeoutSeconds"].as_f64() > before["timeoutSeconds"].as_f64());
    // And it recorded nothing: the call's history has only the webhook's decisions.
    assert_eq!(history(&server, call).await["decisions"].as_array().unwrap().len(), 4);
    server.stop().await;
}

#[tokio::test]
async fn the_detected_language_selects_the_policy_for_later_turns() {
    let server = TestServer::start(Config::default()).await;
    let spanish = "Quiero reservar una limpieza para el";

    // An English call judges the Spanish words with English cues; once the transcriber detects Spanish, the
    // Spanish cues hear the dangling "para el".
    let call = "becomes-spanish";
    let before = decide(&server, call, 6_000_000, spanish).await;
    assert!(before < 0.6, "read as English: {before}");
    send(
        &server,
        &message(call, "language-change-detected", 6_000_500, json!({"language": "es"})),
    )
    .await;
    let long = decide(&server, call, 6_001_000, spanish).await;
    assert!(long >= 1.5, "{long}");
    let finished = decide(&server, call, 6_002_000, "Quiero reservar una limpieza para el martes.").await;
    assert!(finished < 0.6, "{finished}");
    let shown = history(&server, call).await;
    assert_eq!(shown["decisions"][0]["language"], "en", "{shown}");
    assert_eq!(shown["decisions"][1]["language"], "es", "{shown}");

    // French, from the transcriber of the call's assistant: the cautious policy (no short timeout without
    // terminal punctuation), and a detected change to French overrides an English transcriber.
    let french = |call: &str, at: i64, text: &str| {
        let mut body = endpointing_request(call, at, text);
        body["message"]["call"]["assistant"] = json!({"transcriber": {"provider": "deepgram", "language": "fr"}});
        body
    };
    for text in ["je voudrais réserver un nettoyage", "merci beaucoup"] {
        let (_, answer) = server.post_json("/webhook", &french("french", 6_010_000, text)).await;
        assert!(answer["timeoutSeconds"].as_f64().unwrap() >= 2.0, "{text}: {answer}");
    }
    let (_, answer) = server
        .post_json(
            "/webhook",
            &french("french", 6_011_000, "Je voudrais réserver un nettoyage."),
        )
        .await;
    assert!(answer["timeoutSeconds"].as_f64().unwrap() < 0.6, "{answer}");
    assert_eq!(history(&server, "french").await["decisions"][0]["language"], "other");

    let call = "english-then-french";
    let mut body = endpointing_request(call, 6_020_000, "je voudrais réserver un nettoyage");
    body["message"]["assistant"] = json!({"transcriber": {"provider": "deepgram", "language": "en"}});
    let (_, english) = server.post_json("/webhook", &body).await;
    assert!(english["timeoutSeconds"].as_f64().unwrap() < 0.6, "{english}");
    send(
        &server,
        &message(call, "language-changed", 6_020_500, json!({"language": "fr"})),
    )
    .await;
    body["message"]["timestamp"] = json!(6_021_000);
    let (_, cautious) = server.post_json("/webhook", &body).await;
    assert!(
        cautious["timeoutSeconds"].as_f64().unwrap() >= 2.0,
        "{english} -> {cautious}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_survives_a_restart_with_a_shared_store() {
    let redis = RedisServer::start();
    let config = || Config {
        redis: Some(call_runtime::RedisConfig::new(redis.url())),
        ..Config::default()
    };
    let server = TestServer::start(config()).await;
    let fresh = decide(&server, "fresh", 7_000_000, PROBE).await;
    let call = "restarted";
    for i in 0..3 {
        turn(&server, call, 7_000_000 + i * 10_000, 500).await;
    }
    server.stop().await;

    let server = TestServer::start(config()).await;
    let after = decide(&server, call, 7_040_000, PROBE).await;
    assert!(after >= fresh + 0.8, "{fresh} -> {after}");
    assert_eq!(history(&server, call).await["cutOffs"], 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_store_down_the_webhook_still_answers_from_the_text() {
    let mut redis = RedisServer::start();
    let config = Config {
        redis: Some(call_runtime::RedisConfig {
            response_timeout_ms: 300,
            ..call_runtime::RedisConfig::new(redis.url())
        }),
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let fresh = decide(&server, "fresh", 8_000_000, PROBE).await;
    let call = "store-down";
    for i in 0..3 {
        turn(&server, call, 8_000_000 + i * 10_000, 500).await;
    }
    redis.kill();
    // The history cannot be read or written: the answer is the text's own (this instance's view of a call it
    // holds live may still lengthen it), never an error.
    let (status, answer) = server
        .post_json("/webhook", &endpointing_request("never-seen", 8_040_000, PROBE))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["timeoutSeconds"].as_f64(), Some(fresh));
    let (status, answer) = server
        .post_json("/webhook", &endpointing_request(call, 8_040_000, PROBE))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["timeoutSeconds"].as_f64().unwrap() >= fresh, "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn hostile_timestamps_and_texts_are_answered_and_kept_bounded() {
    let server = TestServer::start(Config::default()).await;
    let call = "hostile";
    for at in [1e300, -1e300, 9.3e18, -9.3e18, 0.0] {
        let mut request = endpointing_request(call, 0, &"so I was wondering if ".repeat(2_000));
        request["message"]["timestamp"] = json!(at);
        let (status, answer) = server.post_json("/webhook", &request).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let timeout = answer["timeoutSeconds"].as_f64().unwrap();
        assert!((0.0..=15.0).contains(&timeout), "{timeout}");
        for (role, status) in [("assistant", "started"), ("user", "started"), ("user", "stopped")] {
            let mut body = speech(call, 0, role, status);
            body["message"]["timestamp"] = json!(at);
            send(&server, &body).await;
        }
    }
    let shown = history(&server, call).await;
    let decisions = shown["decisions"].as_array().unwrap();
    // 1e300 and 9.3e18 both saturate to the largest millisecond (and their negatives to the smallest): the same
    // decision at the same time is one event.
    assert_eq!(decisions.len(), 3, "{shown}");
    assert!(
        decisions
            .iter()
            .all(|d| d["text"].as_str().unwrap().len() <= call_state::endpointing::MAX_DECISION_TEXT_BYTES),
        "{shown}"
    );
    // Still decides afterwards.
    let after = decide(&server, call, 10_000, PROBE).await;
    assert!((0.0..=15.0).contains(&after));
    server.stop().await;
}
