//! The call's end-of-turn history: the endpointing decisions made for it and the speech around them, from which
//! a decision learns how this caller fares.
//!
//! # Cut-offs
//! A judged turn is an assistant start (`speech-update` assistant `started`) preceded by an endpointing
//! decision made since the previous assistant start: our timeout ran out and the assistant took the turn. It
//! was a **cut-off** when the caller started speaking again (`speech-update` user `started`, or
//! `user-interrupted`) after the assistant started and within [`CUT_OFF_WINDOW_MS`] of it; it **went well** once a later
//! event shows the window passed without that.
//!
//! # Time is Vapi's
//! Only the events' own timestamps count, never the order they arrive in: a speech event delivered late, or a
//! retry, is placed by its timestamp, and every judged turn is recomputed from the marks and decisions kept,
//! so an assistant start that arrives after the caller's resumption is judged the same as one that arrived
//! first. Events without a timestamp cannot be placed and are not used for timing. A duplicate delivery is
//! never seen here: [`crate::CallState::apply`] drops it by id first; and a turn is cut off once however many
//! resumptions fall in its window.
//!
//! # Bounded
//! The last [`MAX_DECISIONS`] decisions, [`MAX_MARKS`] speech marks and [`MAX_TURNS`] judged turns are kept.
//! A judged turn outlives the marks it was judged from, so the history of cut-offs spans more turns than the
//! marks do; what a decision stores (reasons, text, language) is cut to fixed sizes.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::text::truncate_at;

/// Decisions kept with the call (the newest).
pub const MAX_DECISIONS: usize = 16;
/// Speech marks kept (the latest by timestamp).
pub const MAX_MARKS: usize = 48;
/// Judged turns kept (the latest by timestamp).
pub const MAX_TURNS: usize = 16;
/// How soon after the assistant starts a caller who resumes speaking was cut off.
pub const CUT_OFF_WINDOW_MS: i64 = 1_000;
/// A silence between the caller stopping and starting again, with no assistant start between, longer than this
/// is not a pause inside a turn.
pub const MAX_PAUSE_MS: i64 = 5_000;
/// Reasons kept per decision.
pub const MAX_REASONS: usize = 32;
/// Bytes kept of each reason.
pub const MAX_REASON_BYTES: usize = 64;
/// Bytes kept of the end of the caller's turn a decision was about.
pub const MAX_DECISION_TEXT_BYTES: usize = 160;
/// Bytes kept of a decision's language code.
pub const MAX_LANGUAGE_BYTES: usize = 32;

/// One endpointing decision, as kept with the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointingDecision {
    /// When it was asked for (the request's timestamp), epoch milliseconds. Set from the event.
    #[serde(default)]
    pub at_ms: Option<i64>,
    /// The timeout answered, in seconds.
    pub timeout_seconds: f64,
    /// The timeout the turn's text alone gave, before the call's history adjusted it.
    pub base_timeout_seconds: f64,
    /// P(the turn is complete) from the text.
    pub complete_probability: f64,
    /// The policy's language (`en`, `es`, `other`).
    pub language: String,
    /// Why: the cues that fired and the adjustments the call's history made.
    pub reasons: Vec<String>,
    /// Whether the caller was reading out data (digits, letters) without having finished.
    pub dictation: bool,
    /// The end of the caller's turn.
    pub text: String,
}

impl EndpointingDecision {
    /// The decision with every text cut to the sizes this module keeps, and any number that is not finite
    /// made 0 (JSON has no NaN: a stored snapshot must read back).
    pub fn bounded(mut self) -> Self {
        for number in [
            &mut self.timeout_seconds,
            &mut self.base_timeout_seconds,
            &mut self.complete_probability,
        ] {
            if !number.is_finite() {
                *number = 0.0;
            }
        }
        self.reasons.truncate(MAX_REASONS);
        for reason in &mut self.reasons {
            let kept = truncate_at(reason, MAX_REASON_BYTES).len();
            reason.truncate(kept);
        }
        let kept = truncate_at(&self.language, MAX_LANGUAGE_BYTES).len();
        self.language.truncate(kept);
        self.text = tail_at(&self.text, MAX_DECISION_TEXT_BYTES).to_owned();
        self
    }
}

/// What a speech mark records. Marks of the same millisecond are kept in this order, so the marks kept are the
/// same whatever order they arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// The caller started speaking.
    UserStarted,
    /// The caller stopped speaking.
    UserStopped,
    /// The caller spoke over the assistant (`user-interrupted`).
    UserInterrupted,
    /// The assistant started speaking.
    AssistantStarted,
}

impl Mark {
    /// Whether the caller (re)started speaking.
    fn resumes(self) -> bool {
        matches!(self, Mark::UserStarted | Mark::UserInterrupted)
    }
}

/// A turn the assistant took after one of our decisions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JudgedTurn {
    /// When the decision that let the assistant speak was asked for.
    pub decided_at_ms: i64,
    /// When the assistant started speaking.
    pub assistant_started_at_ms: i64,
    /// The timeout that decision answered.
    pub timeout_seconds: f64,
    /// Whether the caller was reading out data.
    pub dictation: bool,
    /// Whether the caller resumed within [`CUT_OFF_WINDOW_MS`] of the assistant starting.
    pub cut_off: bool,
}

/// How a judged turn went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The caller resumed right after the assistant started: we judged them done too soon.
    CutOff,
    /// The window passed without the caller resuming.
    WentWell,
    /// Too early to tell: nothing later than the window's end is known yet.
    Pending,
}

/// The call's end-of-turn history (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpointing {
    /// The newest decisions, oldest first.
    decisions: VecDeque<EndpointingDecision>,
    /// Timestamped speech marks, in timestamp order.
    marks: VecDeque<(i64, Mark)>,
    /// Judged turns, in the order of their assistant start.
    turns: VecDeque<JudgedTurn>,
    /// The latest timestamp of a decision or mark.
    latest_ms: Option<i64>,
}

impl Endpointing {
    /// Records a decision; whether anything changed.
    pub(crate) fn decided(&mut self, decision: &EndpointingDecision, at_ms: Option<i64>) -> bool {
        let mut decision = decision.clone().bounded();
        decision.at_ms = at_ms;
        while self.decisions.len() >= MAX_DECISIONS {
            self.decisions.pop_front();
        }
        self.decisions.push_back(decision);
        if let Some(at) = at_ms {
            self.saw(at);
            self.rejudge();
        }
        true
    }

    /// Records a speech mark; whether anything changed. Marks without a timestamp cannot be placed in time.
    pub(crate) fn marked(&mut self, mark: Mark, at_ms: Option<i64>) -> bool {
        let Some(at) = at_ms else {
            return false;
        };
        let place = self.marks.partition_point(|seen| *seen <= (at, mark));
        if place == 0 && self.marks.len() >= MAX_MARKS {
            // Older than everything kept, and no room: it would be the first to go.
            return false;
        }
        self.marks.insert(place, (at, mark));
        while self.marks.len() > MAX_MARKS {
            self.marks.pop_front();
        }
        self.saw(at);
        self.rejudge();
        true
    }

    fn saw(&mut self, at: i64) {
        self.latest_ms = Some(self.latest_ms.map_or(at, |latest| latest.max(at)));
    }

    /// Judges every assistant start among the marks again, from the marks and decisions kept: a late event may
    /// have changed which decision preceded it, or whether the caller resumed in its window. Turns whose marks
    /// have been dropped keep their last judgement.
    fn rejudge(&mut self) {
        let mut previous_start: Option<i64> = None;
        for index in 0..self.marks.len() {
            let (at, mark) = self.marks[index];
            if mark != Mark::AssistantStarted {
                continue;
            }
            let since = previous_start;
            previous_start = Some(at);
            // The decision that let the assistant speak: the latest one since the previous assistant start.
            let decision = self
                .decisions
                .iter()
                .filter_map(|d| d.at_ms.map(|t| (t, d)))
                .filter(|(t, _)| *t <= at && since.is_none_or(|since| *t > since))
                .max_by_key(|(t, _)| *t);
            let place = self.turns.partition_point(|t| t.assistant_started_at_ms < at);
            let Some((decided_at_ms, decision)) = decision else {
                // A judgement made before an earlier assistant start arrived no longer holds.
                if self.turns.get(place).is_some_and(|t| t.assistant_started_at_ms == at) {
                    self.turns.remove(place);
                }
                continue;
            };
            let window = at.saturating_add(CUT_OFF_WINDOW_MS);
            let cut_off = self
                .marks
                .iter()
                .skip(index)
                .take_while(|(t, _)| *t <= window)
                .any(|(t, m)| *t > at && m.resumes());
            let turn = JudgedTurn {
                decided_at_ms,
                assistant_started_at_ms: at,
                timeout_seconds: decision.timeout_seconds,
                dictation: decision.dictation,
                cut_off,
            };
            match self.turns.get_mut(place) {
                Some(kept) if kept.assistant_started_at_ms == at => *kept = turn,
                _ => self.turns.insert(place, turn),
            }
        }
        while self.turns.len() > MAX_TURNS {
            self.turns.pop_front();
        }
    }

    /// The decisions kept, oldest first.
    pub fn decisions(&self) -> impl ExactSizeIterator<Item = &EndpointingDecision> {
        self.decisions.iter()
    }

    /// The judged turns kept, in the order the assistant took them.
    pub fn turns(&self) -> impl ExactSizeIterator<Item = &JudgedTurn> {
        self.turns.iter()
    }

    /// How each judged turn kept went, in order.
    pub fn outcomes(&self) -> impl Iterator<Item = Outcome> + '_ {
        self.turns.iter().map(|turn| {
            if turn.cut_off {
                Outcome::CutOff
            } else if self
                .latest_ms
                .is_some_and(|latest| latest > turn.assistant_started_at_ms.saturating_add(CUT_OFF_WINDOW_MS))
            {
                Outcome::WentWell
            } else {
                Outcome::Pending
            }
        })
    }

    /// How many judged turns kept were cut-offs.
    pub fn cut_offs(&self) -> usize {
        self.turns.iter().filter(|turn| turn.cut_off).count()
    }

    /// The caller's recent pauses inside a turn, in milliseconds, oldest first: a stop followed by a start of
    /// the caller with nothing else between, at most [`MAX_PAUSE_MS`] apart.
    pub fn pauses_ms(&self) -> Vec<i64> {
        self.marks
            .iter()
            .zip(self.marks.iter().skip(1))
            .filter(|((_, a), (_, b))| *a == Mark::UserStopped && *b == Mark::UserStarted)
            .map(|((stopped, _), (started, _))| started.saturating_sub(*stopped))
            .filter(|pause| (1..=MAX_PAUSE_MS).contains(pause))
            .collect()
    }

    /// Whether the caller is in the middle of reading out data: the latest decision saw a readout in
    /// progress, and the assistant has not taken the turn since, or took it and cut the caller off.
    pub fn dictation_in_progress(&self) -> bool {
        let Some(latest) = self
            .decisions
            .iter()
            .filter_map(|d| d.at_ms.map(|t| (t, d)))
            .max_by_key(|(t, _)| *t)
        else {
            return false;
        };
        let (decided_at, decision) = latest;
        if !decision.dictation {
            return false;
        }
        match self.turns.iter().rev().find(|t| t.decided_at_ms == decided_at) {
            Some(turn) => turn.cut_off,
            None => true,
        }
    }

    /// Heap bytes owned, by capacity (for [`crate::CallState::footprint`]).
    pub(crate) fn heap(&self) -> usize {
        use std::mem::size_of;
        self.decisions.capacity() * size_of::<EndpointingDecision>()
            + self
                .decisions
                .iter()
                .map(|d| {
                    d.language.capacity()
                        + d.text.capacity()
                        + d.reasons.capacity() * size_of::<String>()
                        + d.reasons.iter().map(String::capacity).sum::<usize>()
                })
                .sum::<usize>()
            + self.marks.capacity() * size_of::<(i64, Mark)>()
            + self.turns.capacity() * size_of::<JudgedTurn>()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.decisions.is_empty() && self.marks.is_empty() && self.turns.is_empty()
    }
}

/// The last `max` bytes of `text`, cut on a char boundary.
fn tail_at(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(timeout: f64, dictation: bool) -> EndpointingDecision {
        EndpointingDecision {
            at_ms: None,
            timeout_seconds: timeout,
            base_timeout_seconds: timeout,
            complete_probability: 0.9,
            language: "en".into(),
            reasons: vec!["terminal_punctuation".into()],
            dictation,
            text: "I need a cleaning".into(),
        }
    }

    /// A turn at `t`: decided, the assistant starts at `t + 500`, the caller resumes at `t + resume`.
    fn turn(record: &mut Endpointing, t: i64, resume: Option<i64>) {
        record.decided(&decision(0.2, false), Some(t));
        record.marked(Mark::AssistantStarted, Some(t + 500));
        if let Some(resume) = resume {
            record.marked(Mark::UserStarted, Some(t + resume));
        }
    }

    #[test]
    fn a_resumption_inside_the_window_is_a_cut_off_and_later_ones_are_not() {
        let mut record = Endpointing::default();
        turn(&mut record, 0, Some(900));
        turn(&mut record, 10_000, Some(2_000));
        turn(&mut record, 20_000, None);
        record.marked(Mark::UserStopped, Some(30_000));
        let outcomes: Vec<_> = record.outcomes().collect();
        assert_eq!(outcomes, [Outcome::CutOff, Outcome::WentWell, Outcome::WentWell]);
    }

    #[test]
    fn arrival_order_does_not_matter() {
        let mut in_order = Endpointing::default();
        turn(&mut in_order, 0, Some(700));
        let mut reversed = Endpointing::default();
        reversed.marked(Mark::UserStarted, Some(700));
        reversed.marked(Mark::AssistantStarted, Some(500));
        reversed.decided(&decision(0.2, false), Some(0));
        assert_eq!(in_order.turns, reversed.turns);
        assert_eq!(reversed.cut_offs(), 1);
    }

    #[test]
    fn the_callers_own_start_before_the_assistant_is_not_a_cut_off() {
        let mut record = Endpointing::default();
        record.marked(Mark::UserStarted, Some(-2_000));
        turn(&mut record, 0, None);
        // Delivered late, but spoken before the assistant started.
        record.marked(Mark::UserStarted, Some(400));
        assert_eq!(record.cut_offs(), 0);
    }

    #[test]
    fn pauses_are_gaps_between_the_callers_stop_and_start() {
        let mut record = Endpointing::default();
        record.marked(Mark::UserStarted, Some(0));
        record.marked(Mark::UserStopped, Some(1_000));
        record.marked(Mark::UserStarted, Some(2_200));
        record.marked(Mark::UserStopped, Some(3_000));
        record.marked(Mark::AssistantStarted, Some(3_600));
        record.marked(Mark::UserStarted, Some(9_000));
        assert_eq!(record.pauses_ms(), [1_200]);
    }

    #[test]
    fn dictation_holds_until_the_assistant_takes_a_turn_that_goes_well() {
        let mut record = Endpointing::default();
        record.decided(&decision(2.0, true), Some(0));
        assert!(record.dictation_in_progress());
        record.marked(Mark::AssistantStarted, Some(2_500));
        record.marked(Mark::UserStarted, Some(2_900));
        assert!(record.dictation_in_progress(), "cut off mid-readout");
        record.decided(&decision(0.1, false), Some(5_000));
        assert!(!record.dictation_in_progress());
    }

    #[test]
    fn everything_kept_is_bounded() {
        let mut record = Endpointing::default();
        for i in 0..1_000 {
            let mut long = decision(0.2, false);
            long.reasons = vec!["x".repeat(1_000); 100];
            long.text = "y".repeat(10_000);
            long.language = "z".repeat(1_000);
            record.decided(&long, Some(i * 10_000));
            record.marked(Mark::AssistantStarted, Some(i * 10_000 + 500));
            record.marked(Mark::UserStarted, Some(i * 10_000 + 900));
        }
        assert_eq!(record.decisions().len(), MAX_DECISIONS);
        assert!(record.marks.len() <= MAX_MARKS);
        assert_eq!(record.turns().len(), MAX_TURNS);
        let mut odd = decision(f64::NAN, false);
        odd.complete_probability = f64::INFINITY;
        let odd = odd.bounded();
        assert_eq!((odd.timeout_seconds, odd.complete_probability), (0.0, 0.0));
        let kept = record.decisions().next().unwrap();
        assert_eq!(kept.reasons.len(), MAX_REASONS);
        assert!(kept.reasons.iter().all(|r| r.len() <= MAX_REASON_BYTES));
        assert!(kept.text.len() <= MAX_DECISION_TEXT_BYTES && kept.language.len() <= MAX_LANGUAGE_BYTES);
        // Old marks arriving late do not displace the recent ones.
        assert!(!record.marked(Mark::UserStarted, Some(-5)));
    }

    proptest::proptest! {
        /// Whatever order the same decisions and marks arrive in (within the bounds), the history judges the
        /// same turns the same way.
        #[test]
        fn arrival_order_never_changes_the_judgement(
            decided in proptest::collection::btree_set(0i64..40, 0..8),
            marks in proptest::collection::vec((0i64..40, 0u8..4), 0..30),
            seed in proptest::prelude::any::<u64>(),
        ) {
            #[derive(Clone)]
            enum Arrival { Decided(i64), Marked(i64, Mark) }
            let kinds = [Mark::UserStarted, Mark::UserStopped, Mark::UserInterrupted, Mark::AssistantStarted];
            let mut arrivals: Vec<Arrival> = decided.iter().map(|at| Arrival::Decided(at * 250)).collect();
            arrivals.extend(marks.iter().map(|(at, kind)| Arrival::Marked(at * 250 + 7, kinds[*kind as usize])));
            let fold = |arrivals: &[Arrival]| {
                let mut record = Endpointing::default();
                for arrival in arrivals {
                    match arrival {
                        Arrival::Decided(at) => record.decided(&decision(0.2, at % 500 == 0), Some(*at)),
                        Arrival::Marked(at, mark) => record.marked(*mark, Some(*at)),
                    };
                }
                record
            };
            let in_order = fold(&arrivals);
            // A deterministic shuffle from the seed.
            let mut shuffled = arrivals.clone();
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let reordered = fold(&shuffled);
            proptest::prop_assert_eq!(&in_order.turns, &reordered.turns);
            proptest::prop_assert_eq!(&in_order.marks, &reordered.marks);
            proptest::prop_assert_eq!(in_order.outcomes().collect::<Vec<_>>(), reordered.outcomes().collect::<Vec<_>>());
            proptest::prop_assert_eq!(in_order.pauses_ms(), reordered.pauses_ms());
            proptest::prop_assert_eq!(in_order.dictation_in_progress(), reordered.dictation_in_progress());
        }
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let mut record = Endpointing::default();
        for at in [i64::MIN, i64::MAX, 0, i64::MAX - 1, i64::MIN + 1] {
            record.decided(&decision(0.2, true), Some(at));
            record.marked(Mark::UserStopped, Some(at));
            record.marked(Mark::UserStarted, Some(at));
            record.marked(Mark::AssistantStarted, Some(at));
            record.marked(Mark::UserStopped, Some(at));
        }
        record.marked(Mark::UserStarted, Some(i64::MAX));
        let _ = (
            record.outcomes().count(),
            record.pauses_ms(),
            record.dictation_in_progress(),
        );
        assert!(record.pauses_ms().iter().all(|p| (1..=MAX_PAUSE_MS).contains(p)));
    }
}
