//! The evaluation property the crate exists for: on the development set and on the public gold set,
//! Switchboard cuts off fewer unfinished turns than Vapi's default heuristic while making complete turns
//! wait no longer on average.

use std::path::PathBuf;

use endpointing::EndpointingConfig;
use endpointing::eval::{self, EvalReport, Label};

fn report(file: &str) -> EvalReport {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(file);
    let utterances = eval::load(&path).unwrap();
    eval::evaluate(&utterances, &EndpointingConfig::default())
}

fn assert_ahead_of_vapi(report: &EvalReport) {
    let ours = &report.total.switchboard;
    let vapi = &report.total.vapi_default;
    assert!(
        ours.cutoff_rate() < vapi.cutoff_rate(),
        "cut-offs: switchboard {} vs vapi {}\n{report}",
        ours.cutoff_rate(),
        vapi.cutoff_rate()
    );
    assert!(
        ours.mean_complete_timeout() <= vapi.mean_complete_timeout(),
        "mean complete timeout: switchboard {} vs vapi {}\n{report}",
        ours.mean_complete_timeout(),
        vapi.mean_complete_timeout()
    );
}

#[test]
fn dev_set_is_large_varied_and_half_unpunctuated() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/dev_set.json");
    let utterances = eval::load(&path).unwrap();
    assert!(utterances.len() >= 300, "{}", utterances.len());
    let bare = utterances.iter().filter(|u| !u.is_punctuated()).count();
    assert!(
        bare * 2 >= utterances.len(),
        "{bare} of {} without punctuation",
        utterances.len()
    );
    assert!(utterances.iter().any(|u| u.label == Label::Speak));
    assert!(utterances.iter().any(|u| u.label == Label::Wait));
    assert!(utterances.iter().filter(|u| u.assistant().is_some()).count() >= 100);
}

#[test]
fn switchboard_beats_vapi_default_on_the_dev_set() {
    let report = report("dev_set.json");
    assert_ahead_of_vapi(&report);
    // And on both halves: with punctuation and without.
    for slice in [&report.punctuated, &report.unpunctuated] {
        assert!(slice.switchboard.cutoff_rate() < slice.vapi_default.cutoff_rate());
        assert!(slice.switchboard.mean_complete_timeout() <= slice.vapi_default.mean_complete_timeout());
    }
}

#[test]
fn switchboard_beats_vapi_default_on_the_gold_set() {
    let report = report("gold_set.json");
    assert_eq!(
        report.total.switchboard.complete + report.total.switchboard.unfinished + report.total.unsure,
        60
    );
    assert_ahead_of_vapi(&report);
}

#[test]
fn switchboard_beats_vapi_default_on_the_untuned_holdout_set() {
    assert_ahead_of_vapi(&report("holdout_set.json"));
}
