//! The custom voice (TTS) server of Switchboard: a Vapi `voice-request` in, raw mono 16-bit
//! little-endian PCM at exactly the requested `sampleRate` out, streamed as it is produced.
//!
//! Pipeline per request: validate → recorded prompt or cache hit, else pick an engine
//! (Piper's neural voices in persistent workers, espeak-ng, any command, or an OpenAI-compatible
//! upstream) → wait for a slot of its bounded pool (`503` when the queue is full) → decode its
//! native audio (WAV headers parsed, never passed on) → resample with rubato's FFT resampler
//! in 20 ms chunks → clamp to i16 → HTTP chunks of whole samples. Errors before the first byte
//! are JSON (`400` bad input, `503` engine missing, `502` engine failed); after it, the stream
//! ends early and the error is logged. When the client disconnects, engine work stops (an
//! espeak-ng or command process is killed; a Piper worker stops after its current sentence and
//! takes the next request).
//!
//! The voice is chosen as Vapi sends it: the assistant's `voice.voiceId` (in the message's
//! `assistant`, else `call.assistant`), then the message's own `voiceId`, then the default
//! (see [`select_voice`]).
//!
//! Deliberately absent: authentication and the listen socket (the server that mounts
//! [`router`] owns them), reading the environment (configuration comes in as a
//! [`VoiceConfig`]), and linking any TTS library (engines sit behind process or HTTP
//! boundaries).
//!
//! See `README.md` beside this crate for the engines, their configuration and measurements.

mod cache;
mod config;
mod engine;
mod error;
mod http;
mod pool;
mod prompts;
pub mod resample;
mod wav;

use std::collections::HashMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
pub use vapi_types::VoiceRequest;

pub use crate::config::{
    CommandConfig, EngineKind, EspeakConfig, PiperConfig, UpstreamConfig, UpstreamFormat, VoiceConfig,
};
pub use crate::error::VoiceError;
pub use crate::http::router;
pub use crate::pool::PoolStats;
pub use crate::wav::write_wav;

use crate::cache::{CacheKey, PcmCache};
use crate::engine::{AudioSink, Job, VoiceEngine};
use crate::pool::{Admission, Slot};
use crate::prompts::Prompts;

/// Lowest accepted `sampleRate`.
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// Highest accepted `sampleRate`.
pub const MAX_SAMPLE_RATE: u32 = 48_000;

/// Chunks in flight between an engine and the HTTP body; small, so a slow client slows
/// (and a gone client stops) the engine instead of filling memory.
const CHANNEL_CHUNKS: usize = 8;

/// The voice server: engines, prompt store and cache. A cheap handle (`Arc` inside); every
/// clone shares the same state, which lives until the last clone is dropped.
#[derive(Clone)]
pub struct VoiceService {
    inner: Arc<Inner>,
}

struct Inner {
    config: VoiceConfig,
    engines: HashMap<EngineKind, Engine>,
    /// The Piper engine when it is installed and selected, for warming up its workers.
    piper: Option<Arc<engine::piper::PiperEngine>>,
    /// Why Piper is replaced by espeak-ng, when it is.
    fallback: Option<String>,
    cache: PcmCache,
    prompts: Prompts,
}

/// An engine and, for local engines, the pool that admits requests to it.
#[derive(Clone)]
struct Engine {
    engine: Arc<dyn VoiceEngine>,
    admission: Option<Arc<Admission>>,
}

impl std::fmt::Debug for VoiceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceService")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Where a request's audio comes from.
enum Source {
    /// Complete PCM from the prompt store (`"prompt"`) or the cache (`"hit"`).
    Whole(Bytes, &'static str),
    /// A running engine; dropping the guard cancels it.
    Live {
        rx: mpsc::Receiver<Result<Bytes, VoiceError>>,
        guard: DropGuard,
    },
}

/// The voice a request is spoken with, as Vapi sends it: the assistant's `voice.voiceId` (the
/// message's `assistant`, else `call.assistant`), then the message's `voiceId`. An assistant voice of
/// another provider than `custom-voice` is not ours and is skipped.
pub fn select_voice(common: &vapi_types::Common, request: &VoiceRequest) -> Option<String> {
    let of = |assistant: &vapi_types::Assistant| {
        let voice = assistant.voice.as_ref()?;
        if voice.provider.as_deref().is_some_and(|p| p != "custom-voice") {
            return None;
        }
        voice.voice_id.clone().filter(|id| !id.trim().is_empty())
    };
    common
        .assistant
        .as_ref()
        .and_then(of)
        .or_else(|| common.call.as_ref()?.assistant.as_ref().and_then(of))
        .or_else(|| request.voice_id.clone())
}

impl VoiceService {
    /// Checks `config`, builds the engines and decodes the prompt files. Piper's workers start
    /// on its first request, or at once with [`VoiceService::warm_up`].
    ///
    /// When Piper is selected but not installed, it is replaced by espeak-ng and one warning says
    /// how to install it.
    pub fn new(config: VoiceConfig) -> Result<Self, VoiceError> {
        config.validate()?;
        let (slots, queue) = (config.pool_slots(), config.queue_slots());
        let local = |name| Some(Arc::new(Admission::new(name, slots, queue)));
        let mut engines: HashMap<EngineKind, Engine> = HashMap::new();
        let espeak = Engine {
            engine: Arc::new(engine::espeak::EspeakEngine::new(config.espeak.clone())),
            admission: local("espeak"),
        };
        engines.insert(EngineKind::Espeak, espeak.clone());
        let piper_used =
            config.engine == EngineKind::Piper || config.voice_engines.values().any(|k| *k == EngineKind::Piper);
        let (mut piper, mut fallback) = (None, None);
        if piper_used {
            if let Some(missing) = config.piper.missing() {
                tracing::warn!(
                    "piper voice not installed ({missing}): speaking with espeak-ng; run scripts/install-voice for the neural voice"
                );
                engines.insert(EngineKind::Piper, espeak);
                fallback = Some(missing);
            } else {
                let engine = Arc::new(engine::piper::PiperEngine::new(config.piper.clone(), slots));
                engines.insert(
                    EngineKind::Piper,
                    Engine {
                        engine: engine.clone(),
                        admission: local("piper"),
                    },
                );
                piper = Some(engine);
            }
        }
        if let Some(command) = &config.command {
            engines.insert(
                EngineKind::Command,
                Engine {
                    engine: Arc::new(engine::command::CommandEngine::new(command.clone())),
                    admission: local("command"),
                },
            );
        }
        if let Some(upstream) = &config.upstream {
            // A remote server bounds itself; no local pool.
            engines.insert(
                EngineKind::Upstream,
                Engine {
                    engine: Arc::new(engine::upstream::UpstreamEngine::new(upstream.clone())?),
                    admission: None,
                },
            );
        }
        let prompts = Prompts::load(&config.prompts)?;
        Ok(VoiceService {
            inner: Arc::new(Inner {
                cache: PcmCache::new(config.cache_bytes),
                config,
                engines,
                piper,
                fallback,
                prompts,
            }),
        })
    }

    /// Starts Piper's workers now (each loads its models in the background), so the first
    /// request does not wait for them. Call it from inside a tokio runtime; without Piper it does
    /// nothing.
    pub fn warm_up(&self) {
        if let Some(piper) = &self.inner.piper {
            piper.warm_up();
        }
    }

    /// The engine that speaks when a request names no voice of its own: `piper`, or `espeak`
    /// when Piper is selected but not installed.
    pub fn default_engine(&self) -> &'static str {
        self.inner
            .engines
            .get(&self.inner.config.engine)
            .map_or("none", |e| e.engine.name())
    }

    /// Why Piper was replaced by espeak-ng, when it was.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.inner.fallback.as_deref()
    }

    /// Each local engine's pool: slots, queue and counters (`/metrics`).
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        let mut stats: Vec<PoolStats> = Vec::new();
        for engine in self.inner.engines.values() {
            if let Some(admission) = &engine.admission {
                let s = admission.stats();
                if !stats.iter().any(|seen| seen.engine == s.engine) {
                    stats.push(s);
                }
            }
        }
        stats.sort_by_key(|s| s.engine);
        stats
    }

    /// The configuration this service runs with.
    pub fn config(&self) -> &VoiceConfig {
        &self.inner.config
    }

    /// The streamed answer to an already-parsed voice request: `200` with raw PCM, or a JSON
    /// error before any audio. Dropping the response body stops the engine.
    pub async fn respond(&self, request: VoiceRequest) -> Response {
        let rate = request.sample_rate;
        let (engine, source) = match self.start(&request).await {
            Ok(started) => started,
            Err(e) => return e.into_response(),
        };
        match source {
            Source::Whole(bytes, origin) => {
                let chunk = (rate as usize / 50) * 2 * 10; // 200 ms, an even number of bytes
                let chunks: Vec<Result<Bytes, std::convert::Infallible>> = (0..bytes.len())
                    .step_by(chunk.max(2))
                    .map(|at| Ok(bytes.slice(at..(at + chunk).min(bytes.len()))))
                    .collect();
                http::pcm_response(engine, origin, rate, futures::stream::iter(chunks))
            }
            Source::Live { mut rx, guard } => {
                // Wait for the first audio, so an engine that fails at once is a JSON error.
                let first = match rx.recv().await {
                    Some(Ok(first)) => first,
                    Some(Err(e)) => return e.into_response(),
                    None => {
                        return VoiceError::EngineFailed {
                            engine,
                            reason: "it stopped without producing audio".into(),
                        }
                        .into_response();
                    }
                };
                let rest = futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
                    match rx.recv().await {
                        Some(Ok(chunk)) => Some((Ok(chunk), (rx, guard))),
                        // The engine task already logged it; all we can do is end early.
                        Some(Err(_)) | None => None,
                    }
                });
                let stream = futures::StreamExt::chain(futures::stream::once(async { Ok(first) }), rest);
                http::pcm_response(engine, "miss", rate, stream)
            }
        }
    }

    /// The same pipeline, collected: all samples at `request.sample_rate`, or the first error.
    pub async fn render(&self, request: &VoiceRequest) -> Result<Vec<i16>, VoiceError> {
        let (engine, source) = self.start(request).await?;
        let bytes = match source {
            Source::Whole(bytes, _) => bytes.to_vec(),
            Source::Live { mut rx, guard } => {
                let mut all = Vec::new();
                while let Some(chunk) = rx.recv().await {
                    all.extend_from_slice(&chunk?);
                }
                drop(guard);
                if all.is_empty() {
                    return Err(VoiceError::EngineFailed {
                        engine,
                        reason: "it stopped without producing audio".into(),
                    });
                }
                all
            }
        };
        Ok(bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect())
    }

    /// Validates `request` against the limits of the configuration.
    fn validate(&self, request: &VoiceRequest) -> Result<(), VoiceError> {
        if request.text.trim().is_empty() {
            return Err(VoiceError::EmptyText);
        }
        let max = self.inner.config.max_text_chars;
        // Count at most max + 1 characters, so a huge text costs no more than a long one.
        let chars = request.text.chars().take(max + 1).count();
        if chars > max {
            return Err(VoiceError::TextTooLong {
                chars: request.text.chars().count(),
                max,
            });
        }
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&request.sample_rate) {
            return Err(VoiceError::SampleRate(u64::from(request.sample_rate)));
        }
        Ok(())
    }

    /// Validates, then answers from a prompt or the cache, or waits for a slot of the engine's
    /// pool and starts the engine task, which holds the slot until its work is over.
    async fn start(&self, request: &VoiceRequest) -> Result<(&'static str, Source), VoiceError> {
        self.validate(request)?;
        let inner = &self.inner;
        let rate = request.sample_rate;
        if let Some(pcm) = inner.prompts.get(&request.text, rate) {
            return Ok(("prompt", Source::Whole(pcm?, "prompt")));
        }
        let kind = request
            .voice_id
            .as_deref()
            .and_then(|id| inner.config.voice_engines.get(id))
            .copied()
            .unwrap_or(inner.config.engine);
        let Engine { engine, admission } =
            inner
                .engines
                .get(&kind)
                .cloned()
                .ok_or_else(|| VoiceError::EngineUnavailable {
                    engine: kind.name(),
                    reason: format!("it is not configured: add [voice.{}]", kind.name()),
                })?;
        let name = engine.name();
        let key = CacheKey {
            engine: name,
            voice: engine.voice_for(request.voice_id.as_deref()),
            text: request.text.clone(),
            rate,
        };
        if let Some(pcm) = inner.cache.get(&key) {
            tracing::debug!(engine = name, rate, "voice cache hit");
            return Ok((name, Source::Whole(pcm, "hit")));
        }
        let slot: Option<Slot> = match &admission {
            Some(admission) => Some(admission.enter().await?),
            None => None,
        };

        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let cancel = CancellationToken::new();
        let mut sink = AudioSink::new(rate, tx.clone(), cancel.clone(), inner.cache.entry_limit());
        let job = Job {
            text: request.text.clone(),
            voice_id: request.voice_id.clone(),
        };
        let service = self.clone();
        tokio::spawn(async move {
            let result = async {
                engine.synthesize(&job, &mut sink).await?;
                sink.finish().await
            }
            .await;
            drop(slot);
            let counters = admission.as_ref().map(|a| &a.counters);
            let count = |pick: fn(&pool::Counters) -> &std::sync::atomic::AtomicU64| {
                if let Some(counters) = counters {
                    pick(counters).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            };
            match result {
                Ok(()) => {
                    if let Some(pcm) = sink.take_kept().filter(|pcm| !pcm.is_empty()) {
                        service.inner.cache.insert(key, Bytes::from(pcm));
                    }
                }
                Err(VoiceError::Cancelled) => {
                    count(|c| &c.cancelled);
                    tracing::debug!(engine = name, "voice request cancelled by the client");
                }
                Err(e) => {
                    count(|c| &c.failed);
                    if sink.sent_bytes() > 0 {
                        tracing::warn!(engine = name, error = %e, sent = sink.sent_bytes(), "voice stream failed mid-stream; ending it early");
                    }
                    let _ = tx.send(Err(e)).await;
                }
            }
        });
        Ok((
            name,
            Source::Live {
                rx,
                guard: cancel.drop_guard(),
            },
        ))
    }
}
