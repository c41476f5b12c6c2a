//! [`Routes`]: compiled rules, and the three answers they give.

use call_state::{CallState, Role};
use serde_json::Value;
use vapi_types::response::{AssistantRequestResponse, HandoffDestinationResponse, TransferDestinationResponse};
use vapi_types::{ServerMessage, TurnRole};

use crate::rules::{Conditions, Facts, words};

/// One compiled rule: its conditions and its prepared answer.
#[derive(Debug, Clone)]
pub(crate) struct Rule<A> {
    pub(crate) when: Conditions,
    pub(crate) answer: A,
}

/// Compiled routing rules: checked, with answers prepared, so that answering is a scan of the rules and a
/// clone of the winner's answer. Built by [`RoutingConfig::compile`](crate::RoutingConfig::compile).
#[derive(Debug, Clone)]
pub struct Routes {
    pub(crate) assistant: Vec<Rule<AssistantRequestResponse>>,
    pub(crate) assistant_default: AssistantRequestResponse,
    pub(crate) transfer: Vec<Rule<TransferDestinationResponse>>,
    pub(crate) transfer_default: TransferDestinationResponse,
    pub(crate) handoff: Vec<Rule<HandoffDestinationResponse>>,
    pub(crate) handoff_default: HandoffDestinationResponse,
    pub(crate) recent_turns: usize,
}

impl Default for Routes {
    /// No rules: every assistant request gets [`DEFAULT_ASSISTANT_ERROR`](crate::DEFAULT_ASSISTANT_ERROR) spoken,
    /// every transfer and handoff its default error. The same as compiling an empty [`RoutingConfig`](crate::RoutingConfig).
    fn default() -> Self {
        let error = |text: &str| Some(text.to_owned());
        Routes {
            assistant: Vec::new(),
            assistant_default: AssistantRequestResponse {
                error: error(crate::DEFAULT_ASSISTANT_ERROR),
                ..Default::default()
            },
            transfer: Vec::new(),
            transfer_default: TransferDestinationResponse {
                error: error(crate::DEFAULT_TRANSFER_ERROR),
                ..Default::default()
            },
            handoff: Vec::new(),
            handoff_default: HandoffDestinationResponse {
                error: error(crate::DEFAULT_HANDOFF_ERROR),
                ..Default::default()
            },
            recent_turns: crate::DEFAULT_RECENT_TURNS,
        }
    }
}

impl Routes {
    /// Answers `assistant-request`: the first rule matching the caller (`customer.number`), the called phone
    /// number (`phoneNumber.id`, `phoneNumber.number` or `call.phoneNumberId`) and `now_ms` (epoch
    /// milliseconds), else the fallback, else the spoken error. Never an empty error.
    pub fn assistant(&self, message: &ServerMessage, now_ms: i64) -> AssistantRequestResponse {
        let facts = Facts {
            now_ms: Some(now_ms),
            ..call_facts(message, None)
        };
        first(&self.assistant, &facts)
            .unwrap_or(&self.assistant_default)
            .clone()
    }

    /// The index of the assistant rule that [`Routes::assistant`] would answer with (`None`: the default).
    pub fn assistant_rule(&self, message: &ServerMessage, now_ms: i64) -> Option<usize> {
        let facts = Facts {
            now_ms: Some(now_ms),
            ..call_facts(message, None)
        };
        self.assistant.iter().position(|rule| rule.when.matches(&facts))
    }

    /// Answers `transfer-destination-request` from the call so far: its detected language, the caller's
    /// recent turns and number. Without `context`, the turns come from the message's artifact and the
    /// language is unknown. No match answers the configured error (no transfer).
    pub fn transfer(&self, message: &ServerMessage, context: Option<&CallState>) -> TransferDestinationResponse {
        let facts = self.context_facts(&self.transfer, message, context, None);
        first(&self.transfer, &facts).unwrap_or(&self.transfer_default).clone()
    }

    /// Answers `handoff-destination-request` like [`Routes::transfer`], with the handoff tool's `parameters`
    /// as a further condition. No match answers the configured error (no handoff).
    pub fn handoff(
        &self,
        message: &ServerMessage,
        parameters: &Value,
        context: Option<&CallState>,
    ) -> HandoffDestinationResponse {
        let facts = self.context_facts(&self.handoff, message, context, Some(parameters));
        first(&self.handoff, &facts).unwrap_or(&self.handoff_default).clone()
    }

    fn context_facts<'a, A>(
        &self,
        rules: &[Rule<A>],
        message: &'a ServerMessage,
        context: Option<&'a CallState>,
        parameters: Option<&'a Value>,
    ) -> Facts<'a> {
        let mut facts = call_facts(message, context);
        facts.language = context.and_then(CallState::language);
        facts.parameters = parameters;
        if rules.iter().any(|rule| rule.when.needs_turns()) {
            facts.recent_turns = recent_user_turns(message, context, self.recent_turns);
        }
        facts
    }
}

fn first<'r, A>(rules: &'r [Rule<A>], facts: &Facts<'_>) -> Option<&'r A> {
    rules
        .iter()
        .find(|rule| rule.when.matches(facts))
        .map(|rule| &rule.answer)
}

/// The caller and called number, from the message first and the call's state second.
fn call_facts<'a>(message: &'a ServerMessage, context: Option<&'a CallState>) -> Facts<'a> {
    let common = &message.common;
    let caller = common
        .customer()
        .and_then(|customer| customer.number.as_deref())
        .or_else(|| context.and_then(CallState::customer_number));
    let phone = common.phone_number.as_ref();
    let called = [
        phone.and_then(|phone| phone.id.as_deref()),
        phone.and_then(|phone| phone.number.as_deref()),
        common.call.as_ref().and_then(|call| call.phone_number_id.as_deref()),
        context.and_then(CallState::phone_number_id),
        context.and_then(CallState::phone_number),
    ]
    .into_iter()
    .flatten()
    .collect();
    Facts {
        caller,
        called,
        ..Facts::default()
    }
}

/// The caller's last `count` turns as words: from the call's state, else from the conversation the message carries.
fn recent_user_turns(message: &ServerMessage, context: Option<&CallState>, count: usize) -> Vec<Vec<String>> {
    match context {
        Some(state) => state
            .conversation()
            .iter()
            .rev()
            .filter(|turn| turn.role == Role::User)
            .take(count)
            .map(|turn| words(&turn.text))
            .collect(),
        None => message
            .conversation()
            .map(|conversation| {
                conversation
                    .turns
                    .iter()
                    .rev()
                    .filter(|turn| turn.role == TurnRole::User)
                    .take(count)
                    .map(|turn| words(&turn.text))
                    .collect()
            })
            .unwrap_or_default(),
    }
}
