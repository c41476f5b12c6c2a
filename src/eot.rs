//! End of turn on the main webhook: a `call.endpointing.request` is decided with what the call's state knows of
//! the caller (recent cut-offs, long pauses inside a turn, a readout in progress, the detected language), and
//! the decision is kept with the call, so the next one learns from it and `/calls/{id}` shows why.
//!
//! The decision itself is `endpointing`'s, pure; the history is `call-state`'s, folded from the call's events
//! by their timestamps. This module only reads one, passes it to the other, and records the outcome. The
//! standalone endpointing server (and `/endpointing` here) stays stateless.

use call_runtime::CallRuntime;
use call_state::{CallEvent, CallState, EndpointingDecision, EventKind, Outcome};
use endpointing::{Adaptation, Endpointer, Language, TurnOutcome};
use vapi_types::{EndpointingRequest, EndpointingResponse, ServerMessage, Timestamp};

/// The language a call's turns are decided in: the language the transcriber detected during the call
/// (`language-change-detected`, `language-changed`), else the transcriber's configured language on the
/// message, else English.
pub fn call_language(state: Option<&CallState>, message: &ServerMessage) -> Language {
    let detected = state.and_then(CallState::language);
    Language::from_code(detected.or_else(|| endpointing::transcriber_code(&message.common)))
}

/// What the call's history says about its caller (see [`endpointing::Adaptation`]).
pub fn adaptation(state: &CallState) -> Adaptation {
    let history = state.endpointing();
    let outcomes = history.outcomes().filter_map(|outcome| match outcome {
        Outcome::CutOff => Some(TurnOutcome::CutOff),
        Outcome::WentWell => Some(TurnOutcome::WentWell),
        Outcome::Pending => None,
    });
    Adaptation::learn(outcomes, &history.pauses_ms(), history.dictation_in_progress())
}

/// A decision of the main webhook's end of turn: the answer, and what it was made of (for the trace).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The answer sent to Vapi.
    pub response: EndpointingResponse,
    /// The model's probability that the turn is complete; `None` when the request had no user message.
    pub complete_probability: Option<f64>,
    /// Why: the cues that fired and the call's adjustments (`no-user-message` when there was nothing to decide).
    pub reasons: Vec<String>,
    /// The language the turn was decided in.
    pub language: Language,
}

/// Answers a `call.endpointing.request` of the main webhook. With a call id, the decision uses the call's
/// history (`state`, its state when known; none yet is a fresh call) and is recorded in the call; the answer
/// is given even when recording fails (logged). Without a call id it is the stateless answer.
pub async fn answer(
    endpointer: &Endpointer,
    runtime: &CallRuntime,
    message: &ServerMessage,
    request: &EndpointingRequest,
    state: Option<&CallState>,
) -> Answer {
    let language = call_language(state, message);
    let adaptation = state.map_or(Adaptation::NONE, adaptation);
    let Some((adapted, user)) = endpointer.decide_adapted(request, language, &adaptation) else {
        return Answer {
            response: endpointer.answer_in(request, language),
            complete_probability: None,
            reasons: vec!["no-user-message".to_string()],
            language,
        };
    };
    let decision = &adapted.decision;
    let reasons: Vec<String> = decision
        .cues
        .iter()
        .map(|cue| cue.name().to_string())
        .chain(adapted.adjustments.iter().map(ToString::to_string))
        .collect();
    let answer = Answer {
        response: EndpointingResponse {
            timeout_seconds: decision.timeout_seconds,
        },
        complete_probability: Some(decision.complete_probability),
        reasons: reasons.clone(),
        language,
    };
    let Some(call_id) = message.call_id() else {
        return answer;
    };
    let kept = EndpointingDecision {
        at_ms: None,
        timeout_seconds: decision.timeout_seconds,
        base_timeout_seconds: adapted.base_timeout_seconds,
        complete_probability: decision.complete_probability,
        language: language.code().to_string(),
        reasons,
        dictation: decision.cues.contains(endpointing::Cue::Dictation)
            && !decision.cues.contains(endpointing::Cue::DictationComplete),
        text: user,
    }
    .bounded();
    // Vapi's timestamp places the decision among the call's speech; without one, the time it was made.
    let at_ms = message
        .common
        .timestamp
        .as_ref()
        .and_then(Timestamp::as_millis)
        .unwrap_or_else(crate::http::now_ms);
    let event = CallEvent::new(call_id, Some(at_ms), EventKind::Endpointing { decision: kept });
    if let Err(error) = runtime.ingest(event).await {
        tracing::warn!(call_id, %error, "endpointing decision not recorded");
    }
    answer
}

/// The call's end-of-turn history as the admin API shows it: the decisions kept (newest last) with their
/// reasons, the turns the assistant took after them, and what the next decision will learn from them.
pub fn history_json(state: &CallState) -> serde_json::Value {
    let history = state.endpointing();
    let learned = adaptation(state);
    serde_json::json!({
        "decisions": history.decisions().map(|d| serde_json::json!({
            "atMs": d.at_ms,
            "timeoutSeconds": d.timeout_seconds,
            "baseTimeoutSeconds": d.base_timeout_seconds,
            "completeProbability": d.complete_probability,
            "language": d.language,
            "reasons": d.reasons,
            "dictation": d.dictation,
            "text": d.text,
        })).collect::<Vec<_>>(),
        "turns": history.turns().map(|t| serde_json::json!({
            "decidedAtMs": t.decided_at_ms,
            "assistantStartedAtMs": t.assistant_started_at_ms,
            "timeoutSeconds": t.timeout_seconds,
            "cutOff": t.cut_off,
        })).collect::<Vec<_>>(),
        "cutOffs": history.cut_offs(),
        "adaptation": {
            "cutOffLevel": learned.cut_off_level,
            "pauseSeconds": learned.pause_seconds,
            "dictationInProgress": learned.dictation_in_progress,
        },
    })
}
