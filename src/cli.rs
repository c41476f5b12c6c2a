//! The command line: `switchboard [serve]` and its subcommands.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::auth::AuthConfig;
use crate::config::{AuthArgs, Config, LogFormat, ServeArgs};
use crate::tools::ToolRegistry;
use crate::{Switchboard, http};

/// A Vapi Server-URL backend: one actor per call, answers from the call's context.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// What to run; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve`, accepted without the subcommand too.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the webhook server (the default).
    Serve(ServeArgs),
    /// Run the custom voice server alone (`POST /voice`).
    Voice(VoiceArgs),
    /// Synthesize text through the voice pipeline into a WAV file.
    Say(SayArgs),
    /// Replay call files against a Vapi Server URL (this server or another) and check every answer.
    Simulate(crate::simulate::SimulateArgs),
    /// Print the Vapi assistant JSON that uses this server: server URLs, `serverMessages`, every tool with its
    /// JSON Schema, the custom voice, endpointing and knowledge base.
    VapiAssistant(crate::assistant::AssistantArgs),
    /// The smart endpointing server and its evaluation.
    Endpointing {
        /// What to do.
        #[command(subcommand)]
        command: EndpointingCommand,
    },
}

/// Options of `switchboard voice`.
#[derive(Debug, clap::Args)]
pub struct VoiceArgs {
    /// TOML configuration file (its `[voice]`, `[auth]` and `[http]` tables and `max_body_bytes` apply).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_VOICE_LISTEN", default_value = "127.0.0.1:3001")]
    pub listen: SocketAddr,
    /// How requests authenticate (over the file's `[auth]`).
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// Options of `switchboard say`.
#[derive(Debug, clap::Args)]
pub struct SayArgs {
    /// The text to speak.
    pub text: String,
    /// Output sample rate in Hz.
    #[arg(long, default_value_t = 24_000)]
    pub rate: u32,
    /// The voice id (as Vapi would send it).
    #[arg(long)]
    pub voice: Option<String>,
    /// The WAV file to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// TOML configuration file (its `[voice]` table applies).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `switchboard endpointing ...`.
#[derive(Debug, Subcommand)]
pub enum EndpointingCommand {
    /// Print the eot-bench-style table on a labelled set: false cut-offs at 0.3 s and 0.6 s and the mean
    /// timeout of complete turns, for Switchboard, its cues alone and Vapi's default heuristic.
    Eval {
        /// Labelled utterances (the gold-set JSON format).
        file: PathBuf,
        /// TOML configuration file (its `[endpointing]` table applies).
        #[arg(long, env = "SWITCHBOARD_CONFIG")]
        config: Option<PathBuf>,
        /// Evaluate every utterance as spoken in this language (`en`, `es`, `de`...), overriding the file's.
        #[arg(long)]
        language: Option<String>,
    },
    /// Run the endpointing server alone (`POST /endpointing`).
    Serve {
        /// TOML configuration file (its `[endpointing]`, `[auth]` and `[http]` tables and `max_body_bytes` apply).
        #[arg(long, env = "SWITCHBOARD_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long, env = "SWITCHBOARD_ENDPOINTING_LISTEN", default_value = "127.0.0.1:3002")]
        listen: SocketAddr,
        /// How requests authenticate (over the file's `[auth]`).
        #[command(flatten)]
        auth: AuthArgs,
    },
}

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    run_with(ToolRegistry::new())
}

/// Parses the command line and runs it, with Rust tools added to the configured ones: the entry point of a
/// program that embeds Switchboard with its own tools.
pub fn run_with(tools: ToolRegistry) -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli.serve, tools),
        Some(Command::Serve(args)) => serve(args, tools),
        Some(Command::Voice(args)) => serve_voice(args),
        Some(Command::Say(args)) => say(args),
        Some(Command::Simulate(args)) => crate::simulate::run(args),
        Some(Command::VapiAssistant(args)) => crate::assistant::run(args, tools),
        Some(Command::Endpointing {
            command: EndpointingCommand::Eval { file, config, language },
        }) => evaluate_endpointing(&file, config, language),
        Some(Command::Endpointing {
            command: EndpointingCommand::Serve { config, listen, auth },
        }) => serve_endpointing(config, listen, auth),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("switchboard: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn serve(args: ServeArgs, tools: ToolRegistry) -> anyhow::Result<()> {
    // Validate everything before binding the port.
    let config = Config::load(&args)?;
    init_logging(config.log_format);
    runtime()?.block_on(async move {
        warn_if_open(&config.auth);
        // Everything is built (rules compiled, engines checked) before the port is bound.
        let listen = config.listen;
        let auth = config.auth.describe();
        let limits = config.http.clone();
        let switchboard = Switchboard::start_with(config, tools).await?;
        // Piper's workers load their models while the port is bound.
        switchboard.voice().warm_up();
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        tracing::info!(
            %address,
            auth,
            instance = switchboard.runtime().instance_id(),
            store = switchboard.runtime().store_name(),
            "switchboard listening"
        );
        let token = switchboard.admin_token();
        if token.generated() {
            tracing::warn!(
                "no admin token configured: one was generated for this run and printed on stderr; set \
                 [admin] token or --admin-token to choose your own"
            );
            // Printed once, outside the log, so log shipping does not carry it. Tests parse this line.
            eprintln!(
                "switchboard admin: http://{}/calls?token={}",
                openable(address),
                token.value()
            );
        }
        // The monitor's event streams never end by themselves: they are closed when the shutdown starts.
        let monitor = switchboard.monitor().clone();
        let shutdown = async move {
            shutdown_signal().await;
            monitor.close();
        };
        http::serve_with(listener, http::app(switchboard.clone()), &limits, shutdown).await?;
        // In-flight requests are done (or cut at the grace period); persist every call.
        switchboard.shutdown().await;
        tracing::info!("switchboard stopped");
        Ok(())
    })
}

/// The address a browser on this host can open: a wildcard listener is reached through loopback.
fn openable(address: SocketAddr) -> SocketAddr {
    match address.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], address.port())),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, address.port()))
        }
        _ => address,
    }
}

/// The loud warning every serving command gives when requests need no credential.
fn warn_if_open(auth: &AuthConfig) {
    if *auth == AuthConfig::None {
        tracing::warn!(
            "AUTHENTICATION IS OFF: anyone who can reach this server can post requests. Set --vapi-secret, \
             --bearer-token or --hmac-secret (or [auth] in the config file) before exposing it."
        );
    }
}

/// The configuration of a file, or the embedded defaults, with authentication flags on top, validated.
fn file_config(path: Option<PathBuf>, auth: AuthArgs) -> anyhow::Result<Config> {
    Ok(Config::load(&ServeArgs {
        config: path,
        auth,
        ..ServeArgs::default()
    })?)
}

fn serve_voice(args: VoiceArgs) -> anyhow::Result<()> {
    let config = file_config(args.config, args.auth)?;
    init_logging(config.log_format);
    let service = voice::VoiceService::new(config.voice.clone())?;
    runtime()?.block_on(async move {
        warn_if_open(&config.auth);
        service.warm_up();
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        tracing::info!(address = %listener.local_addr()?, auth = config.auth.describe(), "voice server listening");
        let app = http::standalone(voice::router(service), &config);
        http::serve_with(listener, app, &config.http, shutdown_signal()).await?;
        Ok(())
    })
}

fn say(args: SayArgs) -> anyhow::Result<()> {
    let config = file_config(args.config, AuthArgs::default())?;
    init_logging(config.log_format);
    let service = voice::VoiceService::new(config.voice)?;
    let request = voice::VoiceRequest {
        text: args.text,
        sample_rate: args.rate,
        voice_id: args.voice,
    };
    let samples = runtime()?.block_on(service.render(&request))?;
    voice::write_wav(&args.output, &samples, args.rate)?;
    let seconds = samples.len() as f64 / f64::from(args.rate);
    println!("wrote {} ({seconds:.2} s at {} Hz)", args.output.display(), args.rate);
    Ok(())
}

fn evaluate_endpointing(file: &Path, config: Option<PathBuf>, language: Option<String>) -> anyhow::Result<()> {
    let config = file_config(config, AuthArgs::default())?;
    let mut utterances = endpointing::eval::load(file)?;
    if language.is_some() {
        for utterance in &mut utterances {
            utterance.language.clone_from(&language);
        }
    }
    print!("{}", endpointing::eval::evaluate(&utterances, &config.endpointing));
    Ok(())
}

fn serve_endpointing(config: Option<PathBuf>, listen: SocketAddr, auth: AuthArgs) -> anyhow::Result<()> {
    let config = file_config(config, auth)?;
    init_logging(config.log_format);
    let endpointer = endpointing::Endpointer::new(config.endpointing.clone())?;
    runtime()?.block_on(async move {
        warn_if_open(&config.auth);
        let listener = tokio::net::TcpListener::bind(listen).await?;
        tracing::info!(address = %listener.local_addr()?, auth = config.auth.describe(), "endpointing server listening");
        let app = http::standalone(endpointing::router(endpointer), &config);
        http::serve_with(listener, app, &config.http, shutdown_signal()).await?;
        Ok(())
    })
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
