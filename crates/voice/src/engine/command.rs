//! The command engine: any program that reads text on stdin and writes WAV or raw mono
//! s16le to stdout, such as Piper (`piper -m voice.onnx --output-raw`).
//!
//! One process per request. A persistent worker (Piper's model load takes about a second)
//! is deliberately not built here; point `program` at a small client of such a worker instead.

use futures::future::BoxFuture;

use super::{AudioSink, Job, ProcessSpec, VoiceEngine, run_process};
use crate::config::CommandConfig;
use crate::error::VoiceError;
use crate::wav::Container;

pub(crate) struct CommandEngine {
    config: CommandConfig,
}

impl CommandEngine {
    pub(crate) fn new(config: CommandConfig) -> Self {
        CommandEngine { config }
    }
}

impl VoiceEngine for CommandEngine {
    fn name(&self) -> &'static str {
        "command"
    }

    fn voice_for(&self, voice_id: Option<&str>) -> String {
        super::mapped_voice(&self.config.voices, &self.config.voice, voice_id)
    }

    fn synthesize<'a>(&'a self, job: &'a Job, sink: &'a mut AudioSink) -> BoxFuture<'a, Result<(), VoiceError>> {
        Box::pin(async move {
            let voice = self.voice_for(job.voice_id.as_deref());
            let args = self.config.args.iter().map(|a| a.replace("{voice}", &voice)).collect();
            let spec = ProcessSpec {
                engine: self.name(),
                program: &self.config.program,
                args,
                container: Container::Auto {
                    raw_rate: self.config.sample_rate,
                },
                install_hint: "install it or fix voice.command.program",
            };
            run_process(spec, None, &job.text, sink).await
        })
    }
}
