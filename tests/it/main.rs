//! Integration tests of the `switchboard` server: routers called with `oneshot`, and real servers on
//! `127.0.0.1:0` driven over HTTP.

mod admin;
mod attack_control;
mod attack_store;
mod auth;
mod bad_input;
mod browser;
mod call;
mod cli;
mod cluster;
mod context;
mod control;
mod edge;
mod endpointing;
mod exactly_once;
mod monitor;
mod order;
mod quickstart;
mod recall;
mod redis;
mod reliability;
mod routing;
mod simulate;
mod support;
mod tools;
mod webhook;
