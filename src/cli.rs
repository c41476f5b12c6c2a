//! The command line: `switchboard [serve]` and its subcommands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat, ServeArgs};
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
}

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(args),
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

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Validate everything before binding the port.
    let config = Config::load(&args)?;
    init_logging(config.log_format);
    runtime()?.block_on(async move {
        if config.auth == crate::auth::AuthConfig::None {
            tracing::warn!(
                "AUTHENTICATION IS OFF: anyone who can reach this server can post webhooks. Set --vapi-secret, \
                 --bearer-token or --hmac-secret (or [auth] in the config file) before exposing it."
            );
        }
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        tracing::info!(address = %listener.local_addr()?, auth = config.auth.describe(), "switchboard listening");
        let switchboard = Switchboard::new(config);
        http::serve(listener, http::app(switchboard), shutdown_signal()).await?;
        tracing::info!("switchboard stopped");
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
