//! Properties over arbitrary input: the decision never panics and always answers within Vapi's range.

use endpointing::{EndpointingConfig, Language, Preset, Turn, WaitFunction, decide, decide_in, vapi_default_timeout};
use proptest::prelude::*;

fn words() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "and", "the", "um", "hold", "on", "let", "me", "check", "four", "one", "five", "okay", "thanks", "so", "I",
        "is", "my", "number", "at", "dot", "-", "...", ",", "?", ".", "actually", "wait", "scratch", "that", "a", "b",
        "415", "alpha", "first", "phone", "never", "mind", "yes", "can", "stop", "talking", "para", "el", "quiero",
        "momento", "déjeme", "ver", "sí", "gracias", "¿", "número", "cinco",
    ]);
    prop::collection::vec(word, 0..30).prop_map(|w| w.join(" "))
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics_and_stays_in_range(user in any::<String>(), assistant in proptest::option::of(any::<String>())) {
        for preset in [Preset::Fast, Preset::Balanced, Preset::Patient] {
            let decision = decide(&Turn { user: &user, assistant: assistant.as_deref() }, &EndpointingConfig::preset(preset));
            prop_assert!((0.0..=15.0).contains(&decision.timeout_seconds));
            prop_assert!((0.0..=1.0).contains(&decision.complete_probability));
        }
        let vapi = vapi_default_timeout(&user);
        prop_assert!(vapi == 0.1 || vapi == 0.5 || vapi == 1.5);
    }

    #[test]
    fn cue_words_never_panic_and_stay_in_range(user in words(), assistant in proptest::option::of(words())) {
        let turn = Turn { user: &user, assistant: assistant.as_deref() };
        for language in [Language::English, Language::Spanish, Language::Other] {
            for model in [true, false] {
                let config = EndpointingConfig { model, ..EndpointingConfig::default() };
                let decision = decide_in(&turn, language, &config);
                prop_assert!((0.0..=15.0).contains(&decision.timeout_seconds));
                prop_assert!((0.0..=1.0).contains(&decision.complete_probability));
            }
        }
    }

    #[test]
    fn arbitrary_text_in_every_language_stays_in_range(user in any::<String>(), assistant in proptest::option::of(any::<String>())) {
        for language in [Language::Spanish, Language::Other] {
            let decision = decide_in(&Turn { user: &user, assistant: assistant.as_deref() }, language, &EndpointingConfig::default());
            prop_assert!((0.0..=15.0).contains(&decision.timeout_seconds));
        }
    }

    #[test]
    fn any_wait_function_stays_in_range(min in -20.0f64..20.0, max in -20.0f64..20.0, midpoint in -2.0f64..2.0,
                                        steepness in -50.0f64..50.0, x in -1.0f64..2.0) {
        let wait = WaitFunction { min_seconds: min, max_seconds: max, midpoint, steepness, hold_seconds: 6.0 };
        prop_assert!((0.0..=15.0).contains(&wait.timeout(x)));
    }
}
