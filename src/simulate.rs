//! `switchboard simulate`: replays recorded calls against a Vapi Server URL.

use std::path::PathBuf;

/// Options of `switchboard simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// The call file: one webhook body per line (JSON Lines).
    pub file: PathBuf,
    /// The Server URL to send to.
    #[arg(long)]
    pub target: String,
}

/// Runs a simulation.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    anyhow::bail!("simulate {} against {}: not available in this build", args.file.display(), args.target)
}
