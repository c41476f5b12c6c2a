//! The state of one Vapi call, folded from its events: what a tool author wants to ask about a call.
//!
//! Wire messages become domain [`CallEvent`]s in exactly one place, [`event_from_message`]. A [`CallState`] is
//! then changed only by [`CallState::apply`], which is pure, synchronous and cheap: it folds each event exactly
//! once (a replayed delivery is recognised by its deterministic [`EventId`] and changes nothing), keeps the
//! conversation ordered and free of duplicates (authoritative from `conversation-update`, with final transcripts
//! filling the gap between updates), and keeps everything a caller can grow under the caps of [`Limits`],
//! counting in [`Trimmed`] whatever it had to drop. The serde form of [`CallState`] is the stored snapshot
//! format and carries a version ([`SNAPSHOT_VERSION`]).
//!
//! This crate deliberately has no async runtime, no actors, no clock and no I/O: the runtime crate owns one
//! state per call and feeds it events in order, and stores snapshots wherever it likes. It also never reads
//! Vapi's wire JSON itself; `vapi-types` does that.

mod event;
mod from_wire;
mod limits;
mod state;
mod text;

pub use event::{CallEvent, EventId, EventKind, Metadata, Role, TooLarge, ToolInvocation, ToolOutcome, Turn};
pub use from_wire::event_from_message;
pub use limits::{Limits, Trimmed};
pub use state::{Applied, CallState, EndReport, Footprint, PhoneControl, SNAPSHOT_VERSION, ToolRecord, Transfer};
