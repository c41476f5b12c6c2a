//! `switchboard vapi-assistant`: the Vapi assistant that uses everything this server serves, as JSON to paste
//! into Vapi's dashboard or `POST /assistant`.
//!
//! One public base URL (`https://HOST`, the tunnel or proxy in front of the server) gives every server URL:
//! `server.url` (webhooks and tool calls: `/webhook`, or `/api/webhook/<conversation-id>` for conversation
//! memory), the custom voice (`/voice`), the custom endpointing model (the webhook URL, where end-of-turn
//! decisions learn the caller from the call's history) and, when `[knowledge] dir` is set, the custom
//! knowledge base (the webhook URL). `serverMessages` subscribes to every message the
//! call's context is built from. Every tool of the registry becomes a function tool with its description and
//! the JSON Schema of its arguments: the built-in tools, `[[tools.http]]` tools (`description`,
//! `parameters`) and typed Rust tools (`ToolRegistry::define`).
//!
//! Secrets never appear in the JSON: Vapi authenticates with a credential it stores (`server.credentialId`,
//! given with `--credential-id`), and the admin token is not Vapi's business at all.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::auth::AuthConfig;
use crate::config::{AuthArgs, Config, ServeArgs};
use crate::tools::{ToolDefinition, ToolRegistry};

/// The messages an assistant sends to the server URL so that the call's context is complete: every
/// conversation and status event, tool calls, transfer and handoff requests.
pub const SERVER_MESSAGES: [&str; 12] = [
    "conversation-update",
    "end-of-call-report",
    "handoff-destination-request",
    "hang",
    "language-change-detected",
    "speech-update",
    "status-update",
    "tool-calls",
    "transcript",
    "transfer-destination-request",
    "transfer-update",
    "user-interrupted",
];

/// How long Vapi waits for the server, in seconds (its default; tools are bounded below it).
const SERVER_TIMEOUT_SECONDS: u64 = 20;

/// Options of `switchboard vapi-assistant`.
#[derive(Debug, Clone, clap::Args)]
pub struct AssistantArgs {
    /// The public base URL Vapi reaches this server at (the tunnel or proxy), e.g. `https://sb.example.com`.
    #[arg(long)]
    pub url: String,
    /// TOML configuration file (its tools, `[knowledge]`, `[voice]` and `[auth]` shape the assistant).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Send webhooks to `/api/webhook/<ID>`: the assistant's calls share conversation memory.
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,
    /// The id of the Vapi webhook credential matching `[auth]` (bearer or HMAC), set on every server URL.
    #[arg(long, value_name = "ID")]
    pub credential_id: Option<String>,
    /// The assistant's name (at most 40 characters).
    #[arg(long, default_value = "Switchboard")]
    pub name: String,
    /// The OpenAI model the assistant thinks with.
    #[arg(long, default_value = "gpt-4o")]
    pub model: String,
    /// How the server authenticates requests (over the file's `[auth]`), for the notes on the credential.
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// What shapes the assistant besides the configuration.
#[derive(Debug, Clone)]
pub struct AssistantOptions {
    /// The public base URL, without a trailing slash.
    pub base_url: String,
    /// The conversation the webhooks go to, if any.
    pub conversation: Option<String>,
    /// The Vapi credential set on every server URL.
    pub credential_id: Option<String>,
    /// The assistant's name.
    pub name: String,
    /// The OpenAI model.
    pub model: String,
}

impl AssistantOptions {
    /// Checks the base URL (absolute `http` or `https`, no query), the conversation id (a path segment) and
    /// the name (Vapi allows 40 characters).
    pub fn new(args: &AssistantArgs) -> Result<AssistantOptions, String> {
        let url = reqwest::Url::parse(args.url.trim())
            .map_err(|error| format!("--url {:?} is not an absolute URL: {error}", args.url))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("--url {:?} must be an https:// URL with a host", args.url));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("--url {:?} must not have a query or fragment", args.url));
        }
        if let Some(id) = &args.conversation
            && (id.is_empty()
                || id.len() > 256
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~')))
        {
            return Err(format!(
                "--conversation {id:?} must be 1 to 256 letters, digits, `-`, `_`, `.` or `~`"
            ));
        }
        if args.name.trim().is_empty() || args.name.chars().count() > 40 {
            return Err(format!("--name {:?} must be 1 to 40 characters", args.name));
        }
        Ok(AssistantOptions {
            base_url: url.as_str().trim_end_matches('/').to_string(),
            conversation: args.conversation.clone(),
            credential_id: args.credential_id.clone().filter(|id| !id.trim().is_empty()),
            name: args.name.trim().to_string(),
            model: args.model.clone(),
        })
    }

    /// The URL webhooks (and tool calls, and knowledge-base requests) go to.
    pub fn webhook_url(&self) -> String {
        match &self.conversation {
            Some(id) => format!("{}/api/webhook/{id}", self.base_url),
            None => format!("{}/webhook", self.base_url),
        }
    }

    /// A Vapi `Server` object for `url`, with the credential.
    fn server(&self, url: String) -> Value {
        let mut server = json!({ "url": url, "timeoutSeconds": SERVER_TIMEOUT_SECONDS });
        if let Some(id) = &self.credential_id {
            server["credentialId"] = json!(id);
        }
        server
    }
}

/// The assistant JSON (Vapi's `CreateAssistantDTO`) for a configuration and its tools.
pub fn assistant(config: &Config, tools: &ToolRegistry, options: &AssistantOptions) -> Value {
    let definitions = tools.definitions();
    let mut model = json!({
        "provider": "openai",
        "model": options.model,
        "messages": [{ "role": "system", "content": system_prompt(&definitions) }],
        "tools": definitions.iter().map(function_tool).collect::<Vec<_>>(),
    });
    if config.knowledge.dir.is_some() {
        model["knowledgeBase"] = json!({
            "provider": "custom-knowledge-base",
            "server": options.server(options.webhook_url()),
        });
    }
    let mut voice = json!({
        "provider": "custom-voice",
        "server": options.server(format!("{}/voice", options.base_url)),
    });
    if let Some(id) = default_voice_id(config) {
        voice["voiceId"] = json!(id);
    }
    json!({
        "name": options.name,
        "firstMessage": "Hello, how can I help you today?",
        "model": model,
        "voice": voice,
        "startSpeakingPlan": {
            "smartEndpointingPlan": {
                "provider": "custom-endpointing-model",
                // The webhook, not the stateless `/endpointing`: there the call's history reaches the decision.
                "server": options.server(options.webhook_url()),
            },
        },
        "server": options.server(options.webhook_url()),
        "serverMessages": SERVER_MESSAGES,
    })
}

/// A Vapi function tool for one definition. It names no server of its own, so its calls go to the
/// assistant's `server.url`, conversation included.
fn function_tool(definition: &ToolDefinition) -> Value {
    json!({
        "type": "function",
        "async": definition.is_async,
        "function": {
            "name": definition.name,
            "description": definition.description,
            "parameters": definition.parameters,
        },
    })
}

/// A short system prompt that tells the model the built-in tools exist, when they do.
fn system_prompt(definitions: &[ToolDefinition]) -> String {
    let mut prompt =
        String::from("You are a friendly, concise phone assistant. Keep answers short: they are spoken aloud.");
    if definitions.iter().any(|definition| definition.name == "recall") {
        prompt.push_str(
            " Before asking the caller to repeat anything, call `recall` with the topic; note facts you will \
             need again with `remember`.",
        );
    }
    prompt
}

/// The voice id of the configured default engine's first mapped voice, if any.
fn default_voice_id(config: &Config) -> Option<String> {
    let voices: Vec<&String> = match config.voice.engine {
        voice::EngineKind::Piper => config.voice.piper.voices.keys().collect(),
        voice::EngineKind::Espeak => config.voice.espeak.voices.keys().collect(),
        _ => Vec::new(),
    };
    voices.first().map(|id| id.to_string())
}

/// What to tell the operator about authentication, on stderr beside the JSON: how Vapi must authenticate for
/// `[auth]`, and where the secret goes.
pub fn auth_notes(config: &Config, options: &AssistantOptions) -> Vec<String> {
    let credential = options.credential_id.is_some();
    let mut notes = Vec::new();
    match (&config.auth, credential) {
        (AuthConfig::None, _) => notes.push(
            "[auth] is off: anyone who finds the URL can post to it. Set --bearer-token or --hmac-secret on the \
             server, create the matching Vapi webhook credential, and pass its id with --credential-id."
                .to_string(),
        ),
        (AuthConfig::Secret { .. }, _) => notes.push(
            "[auth] mode = \"secret\": add the header `X-Vapi-Secret: <secret>` in Vapi (the legacy \
             `server.secret`, or `server.headers`); it is not printed here. A bearer or HMAC credential is safer."
                .to_string(),
        ),
        (AuthConfig::Bearer { .. } | AuthConfig::Hmac(_), false) => notes.push(format!(
            "[auth] mode = \"{}\": create a Vapi webhook credential with the same secret (dashboard, or POST \
             /credential) and run again with --credential-id <its id>, or set it on each server URL by hand.",
            config.auth.describe()
        )),
        (AuthConfig::Bearer { .. } | AuthConfig::Hmac(_), true) => notes.push(format!(
            "[auth] mode = \"{}\": every server URL uses credential {}; its secret must equal the server's.",
            config.auth.describe(),
            options.credential_id.as_deref().unwrap_or_default()
        )),
    }
    if options.base_url.starts_with("http://") {
        notes.push("Vapi calls only https:// URLs: put a TLS tunnel or proxy in front (see the README).".into());
    }
    notes.push("The admin token (/calls, /metrics) never goes to Vapi; keep it to yourself.".to_string());
    notes
}

/// Runs `switchboard vapi-assistant`: the JSON on stdout, notes on stderr.
pub fn run(args: AssistantArgs, rust_tools: ToolRegistry) -> anyhow::Result<()> {
    let options = AssistantOptions::new(&args).map_err(anyhow::Error::msg)?;
    let config = Config::load(&ServeArgs {
        config: args.config.clone(),
        auth: args.auth.clone(),
        ..ServeArgs::default()
    })?;
    let mut tools = crate::tools::configured(&config.tools).map_err(anyhow::Error::msg)?;
    tools.extend(rust_tools);
    let assistant = assistant(&config, &tools, &options);
    for name in tools.names() {
        if !crate::tools::schema::callable_name(&name) {
            eprintln!(
                "note: tool {name:?} cannot be called by a model (names are 1 to 64 letters, digits, `_` or `-`); \
                 Vapi will refuse the assistant until it is renamed"
            );
        }
    }
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{}", serde_json::to_string_pretty(&assistant)?) {
        // A reader that stopped early (`| head`) is not a failure.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        written => written?,
    }
    for note in auth_notes(&config, &options) {
        eprintln!("note: {note}");
    }
    Ok(())
}
