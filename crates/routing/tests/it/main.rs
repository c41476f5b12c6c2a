//! Routing tests: rules over real and built messages, config errors, and the wire shapes of the answers.

mod assistant;
mod config_errors;
mod context;
mod support;
