//! The routing configuration as written: plain serde structs for the `[routing]` table of the server's TOML.
//!
//! Nothing here is checked beyond its shape: [`RoutingConfig::compile`](crate::RoutingConfig::compile) does all
//! validation and turns these into [`Routes`](crate::Routes). Lists are `Option`s so that an empty list (almost
//! certainly a mistake) can be told apart from a condition left out (match anything).

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};

/// The `[routing]` table: rules for `assistant-request`, `transfer-destination-request` and
/// `handoff-destination-request`, each list tried in order, first match wins.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// The default UTC offset of time windows, `±HH:MM` (default `+00:00`); a rule's `utc_offset` wins.
    pub utc_offset: Option<String>,
    /// How many of the caller's most recent turns keyword conditions look at (default 3).
    pub recent_turns: Option<usize>,
    /// `[[routing.assistant]]`: rules answering `assistant-request`.
    pub assistant: Vec<AssistantRule>,
    /// The answer when no assistant rule matches.
    pub assistant_fallback: Option<AssistantAnswer>,
    /// Spoken to the caller when no assistant rule matches and there is no fallback.
    pub assistant_error: Option<String>,
    /// `[[routing.transfer]]`: rules answering `transfer-destination-request`.
    pub transfer: Vec<TransferRule>,
    /// The error answered when no transfer rule matches (the transfer is not made).
    pub transfer_error: Option<String>,
    /// `[[routing.handoff]]`: rules answering `handoff-destination-request`.
    pub handoff: Vec<HandoffRule>,
    /// The error answered when no handoff rule matches (the handoff does not happen).
    pub handoff_error: Option<String>,
}

/// One `[[routing.assistant]]` rule: conditions on the incoming call and exactly one answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssistantRule {
    /// When the rule applies; left out, it matches every call.
    #[serde(rename = "match")]
    pub when: AssistantMatch,
    /// Answer with a saved assistant.
    pub assistant_id: Option<String>,
    /// Answer with an inline assistant read from this JSON file (relative to the config file's folder).
    pub assistant_file: Option<PathBuf>,
    /// Answer with a saved squad.
    pub squad_id: Option<String>,
    /// Transfer the call straight away (a `number` or `sip` destination).
    pub destination: Option<DestinationConfig>,
    /// Refuse the call with this spoken text.
    pub error: Option<String>,
    /// `assistantOverrides` sent with `assistant_id` or `assistant_file`.
    pub assistant_overrides: Option<Map<String, Value>>,
    /// `squadOverrides` sent with `squad_id`.
    pub squad_overrides: Option<Map<String, Value>>,
}

/// The answer of `assistant_fallback`: the answer fields of an [`AssistantRule`], without conditions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssistantAnswer {
    /// Answer with a saved assistant.
    pub assistant_id: Option<String>,
    /// Answer with an inline assistant read from this JSON file (relative to the config file's folder).
    pub assistant_file: Option<PathBuf>,
    /// Answer with a saved squad.
    pub squad_id: Option<String>,
    /// Transfer the call straight away (a `number` or `sip` destination).
    pub destination: Option<DestinationConfig>,
    /// Refuse the call with this spoken text.
    pub error: Option<String>,
    /// `assistantOverrides` sent with `assistant_id` or `assistant_file`.
    pub assistant_overrides: Option<Map<String, Value>>,
    /// `squadOverrides` sent with `squad_id`.
    pub squad_overrides: Option<Map<String, Value>>,
}

impl AssistantRule {
    /// The rule's answer fields.
    pub(crate) fn answer(&self) -> AssistantAnswer {
        AssistantAnswer {
            assistant_id: self.assistant_id.clone(),
            assistant_file: self.assistant_file.clone(),
            squad_id: self.squad_id.clone(),
            destination: self.destination.clone(),
            error: self.error.clone(),
            assistant_overrides: self.assistant_overrides.clone(),
            squad_overrides: self.squad_overrides.clone(),
        }
    }
}

/// Conditions on an incoming call; all given conditions must hold, a list holds when any entry does.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssistantMatch {
    /// The caller's number: exact (`"+14155550142"`) or a prefix ending in `*` (`"+1415*"`).
    pub caller: Option<Vec<String>>,
    /// The called phone number, by its Vapi id or its number.
    pub phone_number: Option<Vec<String>>,
    /// Weekly time windows, in `utc_offset` time.
    pub windows: Option<Vec<WindowConfig>>,
    /// The UTC offset of `windows`, `±HH:MM`; defaults to `routing.utc_offset`.
    pub utc_offset: Option<String>,
}

/// A weekly time window: `from` (inclusive) to `to` (exclusive) on each of `days`.
///
/// A window whose `to` is earlier than its `from` runs overnight: it starts on each of `days` and ends on the
/// next day. `to = "24:00"` means midnight at the end of the day.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// `mon` .. `sun` (or full names); left out, every day.
    #[serde(default)]
    pub days: Option<Vec<String>>,
    /// Start, `HH:MM`.
    pub from: String,
    /// End, `HH:MM` (or `24:00`).
    pub to: String,
}

/// One `[[routing.transfer]]` rule: conditions on the call so far and exactly one answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransferRule {
    /// When the rule applies; left out, it matches every request.
    #[serde(rename = "match")]
    pub when: ContextMatch,
    /// Where to transfer (`number`, `sip` or `assistant`); its `message` is spoken first (`""`: silent).
    pub destination: Option<DestinationConfig>,
    /// Refuse the transfer with this error.
    pub error: Option<String>,
}

/// One `[[routing.handoff]]` rule: conditions on the call so far and the handoff tool's parameters, and
/// exactly one answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HandoffRule {
    /// When the rule applies; left out, it matches every request.
    #[serde(rename = "match")]
    pub when: ContextMatch,
    /// The assistant or squad to hand off to.
    pub destination: Option<HandoffDestinationConfig>,
    /// Refuse the handoff with this error.
    pub error: Option<String>,
}

/// Conditions on a call in progress; all given conditions must hold, a list holds when any entry does.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContextMatch {
    /// The detected language: `es` matches `es`, `es-MX`, ...; `es-MX` matches only `es-MX` (any case).
    pub language: Option<Vec<String>>,
    /// Words or phrases, any case, in one of the caller's last `recent_turns` turns. Words match by English stem
    /// ("billing" matches "a bill", "cancel" matches "cancelled"); a phrase's words must come in order, side by side.
    pub keywords: Option<Vec<String>>,
    /// The caller's number: exact or a prefix ending in `*`.
    pub caller: Option<Vec<String>>,
    /// The call's phone number, by its Vapi id or its number.
    pub phone_number: Option<Vec<String>>,
    /// Handoff only: the tool's parameters. A string matches case-insensitively, a list matches any of its
    /// entries, `"*"` matches any value that is present, other values must be equal.
    pub parameters: Option<Map<String, Value>>,
}

/// The kind of a transfer destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DestinationKind {
    /// A phone number.
    Number,
    /// A SIP URI.
    Sip,
    /// Another assistant of the squad.
    Assistant,
}

/// A transfer destination as configured: `type` and the fields that kind uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    /// `number`, `sip` or `assistant`.
    #[serde(rename = "type")]
    pub kind: DestinationKind,
    /// The number, E.164 (`number`).
    pub number: Option<String>,
    /// An extension to dial (`number`).
    pub extension: Option<String>,
    /// The caller id to present (`number`, `sip`); templates such as `{{phoneNumber.number}}` pass through.
    #[serde(alias = "callerId")]
    pub caller_id: Option<String>,
    /// The SIP URI, `sip:` or `sips:` (`sip`).
    #[serde(alias = "sipUri")]
    pub sip_uri: Option<String>,
    /// The squad member to transfer to (`assistant`).
    #[serde(alias = "assistantName")]
    pub assistant_name: Option<String>,
    /// Spoken before transferring; `""` transfers silently.
    pub message: Option<String>,
    /// Further wire fields (`transferPlan`, `sipHeaders`, `description`, ...) sent as given.
    pub extra: Option<Map<String, Value>>,
}

/// The kind of a handoff destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandoffKind {
    /// An assistant, by id or by name.
    Assistant,
    /// A squad, by id.
    Squad,
}

/// A handoff destination as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffDestinationConfig {
    /// `assistant` or `squad`.
    #[serde(rename = "type")]
    pub kind: HandoffKind,
    /// A saved assistant (`assistant`; or give `assistant_name`).
    #[serde(alias = "assistantId")]
    pub assistant_id: Option<String>,
    /// A squad member by name (`assistant`; or give `assistant_id`).
    #[serde(alias = "assistantName")]
    pub assistant_name: Option<String>,
    /// A saved squad (`squad`).
    #[serde(alias = "squadId")]
    pub squad_id: Option<String>,
    /// The squad member to start with (`squad`).
    #[serde(alias = "entryAssistantName")]
    pub entry_assistant_name: Option<String>,
    /// `assistantOverrides` (`assistant`).
    pub assistant_overrides: Option<Map<String, Value>>,
    /// `squadOverrides` (`squad`).
    pub squad_overrides: Option<Map<String, Value>>,
    /// Further wire fields (`contextEngineeringPlan`, `variableExtractionPlan`, ...) sent as given.
    pub extra: Option<Map<String, Value>>,
}
