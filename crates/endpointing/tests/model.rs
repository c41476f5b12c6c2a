//! The learned end-of-turn model as committed: it loads from its weights, computes exactly what the training
//! script computed, and changes decisions the cues alone get wrong; requests to stop or wait stay long.

use std::path::PathBuf;

use endpointing::{EndpointingConfig, EotModel, Turn, decide};
use serde::Deserialize;

#[derive(Deserialize)]
struct Probe {
    context: Option<String>,
    text: String,
    logit: f64,
}

fn with_model() -> EndpointingConfig {
    EndpointingConfig::default()
}

fn cues_alone() -> EndpointingConfig {
    EndpointingConfig {
        model: false,
        ..EndpointingConfig::default()
    }
}

#[test]
fn committed_weights_load_and_match_the_training_script() {
    let model = EotModel::english();
    assert_eq!(model.buckets(), 1 << 18);
    let size = std::fs::metadata(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("model/eot-en.bin"))
        .unwrap()
        .len();
    assert!(size <= 5 * 1024 * 1024, "{size} bytes");
    // train.py writes the logits of a few turns beside the weights; the Rust features must give the same.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("model/eot-en.probe.json");
    let probes: Vec<Probe> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert!(probes.len() >= 5);
    for probe in probes {
        let turn = Turn {
            user: &probe.text,
            assistant: probe.context.as_deref(),
        };
        let logit = model.turn_logit(&turn);
        assert!(
            (logit - probe.logit).abs() < 1e-3,
            "{:?}: rust {logit}, python {}",
            probe.text,
            probe.logit
        );
    }
}

#[test]
fn unfinished_turns_the_cues_miss_get_a_long_timeout_from_the_model() {
    for text in [
        "Could you help me look up",
        "My package still hasnt",
        "my package still hasnt",
        "I was hoping to get some",
    ] {
        let turn = Turn::answering("How can I help you today?", text);
        let learned = decide(&turn, &with_model());
        assert!(learned.timeout_seconds >= 1.0, "{text:?}: {learned:?}");
        // The cues alone answer these quickly: the model is what holds the assistant back.
        let rules = decide(&turn, &cues_alone());
        assert!(rules.timeout_seconds < 0.8, "{text:?}: {rules:?}");
    }
}

#[test]
fn finished_turns_stay_short_with_the_model() {
    for (context, text) in [
        (None, "My package still hasn't arrived."),
        (None, "my package still hasn't arrived"),
        (Some("How can I help you today?"), "Could you help me look up my order?"),
        (Some("Your appointment is confirmed."), "Perfect, thank you."),
        (Some("What day works for you?"), "Tuesday works."),
    ] {
        let turn = Turn {
            user: text,
            assistant: context,
        };
        let decision = decide(&turn, &with_model());
        assert!(decision.timeout_seconds <= 0.6, "{text:?}: {decision:?}");
    }
}

#[test]
fn requests_to_stop_or_wait_get_the_hold_timeout() {
    let config = with_model();
    let hold = config.wait_function().hold_seconds;
    for text in [
        "Please stop talking.",
        "please stop talking",
        "Stop, stop.",
        "stop",
        "can you stop for a second",
        "let me finish",
        "Wait, let me finish.",
        "be quiet",
        "I'm not done.",
        "hold on",
        "Hang on, let me check.",
        "Wait, don't transfer me.",
        "wait i wasn't done",
        "Stop, I just want to return this.",
        "hey you're interrupting me",
        "Wait a sec, I'm restarting the computer.",
    ] {
        let decision = decide(&Turn::new(text), &config);
        assert!(decision.timeout_seconds >= hold, "{text:?}: {decision:?}");
    }
    // Stopping a service is a request like any other, answered promptly.
    for text in [
        "I want to stop my subscription.",
        "Please stop the automatic payments.",
        "stop my service please",
        "Stop the payment on my card from last week, please.",
    ] {
        let decision = decide(&Turn::new(text), &config);
        assert!(decision.timeout_seconds < 0.8, "{text:?}: {decision:?}");
    }
}

#[test]
fn a_pause_announced_while_fetching_asked_data_is_a_hold() {
    let hold = with_model().wait_function().hold_seconds;
    let turn = Turn::answering("What's your confirmation code?", "hold on it's in my email somewhere");
    assert!(decide(&turn, &with_model()).timeout_seconds >= hold);
}
