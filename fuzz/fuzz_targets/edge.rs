//! Fuzzes the HTTP edge with authentication on: raw bytes from a client, through the real connection handling
//! (`switchboard::http::serve_connection`: hyper's HTTP/1.1 parser, the idle and header deadlines) into the
//! real router (`switchboard::http::app`: the gate that authenticates before reading a body, the body limit,
//! the webhook, the mounted voice and endpointing servers, the admin API and its token, JSON errors).
//!
//! The first input byte picks the credential the server requires: `x-vapi-secret: fuzz-secret`,
//! `authorization: Bearer fuzz-token`, or an HMAC-SHA256 signature in `x-signature` over
//! `{x-timestamp}.{body}` with the key `fuzz-key` (any timestamp is fresh: the window is a million years). The
//! admin token is `fuzz-admin`. The rest of the input is what the client sends, then it closes its side.
//!
//! Checks: nothing panics (the server's tasks included); no answer is a `500`; when the request reached the
//! router, the first answer is not a 5xx other than `503` and, when it is an error, its body is JSON
//! `{"error": ...}`.
//!
//! The runtime's clock is paused, so the server's deadlines elapse as soon as nothing else can run: an input
//! that stops halfway costs no wall-clock time. The voice engine's program does not exist, so a valid voice
//! request fails fast (503) instead of starting a process.
//!
//! Seeds: `fuzz/seed.sh`. Run:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none edge -- -max_total_time=600`.

#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use libfuzzer_sys::fuzz_target;
use switchboard::http::HttpConfig;
use switchboard::{Config, Switchboard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AUTH: [&str; 3] = [
    "mode = \"secret\"\nsecret = \"fuzz-secret\"",
    "mode = \"bearer\"\ntoken = \"fuzz-token\"",
    "mode = \"hmac\"\nsecret = \"fuzz-key\"\ntolerance_seconds = 31536000000000",
];

struct Edge {
    runtime: tokio::runtime::Runtime,
    routers: Vec<axum::Router>,
    limits: HttpConfig,
}

/// Requests that reached the router in the current input.
static ROUTED: AtomicUsize = AtomicUsize::new(0);

async fn count(request: Request, next: Next) -> Response {
    ROUTED.fetch_add(1, Ordering::SeqCst);
    next.run(request).await
}

fn edge() -> &'static Edge {
    static EDGE: OnceLock<Edge> = OnceLock::new();
    EDGE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime");
        let routers = AUTH
            .iter()
            .map(|auth| {
                let config = Config::from_toml(&format!(
                    "max_body_bytes = 65536\n[admin]\ntoken = \"fuzz-admin\"\n[voice.espeak]\n\
                     program = \"/nonexistent/espeak-ng\"\n[auth]\n{auth}\n"
                ))
                .expect("the fuzz configuration parses");
                config.validate().expect("the fuzz configuration is valid");
                let switchboard = runtime
                    .block_on(Switchboard::start(config))
                    .expect("the server starts");
                switchboard::http::app(switchboard).layer(middleware::from_fn(count))
            })
            .collect();
        Edge {
            runtime,
            routers,
            limits: HttpConfig::default(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, sent)) = data.split_first() else {
        return;
    };
    let edge = edge();
    let router = edge.routers[usize::from(mode) % edge.routers.len()].clone();
    let sent = sent.to_vec();
    ROUTED.store(0, Ordering::SeqCst);
    let answer = edge.runtime.block_on(async {
        let (client, server) = tokio::io::duplex(16 * 1024);
        let limits = edge.limits.clone();
        let served = tokio::spawn(async move { switchboard::http::serve_connection(server, router, &limits).await });
        let (mut reader, mut writer) = tokio::io::split(client);
        let writing = tokio::spawn(async move {
            // The server may close early (a refused credential): a failed write is expected.
            let _ = writer.write_all(&sent).await;
            let _ = writer.shutdown().await;
        });
        let mut answer = Vec::new();
        // Virtual time: the deadlines fire at once when the server waits on a stalled client.
        let read = tokio::time::timeout(Duration::from_secs(3600), reader.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "the connection outlived every deadline");
        for task in [served.await.map(drop), writing.await] {
            if let Err(error) = task {
                if error.is_panic() {
                    std::panic::resume_unwind(error.into_panic());
                }
            }
        }
        answer
    });
    assert!(
        !contains(&answer, b"HTTP/1.1 500 "),
        "a 500: {}",
        String::from_utf8_lossy(&answer)
    );
    if ROUTED.load(Ordering::SeqCst) == 0 || answer.is_empty() {
        return;
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head)) = response.parse(&answer) else {
        panic!("an unreadable answer: {}", String::from_utf8_lossy(&answer));
    };
    let status = response.code.expect("a parsed response has a status");
    assert!(
        status < 500 || status == 503,
        "status {status}: {}",
        String::from_utf8_lossy(&answer)
    );
    if status >= 400 {
        let json = response.headers.iter().any(|header| {
            header.name.eq_ignore_ascii_case("content-type") && header.value.starts_with(b"application/json")
        });
        assert!(json, "a non-JSON error: {}", String::from_utf8_lossy(&answer));
        let length = response
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case("content-length"))
            .and_then(|header| std::str::from_utf8(header.value).ok()?.parse::<usize>().ok());
        if let Some(length) = length {
            let body = &answer[head..(head + length).min(answer.len())];
            let value: serde_json::Value = serde_json::from_slice(body)
                .unwrap_or_else(|_| panic!("an error body that is not JSON: {}", String::from_utf8_lossy(&answer)));
            assert!(value["error"].is_string(), "{value}");
        }
    }
});

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}
