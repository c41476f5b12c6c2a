//! Config errors: each problem is reported at start-up naming the rule (counted from 0) and what was wrong.

use std::path::Path;

use crate::support::compile_in;

/// Compiles `text` in `dir` and asserts the exact error.
fn check_in(dir: &Path, text: &str, expected: &str) {
    match compile_in(text, dir) {
        Ok(_) => panic!("should not compile:\n{text}"),
        Err(error) => assert_eq!(error, expected, "\n{text}"),
    }
}

fn check(text: &str, expected: &str) {
    check_in(Path::new("."), text, expected);
}

const ASSISTANT: &str = "[[routing.assistant]]\nassistant_id = \"a\"\n";

#[test]
fn windows() {
    let window = |window: &str| {
        format!("{ASSISTANT}[[routing.assistant]]\nassistant_id = \"b\"\nmatch = {{ windows = [{window}] }}\n")
    };
    check(
        &window("{ from = \"25:00\", to = \"26:00\" }"),
        "2 problems in the routing config:\n  \
         - routing.assistant[1]: match.windows[0].from \"25:00\" is not a time (expected HH:MM, 00:00 to 23:59)\n  \
         - routing.assistant[1]: match.windows[0].to \"26:00\" is not a time (expected HH:MM, 00:00 to 24:00)",
    );
    check(
        &window("{ from = \"9:00\", to = \"17:00\" }"),
        "routing.assistant[1]: match.windows[0].from \"9:00\" is not a time (expected HH:MM, 00:00 to 23:59)",
    );
    check(
        &window("{ days = [\"mon\", \"funday\"], from = \"09:00\", to = \"17:00\" }"),
        "routing.assistant[1]: match.windows[0].days: \"funday\" is not a day (expected mon, tue, wed, thu, fri, sat or sun)",
    );
    check(
        &window("{ days = [], from = \"09:00\", to = \"17:00\" }"),
        "routing.assistant[1]: match.windows[0].days is empty (leave it out for every day)",
    );
    check(
        &window("{ from = \"09:00\", to = \"17:00\" }, { from = \"12:00\", to = \"12:00\" }"),
        "routing.assistant[1]: match.windows[1] is empty (`from` equals `to`)",
    );
    check(
        &format!("{ASSISTANT}match = {{ windows = [] }}\n"),
        "routing.assistant[0]: match.windows is empty (it would never match; leave it out to match any)",
    );
    check(
        &window("{ from = \"09:00\" }"),
        "toml: TOML parse error at line 5, column 22\n  |\n5 | match = { windows = [{ from = \"09:00\" }] }\n  |                      ^^^^^^^^^^^^^^^^^^\nmissing field `to`\n",
    );
}

#[test]
fn offsets() {
    check(
        &format!("{ASSISTANT}match = {{ utc_offset = \"EST\" }}\n"),
        "routing.assistant[0]: utc_offset \"EST\" is not an offset (expected ±HH:MM within ±14:00, e.g. \"-05:00\")",
    );
    check(
        &format!("[routing]\nutc_offset = \"+15:00\"\n{ASSISTANT}"),
        "routing: utc_offset \"+15:00\" is not an offset (expected ±HH:MM within ±14:00, e.g. \"-05:00\")",
    );
}

#[test]
fn empty_and_malformed_match_lists() {
    check(
        &format!("{ASSISTANT}match = {{ caller = [] }}\n"),
        "routing.assistant[0]: match.caller is empty (it would never match; leave it out to match any)",
    );
    check(
        &format!("{ASSISTANT}match = {{ caller = [\"+1*415\"] }}\n"),
        "routing.assistant[0]: match.caller[0] \"+1*415\" has a `*` before its end (expected a number or a prefix ending in `*`)",
    );
    check(
        &format!("{ASSISTANT}match = {{ caller = [\" \"] }}\n"),
        "routing.assistant[0]: match.caller[0] is empty",
    );
    check(
        &format!("{ASSISTANT}match = {{ phone_number = [] }}\n"),
        "routing.assistant[0]: match.phone_number is empty (it would never match; leave it out to match any)",
    );
    let transfer = "[[routing.transfer]]\nerror = \"No.\"\n";
    check(
        &format!("{transfer}match = {{ keywords = [\"billing\", \"?!\"] }}\n"),
        "routing.transfer[0]: match.keywords[1] \"?!\" has no letters or digits",
    );
    check(
        &format!("{transfer}match = {{ language = [] }}\n"),
        "routing.transfer[0]: match.language is empty (it would never match; leave it out to match any)",
    );
    check(
        &format!("{transfer}match = {{ language = [\"en us\"] }}\n"),
        "routing.transfer[0]: match.language[0] \"en us\" is not a language code (expected e.g. \"es\" or \"es-MX\")",
    );
    check(
        &format!("{transfer}match = {{ parameters = {{ a = 1 }} }}\n"),
        "routing.transfer[0]: match.parameters only applies to handoff rules",
    );
    let handoff = "[[routing.handoff]]\nerror = \"No.\"\n";
    check(
        &format!("{handoff}match = {{ parameters = {{ a = [] }} }}\n"),
        "routing.handoff[0]: match.parameters.a is an empty list or a table (expected a value, a list of values or \"*\")",
    );
    check(
        &format!("{handoff}match = {{ parameters = {{}} }}\n"),
        "routing.handoff[0]: match.parameters is empty (it would match any parameters; leave it out)",
    );
    check(
        "[routing]\nrecent_turns = 0\n",
        "routing: recent_turns is 0 (keywords would never match; expected 1 or more)",
    );
}

#[test]
fn answers_zero_or_two() {
    check(
        "[[routing.assistant]]\nmatch = { caller = [\"+1*\"] }\n",
        "routing.assistant[0]: has no answer (set one of assistant_id, assistant_file, squad_id, destination, error)",
    );
    check(
        "[[routing.assistant]]\nassistant_id = \"a\"\nsquad_id = \"s\"\n",
        "routing.assistant[0]: has 2 answers (assistant_id, squad_id); set exactly one",
    );
    check(
        "[routing.assistant_fallback]\nerror = \"x\"\ndestination = { type = \"number\", number = \"+14155552671\" }\n",
        "routing.assistant_fallback: has 2 answers (destination, error); set exactly one",
    );
    check(
        "[[routing.transfer]]\n",
        "routing.transfer[0]: has no answer (set one of destination, error)",
    );
    check(
        "[[routing.handoff]]\nerror = \"x\"\ndestination = { type = \"squad\", squad_id = \"s\" }\n",
        "routing.handoff[0]: has 2 answers (destination, error); set exactly one",
    );
    check(
        "[[routing.assistant]]\nsquad_id = \"s\"\nassistant_overrides = { a = 1 }\n",
        "routing.assistant[0]: assistant_overrides only applies with assistant_id or assistant_file",
    );
    check(
        "[[routing.assistant]]\nassistant_id = \" \"\n",
        "routing.assistant[0]: assistant_id is empty",
    );
    check(
        "[[routing.assistant]]\nassistant_id = \"a\"\nassistnat_overrides = {}\n",
        "toml: TOML parse error at line 3, column 1\n  |\n3 | assistnat_overrides = {}\n  | ^^^^^^^^^^^^^^^^^^^\nunknown field `assistnat_overrides`, expected one of `match`, `assistant_id`, `assistant_file`, `squad_id`, `destination`, `error`, `assistant_overrides`, `squad_overrides`\n",
    );
}

#[test]
fn empty_error_texts() {
    let unspeakable = "is empty (Vapi would say \"Unknown Error. Contact Support.\"; expected a sentence)";
    check(
        "[[routing.assistant]]\nerror = \"\"\n",
        &format!("routing.assistant[0]: error {unspeakable}"),
    );
    check(
        "[routing]\nassistant_error = \"  \"\n",
        &format!("routing: assistant_error {unspeakable}"),
    );
    check(
        "[routing]\ntransfer_error = \"\"\n",
        &format!("routing: transfer_error {unspeakable}"),
    );
    check(
        "[routing]\nhandoff_error = \"\"\n",
        &format!("routing: handoff_error {unspeakable}"),
    );
    check(
        "[[routing.transfer]]\nerror = \"\"\n",
        &format!("routing.transfer[0]: error {unspeakable}"),
    );
    check(
        "[routing]\nassistant_error = \"Closed.\"\n[routing.assistant_fallback]\nassistant_id = \"a\"\n",
        "routing: both assistant_fallback and assistant_error are set (assistant_error is only used without a fallback)",
    );
}

#[test]
fn destinations() {
    let assistant = |destination: &str| format!("[[routing.assistant]]\ndestination = {destination}\n");
    let transfer = |destination: &str| format!("[[routing.transfer]]\ndestination = {destination}\n");
    check(
        &assistant("{ type = \"number\", number = \"4155552671\" }"),
        "routing.assistant[0]: destination.number \"4155552671\" is not an E.164 number (expected + and 2 to 15 digits, e.g. \"+14155552671\")",
    );
    check(
        &transfer("{ type = \"number\", number = \"+1 415 555 2671\" }"),
        "routing.transfer[0]: destination.number \"+1 415 555 2671\" is not an E.164 number (expected + and 2 to 15 digits, e.g. \"+14155552671\")",
    );
    check(
        &transfer("{ type = \"number\" }"),
        "routing.transfer[0]: destination.number is missing (a number destination needs one)",
    );
    check(
        &transfer("{ type = \"number\", number = \"+14155552671\", sip_uri = \"sip:a@b\" }"),
        "routing.transfer[0]: destination.sip_uri does not apply to a number destination",
    );
    check(
        &transfer("{ type = \"sip\", sip_uri = \"https://example.com\" }"),
        "routing.transfer[0]: destination.sip_uri \"https://example.com\" is not a SIP URI (expected e.g. \"sip:support@example.com\")",
    );
    check(
        &transfer("{ type = \"assistant\" }"),
        "routing.transfer[0]: destination.assistant_name is missing (an assistant destination needs one)",
    );
    check(
        &assistant("{ type = \"assistant\", assistant_name = \"Billing\" }"),
        "routing.assistant[0]: destination type \"assistant\" is not allowed here (expected \"number\" or \"sip\")",
    );
    check(
        &transfer("{ type = \"number\", number = \"+14155552671\", extra = { number = \"+1\" } }"),
        "routing.transfer[0]: destination.extra.number repeats a field of the destination itself; set it there",
    );
    let handoff = |destination: &str| format!("[[routing.handoff]]\ndestination = {destination}\n");
    check(
        &handoff("{ type = \"assistant\", assistant_id = \"a\", assistant_name = \"b\" }"),
        "routing.handoff[0]: an assistant handoff destination needs exactly one of destination.assistant_id, destination.assistant_name",
    );
    check(
        &handoff("{ type = \"squad\" }"),
        "routing.handoff[0]: destination.squad_id is missing (a squad handoff destination needs one)",
    );
    check(
        &handoff("{ type = \"squad\", squad_id = \"s\", assistant_name = \"b\" }"),
        "routing.handoff[0]: destination.assistant_name does not apply to a squad handoff destination",
    );
}

#[test]
fn assistant_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rule = |file: &str| format!("[[routing.assistant]]\nassistant_file = \"{file}\"\n");
    let missing = dir.path().join("missing.json");
    check_in(
        dir.path(),
        &rule("missing.json"),
        &format!(
            "routing.assistant[0]: cannot read assistant_file {}: No such file or directory (os error 2)",
            missing.display()
        ),
    );
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\n  \"model\": {\n    \"provider\": \"openai\",\n  }\n}\n").expect("write");
    check_in(
        dir.path(),
        &rule("broken.json"),
        &format!(
            "routing.assistant[0]: assistant_file {} is not valid JSON: trailing comma at line 4 column 3",
            broken.display()
        ),
    );
    let array = dir.path().join("array.json");
    std::fs::write(&array, "[]").expect("write");
    check_in(
        dir.path(),
        &rule("array.json"),
        &format!(
            "routing.assistant[0]: assistant_file {} holds an array (expected a JSON object: an inline assistant)",
            array.display()
        ),
    );
}

#[test]
fn several_problems_are_all_reported_in_order() {
    check(
        "[[routing.assistant]]\nerror = \"\"\n[[routing.transfer]]\n[[routing.handoff]]\ndestination = { type = \"squad\" }\n",
        "3 problems in the routing config:\n  \
         - routing.assistant[0]: error is empty (Vapi would say \"Unknown Error. Contact Support.\"; expected a sentence)\n  \
         - routing.transfer[0]: has no answer (set one of destination, error)\n  \
         - routing.handoff[0]: destination.squad_id is missing (a squad handoff destination needs one)",
    );
}
