//! The call's context from every message that shows the conversation, and the notice when a call's
//! subscriptions look missing.
//!
//! Besides `conversation-update`, many messages carry the conversation so far (the artifact of `tool-calls`,
//! `status-update`, `end-of-call-report`; the lists of `knowledge-base-request` and `call.endpointing.request`).
//! Each becomes a `ConversationSeen` event in its call, which fills the call's turns past what its transcripts
//! and updates gave (the merge rule is in `call_state::CallState`'s docs). A call whose conversation arrives
//! this way before any transcript or update most likely has an assistant not subscribed to them: that is
//! logged once, as a warning, and counted once in `switchboard_missing_subscriptions_total`. "Once" is decided by
//! the call's state (the id of the event that first showed it), so it holds across instances; only a retried
//! delivery of that very message can count it again. Asking the call's state for that costs a round trip to its
//! actor, so it is skipped where the answer is known without asking: a message whose own event, recorded just
//! before, is a transcript ([`informs`]) has made its call informed, and nothing it shows can be the notice.

use call_state::{CallEvent, EventId, EventKind};
use vapi_types::ServerMessage;

use crate::app::Switchboard;

/// Whether `event`, once recorded, makes its call informed (a transcript, partial or final): the conversation
/// its message shows, recorded after it, then cannot be the first sign of the call's conversation. Conversation
/// updates inform too, but show no conversation of another message's kind.
pub(crate) fn informs(event: &CallEvent) -> bool {
    matches!(event.kind, EventKind::Transcript { .. })
}

impl Switchboard {
    /// Records the conversation `message` shows (when it shows one and is not an update) in its call. A failure
    /// is logged, never passed on: the message's own answer does not depend on it. The event's id when recorded.
    pub(crate) async fn record_seen_conversation(&self, message: &ServerMessage) -> Option<EventId> {
        let event = call_state::conversation_seen(message)?;
        let id = event.id;
        match self.runtime().ingest(event).await {
            Ok(()) => Some(id),
            Err(error) => {
                tracing::warn!(call_id = message.call_id(), %error, "conversation seen in a message not recorded");
                None
            }
        }
    }

    /// Warns and counts, once per call, when the conversation recorded as `seen` was the first sign of it on a
    /// call that had received no transcript and no conversation update.
    pub(crate) async fn notice_missing_subscriptions(&self, message: &ServerMessage, seen: Option<EventId>) {
        let (Some(seen), Some(call_id)) = (seen, message.call_id()) else {
            return;
        };
        let Ok(Some(queried)) = self.runtime().query(call_id).await else {
            return;
        };
        if queried.state.missing_subscriptions_noticed_by() == Some(seen) {
            self.metrics().missing_subscriptions();
            tracing::warn!(
                call_id,
                kind = message.kind().as_str(),
                turns = queried.state.conversation().len(),
                "the call's conversation arrives only inside other messages: subscribe the assistant to \
                 `transcript` or `conversation-update` (serverMessages) for live context"
            );
        }
    }
}
