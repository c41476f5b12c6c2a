//! The Piper engine: neural voices kept loaded in a pool of persistent worker processes.
//!
//! Each worker is the Python runtime of PyPI `piper-tts` running `piper_worker.py` (embedded in
//! this binary): it loads every configured model once, then takes one request at a time over a
//! line-delimited protocol on stdin and answers with one audio frame per sentence on stdout, so
//! the first sentence is streamed while the next is synthesized. A cancel line stops a request
//! after its current sentence; the worker then takes the next request, still loaded.
//!
//! Why a process and not ONNX Runtime in this binary: the model's inference is nearly all of the
//! time (the pipe adds well under a millisecond per sentence), Piper's phonemes come from its own
//! espeak-ng build (linking it would need `unsafe` FFI and make this binary GPL), and a crashed
//! worker costs one request, not the server. The crate README has the measurements.
//!
//! Workers start lazily (on the first request, or on [`PiperEngine::warm_up`] at server start)
//! and a worker that dies is replaced in the background.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{Mutex, mpsc};

use super::{AudioSink, Job, VoiceEngine};
use crate::config::PiperConfig;
use crate::error::VoiceError;
use crate::resample::from_i16;

const NAME: &str = "piper";
const WORKER: &str = include_str!("piper_worker.py");
/// Largest frame accepted from a worker: about 25 minutes of 22 kHz audio in one sentence.
const MAX_FRAME: usize = 64 * 1024 * 1024;
/// How long a cancelled request may take to end (the sentence being synthesized) before its
/// worker is replaced.
const CANCEL_GRACE: Duration = Duration::from_secs(30);

/// What a worker sends.
#[derive(Debug)]
enum Frame {
    Ready(Vec<u32>),
    Audio(Vec<u8>),
    Error(String),
    End,
}

/// One loaded worker process.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    frames: mpsc::Receiver<Frame>,
    rates: Vec<u32>,
}

/// A worker, or why one could not be started.
type Started = Result<Worker, String>;

pub(crate) struct PiperEngine {
    shared: Arc<Shared>,
}

struct Shared {
    config: PiperConfig,
    models: Vec<PathBuf>,
    slots: usize,
    started: AtomicBool,
    next_id: AtomicU64,
    idle_tx: mpsc::UnboundedSender<Started>,
    idle_rx: Mutex<mpsc::UnboundedReceiver<Started>>,
}

impl PiperEngine {
    /// An engine of `slots` workers; none is started yet.
    pub(crate) fn new(config: PiperConfig, slots: usize) -> Self {
        let (idle_tx, idle_rx) = mpsc::unbounded_channel();
        PiperEngine {
            shared: Arc::new(Shared {
                models: config.models(),
                config,
                slots: slots.max(1),
                started: AtomicBool::new(false),
                next_id: AtomicU64::new(1),
                idle_tx,
                idle_rx: Mutex::new(idle_rx),
            }),
        }
    }

    /// Starts every worker in the background, once. Must run inside a tokio runtime.
    pub(crate) fn warm_up(&self) {
        if self.shared.started.swap(true, Ordering::AcqRel) {
            return;
        }
        for _ in 0..self.shared.slots {
            Shared::replace(&self.shared);
        }
    }

    fn model_index(&self, voice_id: Option<&str>) -> usize {
        let shared = &self.shared;
        voice_id
            .and_then(|id| shared.config.voices.get(id))
            .and_then(|model| shared.models.iter().position(|m| m == model))
            .unwrap_or(0)
    }

    async fn run(&self, job: &Job, sink: &mut AudioSink) -> Result<(), VoiceError> {
        self.warm_up();
        let shared = &self.shared;
        let started = {
            let mut idle = shared.idle_rx.lock().await;
            tokio::select! {
                biased;
                _ = sink.cancelled() => return Err(VoiceError::Cancelled),
                started = idle.recv() => started,
            }
        };
        let mut worker = match started {
            Some(Ok(worker)) => worker,
            Some(Err(reason)) => {
                // Try again for the next request; this one is answered now.
                Shared::replace(shared);
                return Err(VoiceError::EngineUnavailable { engine: NAME, reason });
            }
            None => {
                return Err(VoiceError::EngineUnavailable {
                    engine: NAME,
                    reason: "the worker pool is gone".into(),
                });
            }
        };
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let voice = self.model_index(job.voice_id.as_deref());
        let (result, healthy) = worker.speak(id, voice, &job.text, sink).await;
        if healthy {
            let _ = shared.idle_tx.send(Ok(worker));
        } else {
            drop(worker);
            Shared::replace(shared);
        }
        result
    }
}

impl Shared {
    /// Starts one worker in the background and puts it (or its failure) in the idle queue.
    fn replace(shared: &Arc<Shared>) {
        let shared = shared.clone();
        tokio::spawn(async move {
            let started = Worker::start(&shared.config, &shared.models).await;
            if let Err(reason) = &started {
                tracing::error!(engine = NAME, %reason, "piper worker failed to start");
            }
            let _ = shared.idle_tx.send(started);
        });
    }
}

impl Worker {
    async fn start(config: &PiperConfig, models: &[PathBuf]) -> Result<Worker, String> {
        let args = serde_json::json!({
            "models": models.iter().map(|m| m.to_string_lossy()).collect::<Vec<_>>(),
            "threads": config.threads,
        });
        let mut child = tokio::process::Command::new(&config.python)
            .arg("-u")
            .arg("-c")
            .arg(WORKER)
            .arg(args.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                format!(
                    "could not start {}: {e}; run scripts/install-voice or fix voice.piper.python",
                    config.python.display()
                )
            })?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("the worker has no stdio pipes".into());
        };
        let (tx, mut frames) = mpsc::channel(4);
        tokio::spawn(read_frames(stdout, tx));
        tokio::spawn(async move {
            // Python warnings and tracebacks go to the log, line by line, bounded.
            let mut lines = BufReader::new(stderr.take(1024 * 1024)).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(engine = NAME, "{line}");
            }
        });
        let timeout = Duration::from_millis(config.start_timeout_ms);
        match tokio::time::timeout(timeout, frames.recv()).await {
            Err(_) => Err(format!(
                "a worker did not load its models within {} ms (voice.piper.start_timeout_ms)",
                config.start_timeout_ms
            )),
            Ok(Some(Frame::Ready(rates))) if rates.len() == models.len() => Ok(Worker {
                child,
                stdin,
                frames,
                rates,
            }),
            Ok(Some(Frame::Error(message))) => Err(format!(
                "the worker could not load the voice: {message}; run scripts/install-voice"
            )),
            Ok(other) => Err(format!(
                "the worker exited or answered {other:?} instead of ready; run scripts/install-voice"
            )),
        }
    }

    /// Speaks one request into `sink`. Returns the outcome and whether the worker can take the
    /// next request (it cannot after a protocol failure or a cancel that did not end in time).
    async fn speak(
        &mut self,
        id: u64,
        voice: usize,
        text: &str,
        sink: &mut AudioSink,
    ) -> (Result<(), VoiceError>, bool) {
        let failed = |reason: String| VoiceError::EngineFailed { engine: NAME, reason };
        let line = serde_json::json!({"id": id, "text": text, "voice": voice}).to_string() + "\n";
        if let Err(e) = self.stdin.write_all(line.as_bytes()).await {
            return (Err(failed(format!("the worker stopped reading: {e}"))), false);
        }
        let rate = self.rates[voice];
        let mut samples = Vec::new();
        loop {
            let frame = tokio::select! {
                biased;
                _ = sink.cancelled() => return (Err(VoiceError::Cancelled), self.cancel(id).await),
                frame = self.frames.recv() => frame,
            };
            match frame {
                Some(Frame::Audio(bytes)) => {
                    samples.clear();
                    samples.extend(
                        bytes
                            .chunks_exact(2)
                            .map(|b| from_i16(i16::from_le_bytes([b[0], b[1]]))),
                    );
                    if let Err(e) = sink.push(rate, &samples).await {
                        let healthy = self.cancel(id).await;
                        return (Err(e), healthy);
                    }
                }
                Some(Frame::End) => return (Ok(()), true),
                Some(Frame::Error(message)) => {
                    let healthy = self.drain().await;
                    return (Err(failed(message)), healthy);
                }
                Some(Frame::Ready(_)) => return (Err(failed("unexpected ready frame".into())), false),
                None => {
                    let status = self.child.try_wait().ok().flatten();
                    let how = status.map_or_else(|| "closed its output".to_owned(), |s| format!("exited with {s}"));
                    return (Err(failed(format!("the worker {how}"))), false);
                }
            }
        }
    }

    /// Asks the worker to stop request `id` and waits for its end; `true` if it ended in time.
    async fn cancel(&mut self, id: u64) -> bool {
        let line = serde_json::json!({ "cancel": id }).to_string() + "\n";
        if self.stdin.write_all(line.as_bytes()).await.is_err() {
            return false;
        }
        self.drain().await
    }

    /// Skips frames up to the current request's end; `true` if it came in time.
    async fn drain(&mut self) -> bool {
        let ended = async {
            loop {
                match self.frames.recv().await {
                    Some(Frame::End) => return true,
                    Some(Frame::Ready(_)) | None => return false,
                    Some(Frame::Audio(_) | Frame::Error(_)) => {}
                }
            }
        };
        tokio::time::timeout(CANCEL_GRACE, ended).await.unwrap_or(false)
    }
}

/// Parses the worker's stdout into frames until it closes or sends something malformed.
async fn read_frames(stdout: ChildStdout, tx: mpsc::Sender<Frame>) {
    let mut stdout = BufReader::new(stdout);
    loop {
        let mut head = [0u8; 5];
        if stdout.read_exact(&mut head).await.is_err() {
            return;
        }
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > MAX_FRAME || (head[0] == b'A' && !len.is_multiple_of(2)) {
            tracing::warn!(
                engine = NAME,
                kind = head[0],
                len,
                "malformed frame from a piper worker"
            );
            return;
        }
        let mut payload = vec![0u8; len];
        if stdout.read_exact(&mut payload).await.is_err() {
            return;
        }
        let text = || String::from_utf8_lossy(&payload).into_owned();
        let frame = match head[0] {
            b'A' => Frame::Audio(payload),
            b'E' => Frame::End,
            b'X' => Frame::Error(text()),
            b'R' => {
                let rates = serde_json::from_slice::<serde_json::Value>(&payload)
                    .ok()
                    .and_then(|v| {
                        v["rates"]
                            .as_array()
                            .map(|r| r.iter().filter_map(|x| x.as_u64()).map(|x| x as u32).collect())
                    })
                    .unwrap_or_default();
                Frame::Ready(rates)
            }
            other => {
                tracing::warn!(engine = NAME, kind = other, "unknown frame from a piper worker");
                return;
            }
        };
        if tx.send(frame).await.is_err() {
            return;
        }
    }
}

impl VoiceEngine for PiperEngine {
    fn name(&self) -> &'static str {
        NAME
    }

    fn voice_for(&self, voice_id: Option<&str>) -> String {
        self.shared.models[self.model_index(voice_id)].display().to_string()
    }

    fn synthesize<'a>(&'a self, job: &'a Job, sink: &'a mut AudioSink) -> BoxFuture<'a, Result<(), VoiceError>> {
        Box::pin(self.run(job, sink))
    }
}
