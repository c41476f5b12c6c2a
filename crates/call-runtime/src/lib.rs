//! One actor per call, the registry that finds it, and the store that keeps what must outlive it.
//!
//! [`CallRuntime`] is the only door: the edge builds a [`Store`] and hands it to [`CallRuntime::start`], then
//! asks the runtime for everything (events, call state, reports, conversation memory and links, readiness).
//! [`CallRuntime::ingest`] appends an event to the call's journal in the store and hands it to the call's actor,
//! which folds it into its [`call_state::CallState`] one message at a time, so a call's events need no lock and
//! are applied in arrival order while different calls proceed in parallel. Queries ([`CallRuntime::state`]) go
//! through the same mailbox, so they see every event acknowledged before them.
//!
//! An actor that fails is restarted by the runtime's supervisor from its last snapshot plus the journal since;
//! an idle actor retires (snapshot saved); a call that has ended and reported retires at once. Events that
//! arrive after retirement start a fresh actor from the snapshot, so nothing acknowledged is dropped. A store
//! that loses a live call's record (Redis restarted empty, flushed, evicted) is re-seeded from the actor's state
//! before anything new is acknowledged. Everything stored expires ([`RetentionConfig`]).
//!
//! This crate knows no HTTP and no wire JSON; the edge converts messages with
//! [`call_state::event_from_message`].

mod actor;
mod config;
mod registry;
mod runtime;
mod store;

pub use actor::{CallSummary, Queried};
pub use config::{InstanceConfig, RetentionConfig, RuntimeConfig};
pub use registry::RuntimeStats;
pub use runtime::{
    CLAIM_MARGIN, CallRuntime, EndedCall, InstanceCalls, Replay, RuntimeError, StoreState, ToolRun, Unclaimable,
};
pub use store::{ClusterState, RedisConfig, Store, StoreError, StoreStats, StoredReport};
