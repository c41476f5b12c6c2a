//! The load benchmark: Switchboard against a bare axum server that only parses the JSON body and answers `{}`
//! (the ceiling of an HTTP JSON endpoint on this machine), both served by this process on loopback and driven
//! from a second process (this binary re-executed with `LOAD_DRIVER=1`) over HTTP/1.1 keep-alive.
//!
//! Run: `cargo bench --bench load`. It prints a Markdown table:
//!
//! 1. informational-event ingest rate (speech-updates and transcripts) with 1k live calls, both servers;
//! 2. tool-call (`recall`) latency p50/p99 with 10k live calls, each holding a 20-turn conversation, against
//!    the bare server's latency for the same bodies;
//! 3. memory per live call: the server process's RSS growth over priming those 10k calls, divided by 10k;
//! 4. `recall` tool-call rate and p99 with 1k live calls of ~100 turns each, against the bare server's rate for
//!    the same bodies (rounds alternate the servers);
//! 5. the live call monitor: tool-call latency with two subscribers of `GET /monitor/events` attached (one that
//!    never reads, one that reads 1 KiB every 100 ms; long transcripts first fill their buffers until the bus
//!    drops one behind) against none, in alternating rounds on the same server;
//! 6. the stores (`stores`, not run by default: `LOAD_PHASES=stores`): the host also starts one `redis-server`
//!    and a three-primary Redis Cluster (no persistence on either) on free loopback ports, and serves one
//!    Switchboard instance on the memory store, two on the Redis and two on the cluster. For each set-up in the
//!    same run the driver measures the informational-event ingest rate with `LOAD_STORES_CALLS` live calls and
//!    the tool-call (`remember` and `recall`, alternating) p50/p99 on as many calls holding a 20-turn
//!    conversation; where there are two instances, each call's events and tool calls alternate between them.
//!    Ratios are against the memory set-up; rounds visit every set-up, each round starting one further along.
//!    The phase is bounded by 5 minutes.
//!
//! Knobs (environment): `LOAD_INGEST_CALLS` (1000), `LOAD_INGEST_SECONDS` (3 per server and round),
//! `LOAD_ROUNDS` (3, alternating the servers), `LOAD_CONNECTIONS` (64), `LOAD_LIVE_CALLS` (10000),
//! `LOAD_TOOL_CALLS` (5000), `LOAD_TOOL_CONNECTIONS` (8), `LOAD_RECALL_CALLS` (1000), `LOAD_RECALL_TURNS` (100),
//! `LOAD_RECALL_TOOL_CALLS` (3000 per server and round), `LOAD_RECALL_CONNECTIONS` (8), `LOAD_MONITOR_CALLS`
//! (200), `LOAD_MONITOR_TOOL_CALLS` (3000 per round and side), `LOAD_STORES_CALLS` (1000),
//! `LOAD_STORES_TOOL_CALLS` (2000 per set-up and round), and `LOAD_PHASES` (`ingest,tools,recall,monitor`: the
//! phases to run, any of those and `stores`). The whole run is bounded by a 15-minute deadline; the servers and
//! Redis processes the host started stop at its end, on an error, and on SIGINT or SIGTERM.
//!
//! Under `cargo test` (no `--bench` argument) the selected phases run once at a tiny size (each count knob not set in
//! the environment is its default / 100, between 1 and 20): it proves the bench still works, in seconds.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::{get, post};
use serde_json::{Value, json};
use switchboard::simulate::{Latencies, check_answer};
use switchboard::{Config, Switchboard, http};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "../crates/call-runtime/tests/support/redis_cluster.rs"]
#[allow(dead_code, reason = "the bench kills and moves nothing")]
mod redis_cluster;
#[path = "../crates/call-runtime/tests/support/redis_server.rs"]
#[allow(dead_code, reason = "the bench needs no durable server")]
mod redis_server;

const DRIVER_ENV: &str = "LOAD_DRIVER";
const SMOKE_ENV: &str = "LOAD_SMOKE";
const DEADLINE: Duration = Duration::from_secs(15 * 60);
const CALL_PLACEHOLDER: &str = "@@CALL@@";
const SEQ_PLACEHOLDER: &str = "@@SEQ@@";
const TS_PLACEHOLDER: &str = "\"@@TS@@\"";
/// Sequence numbers of successive ingest rounds start this far apart, so no round repeats an earlier event.
const ROUND_SEQ: u64 = 1_000_000_000;

fn main() -> ExitCode {
    let result = if std::env::var_os(DRIVER_ENV).is_some() {
        driver::main()
    } else {
        host::main()
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("load bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The phases run when `LOAD_PHASES` is not set.
const DEFAULT_PHASES: &str = "ingest,tools,recall,monitor";

/// Whether `LOAD_PHASES` (or the default) names phase `name`.
fn phase_selected(name: &str) -> bool {
    std::env::var("LOAD_PHASES")
        .unwrap_or_else(|_| DEFAULT_PHASES.into())
        .split(',')
        .any(|p| p.trim() == name)
}

/// The knob `name` from the environment, else `default` (a hundredth of it, between 1 and 20, in a smoke run).
fn env_usize(name: &str, default: usize) -> usize {
    let default = if std::env::var_os(SMOKE_ENV).is_some() {
        (default / 100).clamp(1, 20)
    } else {
        default
    };
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// This process's resident set size in bytes and CPU time (user + system) in clock ticks, from `/proc`.
fn process_stats() -> (u64, u64) {
    let rss_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    (rss_kib * 1024, ticks)
}

/// Clock ticks per second of `/proc/*/stat` (USER_HZ; 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

mod host {
    use super::*;

    /// A Switchboard instance served on a free loopback port until the bench's stop signal.
    struct Served {
        switchboard: Switchboard,
        addr: SocketAddr,
        serving: tokio::task::JoinHandle<std::io::Result<()>>,
    }

    async fn stopped(mut stopped: tokio::sync::watch::Receiver<bool>) {
        let _ = stopped.wait_for(|s| *s).await;
    }

    async fn serve(config: Config, stop: &tokio::sync::watch::Receiver<bool>) -> anyhow::Result<Served> {
        let switchboard = Switchboard::start(config).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = http::app(switchboard.clone());
        let serving = tokio::spawn(http::serve(listener, app, stopped(stop.clone())));
        Ok(Served {
            switchboard,
            addr,
            serving,
        })
    }

    /// `instances` instances on `redis` (none: the memory store), named `{name}-{i}`.
    async fn serve_set_up(
        name: &str,
        instances: usize,
        redis: Option<call_runtime::RedisConfig>,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<Vec<Served>> {
        let mut served = Vec::new();
        for i in 0..instances {
            let mut config = Config {
                redis: redis.clone(),
                ..Config::default()
            };
            config.server.instance_id = Some(format!("{name}-{i}"));
            served.push(serve(config, stop).await?);
        }
        Ok(served)
    }

    /// Serves Switchboard, the bare server and a control endpoint (and, for the `stores` phase, the store
    /// set-ups); runs the driver as a child process.
    pub(super) fn main() -> anyhow::Result<()> {
        // The Redis processes outlive the runtime (locals drop in reverse order), so every instance on them has
        // stopped first; dropping them kills them, on an error or a panic too.
        let redis = phase_selected("stores").then(|| {
            eprintln!("starting one redis-server and a three-primary Redis Cluster on loopback");
            (
                redis_server::RedisServer::start(),
                redis_cluster::RedisCluster::start_volatile(3),
            )
        });
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(async {
            let switchboard = Switchboard::start(Config::default()).await?;
            let (stop, stop_rx) = tokio::sync::watch::channel(false);

            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let switchboard_addr = listener.local_addr()?;
            let app = http::app(switchboard.clone());
            let serving = tokio::spawn(http::serve(listener, app, stopped(stop_rx.clone())));

            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let bare_addr = listener.local_addr()?;
            let bare = axum::Router::new().route(
                "/webhook",
                post(|body: Bytes| async move {
                    match serde_json::from_slice::<Value>(&body) {
                        Ok(_) => (axum::http::StatusCode::OK, axum::Json(json!({}))),
                        Err(_) => (axum::http::StatusCode::BAD_REQUEST, axum::Json(json!({"error": "bad"}))),
                    }
                }),
            );
            let bare_serving = tokio::spawn(
                axum::serve(listener, bare)
                    .with_graceful_shutdown(stopped(stop_rx.clone()))
                    .into_future(),
            );

            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let control_addr = listener.local_addr()?;
            let live = switchboard.clone();
            let control = axum::Router::new().route(
                "/stats",
                get(move || {
                    let live = live.runtime().live_calls();
                    async move {
                        let (rss, ticks) = process_stats();
                        axum::Json(json!({"rss": rss, "ticks": ticks, "live": live}))
                    }
                }),
            );
            let control_serving = tokio::spawn(
                axum::serve(listener, control)
                    .with_graceful_shutdown(stopped(stop_rx.clone()))
                    .into_future(),
            );

            // The store set-ups: one instance on the memory store, two on one Redis, two on the cluster, each
            // with the ports of its Redis processes (for their CPU time).
            let mut set_ups: Vec<(&str, Vec<Served>, Vec<u16>)> = Vec::new();
            if let Some((server, cluster)) = &redis {
                let started = async {
                    set_ups.push(("memory", serve_set_up("memory", 1, None, &stop_rx).await?, Vec::new()));
                    let url = server.url();
                    let port = url.rsplit(':').next().and_then(|port| port.parse().ok());
                    let one = call_runtime::RedisConfig::new(url.clone());
                    let served = serve_set_up("redis", 2, Some(one), &stop_rx).await?;
                    set_ups.push(("redis", served, port.into_iter().collect()));
                    let ports = cluster.nodes.iter().map(|node| node.port).collect();
                    let cluster = call_runtime::RedisConfig::cluster(cluster.urls());
                    set_ups.push((
                        "cluster",
                        serve_set_up("cluster", 2, Some(cluster), &stop_rx).await?,
                        ports,
                    ));
                    anyhow::Ok(())
                };
                started.await?;
            }
            let stores = set_ups
                .iter()
                .map(|(name, served, ports)| {
                    let addrs: Vec<String> = served.iter().map(|s| s.addr.to_string()).collect();
                    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
                    format!("{name}={}/{}", addrs.join(","), ports.join(","))
                })
                .collect::<Vec<_>>()
                .join(";");

            let mut driver = tokio::process::Command::new(std::env::current_exe()?);
            // `cargo bench` passes `--bench`; without it (`cargo test`) the driver makes a smoke run.
            if !std::env::args().any(|arg| arg == "--bench") {
                driver.env(SMOKE_ENV, "1");
            }
            let mut child = driver
                .env(DRIVER_ENV, "1")
                .env("LOAD_SWITCHBOARD", switchboard_addr.to_string())
                .env("LOAD_BARE", bare_addr.to_string())
                .env("LOAD_CONTROL", control_addr.to_string())
                .env("LOAD_ADMIN_TOKEN", switchboard.admin_token().value())
                .env("LOAD_STORES", stores)
                .kill_on_drop(true)
                .spawn()?;
            // On SIGINT or SIGTERM the bench stops like on an error: the driver killed, the servers and the
            // Redis processes with it.
            let status = tokio::select! {
                waited = tokio::time::timeout(DEADLINE + Duration::from_secs(30), child.wait()) => match waited {
                    Ok(status) => status?,
                    Err(_) => {
                        child.kill().await?;
                        anyhow::bail!("the driver did not finish within {DEADLINE:?}");
                    }
                },
                () = switchboard::cli::shutdown_signal() => {
                    child.kill().await?;
                    anyhow::bail!("interrupted");
                }
            };
            let _ = stop.send(true);
            serving.await??;
            bare_serving.await??;
            control_serving.await??;
            switchboard.shutdown().await;
            for served in set_ups.into_iter().flat_map(|(_, served, _)| served) {
                served.serving.await??;
                served.switchboard.shutdown().await;
            }
            anyhow::ensure!(status.success(), "the driver failed: {status}");
            Ok(())
        })
    }
}

/// A body with holes: the parts between placeholders, rendered by concatenation (cheap on the driver side).
#[derive(Clone)]
struct Template {
    parts: Vec<Vec<u8>>,
    holes: Vec<usize>,
}

impl Template {
    /// Splits `text` at every occurrence of any of `placeholders`; hole `i` is `placeholders[i]`.
    fn new(text: &str, placeholders: &[&str]) -> Template {
        let mut parts = Vec::new();
        let mut holes = Vec::new();
        let mut rest = text;
        loop {
            let next = placeholders
                .iter()
                .enumerate()
                .filter_map(|(i, p)| rest.find(p).map(|at| (at, i, p.len())))
                .min();
            match next {
                Some((at, hole, len)) => {
                    parts.push(rest.as_bytes()[..at].to_vec());
                    holes.push(hole);
                    rest = &rest[at + len..];
                }
                None => {
                    parts.push(rest.as_bytes().to_vec());
                    return Template { parts, holes };
                }
            }
        }
    }

    fn render(&self, values: &[&str], out: &mut Vec<u8>) {
        out.clear();
        for (part, hole) in self.parts.iter().zip(&self.holes) {
            out.extend_from_slice(part);
            out.extend_from_slice(values[*hole].as_bytes());
        }
        if let Some(last) = self.parts.last() {
            out.extend_from_slice(last);
        }
    }

    fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }
}

/// One keep-alive HTTP/1.1 connection speaking just enough of the protocol for JSON answers.
struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            stream: None,
            request: Vec::with_capacity(16 * 1024),
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// Sends one request; returns the status and the body. A broken connection is dropped (the next
    /// request reconnects).
    async fn send(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        let result = self.exchange(method, path, body).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        use std::io::{Error, ErrorKind};
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(Error::other("no connection"));
        };
        self.request.clear();
        self.request.extend_from_slice(
            format!(
                "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                self.addr,
                body.len()
            )
            .as_bytes(),
        );
        self.request.extend_from_slice(body);
        stream.write_all(&self.request).await?;
        self.buf.clear();
        let mut chunk = [0u8; 8192];
        let header_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "connection closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = std::str::from_utf8(&self.buf[..header_end]).map_err(|e| Error::new(ErrorKind::InvalidData, e))?;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| Error::new(ErrorKind::InvalidData, "no status"))?;
        let length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .ok_or_else(|| Error::new(ErrorKind::InvalidData, "answer without content-length"))?;
        while self.buf.len() < header_end + length {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "connection closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok((status, self.buf[header_end..header_end + length].to_vec()))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

mod driver {
    use super::*;

    struct Target {
        switchboard: SocketAddr,
        bare: SocketAddr,
        control: SocketAddr,
    }

    #[derive(Debug, Clone, Copy)]
    struct ServerStats {
        rss: u64,
        ticks: u64,
        live: u64,
    }

    async fn server_stats(control: SocketAddr) -> anyhow::Result<ServerStats> {
        let (status, body) = Conn::new(control).send("GET", "/stats", b"").await?;
        anyhow::ensure!(status == 200, "control answered {status}");
        let value: Value = serde_json::from_slice(&body)?;
        let field = |name: &str| value[name].as_u64().unwrap_or(0);
        Ok(ServerStats {
            rss: field("rss"),
            ticks: field("ticks"),
            live: field("live"),
        })
    }

    pub(super) fn main() -> anyhow::Result<()> {
        let addr = |name: &str| -> anyhow::Result<SocketAddr> {
            Ok(std::env::var(name)
                .map_err(|_| anyhow::anyhow!("{name} is not set"))?
                .parse()?)
        };
        let target = Target {
            switchboard: addr("LOAD_SWITCHBOARD")?,
            bare: addr("LOAD_BARE")?,
            control: addr("LOAD_CONTROL")?,
        };
        // One thread: the driver takes at most one of the machine's cores.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            match tokio::time::timeout(DEADLINE, run(&target)).await {
                Ok(result) => result,
                Err(_) => anyhow::bail!("the load run exceeded {DEADLINE:?}"),
            }
        })
    }

    /// The call file the bodies come from.
    fn support_call() -> anyhow::Result<(Vec<Value>, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/calls/support.jsonl");
        let file = switchboard::simulate::load(std::path::Path::new(path))?;
        let id = file
            .call_ids
            .first()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("{path}: no call id"))?;
        Ok((file.lines.into_iter().map(|l| l.body).collect(), id))
    }

    /// A template of `body`: its call id, timestamp and (when `seq_in`) a field made unique per request.
    fn template_of(mut body: Value, call_id: &str, seq_in: Option<&str>) -> Template {
        body["message"]["timestamp"] = json!("@@TS@@");
        if let Some(pointer) = seq_in
            && let Some(Value::String(text)) = body.pointer_mut(pointer)
        {
            text.push_str(" @@SEQ@@");
        }
        let text = body.to_string().replace(call_id, CALL_PLACEHOLDER);
        Template::new(&text, &[CALL_PLACEHOLDER, SEQ_PLACEHOLDER, TS_PLACEHOLDER])
    }

    const USER: &[&str] = &[
        "Hi, it's Dana Whitfield. My internet keeps dropping out every evening.",
        "Yeah, the router light goes orange and then it comes back after about ten minutes.",
        "It started last Monday, right after the storm.",
        "I already restarted the router twice, and I swapped the cable.",
        "My account number is four four one, two nine, seven seven zero.",
        "Evenings, usually between seven and ten.",
        "Can the technician come on Thursday morning instead?",
        "The best number is five oh three, five five five, zero one eight seven.",
        "No, the appointment on Thursday is fine. What's the ticket number?",
        "Great, that's all. Thanks for the help.",
    ];
    const ASSISTANT: &[&str] = &[
        "Thanks for calling Northwind Fiber, this is Sam. Who am I speaking with?",
        "Sorry to hear that, Dana. When it drops, do the lights on the router change?",
        "Thanks. That pattern usually points at the line, not your Wi-Fi.",
        "Good, that rules out the cable. Can I get your account number?",
        "Got it. When do the drop-outs usually happen?",
        "I'll schedule a line test and a technician visit. Wednesday afternoon works?",
        "Thursday at nine works. What's the best number to reach you?",
        "Thanks, I have five oh three, five five five, zero one eight seven.",
        "Your ticket is N W four eight two one three.",
        "You're welcome, Dana. Have a good evening.",
    ];

    /// The `turns + 2` bodies of one primed call: in-progress, `turns` final transcripts, a conversation-update
    /// with them.
    fn conversation_templates(bodies: &[Value], call_id: &str, turns: usize) -> anyhow::Result<Vec<Template>> {
        let first = |kind: &str| {
            bodies
                .iter()
                .find(|b| b["message"]["type"] == kind)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("the call file has no {kind}"))
        };
        let mut status = first("status-update")?;
        status["message"]["status"] = json!("in-progress");
        let transcript = first("transcript")?;
        let mut update = first("conversation-update")?;
        let mut out = vec![template_of(status, call_id, None)];
        let system = "You are Sam, the support assistant for Northwind Fiber.";
        let mut vapi = vec![json!({"role": "system", "message": system, "time": 0, "secondsFromStart": 0})];
        let mut openai = vec![json!({"role": "system", "content": system})];
        for turn in 0..turns {
            let (role, text) = if turn % 2 == 0 {
                ("assistant", ASSISTANT[(turn / 2) % ASSISTANT.len()])
            } else {
                ("user", USER[(turn / 2) % USER.len()])
            };
            let mut body = transcript.clone();
            body["message"]["role"] = json!(role);
            body["message"]["transcriptType"] = json!("final");
            body["message"]["transcript"] = json!(text);
            out.push(template_of(body, call_id, None));
            let start = 1_000 + turn as u64 * 4_000;
            vapi.push(
                json!({"role": if role == "assistant" { "bot" } else { "user" }, "message": text,
                "time": start, "endTime": start + 3_000, "secondsFromStart": start as f64 / 1000.0, "duration": 3_000}),
            );
            openai.push(json!({"role": role, "content": text}));
        }
        update["message"]["messages"] = Value::Array(vapi);
        update["message"]["messagesOpenAIFormatted"] = Value::Array(openai);
        out.push(template_of(update, call_id, None));
        Ok(out)
    }

    /// A tool-call body for the built-in tool `name` (with the artifact of the conversation so far, as Vapi
    /// sends it).
    fn tool_call_template(bodies: &[Value], call_id: &str, name: &str, arguments: Value) -> anyhow::Result<Template> {
        let mut body = bodies
            .iter()
            .filter(|b| b["message"]["type"] == "tool-calls")
            .nth(1)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the call file has fewer than two tool-calls"))?;
        let call = json!({"id": "call_bench_@@SEQ@@", "type": "function",
            "function": {"name": name, "arguments": arguments}});
        let message = &mut body["message"];
        message["toolCallList"] = json!([call]);
        if let Some(with) = message["toolWithToolCallList"].as_array_mut() {
            with.retain(|t| t["function"]["name"] == name);
            if let Some(first) = with.first_mut() {
                first["toolCall"] = call;
            }
        }
        Ok(template_of(body, call_id, None))
    }

    /// Outcome of a load phase.
    #[derive(Debug, Default)]
    struct Phase {
        ok: u64,
        /// Successful answers including those outside the measured window (warm-up, the last in flight): what
        /// the server's CPU time over the whole run is divided by.
        answered: u64,
        errors: u64,
        first_error: Option<String>,
        elapsed: Duration,
        latencies: Latencies,
        check_failures: u64,
    }

    impl Phase {
        fn rate(&self) -> f64 {
            self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
        }

        /// Adds `other`'s counts and latencies to these (the elapsed time stays).
        fn absorb(&mut self, other: Phase) {
            self.ok += other.ok;
            self.answered += other.answered;
            self.errors += other.errors;
            self.check_failures += other.check_failures;
            self.latencies.merge(&other.latencies);
            if self.first_error.is_none() {
                self.first_error = other.first_error;
            }
        }
    }

    /// Plays calls `0..calls` over `connections` connections: each call's bodies in order, step `s` on instance
    /// `s % addrs.len()` (one connection to each instance per sender).
    async fn prime(
        addrs: &[SocketAddr],
        connections: usize,
        calls: usize,
        prefix: &str,
        templates: Arc<Vec<Template>>,
    ) -> Phase {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..connections.min(calls.max(1)) {
            let next = next.clone();
            let templates = templates.clone();
            let prefix = prefix.to_string();
            let mut conns: Vec<Conn> = addrs.iter().map(|addr| Conn::new(*addr)).collect();
            tasks.push(tokio::spawn(async move {
                let mut phase = Phase::default();
                let mut body = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= calls {
                        break;
                    }
                    let id = format!("{prefix}-{n}");
                    for (step, template) in templates.iter().enumerate() {
                        let ts = (1_787_241_600_000u64 + step as u64 * 1_000).to_string();
                        template.render(&[&id, "0", &ts], &mut body);
                        let instance = step % conns.len();
                        let conn = &mut conns[instance];
                        tally(&mut phase, conn.send("POST", "/webhook", &body).await);
                    }
                }
                phase
            }));
        }
        merge(tasks, started).await
    }

    fn tally(phase: &mut Phase, outcome: std::io::Result<(u16, Vec<u8>)>) {
        match outcome {
            Ok((status, _)) if (200..300).contains(&status) => {
                phase.ok += 1;
                phase.answered += 1;
            }
            Ok((status, body)) => {
                phase.errors += 1;
                phase
                    .first_error
                    .get_or_insert_with(|| format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
            }
            Err(error) => {
                phase.errors += 1;
                phase.first_error.get_or_insert_with(|| error.to_string());
            }
        }
    }

    async fn merge(tasks: Vec<tokio::task::JoinHandle<Phase>>, started: Instant) -> Phase {
        let mut total = Phase::default();
        for task in tasks {
            if let Ok(phase) = task.await {
                total.absorb(phase);
            }
        }
        total.elapsed = started.elapsed();
        total
    }

    /// Sends informational events round-robin over `calls` calls for `warmup + seconds`, counting the
    /// answers of the last `seconds`. Sequence numbers (unique transcripts, timestamps) count from `first`, so
    /// that no two rounds send the same event. A call's `k`-th event goes to instance `k % addrs.len()`.
    #[allow(clippy::too_many_arguments)]
    async fn blast(
        addrs: &[SocketAddr],
        connections: usize,
        calls: usize,
        prefix: &str,
        first: u64,
        warmup: Duration,
        measured: Duration,
        templates: Arc<Vec<Template>>,
    ) -> Phase {
        let seq = Arc::new(AtomicU64::new(first));
        let counting = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (seq, counting, done, templates) = (seq.clone(), counting.clone(), done.clone(), templates.clone());
            let prefix = prefix.to_string();
            let mut conns: Vec<Conn> = addrs.iter().map(|addr| Conn::new(*addr)).collect();
            tasks.push(tokio::spawn(async move {
                let mut phase = Phase::default();
                let mut body = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    let id = format!("{prefix}-{}", n as usize % calls);
                    let ts = (1_787_241_700_000 + n).to_string();
                    let template = &templates[n as usize % templates.len()];
                    template.render(&[&id, &n.to_string(), &ts], &mut body);
                    let instance = (n as usize / calls) % conns.len();
                    let conn = &mut conns[instance];
                    let outcome = conn.send("POST", "/webhook", &body).await;
                    if counting.load(Ordering::Relaxed) && !done.load(Ordering::Relaxed) {
                        tally(&mut phase, outcome);
                    } else if outcome.is_ok_and(|(status, _)| (200..300).contains(&status)) {
                        phase.answered += 1;
                    }
                }
                phase
            }));
        }
        tokio::time::sleep(warmup).await;
        counting.store(true, Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(measured).await;
        done.store(true, Ordering::Relaxed);
        let elapsed = started.elapsed();
        let mut phase = merge(tasks, started).await;
        phase.elapsed = elapsed;
        phase
    }

    /// Sends `count` tool-calls to calls of `0..calls` spread by a hash, recording latencies (and checking the
    /// answers when `check`). Tool call ids and timestamps count from `first`, so that no two phases send the
    /// same tool call. A call's `k`-th tool call goes to instance `k % addrs.len()` with template
    /// `(k / addrs.len()) % templates.len()`, so that each instance sees every template.
    #[allow(clippy::too_many_arguments)]
    async fn tool_calls(
        addrs: &[SocketAddr],
        connections: usize,
        first: u64,
        count: u64,
        calls: usize,
        prefix: &str,
        templates: Arc<Vec<Template>>,
        check: bool,
    ) -> Phase {
        let seq = Arc::new(AtomicU64::new(first));
        let per_call: Arc<Vec<AtomicUsize>> = Arc::new((0..calls).map(|_| AtomicUsize::new(0)).collect());
        let end = first + count;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (seq, per_call, templates) = (seq.clone(), per_call.clone(), templates.clone());
            let prefix = prefix.to_string();
            let mut conns: Vec<Conn> = addrs.iter().map(|addr| Conn::new(*addr)).collect();
            tasks.push(tokio::spawn(async move {
                let mut phase = Phase::default();
                let mut body = Vec::new();
                loop {
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    if n >= end {
                        break;
                    }
                    // A multiplicative hash spreads the calls without a random generator.
                    let call = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33) as usize % calls;
                    let k = per_call[call].fetch_add(1, Ordering::Relaxed);
                    let id = format!("{prefix}-{call}");
                    let ts = (1_787_241_900_000 + n).to_string();
                    let template = &templates[(k / conns.len()) % templates.len()];
                    template.render(&[&id, &n.to_string(), &ts], &mut body);
                    let instance = k % conns.len();
                    let conn = &mut conns[instance];
                    let sent = Instant::now();
                    let outcome = conn.send("POST", "/webhook", &body).await;
                    phase.latencies.record(sent.elapsed());
                    if check && let Ok((status, answer)) = &outcome {
                        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        if let Err(reason) = check_answer("tool-calls", &request, *status, answer) {
                            phase.check_failures += 1;
                            phase.first_error.get_or_insert(reason);
                        }
                    }
                    tally(&mut phase, outcome);
                }
                phase
            }));
        }
        merge(tasks, started).await
    }

    fn cpu_us_per_request(before: ServerStats, after: ServerStats, requests: u64) -> f64 {
        let seconds = after.ticks.saturating_sub(before.ticks) as f64 / TICKS_PER_SECOND;
        seconds * 1e6 / requests.max(1) as f64
    }

    fn ms(d: Duration) -> String {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    }

    fn report_errors(name: &str, phase: &Phase) {
        if phase.errors > 0 || phase.check_failures > 0 {
            eprintln!(
                "{name}: {} errors, {} failed checks; first: {}",
                phase.errors,
                phase.check_failures,
                phase.first_error.as_deref().unwrap_or("-")
            );
        }
    }

    async fn run(target: &Target) -> anyhow::Result<()> {
        let ingest_calls = env_usize("LOAD_INGEST_CALLS", 1000).max(1);
        let ingest_seconds = env_usize("LOAD_INGEST_SECONDS", 3).max(1) as u64;
        let connections = env_usize("LOAD_CONNECTIONS", 64).max(1);
        let live_calls = env_usize("LOAD_LIVE_CALLS", 10_000).max(1);
        let tool_count = env_usize("LOAD_TOOL_CALLS", 5000).max(1) as u64;
        let tool_connections = env_usize("LOAD_TOOL_CONNECTIONS", 8).max(1);
        let rounds = env_usize("LOAD_ROUNDS", 3).max(1);
        let phase = phase_selected;
        let warmup = Duration::from_secs(1);
        let measured = Duration::from_secs(ingest_seconds);

        let (bodies, call_id) = support_call()?;
        // Informational events: one turn's speech-update started, partial, final, speech-update stopped.
        let kinds = ["speech-update", "transcript", "transcript", "speech-update"];
        let mut ingest = Vec::new();
        let mut from = 0;
        for kind in kinds {
            let at = bodies[from..]
                .iter()
                .position(|b| b["message"]["type"] == kind)
                .ok_or_else(|| anyhow::anyhow!("the call file has no {kind}"))?;
            let seq_in = (kind == "transcript").then_some("/message/transcript");
            ingest.push(template_of(bodies[from + at].clone(), &call_id, seq_in));
            from += at + 1;
        }
        let ingest = Arc::new(ingest);
        let ingest_bytes = ingest.iter().map(Template::len).sum::<usize>() / ingest.len();
        let conversation = Arc::new(conversation_templates(&bodies, &call_id, 20)?);
        let tool = Arc::new(vec![tool_call_template(
            &bodies,
            &call_id,
            "recall",
            json!({"topic": "router"}),
        )?]);
        let status_ended = {
            let mut body = bodies
                .iter()
                .find(|b| b["message"]["type"] == "status-update")
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no status-update"))?;
            body["message"]["status"] = json!("ended");
            body["message"]["endedReason"] = json!("customer-ended-call");
            template_of(body, &call_id, None)
        };
        let report = bodies
            .iter()
            .find(|b| b["message"]["type"] == "end-of-call-report")
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no end-of-call-report"))?;
        let ending = Arc::new(vec![status_ended, template_of(report, &call_id, None)]);
        let in_progress = Arc::new(vec![conversation[0].clone()]);

        // 1. Ingest with `ingest_calls` live calls.
        let mut ingest_result = None;
        if phase("ingest") {
            eprintln!("priming {ingest_calls} calls for the ingest run");
            let primed = prime(
                &[target.switchboard],
                connections,
                ingest_calls,
                "ingest",
                in_progress.clone(),
            )
            .await;
            report_errors("ingest priming", &primed);
            // Rounds alternate the two servers so that drift in the machine's load (it is shared) hits both.
            let mut ingest_rounds = Vec::new();
            let (mut sb_errors, mut bare_errors) = (0, 0);
            let mut ingest_live = 0;
            for round in 1..=rounds {
                let before = server_stats(target.control).await?;
                eprintln!(
                    "ingest round {round}/{rounds}: Switchboard ({} live calls), then bare axum; {connections} \
                     connections, {ingest_seconds} s each",
                    before.live
                );
                let sb = blast(
                    &[target.switchboard],
                    connections,
                    ingest_calls,
                    "ingest",
                    round as u64 * ROUND_SEQ,
                    warmup,
                    measured,
                    ingest.clone(),
                )
                .await;
                let after = server_stats(target.control).await?;
                report_errors("ingest (Switchboard)", &sb);
                let sb_cpu = cpu_us_per_request(before, after, sb.answered);
                ingest_live = after.live;
                let before = server_stats(target.control).await?;
                let bare = blast(
                    &[target.bare],
                    connections,
                    ingest_calls,
                    "ingest",
                    round as u64 * ROUND_SEQ,
                    warmup,
                    measured,
                    ingest.clone(),
                )
                .await;
                let after = server_stats(target.control).await?;
                report_errors("ingest (bare)", &bare);
                let bare_cpu = cpu_us_per_request(before, after, bare.answered);
                sb_errors += sb.errors;
                bare_errors += bare.errors;
                ingest_rounds.push(Round {
                    sb_rate: sb.rate(),
                    bare_rate: bare.rate(),
                    sb_cpu,
                    bare_cpu,
                });
            }
            // End the ingest calls so that the next phases see only their own live calls.
            let ended = prime(
                &[target.switchboard],
                connections,
                ingest_calls,
                "ingest",
                ending.clone(),
            )
            .await;
            report_errors("ending the ingest calls", &ended);
            ingest_result = Some(IngestResult {
                live: ingest_live,
                connections,
                bytes: ingest_bytes,
                rounds: ingest_rounds,
                sb_errors,
                bare_errors,
            });
        }

        // 4. `recall` tool calls at `recall_calls` live calls of ~`recall_turns` turns each: rate and p99.
        let mut recall_result = None;
        if phase("recall") {
            recall_result = Some(recall_phase(target, connections, rounds, &bodies, &call_id, &tool, &ending).await?);
        }

        // 2 + 3. Prime `live_calls` calls with a 20-turn conversation, measuring RSS growth.
        let mut tools_result = None;
        if phase("tools") {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = server_stats(target.control).await?;
            eprintln!(
                "priming {live_calls} calls with a 20-turn conversation ({} requests); {} live before",
                live_calls * conversation.len(),
                before.live
            );
            let primed = prime(
                &[target.switchboard],
                connections,
                live_calls,
                "live",
                conversation.clone(),
            )
            .await;
            report_errors("conversation priming", &primed);
            tokio::time::sleep(Duration::from_millis(500)).await;
            let after = server_stats(target.control).await?;
            let per_call = after.rss.saturating_sub(before.rss) as f64 / live_calls as f64;

            eprintln!(
                "tool-calls: {tool_count} over {tool_connections} connections, {} live calls",
                after.live
            );
            let sb_tools = tool_calls(
                &[target.switchboard],
                tool_connections,
                0,
                tool_count,
                live_calls,
                "live",
                tool.clone(),
                true,
            )
            .await;
            report_errors("tool-calls (Switchboard)", &sb_tools);
            let bare_tools = tool_calls(
                &[target.bare],
                tool_connections,
                0,
                tool_count,
                live_calls,
                "live",
                tool.clone(),
                false,
            )
            .await;
            report_errors("tool-calls (bare)", &bare_tools);
            let tools_live = server_stats(target.control).await?.live;
            tools_result = Some(ToolsResult {
                live: tools_live,
                connections: tool_connections,
                bytes: tool[0].len(),
                sb: sb_tools,
                bare: bare_tools,
                live_calls,
                per_call,
                rss: (before.rss, after.rss),
                priming_rate: primed.rate(),
            });
        }

        if ingest_result.is_some() || tools_result.is_some() || recall_result.is_some() {
            print_table(ingest_result.as_ref(), tools_result.as_mut(), recall_result.as_mut());
        }

        // 5. The monitor: subscribers that read slowly or not at all must not slow the webhook.
        if phase("monitor") {
            let ended_first = ending.clone();
            let result = monitor_phase(target, connections, rounds, &conversation, &tool, &ended_first).await?;
            print_monitor(result);
        }

        // 6. The stores: one instance on the memory store, two on one Redis, two on a Redis Cluster.
        if phase("stores") {
            let set_ups = set_ups()?;
            let stores = Stores {
                calls: env_usize("LOAD_STORES_CALLS", 1000).max(1),
                tool_count: env_usize("LOAD_STORES_TOOL_CALLS", 2000).max(1) as u64,
                connections,
                tool_connections,
                rounds,
                warmup,
                measured,
                ingest: ingest.clone(),
                conversation: conversation.clone(),
                in_progress: in_progress.clone(),
                tools: Arc::new(vec![
                    tool_call_template(
                        &bodies,
                        &call_id,
                        "remember",
                        json!({"key": "ticket", "value": "NW-48213"}),
                    )?,
                    tool_call_template(&bodies, &call_id, "recall", json!({"topic": "router"}))?,
                ]),
            };
            let figures =
                match tokio::time::timeout(STORES_DEADLINE, stores_phase(&stores, &set_ups, target.control)).await {
                    Ok(figures) => figures?,
                    Err(_) => anyhow::bail!("the stores phase exceeded {STORES_DEADLINE:?}"),
                };
            print_stores(&stores, &figures, ingest_bytes);
        }
        Ok(())
    }

    /// The `stores` phase's bound: priming, every round of every set-up.
    const STORES_DEADLINE: Duration = Duration::from_secs(5 * 60);

    /// A store set-up of the `stores` phase: its name, its instances and the ports of its Redis processes on
    /// 127.0.0.1, from `LOAD_STORES` (`name=addr[,addr...]/[port,...];...`, set by the host).
    struct SetUp {
        name: String,
        addrs: Vec<SocketAddr>,
        redis_ports: Vec<u16>,
    }

    fn set_ups() -> anyhow::Result<Vec<SetUp>> {
        let spec = std::env::var("LOAD_STORES").unwrap_or_default();
        let set_ups = spec
            .split(';')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (name, rest) = part
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("LOAD_STORES: no `=` in {part:?}"))?;
                let (addrs, ports) = rest.split_once('/').unwrap_or((rest, ""));
                let addrs = addrs.split(',').map(str::parse).collect::<Result<Vec<_>, _>>()?;
                let redis_ports = ports
                    .split(',')
                    .filter(|port| !port.is_empty())
                    .map(str::parse)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(SetUp {
                    name: name.to_string(),
                    addrs,
                    redis_ports,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(
            set_ups.first().is_some_and(|first| first.name == "memory"),
            "LOAD_STORES must start with the memory set-up, the baseline: {spec:?}"
        );
        Ok(set_ups)
    }

    /// The CPU time (user + system, in seconds) the Redis processes on `ports` have used, from `INFO cpu`.
    fn redis_cpu(ports: &[u16]) -> anyhow::Result<f64> {
        let mut total = 0.0;
        for port in ports {
            let output = std::process::Command::new("redis-cli")
                .args(["-p", &port.to_string(), "INFO", "cpu"])
                .output()?;
            let info = String::from_utf8_lossy(&output.stdout);
            for field in ["used_cpu_sys:", "used_cpu_user:"] {
                total += info
                    .lines()
                    .find_map(|line| line.strip_prefix(field)?.trim().parse::<f64>().ok())
                    .ok_or_else(|| anyhow::anyhow!("no {field} in INFO cpu of 127.0.0.1:{port}"))?;
            }
        }
        Ok(total)
    }

    /// CPU spent per request over a measurement: Switchboard's (the host process: only the measured set-up's
    /// instances are busy) and its Redis processes', in microseconds.
    #[derive(Debug, Clone, Copy, Default)]
    struct Cpu {
        switchboard: f64,
        redis: f64,
    }

    /// Runs `measure`, returning its phase and the CPU it cost per answered request.
    async fn with_cpu(
        control: SocketAddr,
        set_up: &SetUp,
        measure: impl Future<Output = Phase>,
    ) -> anyhow::Result<(Phase, Cpu)> {
        let (before, redis_before) = (server_stats(control).await?, redis_cpu(&set_up.redis_ports)?);
        let phase = measure.await;
        let (after, redis_after) = (server_stats(control).await?, redis_cpu(&set_up.redis_ports)?);
        let cpu = Cpu {
            switchboard: cpu_us_per_request(before, after, phase.answered),
            redis: (redis_after - redis_before) * 1e6 / phase.answered.max(1) as f64,
        };
        Ok((phase, cpu))
    }

    /// What the `stores` phase sends.
    struct Stores {
        /// Live calls of each part (ingest, tool calls).
        calls: usize,
        /// Tool calls per set-up and round.
        tool_count: u64,
        connections: usize,
        tool_connections: usize,
        rounds: usize,
        warmup: Duration,
        measured: Duration,
        ingest: Arc<Vec<Template>>,
        conversation: Arc<Vec<Template>>,
        in_progress: Arc<Vec<Template>>,
        /// `remember` and `recall`: a call's tool calls alternate between them.
        tools: Arc<Vec<Template>>,
    }

    /// One set-up's figures.
    struct StoreFigures {
        name: String,
        instances: usize,
        /// Events per second in each round.
        ingest: Vec<f64>,
        /// CPU per ingested event in each round.
        ingest_cpu: Vec<Cpu>,
        /// Every measured event of every round (its errors).
        ingested: Phase,
        /// Every measured tool call of every round.
        tools: Phase,
        /// CPU per tool call in each round.
        tool_cpu: Vec<Cpu>,
        /// Each round's tool-call p50 and p99, in seconds.
        tool_rounds: Vec<(f64, f64)>,
    }

    /// Every set-up in the same run: each one's ingest calls primed, then ingest rounds, then its tool-call
    /// calls primed with a 20-turn conversation and warmed up, then tool-call rounds. Each round visits every
    /// set-up, starting one further along each time, so that drift in the machine's load spreads over them.
    async fn stores_phase(
        stores: &Stores,
        set_ups: &[SetUp],
        control: SocketAddr,
    ) -> anyhow::Result<Vec<StoreFigures>> {
        let calls = stores.calls;
        let mut figures: Vec<StoreFigures> = set_ups
            .iter()
            .map(|set_up| StoreFigures {
                name: set_up.name.clone(),
                instances: set_up.addrs.len(),
                ingest: Vec::new(),
                ingest_cpu: Vec::new(),
                ingested: Phase::default(),
                tools: Phase::default(),
                tool_cpu: Vec::new(),
                tool_rounds: Vec::new(),
            })
            .collect();
        let order = |round: usize| (0..set_ups.len()).map(move |i| (i + round) % set_ups.len());
        for set_up in set_ups {
            eprintln!("stores: priming {calls} calls on {}", set_up.name);
            let primed = prime(
                &set_up.addrs,
                stores.connections,
                calls,
                "stores-ingest",
                stores.in_progress.clone(),
            )
            .await;
            report_errors(&format!("stores priming ({})", set_up.name), &primed);
        }
        for round in 0..stores.rounds {
            for index in order(round) {
                let set_up = &set_ups[index];
                eprintln!(
                    "stores: ingest round {}/{} on {} ({} instances), {} connections",
                    round + 1,
                    stores.rounds,
                    set_up.name,
                    set_up.addrs.len(),
                    stores.connections
                );
                let blasted = blast(
                    &set_up.addrs,
                    stores.connections,
                    calls,
                    "stores-ingest",
                    round as u64 * ROUND_SEQ,
                    stores.warmup,
                    stores.measured,
                    stores.ingest.clone(),
                );
                let (phase, cpu) = with_cpu(control, set_up, blasted).await?;
                report_errors(&format!("stores ingest ({})", set_up.name), &phase);
                let figure = &mut figures[index];
                figure.ingest.push(phase.rate());
                figure.ingest_cpu.push(cpu);
                figure.ingested.absorb(phase);
            }
        }
        for set_up in set_ups {
            eprintln!(
                "stores: priming {calls} calls with a 20-turn conversation on {}",
                set_up.name
            );
            let primed = prime(
                &set_up.addrs,
                stores.connections,
                calls,
                "stores-tools",
                stores.conversation.clone(),
            )
            .await;
            report_errors(&format!("stores conversation priming ({})", set_up.name), &primed);
            // Warm-up, not counted: a call's first tool call pays for its first tool record.
            let warm = tool_calls(
                &set_up.addrs,
                stores.tool_connections,
                0,
                calls as u64,
                calls,
                "stores-tools",
                stores.tools.clone(),
                false,
            )
            .await;
            report_errors(&format!("stores tool-call warm-up ({})", set_up.name), &warm);
        }
        for round in 0..stores.rounds {
            let first = calls as u64 + round as u64 * stores.tool_count;
            for index in order(round) {
                let set_up = &set_ups[index];
                eprintln!(
                    "stores: tool-call round {}/{} on {}: {} tool calls over {} connections",
                    round + 1,
                    stores.rounds,
                    set_up.name,
                    stores.tool_count,
                    stores.tool_connections
                );
                let called = tool_calls(
                    &set_up.addrs,
                    stores.tool_connections,
                    first,
                    stores.tool_count,
                    calls,
                    "stores-tools",
                    stores.tools.clone(),
                    true,
                );
                let (mut phase, cpu) = with_cpu(control, set_up, called).await?;
                report_errors(&format!("stores tool calls ({})", set_up.name), &phase);
                let summary = phase.latencies.summary();
                let figure = &mut figures[index];
                figure
                    .tool_rounds
                    .push((summary.p50.as_secs_f64(), summary.p99.as_secs_f64()));
                figure.tool_cpu.push(cpu);
                figure.tools.absorb(phase);
            }
        }
        Ok(figures)
    }

    fn print_stores(stores: &Stores, figures: &[StoreFigures], ingest_bytes: usize) {
        fn name(set_up: &str) -> &str {
            match set_up {
                "memory" => "memory store",
                "redis" => "one Redis",
                "cluster" => "Redis Cluster, 3 primaries",
                other => other,
            }
        }
        let mut summaries: Vec<_> = figures
            .iter()
            .map(|f| {
                let mut latencies = f.tools.latencies.clone();
                (median(f.ingest.clone()), latencies.summary())
            })
            .collect();
        let Some((memory_rate, memory_tools)) = summaries.first().cloned() else {
            return;
        };
        println!();
        println!(
            "| store | instances | ingest events/s | ingest vs memory | tool-call p50 | tool-call p99 | p50 vs memory | p99 vs memory |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (figure, (rate, tools)) in figures.iter().zip(summaries.iter_mut()) {
            println!(
                "| {} | {} | {:.0} | {:.2} | {} | {} | {:.2} x | {:.2} x |",
                name(&figure.name),
                figure.instances,
                rate,
                ratio(*rate, memory_rate),
                ms(tools.p50),
                ms(tools.p99),
                ratio(tools.p50.as_secs_f64(), memory_tools.p50.as_secs_f64()),
                ratio(tools.p99.as_secs_f64(), memory_tools.p99.as_secs_f64())
            );
        }
        println!();
        println!(
            "| store | Switchboard CPU per event | Redis CPU per event | Switchboard CPU per tool call | Redis CPU per tool call |"
        );
        println!("|---|---:|---:|---:|---:|");
        for figure in figures {
            let of = |cpu: &[Cpu], f: fn(&Cpu) -> f64| median(cpu.iter().map(f).collect());
            println!(
                "| {} | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs |",
                name(&figure.name),
                of(&figure.ingest_cpu, |c| c.switchboard),
                of(&figure.ingest_cpu, |c| c.redis),
                of(&figure.tool_cpu, |c| c.switchboard),
                of(&figure.tool_cpu, |c| c.redis)
            );
        }
        println!();
        println!(
            "Ingest: {} live calls, {} connections, ~{} B bodies, each call's events alternating between the \
             instances; median of {} rounds of {} s. Tool calls: {} live calls of 20 turns, {} per round and \
             set-up over {} connections, `remember` and `recall` alternating, each call's tool calls alternating \
             between the instances; p50/p99 over all {} rounds. CPU: user + system time of the host process (all \
             instances; only the measured set-up's are busy) and of the set-up's Redis processes (`INFO cpu`), \
             over each measurement and its warm-up, per answered request; median of the rounds.",
            stores.calls,
            stores.connections,
            ingest_bytes,
            stores.rounds,
            stores.measured.as_secs(),
            stores.calls,
            stores.tool_count,
            stores.tool_connections,
            stores.rounds
        );
        for figure in figures {
            let rates: Vec<String> = figure.ingest.iter().map(|r| format!("{r:.0}")).collect();
            let rounds: Vec<String> = figure
                .tool_rounds
                .iter()
                .map(|(p50, p99)| format!("{:.2}/{:.2}", p50 * 1000.0, p99 * 1000.0))
                .collect();
            println!(
                "- {}: ingest per round {} events/s ({} errors); tool-call p50/p99 per round {} ms; {} tool calls, \
                 {} errors, {} answers failed the checker{}",
                name(&figure.name),
                rates.join(", "),
                figure.ingested.errors,
                rounds.join(", "),
                figure.tools.latencies.count(),
                figure.tools.errors,
                figure.tools.check_failures,
                figure
                    .ingested
                    .first_error
                    .as_ref()
                    .or(figure.tools.first_error.as_ref())
                    .map(|e| format!("; first error: {e}"))
                    .unwrap_or_default()
            );
        }
    }

    /// Subscribers of `GET /monitor/events`: one that never reads (its socket receive buffer kept small, so the
    /// server's buffers fill sooner) and one that reads 1 KiB every 100 ms. Dropping them disconnects both.
    struct Subscribers {
        _stalled: TcpStream,
        slow: tokio::task::JoinHandle<()>,
    }

    impl Subscribers {
        async fn attach(addr: SocketAddr, token: &str) -> anyhow::Result<Subscribers> {
            let request =
                format!("GET /monitor/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.set_recv_buffer_size(4096)?;
            let mut stalled = socket.connect(addr).await?;
            stalled.write_all(request.as_bytes()).await?;
            let mut slow = TcpStream::connect(addr).await?;
            slow.write_all(request.as_bytes()).await?;
            let slow = tokio::spawn(async move {
                let mut chunk = [0u8; 1024];
                while let Ok(n) = slow.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            // Let both subscriptions register before the measured requests.
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(Subscribers {
                _stalled: stalled,
                slow,
            })
        }
    }

    impl Drop for Subscribers {
        fn drop(&mut self) {
            self.slow.abort();
        }
    }

    /// Sends long transcripts (not measured) until a monitor subscriber is dropped behind: the stalled one's
    /// socket buffers and its bus buffer are full before the measured requests, which then meet the bus in its
    /// drop-and-resync state. Gives up after 40,000 transcripts.
    async fn flood_until_dropped(addr: SocketAddr, token: &str) -> anyhow::Result<()> {
        let before = metric(addr, token, "switchboard_monitor_resyncs_total").await?;
        let said = "a long sentence the caller keeps saying over and over ".repeat(36);
        let mut conn = Conn::new(addr);
        for batch in 0..400u64 {
            for n in 0..100u64 {
                let body = json!({"message": {
                    "type": "transcript", "timestamp": 1_787_241_900_000u64 + batch * 100 + n,
                    "call": {"id": "monitor-flood"}, "role": "user", "transcriptType": "final", "transcript": said,
                }});
                conn.send("POST", "/webhook", body.to_string().as_bytes()).await?;
            }
            if metric(addr, token, "switchboard_monitor_resyncs_total").await? > before {
                return Ok(());
            }
        }
        anyhow::bail!("no monitor subscriber was dropped behind after 40,000 transcripts")
    }

    /// A counter's value in Switchboard's `/metrics`.
    async fn metric(addr: SocketAddr, token: &str, name: &str) -> anyhow::Result<u64> {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut text = String::new();
        stream.read_to_string(&mut text).await?;
        let value = text
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no {name} in /metrics"))?;
        Ok(value)
    }

    /// The monitor phase's latencies: each round's tool calls with no subscriber and with the two attached.
    struct MonitorResult {
        calls: usize,
        connections: usize,
        rounds: Vec<(Phase, Phase)>,
        resyncs: u64,
    }

    /// Primes `LOAD_MONITOR_CALLS` calls, then sends `recall` tool calls to them in rounds, alternating which
    /// side goes first: with no monitor subscriber, and with a stalled and a slow one attached.
    async fn monitor_phase(
        target: &Target,
        connections: usize,
        rounds: usize,
        conversation: &Arc<Vec<Template>>,
        tool: &Arc<Vec<Template>>,
        ending: &Arc<Vec<Template>>,
    ) -> anyhow::Result<MonitorResult> {
        let calls = env_usize("LOAD_MONITOR_CALLS", 200).max(1);
        let count = env_usize("LOAD_MONITOR_TOOL_CALLS", 3000).max(1) as u64;
        let tool_connections = env_usize("LOAD_TOOL_CONNECTIONS", 8).max(1);
        let token = std::env::var("LOAD_ADMIN_TOKEN")?;
        eprintln!("priming {calls} calls for the monitor run");
        let primed = prime(
            &[target.switchboard],
            connections,
            calls,
            "monitor",
            conversation.clone(),
        )
        .await;
        report_errors("monitor priming", &primed);
        let resyncs_before = metric(target.switchboard, &token, "switchboard_monitor_resyncs_total").await?;
        // Warm-up, not counted: each call's first tool record.
        let warm = tool_calls(
            &[target.switchboard],
            tool_connections,
            0,
            calls as u64,
            calls,
            "monitor",
            tool.clone(),
            false,
        )
        .await;
        report_errors("monitor warm-up", &warm);
        let mut first = calls as u64;
        let mut results = Vec::new();
        for round in 0..rounds {
            let order = if round % 2 == 0 { [false, true] } else { [true, false] };
            let (mut without, mut with) = (None, None);
            for attached in order {
                eprintln!(
                    "monitor round {}/{rounds}: {count} tool calls, {}",
                    round + 1,
                    if attached {
                        "a stalled and a slow subscriber attached"
                    } else {
                        "no subscriber"
                    }
                );
                let subscribers = match attached {
                    true => {
                        let subscribers = Subscribers::attach(target.switchboard, &token).await?;
                        flood_until_dropped(target.switchboard, &token).await?;
                        Some(subscribers)
                    }
                    false => None,
                };
                let phase = tool_calls(
                    &[target.switchboard],
                    tool_connections,
                    first,
                    count,
                    calls,
                    "monitor",
                    tool.clone(),
                    true,
                )
                .await;
                first += count;
                drop(subscribers);
                report_errors("monitor tool-calls", &phase);
                match attached {
                    true => with = Some(phase),
                    false => without = Some(phase),
                }
            }
            results.push((without.unwrap_or_default(), with.unwrap_or_default()));
        }
        let resyncs = metric(target.switchboard, &token, "switchboard_monitor_resyncs_total").await? - resyncs_before;
        let ended = prime(&[target.switchboard], connections, calls, "monitor", ending.clone()).await;
        report_errors("ending the monitor calls", &ended);
        Ok(MonitorResult {
            calls,
            connections: tool_connections,
            rounds: results,
            resyncs,
        })
    }

    fn print_monitor(mut result: MonitorResult) {
        println!();
        println!("| measure | no subscriber | stalled + slow subscriber | with / without |");
        println!("|---|---:|---:|---:|");
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        for (without, with) in &mut result.rounds {
            let (a, b) = (without.latencies.summary(), with.latencies.summary());
            p50.push((a.p50.as_secs_f64(), b.p50.as_secs_f64()));
            p99.push((a.p99.as_secs_f64(), b.p99.as_secs_f64()));
        }
        for (name, values) in [("p50", &p50), ("p99", &p99)] {
            let without = median(values.iter().map(|v| v.0).collect());
            let with = median(values.iter().map(|v| v.1).collect());
            let per_round: Vec<String> = values.iter().map(|(a, b)| format!("{:.2}", ratio(*b, *a))).collect();
            println!(
                "| tool-call (`recall`) {name}, {} live calls, {} connections (median of {} rounds; per round {}) | {} | {} | {:.2} x |",
                result.calls,
                result.connections,
                values.len(),
                per_round.join(", "),
                ms(Duration::from_secs_f64(without)),
                ms(Duration::from_secs_f64(with)),
                ratio(with, without)
            );
        }
        println!();
        println!(
            "Subscribers dropped behind (told to resync) during the run: {}.",
            result.resyncs
        );
    }

    /// Primes `LOAD_RECALL_CALLS` calls with `LOAD_RECALL_TURNS` turns each, sends `recall` tool calls to them
    /// and to the bare server in alternating rounds, then ends the calls.
    async fn recall_phase(
        target: &Target,
        connections: usize,
        rounds: usize,
        bodies: &[Value],
        call_id: &str,
        tool: &Arc<Vec<Template>>,
        ending: &Arc<Vec<Template>>,
    ) -> anyhow::Result<RecallResult> {
        let calls = env_usize("LOAD_RECALL_CALLS", 1000).max(1);
        let turns = env_usize("LOAD_RECALL_TURNS", 100).max(1);
        let count = env_usize("LOAD_RECALL_TOOL_CALLS", 3000).max(1) as u64;
        let tool_connections = env_usize("LOAD_RECALL_CONNECTIONS", 8).max(1);
        let conversation = Arc::new(conversation_templates(bodies, call_id, turns)?);
        let before = server_stats(target.control).await?;
        eprintln!(
            "priming {calls} calls with a {turns}-turn conversation ({} requests); {} live before",
            calls * conversation.len(),
            before.live
        );
        let primed = prime(&[target.switchboard], connections, calls, "recall", conversation).await;
        report_errors("recall priming", &primed);
        let live = server_stats(target.control).await?.live;
        // Warm-up, not counted: the first tool call of a call pays for its first tool record.
        let mut first = 0;
        for addr in [target.switchboard, target.bare] {
            let warm = tool_calls(
                &[addr],
                tool_connections,
                first,
                count / 4,
                calls,
                "recall",
                tool.clone(),
                false,
            )
            .await;
            report_errors("recall warm-up", &warm);
        }
        first += count / 4;
        let mut result = RecallResult {
            live,
            turns,
            connections: tool_connections,
            bytes: tool[0].len(),
            rounds: Vec::new(),
            sb: Phase::default(),
            bare: Phase::default(),
        };
        for round in 1..=rounds {
            eprintln!(
                "recall round {round}/{rounds}: {count} tool calls to Switchboard ({live} live calls), then bare axum"
            );
            let before = server_stats(target.control).await?;
            let sb = tool_calls(
                &[target.switchboard],
                tool_connections,
                first,
                count,
                calls,
                "recall",
                tool.clone(),
                true,
            )
            .await;
            let after = server_stats(target.control).await?;
            report_errors("recall (Switchboard)", &sb);
            let sb_cpu = cpu_us_per_request(before, after, sb.answered);
            let before = server_stats(target.control).await?;
            let bare = tool_calls(
                &[target.bare],
                tool_connections,
                first,
                count,
                calls,
                "recall",
                tool.clone(),
                false,
            )
            .await;
            let after = server_stats(target.control).await?;
            report_errors("recall (bare)", &bare);
            let bare_cpu = cpu_us_per_request(before, after, bare.answered);
            first += count;
            result.rounds.push(Round {
                sb_rate: sb.rate(),
                bare_rate: bare.rate(),
                sb_cpu,
                bare_cpu,
            });
            result.sb.absorb(sb);
            result.bare.absorb(bare);
        }
        let ended = prime(&[target.switchboard], connections, calls, "recall", ending.clone()).await;
        report_errors("ending the recall calls", &ended);
        Ok(result)
    }

    struct IngestResult {
        live: u64,
        connections: usize,
        bytes: usize,
        rounds: Vec<Round>,
        sb_errors: u64,
        bare_errors: u64,
    }

    struct ToolsResult {
        live: u64,
        connections: usize,
        bytes: usize,
        sb: Phase,
        bare: Phase,
        live_calls: usize,
        per_call: f64,
        rss: (u64, u64),
        priming_rate: f64,
    }

    struct RecallResult {
        live: u64,
        turns: usize,
        connections: usize,
        bytes: usize,
        /// Both servers' rate and CPU per call, in each round.
        rounds: Vec<Round>,
        sb: Phase,
        bare: Phase,
    }

    /// One round of a rate measurement: both servers, one after the other.
    struct Round {
        sb_rate: f64,
        bare_rate: f64,
        sb_cpu: f64,
        bare_cpu: f64,
    }

    fn median(mut values: Vec<f64>) -> f64 {
        values.sort_by(f64::total_cmp);
        match values.len() {
            0 => 0.0,
            n if n % 2 == 1 => values[n / 2],
            n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        }
    }

    fn ratio(a: f64, b: f64) -> f64 {
        if b > 0.0 { a / b } else { 0.0 }
    }

    fn print_table(ingest: Option<&IngestResult>, tools: Option<&mut ToolsResult>, recall: Option<&mut RecallResult>) {
        println!();
        println!("| measure | Switchboard | bare axum (ceiling) | Switchboard / bare |");
        println!("|---|---:|---:|---:|");
        let mut notes = Vec::new();
        if let Some(t) = ingest {
            let of = |f: fn(&Round) -> f64| median(t.rounds.iter().map(f).collect());
            let (sb_rate, bare_rate) = (of(|r| r.sb_rate), of(|r| r.bare_rate));
            let (sb_cpu, bare_cpu) = (of(|r| r.sb_cpu), of(|r| r.bare_cpu));
            let per_round: Vec<String> = t
                .rounds
                .iter()
                .map(|r| format!("{:.0} %", 100.0 * ratio(r.sb_rate, r.bare_rate)))
                .collect();
            println!(
                "| informational-event ingest, {} live calls, {} connections, ~{} B bodies (median of {} rounds) | {:.0} events/s | {:.0} events/s | {:.0} % |",
                t.live,
                t.connections,
                t.bytes,
                t.rounds.len(),
                sb_rate,
                bare_rate,
                100.0 * ratio(sb_rate, bare_rate)
            );
            println!(
                "| server CPU per ingested event | {:.1} µs | {:.1} µs | {:.2} x |",
                sb_cpu,
                bare_cpu,
                ratio(sb_cpu, bare_cpu)
            );
            notes.push(format!(
                "Ingest ratio per round: {}. Ingest errors: {} (Switchboard), {} (bare).",
                per_round.join(", "),
                t.sb_errors,
                t.bare_errors
            ));
        }
        if let Some(t) = tools {
            let (sb, bare) = (t.sb.latencies.summary(), t.bare.latencies.summary());
            println!(
                "| tool-call (`recall`) p50, {} live calls, {} connections, {} B bodies | {} | {} | {:.2} x |",
                t.live,
                t.connections,
                t.bytes,
                ms(sb.p50),
                ms(bare.p50),
                ratio(sb.p50.as_secs_f64(), bare.p50.as_secs_f64())
            );
            println!(
                "| tool-call (`recall`) p99 | {} | {} | {:.2} x |",
                ms(sb.p99),
                ms(bare.p99),
                ratio(sb.p99.as_secs_f64(), bare.p99.as_secs_f64())
            );
            println!(
                "| memory per live call (20-turn conversation, {} calls) | {:.1} KiB | — | — |",
                t.live_calls,
                t.per_call / 1024.0
            );
            notes.push(format!(
                "Tool-call answers checked by the simulator's checker: {} of {} failed. Priming ran at {:.0} \
                 requests/s; server RSS {:.1} MiB before priming, {:.1} MiB after.",
                t.sb.check_failures,
                sb.count,
                t.priming_rate,
                t.rss.0 as f64 / 1048576.0,
                t.rss.1 as f64 / 1048576.0
            ));
        }
        if let Some(t) = recall {
            let of = |f: fn(&Round) -> f64| median(t.rounds.iter().map(f).collect());
            let (sb_rate, bare_rate) = (of(|r| r.sb_rate), of(|r| r.bare_rate));
            let (sb_cpu, bare_cpu) = (of(|r| r.sb_cpu), of(|r| r.bare_cpu));
            let (sb, bare) = (t.sb.latencies.summary(), t.bare.latencies.summary());
            println!(
                "| `recall` tool-call rate, {} live calls of {} turns, {} connections, {} B bodies (median of {} rounds) | {:.0} calls/s | {:.0} calls/s | {:.0} % |",
                t.live,
                t.turns,
                t.connections,
                t.bytes,
                t.rounds.len(),
                sb_rate,
                bare_rate,
                100.0 * ratio(sb_rate, bare_rate)
            );
            println!(
                "| `recall` tool-call p50 / p99 at that rate | {} / {} | {} / {} | {:.2} x / {:.2} x |",
                ms(sb.p50),
                ms(sb.p99),
                ms(bare.p50),
                ms(bare.p99),
                ratio(sb.p50.as_secs_f64(), bare.p50.as_secs_f64()),
                ratio(sb.p99.as_secs_f64(), bare.p99.as_secs_f64())
            );
            println!(
                "| server CPU per `recall` tool call | {:.1} µs | {:.1} µs | {:.2} x |",
                sb_cpu,
                bare_cpu,
                ratio(sb_cpu, bare_cpu)
            );
            let per_round: Vec<String> = t
                .rounds
                .iter()
                .map(|r| format!("{:.0} %", 100.0 * ratio(r.sb_rate, r.bare_rate)))
                .collect();
            notes.push(format!(
                "Recall ratio per round: {}. Recall answers checked: {} of {} failed; errors: {} (Switchboard), {} (bare).",
                per_round.join(", "),
                t.sb.check_failures,
                sb.count,
                t.sb.errors,
                t.bare.errors
            ));
        }
        println!();
        println!("{}", notes.join(" "));
    }
}
