//! The espeak-ng engine: one `espeak-ng --stdout` process per request, text on stdin.
//!
//! A process per request is what makes concurrent requests safe: libespeak-ng keeps global
//! state and is not thread-safe, and the process boundary also keeps its GPL code out of this
//! binary. Its streaming WAV header (placeholder sizes) is handled by the WAV decoder.

use futures::future::BoxFuture;

use super::{AudioSink, Job, ProcessSpec, VoiceEngine, run_process};
use crate::config::EspeakConfig;
use crate::error::VoiceError;
use crate::wav::Container;

/// espeak-ng's output rate for its own (non-mbrola) voices; only used if it ever sends no header.
const ESPEAK_RATE: u32 = 22_050;

pub(crate) struct EspeakEngine {
    config: EspeakConfig,
}

impl EspeakEngine {
    pub(crate) fn new(config: EspeakConfig) -> Self {
        EspeakEngine { config }
    }

    fn args(&self, voice: &str) -> Vec<String> {
        // `-b 1`: the input is UTF-8. Text comes on stdin so it can never be read as a flag.
        let mut args = vec!["--stdout".into(), "-b".into(), "1".into(), "-v".into(), voice.into()];
        if let Some(wpm) = self.config.words_per_minute {
            args.extend(["-s".into(), wpm.to_string()]);
        }
        if let Some(pitch) = self.config.pitch {
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
        voice_id
            .and_then(|id| self.config.voices.get(id))
            .unwrap_or(&self.config.voice)
            .clone()
    }

    fn synthesize<'a>(&'a self, job: &'a Job, sink: &'a mut AudioSink) -> BoxFuture<'a, Result<(), VoiceError>> {
        Box::pin(async move {
            let voice = self.voice_for(job.voice_id.as_deref());
            let spec = ProcessSpec {
                engine: self.name(),
                program: &self.config.program,
                args: self.args(&voice),
                container: Container::Auto { raw_rate: ESPEAK_RATE },
                install_hint: "install espeak-ng (apt-get install espeak-ng) or set voice.espeak.program",
            };
            run_process(spec, &job.text, sink).await
        })
    }
}
