//! HTTP tools: a tool declared in config whose answer comes from any backend.
//!
//! Switchboard POSTs `{"toolCall": {id, name, arguments}, "call": <compact context>}` to the tool's URL, so
//! a stateless backend in any language gets the call's context with the call. A 2xx answer's
//! `{"result": ...}` (or `{"error": ...}`) field is used when present, otherwise the whole body; any other
//! status is the call's error.

use std::sync::Arc;

use call_state::Role;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Handler, ToolContext};

/// Turns of the conversation forwarded with each call, newest last.
const FORWARDED_TURNS: usize = 20;
/// Most bytes of a backend's answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// One `[[tools.http]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpToolConfig {
    /// The tool's function name, as the assistant calls it.
    pub name: String,
    /// Where to POST.
    pub url: String,
    /// How long to wait for the backend (default 3000 ms).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Acknowledge at once and record the result when it comes.
    #[serde(default, rename = "async")]
    pub is_async: bool,
    /// Extra headers, e.g. `{ authorization = "Bearer ..." }`.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

fn default_timeout_ms() -> u64 {
    3_000
}

impl HttpToolConfig {
    /// Checks the name, URL, timeout and headers.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("`name` must not be empty".into());
        }
        let url =
            reqwest::Url::parse(&self.url).map_err(|error| format!("`url` {:?} is not a URL: {error}", self.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`url` {:?} must be http or https", self.url));
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err(format!(
                "`timeout_ms` must be within 1..=60000, got {}",
                self.timeout_ms
            ));
        }
        for name in self.headers.keys() {
            reqwest::header::HeaderName::try_from(name.as_str())
                .map_err(|_| format!("header name {name:?} is not valid"))?;
        }
        Ok(())
    }
}

/// The compact context forwarded to HTTP tools.
pub fn compact_context(context: &ToolContext) -> Value {
    let call = context.call();
    let turns: Vec<Value> = call
        .conversation()
        .iter()
        .filter(|turn| turn.role.is_speaker())
        .rev()
        .take(FORWARDED_TURNS)
        .map(|turn| json!({ "role": if turn.role == Role::User { "user" } else { "assistant" }, "text": turn.text }))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    json!({
        "id": call.call_id(),
        "status": call.status(),
        "customer": { "number": call.customer_number(), "name": call.customer_name() },
        "phoneNumber": call.phone_number(),
        "language": call.language(),
        "conversation": turns,
        "memory": call.memory(),
        "conversationId": context.conversation_id(),
        "conversationMemory": context.conversation_memory(),
    })
}

pub(super) fn handler(config: HttpToolConfig, client: reqwest::Client) -> Handler {
    let config = Arc::new(config);
    Arc::new(move |arguments: Value, context: ToolContext| {
        let (config, client) = (Arc::clone(&config), client.clone());
        Box::pin(async move { call_backend(&config, &client, arguments, &context).await })
    })
}

async fn call_backend(
    config: &HttpToolConfig,
    client: &reqwest::Client,
    arguments: Value,
    context: &ToolContext,
) -> Result<String, String> {
    let body = json!({
        "toolCall": { "id": context.tool_call_id(), "name": config.name, "arguments": arguments },
        "call": compact_context(context),
    });
    let mut request = client.post(&config.url).json(&body);
    for (name, value) in &config.headers {
        request = request.header(name, value);
    }
    let name = &config.name;
    let response = request
        .send()
        .await
        .map_err(|error| format!("tool `{name}` backend unreachable: {error}"))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|error| format!("tool `{name}` backend answer unreadable: {error}"))?;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ANSWER_BYTES)]).into_owned();
    if !status.is_success() {
        return Err(format!(
            "tool `{name}` backend answered {}: {}",
            status.as_u16(),
            text.trim()
        ));
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(mut object)) if object.contains_key("error") && !object.contains_key("result") => Err(
            super::IntoToolResult::into_tool_result(object.remove("error").unwrap_or_default()),
        ),
        Ok(Value::Object(mut object)) if object.contains_key("result") => Ok(super::IntoToolResult::into_tool_result(
            object.remove("result").unwrap_or_default(),
        )),
        Ok(other) => Ok(super::IntoToolResult::into_tool_result(other)),
        Err(_) => Ok(text),
    }
}
