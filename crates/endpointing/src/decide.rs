//! The pure decision: how likely the user's turn is complete, and how long to wait before the assistant speaks.
//!
//! [`decide_in`] reads the user's text (and the assistant's question before it), finds the [`Cue`]s that fire
//! (English or Spanish word lists, or only punctuation and digits for other languages), adds their weights to a
//! logit, for English blends it with the learned model's logit ([`Blend`]), turns that into P(turn complete),
//! and maps P(still speaking) through the configured [`WaitFunction`](crate::WaitFunction). It works with and
//! without punctuation, because many speech-to-text streams have none. It allocates lowercase copies of the
//! (bounded) text and small token vectors, and does no I/O.
//!
//! Deliberately absent: reading files, any state across calls, any knowledge of the wire JSON.

use std::fmt;

use crate::config::{EndpointingConfig, clamp_timeout};
use crate::language::Language;
use crate::lexicon as lex;
use crate::model::EotModel;
use crate::spanish;

/// Only the last this many bytes of the user's text are read: the cues live at the end of the turn, and the
/// bound keeps the decision fast on arbitrarily long input.
const MAX_TAIL_BYTES: usize = 600;

/// Logit before any cue fires: an utterance with no cue leans complete.
const BIAS: f64 = 0.8;

/// One utterance to decide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn<'a> {
    /// What the user has said so far in this turn (the latest transcript).
    pub user: &'a str,
    /// The assistant's message before it, usually the question being answered.
    pub assistant: Option<&'a str>,
}

impl<'a> Turn<'a> {
    /// A turn with no assistant context.
    pub const fn new(user: &'a str) -> Self {
        Self { user, assistant: None }
    }

    /// A turn answering the given assistant message.
    pub const fn answering(assistant: &'a str, user: &'a str) -> Self {
        Self {
            user,
            assistant: Some(assistant),
        }
    }
}

macro_rules! cues {
    ($( $(#[$doc:meta])* $name:ident = $bit:expr, $label:literal, $weight:expr; )*) => {
        /// A textual signal about whether the user has finished their turn.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Cue {
            $( $(#[$doc])* $name = $bit, )*
        }

        impl Cue {
            /// Every cue, in a fixed order.
            pub const ALL: &'static [Cue] = &[$(Cue::$name,)*];

            /// A stable snake_case name, for logs and the eval report.
            pub const fn name(self) -> &'static str {
                match self { $(Cue::$name => $label,)* }
            }

            /// What this cue adds to the completion logit (positive: complete).
            pub const fn weight(self) -> f64 {
                match self { $(Cue::$name => $weight,)* }
            }
        }
    };
}

cues! {
    /// The text ends with `.` or `!`.
    TerminalPunctuation = 0, "terminal_punctuation", 2.2;
    /// The text ends with `?`.
    QuestionMark = 1, "question_mark", 2.6;
    /// The last sentence is phrased as a question (wh-word or inverted auxiliary), with or without `?`.
    QuestionForm = 2, "question_form", 1.2;
    /// The text ends with `...` or `…`: the transcriber heard the voice trail off.
    TrailingEllipsis = 3, "trailing_ellipsis", -1.6;
    /// The text ends with `,`, `;` or `:`.
    TrailingComma = 4, "trailing_comma", -2.2;
    /// The text ends with a dash: the speaker broke off.
    TrailingDash = 5, "trailing_dash", -2.5;
    /// The last word is a conjunction (`and`, `but`, `because`, `although`...).
    TrailingConjunction = 6, "trailing_conjunction", -4.5;
    /// The last word is a preposition that needs an object (`to`, `for`, `with`...).
    TrailingPreposition = 7, "trailing_preposition", -4.0;
    /// The last word is an article, possessive or determiner (`the`, `a`, `my`...).
    TrailingArticle = 8, "trailing_article", -4.5;
    /// The last word is an auxiliary or copula (`is`, `can`, `it's`...) still waiting for its predicate.
    TrailingAuxiliary = 9, "trailing_auxiliary", -3.2;
    /// The last word is a subject pronoun (`I`, `we`...) with no verb yet.
    TrailingSubject = 10, "trailing_subject", -3.5;
    /// The last word is a verb that needs a complement (`want`, `need`, `trying`...).
    TrailingVerb = 11, "trailing_verb", -2.8;
    /// The text ends with a filler (`um`, `uh`, `like`, `you know`, `I mean`...).
    TrailingFiller = 12, "trailing_filler", -4.5;
    /// The speaker announced more to come (`one more thing`, `two things`, `the thing is`).
    AnnouncedContinuation = 13, "announced_continuation", -4.0;
    /// A list that is still open (`first...` without a second item, a comma-separated run ending in a comma).
    UnfinishedList = 14, "unfinished_list", -2.4;
    /// Digits, number words or spelled letters are being read out (or the assistant asked for them).
    Dictation = 15, "dictation", -5.0;
    /// A readout has the length the assistant asked for (ten digits for a phone number, five for a zip).
    DictationComplete = 16, "dictation_complete", 5.5;
    /// The caller asked for time (`hold on`, `let me check`, `give me a second to find it`).
    HoldRequest = 17, "hold_request", -4.0;
    /// The caller announced a pause for something else (`hold on, the receiver is waving at me`): acknowledge.
    StepAway = 18, "step_away", 4.5;
    /// The speaker broke off and restarted (`book me on the- wait`, `at sorry I'm`).
    SelfCorrection = 19, "self_correction", -3.5;
    /// The speaker withdrew what they were saying (`scratch that`, `never mind`).
    Retraction = 20, "retraction", 4.5;
    /// The turn ends on a hedge (`I guess`, `maybe`, `I think`): usually a hand-off.
    Hedge = 21, "hedge", 3.2;
    /// The whole turn is a short acknowledgement (`okay got it`, `yeah`, `perfect thanks`).
    Acknowledgement = 22, "acknowledgement", 4.0;
    /// A short answer that ends on an auxiliary (`yes I can`, `no it isn't`, `I'd love to`).
    ShortAnswer = 23, "short_answer", 4.0;
    /// A short answer to the assistant's question, ending on a content word (`Tuesday works`).
    AnswersQuestion = 24, "answers_question", 1.2;
    /// The last word commonly ends a sentence (`please`, `today`, `it`, `thanks`...).
    SentenceFinalWord = 25, "sentence_final_word", 1.2;
    /// The caller asked the assistant to stop or let them finish (`please stop talking`, `let me finish`):
    /// the assistant holds off, like for a hold request.
    StopRequest = 26, "stop_request", -4.0;
}

impl Cue {
    /// Whether this cue alone shows the turn is unfinished (a dangling function word, a readout in progress,
    /// a request for time): the learned model cannot overturn it.
    pub const fn is_decisive_unfinished(self) -> bool {
        matches!(
            self,
            Cue::TrailingConjunction
                | Cue::TrailingPreposition
                | Cue::TrailingArticle
                | Cue::TrailingAuxiliary
                | Cue::TrailingFiller
                | Cue::TrailingComma
                | Cue::TrailingDash
                | Cue::TrailingEllipsis
                | Cue::AnnouncedContinuation
                | Cue::UnfinishedList
                | Cue::Dictation
                | Cue::HoldRequest
                | Cue::StopRequest
                | Cue::SelfCorrection
        )
    }

    /// Whether this cue alone shows the turn is complete (an acknowledgement, a readout of the asked length, a
    /// pause announced for something else, a withdrawal, a short answer, a hedge, a few content words answering
    /// the assistant's question): the learned model cannot overturn it.
    pub const fn is_decisive_complete(self) -> bool {
        matches!(
            self,
            Cue::Acknowledgement
                | Cue::DictationComplete
                | Cue::StepAway
                | Cue::Retraction
                | Cue::ShortAnswer
                | Cue::Hedge
                | Cue::AnswersQuestion
        )
    }
}

impl fmt::Display for Cue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of cues that fired for one decision (a bit set: `Copy`, no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Cues(u32);

impl Cues {
    /// No cue.
    pub const EMPTY: Self = Self(0);

    /// Whether `cue` fired.
    pub const fn contains(self, cue: Cue) -> bool {
        self.0 & (1 << cue as u32) != 0
    }

    /// Adds `cue`.
    pub const fn insert(&mut self, cue: Cue) {
        self.0 |= 1 << cue as u32;
    }

    /// Removes `cue`.
    pub const fn remove(&mut self, cue: Cue) {
        self.0 &= !(1 << cue as u32);
    }

    /// Whether no cue fired.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The cues that fired, in [`Cue::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Cue> {
        Cue::ALL.iter().copied().filter(move |cue| self.contains(*cue))
    }
}

impl fmt::Display for Cues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, cue) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(cue.name())?;
        }
        Ok(())
    }
}

/// The outcome of [`decide`], with what led to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// P(the user's turn is complete), 0 to 1.
    pub complete_probability: f64,
    /// How long Vapi should wait after the user stops speaking, within `[0, 15]`.
    pub timeout_seconds: f64,
    /// The cues that fired.
    pub cues: Cues,
}

/// Decides how long to wait before the assistant takes its turn, for an English turn (or one whose language is
/// not known). Same as [`decide_in`] with [`Language::English`].
pub fn decide(turn: &Turn<'_>, config: &EndpointingConfig) -> Decision {
    decide_in(turn, Language::English, config)
}

/// How the English cues and the learned model combine into one completion logit:
/// `rules * (cue logit - cue bias) + model * model logit + offset`.
///
/// The cues' bias (their prior for a turn where no cue fires) is replaced by the model, which has seen far
/// more endings than the word lists hold; the cues keep their say where they are reliable (dictation, hold
/// and stop requests, acknowledgements, punctuation). [`Blend::DEFAULT`] was chosen with
/// `cargo run -p endpointing --example tune` on the development set and the training data's validation
/// split, never on the hold-out set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blend {
    /// Weight of the cues (their logit less their bias).
    pub rules: f64,
    /// Weight of the model's logit.
    pub model: f64,
    /// Added to the sum.
    pub offset: f64,
}

impl Blend {
    /// The blend Switchboard uses.
    pub const DEFAULT: Blend = Blend {
        rules: 0.5,
        model: 1.25,
        offset: -0.5,
    };
}

/// P(still speaking) the cautious policy assumes for a language without cues: with terminal punctuation, and
/// without it (never a short timeout then).
const CAUTIOUS_PUNCTUATED: f64 = 0.25;
const CAUTIOUS_UNPUNCTUATED: f64 = 0.8;

/// Decides how long to wait before the assistant takes its turn, with the policy of `language`: English uses
/// its cues blended with the learned model (unless `config.model` is off), Spanish its own cues, and any
/// other language the cautious policy (terminal punctuation and digit readouts only).
pub fn decide_in(turn: &Turn<'_>, language: Language, config: &EndpointingConfig) -> Decision {
    decide_blended(turn, language, config, Blend::DEFAULT)
}

/// [`decide_in`] with an explicit [`Blend`] of cues and model (for tuning the blend).
pub fn decide_blended(turn: &Turn<'_>, language: Language, config: &EndpointingConfig, blend: Blend) -> Decision {
    let wait = config.wait_function();
    let (cues, complete_probability) = match language {
        Language::English => {
            let cues = detect(turn);
            let rules = cues.iter().fold(BIAS, |sum, cue| sum + cue.weight());
            // A decisive cue sets the direction: the model may only strengthen it, never overturn it. When
            // decisive cues disagree, the cues alone decide.
            let unfinished = cues.iter().any(Cue::is_decisive_unfinished);
            let complete = cues.iter().any(Cue::is_decisive_complete);
            let logit = if !config.model || (unfinished && complete) {
                rules
            } else {
                let model = model_logit(EotModel::english(), turn);
                let model = match (unfinished, complete) {
                    (true, _) => model.min(0.0),
                    (_, true) => model.max(0.0),
                    _ => model,
                };
                blend.rules * (rules - BIAS) + blend.model * model + blend.offset
            };
            (cues, logistic(logit))
        }
        Language::Spanish => {
            let cues = spanish::detect(turn);
            let logit = cues.iter().fold(spanish::BIAS, |sum, cue| sum + cue.weight());
            (cues, logistic(logit))
        }
        Language::Other => {
            let cues = detect_cautious(turn);
            let still = if cues.contains(Cue::TerminalPunctuation) || cues.contains(Cue::QuestionMark) {
                CAUTIOUS_PUNCTUATED
            } else {
                CAUTIOUS_UNPUNCTUATED
            };
            let still = if cues.contains(Cue::Dictation) { 1.0 } else { still };
            (cues, 1.0 - still)
        }
    };
    let mut timeout_seconds = wait.timeout(1.0 - complete_probability);
    if cues.contains(Cue::HoldRequest) || cues.contains(Cue::StopRequest) {
        timeout_seconds = timeout_seconds.max(wait.hold_seconds);
    }
    Decision {
        complete_probability,
        timeout_seconds: clamp_timeout(timeout_seconds),
        cues,
    }
}

fn logistic(logit: f64) -> f64 {
    1.0 / (1.0 + (-logit).exp())
}

/// The lowercase text a decision reads: the tail of the turn, with typographic apostrophes made plain.
pub(crate) fn normalized(text: &str) -> String {
    tail(text).to_lowercase().replace(['’', '‘'], "'")
}

/// The learned model's completion logit for a turn.
pub(crate) fn model_logit(model: &EotModel, turn: &Turn<'_>) -> f64 {
    let lower = normalized(turn.user);
    let all = words(&lower);
    let asked = turn
        .assistant
        .map(str::trim_end)
        .filter(|a| !a.trim_start().is_empty())
        .map(|a| a.ends_with('?'));
    model.logit(&all, ending_of(&lower).name(), asked)
}

/// The cues every language shares: terminal punctuation and a run of digits being read out.
fn detect_cautious(turn: &Turn<'_>) -> Cues {
    let mut cues = Cues::EMPTY;
    let lower = normalized(turn.user);
    let all = words(&lower);
    if all.is_empty() {
        return cues;
    }
    match ending_of(&lower) {
        Ending::Stop => cues.insert(Cue::TerminalPunctuation),
        Ending::Question => cues.insert(Cue::QuestionMark),
        Ending::Ellipsis => cues.insert(Cue::TrailingEllipsis),
        Ending::Comma => cues.insert(Cue::TrailingComma),
        Ending::Dash => cues.insert(Cue::TrailingDash),
        Ending::None => {}
    }
    let digits = all
        .iter()
        .rev()
        .take_while(|w| w.bytes().all(|b| b.is_ascii_digit()))
        .count();
    if digits >= 2 && !matches!(ending_of(&lower), Ending::Stop | Ending::Question) {
        cues.insert(Cue::Dictation);
    }
    cues
}

/// Vapi's default heuristic (`transcriptionEndpointingPlan` defaults): 0.5 s when the transcript ends with a
/// number, 0.1 s when it ends with punctuation, 1.5 s otherwise. Kept for comparison in the evaluation.
pub fn vapi_default_timeout(text: &str) -> f64 {
    let trimmed = text.trim_end();
    let unpunctuated = trimmed.trim_end_matches(|c: char| c.is_ascii_punctuation() || c == '…');
    if unpunctuated.ends_with(|c: char| c.is_ascii_digit()) {
        0.5
    } else if unpunctuated.len() < trimmed.len() {
        0.1
    } else {
        1.5
    }
}

/// The end of the text, as the transcriber punctuated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    None,
    Stop,
    Question,
    Ellipsis,
    Comma,
    Dash,
}

impl Ending {
    /// The cue this ending gives, in every language.
    pub(crate) const fn cue(self) -> Option<Cue> {
        match self {
            Self::Stop => Some(Cue::TerminalPunctuation),
            Self::Question => Some(Cue::QuestionMark),
            Self::Ellipsis => Some(Cue::TrailingEllipsis),
            Self::Comma => Some(Cue::TrailingComma),
            Self::Dash => Some(Cue::TrailingDash),
            Self::None => None,
        }
    }

    /// The class name the model's features use (`train.py` spells them the same way).
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Stop => "stop",
            Self::Question => "question",
            Self::Ellipsis => "ellipsis",
            Self::Comma => "comma",
            Self::Dash => "dash",
        }
    }
}

pub(crate) fn ending_of(text: &str) -> Ending {
    let t = text.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '”' | '’'));
    if t.ends_with("...") || t.ends_with('…') {
        Ending::Ellipsis
    } else if t.ends_with('?') {
        Ending::Question
    } else if t.ends_with('.') || t.ends_with('!') {
        Ending::Stop
    } else if t.ends_with([',', ';', ':']) {
        Ending::Comma
    } else if t.ends_with(['-', '—', '–']) {
        Ending::Dash
    } else {
        Ending::None
    }
}

/// The last `MAX_TAIL_BYTES` of `text`, cut on a char boundary.
fn tail(text: &str) -> &str {
    if text.len() <= MAX_TAIL_BYTES {
        return text;
    }
    let mut start = text.len() - MAX_TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Splits lowercase text into words: runs of letters, digits and inner apostrophes.
pub(crate) fn words(lower: &str) -> Vec<&str> {
    lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether the text contains a cut-off dash (`the- wait`, `for— actually`), as opposed to a hyphenated word.
fn has_cut_dash(text: &str) -> bool {
    let bytes: Vec<char> = text.chars().collect();
    bytes
        .windows(3)
        .any(|w| w[0].is_alphanumeric() && matches!(w[1], '-' | '—' | '–') && w[2].is_whitespace())
        || text.contains(" — ")
        || text.contains(" - ")
}

pub(crate) fn ends_with_phrase(words: &[&str], phrase: &[&str]) -> bool {
    words.len() >= phrase.len() && words[words.len() - phrase.len()..] == *phrase
}

pub(crate) fn find_phrase(words: &[&str], phrase: &[&str]) -> Option<usize> {
    words.windows(phrase.len()).rposition(|w| w == phrase)
}

/// Detects every cue in a turn.
pub fn detect(turn: &Turn<'_>) -> Cues {
    let mut cues = Cues::EMPTY;
    let lower = normalized(turn.user);
    let all = words(&lower);
    if all.is_empty() {
        return cues;
    }
    let ending = ending_of(&lower);
    if let Some(cue) = ending.cue() {
        cues.insert(cue);
    }

    let last = all[all.len() - 1];
    let prev = all.len().checked_sub(2).map(|i| all[i]);
    let context = turn.assistant.map(|a| tail(a).to_lowercase());
    let context_words = context.as_deref().map(words).unwrap_or_default();

    if is_acknowledgement(&all) {
        cues.insert(Cue::Acknowledgement);
    }
    if is_question_form(&lower, ending) {
        cues.insert(Cue::QuestionForm);
    }
    detect_trailing_word(&all, last, prev, ending, &mut cues);
    detect_hold(&all, expected_data(&context_words).is_some(), &mut cues);
    detect_stop(&all, &mut cues);
    detect_correction(&lower, &all, ending, &mut cues);
    detect_continuation(&all, ending, &mut cues);
    detect_dictation(&all, &lower, &context_words, &mut cues);
    detect_hedge(&all, &mut cues);
    detect_short_answer(&all, &context_words, context.as_deref(), ending, &mut cues);

    // Cues that explain the same ending should not both count.
    if cues.contains(Cue::Acknowledgement) {
        cues.remove(Cue::AnswersQuestion);
        cues.remove(Cue::SentenceFinalWord);
    }
    if cues.contains(Cue::Dictation) {
        cues.remove(Cue::SentenceFinalWord);
        cues.remove(Cue::AnswersQuestion);
    }
    if cues.contains(Cue::StepAway) {
        cues.remove(Cue::HoldRequest);
    }
    if cues.contains(Cue::Retraction) {
        cues.remove(Cue::SelfCorrection);
    }
    if cues.contains(Cue::StopRequest) {
        for cue in [
            Cue::StepAway,
            Cue::Acknowledgement,
            Cue::AnswersQuestion,
            Cue::SentenceFinalWord,
            Cue::Retraction,
        ] {
            cues.remove(cue);
        }
    }
    cues
}

/// A request to stop talking or to let the caller finish (`please stop talking`, `let me finish`, `stop,
/// stop`), as opposed to stopping a service (`stop my subscription`, `the next stop`).
fn detect_stop(all: &[&str], cues: &mut Cues) {
    if lex::STOP_PHRASES
        .iter()
        .any(|phrase| find_phrase(all, phrase).is_some())
    {
        cues.insert(Cue::StopRequest);
        return;
    }
    // A bare `stop` is addressed to the assistant unless it has an object or is a noun (`the last stop`). In a
    // short turn it may stand anywhere; a longer one must open with it (`stop, I just want to return this`).
    let first = all.iter().position(|w| *w == "stop");
    let opens = first.is_some_and(|i| i == 0 || (i == 1 && matches!(all[0], "please" | "no" | "okay" | "ok" | "hey")));
    if all.len() > 6 && !opens {
        return;
    }
    let addressed = first.is_some_and(|i| {
        let object = all
            .get(i + 1)
            .is_some_and(|next| lex::is_article(next) || lex::is_transitive_object(next));
        let noun = i > 0 && (lex::is_article(all[i - 1]) || matches!(all[i - 1], "next" | "last" | "first" | "bus"));
        !object && !noun
    });
    if addressed {
        cues.insert(Cue::StopRequest);
    }
}

fn is_acknowledgement(all: &[&str]) -> bool {
    // `do` is an ack word for `will do`; a turn that starts with it opens a question (`do you`).
    all.len() <= 6
        && all.first() != Some(&"do")
        && all.iter().all(|w| lex::is_ack_word(w))
        && !all.last().is_some_and(|w| lex::is_open_ack_end(w))
        && !all.iter().all(|w| lex::is_ack_function(w))
}

/// The last sentence starts, after discourse markers, with a wh-word or an inverted auxiliary.
fn is_question_form(lower: &str, ending: Ending) -> bool {
    let body = lower.trim_end_matches(|c: char| !c.is_alphanumeric());
    let start = match ending {
        // With punctuation, the last sentence starts after the last inner terminator.
        Ending::None => 0,
        _ => body.rfind(['.', '?', '!']).map_or(0, |i| i + 1),
    };
    let sentence = words(&body[start..]);
    let mut rest = sentence.as_slice();
    while let Some((first, tail)) = rest.split_first() {
        if lex::is_discourse_marker(first) {
            rest = tail;
        } else {
            break;
        }
    }
    match rest {
        [first, _, _, ..] => lex::is_wh_word(first) || lex::is_question_auxiliary(first),
        _ => false,
    }
}

fn detect_trailing_word(all: &[&str], last: &str, prev: Option<&str>, ending: Ending, cues: &mut Cues) {
    let closed_then = last == "then"
        && prev.is_some_and(|p| {
            matches!(
                p,
                "you" | "it" | "okay" | "ok" | "until" | "since" | "by" | "fine" | "good" | "great" | "there"
            )
        });
    let even_though = last == "though" && prev == Some("even");
    let filler_phrase = ends_with_phrase(all, &["you", "know"]) && ending != Ending::Question
        || ends_with_phrase(all, &["you", "know", "what"])
        || ends_with_phrase(all, &["i", "mean"])
        || ends_with_phrase(all, &["kind", "of"])
        || ends_with_phrase(all, &["sort", "of"]);
    if filler_phrase {
        cues.insert(Cue::TrailingFiller);
    } else if even_though
        || lex::is_conjunction(last) && !closed_then && !(last == "so" && prev.is_some_and(lex::is_so_complement_verb))
    {
        cues.insert(Cue::TrailingConjunction);
    } else if lex::is_strong_preposition(last) {
        cues.insert(Cue::TrailingPreposition);
    } else if lex::is_weak_preposition(last) && !prev.is_some_and(lex::is_object_pronoun) {
        // `in`, `on`, `up`... are often verb particles (`sign me up`); a weaker signal.
        if !prev.is_some_and(lex::is_particle_verb) {
            cues.insert(Cue::TrailingPreposition);
        }
    } else if lex::is_article(last) {
        cues.insert(Cue::TrailingArticle);
    } else if lex::is_auxiliary(last) {
        cues.insert(Cue::TrailingAuxiliary);
    } else if lex::is_copula_adverb(last) && prev.is_some_and(lex::is_auxiliary) {
        // `my ETA is now...`: the adverb sits where the predicate should be.
        cues.insert(Cue::TrailingAuxiliary);
    } else if lex::is_subject_pronoun(last) {
        cues.insert(Cue::TrailingSubject);
    } else if lex::is_complement_verb(last)
        || (last == "like" && prev.is_some_and(|p| matches!(p, "i'd" | "would" | "we'd")))
        || (prev == Some("to")
            && lex::is_transitive_verb(last)
            && !(all.len() >= 3 && matches!(all[all.len() - 3], "good" | "nice" | "great" | "glad" | "happy")))
        || (last == "please"
            && all.len() >= 3
            && all[all.len() - 2] == "you"
            && lex::is_question_auxiliary(all[all.len() - 3]))
    {
        cues.insert(Cue::TrailingVerb);
    } else if lex::is_filler(last) {
        cues.insert(Cue::TrailingFiller);
    } else if lex::is_sentence_final(last)
        || (last == "you" && prev.is_some_and(|p| matches!(p, "thank" | "see" | "love")))
    {
        cues.insert(Cue::SentenceFinalWord);
    }
}

/// `asked_for_data`: the assistant just asked for a number, code or address, so a pause the caller announces
/// is for fetching it (`hold on, it's in my email somewhere`), never a step away.
fn detect_hold(all: &[&str], asked_for_data: bool, cues: &mut Cues) {
    // `let me <verb>`: a retrieval verb means the caller will come back with it; a social one means they
    // turn to someone else and the assistant should acknowledge.
    if let Some(i) =
        find_phrase(all, &["let", "me"]).or_else(|| find_phrase(all, &["lemme"]).map(|i| i.saturating_sub(1)))
    {
        let verb = all.get(i + 2).copied().unwrap_or("");
        let verb = if verb == "just" || verb == "quickly" {
            all.get(i + 3).copied().unwrap_or("")
        } else {
            verb
        };
        if lex::is_retrieval_verb(verb) || verb.is_empty() {
            cues.insert(Cue::HoldRequest);
        } else if lex::is_social_verb(verb) {
            cues.insert(Cue::StepAway);
        }
        if cues.contains(Cue::HoldRequest) || cues.contains(Cue::StepAway) {
            return;
        }
    }
    for phrase in lex::HOLD_PHRASES {
        if let Some(i) = find_phrase(all, phrase) {
            let rest = &all[i + phrase.len()..];
            match rest {
                [] => cues.insert(Cue::HoldRequest),
                [first, ..] if *first == "to" || *first == "while" => cues.insert(Cue::HoldRequest),
                _ if rest
                    .iter()
                    .take(4)
                    .any(|w| lex::is_retrieval_verb(w) || lex::is_retrieval_ing(w)) =>
                {
                    cues.insert(Cue::HoldRequest)
                }
                [first, ..] if lex::is_clause_start(first) && !asked_for_data => cues.insert(Cue::StepAway),
                _ => cues.insert(Cue::HoldRequest),
            }
            return;
        }
    }
}

fn detect_correction(lower: &str, all: &[&str], ending: Ending, cues: &mut Cues) {
    let n = all.len();
    for phrase in lex::RETRACTIONS {
        if ends_with_phrase(all, phrase) {
            cues.insert(Cue::Retraction);
            return;
        }
    }
    if has_cut_dash(lower) {
        cues.insert(Cue::SelfCorrection);
        return;
    }
    // Without punctuation, a repair shows as a function word followed by a repair marker: `on the wait`,
    // `at sorry`, `for actually`.
    for i in 1..n {
        let before = all[i - 1];
        let repair = lex::is_repair_marker(all[i]) || (all[i] == "i" && all.get(i + 1) == Some(&"mean"));
        let dangling = lex::is_function_word(before)
            || lex::is_number_token(before)
            || matches!(
                before,
                "you" | "we" | "it" | "they" | "me" | "okay" | "ok" | "oh" | "no"
            );
        if repair && dangling {
            cues.insert(Cue::SelfCorrection);
            return;
        }
    }
    // A trailing `actually`/`wait` that trails off; after a full stop it is an afterthought (`urgent, actually.`).
    let trails_off = matches!(ending, Ending::Ellipsis | Ending::Comma | Ending::Dash);
    if matches!(all[n - 1], "actually" | "wait") && n > 1 && trails_off {
        cues.insert(Cue::SelfCorrection);
    }
}

fn detect_continuation(all: &[&str], ending: Ending, cues: &mut Cues) {
    let n = all.len();
    for phrase in lex::CONTINUATIONS {
        if let Some(i) = find_phrase(all, phrase) {
            // Only when nothing substantial follows the announcement.
            if n - (i + phrase.len()) <= 2 {
                cues.insert(Cue::AnnouncedContinuation);
                return;
            }
        }
    }
    // `first ...` with no second item yet.
    if let Some(i) = all.iter().position(|w| *w == "first" || *w == "firstly") {
        let opener = i == 0 || all[..i].iter().all(|w| lex::is_discourse_marker(w));
        let later = all[i + 1..]
            .iter()
            .any(|w| matches!(*w, "second" | "secondly" | "then" | "also" | "next" | "finally" | "and"));
        if opener && !later && n - i > 1 {
            cues.insert(Cue::UnfinishedList);
        }
    }
    if ending == Ending::Comma && all.len() >= 3 {
        cues.insert(Cue::UnfinishedList);
    }
}

/// What the assistant asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// A readout of this many digits (a phone number, a zip code, the last four).
    Digits(usize),
    /// A date: complete once a year is said.
    Date,
    /// Some code, number or spelling of unknown length.
    Data,
}

fn expected_data(context: &[&str]) -> Option<Expected> {
    if context.is_empty() {
        return None;
    }
    let has = |w: &str| context.contains(&w);
    let phrase = |p: &[&str]| find_phrase(context, p).is_some();
    if phrase(&["last", "four"]) || phrase(&["last", "4"]) || has("pin") {
        Some(Expected::Digits(4))
    } else if has("zip") || has("zipcode") || phrase(&["postal", "code"]) {
        Some(Expected::Digits(5))
    } else if has("phone") || has("callback") || has("cell") || has("mobile") || phrase(&["reach", "you"]) {
        Some(Expected::Digits(10))
    } else if has("routing") || has("ssn") || phrase(&["social", "security"]) {
        Some(Expected::Digits(9))
    } else if has("birth") || has("birthday") || has("dob") {
        Some(Expected::Date)
    } else if context.iter().any(|w| lex::is_data_noun(w)) {
        Some(Expected::Data)
    } else {
        None
    }
}

/// Counts the digits spoken in a run of number tokens (`4 1 5`, `four fifteen`, `eighty five`, `double five`).
fn spoken_digits(tokens: &[&str]) -> usize {
    let mut count = 0;
    let mut previous_tens = false;
    for w in tokens {
        let is_unit = lex::number_word_digits(w) == 1 && *w != "oh" && *w != "o" && *w != "zero";
        count += match *w {
            _ if w.bytes().all(|b| b.is_ascii_digit()) => w.len(),
            // `eighty five`: the unit fills the tens word's second digit.
            _ if previous_tens && is_unit => 0,
            "double" => 1,
            "triple" => 2,
            "hundred" => 2,
            "thousand" => 3,
            _ => lex::number_word_digits(w),
        };
        previous_tens = lex::is_tens_word(w);
    }
    count
}

fn detect_dictation(all: &[&str], lower: &str, context: &[&str], cues: &mut Cues) {
    let n = all.len();
    let last = all[n - 1];
    let connector = matches!(
        last,
        "dot" | "underscore" | "dash" | "hyphen" | "slash" | "point" | "as"
    );
    // The trailing run of readout tokens: digits, number words and spelled letters.
    let start = all
        .iter()
        .rposition(|w| !(lex::is_number_token(w) || lex::is_spelled_letter(w)))
        .map_or(0, |i| i + 1);
    let readout = &all[start..];
    // A lone `one`, `a` or `I` is a word, not a readout (`this one`, `a`).
    let lone_word = readout.len() == 1 && matches!(readout[0], "one" | "a" | "i" | "o" | "oh");
    let readout = if lone_word { &readout[..0] } else { readout };

    // The assistant's question says what is being read out; without one, the user's own words may
    // (`my account number is ...`, `the trailer number ends in ...`).
    let expected = expected_data(context).or_else(|| expected_data(&all[..start]));
    // In an email or address readout `at` joins two parts.
    let connector = connector || (expected.is_some() && last == "at");
    match expected {
        Some(expected) if !readout.is_empty() || connector => {
            let digits = spoken_digits(readout);
            let complete = !connector
                && match expected {
                    Expected::Digits(want) => digits == want || (want == 10 && digits == 11),
                    Expected::Date => {
                        readout.iter().rev().skip(1).any(|w| lex::is_year_head(w))
                            || readout.last().is_some_and(|w| w.len() == 4 && lex::is_year_head(w))
                    }
                    Expected::Data => false,
                };
            cues.insert(if complete {
                Cue::DictationComplete
            } else {
                Cue::Dictation
            });
        }
        Some(_) => {}
        None => {
            let digit_tokens = readout.iter().filter(|w| w.bytes().all(|b| b.is_ascii_digit())).count();
            let single_digits = readout
                .iter()
                .filter(|w| lex::number_word_digits(w) == 1 || matches!(**w, "double" | "triple"))
                .count();
            let letters = readout.iter().filter(|w| lex::is_spelled_letter(w)).count();
            // Readouts come in groups with commas or trail off: `four one five, five five...`.
            let trails = lower.trim_end().ends_with("...") || lower.trim_end().ends_with(',');
            let grouped = readout.len() >= 2 && (trails || tail_has_comma_between_numbers(lower));
            let mixed = readout.len() >= 3 && (letters > 0 || digit_tokens > 0);
            if digit_tokens >= 2 || single_digits >= 3 || grouped || letters >= 3 || mixed || connector {
                cues.insert(Cue::Dictation);
            }
        }
    }
}

fn tail_has_comma_between_numbers(lower: &str) -> bool {
    // The last comma of the text sits between two number tokens.
    let trimmed = lower.trim_end_matches(|c: char| !c.is_alphanumeric());
    match trimmed.rfind(',') {
        Some(i) => {
            let before = words(&trimmed[..i]);
            let after = words(&trimmed[i + 1..]);
            before.last().is_some_and(|w| lex::is_number_token(w))
                && after.first().is_some_and(|w| lex::is_number_token(w))
        }
        None => false,
    }
}

fn detect_hedge(all: &[&str], cues: &mut Cues) {
    for phrase in lex::HEDGES {
        if ends_with_phrase(all, phrase) {
            cues.insert(Cue::Hedge);
            cues.remove(Cue::TrailingSubject);
            cues.remove(Cue::TrailingVerb);
            cues.remove(Cue::TrailingFiller);
            return;
        }
    }
}

fn detect_short_answer(all: &[&str], context: &[&str], assistant: Option<&str>, ending: Ending, cues: &mut Cues) {
    let n = all.len();
    // `do` is an ack word only inside `will do`; a turn that opens with it is a question (`do you have`).
    let yes = lex::is_ack_word(all[0]) && all[0] != "do";
    let starts_with_answer = yes || lex::is_subject_pronoun(all[0]) || all[0] == "it" || all[0] == "i'd";
    // `I'd love to` answers `Would you like to...?`, but after `How can I help?` (or nothing) `I need to` is the
    // start of a request: without a yes or no, an answer that ends on an auxiliary needs a yes/no question.
    let answerable = yes || assistant.is_some_and(is_yes_no_question);
    if n <= 4 && starts_with_answer && answerable {
        let last = all[n - 1];
        let aux_end = lex::is_auxiliary(last)
            && n >= 2
            && (lex::is_subject_pronoun(all[n - 2]) || matches!(all[n - 2], "it" | "you" | "that" | "there" | "not"));
        let negative_end = lex::is_auxiliary(last) && last.ends_with("n't");
        let to_end = last == "to" && n >= 2 && lex::is_willing_verb(all[n - 2]);
        if aux_end || negative_end || to_end {
            cues.insert(Cue::ShortAnswer);
            cues.remove(Cue::TrailingAuxiliary);
            cues.remove(Cue::TrailingPreposition);
        }
    }
    // A short reply to a question, ending on a content word.
    let asked = !context.is_empty();
    if asked && n <= 4 && ending != Ending::Ellipsis && ending != Ending::Comma && ending != Ending::Dash {
        let last = all[n - 1];
        let negative = Cue::ALL.iter().any(|c| c.weight() < 0.0 && cues.contains(*c));
        if !negative && !lex::is_function_word(last) {
            cues.insert(Cue::AnswersQuestion);
        }
    }
}

/// Whether the last sentence of the assistant's (lowercase) message is a yes/no question: it starts, after
/// discourse markers, with an inverted auxiliary (`would you like to...`, `is this your first visit?`).
fn is_yes_no_question(assistant: &str) -> bool {
    let body = assistant.trim_end_matches(|c: char| !c.is_alphanumeric());
    let start = body.rfind(['.', '?', '!']).map_or(0, |i| i + 1);
    words(&body[start..])
        .into_iter()
        .find(|w| !lex::is_discourse_marker(w))
        .is_some_and(lex::is_question_auxiliary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vapi_default_follows_the_documented_rule_order() {
        assert_eq!(vapi_default_timeout("my number is 415 555"), 0.5);
        assert_eq!(vapi_default_timeout("my number is 415 555."), 0.5);
        assert_eq!(vapi_default_timeout("That works."), 0.1);
        assert_eq!(vapi_default_timeout("I was thinking..."), 0.1);
        assert_eq!(vapi_default_timeout("that works"), 1.5);
        assert_eq!(vapi_default_timeout(""), 1.5);
    }

    #[test]
    fn cues_set_round_trips() {
        let mut cues = Cues::EMPTY;
        cues.insert(Cue::Hedge);
        cues.insert(Cue::SentenceFinalWord);
        assert!(cues.contains(Cue::Hedge));
        assert_eq!(cues.to_string(), "hedge,sentence_final_word");
        cues.remove(Cue::Hedge);
        assert_eq!(cues.iter().collect::<Vec<_>>(), vec![Cue::SentenceFinalWord]);
        assert_eq!(Cue::ALL.len(), 27);
    }

    #[test]
    fn long_input_reads_only_the_tail() {
        let long = "é".repeat(10_000) + " and";
        assert!(tail(&long).len() <= MAX_TAIL_BYTES);
        assert!(detect(&Turn::new(&long)).contains(Cue::TrailingConjunction));
    }
}
