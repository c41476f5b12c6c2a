//! The upstream engine: an OpenAI-compatible `POST {base}/v1/audio/speech`, whose body is
//! streamed through the decoder and resampler as it arrives.
//!
//! `response_format: "pcm"` bodies are raw mono s16le at the configured rate (24 kHz for
//! OpenAI); `wav` bodies carry their own header. Retries and fallbacks are deliberately
//! absent: Vapi's own `fallbackPlan` handles a failed request.

use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;

use super::{AudioSink, Job, VoiceEngine};
use crate::config::UpstreamConfig;
use crate::error::VoiceError;
use crate::wav::{Container, PcmDecoder};

const NAME: &str = "upstream";

pub(crate) struct UpstreamEngine {
    config: UpstreamConfig,
    url: String,
    client: reqwest::Client,
}

impl UpstreamEngine {
    pub(crate) fn new(config: UpstreamConfig) -> Result<Self, VoiceError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|e| VoiceError::Config(format!("cannot build the upstream http client: {e}")))?;
        let url = format!("{}/v1/audio/speech", config.base_url.trim_end_matches('/'));
        Ok(UpstreamEngine { config, url, client })
    }

    async fn run(&self, job: &Job, sink: &mut AudioSink) -> Result<(), VoiceError> {
        let failed = |reason: String| VoiceError::EngineFailed { engine: NAME, reason };
        let body = serde_json::json!({
            "model": self.config.model,
            "input": job.text,
            "voice": self.voice_for(job.voice_id.as_deref()),
            "response_format": self.config.response_format.as_str(),
        });
        let mut request = self.client.post(&self.url).json(&body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let send = tokio::time::timeout(Duration::from_millis(self.config.timeout_ms), request.send());
        let response = tokio::select! {
            biased;
            _ = sink.cancelled() => return Err(VoiceError::Cancelled),
            r = send => r,
        };
        let response = match response {
            Err(_) => {
                return Err(VoiceError::EngineUnavailable {
                    engine: NAME,
                    reason: format!(
                        "{} did not answer within {} ms: check the server or raise voice.upstream.timeout_ms",
                        self.url, self.config.timeout_ms
                    ),
                });
            }
            Ok(Err(e)) if e.is_connect() => {
                return Err(VoiceError::EngineUnavailable {
                    engine: NAME,
                    reason: format!(
                        "cannot connect to {}: start the server or fix voice.upstream.base_url",
                        self.url
                    ),
                });
            }
            Ok(Err(e)) => return Err(failed(format!("request to {} failed: {e}", self.url))),
            Ok(Ok(r)) => r,
        };
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let snippet: String = text.chars().take(200).collect();
            return Err(failed(format!("{} answered {status}: {snippet}", self.url)));
        }
        let mut decoder = PcmDecoder::new(Container::Auto {
            raw_rate: self.config.sample_rate,
        });
        let mut stream = response.bytes_stream();
        let mut samples = Vec::new();
        loop {
            let next = tokio::select! {
                biased;
                _ = sink.cancelled() => return Err(VoiceError::Cancelled),
                next = stream.next() => next,
            };
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| failed(format!("reading the body failed: {e}")))?;
            samples.clear();
            decoder.feed(&chunk, &mut samples).map_err(failed)?;
            if let Some(rate) = decoder.rate() {
                sink.push(rate, &samples).await?;
            }
        }
        decoder.finish().map_err(failed)
    }
}

impl VoiceEngine for UpstreamEngine {
    fn name(&self) -> &'static str {
        NAME
    }

    fn voice_for(&self, voice_id: Option<&str>) -> String {
        match voice_id {
            Some(id) => self.config.voices.get(id).map_or(id, String::as_str).to_owned(),
            None => self.config.voice.clone(),
        }
    }

    fn synthesize<'a>(&'a self, job: &'a Job, sink: &'a mut AudioSink) -> BoxFuture<'a, Result<(), VoiceError>> {
        Box::pin(self.run(job, sink))
    }
}
