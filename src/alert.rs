//! Alerts: a `hang` (the assistant stalled on a call) POSTed as JSON to a configured URL.
//!
//! The call path only enqueues: a bounded queue feeds one background sender, which retries a few times with
//! backoff. When the queue is full the alert is dropped and logged, so a slow alert endpoint never slows calls.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

/// The `[alerts]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Where `hang` alerts are POSTed; none by default.
    pub hang_url: Option<String>,
    /// Attempts per alert (default 3).
    pub attempts: u32,
    /// Per-attempt timeout in milliseconds (default 2000).
    pub timeout_ms: u64,
    /// Alerts waiting to be sent at most (default 256).
    pub queue: usize,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            hang_url: None,
            attempts: 3,
            timeout_ms: 2_000,
            queue: 256,
        }
    }
}

impl AlertsConfig {
    /// Checks the URL and ranges.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.hang_url {
            let parsed = reqwest::Url::parse(url).map_err(|error| format!("alerts.hang_url {url:?}: {error}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!("alerts.hang_url {url:?} must be http or https"));
            }
        }
        if !(1..=10).contains(&self.attempts) || self.queue == 0 || self.timeout_ms == 0 {
            return Err("alerts: attempts must be within 1..=10, queue and timeout_ms at least 1".into());
        }
        Ok(())
    }
}

/// The sending side of the alert queue. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Alerter {
    queue: mpsc::Sender<Value>,
}

impl Alerter {
    /// Starts the background sender, or `None` when no URL is configured.
    pub fn start(config: &AlertsConfig) -> Option<Alerter> {
        let url = config.hang_url.clone()?;
        let (queue, mut pending) = mpsc::channel::<Value>(config.queue);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .ok()?;
        let attempts = config.attempts;
        tokio::spawn(async move {
            while let Some(alert) = pending.recv().await {
                send(&client, &url, &alert, attempts).await;
            }
        });
        Some(Alerter { queue })
    }

    /// Enqueues an alert without waiting; a full queue drops it with a warning.
    pub fn alert(&self, alert: Value) {
        if self.queue.try_send(alert).is_err() {
            tracing::warn!("alert queue full or closed; alert dropped");
        }
    }
}

async fn send(client: &reqwest::Client, url: &str, alert: &Value, attempts: u32) {
    for attempt in 1..=attempts {
        match client.post(url).json(alert).send().await {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => tracing::warn!(status = response.status().as_u16(), attempt, "alert refused"),
            Err(error) => tracing::warn!(%error, attempt, "alert not delivered"),
        }
        if attempt < attempts {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    }
    tracing::error!(attempts, "alert given up");
}
