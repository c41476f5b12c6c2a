//! Acting on a live call: async tool results through Vapi's Live Call Control, and `phone-call-control`
//! requests through a telephony bridge.
//!
//! **Async tool results.** An `async` tool is acknowledged at once and runs in the background. When the
//! `tool-calls` message's call has a control URL (`call.monitor.controlUrl`, present when the assistant's
//! `monitorPlan.controlEnabled` is on) on an allowed host, the finished result is POSTed to it as an
//! `add-message` of a `system` message naming the tool and its call, with `triggerResponseEnabled: true` so the
//! assistant speaks it. A `system` message, because Vapi's `add-message` takes an `OpenAIMessage` of a role and
//! a content only: a `tool` message could not name the tool call it answers. Without a usable control URL the
//! acknowledgement tells the model not to wait for the result; the result is recorded in the call's tool
//! records either way (`/calls/{id}`, `recall`, `summarize_call`) and every outcome is counted in
//! `switchboard_async_results_total{outcome}`.
//!
//! The control URL comes from the caller's payload, so it is a request-forgery vector: it is used only when
//! [`allowed_control_url`] accepts it under `[control] hosts` (Vapi's `vapi.ai` and its subdomains by
//! default, over https; a loopback host only when listed by name, then over http too). Deliveries follow no
//! redirect.
//!
//! **`phone-call-control`.** With it in `serverMessages`, Vapi no longer forwards or hangs up itself. The
//! request is recorded in the call (`phoneControls` in `/calls/{id}`) and, when `[telephony] bridge_url` is
//! set, POSTed there ([`BridgeRequest`]), signed with `[telephony] secret` when set, for a telephony backend to
//! act on. Without a bridge, a warning names the call and the request.
//!
//! Both go through [`crate::alert::Courier`] (bounded queue, retries with backoff), and both happen once per
//! tool call id, or per `phone-call-control` message, however often Vapi delivers it: the call runtime's
//! tool-call ledger ([`call_runtime::CallRuntime::run_tool_once`], shared between instances through Redis)
//! claims each delivery under a key of its own before it is queued. Each POST carries an `Idempotency-Key`,
//! since a request whose answer was lost is sent again.
//!
//! **Shutdown.** A graceful stop waits ([`Control::drain`], up to `[http] shutdown_grace_seconds`) for every
//! result and request already begun to be delivered or given up, retries included; what is still unsent then
//! is logged and counted as `outcome="shutdown"`, never dropped silently.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use call_runtime::{CallRuntime, Unclaimable};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use vapi_types::{ControlMessage, PhoneCallControl, ServerMessage};

use crate::alert::{Courier, Delivery, Outcome, RetryPolicy};
use crate::tools::{Background, Finished, ToolCall};

/// Most bytes of a tool's result put into one `add-message`; a longer one is cut at a character boundary.
pub const MAX_RESULT_BYTES: usize = 16 * 1024;

/// How long a delivery's claim in the ledger holds: queuing takes no time.
const CLAIM_HOLD: Duration = Duration::from_secs(1);

/// The `[control]` table: Vapi's Live Call Control, where async tool results go.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// Hosts a control URL may point at: each one and its subdomains, over https. A loopback host
    /// (`localhost`, `127.0.0.1`, `::1`) is allowed only when listed by name, and then over http too. Default
    /// `["vapi.ai"]`; an empty list sends nothing.
    pub hosts: Vec<String>,
    /// Sent as `Authorization: Bearer <api_key>`: the Vapi public key the control URL wants when the assistant's
    /// `monitorPlan.controlAuthenticationEnabled` is on.
    pub api_key: Option<String>,
    /// Attempts per message (default 3).
    pub attempts: u32,
    /// Per-attempt timeout in milliseconds (default 2000).
    pub timeout_ms: u64,
    /// The pause after the first failed attempt, doubling after each (default 200).
    pub backoff_ms: u64,
    /// Messages waiting to be sent at most (default 1024).
    pub queue: usize,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            hosts: vec!["vapi.ai".into()],
            api_key: None,
            attempts: 3,
            timeout_ms: 2_000,
            backoff_ms: 200,
            queue: 1024,
        }
    }
}

impl ControlConfig {
    /// Checks the hosts and ranges.
    pub fn validate(&self) -> Result<(), String> {
        for host in &self.hosts {
            let address = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok();
            if host.is_empty() || !address && host.contains(['/', ':', '*', '@', ' ', '[', ']']) {
                return Err(format!(
                    "control.hosts: {host:?} is not a host name (write `vapi.ai`, not a URL or a pattern)"
                ));
            }
        }
        if let Some(key) = &self.api_key {
            HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| "control.api_key is not a valid header value".to_string())?;
        }
        self.policy().map(drop)
    }

    fn policy(&self) -> Result<RetryPolicy, String> {
        // Each call has its own control URL: one slow call's endpoint must not hold up the others.
        retry_policy(
            "control",
            self.attempts,
            self.timeout_ms,
            self.backoff_ms,
            self.queue,
            32,
        )
    }
}

/// The `[telephony]` table: where `phone-call-control` requests are carried out.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelephonyConfig {
    /// Where each `phone-call-control` request is POSTed ([`BridgeRequest`]); none by default.
    pub bridge_url: Option<String>,
    /// When set, every POST is signed: `x-timestamp` (epoch seconds) and
    /// `x-signature = hex(HMAC-SHA256(secret, "{x-timestamp}.{body}"))`.
    pub secret: Option<String>,
    /// Attempts per request (default 5).
    pub attempts: u32,
    /// Per-attempt timeout in milliseconds (default 2000).
    pub timeout_ms: u64,
    /// The pause after the first failed attempt, doubling after each (default 200).
    pub backoff_ms: u64,
    /// Requests waiting to be sent at most (default 256).
    pub queue: usize,
}

impl Default for TelephonyConfig {
    fn default() -> Self {
        TelephonyConfig {
            bridge_url: None,
            secret: None,
            attempts: 5,
            timeout_ms: 2_000,
            backoff_ms: 200,
            queue: 256,
        }
    }
}

impl std::fmt::Debug for TelephonyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelephonyConfig")
            .field("bridge_url", &self.bridge_url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("attempts", &self.attempts)
            .field("timeout_ms", &self.timeout_ms)
            .field("backoff_ms", &self.backoff_ms)
            .field("queue", &self.queue)
            .finish()
    }
}

impl TelephonyConfig {
    /// Checks the URL, secret and ranges.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.bridge_url {
            let parsed = reqwest::Url::parse(url).map_err(|error| format!("telephony.bridge_url {url:?}: {error}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!("telephony.bridge_url {url:?} must be http or https"));
            }
        }
        if self.secret.as_deref().is_some_and(str::is_empty) {
            return Err("telephony.secret must not be empty".into());
        }
        self.policy().map(drop)
    }

    fn policy(&self) -> Result<RetryPolicy, String> {
        // One bridge serves every call: a few deliveries at a time, so a burst does not flood it.
        retry_policy(
            "telephony",
            self.attempts,
            self.timeout_ms,
            self.backoff_ms,
            self.queue,
            8,
        )
    }
}

/// The [`RetryPolicy`] of a `[control]` or `[telephony]` table, once its ranges are checked.
fn retry_policy(
    table: &str,
    attempts: u32,
    timeout_ms: u64,
    backoff_ms: u64,
    queue: usize,
    in_flight: usize,
) -> Result<RetryPolicy, String> {
    if !(1..=10).contains(&attempts) || !(1..=60_000).contains(&timeout_ms) || !(1..=1_000_000).contains(&queue) {
        return Err(format!(
            "{table}: attempts must be within 1..=10, timeout_ms within 1..=60000, queue within 1..=1000000"
        ));
    }
    Ok(RetryPolicy {
        attempts,
        timeout: Duration::from_millis(timeout_ms),
        backoff: Duration::from_millis(backoff_ms),
        queue,
        in_flight,
    })
}

/// Why a control URL is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a URL.
    #[error("not a URL")]
    Unparsable,
    /// Not https (nor http to a listed loopback host), or carries credentials.
    #[error("scheme or credentials not allowed")]
    Scheme,
    /// The host is not in `[control] hosts`.
    #[error("host not in [control] hosts")]
    Host,
}

/// The control URL as a URL to POST to, when `hosts` allows it: the host equals a listed name or is a
/// subdomain of one, over https; or it is a loopback host listed by name exactly, over http or https. IP
/// addresses other than loopback are allowed only when listed exactly, like loopback. URLs with a user or
/// password are refused.
pub fn allowed_control_url(url: &str, hosts: &[String]) -> Result<reqwest::Url, Refused> {
    let parsed = reqwest::Url::parse(url).map_err(|_| Refused::Unparsable)?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Refused::Scheme);
    }
    // The URL parser gives hosts in canonical form: lower case, IPv4 in dotted decimal, IPv6 in brackets.
    let host = match parsed.host_str() {
        Some(host) if host.starts_with('[') => match host.trim_matches(['[', ']']).parse() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => return Err(Refused::Unparsable),
        },
        Some(host) => match host.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => Host::Ip(ip.into()),
            Err(_) => Host::Name(host.trim_end_matches('.').to_ascii_lowercase()),
        },
        None => return Err(Refused::Unparsable),
    };
    let listed = |name: &str| {
        hosts
            .iter()
            .any(|allowed| allowed.trim_matches(['[', ']']).eq_ignore_ascii_case(name))
    };
    let exact = match &host {
        Host::Name(name) if name == "localhost" => listed(name),
        Host::Name(_) => false,
        Host::Ip(ip) => listed(&ip.to_string()),
    };
    let loopback = match &host {
        Host::Name(name) => name == "localhost",
        Host::Ip(ip) => ip.is_loopback(),
    };
    let by_domain = match &host {
        Host::Name(name) if name != "localhost" => hosts.iter().any(|allowed| {
            let allowed = allowed.trim_end_matches('.').to_ascii_lowercase();
            !allowed.is_empty()
                && (name == &allowed
                    || name
                        .strip_suffix(allowed.as_str())
                        .is_some_and(|rest| rest.ends_with('.')))
        }),
        _ => false,
    };
    if !exact && !by_domain {
        return Err(Refused::Host);
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if exact && loopback => Ok(parsed),
        _ => Err(Refused::Scheme),
    }
}

enum Host {
    Name(String),
    Ip(std::net::IpAddr),
}

/// Where the async tool results of one `tool-calls` message go.
#[derive(Debug, Clone)]
pub enum ResultTarget {
    /// The call's control URL, allowed.
    Live(reqwest::Url),
    /// The call has no control URL (or the message no call id).
    NoControlUrl,
    /// The call's control URL is refused, and why; with its host when it has one (the URL itself is never
    /// logged: it may carry a token).
    Refused(Refused, Option<String>),
}

/// What a `phone-call-control` bridge receives: Switchboard's own JSON, carrying Vapi's request and destination
/// as they came, with the call's ids on the telephony side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgeRequest {
    /// Always `phone-call-control`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Vapi's call id.
    pub call_id: String,
    /// `forward` or `hang-up`.
    pub request: String,
    /// Where to forward (Vapi's `number` or `sip` destination, verbatim), for `forward`.
    pub destination: Option<Value>,
    /// `twilio`, `vonage`, `vapi` or `telnyx`.
    pub phone_call_provider: Option<String>,
    /// The provider's id for the call (Twilio CallSid, Telnyx callControlId, ...).
    pub phone_call_provider_id: Option<String>,
    /// The call's transport ids (SIP call ids, ...), verbatim.
    pub transport: Option<Value>,
    /// The caller's number.
    pub customer_number: Option<String>,
    /// The message's timestamp, epoch milliseconds.
    pub timestamp: Option<i64>,
}

/// Counters of what became of async results and `phone-call-control` requests.
#[derive(Debug, Default)]
pub struct ControlStats {
    results: [AtomicU64; RESULT_OUTCOMES.len()],
    controls: [AtomicU64; CONTROL_OUTCOMES.len()],
}

/// The outcomes of an async tool's result, as `switchboard_async_results_total{outcome}` names them.
pub const RESULT_OUTCOMES: [&str; 8] = [
    "delivered",
    "failed",
    "no_control_url",
    "refused_host",
    "call_ended",
    "queue_full",
    "duplicate",
    "shutdown",
];

/// The outcomes of a `phone-call-control`, as `switchboard_phone_call_controls_total{outcome}` names them.
pub const CONTROL_OUTCOMES: [&str; 7] = [
    "delivered",
    "failed",
    "no_bridge",
    "too_large",
    "queue_full",
    "duplicate",
    "shutdown",
];

/// Most bytes of a [`BridgeRequest`]: one whose destination or transport makes it longer is not sent (a forward
/// with a cut destination would go to the wrong place).
pub const MAX_BRIDGE_BYTES: usize = 64 * 1024;

/// What a delivery carries, for its counters.
#[derive(Debug, Clone, Copy)]
enum Carried {
    /// An async tool's result (`switchboard_async_results_total`).
    AsyncResult,
    /// A `phone-call-control` (`switchboard_phone_call_controls_total`).
    PhoneControl,
}

impl ControlStats {
    fn count(&self, carried: Carried, outcome: &str) {
        self.add(carried, outcome, 1);
    }

    fn add(&self, carried: Carried, outcome: &str, n: u64) {
        let (counters, names): (&[AtomicU64], &[&str]) = match carried {
            Carried::AsyncResult => (&self.results, &RESULT_OUTCOMES),
            Carried::PhoneControl => (&self.controls, &CONTROL_OUTCOMES),
        };
        if let Some(index) = names.iter().position(|name| *name == outcome) {
            counters[index].fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// How many deliveries of one kind are under way: begun (a result being checked and claimed, queued, or being
/// sent and retried) and not yet ended. Each [`Underway`] is one; the shutdown waits for the count to reach 0.
#[derive(Debug, Clone)]
struct Pending(Arc<watch::Sender<usize>>);

/// One delivery under way; it ends when this is dropped, however the delivery ended (sent, given up, not
/// queued, or dropped with its queue).
struct Underway(Arc<watch::Sender<usize>>);

impl Default for Pending {
    fn default() -> Self {
        Pending(Arc::new(watch::channel(0).0))
    }
}

impl Pending {
    fn begin(&self) -> Underway {
        self.0.send_modify(|n| *n += 1);
        Underway(Arc::clone(&self.0))
    }

    /// Waits until nothing is under way, for at most `grace`; then how many still are.
    async fn settle(&self, grace: Duration) -> usize {
        let mut count = self.0.subscribe();
        // The sender lives in `self`: waiting ends only at 0 or at the deadline.
        let _ = tokio::time::timeout(grace, count.wait_for(|n| *n == 0)).await;
        *self.0.borrow()
    }
}

impl Drop for Underway {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Reads the counters at scrape time.
#[derive(Debug)]
pub struct ControlCollector {
    stats: Arc<ControlStats>,
}

impl Collector for ControlCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let families: [(&str, &str, &[AtomicU64], &[&str]); 2] = [
            (
                "switchboard_async_results",
                "Results of async tools, by what became of them: added to the live call, given up after retries, \
                 not sent (no control URL, host refused, call ended, queue full, already sent), or still unsent \
                 when the shutdown grace period ended",
                &self.stats.results,
                &RESULT_OUTCOMES,
            ),
            (
                "switchboard_phone_call_controls",
                "phone-call-control requests, by what became of them at the telephony bridge (shutdown: still \
                 unsent when the shutdown grace period ended)",
                &self.stats.controls,
                &CONTROL_OUTCOMES,
            ),
        ];
        for (name, help, counters, outcomes) in families {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (counter, outcome) in counters.iter().zip(outcomes) {
                ConstCounter::new(counter.load(Ordering::Relaxed))
                    .encode(family.encode_family(&[("outcome", *outcome)])?)?;
            }
        }
        Ok(())
    }
}

/// Live Call Control and the telephony bridge of one server. Cloning is cheap.
#[derive(Clone)]
pub struct Control {
    inner: Arc<ControlInner>,
}

struct ControlInner {
    runtime: CallRuntime,
    hosts: Vec<String>,
    authorization: Option<HeaderValue>,
    courier: Courier,
    bridge: Option<Bridge>,
    stats: Arc<ControlStats>,
    results_pending: Pending,
    controls_pending: Pending,
}

struct Bridge {
    url: reqwest::Url,
    secret: Option<Arc<str>>,
    courier: Courier,
}

impl Control {
    /// Starts the delivery queues (inside a Tokio runtime) from validated configuration.
    pub fn start(
        control: &ControlConfig,
        telephony: &TelephonyConfig,
        runtime: CallRuntime,
    ) -> Result<Control, String> {
        let authorization = match &control.api_key {
            Some(key) => Some(
                HeaderValue::from_str(&format!("Bearer {key}"))
                    .map_err(|_| "control.api_key is not a valid header value".to_string())?,
            ),
            None => None,
        }
        .map(|mut value| {
            value.set_sensitive(true);
            value
        });
        let bridge = match &telephony.bridge_url {
            Some(url) => Some(Bridge {
                url: reqwest::Url::parse(url).map_err(|error| format!("telephony.bridge_url: {error}"))?,
                secret: telephony.secret.as_deref().map(Arc::from),
                courier: Courier::start(telephony.policy()?)?,
            }),
            None => None,
        };
        Ok(Control {
            inner: Arc::new(ControlInner {
                runtime,
                hosts: control.hosts.clone(),
                authorization,
                courier: Courier::start(control.policy()?)?,
                bridge,
                stats: Arc::default(),
                results_pending: Pending::default(),
                controls_pending: Pending::default(),
            }),
        })
    }

    /// The metrics collector over this server's counters.
    pub fn collector(&self) -> ControlCollector {
        ControlCollector {
            stats: Arc::clone(&self.inner.stats),
        }
    }

    /// Waits, for at most `grace`, until every async result and `phone-call-control` begun is delivered or given
    /// up: a graceful shutdown does not drop what is queued or being retried. Whatever is still unsent then is
    /// lost with the process; it is logged and counted (`outcome="shutdown"`). Returns how many were left.
    pub async fn drain(&self, grace: Duration) -> usize {
        let inner = &self.inner;
        let started = tokio::time::Instant::now();
        let results = inner.results_pending.settle(grace).await;
        let controls = inner
            .controls_pending
            .settle(grace.saturating_sub(started.elapsed()))
            .await;
        if results + controls > 0 {
            tracing::error!(
                async_results = results,
                phone_call_controls = controls,
                "deliveries not made within the shutdown grace period are lost"
            );
            inner.stats.add(Carried::AsyncResult, "shutdown", results as u64);
            inner.stats.add(Carried::PhoneControl, "shutdown", controls as u64);
        }
        results + controls
    }

    fn pending(&self, carried: Carried) -> &Pending {
        match carried {
            Carried::AsyncResult => &self.inner.results_pending,
            Carried::PhoneControl => &self.inner.controls_pending,
        }
    }

    /// Where the async results of `message`'s tool calls go.
    pub fn result_target(&self, message: &ServerMessage) -> ResultTarget {
        let control_url = message
            .common
            .call
            .as_ref()
            .and_then(|call| call.monitor.as_ref())
            .and_then(|monitor| monitor.control_url.as_deref());
        let (Some(_), Some(control_url)) = (message.call_id(), control_url) else {
            return ResultTarget::NoControlUrl;
        };
        match allowed_control_url(control_url, &self.inner.hosts) {
            Ok(url) => ResultTarget::Live(url),
            Err(refused) => {
                let host = reqwest::Url::parse(control_url)
                    .ok()
                    .and_then(|url| url.host_str().map(str::to_owned));
                ResultTarget::Refused(refused, host)
            }
        }
    }

    /// The [`Background`] of one `tool-calls` message: acknowledges each async call for `target`, then on each
    /// outcome calls `record` and sends the result to the live call.
    pub fn background(
        &self,
        call_id: &str,
        target: ResultTarget,
        record: impl Fn(Finished) + Send + Sync + 'static,
    ) -> AsyncResults {
        AsyncResults {
            control: self.clone(),
            call_id: call_id.into(),
            target: Arc::new(target),
            record: Arc::new(record),
        }
    }

    /// Sends one async tool's outcome to the live call, once per (call, tool call id).
    async fn deliver_result(&self, call_id: Arc<str>, target: Arc<ResultTarget>, call: ToolCall, finished: Finished) {
        let inner = &self.inner;
        let url = match &*target {
            ResultTarget::Live(url) => url.clone(),
            ResultTarget::NoControlUrl => {
                tracing::debug!(
                    call_id = &*call_id,
                    tool_call_id = call.id,
                    "async result recorded; no control URL"
                );
                return inner.stats.count(Carried::AsyncResult, "no_control_url");
            }
            ResultTarget::Refused(refused, host) => {
                tracing::warn!(
                    call_id = &*call_id,
                    tool_call_id = call.id,
                    host,
                    %refused,
                    "control URL refused; the async result stays in the call's records"
                );
                return inner.stats.count(Carried::AsyncResult, "refused_host");
            }
        };
        // A call that ended has no live conversation to add to.
        if let Ok(Some(state)) = inner.runtime.query(&call_id).await
            && state.state.status() == Some("ended")
        {
            return inner.stats.count(Carried::AsyncResult, "call_ended");
        }
        let message = ControlMessage::add_system_message(result_text(&call, &finished), true);
        let mut delivery = Delivery::json(url, &message, "add-message");
        if let Some(authorization) = &inner.authorization {
            delivery.headers.insert(AUTHORIZATION, authorization.clone());
        }
        self.send_once(&call_id, &call.id, Carried::AsyncResult, &inner.courier, delivery)
            .await;
    }

    /// Carries out a `phone-call-control` through the bridge, once per message (`event_id`, the id of the
    /// call event the message was recorded as). The message is already recorded in the call.
    pub async fn phone_call_control(&self, message: &ServerMessage, control: &PhoneCallControl, event_id: Option<u64>) {
        let inner = &self.inner;
        let call_id = message.call_id().unwrap_or_default();
        let Some(bridge) = &inner.bridge else {
            tracing::warn!(
                call_id,
                request = control.request,
                "phone-call-control recorded but not carried out: no [telephony] bridge_url"
            );
            return inner.stats.count(Carried::PhoneControl, "no_bridge");
        };
        let (Some(event_id), false) = (event_id, call_id.is_empty()) else {
            tracing::warn!(
                request = control.request,
                "phone-call-control without a call id not carried out"
            );
            return inner.stats.count(Carried::PhoneControl, "failed");
        };
        let call = message.common.call.as_ref();
        let body = BridgeRequest {
            kind: "phone-call-control".into(),
            call_id: call_id.into(),
            request: control.request.clone(),
            destination: control.destination.clone(),
            phone_call_provider: call.and_then(|c| c.phone_call_provider.clone()),
            phone_call_provider_id: call.and_then(|c| c.phone_call_provider_id.clone()),
            transport: call.and_then(|c| c.transport.clone()),
            customer_number: message.common.customer().and_then(|c| c.number.clone()),
            timestamp: message
                .common
                .timestamp
                .as_ref()
                .and_then(vapi_types::Timestamp::as_millis),
        };
        let mut delivery = Delivery::json(bridge.url.clone(), &body, "phone-call-control");
        if delivery.body.len() > MAX_BRIDGE_BYTES {
            tracing::warn!(
                call_id,
                request = control.request,
                bytes = delivery.body.len(),
                "phone-call-control not carried out: over {MAX_BRIDGE_BYTES} bytes"
            );
            return inner.stats.count(Carried::PhoneControl, "too_large");
        }
        delivery.signing_secret = bridge.secret.clone();
        let id = format!("{event_id:016x}");
        self.send_once(call_id, &id, Carried::PhoneControl, &bridge.courier, delivery)
            .await;
    }

    /// Queues `delivery` once however often it is asked for: the ledger claims (`call_id`, `{label}:{id}`)
    /// first, and a claim made before counts `duplicate`. Each attempt carries `Idempotency-Key: {call_id}:{id}`.
    /// What becomes of it is counted under `carried`: `delivered`, `failed`, or `queue_full` when it is not
    /// queued.
    async fn send_once(&self, call_id: &str, id: &str, carried: Carried, courier: &Courier, mut delivery: Delivery) {
        if let Ok(key) = HeaderValue::from_str(&format!("{call_id}:{id}")) {
            delivery.headers.insert("idempotency-key", key);
        }
        let label = delivery.label;
        let key = format!("{label}:{id}");
        let (stats, logged_call, logged_key) = (Arc::clone(&self.inner.stats), call_id.to_string(), key.clone());
        // Under way until the courier calls back, or drops the delivery unsent.
        let underway = self.pending(carried).begin();
        delivery.done = Some(Box::new(move |outcome| {
            match outcome {
                Outcome::Delivered { .. } => stats.count(carried, "delivered"),
                Outcome::GaveUp { attempts } => {
                    tracing::error!(
                        call_id = logged_call,
                        key = logged_key,
                        attempts,
                        "{label} not carried out"
                    );
                    stats.count(carried, "failed");
                }
            }
            drop(underway);
        }));
        let courier = courier.clone();
        let queue = async move {
            match courier.send(delivery) {
                Ok(()) => "queued".to_string(),
                Err(_) => "queue full".to_string(),
            }
        };
        // Unclaimable: a ledger that cannot record the claim still lets this instance send (once here); the
        // receiver has the Idempotency-Key.
        let stats = &self.inner.stats;
        match self
            .inner
            .runtime
            .run_tool_once(call_id, &key, CLAIM_HOLD, Unclaimable::Run, queue)
            .await
        {
            Ok(run) if run.replay.is_some() => stats.count(carried, "duplicate"),
            Ok(run) if &*run.answer == "queue full" => {
                tracing::warn!(call_id, key, "delivery queue full; dropped");
                stats.count(carried, "queue_full");
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(call_id, key, %error, "delivery not queued");
                stats.count(carried, "queue_full");
            }
        }
    }
}

/// The text an async tool's outcome is added to the conversation as, cut to [`MAX_RESULT_BYTES`].
pub fn result_text(call: &ToolCall, finished: &Finished) -> String {
    let result = &finished.result;
    let text = match (&result.result, &result.error) {
        (_, Some(error)) => format!(
            "The background tool `{}` (tool call {}) failed: {error}",
            call.name, call.id
        ),
        (result, None) => format!(
            "The background tool `{}` (tool call {}) finished. Result: {}",
            call.name,
            call.id,
            result.as_deref().unwrap_or_default()
        ),
    };
    cut(text, MAX_RESULT_BYTES)
}

fn cut(mut text: String, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

/// The [`Background`] of one `tool-calls` message (see [`Control::background`]).
#[derive(Clone)]
pub struct AsyncResults {
    control: Control,
    call_id: Arc<str>,
    target: Arc<ResultTarget>,
    record: Arc<dyn Fn(Finished) + Send + Sync>,
}

impl Background for AsyncResults {
    fn acknowledgement(&self, call: &ToolCall) -> String {
        match &*self.target {
            ResultTarget::Live(_) => format!(
                "`{}` started in the background; its result will be added to this conversation when it is ready.",
                call.name
            ),
            ResultTarget::NoControlUrl | ResultTarget::Refused(..) => format!(
                "`{}` started in the background; its result cannot reach this conversation, so do not wait for \
                 it. It will be recorded with the call.",
                call.name
            ),
        }
    }

    fn finished(&self, call: ToolCall, finished: Finished) {
        (self.record)(finished.clone());
        let (control, call_id, target) = (
            self.control.clone(),
            Arc::clone(&self.call_id),
            Arc::clone(&self.target),
        );
        // Under way from now: checking the call and claiming the delivery come before it is queued.
        let underway = control.pending(Carried::AsyncResult).begin();
        tokio::spawn(async move {
            control.deliver_result(call_id, target, call, finished).await;
            drop(underway);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn vapi_control_urls_are_allowed_by_default() {
        let default = ControlConfig::default().hosts;
        for url in [
            "https://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/c7a1/control",
            "https://aws-us-west-2-production1-phone-call-websocket.vapi.ai/7420f27a/control",
            "https://VAPI.AI./x",
        ] {
            assert!(allowed_control_url(url, &default).is_ok(), "{url}");
        }
    }

    #[test]
    fn forged_control_urls_are_refused() {
        let default = ControlConfig::default().hosts;
        let refused = [
            ("http://phone.vapi.ai/control", Refused::Scheme),
            ("https://evilvapi.ai/control", Refused::Host),
            ("https://vapi.ai.evil.example/control", Refused::Host),
            ("https://169.254.169.254/latest/meta-data", Refused::Host),
            ("http://127.0.0.1:6379/", Refused::Host),
            ("http://localhost/admin", Refused::Host),
            ("http://[::1]:8080/", Refused::Host),
            ("https://user:pw@phone.vapi.ai/control", Refused::Scheme),
            ("file:///etc/passwd", Refused::Unparsable),
            ("not a url", Refused::Unparsable),
        ];
        for (url, why) in refused {
            assert_eq!(allowed_control_url(url, &default).unwrap_err(), why, "{url}");
        }
        assert_eq!(
            allowed_control_url("https://phone.vapi.ai/c", &[]).unwrap_err(),
            Refused::Host
        );
    }

    #[test]
    fn loopback_is_allowed_only_when_listed_by_name() {
        let listed = hosts(&["vapi.ai", "127.0.0.1", "localhost", "::1"]);
        for url in [
            "http://127.0.0.1:4000/control",
            "http://localhost:4000/c",
            "http://[::1]:4000/c",
        ] {
            assert!(allowed_control_url(url, &listed).is_ok(), "{url}");
        }
        // Another loopback address, or a name that merely ends like a listed one, is still refused.
        assert!(allowed_control_url("http://127.0.0.2/", &listed).is_err());
        assert!(allowed_control_url("http://evil-localhost/", &listed).is_err());
        // A listed public address must use https.
        let public = hosts(&["203.0.113.7"]);
        assert_eq!(
            allowed_control_url("http://203.0.113.7/c", &public).unwrap_err(),
            Refused::Scheme
        );
        assert!(allowed_control_url("https://203.0.113.7/c", &public).is_ok());
    }

    #[test]
    fn host_patterns_that_are_urls_are_refused_at_startup() {
        for bad in ["https://vapi.ai", "*.vapi.ai", "vapi.ai/control", ""] {
            let config = ControlConfig {
                hosts: hosts(&[bad]),
                ..ControlConfig::default()
            };
            assert!(config.validate().is_err(), "{bad:?}");
        }
        assert!(ControlConfig::default().validate().is_ok());
    }

    #[test]
    fn results_are_cut_at_a_character_boundary() {
        let call = ToolCall {
            id: "t1".into(),
            name: "report".into(),
            arguments: Value::Null,
        };
        let finished = Finished {
            result: vapi_types::ToolCallResult::ok("t1", "report", "é".repeat(MAX_RESULT_BYTES)),
            writes: Vec::new(),
            background: false,
        };
        let text = result_text(&call, &finished);
        assert!(text.len() <= MAX_RESULT_BYTES);
        assert!(text.starts_with("The background tool `report` (tool call t1) finished. Result: é"));
        assert!(text.ends_with('…'));
    }
}
