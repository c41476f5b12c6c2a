//! Helpers: config from TOML, messages from JSON, clock times from weekdays.

use std::path::Path;

use routing::{Routes, RoutingConfig};
use serde::Deserialize;
use serde_json::Value;
use vapi_types::ServerMessage;

/// The server's config file as far as routing is concerned: routing is its `[routing]` table.
#[derive(Deserialize)]
struct ServerConfig {
    routing: RoutingConfig,
}

/// Parses `text` as a server config file and compiles its `[routing]` table against `dir`.
pub(crate) fn compile_in(text: &str, dir: &Path) -> Result<Routes, String> {
    let config: ServerConfig = toml::from_str(text).map_err(|error| format!("toml: {error}"))?;
    config.routing.compile(dir).map_err(|error| error.to_string())
}

/// [`compile_in`] the current folder, panicking with the error on failure.
pub(crate) fn routes(text: &str) -> Routes {
    compile_in(text, Path::new(".")).unwrap_or_else(|error| panic!("config should compile: {error}\n{text}"))
}

/// Parses a webhook body `{"message": message}`.
pub(crate) fn message(message: Value) -> ServerMessage {
    let body = serde_json::json!({ "message": message });
    vapi_types::parse_body(body.to_string().as_bytes()).expect("test message parses")
}

/// Monday 2024-07-22 00:00 UTC, epoch milliseconds.
const MONDAY_UTC_MS: i64 = 1_721_606_400_000;

/// Epoch milliseconds of `day` (`mon`..`sun`) of the week of 2024-07-22 at `time` (`HH:MM`) in local time
/// `offset_minutes` east of UTC.
pub(crate) fn at(day: &str, time: &str, offset_minutes: i64) -> i64 {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let day = days.iter().position(|name| *name == day).expect("a day") as i64;
    let (hours, minutes) = time.split_once(':').expect("HH:MM");
    let minutes = hours.parse::<i64>().expect("hours") * 60 + minutes.parse::<i64>().expect("minutes");
    MONDAY_UTC_MS + (day * 24 * 60 + minutes - offset_minutes) * 60_000
}

/// Serializes an answer to its wire JSON.
pub(crate) fn wire(answer: &impl serde::Serialize) -> Value {
    serde_json::to_value(answer).expect("answers serialize")
}

/// Reads a response fixture's `body` (its `_source` note left out).
pub(crate) fn fixture_body(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/vapi/responses")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut value: Value = serde_json::from_str(&text).expect("fixture is JSON");
    value["body"].take()
}
