//! `switchboard simulate`: replays recorded calls against a Vapi Server URL and checks every answer.
//!
//! A call file is JSON Lines: one webhook body (`{"message": {"type": ..., "call": {"id": ...}}}`) per line,
//! in the order Vapi sent them. A line may also say what its answer must contain, beside `message`:
//! `"expect": {"contains": "text"}` (a tool call's result or error, a function call's result, a knowledge-base
//! document or message, or else the answer body must contain the text, ignoring case), so a wrong answer fails
//! like a wrong shape. `expect` is never sent. The simulator multiplies it into `--calls N` calls, each with fresh call ids
//! (`<original>-sim-<n>`), plays at most `--concurrency C` of them at once (one call's events in order, one
//! after the other), optionally paced to `--rate R` events per second overall, checks every answer against
//! what Vapi expects of its message type by reading it into `vapi-types`' answer types, and prints latency
//! percentiles per type and every failure.
//!
//! The pure parts ([`parse_call_file`], [`rewrite_call_ids`], [`check_answer`], [`Latencies`]) are apart from
//! the I/O ([`simulate`], [`run`]), so they are tested on their own.

use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;
use vapi_types::MessageBody;
use vapi_types::response::{
    AssistantRequestResponse, CampaignPredialResponse, EndpointingResponse, FunctionCallResponse,
    HandoffDestinationResponse, KnowledgeBaseResponse, ToolCallsResponse, TransferDestinationResponse,
};

/// Options of `switchboard simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// The call file: one webhook body per line (JSON Lines).
    pub file: PathBuf,
    /// The Server URL to send to, path included (e.g. `http://127.0.0.1:3000/webhook`).
    #[arg(long)]
    pub target: String,
    /// How many calls to simulate, each a copy of the file with fresh call ids.
    #[arg(long, default_value_t = 1)]
    pub calls: usize,
    /// How many calls are played at the same time.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Events per second over all calls (unpaced when omitted).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Sent as `X-Vapi-Secret` on every request.
    #[arg(long)]
    pub secret: Option<String>,
    /// Per-request timeout in milliseconds; a request over it is a failure.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// How to play a call file.
#[derive(Debug, Clone)]
pub struct Plan {
    /// How many calls to simulate.
    pub calls: usize,
    /// How many calls are played at the same time (at least 1).
    pub concurrency: usize,
    /// Events per second over all calls; `None` is unpaced.
    pub rate: Option<f64>,
    /// Sent as `X-Vapi-Secret`.
    pub secret: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Print a progress line on stderr every second.
    pub progress: bool,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            calls: 1,
            concurrency: 8,
            rate: None,
            secret: None,
            timeout: Duration::from_secs(10),
            progress: false,
        }
    }
}

impl Plan {
    /// The plan of the command-line options.
    pub fn from_args(args: &SimulateArgs) -> Plan {
        Plan {
            calls: args.calls,
            concurrency: args.concurrency,
            rate: args.rate,
            secret: args.secret.clone(),
            timeout: Duration::from_millis(args.timeout_ms),
            progress: !args.quiet,
        }
    }
}

/// A loaded call file.
#[derive(Debug, Clone)]
pub struct CallFile {
    /// Where it was read from (for messages).
    pub name: String,
    /// Its events, in order.
    pub lines: Vec<Line>,
    /// Every distinct `message.call.id` in the file, in order of appearance: what [`rewrite_call_ids`]
    /// replaces.
    pub call_ids: Vec<String>,
}

/// One event of a call file.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its 1-based line number in the file.
    pub number: usize,
    /// `message.type`.
    pub kind: String,
    /// The body sent: `{"message": ...}`.
    pub body: Value,
    /// What its answer must contain, beyond the shape its type requires.
    pub expect: Option<Expect>,
}

/// What a line's answer must contain (the line's `expect` object).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// A text the answer must contain, ignoring case: in a tool call's result or error, a function call's
    /// result, a knowledge-base document or message, or else anywhere in the answer body.
    pub contains: String,
}

/// Why a call file cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("{name}: {source}")]
    Io {
        /// The file.
        name: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not a webhook body.
    #[error("{name}:{line}: {reason}")]
    Line {
        /// The file.
        name: String,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The file has no events.
    #[error("{name}: no webhook bodies (one JSON object per line expected)")]
    Empty {
        /// The file.
        name: String,
    },
}

/// Reads and parses a call file (see [`parse_call_file`]).
pub fn load(path: &Path) -> Result<CallFile, LoadError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        name: name.clone(),
        source,
    })?;
    parse_call_file(&name, &text)
}

/// Parses JSON Lines text: every non-blank line must be a JSON object with a `message` object whose `type`
/// is a string. Errors name the line.
pub fn parse_call_file(name: &str, text: &str) -> Result<CallFile, LoadError> {
    let error = |line: usize, reason: String| LoadError::Line {
        name: name.to_string(),
        line,
        reason,
    };
    let mut lines = Vec::new();
    let mut call_ids: Vec<String> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let body: Value = serde_json::from_str(raw).map_err(|e| error(number, format!("not JSON: {e}")))?;
        let message = body
            .get("message")
            .ok_or_else(|| error(number, "no `message` object".into()))?;
        if !message.is_object() {
            return Err(error(number, "`message` is not an object".into()));
        }
        let kind = match message.get("type") {
            Some(Value::String(kind)) if !kind.is_empty() => kind.clone(),
            Some(Value::String(_)) => return Err(error(number, "`message.type` is empty".into())),
            Some(_) => return Err(error(number, "`message.type` is not a string".into())),
            None => return Err(error(number, "no `message.type`".into())),
        };
        let expect = match body.get("expect") {
            None => None,
            Some(expect) => Some(
                serde_json::from_value::<Expect>(expect.clone())
                    .map_err(|e| error(number, format!("`expect`: {e} (expected {{\"contains\": \"text\"}})")))?,
            ),
        };
        match message.get("call").and_then(|call| call.get("id")) {
            Some(Value::String(id)) if !id.is_empty() => {
                if !call_ids.contains(id) {
                    call_ids.push(id.clone());
                }
            }
            None | Some(Value::Null) => {}
            Some(_) => return Err(error(number, "`message.call.id` is not a non-empty string".into())),
        }
        let body = serde_json::json!({ "message": message });
        lines.push(Line {
            number,
            kind,
            body,
            expect,
        });
    }
    if lines.is_empty() {
        return Err(LoadError::Empty { name: name.to_string() });
    }
    Ok(CallFile {
        name: name.to_string(),
        lines,
        call_ids,
    })
}

/// The call id simulated call `n` uses in place of `original`.
pub fn simulated_id(original: &str, n: usize) -> String {
    format!("{original}-sim-{n}")
}

/// `body` with every occurrence of each original call id replaced by [`simulated_id`] for call `n`: in every
/// string value (so `call.id`, but also the id inside monitor URLs and recording names) and object key.
pub fn rewrite_call_ids(body: &Value, originals: &[String], n: usize) -> Value {
    let replacements: Vec<(&str, String)> = originals
        .iter()
        .map(|original| (original.as_str(), simulated_id(original, n)))
        .collect();
    rewrite(body, &replacements)
}

fn rewrite(value: &Value, replacements: &[(&str, String)]) -> Value {
    let text = |s: &str| {
        let mut out = s.to_string();
        for (from, to) in replacements {
            if out.contains(from) {
                out = out.replace(from, to);
            }
        }
        out
    };
    match value {
        Value::String(s) => Value::String(text(s)),
        Value::Array(items) => Value::Array(items.iter().map(|item| rewrite(item, replacements)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (text(key), rewrite(item, replacements)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Checks one answer against what Vapi expects for the request's message type; `Err` says what is wrong.
///
/// Every type needs a 2xx. Answers are read into `vapi-types`' answer types, so a field of the wrong type or a
/// missing required field fails; then: `tool-calls` answers every tool call id of the request (read with
/// `vapi_types::parse_body`), each with a `result` or an `error`; `assistant-request` names an assistant,
/// squad, workflow, destination or error; `transfer-destination-request` and `handoff-destination-request` give
/// a destination or an error; `knowledge-base-request` gives `documents` or a `message`;
/// `call.endpointing.request` a `timeoutSeconds` in [0, 15]; `voice-request` a non-empty body of whole 16-bit
/// samples. Anything else: any 2xx.
pub fn check_answer(kind: &str, request: &Value, status: u16, body: &[u8]) -> Result<(), String> {
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}: {}", excerpt(body)));
    }
    match kind {
        "tool-calls" => check_tool_calls(request, &typed::<ToolCallsResponse>(body)?),
        "function-call" => typed::<FunctionCallResponse>(body).map(drop),
        "assistant-request" => {
            let answer = typed::<AssistantRequestResponse>(body)?;
            let named = answer.assistant_id.is_some()
                || answer.assistant.as_ref().is_some_and(|a| !a.is_null())
                || answer.squad_id.is_some()
                || answer.squad.as_ref().is_some_and(|s| !s.is_null())
                || answer.workflow_id.is_some()
                || answer.workflow.as_ref().is_some_and(|w| !w.is_null())
                || answer.destination.is_some()
                || answer.error.is_some();
            if named {
                Ok(())
            } else {
                Err(format!(
                    "none of assistantId, assistant, squadId, squad, workflowId, workflow, destination, error in {}",
                    excerpt(body)
                ))
            }
        }
        "transfer-destination-request" => {
            let answer = typed::<TransferDestinationResponse>(body)?;
            match (answer.destination, answer.error) {
                (Some(_), _) | (_, Some(_)) => Ok(()),
                _ => Err(format!("neither a `destination` nor an `error`: {}", excerpt(body))),
            }
        }
        "handoff-destination-request" => {
            let answer = typed::<HandoffDestinationResponse>(body)?;
            match (answer.destination, answer.error) {
                (Some(_), _) | (_, Some(_)) => Ok(()),
                _ => Err(format!("neither a `destination` nor an `error`: {}", excerpt(body))),
            }
        }
        "knowledge-base-request" => {
            let answer = typed::<KnowledgeBaseResponse>(body)?;
            match (answer.documents, answer.message) {
                (Some(_), _) => Ok(()),
                (_, Some(message)) if message.is_object() => Ok(()),
                _ => Err(format!(
                    "neither a `documents` array nor a `message`: {}",
                    excerpt(body)
                )),
            }
        }
        "call.endpointing.request" => match typed::<EndpointingResponse>(body)?.timeout_seconds {
            t if (0.0..=15.0).contains(&t) => Ok(()),
            t => Err(format!("`timeoutSeconds` {t} outside [0, 15]")),
        },
        "voice-request" => {
            if body.is_empty() {
                Err("empty audio".into())
            } else if !body.len().is_multiple_of(2) {
                Err(format!("{} bytes of audio: not whole 16-bit samples", body.len()))
            } else {
                Ok(())
            }
        }
        "campaign.predial" => typed::<CampaignPredialResponse>(body).map(drop),
        _ => Ok(()),
    }
}

/// Checks that the answer to a `kind` request contains what `expect` asks (see [`Expect::contains`]), after it
/// passed [`check_answer`].
pub fn check_expect(expect: &Expect, kind: &str, body: &[u8]) -> Result<(), String> {
    let wanted = expect.contains.to_lowercase();
    let texts: Vec<String> = match kind {
        "tool-calls" => typed::<ToolCallsResponse>(body)?
            .results
            .into_iter()
            .flat_map(|result| [result.result, result.error])
            .flatten()
            .collect(),
        "function-call" => vec![typed::<FunctionCallResponse>(body)?.result],
        "knowledge-base-request" => {
            let answer = typed::<KnowledgeBaseResponse>(body)?;
            let documents = answer.documents.unwrap_or_default().into_iter().map(|d| d.content);
            documents.chain(answer.message.map(|m| m.to_string())).collect()
        }
        _ => vec![String::from_utf8_lossy(body).into_owned()],
    };
    if texts.iter().any(|text| text.to_lowercase().contains(&wanted)) {
        Ok(())
    } else {
        Err(format!(
            "expected the answer to contain {:?}, got {}",
            expect.contains,
            excerpt(body)
        ))
    }
}

/// The answer read as `T`, or what is wrong with it.
fn typed<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("answer is not JSON ({e}): {}", excerpt(body)))?;
    if !value.is_object() {
        return Err(format!("answer is not a JSON object: {}", excerpt(body)));
    }
    serde_json::from_value(value).map_err(|e| format!("answer does not read as Vapi expects ({e}): {}", excerpt(body)))
}

fn check_tool_calls(request: &Value, answer: &ToolCallsResponse) -> Result<(), String> {
    let ids: Vec<String> = serde_json::to_vec(request)
        .ok()
        .and_then(|bytes| vapi_types::parse_body(&bytes).ok())
        .and_then(|message| match message.body {
            MessageBody::ToolCalls(request) => Some(request.tool_call_list.into_iter().map(|call| call.id).collect()),
            _ => None,
        })
        .unwrap_or_default();
    if answer.results.is_empty()
        && let Some(error) = &answer.error
    {
        return Err(format!("no `results`; error: {error}"));
    }
    for (i, result) in answer.results.iter().enumerate() {
        if result.result.is_none() && result.error.is_none() {
            return Err(format!("results[{i}] has neither `result` nor `error`"));
        }
    }
    for id in ids {
        if !answer.results.iter().any(|r| r.tool_call_id == id) {
            return Err(format!("toolCallId {id} not answered"));
        }
    }
    Ok(())
}

fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 160;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// Latency samples of one message type.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    samples: Vec<Duration>,
    sorted: bool,
}

impl Latencies {
    /// Adds a sample.
    pub fn record(&mut self, latency: Duration) {
        self.samples.push(latency);
        self.sorted = false;
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        self.samples.extend_from_slice(&other.samples);
        self.sorted = false;
    }

    /// How many samples.
    pub fn count(&self) -> usize {
        self.samples.len()
    }

    /// The `q` quantile (0..=1, nearest rank), zero without samples.
    pub fn quantile(&mut self, q: f64) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        if !self.sorted {
            self.samples.sort_unstable();
            self.sorted = true;
        }
        let rank = (q.clamp(0.0, 1.0) * self.samples.len() as f64).ceil() as usize;
        self.samples[rank.clamp(1, self.samples.len()) - 1]
    }

    /// The summary: count, p50, p90, p99, max.
    pub fn summary(&mut self) -> LatencySummary {
        LatencySummary {
            count: self.count(),
            p50: self.quantile(0.50),
            p90: self.quantile(0.90),
            p99: self.quantile(0.99),
            max: self.quantile(1.0),
        }
    }
}

/// Percentiles of one message type's latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySummary {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The simulated call (0-based).
    pub call: usize,
    /// The line of the call file.
    pub line: usize,
    /// The message type.
    pub kind: String,
    /// What was wrong (status, shape, timeout, connection).
    pub reason: String,
}

/// What one message type saw.
#[derive(Debug, Clone)]
pub struct TypeReport {
    /// Requests sent.
    pub requests: usize,
    /// Requests whose answer failed its check.
    pub failed: usize,
    /// Latency percentiles of every request (failed ones included).
    pub latency: LatencySummary,
}

/// The outcome of a simulation.
#[derive(Debug, Clone)]
pub struct Report {
    /// The call file.
    pub file: String,
    /// The target URL.
    pub target: String,
    /// Calls played.
    pub calls: usize,
    /// Requests sent.
    pub requests: usize,
    /// Requests whose answer failed its check.
    pub failed: usize,
    /// Per message type, by type name.
    pub types: BTreeMap<String, TypeReport>,
    /// All requests together.
    pub overall: LatencySummary,
    /// The first failures (at most [`Report::MAX_FAILURES`]), in the order they were seen per call.
    pub failures: Vec<Failure>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl Report {
    /// How many failures a report keeps (all are counted).
    pub const MAX_FAILURES: usize = 50;

    /// True when every answer passed its check.
    pub fn ok(&self) -> bool {
        self.failed == 0
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.elapsed.as_secs_f64();
        let rate = if seconds > 0.0 {
            self.requests as f64 / seconds
        } else {
            0.0
        };
        writeln!(
            f,
            "{} x {} against {}: {} requests in {seconds:.2} s ({rate:.0}/s), {} failed",
            self.calls, self.file, self.target, self.requests, self.failed
        )?;
        writeln!(f)?;
        writeln!(f, "| type | requests | failed | p50 ms | p90 ms | p99 ms | max ms |")?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|---:|")?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, failed: usize, l: &LatencySummary| {
            writeln!(
                f,
                "| {name} | {} | {failed} | {} | {} | {} | {} |",
                l.count,
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.max)
            )
        };
        for (name, report) in &self.types {
            row(f, name, report.failed, &report.latency)?;
        }
        row(f, "all", self.failed, &self.overall)?;
        if !self.failures.is_empty() {
            writeln!(f)?;
            let shown = self.failures.len();
            if shown < self.failed {
                writeln!(f, "failures (first {shown} of {}):", self.failed)?;
            } else {
                writeln!(f, "failures:")?;
            }
            for failure in &self.failures {
                writeln!(
                    f,
                    "  call {} line {} {}: {}",
                    failure.call, failure.line, failure.kind, failure.reason
                )?;
            }
        }
        Ok(())
    }
}

/// Per-worker tallies, merged at the end (no shared locks on the hot path).
#[derive(Default)]
struct Tally {
    latencies: BTreeMap<String, (Latencies, usize)>,
    failures: Vec<Failure>,
}

/// Shared progress counters.
#[derive(Default)]
struct Progress {
    requests: AtomicU64,
    failed: AtomicU64,
    calls_done: AtomicU64,
}

/// Interval pacing shared by all calls: each request takes the next slot, `1/rate` seconds after the last.
struct Pacer {
    interval: Duration,
    next: std::sync::Mutex<Instant>,
}

impl Pacer {
    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// Plays `file` against `target` following `plan`, checking every answer.
///
/// Errors only when the simulation cannot run at all (a bad URL, a client that cannot be built); failed
/// requests and answers are in the [`Report`].
pub async fn simulate(file: &CallFile, target: &str, plan: &Plan) -> anyhow::Result<Report> {
    let url = reqwest::Url::parse(target).with_context(|| format!("--target {target}: not a URL"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "--target {target}: the scheme must be http or https"
    );
    if let Some(rate) = plan.rate {
        anyhow::ensure!(rate.is_finite() && rate > 0.0, "--rate must be a positive number");
    }
    let concurrency = plan.concurrency.clamp(1, plan.calls.max(1));
    let client = reqwest::Client::builder()
        .timeout(plan.timeout)
        .connect_timeout(plan.timeout)
        .pool_max_idle_per_host(concurrency)
        .build()
        .context("building the HTTP client")?;
    let secret = match &plan.secret {
        Some(secret) => {
            Some(reqwest::header::HeaderValue::from_str(secret).context("--secret is not a valid header value")?)
        }
        None => None,
    };
    let pacer = plan.rate.map(|rate| {
        Arc::new(Pacer {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: std::sync::Mutex::new(Instant::now()),
        })
    });
    let file = Arc::new(file.clone());
    let progress = Arc::new(Progress::default());
    let next_call = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let total_requests = (plan.calls * file.lines.len()) as u64;
    let reporter = plan.progress.then(|| {
        let progress = progress.clone();
        let calls = plan.calls;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                print_progress(&progress, calls, total_requests, started, false);
            }
        })
    });

    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let worker = Worker {
            client: client.clone(),
            url: url.clone(),
            secret: secret.clone(),
            pacer: pacer.clone(),
            file: file.clone(),
            progress: progress.clone(),
        };
        let next_call = next_call.clone();
        let calls = plan.calls;
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let n = next_call.fetch_add(1, Ordering::Relaxed);
                if n >= calls {
                    break;
                }
                worker.play(n, &mut tally).await;
                worker.progress.calls_done.fetch_add(1, Ordering::Relaxed);
            }
            tally
        }));
    }
    let mut tallies = Vec::with_capacity(workers.len());
    for worker in workers {
        tallies.push(worker.await.context("a simulation worker failed")?);
    }
    let elapsed = started.elapsed();
    if let Some(reporter) = reporter {
        reporter.abort();
        print_progress(&progress, plan.calls, total_requests, started, true);
    }
    Ok(assemble(&file.name, target, plan.calls, tallies, elapsed))
}

fn print_progress(progress: &Progress, calls: usize, total: u64, started: Instant, last: bool) {
    let requests = progress.requests.load(Ordering::Relaxed);
    let failed = progress.failed.load(Ordering::Relaxed);
    let done = progress.calls_done.load(Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let rate = if seconds > 0.0 { requests as f64 / seconds } else { 0.0 };
    let line =
        format!("[{seconds:5.1} s] calls {done}/{calls}, requests {requests}/{total} ({rate:.0}/s), {failed} failed");
    if std::io::stderr().is_terminal() {
        eprint!("\r{line}{}", if last { "\n" } else { "" });
    } else {
        eprintln!("{line}");
    }
}

fn assemble(file: &str, target: &str, calls: usize, tallies: Vec<Tally>, elapsed: Duration) -> Report {
    let mut per_type: BTreeMap<String, (Latencies, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut failed = 0;
    for tally in tallies {
        for (kind, (latencies, type_failed)) in tally.latencies {
            let entry = per_type.entry(kind).or_default();
            entry.0.merge(&latencies);
            entry.1 += type_failed;
            failed += type_failed;
        }
        failures.extend(tally.failures);
    }
    failures.sort_by_key(|f| (f.call, f.line));
    failures.truncate(Report::MAX_FAILURES);
    let mut all = Latencies::default();
    let mut types = BTreeMap::new();
    let mut requests = 0;
    for (kind, (mut latencies, type_failed)) in per_type {
        all.merge(&latencies);
        requests += latencies.count();
        types.insert(
            kind,
            TypeReport {
                requests: latencies.count(),
                failed: type_failed,
                latency: latencies.summary(),
            },
        );
    }
    Report {
        file: file.to_string(),
        target: target.to_string(),
        calls,
        requests,
        failed,
        types,
        overall: all.summary(),
        failures,
        elapsed,
    }
}

struct Worker {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Option<reqwest::header::HeaderValue>,
    pacer: Option<Arc<Pacer>>,
    file: Arc<CallFile>,
    progress: Arc<Progress>,
}

impl Worker {
    /// Plays simulated call `n`: its events one after the other, in file order.
    async fn play(&self, n: usize, tally: &mut Tally) {
        for line in &self.file.lines {
            let body = rewrite_call_ids(&line.body, &self.file.call_ids, n);
            let bytes = match serde_json::to_vec(&body) {
                Ok(bytes) => bytes,
                Err(e) => {
                    self.fail(tally, n, line, format!("cannot serialize the body: {e}"));
                    continue;
                }
            };
            if let Some(pacer) = &self.pacer {
                pacer.wait().await;
            }
            let started = Instant::now();
            let outcome = self.send(bytes).await;
            let latency = started.elapsed();
            let entry = tally.latencies.entry(line.kind.clone()).or_default();
            entry.0.record(latency);
            self.progress.requests.fetch_add(1, Ordering::Relaxed);
            let verdict = outcome.and_then(|(status, answer)| {
                check_answer(&line.kind, &body, status, &answer)?;
                match &line.expect {
                    Some(expect) => check_expect(expect, &line.kind, &answer),
                    None => Ok(()),
                }
            });
            if let Err(reason) = verdict {
                tally.latencies.entry(line.kind.clone()).or_default().1 += 1;
                self.fail(tally, n, line, reason);
            }
        }
    }

    fn fail(&self, tally: &mut Tally, call: usize, line: &Line, reason: String) {
        self.progress.failed.fetch_add(1, Ordering::Relaxed);
        if tally.failures.len() < Report::MAX_FAILURES {
            tally.failures.push(Failure {
                call,
                line: line.number,
                kind: line.kind.clone(),
                reason,
            });
        }
    }

    async fn send(&self, body: Vec<u8>) -> Result<(u16, bytes::Bytes), String> {
        let mut request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(secret) = &self.secret {
            request = request.header("x-vapi-secret", secret.clone());
        }
        let response = request.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let answer = response.bytes().await.map_err(describe)?;
        Ok((status, answer))
    }
}

fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        format!("cannot connect: {error}")
    } else {
        format!("request failed: {error}")
    }
}

/// Runs `switchboard simulate`: prints the report on stdout, and fails when any check failed.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.calls > 0, "--calls must be at least 1");
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let file = load(&args.file)?;
    let plan = Plan::from_args(&args);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(simulate(&file, &args.target, &plan))?;
    print!("{report}");
    anyhow::ensure!(
        report.ok(),
        "{} of {} answers failed their checks",
        report.failed,
        report.requests
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn load_errors_name_the_line() {
        let text = "{\"message\": {\"type\": \"hang\", \"call\": {\"id\": \"c1\"}}}\n\nnot json\n";
        let error = parse_call_file("call.jsonl", text).unwrap_err().to_string();
        assert!(error.starts_with("call.jsonl:3: not JSON"), "{error}");
        let error = parse_call_file("f", "{\"message\": {\"call\": {}}}")
            .unwrap_err()
            .to_string();
        assert_eq!(error, "f:1: no `message.type`");
        let error = parse_call_file("f", "[1]").unwrap_err().to_string();
        assert_eq!(error, "f:1: no `message` object");
        let error = parse_call_file("f", "{\"message\": {\"type\": 3}}")
            .unwrap_err()
            .to_string();
        assert_eq!(error, "f:1: `message.type` is not a string");
        assert!(matches!(parse_call_file("f", "\n \n"), Err(LoadError::Empty { .. })));
    }

    #[test]
    fn loads_lines_and_call_ids() {
        let text = "{\"message\": {\"type\": \"status-update\", \"call\": {\"id\": \"a\"}}}\n\
                    {\"message\": {\"type\": \"voice-request\"}}\n\
                    {\"message\": {\"type\": \"hang\", \"call\": {\"id\": \"a\"}}}\n";
        let file = parse_call_file("f", text).unwrap();
        assert_eq!(file.lines.len(), 3);
        assert_eq!(file.lines[2].number, 3);
        assert_eq!(file.lines[1].kind, "voice-request");
        assert_eq!(file.call_ids, vec!["a".to_string()]);
    }

    #[test]
    fn rewrites_the_call_id_everywhere() {
        let body = json!({"message": {"type": "hang", "call": {"id": "abc", "monitor": {"listenUrl": "wss://x/abc/listen"}},
            "other": ["abc", 1, null], "abc": true}});
        let out = rewrite_call_ids(&body, &["abc".to_string()], 7);
        assert_eq!(out["message"]["call"]["id"], "abc-sim-7");
        assert_eq!(
            out["message"]["call"]["monitor"]["listenUrl"],
            "wss://x/abc-sim-7/listen"
        );
        assert_eq!(out["message"]["other"], json!(["abc-sim-7", 1, null]));
        assert_eq!(out["message"]["abc-sim-7"], true);
    }

    fn tool_request(ids: &[&str]) -> Value {
        let request = vapi_types::ToolCallsRequest {
            tool_call_list: ids
                .iter()
                .map(|id| vapi_types::ToolCall {
                    id: (*id).to_owned(),
                    kind: Some("function".into()),
                    function: vapi_types::FunctionCall {
                        name: "recall".into(),
                        arguments: vapi_types::Arguments(json!({})),
                    },
                })
                .collect(),
            tool_with_tool_call_list: Vec::new(),
        };
        let mut message = serde_json::to_value(request).unwrap();
        message["type"] = json!("tool-calls");
        json!({ "message": message })
    }

    #[test]
    fn tool_calls_must_answer_every_id_with_a_string() {
        let request = tool_request(&["a", "b"]);
        let good = br#"{"results": [{"toolCallId": "a", "result": "x"}, {"toolCallId": "b", "error": "no"}]}"#;
        assert_eq!(check_answer("tool-calls", &request, 200, good), Ok(()));
        let missing = br#"{"results": [{"toolCallId": "a", "result": "x"}]}"#;
        assert_eq!(
            check_answer("tool-calls", &request, 200, missing),
            Err("toolCallId b not answered".into())
        );
        let object = br#"{"results": [{"toolCallId": "a", "result": {"x": 1}}, {"toolCallId": "b", "result": "y"}]}"#;
        assert!(
            check_answer("tool-calls", &request, 200, object)
                .unwrap_err()
                .contains("expected a string")
        );
        assert_eq!(
            check_answer("tool-calls", &request, 200, b"{}"),
            Err("toolCallId a not answered".into())
        );
        let neither = br#"{"results": [{"toolCallId": "a"}, {"toolCallId": "b", "result": "y"}]}"#;
        assert_eq!(
            check_answer("tool-calls", &request, 200, neither),
            Err("results[0] has neither `result` nor `error`".into())
        );
        assert!(
            check_answer("tool-calls", &request, 500, good)
                .unwrap_err()
                .starts_with("HTTP 500")
        );
        // The legacy alias.
        let legacy = json!({"message": {"type": "tool-calls", "toolCalls": [{"id": "z", "function": {"name": "f"}}]}});
        assert!(check_answer("tool-calls", &legacy, 200, good).is_err());
    }

    #[test]
    fn answers_are_checked_per_type() {
        let any = json!({});
        assert!(check_answer("function-call", &any, 200, br#"{"result": "ok"}"#).is_ok());
        assert!(check_answer("function-call", &any, 200, br#"{"result": 1}"#).is_err());
        assert!(check_answer("assistant-request", &any, 200, br#"{"assistantId": "a"}"#).is_ok());
        assert!(check_answer("assistant-request", &any, 200, br#"{"error": "no"}"#).is_ok());
        assert!(check_answer("assistant-request", &any, 200, b"{}").is_err());
        assert!(check_answer("transfer-destination-request", &any, 200, br#"{"error": "no"}"#).is_ok());
        assert!(
            check_answer(
                "handoff-destination-request",
                &any,
                200,
                br#"{"destination": {"type": "assistant"}}"#
            )
            .is_ok()
        );
        assert!(check_answer("transfer-destination-request", &any, 200, b"{}").is_err());
        assert!(check_answer("knowledge-base-request", &any, 200, br#"{"documents": []}"#).is_ok());
        assert!(
            check_answer(
                "knowledge-base-request",
                &any,
                200,
                br#"{"documents": [{"content": "x", "similarity": 0.5}]}"#
            )
            .is_ok()
        );
        assert!(
            check_answer(
                "knowledge-base-request",
                &any,
                200,
                br#"{"documents": [{"content": "x"}]}"#
            )
            .is_err()
        );
        assert!(check_answer("knowledge-base-request", &any, 200, br#"{"message": {"content": "x"}}"#).is_ok());
        assert!(check_answer("knowledge-base-request", &any, 200, b"{}").is_err());
        assert!(check_answer("call.endpointing.request", &any, 200, br#"{"timeoutSeconds": 0.4}"#).is_ok());
        assert!(check_answer("call.endpointing.request", &any, 200, br#"{"timeoutSeconds": 16}"#).is_err());
        assert!(check_answer("call.endpointing.request", &any, 200, b"{}").is_err());
        assert!(check_answer("voice-request", &any, 200, &[0, 1, 2, 3]).is_ok());
        assert!(check_answer("voice-request", &any, 200, &[0, 1, 2]).is_err());
        assert!(check_answer("voice-request", &any, 200, &[]).is_err());
        assert!(check_answer("campaign.predial", &any, 200, br#"{"eligible": true}"#).is_ok());
        assert!(check_answer("transcript", &any, 204, b"").is_ok());
        assert!(check_answer("transcript", &any, 400, b"{\"error\": \"bad\"}").is_err());
        assert!(
            check_answer("tool-calls", &any, 200, b"not json")
                .unwrap_err()
                .contains("not JSON")
        );
    }

    #[test]
    fn expectations_read_the_answer_texts() {
        let expect = Expect {
            contains: "Tuesday".into(),
        };
        let tools = br#"{"results": [{"toolCallId": "a", "result": "Next tuesday at nine"}]}"#;
        assert_eq!(check_expect(&expect, "tool-calls", tools), Ok(()));
        let wrong = br#"{"results": [{"toolCallId": "a", "result": "Monday"}]}"#;
        let error = check_expect(&expect, "tool-calls", wrong).unwrap_err();
        assert!(
            error.starts_with("expected the answer to contain \"Tuesday\""),
            "{error}"
        );
        let documents = br#"{"documents": [{"content": "Open on Tuesday", "similarity": 0.7}]}"#;
        assert_eq!(check_expect(&expect, "knowledge-base-request", documents), Ok(()));
        assert!(check_expect(&expect, "knowledge-base-request", br#"{"documents": []}"#).is_err());
        assert_eq!(
            check_expect(&expect, "function-call", br#"{"result": "tuesday"}"#),
            Ok(())
        );
        assert_eq!(
            check_expect(&expect, "assistant-request", br#"{"assistantId": "tuesday-bot"}"#),
            Ok(())
        );
    }

    #[test]
    fn expect_is_read_and_never_sent() {
        let text = "{\"message\": {\"type\": \"hang\"}, \"expect\": {\"contains\": \"x\"}}\n\
                    {\"message\": {\"type\": \"hang\"}}\n";
        let file = parse_call_file("f", text).unwrap();
        assert_eq!(file.lines[0].expect, Some(Expect { contains: "x".into() }));
        assert_eq!(file.lines[0].body, json!({"message": {"type": "hang"}}));
        assert_eq!(file.lines[1].expect, None);
        let error = parse_call_file("f", "{\"message\": {\"type\": \"hang\"}, \"expect\": {\"equals\": 1}}")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("f:1: `expect`: unknown field `equals`"), "{error}");
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let mut latencies = Latencies::default();
        assert_eq!(latencies.quantile(0.5), Duration::ZERO);
        for ms in (1..=100).rev() {
            latencies.record(Duration::from_millis(ms));
        }
        let summary = latencies.summary();
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50, Duration::from_millis(50));
        assert_eq!(summary.p90, Duration::from_millis(90));
        assert_eq!(summary.p99, Duration::from_millis(99));
        assert_eq!(summary.max, Duration::from_millis(100));
    }
}
