//! Deliveries: JSON POSTed in the background through a bounded queue, with retries and backoff.
//!
//! The call path only enqueues ([`Courier::send`]): a bounded queue feeds one background task, which sends at
//! most `in_flight` deliveries at a time, each retried with exponential backoff while the answer says a retry
//! may help (a transport error, a timeout, `408`, `429` or `5xx`); any other answer ends it at once. When the
//! queue is full the delivery is handed back, so a slow endpoint never slows calls. Redirects are not followed:
//! a delivery goes to the URL it was given, or nowhere.
//!
//! Three things travel this way: `hang` alerts ([`Alerter`], to `[alerts] hang_url`), the results of async
//! tools (to the live call's control URL) and `phone-call-control` requests (to the telephony bridge); the last
//! two in [`crate::control`], which waits for its own at shutdown ([`crate::control::Control::drain`]). A hang
//! alert still queued when the process exits is lost.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::{Semaphore, mpsc};

/// The longest pause between two attempts, whatever the backoff base.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How a [`Courier`] sends: attempts, timeouts, backoff and its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per delivery, at least 1.
    pub attempts: u32,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// The pause after the first failed attempt; it doubles after each further one (at most 10 s).
    pub backoff: Duration,
    /// Deliveries waiting to be sent at most.
    pub queue: usize,
    /// Deliveries being sent at once at most.
    pub in_flight: usize,
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (1-based).
    pub fn pause_after(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.backoff.saturating_mul(factor).min(MAX_BACKOFF)
    }
}

/// Whether an answer with this status may go better on a later attempt.
pub fn is_retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status == reqwest::StatusCode::REQUEST_TIMEOUT || status.as_u16() == 429
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A `2xx` answer, at this attempt.
    Delivered {
        /// The attempt that succeeded (1-based).
        attempts: u32,
    },
    /// Every attempt failed, or an answer said a retry would not help.
    GaveUp {
        /// The attempts made.
        attempts: u32,
    },
}

/// One JSON body to POST.
pub struct Delivery {
    /// Where to.
    pub url: reqwest::Url,
    /// The JSON body, sent as it is on every attempt.
    pub body: Bytes,
    /// Extra headers (authorization, `Idempotency-Key`, ...).
    pub headers: HeaderMap,
    /// When set, every attempt is signed with it: `x-timestamp` (epoch seconds) and
    /// `x-signature = hex(HMAC-SHA256(secret, "{x-timestamp}.{body}"))`.
    pub signing_secret: Option<Arc<str>>,
    /// What is delivered, for logs: `hang alert`, `add-message`, ...
    pub label: &'static str,
    /// Called once with the outcome.
    pub done: Option<Box<dyn FnOnce(Outcome) + Send>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a per-call token and the headers a credential: neither is formatted.
        f.debug_struct("Delivery")
            .field("label", &self.label)
            .field("host", &self.url.host_str())
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// A delivery of `body` (serialized to JSON) to `url`, without extra headers, signature or callback.
    pub fn json(url: reqwest::Url, body: &impl serde::Serialize, label: &'static str) -> Delivery {
        Delivery {
            url,
            // Bodies are plain data (strings, numbers, JSON values): serializing them cannot fail.
            body: Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
            headers: HeaderMap::new(),
            signing_secret: None,
            label,
            done: None,
        }
    }
}

/// The sending side of a delivery queue. Cloning is cheap; the background task ends with the last clone.
#[derive(Debug, Clone)]
pub struct Courier {
    queue: mpsc::Sender<Delivery>,
}

impl Courier {
    /// Starts the background sender (inside a Tokio runtime).
    pub fn start(policy: RetryPolicy) -> Result<Courier, String> {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| format!("delivery client: {error}"))?;
        let (queue, mut pending) = mpsc::channel::<Delivery>(policy.queue.max(1));
        let permits = Arc::new(Semaphore::new(policy.in_flight.max(1)));
        tokio::spawn(async move {
            while let Some(delivery) = pending.recv().await {
                // Never closed: acquiring only waits for a delivery in flight to end.
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    break;
                };
                let client = client.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    deliver(&client, delivery, &policy).await;
                });
            }
        });
        Ok(Courier { queue })
    }

    /// Enqueues a delivery without waiting; a full (or closed) queue hands it back.
    pub fn send(&self, delivery: Delivery) -> Result<(), Box<Delivery>> {
        self.queue.try_send(delivery).map_err(|error| match error {
            mpsc::error::TrySendError::Full(delivery) | mpsc::error::TrySendError::Closed(delivery) => {
                Box::new(delivery)
            }
        })
    }
}

async fn deliver(client: &reqwest::Client, mut delivery: Delivery, policy: &RetryPolicy) {
    let label = delivery.label;
    let host = delivery.url.host_str().unwrap_or_default().to_string();
    let mut outcome = Outcome::GaveUp {
        attempts: policy.attempts,
    };
    for attempt in 1..=policy.attempts {
        let mut request = client
            .post(delivery.url.clone())
            .headers(delivery.headers.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(secret) = &delivery.signing_secret {
            let (timestamp, signature) = sign(secret, &delivery.body);
            request = request
                .header("x-timestamp", timestamp)
                .header("x-signature", signature);
        }
        let retry = match request.body(delivery.body.clone()).send().await {
            Ok(response) if response.status().is_success() => {
                outcome = Outcome::Delivered { attempts: attempt };
                break;
            }
            Ok(response) => {
                let status = response.status();
                tracing::warn!(label, host, status = status.as_u16(), attempt, "delivery refused");
                is_retryable(status)
            }
            Err(error) => {
                tracing::warn!(label, host, error = %error.without_url(), attempt, "delivery not made");
                true
            }
        };
        if !retry {
            outcome = Outcome::GaveUp { attempts: attempt };
            break;
        }
        if attempt < policy.attempts {
            tokio::time::sleep(policy.pause_after(attempt)).await;
        }
    }
    if let Outcome::GaveUp { attempts } = outcome {
        tracing::error!(label, host, attempts, "delivery given up");
    }
    if let Some(done) = delivery.done.take() {
        done(outcome);
    }
}

/// The `x-timestamp` (epoch seconds) and `x-signature` headers for `body`: Switchboard's own default HMAC
/// form, so a receiver can verify it exactly as Switchboard verifies Vapi.
pub fn sign(secret: &str, body: &[u8]) -> (String, String) {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .to_string();
    (timestamp.clone(), signature(secret, &timestamp, body))
}

/// `hex(HMAC-SHA256(secret, "{timestamp}.{body}"))`.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

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

/// The sending side of the hang alert queue. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Alerter {
    url: reqwest::Url,
    courier: Courier,
}

impl Alerter {
    /// Starts the background sender, or `None` when no URL is configured.
    pub fn start(config: &AlertsConfig) -> Option<Alerter> {
        let url = reqwest::Url::parse(config.hang_url.as_deref()?).ok()?;
        let courier = Courier::start(RetryPolicy {
            attempts: config.attempts,
            timeout: Duration::from_millis(config.timeout_ms),
            backoff: Duration::from_millis(400),
            queue: config.queue,
            in_flight: 4,
        })
        .ok()?;
        Some(Alerter { url, courier })
    }

    /// Enqueues an alert without waiting; a full queue drops it with a warning.
    pub fn alert(&self, alert: Value) {
        if self
            .courier
            .send(Delivery::json(self.url.clone(), &alert, "hang alert"))
            .is_err()
        {
            tracing::warn!("alert queue full or closed; alert dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy {
            attempts: 5,
            timeout: Duration::from_secs(1),
            backoff: Duration::from_millis(200),
            queue: 1,
            in_flight: 1,
        };
        assert_eq!(policy.pause_after(1), Duration::from_millis(200));
        assert_eq!(policy.pause_after(2), Duration::from_millis(400));
        assert_eq!(policy.pause_after(3), Duration::from_millis(800));
        assert_eq!(policy.pause_after(40), MAX_BACKOFF);
    }

    #[test]
    fn only_answers_a_retry_may_change_are_retried() {
        for status in [500, 502, 503, 408, 429] {
            assert!(is_retryable(reqwest::StatusCode::from_u16(status).unwrap()), "{status}");
        }
        for status in [301, 400, 401, 403, 404, 413, 422] {
            assert!(
                !is_retryable(reqwest::StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
    }

    #[test]
    fn the_signature_verifies_as_switchboards_default_hmac() {
        let body = br#"{"request":"hang-up"}"#;
        let (timestamp, signature) = sign("bridge-key", body);
        let auth = crate::auth::AuthConfig::Hmac(crate::auth::HmacConfig::new("bridge-key"));
        let now_ms = timestamp.parse::<i64>().unwrap() * 1000;
        let headers = |name: &str| match name {
            "x-timestamp" => Some(timestamp.as_str()),
            "x-signature" => Some(signature.as_str()),
            _ => None,
        };
        assert!(auth.verify(headers, "POST", "/bridge", body, now_ms).is_ok());
        assert!(
            auth.verify(headers, "POST", "/bridge", b"{}", now_ms).is_err(),
            "another body"
        );
    }
}
