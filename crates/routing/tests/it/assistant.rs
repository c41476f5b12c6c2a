//! `assistant-request` rules: caller, called number, time windows, first match wins, every answer kind.

use serde_json::{Value, json};

use crate::support::{at, compile_in, fixture_body, message, routes, wire};

/// An `assistant-request` from `caller` to the phone number known by `phone_id` and `phone_number`.
fn request(caller: Option<&str>, phone_id: Option<&str>, phone_number: Option<&str>) -> vapi_types::ServerMessage {
    let mut body = json!({ "type": "assistant-request", "call": { "id": "call-1" } });
    if let Some(caller) = caller {
        body["customer"] = json!({ "number": caller });
    }
    if phone_id.is_some() || phone_number.is_some() {
        body["phoneNumber"] = json!({ "id": phone_id, "number": phone_number });
    }
    message(body)
}

const RULES: &str = r#"
[routing]
utc_offset = "-05:00"

[[routing.assistant]]
assistant_id = "vip"
match = { caller = ["+14155550142"] }

[[routing.assistant]]
error = "Calls from premium numbers are not accepted."
match = { caller = ["+1900*"] }

[[routing.assistant]]
squad_id = "sales-squad"
match = { phone_number = ["pn-sales"] }

[[routing.assistant]]
assistant_id = "front-desk"
assistant_overrides = { variableValues = { clinic = "Acme Dental" } }
match = { phone_number = ["+14155550100"], windows = [{ days = ["mon", "tue", "wed", "thu", "fri"], from = "09:00", to = "17:30" }] }

[[routing.assistant]]
destination = { type = "number", number = "+14155552671", extension = "101", message = "Connecting you to our answering service." }
match = { phone_number = ["+14155550100"], windows = [{ days = ["fri"], from = "22:00", to = "06:00" }], utc_offset = "+00:00" }

[[routing.assistant]]
destination = { type = "sip", sip_uri = "sip:night@pbx.example.com", extra = { sipHeaders = { "X-Route" = "night" } } }
match = { phone_number = ["+14155550100"] }
"#;

#[test]
fn rules_route_by_caller_called_number_and_time() {
    let routes = routes(RULES);
    let check = |caller: Option<&str>, phone: (Option<&str>, Option<&str>), now_ms: i64, expected: Value| {
        let answer = routes.assistant(&request(caller, phone.0, phone.1), now_ms);
        assert_eq!(
            wire(&answer),
            expected,
            "caller {caller:?}, phone {phone:?}, now {now_ms}"
        );
    };
    let monday_noon = at("mon", "12:00", -300);
    let front_desk =
        json!({ "assistantId": "front-desk", "assistantOverrides": { "variableValues": { "clinic": "Acme Dental" } } });
    let answering = json!({ "destination": {
        "type": "number", "number": "+14155552671", "extension": "101",
        "message": "Connecting you to our answering service.",
    } });
    let night = json!({ "destination": { "type": "sip", "sipUri": "sip:night@pbx.example.com", "sipHeaders": { "X-Route": "night" } } });

    // Caller exact beats everything after it, whatever number was called.
    check(
        Some("+14155550142"),
        (Some("pn-sales"), None),
        monday_noon,
        json!({ "assistantId": "vip" }),
    );
    // Exact means exact: a longer number is not the VIP.
    check(
        Some("+141555501420"),
        (Some("pn-sales"), None),
        monday_noon,
        json!({ "squadId": "sales-squad" }),
    );
    // Caller prefix.
    check(
        Some("+19005550000"),
        (Some("pn-sales"), None),
        monday_noon,
        json!({ "error": "Calls from premium numbers are not accepted." }),
    );
    // Called number by id, and by number.
    check(
        Some("+442071838750"),
        (Some("pn-sales"), Some("+14155550999")),
        monday_noon,
        json!({ "squadId": "sales-squad" }),
    );
    check(
        Some("+442071838750"),
        (Some("pn-other"), Some("+14155550100")),
        monday_noon,
        front_desk.clone(),
    );
    // Windows at -05:00: inside, at the start (inclusive) and at the end (exclusive).
    check(
        None,
        (None, Some("+14155550100")),
        at("mon", "09:00", -300),
        front_desk.clone(),
    );
    check(
        None,
        (None, Some("+14155550100")),
        at("fri", "17:29", -300),
        front_desk.clone(),
    );
    check(
        None,
        (None, Some("+14155550100")),
        at("mon", "17:30", -300),
        night.clone(),
    );
    check(
        None,
        (None, Some("+14155550100")),
        at("mon", "08:59", -300),
        night.clone(),
    );
    // 09:30 UTC is 04:30 at -05:00: outside.
    check(None, (None, Some("+14155550100")), at("mon", "09:30", 0), night.clone());
    // Day of week: Saturday noon local is outside the weekday window.
    check(
        None,
        (None, Some("+14155550100")),
        at("sat", "12:00", -300),
        night.clone(),
    );
    // Tuesday 04:00 UTC is Monday 23:00 at -05:00, and 14:30 UTC is 09:30: the local day and time count.
    check(None, (None, Some("+14155550100")), at("tue", "04:00", 0), night.clone());
    check(
        None,
        (None, Some("+14155550100")),
        at("tue", "14:30", 0),
        front_desk.clone(),
    );
    // Overnight window from Friday 22:00 (its own +00:00 offset) to Saturday 06:00.
    check(
        None,
        (None, Some("+14155550100")),
        at("fri", "23:00", 0),
        answering.clone(),
    );
    check(
        None,
        (None, Some("+14155550100")),
        at("sat", "05:59", 0),
        answering.clone(),
    );
    check(None, (None, Some("+14155550100")), at("sat", "06:00", 0), night.clone());
    check(
        None,
        (None, Some("+14155550100")),
        at("fri", "21:59", 0),
        front_desk.clone(),
    );
    check(None, (None, Some("+14155550100")), at("thu", "23:00", 0), night.clone());
    // No rule matches: the default spoken error, never empty.
    check(
        None,
        (None, Some("+14155550999")),
        monday_noon,
        json!({ "error": routing::DEFAULT_ASSISTANT_ERROR }),
    );
    check(
        None,
        (None, None),
        monday_noon,
        json!({ "error": routing::DEFAULT_ASSISTANT_ERROR }),
    );
    assert!(!routing::DEFAULT_ASSISTANT_ERROR.trim().is_empty());
}

#[test]
fn called_number_also_comes_from_the_call_and_caller_from_call_customer() {
    let routes = routes(RULES);
    let only_call = message(json!({
        "type": "assistant-request",
        "call": { "id": "c", "phoneNumberId": "pn-sales", "customer": { "number": "+14155550142" } },
    }));
    assert_eq!(wire(&routes.assistant(&only_call, 0)), json!({ "assistantId": "vip" }));
    let no_customer =
        message(json!({ "type": "assistant-request", "call": { "id": "c", "phoneNumberId": "pn-sales" } }));
    assert_eq!(
        wire(&routes.assistant(&no_customer, 0)),
        json!({ "squadId": "sales-squad" })
    );
    assert_eq!(routes.assistant_rule(&no_customer, 0), Some(2));
}

#[test]
fn first_matching_rule_wins_in_config_order() {
    let config = |first: &str, second: &str| {
        format!(
            "[[routing.assistant]]\nassistant_id = \"{first}\"\nmatch = {{ caller = [\"+1415*\"] }}\n\
             [[routing.assistant]]\nassistant_id = \"{second}\"\nmatch = {{ caller = [\"+14155550142\"] }}\n"
        )
    };
    let call = request(Some("+14155550142"), None, None);
    assert_eq!(
        routes(&config("a", "b")).assistant(&call, 0).assistant_id.as_deref(),
        Some("a")
    );
    // A rule without conditions matches every call.
    let catch_all = "[[routing.assistant]]\nsquad_id = \"everyone\"\n[[routing.assistant]]\nassistant_id = \"never\"\n";
    assert_eq!(
        wire(&routes(catch_all).assistant(&call, 0)),
        json!({ "squadId": "everyone" })
    );
}

#[test]
fn inline_assistant_comes_from_a_json_file_relative_to_the_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("assistants")).expect("mkdir");
    let assistant = json!({
        "firstMessage": "Hey Ryan, how are you?",
        "model": { "provider": "openai", "model": "gpt-4o", "messages": [{ "role": "system", "content": "You're Ryan's assistant..." }] },
    });
    std::fs::write(dir.path().join("assistants/ryan.json"), assistant.to_string()).expect("write");
    let routes = compile_in(
        "[[routing.assistant]]\nassistant_file = \"assistants/ryan.json\"\nassistant_overrides = { firstMessage = \"Hi\" }\n",
        dir.path(),
    )
    .expect("compiles");
    let answer = routes.assistant(&request(None, None, None), 0);
    assert_eq!(
        wire(&answer),
        json!({ "assistant": assistant, "assistantOverrides": { "firstMessage": "Hi" } })
    );
    // The documented transient-assistant answer, byte for byte in JSON terms.
    let file = dir.path().join("fixture.json");
    std::fs::write(
        &file,
        fixture_body("assistant-request.response.transient-assistant.json")["assistant"].to_string(),
    )
    .expect("write");
    let text = format!(
        "[[routing.assistant]]\nassistant_file = {:?}\n",
        file.display().to_string()
    );
    let routes = compile_in(&text, std::path::Path::new("/nonexistent")).expect("absolute paths ignore the base dir");
    assert_eq!(
        wire(&routes.assistant(&request(None, None, None), 0)),
        fixture_body("assistant-request.response.transient-assistant.json")
    );
}

#[test]
fn fallback_answers_when_no_rule_matches() {
    let check = |fallback: &str, expected: Value| {
        let text = format!(
            "[[routing.assistant]]\nassistant_id = \"vip\"\nmatch = {{ caller = [\"+1\"] }}\n[routing.assistant_fallback]\n{fallback}\n"
        );
        let answer = routes(&text).assistant(&request(Some("+442071838750"), None, None), 0);
        assert_eq!(wire(&answer), expected, "{fallback}");
    };
    check("assistant_id = \"general\"", json!({ "assistantId": "general" }));
    check(
        "squad_id = \"sq\"\nsquad_overrides = { x = 1 }",
        json!({ "squadId": "sq", "squadOverrides": { "x": 1 } }),
    );
    check("error = \"We are closed.\"", json!({ "error": "We are closed." }));
    check(
        "destination = { type = \"sip\", sip_uri = \"sips:desk@example.com\", caller_id = \"+14155550100\" }",
        json!({ "destination": { "type": "sip", "sipUri": "sips:desk@example.com", "callerId": "+14155550100" } }),
    );
    // Without a fallback, the configured spoken error.
    let text = "[routing]\nassistant_error = \"Sorry, wrong number.\"\n";
    assert_eq!(
        wire(&routes(text).assistant(&request(None, None, None), 0)),
        json!({ "error": "Sorry, wrong number." })
    );
    // And with nothing configured at all, the default one.
    let answer = routing::Routes::default().assistant(&request(None, None, None), 0);
    assert_eq!(answer.error.as_deref(), Some(routing::DEFAULT_ASSISTANT_ERROR));
}

#[test]
fn answers_match_the_documented_response_fixtures() {
    let check = |answer: &str, fixture: &str| {
        let answer = routes(&format!("[[routing.assistant]]\n{answer}\n")).assistant(&request(None, None, None), 0);
        assert_eq!(wire(&answer), fixture_body(fixture), "{fixture}");
    };
    check(
        "assistant_id = \"a3d9c2b1-7e4f-4a6b-8c5d-1e2f3a4b5c6d\"",
        "assistant-request.response.assistant-id.json",
    );
    check(
        "assistant_id = \"a3d9c2b1-7e4f-4a6b-8c5d-1e2f3a4b5c6d\"\n[routing.assistant.assistant_overrides]\n\
         firstMessage = \"Hi {{customerName}}, thanks for calling {{clinic}}!\"\n\
         variableValues = { customerName = \"Jordan\", clinic = \"Acme Dental\" }",
        "assistant-request.response.assistant-id-with-overrides.json",
    );
    check(
        "squad_id = \"8f7e6d5c-4b3a-4291-8a7b-6c5d4e3f2a1b\"",
        "assistant-request.response.squad.json",
    );
    check(
        "destination = { type = \"number\", number = \"+14155552671\", caller_id = \"{{phoneNumber.number}}\", \
         extension = \"101\", message = \"Connecting you to support.\" }",
        "assistant-request.response.destination.json",
    );
    check(
        "error = \"Sorry, not enough credits on your account, please refill.\"",
        "assistant-request.response.error.json",
    );
}

#[test]
fn the_real_assistant_request_fixture_routes() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/vapi/assistant-request.json");
    let mut body: Value = serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("JSON");
    body.as_object_mut().map(|body| body.remove("_source"));
    let message = vapi_types::parse_body(body.to_string().as_bytes()).expect("parses");
    // Thursday 2024-07-25 18:53:47Z, as the fixture's timestamp says.
    let now_ms = message
        .common
        .timestamp
        .as_ref()
        .and_then(|ts| ts.as_millis())
        .expect("timestamp");
    let check = |rules: &str, expected: Value| {
        assert_eq!(wire(&routes(rules).assistant(&message, now_ms)), expected, "{rules}");
    };
    check(
        "[[routing.assistant]]\nassistant_id = \"by-id\"\nmatch = { phone_number = [\"4a5a04dc-dcbe-45b1-8f64-fd32a253d136\"] }",
        json!({ "assistantId": "by-id" }),
    );
    check(
        "[[routing.assistant]]\nassistant_id = \"by-number\"\nmatch = { phone_number = [\"+19254207621\"], caller = [\"+1456*\"] }",
        json!({ "assistantId": "by-number" }),
    );
    check(
        "[[routing.assistant]]\nassistant_id = \"open\"\n\
         match = { windows = [{ days = [\"thu\"], from = \"11:00\", to = \"12:00\" }], utc_offset = \"-07:00\" }",
        json!({ "assistantId": "open" }),
    );
    check(
        "[[routing.assistant]]\nassistant_id = \"open\"\nmatch = { windows = [{ days = [\"thu\"], from = \"12:00\", to = \"13:00\" }] }",
        json!({ "error": routing::DEFAULT_ASSISTANT_ERROR }),
    );
}
