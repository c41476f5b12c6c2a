//! A complete typed tool: `order_status` answers from the order number the caller said earlier in the call.
//!
//! Run: `cargo run --example order_status -- --listen 127.0.0.1:3000`. Its Vapi assistant, with the tool's
//! definition derived from `Args` (doc comments included) beside the built-in tools:
//! `cargo run --example order_status -- vapi-assistant --url https://<host>`.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use switchboard::tools::{ToolContext, ToolRegistry};

#[derive(Deserialize, JsonSchema)]
struct Args {
    /// The order number, if the caller gave one; otherwise the last number of five or more digits the caller
    /// said is used.
    order: Option<String>,
}

fn main() -> std::process::ExitCode {
    let mut tools = ToolRegistry::new();
    tools.define(
        "order_status",
        "Where the caller's order is and when it arrives.",
        |args: Args, call: ToolContext| async move {
            let said = call
                .call()
                .user_turns()
                .flat_map(|t| t.text.split(|c: char| !c.is_ascii_digit()));
            let order = args
                .order
                .or_else(|| said.filter(|d| d.len() >= 5).last().map(String::from));
            let order = order.ok_or("ask the caller for their order number")?;
            call.remember("order", json!(order));
            Ok::<_, &str>(json!({ "order": order, "status": "shipped", "eta": "tomorrow" }))
        },
    );
    switchboard::cli::run_with(tools)
}
