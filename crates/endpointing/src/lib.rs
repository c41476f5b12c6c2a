//! Vapi smart endpointing: on every transcript update Vapi asks how long to wait after the user stops
//! speaking before the assistant takes its turn (`call.endpointing.request` → `{"timeoutSeconds": x}`).
//!
//! The crate is a pure decision function behind a thin handler:
//! - [`decide_in`] scores how likely the user's turn is complete from textual [`Cue`]s (punctuation, trailing
//!   conjunctions and fillers, dictation, requests for time or to stop, acknowledgements, self-corrections...)
//!   blended, for English, with a small learned model ([`EotModel`], weights compiled in), and maps that
//!   probability to a timeout through the configured [`WaitFunction`]; the turn's [`Language`] picks the
//!   cues, and a language without any gets a cautious policy;
//! - [`vapi_default_timeout`] is Vapi's own default heuristic, kept for comparison;
//! - [`eval`] measures both on labelled utterances;
//! - [`decide_adapted`] adjusts a decision by what a call's history says about its caller ([`Adaptation`]:
//!   recent cut-offs, long pauses inside a turn, a readout in progress), still purely;
//! - [`Endpointer`] answers a parsed [`vapi_types::EndpointingRequest`], and [`router`] serves it over HTTP.
//!
//! Deliberately absent: network calls, model files read at run time, per-call state. A decision depends only
//! on the text of the current turn, the assistant's message before it, the language, the configuration and,
//! when the caller passes one, an [`Adaptation`] it keeps with the call.

mod adapt;
mod config;
mod decide;
pub mod eval;
mod language;
mod lexicon;
mod model;
mod server;
mod spanish;

pub use adapt::{
    Adaptation, Adapted, Adjustment, MAX_CUT_OFF_LEVEL, MIN_PAUSES, RELAX_PER_GOOD_TURN, SECONDS_PER_LEVEL,
    TurnOutcome, adapt, decide_adapted,
};
pub use config::{EndpointingConfig, MAX_TIMEOUT_SECONDS, Preset, WaitFunction, clamp_timeout};
pub use decide::{Blend, Cue, Cues, Decision, Turn, decide, decide_blended, decide_in, detect, vapi_default_timeout};
pub use language::Language;
pub use model::EotModel;
pub use server::{Endpointer, request_language, router, serve, transcriber_code};

/// What can go wrong outside a decision (which itself never fails).
#[derive(Debug, thiserror::Error)]
pub enum EndpointingError {
    /// The configuration is out of range.
    #[error("invalid endpointing config: {0}")]
    Config(String),
    /// End-of-turn model weights are malformed.
    #[error("invalid end-of-turn model: {0}")]
    Model(String),
    /// A labelled utterance file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A labelled utterance file is not in the expected format.
    #[error("{path} is not a labelled utterance set: {message}")]
    Format {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
}
