//! `transfer-destination-request` and `handoff-destination-request` rules over the call's context.

use call_state::{CallEvent, CallState, EventKind, Limits, Role};
use serde_json::{Value, json};

use crate::support::{fixture_body, message, routes, wire};

const CALL: &str = "call-1";

/// A call whose caller said `turns` (oldest first), in `language` if given.
fn call(language: Option<&str>, turns: &[&str]) -> CallState {
    let mut state = CallState::new(CALL);
    let limits = Limits::default();
    for (index, text) in turns.iter().enumerate() {
        let kind = EventKind::Transcript {
            role: Role::User,
            is_final: true,
            text: (*text).to_owned(),
        };
        state.apply(&CallEvent::new(CALL, Some(1_000 * index as i64), kind), &limits);
        let reply = EventKind::Transcript {
            role: Role::Assistant,
            is_final: true,
            text: "I see, billing and refunds, of course.".to_owned(),
        };
        state.apply(&CallEvent::new(CALL, Some(1_000 * index as i64 + 500), reply), &limits);
    }
    if let Some(language) = language {
        let kind = EventKind::Language {
            language: language.to_owned(),
        };
        state.apply(&CallEvent::new(CALL, Some(100_000), kind), &limits);
    }
    state
}

fn request(kind: &str, caller: Option<&str>) -> vapi_types::ServerMessage {
    let mut body = json!({ "type": kind, "call": { "id": CALL } });
    if let Some(caller) = caller {
        body["customer"] = json!({ "number": caller });
    }
    message(body)
}

const TRANSFER: &str = r#"
[routing]
recent_turns = 2
transfer_error = "There is nobody to transfer you to."

[[routing.transfer]]
match = { language = ["es"] }
destination = { type = "number", number = "+14155550111", message = "Le transfiero ahora." }

[[routing.transfer]]
match = { keywords = ["billing", "Refund", "speak to a human"] }
destination = { type = "sip", sip_uri = "sip:billing@pbx.example.com", message = "" }

[[routing.transfer]]
match = { caller = ["+44*"] }
destination = { type = "assistant", assistant_name = "UK Desk", extra = { transferMode = "rolling-history" } }

[[routing.transfer]]
match = { caller = ["+1900*"] }
error = "Transfers are not available for this call."
"#;

#[test]
fn transfer_rules_look_at_language_recent_turns_and_caller() {
    let routes = routes(TRANSFER);
    let check = |caller: Option<&str>, context: Option<&CallState>, expected: Value| {
        let answer = routes.transfer(&request("transfer-destination-request", caller), context);
        assert_eq!(wire(&answer), expected, "caller {caller:?}, context {context:?}");
    };
    let spanish =
        json!({ "destination": { "type": "number", "number": "+14155550111", "message": "Le transfiero ahora." } });
    let billing = json!({ "destination": { "type": "sip", "sipUri": "sip:billing@pbx.example.com", "message": "" } });
    let uk = json!({ "destination": { "type": "assistant", "assistantName": "UK Desk", "transferMode": "rolling-history" } });
    let none = json!({ "error": "There is nobody to transfer you to." });

    check(None, Some(&call(Some("es-MX"), &["hola"])), spanish.clone());
    check(None, Some(&call(Some("en"), &["hello"])), none.clone());
    // Keywords: any case, whole words or phrases, in the last 2 caller turns only.
    check(None, Some(&call(None, &["I want a REFUND."])), billing.clone());
    check(
        None,
        Some(&call(None, &["Can I speak to a... human?", "ok"])),
        billing.clone(),
    );
    check(
        None,
        Some(&call(None, &["my billing question", "one", "two"])),
        none.clone(),
    );
    // Whole words by stem: "refunds" is a form of "Refund", "billboard" is not a form of "billing".
    check(None, Some(&call(None, &["refunds please"])), billing.clone());
    check(None, Some(&call(None, &["I saw your billboard"])), none.clone());
    check(
        None,
        Some(&call(None, &["speak to a machine, not a human"])),
        none.clone(),
    );
    // The assistant's turns never count (every reply in `call` says "billing and refunds").
    check(None, Some(&call(None, &["hello"])), none.clone());
    // Customer number, from the message.
    check(Some("+442071838750"), Some(&call(None, &["hello"])), uk.clone());
    check(Some("+442071838750"), None, uk);
    check(
        Some("+19005550000"),
        None,
        json!({ "error": "Transfers are not available for this call." }),
    );
    // No context: no language, no turns.
    check(None, None, none);
}

#[test]
fn keywords_match_the_callers_words_by_stem() {
    let routes = routes(
        "[[routing.transfer]]\nmatch = { keywords = [\"billing\"] }\n\
         destination = { type = \"number\", number = \"+14155550101\" }\n\
         [[routing.transfer]]\nmatch = { keywords = [\"cancel my subscription\"] }\n\
         destination = { type = \"number\", number = \"+14155550102\" }\n",
    );
    let transfer = |turns: &[&str]| {
        let answer = routes.transfer(&request("transfer-destination-request", None), Some(&call(None, turns)));
        wire(&answer)
    };
    let billing = json!({ "destination": { "type": "number", "number": "+14155550101" } });
    let cancel = json!({ "destination": { "type": "number", "number": "+14155550102" } });
    let none = json!({ "error": routing::DEFAULT_TRANSFER_ERROR });
    assert_eq!(transfer(&["I have a question about a bill"]), billing);
    assert_eq!(transfer(&["my BILLS are wrong"]), billing);
    assert_eq!(transfer(&["I was billed twice"]), billing);
    assert_eq!(transfer(&["I cancelled my subscriptions last week"]), cancel);
    assert_eq!(transfer(&["Cancelling my subscription, please."]), cancel);
    // A phrase still needs its words in order and next to each other.
    assert_eq!(transfer(&["my subscription, can I cancel it"]), none);
    assert_eq!(transfer(&["cancel the order, not my subscription"]), none);
    // Near spellings that are other words do not match.
    assert_eq!(transfer(&["the billboard on the highway"]), none);
    assert_eq!(transfer(&["a ball game"]), none);
}

#[test]
fn without_state_keywords_read_the_messages_artifact() {
    let transfer = routes(TRANSFER);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/vapi/transfer-destination-request.json");
    let mut body: Value = serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("JSON");
    body.as_object_mut().map(|body| body.remove("_source"));
    let fixture = vapi_types::parse_body(body.to_string().as_bytes()).expect("parses");
    // The caller said "Hi, I'd like to book a cleaning for next Tuesday." and is +14155550142.
    assert_eq!(
        wire(&transfer.transfer(&fixture, None)),
        json!({ "error": "There is nobody to transfer you to." })
    );
    let cleaning = routes(
        "[[routing.transfer]]\nmatch = { keywords = [\"a cleaning\"], caller = [\"+14155550142\"] }\n\
         destination = { type = \"number\", number = \"+11234567890\" }\n",
    );
    assert_eq!(
        wire(&cleaning.transfer(&fixture, None)),
        json!({ "destination": { "type": "number", "number": "+11234567890" } })
    );
    // The state, when given, is the conversation: the artifact is not read.
    assert_eq!(
        wire(&cleaning.transfer(&fixture, Some(&call(None, &["hello"])))),
        json!({ "error": routing::DEFAULT_TRANSFER_ERROR })
    );
}

#[test]
fn transfer_answers_match_the_documented_shapes() {
    let answer = routes(
        "[[routing.transfer]]\nerror = \"Billing is closed right now.\"\nmatch = { keywords = [\"billing\"] }\n",
    )
    .transfer(
        &request("transfer-destination-request", None),
        Some(&call(None, &["billing please"])),
    );
    assert_eq!(
        wire(&answer),
        fixture_body("transfer-destination-request.response.error.json")
    );
    let default = routing::Routes::default().transfer(&request("transfer-destination-request", None), None);
    assert_eq!(wire(&default), json!({ "error": routing::DEFAULT_TRANSFER_ERROR }));
}

const HANDOFF: &str = r#"
[[routing.handoff]]
match = { parameters = { issueCategory = "Billing", priority = ["high", "medium"] } }
destination = { type = "assistant", assistant_id = "1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b", extra = { contextEngineeringPlan = { type = "none" } } }

[[routing.handoff]]
match = { parameters = { customerIntent = "*" }, language = ["fr"] }
destination = { type = "assistant", assistant_name = "Camille", assistant_overrides = { firstMessage = "Bonjour" } }

[[routing.handoff]]
match = { keywords = ["cancel my account"] }
destination = { type = "squad", squad_id = "retention", entry_assistant_name = "Sam" }

[[routing.handoff]]
match = { caller = ["+1900*"] }
error = "No handoff for this caller."
"#;

#[test]
fn handoff_rules_look_at_parameters_and_context() {
    let routes = routes(HANDOFF);
    let check = |parameters: Value, caller: Option<&str>, context: Option<&CallState>, expected: Value| {
        let answer = routes.handoff(&request("handoff-destination-request", caller), &parameters, context);
        assert_eq!(wire(&answer), expected, "{parameters}, {caller:?}");
    };
    let billing = fixture_body("handoff-destination-request.response.json");
    let french = json!({ "destination": { "type": "assistant", "assistantName": "Camille", "assistantOverrides": { "firstMessage": "Bonjour" } } });
    let retention = json!({ "destination": { "type": "squad", "squadId": "retention", "entryAssistantName": "Sam" } });
    let none = json!({ "error": routing::DEFAULT_HANDOFF_ERROR });
    let fixture_parameters = json!({ "destination": "dynamic", "customerIntent": "existing-customer", "issueCategory": "billing", "priority": "medium" });

    check(fixture_parameters.clone(), None, None, billing.clone());
    check(
        json!({ "issueCategory": "BILLING", "priority": "high" }),
        None,
        None,
        billing,
    );
    check(
        json!({ "issueCategory": "billing", "priority": "low" }),
        None,
        None,
        none.clone(),
    );
    check(json!({ "issueCategory": "billing" }), None, None, none.clone());
    // `"*"`: present and not null; with the language condition as well.
    check(
        json!({ "customerIntent": "new" }),
        None,
        Some(&call(Some("fr"), &[])),
        french,
    );
    check(
        json!({ "customerIntent": null }),
        None,
        Some(&call(Some("fr"), &[])),
        none.clone(),
    );
    check(
        json!({ "customerIntent": "new" }),
        None,
        Some(&call(Some("de"), &[])),
        none.clone(),
    );
    // Parameters that are not an object match no parameter condition, and nothing panics.
    check(json!("billing"), None, None, none.clone());
    check(
        Value::Null,
        None,
        Some(&call(None, &["Please cancel my account now"])),
        retention,
    );
    check(
        Value::Null,
        Some("+19005550000"),
        None,
        json!({ "error": "No handoff for this caller." }),
    );
    check(json!([1, 2]), None, None, none);
}

#[test]
fn handoff_answers_match_the_documented_shapes() {
    let answer = routes("[[routing.handoff]]\nerror = \"Example custom error message\"\n").handoff(
        &request("handoff-destination-request", None),
        &Value::Null,
        None,
    );
    assert_eq!(
        wire(&answer),
        fixture_body("handoff-destination-request.response.error.json")
    );
    let configured = routes("[routing]\nhandoff_error = \"No specialist is free.\"\n");
    let answer = configured.handoff(&request("handoff-destination-request", None), &Value::Null, None);
    assert_eq!(wire(&answer), json!({ "error": "No specialist is free." }));
}
