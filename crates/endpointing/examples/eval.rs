//! Prints the evaluation table for a labelled utterance file.
//!
//! `cargo run -p endpointing --example eval -- FILE [--preset fast|balanced|patient] [--misses] [--unpunctuated]
//! [--language CODE]`
//!
//! `--unpunctuated` strips every utterance's punctuation first (as a transcriber without it would send);
//! `--misses` lists the utterances Switchboard gets wrong at the 0.6 s budget, with their cues; `--language`
//! evaluates every utterance as spoken in that language (`es`, `de`...).

use std::path::PathBuf;
use std::process::ExitCode;

use endpointing::{EndpointingConfig, Preset, eval};

fn main() -> ExitCode {
    let mut file = None;
    let mut config = EndpointingConfig::default();
    let mut misses = false;
    let mut unpunctuated = false;
    let mut language = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--misses" => misses = true,
            "--unpunctuated" => unpunctuated = true,
            "--language" => language = args.next(),
            "--preset" => {
                config.preset = match args.next().as_deref() {
                    Some("fast") => Preset::Fast,
                    Some("balanced") => Preset::Balanced,
                    Some("patient") => Preset::Patient,
                    other => {
                        eprintln!("unknown preset {other:?}, expected fast, balanced or patient");
                        return ExitCode::FAILURE;
                    }
                }
            }
            _ => file = Some(PathBuf::from(arg)),
        }
    }
    let Some(file) = file else {
        eprintln!("usage: eval FILE [--preset fast|balanced|patient] [--misses] [--unpunctuated] [--language CODE]");
        return ExitCode::FAILURE;
    };
    let mut utterances = match eval::load(&file) {
        Ok(utterances) => utterances,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    if language.is_some() {
        for u in &mut utterances {
            u.language.clone_from(&language);
        }
    }
    if unpunctuated {
        // As a transcriber without punctuation would return it: lowercase, punctuation marks removed.
        for u in &mut utterances {
            let kept: String = u
                .text
                .to_lowercase()
                .chars()
                .map(|c| if c.is_alphanumeric() || c == '\'' { c } else { ' ' })
                .collect();
            u.text = kept.split_whitespace().collect::<Vec<_>>().join(" ");
        }
    }
    let report = eval::evaluate(&utterances, &config);
    print!("{report}");
    if misses {
        println!();
        for s in report.misses() {
            println!(
                "MISS {:?} {} t={:.2} p={:.2} rules={:.2} vapi={} [{}] ctx={:?} {:?}",
                s.utterance.label,
                s.utterance.id,
                s.timeout_seconds,
                s.complete_probability,
                s.rules_timeout_seconds,
                s.vapi_timeout_seconds,
                s.cues,
                s.utterance.assistant().unwrap_or(""),
                s.utterance.text
            );
        }
    }
    ExitCode::SUCCESS
}
