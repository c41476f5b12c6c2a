//! Switchboard: a Vapi Server-URL backend. Each call gets an actor that accumulates the conversation, so
//! answers to tool calls and knowledge-base requests know the whole call.
//!
//! This crate is the edge and the wiring: configuration ([`config`]), the HTTP surface ([`http`]),
//! authentication ([`auth`]), tools ([`tools`]) and the dispatch of messages to the services
//! behind them ([`app`]). Wire types live in `vapi-types`; the binary in `main.rs` only calls [`cli::run`].

pub mod admin;
pub mod alert;
pub mod app;
pub mod assistant;
pub mod auth;
pub mod cli;
pub mod config;
mod context;
pub mod control;
pub mod eot;
pub mod http;
pub mod metrics;
pub mod monitor;
pub use simulate;
pub mod tools;

pub use app::{Reply, Switchboard};
pub use config::Config;
