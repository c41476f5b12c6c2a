//! Built-in context tools, for assistants whose authors write no code: recall what the caller said about a
//! topic, remember and read notes in call or conversation memory, summarize the conversation so far, and the
//! caller's details.
//!
//! Each reads only the call's context; none calls out. Names are stable, so an assistant's tool definitions
//! can refer to them: `recall`, `remember`, `read_note`, `summarize_call`, `caller_details`.

use call_state::Role;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ToolContext, ToolRegistry};

/// Most turns `recall` returns.
const RECALL_LIMIT: usize = 3;
/// Most turns `summarize_call` quotes.
const SUMMARY_TURNS: usize = 12;
/// Most characters `summarize_call` returns.
const SUMMARY_CHARS: usize = 2_000;

/// Where a note lives.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Scope {
    /// This call only.
    #[default]
    Call,
    /// Every call of the conversation (`/api/webhook/{conversation_id}`); the call when there is none.
    Conversation,
}

#[derive(Deserialize)]
struct RecallArgs {
    topic: String,
}

#[derive(Deserialize)]
struct RememberArgs {
    key: String,
    value: Value,
    #[serde(default)]
    scope: Scope,
}

#[derive(Deserialize)]
struct ReadArgs {
    key: String,
    #[serde(default)]
    scope: Option<Scope>,
}

#[derive(Deserialize)]
struct NoArgs {}

/// Adds the built-in tools to `registry`.
pub fn register(registry: &mut ToolRegistry) {
    registry.register("recall", |args: RecallArgs, context: ToolContext| async move {
        Ok::<_, String>(recall(&context, &args.topic))
    });
    registry.register("remember", |args: RememberArgs, context: ToolContext| async move {
        if args.key.trim().is_empty() {
            return Err("`key` must not be empty".to_string());
        }
        match args.scope {
            Scope::Call => context.remember(args.key.clone(), args.value),
            Scope::Conversation => context.remember_in_conversation(args.key.clone(), args.value),
        }
        Ok(format!("noted `{}`", args.key))
    });
    registry.register("read_note", |args: ReadArgs, context: ToolContext| async move {
        Ok::<_, String>(read_note(&context, &args.key, args.scope))
    });
    registry.register("summarize_call", |_: NoArgs, context: ToolContext| async move {
        Ok::<_, String>(summarize(&context))
    });
    registry.register("caller_details", |_: NoArgs, context: ToolContext| async move {
        Ok::<_, String>(caller_details(&context))
    });
    // They read the call and write its memory, nothing outside: a second run while the store cannot record
    // a claim does no harm.
    for name in ["recall", "remember", "read_note", "summarize_call", "caller_details"] {
        registry.set_contained(name, true);
    }
}

/// The caller's turns about `topic`, best match first, or a sentence saying there are none.
pub fn recall(context: &ToolContext, topic: &str) -> Value {
    let turns: Vec<&str> = context
        .call()
        .search(topic, RECALL_LIMIT * 4)
        .into_iter()
        .filter(|turn| turn.role == Role::User)
        .take(RECALL_LIMIT)
        .map(|turn| turn.text.as_str())
        .collect();
    if turns.is_empty() {
        json!({ "topic": topic, "found": false, "said": [] })
    } else {
        json!({ "topic": topic, "found": true, "said": turns })
    }
}

fn read_note(context: &ToolContext, key: &str, scope: Option<Scope>) -> Value {
    let call = context.call().memory().get(key);
    let conversation = context.conversation_memory().get(key);
    let value = match scope {
        Some(Scope::Call) => call,
        Some(Scope::Conversation) => conversation,
        // Without a scope, the call's own note wins over the conversation's.
        None => call.or(conversation),
    };
    json!({ "key": key, "found": value.is_some(), "value": value })
}

/// A bounded, extractive digest of the conversation: who the caller is and the latest turns, oldest first.
pub fn summarize(context: &ToolContext) -> Value {
    let call = context.call();
    let turns: Vec<String> = call
        .conversation()
        .iter()
        .filter(|turn| turn.role.is_speaker())
        .rev()
        .take(SUMMARY_TURNS)
        .map(|turn| {
            format!(
                "{}: {}",
                if turn.role == Role::User { "Caller" } else { "Assistant" },
                turn.text
            )
        })
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut transcript = turns.join("\n");
    if transcript.len() > SUMMARY_CHARS {
        let mut cut = transcript.len() - SUMMARY_CHARS;
        while !transcript.is_char_boundary(cut) {
            cut += 1;
        }
        transcript = format!("...{}", &transcript[cut..]);
    }
    let spoken = call.conversation().iter().filter(|turn| turn.role.is_speaker()).count();
    json!({
        "turns": spoken,
        "callerTurns": call.user_turns().count(),
        "toolCalls": call.tool_records().len(),
        "language": call.language(),
        "recent": transcript,
    })
}

/// Who is calling, on which number, since when.
pub fn caller_details(context: &ToolContext) -> Value {
    let call = context.call();
    json!({
        "callId": call.call_id(),
        "customerNumber": call.customer_number(),
        "customerName": call.customer_name(),
        "phoneNumber": call.phone_number(),
        "startedAtMs": call.started_at_ms(),
        "status": call.status(),
        "language": call.language(),
    })
}
