//! Evaluation on labelled utterances: Switchboard's decision beside Vapi's default heuristic.
//!
//! The file format is the one of the public gold set: an object with a `samples` array (or a bare array) of
//! `{"id", "cls", "context", "text", "label"}`, where `label` is `speak` (the turn is complete), `wait` (the
//! user is still speaking) or `unsure` (either is reasonable; reported apart, never scored). `context` is the
//! assistant's message before the utterance, optionally prefixed with `Agent:`.
//!
//! A turn counts as *cut off* at a pause of `b` seconds when it is unfinished and its timeout is at most `b`:
//! a caller who pauses that long mid-turn hears the assistant start talking. As in LiveKit's eot-bench, the
//! report gives the false cut-off rate at 0.3 s and 0.6 s ([`BUDGETS_SECONDS`]), plus at a longer breath
//! ([`PAUSE_SECONDS`]), and the mean timeout of complete turns (the latency every finished turn pays).
//!
//! Three policies are scored on the same turns: Switchboard (cues blended with the learned model, by the
//! utterance's language), Switchboard's cues alone (the rules before the model), and Vapi's default
//! `transcriptionEndpointingPlan` heuristic. An utterance may carry a `language` code (`es`, `de`...);
//! without one it is English.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::{EndpointingConfig, EndpointingError, Language, Turn, decide_in, vapi_default_timeout};

/// A pause the user may take mid-turn; a shorter timeout on an unfinished turn is a premature cut-off.
pub const PAUSE_SECONDS: f64 = 0.8;

/// The pauses at which eot-bench reports false cut-offs.
pub const BUDGETS_SECONDS: [f64; 2] = [0.3, 0.6];

/// The reference answer for an utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// The turn is complete: the assistant should answer.
    Speak,
    /// The user is still speaking: the assistant should wait.
    Wait,
    /// Either is reasonable.
    Unsure,
}

/// One labelled utterance.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LabelledUtterance {
    /// A stable identifier (for example `F2`).
    #[serde(default)]
    pub id: String,
    /// The class of phenomenon (`dictation`, `trailing-conjunction`...), for the per-class breakdown.
    #[serde(default, rename = "cls")]
    pub class: Option<String>,
    /// The assistant's message before the utterance, if any.
    #[serde(default)]
    pub context: Option<String>,
    /// The user's text.
    pub text: String,
    /// The reference answer.
    pub label: Label,
    /// The language code of the utterance (`es`, `de`...); English when absent.
    #[serde(default)]
    pub language: Option<String>,
}

impl LabelledUtterance {
    /// The assistant context without its `Agent:` prefix; `None` when empty.
    pub fn assistant(&self) -> Option<&str> {
        let context = self.context.as_deref()?.trim();
        let context = ["Agent:", "Assistant:", "Bot:", "agent:", "assistant:"]
            .iter()
            .find_map(|prefix| context.strip_prefix(prefix))
            .unwrap_or(context)
            .trim();
        (!context.is_empty()).then_some(context)
    }

    /// The utterance as a [`Turn`].
    pub fn turn(&self) -> Turn<'_> {
        Turn {
            user: &self.text,
            assistant: self.assistant(),
        }
    }

    /// The utterance's language policy.
    pub fn language(&self) -> Language {
        Language::from_code(self.language.as_deref())
    }

    /// Whether the text carries any punctuation mark (other than apostrophes).
    pub fn is_punctuated(&self) -> bool {
        self.text
            .chars()
            .any(|c| (c.is_ascii_punctuation() && c != '\'') || c == '…' || c == '—')
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SetFile {
    Object { samples: Vec<LabelledUtterance> },
    Array(Vec<LabelledUtterance>),
}

/// Reads a labelled utterance file.
pub fn load(path: &Path) -> Result<Vec<LabelledUtterance>, EndpointingError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| EndpointingError::Io {
        path: shown.clone(),
        source,
    })?;
    parse(&bytes).map_err(|message| EndpointingError::Format { path: shown, message })
}

/// Parses a labelled utterance set from JSON bytes.
pub fn parse(bytes: &[u8]) -> Result<Vec<LabelledUtterance>, String> {
    match serde_json::from_slice::<SetFile>(bytes) {
        Ok(SetFile::Object { samples } | SetFile::Array(samples)) => Ok(samples),
        Err(error) => Err(format!(
            "{error}; expected {{\"samples\": [{{\"text\", \"label\": speak|wait|unsure, \"context\"?}}]}}"
        )),
    }
}

/// The scores of one endpointing policy on a set of utterances.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scores {
    /// Complete turns scored.
    pub complete: usize,
    /// Unfinished turns scored.
    pub unfinished: usize,
    /// Complete turns answered within a realistic pause (timeout < [`PAUSE_SECONDS`]).
    pub complete_correct: usize,
    /// Unfinished turns given at least a realistic pause.
    pub unfinished_correct: usize,
    /// Sum of timeouts on complete turns.
    pub complete_timeout_sum: f64,
    /// Sum of timeouts on unfinished turns.
    pub unfinished_timeout_sum: f64,
    /// Unfinished turns cut off at each of [`BUDGETS_SECONDS`] (timeout at most the budget).
    pub unfinished_cut_at: [usize; 2],
    /// Complete turns answered within each of [`BUDGETS_SECONDS`].
    pub complete_within: [usize; 2],
}

impl Scores {
    fn add(&mut self, label: Label, timeout: f64) {
        match label {
            Label::Speak => {
                self.complete += 1;
                self.complete_correct += usize::from(timeout < PAUSE_SECONDS);
                self.complete_timeout_sum += timeout;
                for (count, budget) in self.complete_within.iter_mut().zip(BUDGETS_SECONDS) {
                    *count += usize::from(timeout <= budget);
                }
            }
            Label::Wait => {
                self.unfinished += 1;
                self.unfinished_correct += usize::from(timeout >= PAUSE_SECONDS);
                self.unfinished_timeout_sum += timeout;
                for (count, budget) in self.unfinished_cut_at.iter_mut().zip(BUDGETS_SECONDS) {
                    *count += usize::from(timeout <= budget);
                }
            }
            Label::Unsure => {}
        }
    }

    fn ratio(part: usize, whole: usize) -> f64 {
        if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
    }

    /// Share of complete turns answered within a realistic pause.
    pub fn complete_accuracy(&self) -> f64 {
        Self::ratio(self.complete_correct, self.complete)
    }

    /// Share of unfinished turns that were waited on.
    pub fn unfinished_accuracy(&self) -> f64 {
        Self::ratio(self.unfinished_correct, self.unfinished)
    }

    /// Share of all scored turns handled right.
    pub fn accuracy(&self) -> f64 {
        Self::ratio(
            self.complete_correct + self.unfinished_correct,
            self.complete + self.unfinished,
        )
    }

    /// Share of unfinished turns cut off (timeout shorter than [`PAUSE_SECONDS`]).
    pub fn cutoff_rate(&self) -> f64 {
        Self::ratio(self.unfinished - self.unfinished_correct, self.unfinished)
    }

    /// Share of unfinished turns cut off by a pause of `BUDGETS_SECONDS[i]` (0.3 s, 0.6 s).
    pub fn cutoff_rate_at(&self, i: usize) -> f64 {
        Self::ratio(self.unfinished_cut_at[i], self.unfinished)
    }

    /// Share of complete turns answered within `BUDGETS_SECONDS[i]`.
    pub fn complete_within_rate(&self, i: usize) -> f64 {
        Self::ratio(self.complete_within[i], self.complete)
    }

    /// Mean timeout on complete turns, seconds: the latency every finished turn pays.
    pub fn mean_complete_timeout(&self) -> f64 {
        if self.complete == 0 {
            0.0
        } else {
            self.complete_timeout_sum / self.complete as f64
        }
    }

    /// Mean timeout on unfinished turns, seconds.
    pub fn mean_unfinished_timeout(&self) -> f64 {
        if self.unfinished == 0 {
            0.0
        } else {
            self.unfinished_timeout_sum / self.unfinished as f64
        }
    }
}

/// Switchboard, its cues alone and Vapi's default scored on the same utterances.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Comparison {
    /// Switchboard's decision (cues and learned model, by language).
    pub switchboard: Scores,
    /// Switchboard's cues alone, without the learned model.
    pub rules: Scores,
    /// Vapi's default heuristic.
    pub vapi_default: Scores,
    /// Utterances labelled `unsure` (not scored).
    pub unsure: usize,
}

impl Comparison {
    fn add(&mut self, utterance: &LabelledUtterance, ours: f64, rules: f64, theirs: f64) {
        if utterance.label == Label::Unsure {
            self.unsure += 1;
        }
        self.switchboard.add(utterance.label, ours);
        self.rules.add(utterance.label, rules);
        self.vapi_default.add(utterance.label, theirs);
    }
}

/// A scored utterance, for inspecting misses.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The utterance.
    pub utterance: LabelledUtterance,
    /// Switchboard's timeout.
    pub timeout_seconds: f64,
    /// Switchboard's P(complete).
    pub complete_probability: f64,
    /// The cues that fired, comma-separated.
    pub cues: String,
    /// The timeout of the cues alone.
    pub rules_timeout_seconds: f64,
    /// Vapi's default timeout.
    pub vapi_timeout_seconds: f64,
}

impl Scored {
    /// Whether Switchboard got this one wrong at the 0.6 s budget (an unfinished turn cut off by a 0.6 s
    /// pause, or a complete turn kept waiting longer than that).
    pub fn is_miss(&self) -> bool {
        let budget = BUDGETS_SECONDS[1];
        match self.utterance.label {
            Label::Speak => self.timeout_seconds > budget,
            Label::Wait => self.timeout_seconds <= budget,
            Label::Unsure => false,
        }
    }
}

/// The evaluation of a set: overall, by punctuation, by class, and every utterance scored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EvalReport {
    /// Every scored utterance.
    pub total: Comparison,
    /// Utterances with punctuation.
    pub punctuated: Comparison,
    /// Utterances without any punctuation.
    pub unpunctuated: Comparison,
    /// By the `cls` field.
    pub by_class: BTreeMap<String, Comparison>,
    /// Each utterance with both timeouts.
    pub scored: Vec<Scored>,
}

impl EvalReport {
    /// The utterances Switchboard got wrong.
    pub fn misses(&self) -> impl Iterator<Item = &Scored> {
        self.scored.iter().filter(|s| s.is_miss())
    }
}

/// Scores Switchboard (with `config`, in each utterance's language), its cues alone and Vapi's default
/// heuristic on `utterances`.
pub fn evaluate(utterances: &[LabelledUtterance], config: &EndpointingConfig) -> EvalReport {
    let rules_config = EndpointingConfig {
        model: false,
        ..config.clone()
    };
    let mut report = EvalReport::default();
    for utterance in utterances {
        let language = utterance.language();
        let decision = decide_in(&utterance.turn(), language, config);
        let ours = decision.timeout_seconds;
        let rules = decide_in(&utterance.turn(), language, &rules_config).timeout_seconds;
        let theirs = vapi_default_timeout(&utterance.text);
        report.total.add(utterance, ours, rules, theirs);
        if utterance.is_punctuated() {
            report.punctuated.add(utterance, ours, rules, theirs);
        } else {
            report.unpunctuated.add(utterance, ours, rules, theirs);
        }
        let class = utterance.class.clone().unwrap_or_else(|| "-".to_owned());
        report
            .by_class
            .entry(class)
            .or_default()
            .add(utterance, ours, rules, theirs);
        report.scored.push(Scored {
            utterance: utterance.clone(),
            timeout_seconds: ours,
            complete_probability: decision.complete_probability,
            cues: decision.cues.to_string(),
            rules_timeout_seconds: rules,
            vapi_timeout_seconds: theirs,
        });
    }
    report
}

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

fn seconds(x: f64) -> String {
    format!("{x:.3} s")
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.total;
        writeln!(
            f,
            "{} complete, {} unfinished, {} unsure (not scored); {} without punctuation.\n",
            t.switchboard.complete,
            t.switchboard.unfinished,
            t.unsure,
            self.unpunctuated.switchboard.complete
                + self.unpunctuated.switchboard.unfinished
                + self.unpunctuated.unsure
        )?;
        writeln!(
            f,
            "| policy | cut-offs @ 0.3 s | cut-offs @ 0.6 s | cut-offs @ {PAUSE_SECONDS} s | complete answered ≤ 0.6 s \
             | mean timeout, complete | mean timeout, unfinished |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|---:|")?;
        let policies = [
            ("Switchboard (cues + model)", &t.switchboard),
            ("Switchboard cues alone", &t.rules),
            ("Vapi default", &t.vapi_default),
        ];
        for (name, s) in policies {
            writeln!(
                f,
                "| {name} | {} | {} | {} | {} | {} | {} |",
                pct(s.cutoff_rate_at(0)),
                pct(s.cutoff_rate_at(1)),
                pct(s.cutoff_rate()),
                pct(s.complete_within_rate(1)),
                seconds(s.mean_complete_timeout()),
                seconds(s.mean_unfinished_timeout())
            )?;
        }
        writeln!(
            f,
            "\n| slice | n | cut-offs @ 0.6 s: Switchboard / cues / Vapi | mean timeout, complete: Switchboard / cues / Vapi |"
        )?;
        writeln!(f, "|---|---:|---|---|")?;
        let slices = [("punctuated", &self.punctuated), ("unpunctuated", &self.unpunctuated)];
        let classes = self.by_class.iter().map(|(name, c)| (name.as_str(), c));
        for (name, c) in slices.into_iter().chain(classes) {
            let n = c.switchboard.complete + c.switchboard.unfinished + c.unsure;
            if n == 0 {
                continue;
            }
            let scores = [&c.switchboard, &c.rules, &c.vapi_default];
            let cutoffs = if c.switchboard.unfinished == 0 {
                "-".to_owned()
            } else {
                scores.map(|s| pct(s.cutoff_rate_at(1))).join(" / ")
            };
            let means = if c.switchboard.complete == 0 {
                "-".to_owned()
            } else {
                scores.map(|s| seconds(s.mean_complete_timeout())).join(" / ")
            };
            writeln!(f, "| {name} | {n} | {cutoffs} | {means} |")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_layouts_and_strips_the_agent_prefix() {
        let object = br#"{"version": 1, "samples": [{"id": "x", "context": "Agent: Your number?", "text": "415", "label": "wait"}]}"#;
        let set = parse(object).unwrap();
        assert_eq!(set[0].assistant(), Some("Your number?"));
        let array = br#"[{"text": "ok", "label": "speak", "context": ""}]"#;
        assert_eq!(parse(array).unwrap()[0].assistant(), None);
        assert!(parse(br#"{"samples": [{"text": "x", "label": "maybe"}]}"#).is_err());
    }

    #[test]
    fn scores_count_cutoffs_and_means() {
        let set = parse(
            br#"[{"text": "Thanks.", "label": "speak"}, {"text": "I want the...", "label": "wait"},
                 {"text": "hmm", "label": "unsure"}]"#,
        )
        .unwrap();
        let report = evaluate(&set, &EndpointingConfig::default());
        assert_eq!(report.total.unsure, 1);
        assert_eq!(report.total.vapi_default.cutoff_rate(), 1.0);
        assert_eq!(report.total.switchboard.cutoff_rate(), 0.0);
        assert!((report.total.vapi_default.mean_complete_timeout() - 0.1).abs() < 1e-9);
        assert!(report.to_string().contains("| Switchboard (cues + model) |"));
        assert_eq!(report.total.vapi_default.cutoff_rate_at(0), 1.0);
        assert_eq!(report.total.vapi_default.complete_within_rate(1), 1.0);
    }
}
