//! Routing rules for the three Vapi messages that ask the server where a call should go:
//! `assistant-request` (which assistant, squad or transfer answers a new call), `transfer-destination-request`
//! (where a `transferCall` tool sends the caller) and `handoff-destination-request` (which assistant or squad
//! a dynamic handoff goes to).
//!
//! A [`RoutingConfig`] is the `[routing]` table of the server's TOML config as written. [`RoutingConfig::compile`]
//! checks all of it once, at start-up, and gives [`Routes`]: rules with their answers prepared. The
//! [`Routes`] methods then answer each message by trying the rules in order; the first match wins, and no
//! match gives the configured fallback or error (never an empty error, which Vapi cannot speak).
//!
//! This crate is pure: no clock (the time is passed in), no async, no logging. Its only I/O is reading
//! `assistant_file`s inside [`RoutingConfig::compile`]. It reads the call's context through `call-state`
//! queries and answers in `vapi-types` response types; it knows no wire JSON of its own.

mod compile;
mod config;
mod error;
mod routes;
mod rules;
mod window;

pub use compile::{DEFAULT_ASSISTANT_ERROR, DEFAULT_HANDOFF_ERROR, DEFAULT_RECENT_TURNS, DEFAULT_TRANSFER_ERROR};
pub use config::{
    AssistantAnswer, AssistantMatch, AssistantRule, ContextMatch, DestinationConfig, DestinationKind,
    HandoffDestinationConfig, HandoffKind, HandoffRule, RoutingConfig, TransferRule, WindowConfig,
};
pub use error::RoutingError;
pub use routes::Routes;
