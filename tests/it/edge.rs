//! The HTTP edge under hostile clients, over real sockets: slow headers, half-sent bodies, idle and excess
//! connections, big unauthenticated bodies (memory bounded), shutdown with a request half sent, the
//! standalone servers' authentication, and JSON errors for unknown routes and methods. Several run the
//! `switchboard` binary itself.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Binary, PATIENCE, TestServer, eventually, fixture};

/// Reads until the server closes the connection (or `PATIENCE` runs out, which fails the test).
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open: {}",
        String::from_utf8_lossy(&answer)
    );
    String::from_utf8_lossy(&answer).into_owned()
}

/// `/proc/net/tcp`'s state of an established connection.
const ESTABLISHED: u8 = 0x01;

/// The kernel's TCP state of the server's end of the loopback connection `server` ← `client` (`/proc/net/tcp`):
/// [`ESTABLISHED`] until the server closes it (then FIN-WAIT-1 and on, even while unsent data waits for the
/// client's window), `None` once the socket is gone.
fn server_side_state(server: SocketAddr, client: SocketAddr) -> Option<u8> {
    let hex = |addr: SocketAddr| match addr {
        SocketAddr::V4(addr) => format!("{:08X}:{:04X}", u32::from_le_bytes(addr.ip().octets()), addr.port()),
        SocketAddr::V6(_) => unreachable!("the test servers listen on 127.0.0.1"),
    };
    let (local, remote) = (hex(server), hex(client));
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&remote.as_str()))
            .then(|| u8::from_str_radix(fields[3], 16).unwrap())
    })
}

fn limits(toml: &str) -> Config {
    Config::from_toml(&format!("[http]\n{toml}\n")).unwrap()
}

#[tokio::test]
async fn slow_headers_are_cut_after_the_header_timeout() {
    let server = TestServer::start(limits("header_timeout_seconds = 1\nidle_timeout_seconds = 1")).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut reader, mut writer) = stream.split();
    // One header byte every 200 ms: each byte would reset an idle timer, never the header deadline.
    let trickle = async {
        for byte in b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Padding: "
            .iter()
            .cycle()
            .take(200)
        {
            if writer.write_all(&[*byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    };
    let closed = async {
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        () = closed => {}
        gave_up = trickle => assert!(gave_up, "40 seconds of trickled headers were accepted"),
    }
    server.stop().await;
}

#[tokio::test]
async fn a_half_sent_body_gets_408_and_is_closed_after_the_body_timeout() {
    let server = TestServer::start(limits("body_timeout_seconds = 1")).await;
    for path in ["/webhook", "/voice", "/endpointing"] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"message\""
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(
            answer.contains(r#"{"error":"request body not received within 1 seconds"}"#),
            "{path}: {answer}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_its_answer_is_disconnected() {
    // espeak-ng, whose answer has the same length every time and comes faster than any reader: the bound under
    // test is the server's, not the engine's.
    let config = Config::from_toml("[http]\nbody_timeout_seconds = 1\n\n[voice]\nengine = \"espeak\"\n").unwrap();
    let server = TestServer::start(config).await;
    let mut request = fixture("voice-request.json");
    request["message"]["text"] = json!("The quick brown fox jumps over the lazy dog. ".repeat(42));
    request["message"]["sampleRate"] = json!(48000);
    // The whole answer, read by a well-behaved client: minutes of 48 kHz audio, megabytes.
    let full = server
        .client
        .post(server.url("/voice"))
        .json(&request)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    assert!(full > 8_000_000, "{full} bytes");
    // A client with a tiny receive window that reads nothing.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    let client = stream.local_addr().unwrap();
    let seen = eventually(PATIENCE, async || {
        (server_side_state(server.addr, client) == Some(ESTABLISHED)).then_some(())
    })
    .await;
    assert!(seen.is_some(), "the server's end of {client} is not in /proc/net/tcp");
    let body = serde_json::to_vec(&request).unwrap();
    let head = format!(
        "POST /voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    // Reading nothing until the server has closed its side: how long the engine and a loaded machine take to
    // fill the socket buffers before the write stalls is not this test's business.
    let closed = eventually(PATIENCE * 3, async || {
        (server_side_state(server.addr, client) != Some(ESTABLISHED)).then_some(())
    })
    .await;
    assert!(
        closed.is_some(),
        "the server kept writing to a client that reads nothing"
    );
    let mut received = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received)).await;
    assert!(
        received.len() < full,
        "{} of {full} bytes: the server waited for the stalled reader",
        received.len()
    );
    server.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let server = TestServer::start(limits("idle_timeout_seconds = 1")).await;
    // A kept-alive connection after its request.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A connection that never sends anything.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(read_until_closed(&mut silent).await, "");
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let server = TestServer::start(limits(
        "max_connections = 2\nheader_timeout_seconds = 60\nidle_timeout_seconds = 60",
    ))
    .await;
    // Two clients hold both slots with half-sent headers.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(early.is_err(), "a third connection was served while two held the cap");
    // One slot frees up: the waiting client is served.
    drop(held.pop());
    let answer = read_until_closed(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_queries_answer_json() {
    let server = TestServer::start(Config::default()).await;
    let client = reqwest::Client::new();
    let cases = [
        (
            client.get(server.url("/nowhere")),
            404,
            json!({"error": "no route for GET /nowhere"}),
        ),
        (
            client.get(server.url("/webhook")),
            405,
            json!({"error": "method not allowed"}),
        ),
        (
            client.delete(server.url("/healthz")),
            405,
            json!({"error": "method not allowed"}),
        ),
        (
            client.get(server.url("/voice")),
            405,
            json!({"error": "method not allowed"}),
        ),
    ];
    for (request, status, body) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.json::<Value>().await.unwrap(), body);
    }
    let response = server
        .admin(client.get(server.url("/calls?limit=many")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn the_binary_prints_a_generated_admin_token_once_and_loopback_alone_gets_401() {
    let mut binary = Binary::start(&["serve"], "");
    let lines = binary.stderr_until("switchboard admin: ");
    let url = lines
        .last()
        .unwrap()
        .trim()
        .trim_start_matches("switchboard admin: ")
        .to_string();
    assert!(
        url.starts_with(&format!("http://{}/calls?token=", binary.addr)),
        "{url}"
    );
    let token = url.rsplit('=').next().unwrap().to_string();
    assert_eq!(token.len(), 64, "{url}");
    assert!(
        lines[..lines.len() - 1].iter().all(|line| !line.contains(&token)),
        "{lines:?}"
    );
    let client = reqwest::Client::new();
    let opened = client.get(&url).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    assert!(opened.headers().contains_key("set-cookie"));
    assert_eq!(client.get(binary.url("/calls")).send().await.unwrap().status(), 401);
    let bearer = client
        .get(binary.url("/metrics"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    // Nothing else the process writes, up to its exit, repeats the token.
    let status = tokio::task::spawn_blocking(move || {
        let status = binary.terminate();
        let rest = binary.stderr_to_end();
        (status, rest)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "{status:?}");
    assert!(status.1.iter().all(|line| !line.contains(&token)), "{:?}", status.1);
}

/// The issue's attack: many concurrent unauthenticated 16 MiB posts. Each is refused from its headers, so the
/// server's peak memory stays far below what buffering them would take (100 × 16 MiB = 1.6 GiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_big_bodies_are_refused_without_buffering() {
    const CLIENTS: usize = 100;
    const BODY: usize = 16 * 1024 * 1024;
    let binary = Binary::start(&["serve", "--vapi-secret", "s3cret"], "[http]\nmax_connections = 256\n");
    let before = binary.peak_rss_kib();
    let addr = binary.addr;
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        clients.spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let head = format!(
                "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {BODY}\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < BODY {
                // The server may answer and close before taking it all: that is the point.
                match tokio::time::timeout(PATIENCE, stream.write_all(&chunk)).await {
                    Ok(Ok(())) => sent += chunk.len(),
                    _ => break,
                }
            }
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer)).await;
            String::from_utf8_lossy(&answer).into_owned()
        });
    }
    let mut refused = 0;
    while let Some(answer) = clients.join_next().await {
        let answer = answer.unwrap();
        // A client whose write hit the closed connection may lose the answer to the reset.
        if !answer.is_empty() {
            assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
            refused += 1;
        }
    }
    let peak = binary.peak_rss_kib();
    eprintln!(
        "peak RSS: {before} KiB at start, {peak} KiB after {CLIENTS} unauthenticated 16 MiB posts ({refused} answers read)"
    );
    assert!(refused > 0);
    assert!(
        peak < before + 256 * 1024,
        "peak RSS grew from {before} KiB to {peak} KiB"
    );
    // Still serving authenticated webhooks.
    let hang = json!({"message": {"type": "hang", "call": {"id": "after"}}});
    let response = reqwest::Client::new()
        .post(binary.url("/webhook"))
        .header("x-vapi-secret", "s3cret")
        .json(&hang)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn sigterm_with_half_sent_requests_exits_after_the_grace_period() {
    let mut binary = Binary::start(
        &["serve"],
        "[http]\nshutdown_grace_seconds = 1\nheader_timeout_seconds = 600\nbody_timeout_seconds = 600\n\
         idle_timeout_seconds = 600\n",
    );
    // One client stalls in its headers, one in its body.
    let mut in_headers = TcpStream::connect(binary.addr).await.unwrap();
    in_headers
        .write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut in_body = TcpStream::connect(binary.addr).await.unwrap();
    in_body
        .write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"message\":")
        .await
        .unwrap();
    // Both requests reached the server before the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = binary.terminate();
        (status, binary)
    })
    .await
    .unwrap()
    .0;
    assert!(status.success(), "{status:?}");
    assert_eq!(read_until_closed(&mut in_body).await, "");
    assert_eq!(read_until_closed(&mut in_headers).await, "");
}

#[tokio::test]
async fn the_standalone_servers_need_the_configured_credential() {
    let toml = "[auth]\nmode = \"secret\"\nsecret = \"s3cret\"\n";
    for (args, path, fixture_name) in [
        (&["voice"][..], "/voice", "voice-request.json"),
        (
            &["endpointing", "serve"][..],
            "/endpointing",
            "call-endpointing-request.json",
        ),
    ] {
        let binary = Binary::start(args, toml);
        let client = reqwest::Client::new();
        let mut body = fixture(fixture_name);
        body["message"]["sampleRate"] = json!(8000);
        let refused = client.post(binary.url(path)).json(&body).send().await.unwrap();
        assert_eq!(refused.status(), 401, "{path}");
        assert_eq!(
            refused.json::<Value>().await.unwrap(),
            json!({"error": "missing `x-vapi-secret` header"})
        );
        let wrong = client
            .post(binary.url(path))
            .header("x-vapi-secret", "nope")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
        let accepted = client
            .post(binary.url(path))
            .header("x-vapi-secret", "s3cret")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = accepted.status();
        assert_eq!(status, 200, "{path}: {}", accepted.text().await.unwrap_or_default());
        let missing = client.get(binary.url("/nowhere")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
        assert_eq!(
            missing.json::<Value>().await.unwrap(),
            json!({"error": "no route for GET /nowhere"})
        );
    }
    // Without a credential configured they serve, with the loud warning.
    let mut open = Binary::start(&["endpointing", "serve"], "");
    let lines = open.stderr_until("AUTHENTICATION IS OFF");
    assert!(!lines.is_empty());
}
