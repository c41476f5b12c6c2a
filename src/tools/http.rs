//! HTTP tools: a tool declared in config whose answer comes from any backend.
//!
//! Switchboard POSTs `{"toolCall": {id, name, arguments}, "call": <compact context>}` to the tool's URL, so
//! a stateless backend in any language gets the call's context with the call. A 2xx answer's
//! `{"result": ...}` (or `{"error": ...}`) field is used when present, otherwise the whole body; any other
//! status is the call's error.
//!
//! The request carries the tool call id as an `Idempotency-Key` header: Switchboard runs each tool call once,
//! and a backend that books or charges can dedup on the key too (a run cut at its deadline may still have
//! reached the backend). A semaphore shared by every HTTP tool caps the requests in flight; the answer is read
//! as it streams in and refused once it passes [`MAX_ANSWER_BYTES`].

use std::sync::Arc;

use call_state::Role;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::{Handler, ToolContext};

/// Turns of the conversation forwarded with each call, newest last.
const FORWARDED_TURNS: usize = 20;
/// Most bytes of a backend's answer read: a longer answer is the call's error.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// One `[[tools.http]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpToolConfig {
    /// The tool's function name, as the assistant calls it.
    pub name: String,
    /// Where to POST.
    pub url: String,
    /// How long to wait for the backend; unset, `[tools] deadline_ms`, which it may not exceed.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Acknowledge at once and record the result when it comes.
    #[serde(default, rename = "async")]
    pub is_async: bool,
    /// Extra headers, e.g. `{ authorization = "Bearer ..." }`.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// What the tool does and when to call it, as the model is told (`switchboard vapi-assistant`).
    #[serde(default)]
    pub description: Option<String>,
    /// The JSON Schema of the tool's arguments, an object schema (`{ type = "object", properties = {...},
    /// required = [...] }`); unset, the model chooses the arguments.
    #[serde(default)]
    pub parameters: Option<Value>,
}

impl HttpToolConfig {
    /// Checks the name, URL, timeout and headers.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("`name` must not be empty".into());
        }
        if !super::schema::callable_name(&self.name) {
            return Err(format!(
                "`name` {:?} must be 1 to 64 letters, digits, `_` or `-`: a model cannot call any other name",
                self.name
            ));
        }
        let url =
            reqwest::Url::parse(&self.url).map_err(|error| format!("`url` {:?} is not a URL: {error}", self.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`url` {:?} must be http or https", self.url));
        }
        if let Some(timeout_ms) = self.timeout_ms
            && !(1..super::VAPI_WAIT_MS).contains(&timeout_ms)
        {
            return Err(format!(
                "`timeout_ms` must be within 1..{}, got {timeout_ms}",
                super::VAPI_WAIT_MS
            ));
        }
        for name in self.headers.keys() {
            reqwest::header::HeaderName::try_from(name.as_str())
                .map_err(|_| format!("header name {name:?} is not valid"))?;
        }
        if let Some(parameters) = &self.parameters {
            super::schema::check_parameters(parameters)?;
        }
        Ok(())
    }

    /// The description the model is given.
    pub fn description(&self) -> String {
        self.description
            .clone()
            .unwrap_or_else(|| format!("The `{}` tool.", self.name))
    }

    /// The JSON Schema of the arguments the model is given.
    pub fn parameters(&self) -> Value {
        self.parameters.clone().unwrap_or_else(super::schema::open_object)
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

/// The tool's handler. `permits` caps the backend requests in flight over every HTTP tool.
pub(super) fn handler(config: HttpToolConfig, client: reqwest::Client, permits: Arc<Semaphore>) -> Handler {
    let config = Arc::new(config);
    Arc::new(move |arguments: Value, context: ToolContext| {
        let (config, client, permits) = (Arc::clone(&config), client.clone(), Arc::clone(&permits));
        Box::pin(async move {
            // Never closed: acquiring only waits, and the caller's deadline bounds the wait.
            let _permit = permits.acquire_owned().await.ok();
            call_backend(&config, &client, arguments, &context).await
        })
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
    // An id that cannot be a header value (control characters) is not sent rather than failing the call.
    if let Some(id) = context
        .tool_call_id()
        .and_then(|id| reqwest::header::HeaderValue::from_str(id).ok())
    {
        request = request.header("idempotency-key", id);
    }
    let name = &config.name;
    let mut response = request
        .send()
        .await
        .map_err(|error| format!("tool `{name}` backend unreachable: {error}"))?;
    let status = response.status();
    let too_large = || format!("tool `{name}` backend answer too large: more than {MAX_ANSWER_BYTES} bytes");
    if response
        .content_length()
        .is_some_and(|length| length > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_large());
    }
    // Read as it streams, so a huge or endless answer costs at most the cap.
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| format!("tool `{name}` backend answer unreadable: {error}"))?
    {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
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
