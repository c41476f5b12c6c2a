//! The one error type of the voice server, and how it looks on the HTTP surface.
//!
//! Every variant's message is lowercase and names what was wrong and how to fix it, because
//! it is sent to the caller as `{"error": "..."}`. Nothing here decides *when* an error may
//! still be sent: once audio bytes have left, the pipeline logs the error and ends the stream.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong between a voice request and its last PCM byte.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// The request body was not a valid voice-request message.
    #[error("invalid voice-request body: {0}")]
    InvalidBody(String),
    /// The message parsed, but it was another message type.
    #[error("expected a voice-request message, got {0:?}")]
    WrongMessage(String),
    /// `text` was empty or only whitespace.
    #[error("text is empty: send the words to speak in message.text")]
    EmptyText,
    /// `text` was longer than `voice.max_text_chars`.
    #[error("text is {chars} characters, over the limit of {max}: split it or raise voice.max_text_chars")]
    TextTooLong {
        /// Characters received.
        chars: usize,
        /// The configured limit.
        max: usize,
    },
    /// `sampleRate` was outside 8000..=48000.
    #[error("sampleRate {0} is out of range: expected an integer from 8000 to 48000")]
    SampleRate(u64),
    /// The engine could not be started at all (missing program, unreachable upstream).
    #[error("voice engine {engine} is unavailable: {reason}")]
    EngineUnavailable {
        /// Engine name (`espeak`, `command`, `upstream`).
        engine: &'static str,
        /// What happened and the fix.
        reason: String,
    },
    /// Every slot of a local engine is busy and its queue is full; retry shortly.
    #[error(
        "voice engine {engine} is busy: {slots} requests are being synthesized and {queue} are waiting; retry shortly or raise voice.pool_size / voice.queue_size"
    )]
    Busy {
        /// Engine name.
        engine: &'static str,
        /// Requests synthesized at once.
        slots: usize,
        /// Requests that may wait.
        queue: usize,
    },
    /// The engine started but failed or produced unusable output.
    #[error("voice engine {engine} failed: {reason}")]
    EngineFailed {
        /// Engine name (`espeak`, `command`, `upstream`).
        engine: &'static str,
        /// What happened and the fix.
        reason: String,
    },
    /// The configuration is inconsistent; reported at startup.
    #[error("invalid voice config: {0}")]
    Config(String),
    /// Reading or writing a WAV file failed.
    #[error("wav file {path}: {reason}")]
    Wav {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The resampler rejected its parameters or input.
    #[error("resampling failed: {0}")]
    Resample(String),
    /// The client went away; engine work was stopped. Never sent to anyone.
    #[error("request cancelled: the client disconnected")]
    Cancelled,
}

impl VoiceError {
    /// The HTTP status this error is answered with before any audio was sent.
    pub fn status(&self) -> StatusCode {
        match self {
            VoiceError::InvalidBody(_)
            | VoiceError::WrongMessage(_)
            | VoiceError::EmptyText
            | VoiceError::TextTooLong { .. }
            | VoiceError::SampleRate(_) => StatusCode::BAD_REQUEST,
            VoiceError::EngineUnavailable { .. } | VoiceError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            VoiceError::EngineFailed { .. } => StatusCode::BAD_GATEWAY,
            // 499 is nginx's "client closed request"; nobody reads it, but logs stay honest.
            VoiceError::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            VoiceError::Config(_) | VoiceError::Wav { .. } | VoiceError::Resample(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for VoiceError {
    fn into_response(self) -> Response {
        let status = self.status();
        // A full pool is expected under a burst and counted in /metrics; a warning each would flood the log.
        if status.is_server_error() && !matches!(self, VoiceError::Busy { .. }) {
            tracing::warn!(error = %self, "voice request failed before audio");
        } else {
            tracing::debug!(error = %self, "voice request rejected");
        }
        let body = serde_json::json!({ "error": self.to_string() });
        (status, axum::Json(body)).into_response()
    }
}
