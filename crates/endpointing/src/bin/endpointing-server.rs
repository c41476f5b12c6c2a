//! Runs the endpointing server alone: `endpointing-server [ADDR] [--preset fast|balanced|patient]`.
//!
//! ADDR defaults to `127.0.0.1:3005`. Stops on Ctrl-C after draining in-flight requests. The full
//! `switchboard` binary mounts the same router next to its other endpoints.

use std::process::ExitCode;

use endpointing::{Endpointer, EndpointingConfig, Preset};

#[tokio::main]
async fn main() -> ExitCode {
    let mut addr = "127.0.0.1:3005".to_owned();
    let mut config = EndpointingConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--preset" {
            config.preset = match args.next().as_deref() {
                Some("fast") => Preset::Fast,
                Some("balanced") => Preset::Balanced,
                Some("patient") => Preset::Patient,
                other => {
                    eprintln!("unknown preset {other:?}, expected fast, balanced or patient");
                    return ExitCode::FAILURE;
                }
            };
        } else {
            addr = arg;
        }
    }
    let endpointer = match Endpointer::new(config) {
        Ok(endpointer) => endpointer,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(local) => println!("endpointing server listening on http://{local}/endpointing"),
        Err(error) => eprintln!("listening, address unknown: {error}"),
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match endpointing::serve(listener, endpointer, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("server failed: {error}");
            ExitCode::FAILURE
        }
    }
}
