//! Decision latency of the end-of-turn policy, with the learned model and with the cues alone.
//!
//! `cargo bench -p endpointing --bench decide`
//!
//! Times every decision separately over the development sets (many passes), the two policies interleaved so
//! both see the same machine, and prints p50 / p90 / p99 / p99.9 / max for each. The workspace bench
//! (`cargo bench --bench endpointing`) adds criterion cases and the HTTP server; this one needs only the crate.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use endpointing::{EndpointingConfig, decide, eval};

const PASSES: usize = 100;

fn main() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let mut utterances = Vec::new();
    for file in ["dev_set.json", "eot_dev2.json", "eot_valid_en.json"] {
        utterances.extend(eval::load(&data.join(file)).expect("development set"));
    }
    let with_model = EndpointingConfig::default();
    let cues_alone = EndpointingConfig {
        model: false,
        ..EndpointingConfig::default()
    };
    let mut samples: [Vec<Duration>; 2] = [
        Vec::with_capacity(utterances.len() * PASSES),
        Vec::with_capacity(utterances.len() * PASSES),
    ];
    for _ in 0..PASSES {
        for u in &utterances {
            let turn = u.turn();
            for (config, samples) in [&with_model, &cues_alone].into_iter().zip(samples.iter_mut()) {
                let start = Instant::now();
                black_box(decide(black_box(&turn), config));
                samples.push(start.elapsed());
            }
        }
    }
    for (name, samples) in ["cues + model", "cues alone"].iter().zip(samples.iter_mut()) {
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
        println!(
            "decide, {name}, {} calls ({} utterances x {PASSES}): p50 {:?}, p90 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
            samples.len(),
            utterances.len(),
            at(0.50),
            at(0.90),
            at(0.99),
            at(0.999),
            samples[samples.len() - 1]
        );
    }
}
