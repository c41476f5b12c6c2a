//! One actor per call, the registry that finds it, and the store that keeps what must outlive it.
//!
//! [`CallRuntime`] is the only way the rest of Switchboard reaches a call: [`CallRuntime::ingest`] appends an
//! event to the call's journal in the [`Store`] and hands it to the call's [`CallActor`], which folds it into
//! its [`call_state::CallState`] one message at a time, so a call's events need no lock and are applied in
//! arrival order while different calls proceed in parallel. Queries ([`CallRuntime::state`]) go through the
//! same mailbox, so they see every event acknowledged before them.
//!
//! An actor that fails is restarted by the runtime's supervisor from its last snapshot plus the journal since;
//! an idle actor retires (snapshot saved); a call that has ended and reported retires at once. Events that
//! arrive after retirement start a fresh actor from the snapshot, so nothing acknowledged is dropped.
//!
//! This crate knows no HTTP and no wire JSON; the edge converts messages with
//! [`call_state::event_from_message`].

mod actor;
mod runtime;
mod store;

pub use actor::{CallActor, CallMsg};
pub use runtime::{
    CLAIM_MARGIN, CallRuntime, CallSummary, Queried, Replay, RuntimeConfig, RuntimeError, RuntimeStats, ToolRun,
    Unclaimable,
};
pub use store::{
    LedgerLimits, MemoryStore, MemoryToolLedger, RedisConfig, RedisStore, Snapshot, Store, StoreError, StoredReport,
    ToolClaim,
};
