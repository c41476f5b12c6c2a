//! The engine interface: an engine turns text into native-rate audio and pushes it into an
//! [`AudioSink`] as soon as it exists; the sink resamples to the requested rate and hands
//! 16-bit little-endian chunks to the HTTP body.
//!
//! Engines here are process or HTTP boundaries (Piper workers, espeak-ng, any command, an
//! OpenAI-compatible server); none links a TTS library, so no engine global state is shared between requests.
//! Recorded prompts are not an engine: they are decoded once and answered from memory
//! (see `prompts`).

pub(crate) mod command;
pub(crate) mod espeak;
pub(crate) mod piper;
pub(crate) mod upstream;

use std::process::Stdio;

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::VoiceError;
use crate::resample::{StreamResampler, to_i16};
use crate::wav::{Container, PcmDecoder};

/// One synthesis job, after validation and voice mapping.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// The text to speak.
    pub(crate) text: String,
    /// The Vapi `voiceId`, if any; each engine maps it to its own voice.
    pub(crate) voice_id: Option<String>,
}

/// A text-to-speech engine.
pub(crate) trait VoiceEngine: Send + Sync {
    /// Short name used in errors, logs and cache keys.
    fn name(&self) -> &'static str;
    /// The engine-specific voice a request will be spoken with (part of the cache key).
    fn voice_for(&self, voice_id: Option<&str>) -> String;
    /// Synthesizes `job`, pushing native audio into `sink` as it is produced. Returns when
    /// the audio is complete, or early with [`VoiceError::Cancelled`] once the sink is closed.
    fn synthesize<'a>(&'a self, job: &'a Job, sink: &'a mut AudioSink) -> BoxFuture<'a, Result<(), VoiceError>>;
}

/// The engine voice for a Vapi `voiceId`: its mapping in `voices`, else the engine's `default` voice (an
/// unmapped id is not passed to a local engine, which would fall back silently or fail).
pub(crate) fn mapped_voice(
    voices: &std::collections::BTreeMap<String, String>,
    default: &str,
    voice_id: Option<&str>,
) -> String {
    voice_id
        .and_then(|id| voices.get(id))
        .map_or(default, String::as_str)
        .to_owned()
}

/// Receives native audio from an engine and forwards resampled PCM bytes.
pub(crate) struct AudioSink {
    output_rate: u32,
    resampler: Option<StreamResampler>,
    tx: mpsc::Sender<Result<Bytes, VoiceError>>,
    cancel: CancellationToken,
    scratch: Vec<f32>,
    sent_bytes: u64,
    kept: Option<Vec<u8>>,
    keep_limit: usize,
}

impl AudioSink {
    /// A sink that sends to `tx`, keeping a copy of up to `keep_limit` bytes for the cache.
    pub(crate) fn new(
        output_rate: u32,
        tx: mpsc::Sender<Result<Bytes, VoiceError>>,
        cancel: CancellationToken,
        keep_limit: usize,
    ) -> Self {
        AudioSink {
            output_rate,
            resampler: None,
            tx,
            cancel,
            scratch: Vec::new(),
            sent_bytes: 0,
            kept: (keep_limit > 0).then(Vec::new),
            keep_limit,
        }
    }

    /// Bytes sent so far; zero means an error can still become an HTTP status.
    pub(crate) fn sent_bytes(&self) -> u64 {
        self.sent_bytes
    }

    /// Resolves when the request is cancelled (client gone).
    pub(crate) fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// Pushes native-rate mono samples. The first push fixes the native rate.
    pub(crate) async fn push(&mut self, native_rate: u32, samples: &[f32]) -> Result<(), VoiceError> {
        if samples.is_empty() {
            return Ok(());
        }
        let resampler = match &mut self.resampler {
            Some(r) if r.input_rate() == native_rate => r,
            Some(r) => {
                return Err(VoiceError::Resample(format!(
                    "engine changed its rate mid-stream from {} to {native_rate}",
                    r.input_rate()
                )));
            }
            None => self
                .resampler
                .insert(StreamResampler::new(native_rate, self.output_rate)?),
        };
        self.scratch.clear();
        resampler.process(samples, &mut self.scratch)?;
        self.send_scratch().await
    }

    /// Flushes the resampler tail. Call once, after the last push.
    pub(crate) async fn finish(&mut self) -> Result<(), VoiceError> {
        self.scratch.clear();
        if let Some(r) = &mut self.resampler {
            r.finish(&mut self.scratch)?;
        }
        self.send_scratch().await
    }

    /// The PCM sent so far, if it stayed under the keep limit.
    pub(crate) fn take_kept(&mut self) -> Option<Vec<u8>> {
        self.kept.take()
    }

    async fn send_scratch(&mut self) -> Result<(), VoiceError> {
        if self.scratch.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(self.scratch.len() * 2);
        for &s in &self.scratch {
            bytes.extend_from_slice(&to_i16(s).to_le_bytes());
        }
        if let Some(kept) = &mut self.kept {
            if kept.len() + bytes.len() <= self.keep_limit {
                kept.extend_from_slice(&bytes);
            } else {
                self.kept = None;
            }
        }
        self.sent_bytes += bytes.len() as u64;
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(VoiceError::Cancelled),
            sent = self.tx.send(Ok(Bytes::from(bytes))) => sent.map_err(|_| VoiceError::Cancelled),
        }
    }
}

/// How to run one synthesis process.
pub(crate) struct ProcessSpec<'a> {
    pub(crate) engine: &'static str,
    pub(crate) program: &'a std::path::Path,
    pub(crate) args: Vec<String>,
    pub(crate) container: Container,
    /// Told to the caller when the program cannot be started.
    pub(crate) install_hint: &'a str,
}

/// Starts the program of `spec` with piped stdio; it waits for its text on stdin.
pub(crate) fn spawn_process(spec: &ProcessSpec<'_>) -> Result<Child, VoiceError> {
    let engine = spec.engine;
    tokio::process::Command::new(spec.program)
        .args(&spec.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            let reason = if e.kind() == std::io::ErrorKind::NotFound {
                format!("{} was not found: {}", spec.program.display(), spec.install_hint)
            } else {
                format!("could not start {}: {e}", spec.program.display())
            };
            VoiceError::EngineUnavailable { engine, reason }
        })
}

/// Runs a program with the text on stdin, decodes its stdout into the sink, and kills it as
/// soon as the sink is cancelled or closed. A failure before any audio is an error; after
/// audio it is still an error, which the pipeline logs and turns into an early end.
/// `child` is an already started (warm) process of the same spec, if there is one.
pub(crate) async fn run_process(
    spec: ProcessSpec<'_>,
    child: Option<Child>,
    text: &str,
    sink: &mut AudioSink,
) -> Result<(), VoiceError> {
    let engine = spec.engine;
    let mut child = match child {
        Some(child) => child,
        None => spawn_process(&spec)?,
    };
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(VoiceError::EngineFailed {
            engine,
            reason: "the process has no stdio pipes".into(),
        });
    };
    // Stdin is written concurrently so a long text cannot deadlock against a full stdout.
    let input = text.as_bytes().to_vec();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
        let _ = stdin.shutdown().await;
    });
    let errors = tokio::spawn(async move {
        let mut text = Vec::new();
        let _ = (&mut stderr).take(4096).read_to_end(&mut text).await;
        String::from_utf8_lossy(&text).trim().to_owned()
    });

    let mut decoder = PcmDecoder::new(spec.container);
    let mut buf = vec![0u8; 16 * 1024];
    let mut samples = Vec::new();
    let streamed: Result<(), VoiceError> = async {
        loop {
            let n = tokio::select! {
                biased;
                _ = sink.cancelled() => return Err(VoiceError::Cancelled),
                n = stdout.read(&mut buf) => n.map_err(|e| VoiceError::EngineFailed {
                    engine,
                    reason: format!("reading its output failed: {e}"),
                })?,
            };
            if n == 0 {
                break;
            }
            samples.clear();
            decoder
                .feed(&buf[..n], &mut samples)
                .map_err(|reason| VoiceError::EngineFailed { engine, reason })?;
            if let Some(rate) = decoder.rate() {
                sink.push(rate, &samples).await?;
            }
        }
        decoder
            .finish()
            .map_err(|reason| VoiceError::EngineFailed { engine, reason })
    }
    .await;
    writer.abort();
    if let Err(e) = streamed {
        // Kill and reap now rather than leaving it to kill_on_drop's background reaping.
        let _ = child.kill().await;
        errors.abort();
        return Err(e);
    }
    let status = child.wait().await.map_err(|e| VoiceError::EngineFailed {
        engine,
        reason: format!("waiting for the process failed: {e}"),
    })?;
    let stderr = errors.await.unwrap_or_default();
    if !status.success() {
        let detail = if stderr.is_empty() {
            String::new()
        } else {
            format!(": {stderr}")
        };
        return Err(VoiceError::EngineFailed {
            engine,
            reason: format!("{} exited with {status}{detail}", spec.program.display()),
        });
    }
    Ok(())
}
