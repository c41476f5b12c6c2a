//! Endpointing benchmarks: decision latency (criterion, each case with the learned model and with the cues
//! alone) and HTTP requests per second against the real server in a second process on 127.0.0.1. Per-call
//! percentiles of the decision are `cargo bench -p endpointing --bench decide`.
//!
//! `cargo bench --bench endpointing` runs both. The HTTP load is bounded (at most
//! `ENDPOINTING_BENCH_SECONDS`, default 5 s, and 2 million requests per body) and only ever targets the
//! loopback server this bench spawned. `ENDPOINTING_BENCH_CONNECTIONS` sets the number of keep-alive
//! connections (default 64).

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use endpointing::{Endpointer, EndpointingConfig, Turn, decide, eval};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FIXTURE: &str = include_str!("../crates/endpointing/tests/data/call-endpointing-request.json");
const SMALL: &str = r#"{"message":{"type":"call.endpointing.request","messagesOpenAIFormatted":[{"role":"assistant","content":"What is your phone number?"},{"role":"user","content":"It's four one five"}]}}"#;
const ROLE: &str = "ENDPOINTING_BENCH_ROLE";
const MAX_REQUESTS: u64 = 2_000_000;

fn main() {
    if std::env::var(ROLE).as_deref() == Ok("server") {
        run_server();
        return;
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/endpointing/data");
    let mut utterances = eval::load(&data.join("dev_set.json")).unwrap();
    utterances.extend(eval::load(&data.join("eot_holdout.json")).unwrap());
    let mut criterion = Criterion::default().configure_from_args();
    bench_decide(&mut criterion, &utterances);
    criterion.final_summary();
    http_throughput();
}

fn bench_decide(c: &mut Criterion, utterances: &[eval::LabelledUtterance]) {
    let config = EndpointingConfig::default();
    let mut group = c.benchmark_group("endpointing");
    let cases = [
        (
            "decide/fixture_unfinished",
            Turn::new("Hi, I'd like to book a cleaning for"),
        ),
        (
            "decide/ack",
            Turn::answering("Your appointment is on Tuesday.", "Perfect, thanks."),
        ),
        (
            "decide/dictation",
            Turn::answering("What is your phone number?", "It's four one five, five five..."),
        ),
    ];
    let cues_alone = EndpointingConfig {
        model: false,
        ..config.clone()
    };
    for (name, turn) in cases {
        group.bench_function(name, |b| b.iter(|| decide(black_box(&turn), &config)));
        group.bench_function(format!("{name}/cues_alone"), |b| {
            b.iter(|| decide(black_box(&turn), &cues_alone))
        });
    }
    group.bench_function("decide/sets_all", |b| {
        b.iter(|| {
            for u in utterances {
                black_box(decide(&u.turn(), &config));
            }
        })
    });
    let endpointer = Endpointer::new(config.clone()).unwrap();
    group.bench_function("parse_and_answer/fixture", |b| {
        b.iter(|| match vapi_types::parse_body(black_box(FIXTURE.as_bytes())) {
            Ok(message) => match &message.body {
                vapi_types::MessageBody::CallEndpointingRequest(request) => black_box(endpointer.answer(request)),
                _ => unreachable!("the fixture is an endpointing request"),
            },
            Err(error) => panic!("fixture does not parse: {error}"),
        })
    });
    group.finish();
}

fn run_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        let endpointer = Endpointer::new(EndpointingConfig::default()).unwrap();
        let shutdown = async {
            // The parent keeps our stdin open while it wants us; EOF means stop.
            let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
        };
        endpointing::serve(listener, endpointer, shutdown).await.unwrap();
    });
}

fn http_throughput() {
    let seconds: u64 = std::env::var("ENDPOINTING_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let connections: usize = std::env::var("ENDPOINTING_BENCH_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let port: u16 = port.trim().parse().unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (name, body) in [("small request", SMALL), ("fixture (7 KB)", FIXTURE)] {
        let (done, elapsed) = runtime.block_on(load(
            port,
            body,
            connections,
            Duration::from_secs(seconds),
            MAX_REQUESTS,
        ));
        println!(
            "HTTP POST /endpointing, {name}: {done} responses in {:.2} s over {connections} keep-alive connections = {:.0} req/s (server: separate process, load client: 1 thread)",
            elapsed.as_secs_f64(),
            done as f64 / elapsed.as_secs_f64()
        );
    }
    drop(child.stdin.take());
    let _ = child.wait();
}

/// Drives `connections` keep-alive connections for at most `duration` or `max` responses in all.
async fn load(port: u16, body: &str, connections: usize, duration: Duration, max: u64) -> (u64, Duration) {
    let request = format!(
        "POST /endpointing HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    let request: &'static [u8] = Box::leak(request.into_boxed_slice());
    let start = Instant::now();
    let deadline = start + duration;
    let per_connection = max / connections as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        tasks.spawn(connection(request, port, deadline, per_connection));
    }
    let mut done = 0;
    while let Some(result) = tasks.join_next().await {
        done += result.unwrap();
    }
    (done, start.elapsed())
}

/// One keep-alive connection: send, read one full response (headers and `content-length` body), repeat.
async fn connection(request: &'static [u8], port: u16, deadline: Instant, max: u64) -> u64 {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buffer = vec![0u8; 16 * 1024];
    let mut done = 0;
    while done < max && Instant::now() < deadline {
        stream.write_all(request).await.unwrap();
        let mut filled = 0;
        loop {
            let n = stream.read(&mut buffer[filled..]).await.unwrap();
            assert!(n > 0, "server closed the connection");
            filled += n;
            if let Some(end) = find(&buffer[..filled], b"\r\n\r\n") {
                let head = std::str::from_utf8(&buffer[..end]).unwrap();
                assert!(head.starts_with("HTTP/1.1 200"), "unexpected response: {head}");
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if filled >= end + 4 + length {
                    break;
                }
            }
        }
        done += 1;
    }
    done
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
