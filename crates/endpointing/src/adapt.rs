//! Timeouts that learn the caller: a call's history adjusts the decision the turn's text gives.
//!
//! The history is summed up in an [`Adaptation`] by whoever holds the call (the main webhook reads it from the
//! call's state); [`decide_adapted`] stays pure: the same turn, language, configuration and adaptation always
//! give the same answer. Three adjustments, each only ever lengthening the timeout:
//!
//! - **after cut-offs**: every turn where the caller resumed right after the assistant started raises a level
//!   by one (at most [`MAX_CUT_OFF_LEVEL`]), and every turn that went well lowers it by
//!   [`RELAX_PER_GOOD_TURN`]; each level adds [`SECONDS_PER_LEVEL`] to every timeout, so a caller cut off
//!   three times waits about a second longer and is back to normal after a handful of good turns;
//! - **a caller who pauses mid-turn**: the median of their recent pauses inside a turn (at least
//!   [`MIN_PAUSES`] of them), plus a margin, becomes the floor of every turn that does not clearly end;
//! - **dictation in progress**: while the caller is reading out data (an earlier decision of this turn saw a
//!   readout, or the assistant cut one off), a turn that does not clearly end waits as for a readout.
//!
//! A turn that clearly ends (an acknowledgement, a readout of the asked length, a short answer...: a decisive
//! complete cue) gets only the cut-off adjustment.

use std::fmt;

use crate::config::{EndpointingConfig, clamp_timeout};
use crate::decide::{Decision, Turn, decide_in};
use crate::language::Language;

/// The highest cut-off level.
pub const MAX_CUT_OFF_LEVEL: f64 = 3.0;
/// How much a turn that went well lowers the cut-off level.
pub const RELAX_PER_GOOD_TURN: f64 = 0.5;
/// Seconds each cut-off level adds to a timeout.
pub const SECONDS_PER_LEVEL: f64 = 0.3;
/// Pauses needed before they say anything about the caller.
pub const MIN_PAUSES: usize = 2;
/// Only the latest this many pauses count.
const RECENT_PAUSES: usize = 8;
/// Pauses shorter than this are ordinary breathing; they change nothing.
const LONG_PAUSE_SECONDS: f64 = 0.4;
/// Added to the caller's typical pause to make the floor.
const PAUSE_MARGIN_SECONDS: f64 = 0.25;
/// P(still speaking) a readout in progress is given.
const DICTATION_STILL_SPEAKING: f64 = 0.95;

/// How a judged turn of the call went (see [`Adaptation::learn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnOutcome {
    /// The caller resumed right after the assistant started.
    CutOff,
    /// The assistant's turn began without the caller resuming.
    WentWell,
}

/// What a call's history says about its caller, as a decision uses it. [`Adaptation::NONE`] for a fresh call
/// (and for the stateless server).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Adaptation {
    /// Recent cut-offs, relaxed by the turns that went well since: 0 to [`MAX_CUT_OFF_LEVEL`].
    pub cut_off_level: f64,
    /// The caller's typical long pause inside a turn, in seconds, once known.
    pub pause_seconds: Option<f64>,
    /// The caller is in the middle of reading out data.
    pub dictation_in_progress: bool,
}

impl Adaptation {
    /// No history: decisions are the text's alone.
    pub const NONE: Adaptation = Adaptation {
        cut_off_level: 0.0,
        pause_seconds: None,
        dictation_in_progress: false,
    };

    /// The adaptation learned from a call's judged turns (in the order the assistant took them), its recent
    /// pauses inside a turn in milliseconds (oldest first), and whether a readout is in progress.
    pub fn learn(
        outcomes: impl IntoIterator<Item = TurnOutcome>,
        pauses_ms: &[i64],
        dictation_in_progress: bool,
    ) -> Adaptation {
        let cut_off_level = outcomes.into_iter().fold(0.0_f64, |level, outcome| match outcome {
            TurnOutcome::CutOff => (level + 1.0).min(MAX_CUT_OFF_LEVEL),
            TurnOutcome::WentWell => (level - RELAX_PER_GOOD_TURN).max(0.0),
        });
        let recent = &pauses_ms[pauses_ms.len().saturating_sub(RECENT_PAUSES)..];
        let pause_seconds = (recent.len() >= MIN_PAUSES)
            .then(|| {
                let mut sorted = recent.to_vec();
                sorted.sort_unstable();
                sorted[sorted.len() / 2] as f64 / 1000.0
            })
            .filter(|pause| pause.is_finite() && *pause >= LONG_PAUSE_SECONDS);
        Adaptation {
            cut_off_level,
            pause_seconds,
            dictation_in_progress,
        }
    }
}

/// One adjustment the call's history made to a decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Adjustment {
    /// Recent cut-offs added this many seconds.
    AfterCutOffs {
        /// The cut-off level.
        level: f64,
        /// Seconds added.
        added_seconds: f64,
    },
    /// The caller's long pauses raised the timeout to this floor.
    CallerPauses {
        /// The floor, in seconds.
        floor_seconds: f64,
    },
    /// A readout in progress raised the timeout to this floor.
    DictationInProgress {
        /// The floor, in seconds.
        floor_seconds: f64,
    },
}

impl fmt::Display for Adjustment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Adjustment::AfterCutOffs { level, added_seconds } => {
                write!(f, "after_cut_offs(level {level:.1}): +{added_seconds:.2}s")
            }
            Adjustment::CallerPauses { floor_seconds } => write!(f, "caller_pauses: at least {floor_seconds:.2}s"),
            Adjustment::DictationInProgress { floor_seconds } => {
                write!(f, "dictation_in_progress: at least {floor_seconds:.2}s")
            }
        }
    }
}

/// A decision adjusted by the call's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Adapted {
    /// The decision, with the adjusted timeout.
    pub decision: Decision,
    /// The timeout the text alone gave.
    pub base_timeout_seconds: f64,
    /// What the history changed, in the order applied (empty when nothing).
    pub adjustments: Vec<Adjustment>,
}

/// [`decide_in`], then the adjustments of `adaptation` (see the module docs). Never shortens a timeout; the
/// answer stays within `[0, 15]`.
pub fn decide_adapted(
    turn: &Turn<'_>,
    language: Language,
    config: &EndpointingConfig,
    adaptation: &Adaptation,
) -> Adapted {
    let base = decide_in(turn, language, config);
    adapt(base, config, adaptation)
}

/// Applies `adaptation` to a decision already made.
pub fn adapt(base: Decision, config: &EndpointingConfig, adaptation: &Adaptation) -> Adapted {
    let wait = config.wait_function();
    let clearly_ends = base.cues.iter().any(|cue| cue.is_decisive_complete());
    let mut timeout = base.timeout_seconds;
    let mut adjustments = Vec::new();
    if !clearly_ends {
        if adaptation.dictation_in_progress {
            let floor = wait.timeout(DICTATION_STILL_SPEAKING);
            if floor > timeout {
                timeout = floor;
                adjustments.push(Adjustment::DictationInProgress { floor_seconds: floor });
            }
        }
        if let Some(pause) = adaptation.pause_seconds.filter(|p| p.is_finite()) {
            let floor = (pause + PAUSE_MARGIN_SECONDS).min(wait.max_seconds.max(wait.min_seconds));
            if floor > timeout {
                timeout = floor;
                adjustments.push(Adjustment::CallerPauses { floor_seconds: floor });
            }
        }
    }
    let level = if adaptation.cut_off_level.is_finite() {
        adaptation.cut_off_level.clamp(0.0, MAX_CUT_OFF_LEVEL)
    } else {
        0.0
    };
    if level > 0.0 {
        let added = level * SECONDS_PER_LEVEL;
        timeout += added;
        adjustments.push(Adjustment::AfterCutOffs {
            level,
            added_seconds: added,
        });
    }
    Adapted {
        decision: Decision {
            timeout_seconds: clamp_timeout(timeout),
            ..base
        },
        base_timeout_seconds: base.timeout_seconds,
        adjustments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout(text: &str, adaptation: &Adaptation) -> f64 {
        decide_adapted(
            &Turn::new(text),
            Language::English,
            &EndpointingConfig::default(),
            adaptation,
        )
        .decision
        .timeout_seconds
    }

    #[test]
    fn no_history_changes_nothing() {
        for text in ["I need a cleaning.", "I was hoping to get some", "okay thanks"] {
            let plain = decide_in(&Turn::new(text), Language::English, &EndpointingConfig::default());
            assert_eq!(timeout(text, &Adaptation::NONE), plain.timeout_seconds, "{text}");
        }
    }

    #[test]
    fn cut_offs_raise_the_level_and_good_turns_relax_it() {
        use TurnOutcome::*;
        assert_eq!(
            Adaptation::learn([CutOff, CutOff, CutOff], &[], false).cut_off_level,
            3.0
        );
        assert_eq!(
            Adaptation::learn([CutOff; 9], &[], false).cut_off_level,
            MAX_CUT_OFF_LEVEL
        );
        assert_eq!(
            Adaptation::learn([CutOff, CutOff, WentWell], &[], false).cut_off_level,
            1.5
        );
        let recovered = [
            CutOff, CutOff, CutOff, WentWell, WentWell, WentWell, WentWell, WentWell, WentWell,
        ];
        assert_eq!(Adaptation::learn(recovered, &[], false).cut_off_level, 0.0);
        // Good turns before the cut-offs bank nothing.
        assert_eq!(
            Adaptation::learn([WentWell, WentWell, CutOff], &[], false).cut_off_level,
            1.0
        );
    }

    #[test]
    fn each_level_lengthens_every_turn() {
        let text = "I need to change my delivery address";
        let fresh = timeout(text, &Adaptation::NONE);
        let cut = timeout(
            text,
            &Adaptation {
                cut_off_level: 3.0,
                ..Adaptation::NONE
            },
        );
        assert!((cut - fresh - 0.9).abs() < 1e-9, "{fresh} -> {cut}");
    }

    #[test]
    fn long_pauses_set_a_floor_except_on_turns_that_clearly_end() {
        let slow = Adaptation::learn([], &[1_200, 1_000, 1_400], false);
        assert_eq!(slow.pause_seconds, Some(1.2));
        assert!(timeout("I need to change my delivery address", &slow) >= 1.45);
        assert_eq!(timeout("okay thanks", &slow), timeout("okay thanks", &Adaptation::NONE));
        // Short or too few pauses say nothing.
        assert_eq!(Adaptation::learn([], &[200, 300, 250], false).pause_seconds, None);
        assert_eq!(Adaptation::learn([], &[1_500], false).pause_seconds, None);
    }

    #[test]
    fn a_readout_in_progress_holds() {
        let reading = Adaptation {
            dictation_in_progress: true,
            ..Adaptation::NONE
        };
        assert!(timeout("and then", &reading) >= 2.0);
        assert!(timeout("zero one two three", &reading) >= 2.0);
        assert_eq!(
            timeout("okay thanks", &reading),
            timeout("okay thanks", &Adaptation::NONE)
        );
    }

    #[test]
    fn hostile_numbers_stay_in_range() {
        for adaptation in [
            Adaptation {
                cut_off_level: f64::NAN,
                pause_seconds: Some(f64::INFINITY),
                dictation_in_progress: true,
            },
            Adaptation {
                cut_off_level: 1e300,
                pause_seconds: Some(-5.0),
                dictation_in_progress: false,
            },
        ] {
            let t = timeout("I was hoping to get some", &adaptation);
            assert!((0.0..=15.0).contains(&t), "{t}");
        }
    }
}
