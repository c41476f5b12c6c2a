//! Tools: what answers `tool-calls` (and the legacy `function-call`), with the call's context in hand.
//!
//! A tool is an async handler registered by name in a [`ToolRegistry`]: Rust tools with typed arguments
//! ([`ToolRegistry::register`]), HTTP tools declared in config that forward the call and a compact context to
//! any backend ([`http`]), and built-in context tools ([`builtin`]). Every handler receives a [`ToolContext`]:
//! a read-only view of the call's state and its conversation's memory, through which it may also write memory.
//!
//! [`run_tool_calls`] runs every call of one message in parallel, each on its own task under a deadline, so an
//! unknown tool, bad arguments, an error, a panic or a timeout becomes an `error` result for that call only.
//! The edge prepares the calls with [`prepare_tool_calls`] and hands each run to the call runtime, which runs
//! it once per tool call id however often Vapi delivers it. `[tools] deadline_ms` bounds every tool, and
//! backend requests are capped per message and in total, so no tool outlives Vapi's wait.

pub mod builtin;
pub mod http;
pub mod schema;

pub use schema::{ToolDefinition, parameters_of};

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use call_state::CallState;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Semaphore;
use vapi_types::ToolCallResult;

/// A boxed future, as tool handlers return them.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A tool's outcome: the `result` text, or the `error` text Vapi adds to the conversation.
pub type ToolOutcome = Result<String, String>;

type Handler = Arc<dyn Fn(Value, ToolContext) -> BoxFuture<ToolOutcome> + Send + Sync>;

/// How tools run, from the `[tools]` table of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolsConfig {
    /// How long a tool may take before its call is answered with an error (default 5000 ms). It bounds every
    /// tool, and must stay below Vapi's 20 s wait for an answer.
    pub deadline_ms: u64,
    /// Whether the built-in context tools are registered (default true).
    pub builtin: bool,
    /// HTTP backend requests of one message in flight at most (default 16); the rest queue.
    pub max_concurrent_per_message: usize,
    /// HTTP backend requests in flight at most, over all messages (default 256); the rest queue.
    pub max_concurrent: usize,
    /// Tools served by an HTTP backend.
    pub http: Vec<http::HttpToolConfig>,
}

impl Default for ToolsConfig {
    fn default() -> Self {
        ToolsConfig {
            deadline_ms: 5_000,
            builtin: true,
            max_concurrent_per_message: 16,
            max_concurrent: 256,
            http: Vec::new(),
        }
    }
}

impl ToolsConfig {
    /// Checks ranges, names and URLs.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..VAPI_WAIT_MS).contains(&self.deadline_ms) {
            return Err(format!(
                "tools.deadline_ms must be within 1..{VAPI_WAIT_MS} (Vapi waits {} s for a tool's answer), got {}",
                VAPI_WAIT_MS / 1000,
                self.deadline_ms
            ));
        }
        for (key, value) in [
            ("max_concurrent_per_message", self.max_concurrent_per_message),
            ("max_concurrent", self.max_concurrent),
        ] {
            if !(1..=100_000).contains(&value) {
                return Err(format!("tools.{key} must be within 1..=100000, got {value}"));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (index, tool) in self.http.iter().enumerate() {
            tool.validate()
                .map_err(|error| format!("tools.http[{index}]: {error}"))?;
            if let Some(timeout_ms) = tool.timeout_ms.filter(|timeout_ms| *timeout_ms > self.deadline_ms) {
                return Err(format!(
                    "tools.http[{index}].timeout_ms ({timeout_ms}) is above tools.deadline_ms ({}), which bounds \
                     every tool: lower the tool's timeout_ms or raise tools.deadline_ms (below {VAPI_WAIT_MS})",
                    self.deadline_ms
                ));
            }
            if !names.insert(tool.name.as_str()) {
                return Err(format!("tools.http[{index}]: tool `{}` is declared twice", tool.name));
            }
        }
        Ok(())
    }
}

/// How long Vapi waits for a tool's answer, in milliseconds: no deadline may reach it.
pub const VAPI_WAIT_MS: u64 = 20_000;

/// A memory write requested by a tool, applied after the tool returns.
#[derive(Debug, Clone, PartialEq)]
pub enum MemoryWrite {
    /// Set (or, with `None`, delete) a key of the call's memory.
    Call(String, Option<Value>),
    /// Set (or, with `None`, delete) a key of the conversation's memory.
    Conversation(String, Option<Value>),
}

/// What a tool sees of its call: the state as of the tool call (every event acknowledged before it), the
/// conversation's shared memory, and a place to write memory. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct ToolContext {
    inner: Arc<ContextInner>,
    tool_call_id: Option<Arc<str>>,
    writes: Arc<Mutex<Vec<MemoryWrite>>>,
}

#[derive(Debug)]
struct ContextInner {
    /// Shared with the call's actor: the state as of the tool call, never copied for it.
    state: Arc<CallState>,
    conversation_id: Option<String>,
    conversation_memory: BTreeMap<String, Value>,
}

impl ToolContext {
    /// A context over a call's state (owned, or shared with the call's actor) and its conversation's memory.
    pub fn new(
        state: impl Into<Arc<CallState>>,
        conversation_id: Option<String>,
        conversation_memory: BTreeMap<String, Value>,
    ) -> ToolContext {
        ToolContext {
            inner: Arc::new(ContextInner {
                state: state.into(),
                conversation_id,
                conversation_memory,
            }),
            tool_call_id: None,
            writes: Arc::default(),
        }
    }

    /// The same view for one tool call, with its own, empty list of writes.
    fn fork(&self, tool_call_id: &str) -> ToolContext {
        ToolContext {
            inner: Arc::clone(&self.inner),
            tool_call_id: Some(tool_call_id.into()),
            writes: Arc::default(),
        }
    }

    /// The id of the tool call being answered.
    pub fn tool_call_id(&self) -> Option<&str> {
        self.tool_call_id.as_deref()
    }

    /// The call: metadata, conversation so far, earlier tool calls and results, call memory.
    pub fn call(&self) -> &CallState {
        &self.inner.state
    }

    /// The conversation the call belongs to (`/api/webhook/{conversation_id}`), if any.
    pub fn conversation_id(&self) -> Option<&str> {
        self.inner.conversation_id.as_deref()
    }

    /// The memory shared by the conversation's calls.
    pub fn conversation_memory(&self) -> &BTreeMap<String, Value> {
        &self.inner.conversation_memory
    }

    /// Sets a key of the call's memory (applied when the tool returns, through the call's actor).
    pub fn remember(&self, key: impl Into<String>, value: Value) {
        self.write(MemoryWrite::Call(key.into(), Some(value)));
    }

    /// Sets a key of the conversation's memory; without a conversation, of the call's memory.
    pub fn remember_in_conversation(&self, key: impl Into<String>, value: Value) {
        let key = key.into();
        self.write(match self.inner.conversation_id {
            Some(_) => MemoryWrite::Conversation(key, Some(value)),
            None => MemoryWrite::Call(key, Some(value)),
        });
    }

    /// Deletes a key of the call's memory.
    pub fn forget(&self, key: impl Into<String>) {
        self.write(MemoryWrite::Call(key.into(), None));
    }

    fn write(&self, write: MemoryWrite) {
        // The lock is held only to push; a poisoned lock (a panicking tool) still yields the list.
        self.writes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(write);
    }

    /// The writes requested so far, in order.
    pub fn take_writes(&self) -> Vec<MemoryWrite> {
        std::mem::take(&mut *self.writes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

/// What a tool handler may return: text, or any serializable value (sent JSON-encoded, as Vapi requires).
pub trait IntoToolResult {
    /// The `result` text.
    fn into_tool_result(self) -> String;
}

impl IntoToolResult for String {
    fn into_tool_result(self) -> String {
        self
    }
}

impl IntoToolResult for &'static str {
    fn into_tool_result(self) -> String {
        self.to_string()
    }
}

impl IntoToolResult for Value {
    fn into_tool_result(self) -> String {
        match self {
            Value::String(text) => text,
            other => other.to_string(),
        }
    }
}

/// One registered tool.
#[derive(Clone)]
struct Registered {
    handler: Handler,
    is_async: bool,
    deadline: Option<Duration>,
    /// Calls a backend: counts against the per-message cap on concurrent backend requests.
    remote: bool,
    /// Has no effect outside the call (see [`ToolRegistry::set_contained`]).
    contained: bool,
}

/// Tools by name. Build it before starting the server; it is immutable afterwards.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: HashMap<String, Registered>,
    /// What the model is told about each tool that declared it ([`ToolRegistry::describe`]).
    definitions: HashMap<String, (String, Value)>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.tools.keys().collect();
        names.sort();
        f.debug_struct("ToolRegistry").field("tools", &names).finish()
    }
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> ToolRegistry {
        ToolRegistry::default()
    }

    /// Registers a tool with typed arguments. Arguments that do not deserialize into `A` answer an error
    /// naming the problem; the handler's `Err` becomes the call's `error`.
    pub fn register<A, R, E, F, Fut>(&mut self, name: impl Into<String>, handler: F) -> &mut Self
    where
        A: DeserializeOwned + Send + 'static,
        R: IntoToolResult,
        E: std::fmt::Display,
        F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let name = name.into();
        let tool_name = name.clone();
        let handler = Arc::new(handler);
        let erased: Handler = Arc::new(move |arguments: Value, context: ToolContext| {
            let handler = Arc::clone(&handler);
            let tool_name = tool_name.clone();
            Box::pin(async move {
                let arguments: A = serde_json::from_value(arguments)
                    .map_err(|error| format!("invalid arguments for `{tool_name}`: {error}"))?;
                handler(arguments, context)
                    .await
                    .map(IntoToolResult::into_tool_result)
                    .map_err(|e| e.to_string())
            })
        });
        self.tools.insert(
            name,
            Registered {
                handler: erased,
                is_async: false,
                deadline: None,
                remote: false,
                contained: false,
            },
        );
        self
    }

    /// Registers a typed tool with its definition: `description` tells the model what it does and when to call
    /// it, and the JSON Schema of its arguments is derived from `A` ([`parameters_of`]), doc comments included.
    /// `switchboard vapi-assistant` prints the definition for Vapi.
    pub fn define<A, R, E, F, Fut>(
        &mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        handler: F,
    ) -> &mut Self
    where
        A: DeserializeOwned + schemars::JsonSchema + Send + 'static,
        R: IntoToolResult,
        E: std::fmt::Display,
        F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let name = name.into();
        self.register(name.clone(), handler);
        self.describe(&name, description, parameters_of::<A>())
    }

    /// Sets what the model is told about a tool: its description and the JSON Schema of its arguments.
    pub fn describe(&mut self, name: &str, description: impl Into<String>, parameters: Value) -> &mut Self {
        self.definitions
            .insert(name.to_string(), (description.into(), parameters));
        self
    }

    /// The definition of every registered tool, sorted by name. A tool registered without one is described by
    /// its name, with arguments the model chooses.
    pub fn definitions(&self) -> Vec<ToolDefinition> {
        self.names()
            .into_iter()
            .map(|name| {
                let (description, parameters) = self
                    .definitions
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| (format!("The `{name}` tool."), schema::open_object()));
                let is_async = self.tools.get(&name).is_some_and(|tool| tool.is_async);
                ToolDefinition {
                    name,
                    description,
                    parameters,
                    is_async,
                }
            })
            .collect()
    }

    /// Marks a registered tool async: its call is acknowledged at once and it runs in the background, its
    /// result recorded in the call when it finishes and added to the live call when the call has a control URL
    /// (see [`crate::control`]).
    pub fn set_async(&mut self, name: &str, is_async: bool) -> &mut Self {
        if let Some(tool) = self.tools.get_mut(name) {
            tool.is_async = is_async;
        }
        self
    }

    /// Marks a registered tool as having no effect outside the call (it reads the call and writes at most its
    /// memory). Such a tool still runs once per tool call id; but while the store cannot record a claim, it
    /// runs on this instance rather than being refused, since a second run elsewhere does no harm.
    pub fn set_contained(&mut self, name: &str, contained: bool) -> &mut Self {
        if let Some(tool) = self.tools.get_mut(name) {
            tool.contained = contained;
        }
        self
    }

    /// Gives a registered tool its own deadline instead of the configured default; the default still bounds
    /// it (a longer deadline has no effect).
    pub fn set_deadline(&mut self, name: &str, deadline: Duration) -> &mut Self {
        if let Some(tool) = self.tools.get_mut(name) {
            tool.deadline = Some(deadline);
        }
        self
    }

    /// Adds every tool of `other`, replacing tools of the same name.
    pub fn extend(&mut self, other: ToolRegistry) {
        for name in other.tools.keys() {
            self.definitions.remove(name);
        }
        self.tools.extend(other.tools);
        self.definitions.extend(other.definitions);
    }

    /// Whether a tool of this name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.tools.contains_key(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tools.keys().cloned().collect();
        names.sort();
        names
    }

    fn register_remote(&mut self, name: String, handler: Handler, is_async: bool, deadline: Option<Duration>) {
        self.tools.insert(
            name,
            Registered {
                handler,
                is_async,
                deadline,
                remote: true,
                contained: false,
            },
        );
    }
}

/// One tool call to run.
#[derive(Debug, Clone)]
pub struct ToolCall {
    /// The id the result must echo.
    pub id: String,
    /// The tool name.
    pub name: String,
    /// The arguments.
    pub arguments: Value,
}

/// A finished (or acknowledged) tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// The result as Vapi receives it.
    pub result: ToolCallResult,
    /// Memory writes the tool requested.
    pub writes: Vec<MemoryWrite>,
    /// For an async tool: the background run whose outcome is recorded later.
    pub background: bool,
}

/// One tool call ready to run: nothing starts until [`PreparedCall::run`] is polled, so a call that needs no
/// run (a retry whose answer is recorded) costs nothing.
pub struct PreparedCall {
    /// The call.
    pub call: ToolCall,
    /// Its deadline: the tool's own when it has a shorter one, else the default.
    pub deadline: Duration,
    /// The tool has no effect outside the call ([`ToolRegistry::set_contained`]); unknown tools neither.
    pub contained: bool,
    /// Runs the call and gives its outcome (for an async tool: the acknowledgement, the outcome going to the
    /// background hook).
    pub run: BoxFuture<Finished>,
}

impl std::fmt::Debug for PreparedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedCall")
            .field("call", &self.call)
            .field("deadline", &self.deadline)
            .field("contained", &self.contained)
            .finish_non_exhaustive()
    }
}

/// What becomes of an async tool's run: the acknowledgement answered at once, and where its outcome goes.
///
/// Any `Fn(ToolCall, Finished)` closure is one, acknowledging that the result will follow.
pub trait Background: Send + Sync + Clone + 'static {
    /// The `result` Vapi gets at once for an async tool call: what the model is told about the result to come.
    fn acknowledgement(&self, call: &ToolCall) -> String {
        format!("`{}` started; its result will follow", call.name)
    }

    /// Receives the outcome when the background run ends.
    fn finished(&self, call: ToolCall, finished: Finished);
}

impl<F> Background for F
where
    F: Fn(ToolCall, Finished) + Send + Sync + Clone + 'static,
{
    fn finished(&self, call: ToolCall, finished: Finished) {
        self(call, finished)
    }
}

/// Prepares one message's calls. Each runs on its own task under its deadline; HTTP tools of the message
/// run at most `max_concurrent` at a time (the rest queue, and the queue counts against their deadline).
/// `background` acknowledges each async tool call and receives its eventual outcome.
pub fn prepare_tool_calls(
    registry: &ToolRegistry,
    calls: Vec<ToolCall>,
    context: &ToolContext,
    default_deadline: Duration,
    max_concurrent: usize,
    background: impl Background,
) -> Vec<PreparedCall> {
    let permits = Arc::new(Semaphore::new(max_concurrent.max(1)));
    calls
        .into_iter()
        .map(|call| {
            let context = context.fork(&call.id);
            let Some(tool) = registry.tools.get(&call.name).cloned() else {
                let finished = Finished {
                    result: ToolCallResult::err(&call.id, &call.name, unknown_tool(&call.name)),
                    writes: Vec::new(),
                    background: false,
                };
                return PreparedCall {
                    call,
                    deadline: default_deadline,
                    contained: true,
                    run: Box::pin(async move { finished }),
                };
            };
            // The default deadline bounds every tool: a tool's own deadline can only be shorter.
            let deadline = tool.deadline.map_or(default_deadline, |own| own.min(default_deadline));
            let permits = tool.remote.then(|| Arc::clone(&permits));
            let contained = tool.contained;
            let (run_call, background) = (call.clone(), background.clone());
            let run: BoxFuture<Finished> = Box::pin(async move {
                let task = spawn_tool(&tool, &run_call, context.clone(), deadline, permits);
                if !tool.is_async {
                    return settle(&run_call, task.await, &context, deadline);
                }
                let acknowledgement =
                    ToolCallResult::ok(&run_call.id, &run_call.name, background.acknowledgement(&run_call));
                tokio::spawn(async move {
                    let finished = settle(&run_call, task.await, &context, deadline);
                    background.finished(run_call, finished);
                });
                Finished {
                    result: acknowledgement,
                    writes: Vec::new(),
                    background: true,
                }
            });
            PreparedCall {
                call,
                deadline,
                contained,
                run,
            }
        })
        .collect()
}

/// Runs every call in parallel (see [`prepare_tool_calls`]); the results come back in request order, one per
/// call.
pub async fn run_tool_calls(
    registry: &ToolRegistry,
    calls: Vec<ToolCall>,
    context: &ToolContext,
    default_deadline: Duration,
    max_concurrent: usize,
    background: impl Background,
) -> Vec<Finished> {
    let running: Vec<(ToolCall, tokio::task::JoinHandle<Finished>)> =
        prepare_tool_calls(registry, calls, context, default_deadline, max_concurrent, background)
            .into_iter()
            .map(|prepared| (prepared.call, tokio::spawn(prepared.run)))
            .collect();
    let mut finished = Vec::with_capacity(running.len());
    for (call, task) in running {
        // `run` contains a tool's panic (see `spawn_tool`); should its task fail all the same, the call still
        // gets its one result.
        finished.push(task.await.unwrap_or_else(|_| Finished {
            result: ToolCallResult::err(
                &call.id,
                &call.name,
                format!("tool `{}` failed unexpectedly", call.name),
            ),
            writes: Vec::new(),
            background: false,
        }));
    }
    finished
}

type ToolTask = tokio::task::JoinHandle<Result<ToolOutcome, tokio::time::error::Elapsed>>;

/// Starts a tool on its own task, so that a panic is contained and reported as that call's error, and so
/// that a tool past its deadline is dropped (cancelled) by the timeout. The deadline covers the wait for a
/// permit, so a queued call cannot outlive it either.
fn spawn_tool(
    tool: &Registered,
    call: &ToolCall,
    context: ToolContext,
    deadline: Duration,
    permits: Option<Arc<Semaphore>>,
) -> ToolTask {
    let run = (tool.handler)(call.arguments.clone(), context);
    tokio::spawn(tokio::time::timeout(deadline, async move {
        // The semaphore is never closed, so acquiring only waits.
        let _permit = match permits {
            Some(permits) => permits.acquire_owned().await.ok(),
            None => None,
        };
        run.await
    }))
}

fn settle(
    call: &ToolCall,
    joined: Result<Result<ToolOutcome, tokio::time::error::Elapsed>, tokio::task::JoinError>,
    context: &ToolContext,
    deadline: Duration,
) -> Finished {
    let outcome = match joined {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => {
            tracing::warn!(
                tool = call.name,
                tool_call_id = call.id,
                ?deadline,
                "tool past its deadline"
            );
            Err(format!(
                "tool `{}` did not answer within {} ms",
                call.name,
                deadline.as_millis()
            ))
        }
        Err(join) if join.is_panic() => {
            tracing::error!(tool = call.name, tool_call_id = call.id, "tool panicked");
            Err(format!("tool `{}` failed unexpectedly", call.name))
        }
        Err(_) => Err(format!("tool `{}` was cancelled", call.name)),
    };
    let result = match outcome {
        Ok(text) => ToolCallResult::ok(&call.id, &call.name, text),
        Err(error) => ToolCallResult::err(&call.id, &call.name, error),
    };
    Finished {
        result,
        writes: context.take_writes(),
        background: false,
    }
}

/// The error text for a tool nobody registered.
pub fn unknown_tool(name: &str) -> String {
    format!("unknown tool `{name}`: no tool with this name is registered on this server")
}

/// The registry a configuration describes: built-in context tools and HTTP tools. Rust tools are added to it
/// by the embedding program.
pub fn configured(config: &ToolsConfig) -> Result<ToolRegistry, String> {
    let mut registry = ToolRegistry::new();
    if config.builtin {
        builtin::register(&mut registry);
    }
    let client = reqwest::Client::builder()
        .build()
        .map_err(|error| format!("tools: http client: {error}"))?;
    // One cap on backend requests in flight, shared by every HTTP tool.
    let permits = Arc::new(Semaphore::new(config.max_concurrent.max(1)));
    for tool in &config.http {
        registry.register_remote(
            tool.name.clone(),
            http::handler(tool.clone(), client.clone(), Arc::clone(&permits)),
            tool.is_async,
            tool.timeout_ms.map(Duration::from_millis),
        );
        registry.describe(&tool.name, tool.description(), tool.parameters());
    }
    Ok(registry)
}
