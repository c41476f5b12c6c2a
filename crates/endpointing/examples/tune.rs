//! Chooses how the English cues and the learned model blend ([`endpointing::Blend`]).
//!
//! `cargo run --release -p endpointing --example tune`
//!
//! Scores a grid of blends on the tuning sets only: the development sets (`data/dev_set.json`,
//! `data/eot_dev2.json`) and the validation split of the training data (`data/eot_valid_en.json`), never a
//! hold-out set. A blend must keep
//! the mean timeout of complete turns at or under `MAX_MEAN_COMPLETE` on both; among those, the lowest mean
//! cut-off rate at 0.6 s wins. Prints the ten best.

use std::path::Path;

use endpointing::eval::{self, BUDGETS_SECONDS, Label, LabelledUtterance};
use endpointing::{Blend, EndpointingConfig, Language, decide_blended};

/// Mean timeout of complete turns a blend may cost on each tuning set (the goal is 0.45 s; keep a margin).
const MAX_MEAN_COMPLETE: f64 = 0.42;

fn score(set: &[LabelledUtterance], blend: Blend, config: &EndpointingConfig) -> (f64, f64) {
    let (mut cut, mut unfinished, mut sum, mut complete) = (0usize, 0usize, 0.0, 0usize);
    for u in set {
        let t = decide_blended(&u.turn(), Language::English, config, blend).timeout_seconds;
        match u.label {
            Label::Wait => {
                unfinished += 1;
                cut += usize::from(t <= BUDGETS_SECONDS[1]);
            }
            Label::Speak => {
                complete += 1;
                sum += t;
            }
            Label::Unsure => {}
        }
    }
    (cut as f64 / unfinished.max(1) as f64, sum / complete.max(1) as f64)
}

fn main() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let sets: Vec<Vec<LabelledUtterance>> = ["dev_set.json", "eot_dev2.json", "eot_valid_en.json"]
        .iter()
        .map(|f| eval::load(&data.join(f)).expect("tuning set"))
        .collect();
    let config = EndpointingConfig::default();
    let mut results = Vec::new();
    for rules in [0.5, 0.75, 1.0, 1.25, 1.5] {
        for model in [0.5, 0.75, 1.0, 1.25, 1.5, 2.0] {
            for step in -8..=12 {
                let blend = Blend {
                    rules,
                    model,
                    offset: f64::from(step) * 0.25,
                };
                let scores: Vec<(f64, f64)> = sets.iter().map(|s| score(s, blend, &config)).collect();
                if scores.iter().all(|(_, mean)| *mean <= MAX_MEAN_COMPLETE) {
                    let cut = scores.iter().map(|(c, _)| c).sum::<f64>() / scores.len() as f64;
                    results.push((cut, blend, scores));
                }
            }
        }
    }
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (cut, blend, scores) in results.iter().take(10) {
        println!(
            "mean cut-offs @0.6 s {:.1} % {blend:?} per set (cut-offs, mean complete): {scores:.3?}",
            cut * 100.0
        );
    }
}
