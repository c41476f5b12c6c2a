//! A complete typed tool: `order_status` answers from the order number the caller said earlier in the call.
//!
//! Run: `cargo run --example order_status -- --listen 127.0.0.1:3000`, then point a Vapi tool named
//! `order_status` at `http://<host>/webhook`.

use serde::Deserialize;
use serde_json::json;
use switchboard::tools::{ToolContext, ToolRegistry};

#[derive(Deserialize)]
struct Args {
    /// The model may pass the number; otherwise it is taken from what the caller said.
    order: Option<String>,
}

fn main() -> std::process::ExitCode {
    let mut tools = ToolRegistry::new();
    tools.register("order_status", |args: Args, call: ToolContext| async move {
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
    });
    switchboard::cli::run_with(tools)
}
