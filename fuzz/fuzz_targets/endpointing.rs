//! Fuzzes the endpointing request path and the pure endpointing decision.
//!
//! Every input is tried twice:
//! - as a webhook body: `vapi_types::parse_body`, and for a `call.endpointing.request` the answer of an
//!   `Endpointer` with the default configuration in the request's language, whose `timeoutSeconds` must be
//!   finite and within `[0, 15]`;
//! - as text (when it is UTF-8): split at the first NUL into the assistant's message and the user's turn (no
//!   NUL: the whole input is the user's turn, with no assistant message), decided by `endpointing::decide_in`
//!   under every preset and in every language policy; the probability must be within `[0, 1]` and the timeout
//!   finite and within `[0, 15]`.
//!
//! Seeds: `fuzz/seed.sh`. Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none endpointing -- -max_total_time=600`.

#![no_main]

use std::sync::OnceLock;

use endpointing::{Endpointer, EndpointingConfig, Language, MAX_TIMEOUT_SECONDS, Preset, Turn, decide_in};
use libfuzzer_sys::fuzz_target;
use vapi_types::MessageBody;

fn endpointer() -> &'static Endpointer {
    static ENDPOINTER: OnceLock<Endpointer> = OnceLock::new();
    ENDPOINTER.get_or_init(|| Endpointer::new(EndpointingConfig::default()).expect("the default config is valid"))
}

fn check_timeout(seconds: f64, what: &dyn std::fmt::Debug) {
    assert!(
        seconds.is_finite() && (0.0..=MAX_TIMEOUT_SECONDS).contains(&seconds),
        "timeout {seconds} for {what:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = vapi_types::parse_body(data)
        && let MessageBody::CallEndpointingRequest(request) = &message.body
    {
        let answer = endpointer().answer_in(request, endpointing::request_language(&message.common));
        check_timeout(answer.timeout_seconds, request);
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let turn = match text.split_once('\0') {
        Some((assistant, user)) => Turn::answering(assistant, user),
        None => Turn::new(text),
    };
    let languages = [Language::English, Language::Spanish, Language::Other];
    for (preset, language) in [Preset::Fast, Preset::Balanced, Preset::Patient]
        .into_iter()
        .flat_map(|preset| languages.map(|language| (preset, language)))
    {
        let decision = decide_in(&turn, language, &EndpointingConfig::preset(preset));
        assert!(
            (0.0..=1.0).contains(&decision.complete_probability),
            "probability {} for {turn:?}",
            decision.complete_probability
        );
        check_timeout(decision.timeout_seconds, &turn);
        let _ = decision.cues.to_string();
    }
    check_timeout(endpointing::vapi_default_timeout(turn.user), &turn);
});
