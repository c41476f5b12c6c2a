//! The espeak-ng engine: one `espeak-ng --stdout` process per request, text on stdin.
//!
//! A process per request is what makes concurrent requests safe: libespeak-ng keeps global
//! state and is not thread-safe, and the process boundary also keeps its GPL code out of this
//! binary. Its streaming WAV header (placeholder sizes) is handled by the WAV decoder.
//!
//! Most of espeak-ng's time to first audio is its own start-up (about 8 ms: exec, loading
//! voice data); a started process waiting on stdin answers in well under 1 ms. So the engine
//! keeps `warm_processes` idle processes of the default voice, each used for exactly one
//! request and replaced in the background. Other voices start cold.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio::process::Child;

use super::{AudioSink, Job, ProcessSpec, VoiceEngine, run_process, spawn_process};
use crate::config::EspeakConfig;
use crate::error::VoiceError;
use crate::wav::Container;

/// espeak-ng's output rate for its own (non-mbrola) voices; only used if it ever sends no header.
const ESPEAK_RATE: u32 = 22_050;

pub(crate) struct EspeakEngine {
    config: Arc<EspeakConfig>,
    /// Idle processes of the default voice; killed when dropped (`kill_on_drop`).
    warm: Arc<Mutex<Vec<Child>>>,
}

const INSTALL_HINT: &str = "install espeak-ng (apt-get install espeak-ng) or set voice.espeak.program";

impl EspeakEngine {
    pub(crate) fn new(config: EspeakConfig) -> Self {
        EspeakEngine {
            config: Arc::new(config),
            warm: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn spec<'a>(config: &'a EspeakConfig, voice: &str) -> ProcessSpec<'a> {
        ProcessSpec {
            engine: "espeak",
            program: &config.program,
            args: Self::args(config, voice),
            container: Container::Auto { raw_rate: ESPEAK_RATE },
            install_hint: INSTALL_HINT,
        }
    }

    /// A warm process of the default voice that is still alive, if any.
    fn take_warm(&self) -> Option<Child> {
        let mut warm = self.warm.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut child) = warm.pop() {
            if matches!(child.try_wait(), Ok(None)) {
                return Some(child);
            }
        }
        None
    }

    /// Tops the warm set up to its configured size, off the request's path.
    fn refill(&self) {
        let target = self.config.warm_processes;
        if target == 0 {
            return;
        }
        let (config, warm) = (self.config.clone(), self.warm.clone());
        tokio::spawn(async move {
            loop {
                if warm.lock().map(|w| w.len() >= target).unwrap_or(true) {
                    return;
                }
                // A missing program is reported by the cold path of the next request.
                let Ok(child) = spawn_process(&Self::spec(&config, &config.voice)) else {
                    return;
                };
                warm.lock().unwrap_or_else(|p| p.into_inner()).push(child);
            }
        });
    }

    fn args(config: &EspeakConfig, voice: &str) -> Vec<String> {
        // `-b 1`: the input is UTF-8. Text comes on stdin so it can never be read as a flag.
        let mut args = vec!["--stdout".into(), "-b".into(), "1".into(), "-v".into(), voice.into()];
        if let Some(wpm) = config.words_per_minute {
            args.extend(["-s".into(), wpm.to_string()]);
        }
        if let Some(pitch) = config.pitch {
            args.extend(["-p".into(), pitch.to_string()]);
        }
        args
    }
}

impl VoiceEngine for EspeakEngine {
    fn name(&self) -> &'static str {
        "espeak"
    }

    fn voice_for(&self, voice_id: Option<&str>) -> String {
        super::mapped_voice(&self.config.voices, &self.config.voice, voice_id)
    }

    fn synthesize<'a>(&'a self, job: &'a Job, sink: &'a mut AudioSink) -> BoxFuture<'a, Result<(), VoiceError>> {
        Box::pin(async move {
            let voice = self.voice_for(job.voice_id.as_deref());
            let warm = if voice == self.config.voice {
                let child = self.take_warm();
                self.refill();
                child
            } else {
                None
            };
            run_process(Self::spec(&self.config, &voice), warm, &job.text, sink).await
        })
    }
}
