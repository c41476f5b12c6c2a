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
//! queries and answers in `vapi-types` response types; it knows no wire JSON of its own. Time windows use
//! fixed UTC offsets, not time-zone names, so that no time-zone database is needed.
//!
//! # Configuration
//! ```
//! # use routing::RoutingConfig;
//! # #[derive(serde::Deserialize)] struct ServerConfig { routing: RoutingConfig }
//! let config: ServerConfig = toml::from_str(r#"
//! [routing]
//! utc_offset = "-05:00"        # default offset of time windows (default "+00:00")
//! recent_turns = 3             # caller turns that keyword conditions look at (default 3)
//! ## assistant_error = "Sorry, we cannot take your call."  # spoken when nothing matches, if no fallback
//! transfer_error = "There is nobody to transfer you to right now."
//! handoff_error = "No specialist matches this request."
//!
//! ## assistant-request: first match wins; each rule has exactly one of
//! ## assistant_id | assistant_file | squad_id | destination | error.
//! [[routing.assistant]]
//! match = { caller = ["+14155550142"] }                  # exact number
//! assistant_id = "a3d9c2b1-7e4f-4a6b-8c5d-1e2f3a4b5c6d"
//! assistant_overrides = { variableValues = { tier = "vip" } }
//!
//! [[routing.assistant]]
//! match = { caller = ["+1900*"] }                        # prefix
//! error = "Calls from premium numbers are not accepted."
//!
//! [[routing.assistant]]
//! squad_id = "8f7e6d5c-4b3a-4291-8a7b-6c5d4e3f2a1b"         # answer keys before the [..match] header
//! [routing.assistant.match]                              # the same as an inline `match = { ... }`
//! phone_number = ["+14155550100", "5b8e2f41-9c3d-4e7a-b1f6-8d2c4a6e0b93"]  # called number: id or number
//! windows = [
//!   { days = ["mon", "tue", "wed", "thu", "fri"], from = "09:00", to = "17:30" },
//!   { days = ["sat"], from = "10:00", to = "14:00" },
//! ]
//!
//! [[routing.assistant]]
//! match = { windows = [{ days = ["fri"], from = "22:00", to = "06:00" }], utc_offset = "+01:00" }  # overnight
//! destination = { type = "number", number = "+14155552671", extension = "101", message = "Connecting you." }
//!
//! ## [[routing.assistant]]
//! ## assistant_file = "assistants/night.json"   # an inline assistant, relative to the config file
//!
//! [routing.assistant_fallback]                            # when no rule matches
//! destination = { type = "sip", sip_uri = "sip:frontdesk@pbx.example.com" }
//!
//! ## transfer-destination-request: destination (number | sip | assistant) or error.
//! [[routing.transfer]]
//! match = { language = ["es"] }
//! destination = { type = "number", number = "+14155550111", message = "Le transfiero ahora." }
//!
//! [[routing.transfer]]
//! match = { keywords = ["billing", "refund", "speak to a human"] }   # by stem: "a bill", "refunds"
//! destination = { type = "sip", sip_uri = "sip:billing@pbx.example.com", message = "" }   # "" = silent
//!
//! [[routing.transfer]]
//! match = { caller = ["+44*"] }
//! destination = { type = "assistant", assistant_name = "UK Desk", extra = { transferMode = "rolling-history" } }
//!
//! ## handoff-destination-request: destination (assistant | squad) or error.
//! [[routing.handoff]]
//! match = { parameters = { issueCategory = "billing", priority = ["high", "medium"] } }
//! destination = { type = "assistant", assistant_id = "1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b", extra = { contextEngineeringPlan = { type = "none" } } }
//!
//! [[routing.handoff]]
//! match = { keywords = ["cancel my account"], language = ["en"] }
//! destination = { type = "squad", squad_id = "retention", entry_assistant_name = "Sam" }
//! "#)?;
//! let routes = config.routing.compile(std::path::Path::new("."))?;
//! # let _ = routes;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
