//! Conversation messages, in Vapi's own log form and in OpenAI chat form, and the tool calls inside them.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::lenient;

/// One entry of a conversation log in Vapi's form (`messages[]`): `system`, `bot`, `user`, `tool_calls` or
/// `tool_call_result`. Vapi sends no discriminator, so every role shares one struct.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationMessage {
    /// `system`, `bot`, `user`, `tool_calls` or `tool_call_result` (a free string on the wire).
    #[serde(default)]
    pub role: String,
    /// What was said (empty for tool calls).
    #[serde(default, deserialize_with = "lenient::text")]
    pub message: Option<String>,
    /// When the utterance started, epoch milliseconds.
    pub time: Option<f64>,
    /// When the utterance ended, epoch milliseconds.
    pub end_time: Option<f64>,
    /// Seconds since the call (or, after a squad transfer, the assistant) started.
    pub seconds_from_start: Option<f64>,
    /// Utterance length: milliseconds in 2025+ payloads, seconds in 2024 ones.
    pub duration: Option<f64>,
    /// The tool calls of a `tool_calls` entry.
    #[serde(
        default,
        deserialize_with = "lenient::skip_invalid",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tool_calls: Vec<ToolCall>,
    /// The tool call a `tool_call_result` answers.
    pub tool_call_id: Option<String>,
    /// The tool name of a `tool_call_result`.
    pub name: Option<String>,
    /// The result text of a `tool_call_result` (JSON values are kept as their JSON text).
    #[serde(default, deserialize_with = "lenient::text")]
    pub result: Option<String>,
}

/// One entry of a conversation in OpenAI chat form (`messagesOpenAIFormatted[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenAiMessage {
    /// `system`, `user`, `assistant`, `tool` or `function`.
    #[serde(default)]
    pub role: String,
    /// The text; absent on assistant tool-call entries. Content-part arrays are joined into one string.
    #[serde(default, deserialize_with = "lenient::text")]
    pub content: Option<String>,
    /// The tool calls of an assistant tool-call entry.
    #[serde(
        default,
        deserialize_with = "lenient::skip_invalid",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tool_calls: Vec<ToolCall>,
    /// The tool call a `tool` entry answers.
    pub tool_call_id: Option<String>,
}

/// A tool call the model made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The id every answer must echo as `toolCallId`.
    pub id: String,
    /// Always `function` today.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The function called and its arguments.
    pub function: FunctionCall,
}

/// A function name and its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The tool's function name.
    pub name: String,
    /// The arguments, whether they arrived as an object or as a JSON string.
    #[serde(default)]
    pub arguments: Arguments,
}

/// Tool-call arguments. The spec says a JSON string; real payloads send an object. Both parse into the same
/// value: a string holding JSON is decoded, any other string is kept as a string.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Arguments(pub Value);

impl<'de> Deserialize<'de> for Arguments {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Arguments(match Value::deserialize(deserializer)? {
            Value::String(text) if text.trim().is_empty() => Value::Object(Default::default()),
            Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
            other => other,
        }))
    }
}

impl Arguments {
    /// The arguments as a JSON object; `{}` when they are absent or `null`.
    pub fn into_value(self) -> Value {
        match self.0 {
            Value::Null => Value::Object(Default::default()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_accept_object_string_and_nothing() {
        let check = |wire: Value, expected: Value| {
            let call: FunctionCall = serde_json::from_value(wire.clone()).unwrap();
            assert_eq!(call.arguments.into_value(), expected, "{wire}");
        };
        check(json!({"name": "f", "arguments": {"a": 1}}), json!({"a": 1}));
        check(json!({"name": "f", "arguments": "{\"a\": 1}"}), json!({"a": 1}));
        check(json!({"name": "f", "arguments": ""}), json!({}));
        check(json!({"name": "f"}), json!({}));
        check(json!({"name": "f", "arguments": "not json"}), json!("not json"));
    }

    #[test]
    fn openai_content_accepts_missing_null_and_parts() {
        let check = |wire: Value, expected: Option<&str>| {
            let message: OpenAiMessage = serde_json::from_value(wire.clone()).unwrap();
            assert_eq!(message.content.as_deref(), expected, "{wire}");
        };
        check(json!({"role": "assistant", "tool_calls": []}), None);
        check(json!({"role": "user", "content": null}), None);
        check(json!({"role": "user", "content": "hi"}), Some("hi"));
        check(
            json!({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}),
            Some("ab"),
        );
    }
}
