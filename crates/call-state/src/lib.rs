//! The state of one Vapi call, folded from its events: what a tool author wants to ask about a call.
//!
//! Wire messages become domain [`CallEvent`]s in exactly one place, [`events_from_message`]: a message's own event
//! ([`event_from_message`]) and the conversation it shows when it is not an update ([`conversation_seen`]), read
//! by `vapi_types::conversation`. A [`CallState`] is
//! then changed only by [`CallState::apply`], which is pure, synchronous and cheap: it folds each event exactly
//! once (a replayed delivery is recognised by its deterministic [`EventId`] and changes nothing), keeps the
//! conversation ordered and free of duplicates (authoritative from `conversation-update`, with final transcripts
//! filling the gap between updates, and conversations seen in other messages filling what neither gave), and keeps everything a caller can grow under the caps of [`Limits`],
//! counting in [`Trimmed`] whatever it had to drop. The serde form of [`CallState`] is the stored snapshot
//! format and carries a version ([`SNAPSHOT_VERSION`]).
//!
//! This crate deliberately has no async runtime, no actors, no clock and no I/O: the runtime crate owns one
//! state per call and feeds it events in order, and stores snapshots wherever it likes. It also never reads
//! Vapi's wire JSON itself; `vapi-types` does that.

pub mod endpointing;
mod event;
mod from_wire;
mod limits;
mod state;
mod text;

pub use endpointing::{Endpointing, EndpointingDecision, JudgedTurn, Mark, Outcome};
pub use event::{CallEvent, EventId, EventKind, Metadata, Role, TooLarge, ToolInvocation, ToolOutcome, Turn};
pub use from_wire::{conversation_seen, event_from_message, events_from_message};
pub use limits::{Limits, Trimmed};
pub use state::{Applied, CallState, EndReport, Footprint, PhoneControl, SNAPSHOT_VERSION, ToolRecord, Transfer};
