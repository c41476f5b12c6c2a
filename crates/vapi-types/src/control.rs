//! Live Call Control: the messages a server POSTs to a live call's `call.monitor.controlUrl`.
//!
//! Vapi documents `say`, `add-message`, `control`, `end-call` and `transfer`; Switchboard sends only
//! `add-message`, which puts a message into the call's conversation and, when `triggerResponseEnabled` is set,
//! has the assistant answer it at once.

use serde::{Deserialize, Serialize};

/// A control message, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ControlMessage {
    /// `add-message`: adds `message` to the conversation history.
    #[serde(rename_all = "camelCase")]
    AddMessage {
        /// The message added (Vapi's `OpenAIMessage`: a role and a content, nothing else).
        message: ControlChatMessage,
        /// `true`: the assistant answers at once; `false`: the message is added silently. Vapi's default is
        /// `true`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trigger_response_enabled: Option<bool>,
    },
}

/// The message of an `add-message` (Vapi's `OpenAIMessage`: `role` and `content` are its only fields, so a
/// `tool` message cannot name the tool call it answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlChatMessage {
    /// `assistant`, `function`, `user`, `system` or `tool`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ControlMessage {
    /// An `add-message` of a `system` message.
    pub fn add_system_message(content: impl Into<String>, trigger_response: bool) -> ControlMessage {
        ControlMessage::AddMessage {
            message: ControlChatMessage {
                role: "system".into(),
                content: content.into(),
            },
            trigger_response_enabled: Some(trigger_response),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn add_message_has_vapis_shape() {
        let message = ControlMessage::add_system_message("the order shipped", true);
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            json!({
                "type": "add-message",
                "message": {"role": "system", "content": "the order shipped"},
                "triggerResponseEnabled": true,
            })
        );
        let back: ControlMessage = serde_json::from_value(serde_json::to_value(&message).unwrap()).unwrap();
        assert_eq!(back, message);
    }

    #[test]
    fn the_control_url_is_read_from_the_call_and_a_malformed_monitor_is_absent() {
        let body = |monitor: serde_json::Value| {
            json!({"message": {"type": "hang", "call": {"id": "c1", "monitor": monitor}}}).to_string()
        };
        let parsed = crate::parse_body(
            body(json!({"listenUrl": "wss://x/listen", "controlUrl": "https://x.vapi.ai/c1/control"})).as_bytes(),
        )
        .unwrap();
        let monitor = parsed.common.call.unwrap().monitor.unwrap();
        assert_eq!(monitor.control_url.as_deref(), Some("https://x.vapi.ai/c1/control"));
        for malformed in [
            json!(5),
            json!("x"),
            json!([1]),
            json!({"controlUrl": {"nested": true}}),
        ] {
            let parsed = crate::parse_body(body(malformed.clone()).as_bytes()).unwrap();
            let control_url = parsed.common.call.unwrap().monitor.and_then(|m| m.control_url);
            assert!(
                control_url.is_none() || control_url.as_deref() == Some("{\"nested\":true}"),
                "{malformed}"
            );
        }
    }
}
