//! Acting on a live call, against real servers on `127.0.0.1:0`: async tool results added to the call through
//! a local Live Call Control endpoint (once, through failures and retried deliveries, never to a host not
//! allowed), and `phone-call-control` requests recorded and carried out through a local telephony bridge
//! (signed, retried, once per message, also across instances sharing a real `redis-server`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use switchboard::Config;
use switchboard::tools::{ToolContext, ToolRegistry};

use crate::redis::redis_server::RedisServer;
use crate::support::{Binary, TestServer, eventually, fixture, message, tool_calls};

/// How long the tests wait for something the server does in the background.
const WAIT: Duration = Duration::from_secs(10);

/// One POST a peer received.
#[derive(Clone, Debug)]
struct Post {
    headers: HeaderMap,
    body: Value,
    raw: Vec<u8>,
    accepted: bool,
}

/// What a peer saw on one path, and how many of its first POSTs it fails.
#[derive(Default)]
struct Endpoint {
    posts: Mutex<Vec<Post>>,
    fail_first: AtomicUsize,
}

/// A peer of Switchboard: a tool backend (`/tool`, answering `{"result": "order <n> shipped"}`), a Live Call
/// Control endpoint (`/control`) and a telephony bridge (`/bridge`). Each of the last two records every POST
/// and answers `503` to its first `fail_first` ones.
struct Peer {
    addr: SocketAddr,
    tool_runs: Arc<AtomicUsize>,
    control: Arc<Endpoint>,
    bridge: Arc<Endpoint>,
}

impl Peer {
    async fn start() -> Peer {
        let tool_runs = Arc::new(AtomicUsize::new(0));
        let (control, bridge) = (Arc::new(Endpoint::default()), Arc::new(Endpoint::default()));
        let record = |endpoint: Arc<Endpoint>| {
            move |headers: HeaderMap, body: axum::body::Bytes| {
                let endpoint = Arc::clone(&endpoint);
                async move {
                    let failing = endpoint
                        .fail_first
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    endpoint.posts.lock().unwrap().push(Post {
                        headers,
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        raw: body.to_vec(),
                        accepted: !failing,
                    });
                    if failing {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            }
        };
        let runs = Arc::clone(&tool_runs);
        let tool = move |axum::Json(body): axum::Json<Value>| {
            let runs = Arc::clone(&runs);
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                let order = body["toolCall"]["arguments"]["order"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string();
                axum::Json(json!({ "result": format!("order {order} shipped") }))
            }
        };
        let router = axum::Router::new()
            .route("/tool", axum::routing::post(tool))
            .route("/control", axum::routing::post(record(Arc::clone(&control))))
            .route("/bridge", axum::routing::post(record(Arc::clone(&bridge))));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Peer {
            addr,
            tool_runs,
            control,
            bridge,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A config with the async HTTP tool `lookup` served here, loopback allowed as a control host, fast
    /// retries, and `extra` TOML on top.
    fn config(&self, extra: &str) -> Config {
        Config::from_toml(&self.toml("backoff_ms = 10", extra)).unwrap()
    }

    /// The TOML of [`Peer::config`] with `backoff` (`backoff_ms = ...`) and `extra` in `[control]`.
    fn toml(&self, backoff: &str, extra: &str) -> String {
        format!(
            "[control]\nhosts = [\"vapi.ai\", \"127.0.0.1\"]\n{backoff}\n{extra}\n\
             [[tools.http]]\nname = \"lookup\"\nurl = \"{}\"\nasync = true\n",
            self.url("/tool")
        )
    }
}

impl Endpoint {
    fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    fn accepted(&self) -> Vec<Post> {
        self.posts().into_iter().filter(|post| post.accepted).collect()
    }

    /// Waits (at most 10 s) until `count` POSTs were accepted.
    async fn wait_accepted(&self, count: usize) -> Vec<Post> {
        eventually(WAIT, async || {
            Some(self.accepted()).filter(|accepted| accepted.len() >= count)
        })
        .await;
        let accepted = self.accepted();
        assert!(accepted.len() >= count, "{} of {count} POSTs accepted", accepted.len());
        accepted
    }
}

/// A `tool-calls` body for `lookup` of `order`, whose call has `control_url` as its control URL.
fn lookup(call_id: &str, at: i64, tool_call_id: &str, order: &str, control_url: Option<&str>) -> Value {
    let mut body = tool_calls(call_id, at, &[(tool_call_id, "lookup", json!({ "order": order }))]);
    if let Some(url) = control_url {
        body["message"]["call"]["monitor"] = json!({ "listenUrl": "wss://example/listen", "controlUrl": url });
    }
    body
}

/// The value of the `switchboard_async_results_total` (or other) counter with `outcome`, once it reaches
/// `at_least` (waiting at most 10 s), else its last value.
async fn counter(server: &TestServer, name: &str, outcome: &str, at_least: u64) -> u64 {
    let series = format!("{name}_total{{outcome=\"{outcome}\"}}");
    let reached = eventually(WAIT, async || {
        Some(server.metric(&series).await).filter(|value| *value >= at_least)
    });
    match reached.await {
        Some(value) => value,
        None => server.metric(&series).await,
    }
}

/// The call's recorded tool result for `tool_call_id`, once recorded (waiting at most 10 s).
async fn recorded_result(server: &TestServer, call_id: &str, tool_call_id: &str) -> Value {
    eventually(WAIT, async || {
        let (_, context) = server.get_json(&format!("/calls/{call_id}")).await;
        context["toolCalls"]
            .as_array()?
            .iter()
            .find(|record| record["id"] == tool_call_id)
            .map(|record| record["result"].clone())
            .filter(|result| !result.is_null())
    })
    .await
    .unwrap_or(Value::Null)
}

const LIVE_ACK: &str =
    "`lookup` started in the background; its result will be added to this conversation when it is ready.";
const DEAD_ACK: &str = "`lookup` started in the background; its result cannot reach this conversation, so do not wait \
                        for it. It will be recorded with the call.";

#[tokio::test]
async fn an_async_result_is_added_to_the_live_call_once() {
    let peer = Peer::start().await;
    let server = TestServer::start(peer.config("api_key = \"vapi-public-key\"")).await;
    let control_url = peer.url("/control");
    let (status, answer) = server
        .post_json("/webhook", &lookup("c-live", 1, "t1", "77", Some(&control_url)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["results"][0]["result"], LIVE_ACK);
    let posts = peer.control.wait_accepted(1).await;
    assert_eq!(
        posts[0].body,
        json!({
            "type": "add-message",
            "message": {
                "role": "system",
                "content": "The background tool `lookup` (tool call t1) finished. Result: order 77 shipped",
            },
            "triggerResponseEnabled": true,
        })
    );
    assert_eq!(posts[0].headers["idempotency-key"], "c-live:t1");
    assert_eq!(posts[0].headers["authorization"], "Bearer vapi-public-key");
    assert_eq!(posts[0].headers["content-type"], "application/json");
    // The result is in the call's records too.
    assert_eq!(recorded_result(&server, "c-live", "t1").await, "order 77 shipped");
    assert_eq!(counter(&server, "switchboard_async_results", "delivered", 1).await, 1);
    assert_eq!(peer.control.posts().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_retried_tool_calls_delivers_its_result_once() {
    let peer = Peer::start().await;
    let server = TestServer::start(peer.config("")).await;
    let control_url = peer.url("/control");
    let body = lookup("c-retry", 1, "t1", "11", Some(&control_url));
    let (_, first) = server.post_json("/webhook", &body).await;
    // Vapi's retries: one after the answer, two at once.
    let (_, second) = server.post_json("/webhook", &body).await;
    let ((_, third), (_, fourth)) =
        tokio::join!(server.post_json("/webhook", &body), server.post_json("/webhook", &body));
    for answer in [&second, &third, &fourth] {
        assert_eq!(answer, &first);
    }
    peer.control.wait_accepted(1).await;
    // A later tool call of the same call goes through the same queue after any second delivery of the first.
    let (_, later) = server
        .post_json("/webhook", &lookup("c-retry", 2, "t2", "12", Some(&control_url)))
        .await;
    assert_eq!(later["results"][0]["result"], LIVE_ACK);
    let posts = peer.control.wait_accepted(2).await;
    assert_eq!(counter(&server, "switchboard_async_results", "delivered", 2).await, 2);
    let keys: Vec<&str> = posts
        .iter()
        .map(|post| post.headers["idempotency-key"].to_str().unwrap())
        .collect();
    assert_eq!(keys.iter().filter(|key| **key == "c-retry:t1").count(), 1, "{keys:?}");
    assert_eq!(keys.iter().filter(|key| **key == "c-retry:t2").count(), 1, "{keys:?}");
    assert_eq!(peer.tool_runs.load(Ordering::SeqCst), 2, "each tool call ran once");
    assert_eq!(peer.control.posts().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_control_url_failing_twice_still_gets_the_result_exactly_once() {
    let peer = Peer::start().await;
    peer.control.fail_first.store(2, Ordering::SeqCst);
    let server = TestServer::start(peer.config("attempts = 3")).await;
    let control_url = peer.url("/control");
    server
        .post_json("/webhook", &lookup("c-flaky", 1, "t1", "5", Some(&control_url)))
        .await;
    let accepted = peer.control.wait_accepted(1).await;
    assert_eq!(counter(&server, "switchboard_async_results", "delivered", 1).await, 1);
    let posts = peer.control.posts();
    assert_eq!(posts.len(), 3, "two refused attempts, then the one accepted");
    assert!(
        posts.iter().all(|post| post.body == accepted[0].body),
        "every attempt is the same message"
    );
    assert_eq!(accepted.len(), 1);
    assert_eq!(counter(&server, "switchboard_async_results", "failed", 0).await, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_control_url_that_keeps_failing_is_given_up_and_counted() {
    let peer = Peer::start().await;
    peer.control.fail_first.store(usize::MAX, Ordering::SeqCst);
    let server = TestServer::start(peer.config("attempts = 2")).await;
    let control_url = peer.url("/control");
    server
        .post_json("/webhook", &lookup("c-down", 1, "t1", "9", Some(&control_url)))
        .await;
    assert_eq!(counter(&server, "switchboard_async_results", "failed", 1).await, 1);
    assert_eq!(peer.control.posts().len(), 2, "`attempts` bounds the tries");
    assert_eq!(recorded_result(&server, "c-down", "t1").await, "order 9 shipped");
    server.stop().await;
}

#[tokio::test]
async fn without_a_control_url_the_result_is_recorded_and_counted() {
    let peer = Peer::start().await;
    let server = TestServer::start(peer.config("")).await;
    let (_, answer) = server
        .post_json("/webhook", &lookup("c-none", 1, "t1", "3", None))
        .await;
    assert_eq!(answer["results"][0]["result"], DEAD_ACK);
    assert_eq!(recorded_result(&server, "c-none", "t1").await, "order 3 shipped");
    assert_eq!(
        counter(&server, "switchboard_async_results", "no_control_url", 1).await,
        1
    );
    assert!(peer.control.posts().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_control_url_on_a_host_not_allowed_is_refused_and_counted() {
    let peer = Peer::start().await;
    // The default hosts: Vapi's only. The caller's payload points at a loopback service.
    let server = TestServer::start(
        Config::from_toml(&format!(
            "[control]\nbackoff_ms = 10\n[[tools.http]]\nname = \"lookup\"\nurl = \"{}\"\nasync = true\n",
            peer.url("/tool")
        ))
        .unwrap(),
    )
    .await;
    let forged = peer.url("/control");
    let (_, answer) = server
        .post_json("/webhook", &lookup("c-forged", 1, "t1", "4", Some(&forged)))
        .await;
    assert_eq!(answer["results"][0]["result"], DEAD_ACK);
    assert_eq!(
        counter(&server, "switchboard_async_results", "refused_host", 1).await,
        1
    );
    assert_eq!(recorded_result(&server, "c-forged", "t1").await, "order 4 shipped");
    // https to an allowed-looking name that is not a Vapi host is refused as well.
    let (_, answer) = server
        .post_json(
            "/webhook",
            &lookup(
                "c-forged",
                2,
                "t2",
                "5",
                Some("https://vapi.ai.attacker.example/control"),
            ),
        )
        .await;
    assert_eq!(answer["results"][0]["result"], DEAD_ACK);
    assert_eq!(
        counter(&server, "switchboard_async_results", "refused_host", 2).await,
        2
    );
    assert!(peer.control.posts().is_empty(), "nothing is sent to a refused host");
    server.stop().await;
}

#[tokio::test]
async fn an_async_result_after_the_call_ended_is_not_sent() {
    let peer = Peer::start().await;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let released = Arc::new(tokio::sync::Mutex::new(Some(released)));
    let mut tools = ToolRegistry::new();
    tools.register("slow_report", move |_: Value, _: ToolContext| {
        let released = Arc::clone(&released);
        async move {
            if let Some(released) = released.lock().await.take() {
                let _ = released.await;
            }
            Ok::<_, String>("report ready")
        }
    });
    tools.set_async("slow_report", true);
    let server = TestServer::start_with(peer.config(""), tools).await;
    let mut body = tool_calls("c-ended", 1, &[("r1", "slow_report", json!({}))]);
    body["message"]["call"]["monitor"] = json!({ "controlUrl": peer.url("/control") });
    server.post_json("/webhook", &body).await;
    let ended = message(
        "c-ended",
        "status-update",
        2,
        json!({"status": "ended", "endedReason": "customer-ended-call"}),
    );
    assert_eq!(server.post_json("/webhook", &ended).await.0, StatusCode::OK);
    release.send(()).unwrap();
    assert_eq!(counter(&server, "switchboard_async_results", "call_ended", 1).await, 1);
    assert_eq!(recorded_result(&server, "c-ended", "r1").await, "report ready");
    assert!(peer.control.posts().is_empty());
    server.stop().await;
}

/// The bundled `phone-call-control` fixture (a SIP forward) for `call_id` at `timestamp`.
fn forward(call_id: &str, timestamp: i64) -> Value {
    let mut body = fixture("phone-call-control-forward.json");
    body["message"]["call"]["id"] = json!(call_id);
    body["message"]["timestamp"] = json!(timestamp);
    body
}

fn hang_up(call_id: &str, timestamp: i64) -> Value {
    message(
        call_id,
        "phone-call-control",
        timestamp,
        json!({ "request": "hang-up" }),
    )
}

/// Whether the POST carries a valid `x-signature` of its body under `secret`, as Switchboard's HMAC mode
/// verifies Vapi's.
fn signed_with(post: &Post, secret: &str) -> bool {
    let auth = switchboard::auth::AuthConfig::Hmac(switchboard::auth::HmacConfig::new(secret));
    let header = |name: &str| post.headers.get(name).and_then(|value| value.to_str().ok());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    auth.verify(header, "POST", "/bridge", &post.raw, now_ms).is_ok()
}

#[tokio::test]
async fn phone_call_control_is_recorded_and_carried_out_through_the_bridge() {
    let peer = Peer::start().await;
    peer.bridge.fail_first.store(2, Ordering::SeqCst);
    let bridge = format!(
        "[telephony]\nbridge_url = \"{}\"\nsecret = \"bridge-key\"\nbackoff_ms = 10\n",
        peer.url("/bridge")
    );
    let server = TestServer::start(peer.config(&bridge)).await;
    let (status, answer) = server.post_json("/webhook", &forward("c-fwd", 1_787_155_350_582)).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
    // Recorded in the call.
    let (_, context) = server.get_json("/calls/c-fwd").await;
    assert_eq!(
        context["phoneControls"],
        json!([{
            "request": "forward",
            "kind": "sip",
            "target": "sip:billing@pbx.acme-dental.example",
            "at_ms": 1_787_155_350_582i64,
        }])
    );
    // Carried out: refused twice, accepted at the third attempt, every attempt signed.
    let accepted = peer.bridge.wait_accepted(1).await;
    assert_eq!(
        counter(&server, "switchboard_phone_call_controls", "delivered", 1).await,
        1
    );
    assert_eq!(peer.bridge.posts().len(), 3);
    assert!(peer.bridge.posts().iter().all(|post| signed_with(post, "bridge-key")));
    assert!(!signed_with(&accepted[0], "another-key"));
    assert_eq!(
        accepted[0].body,
        json!({
            "type": "phone-call-control",
            "callId": "c-fwd",
            "request": "forward",
            "destination": {
                "type": "sip",
                "sipUri": "sip:billing@pbx.acme-dental.example",
                "sipHeaders": {"X-Account": "gold"},
            },
            "phoneCallProvider": "vapi",
            "phoneCallProviderId": "4f2a9c1e-6b3d-4a7e-8c5f-2e1d9b7a3c64",
            "transport": {
                "provider": "vapi.sip",
                "callSid": "4f2a9c1e-6b3d-4a7e-8c5f-2e1d9b7a3c64",
                "sbcCallSid": "7e31c0a2-d94b-11f0-8b2e-0a58a9feac02",
            },
            "customerNumber": "+14155550142",
            "timestamp": 1_787_155_350_582i64,
        })
    );
    assert!(
        accepted[0].headers["idempotency-key"]
            .to_str()
            .unwrap()
            .starts_with("c-fwd:")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_phone_call_control_delivered_twice_is_forwarded_once() {
    let peer = Peer::start().await;
    let bridge = format!(
        "[telephony]\nbridge_url = \"{}\"\nbackoff_ms = 10\n",
        peer.url("/bridge")
    );
    let server = TestServer::start(peer.config(&bridge)).await;
    let body = forward("c-dup", 10);
    server.post_json("/webhook", &body).await;
    server.post_json("/webhook", &body).await;
    let ((status_a, _), (status_b, _)) =
        tokio::join!(server.post_json("/webhook", &body), server.post_json("/webhook", &body));
    assert_eq!((status_a, status_b), (StatusCode::OK, StatusCode::OK));
    peer.bridge.wait_accepted(1).await;
    // A second, different request of the call goes through the same queue after any second forward.
    server.post_json("/webhook", &hang_up("c-dup", 11)).await;
    let posts = peer.bridge.wait_accepted(2).await;
    assert_eq!(
        counter(&server, "switchboard_phone_call_controls", "delivered", 2).await,
        2
    );
    let requests: Vec<&Value> = posts.iter().map(|post| &post.body["request"]).collect();
    assert_eq!(requests, [&json!("forward"), &json!("hang-up")]);
    assert_eq!(
        counter(&server, "switchboard_phone_call_controls", "duplicate", 3).await,
        3
    );
    let (_, context) = server.get_json("/calls/c-dup").await;
    let recorded: Vec<&Value> = context["phoneControls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|control| &control["request"])
        .collect();
    assert_eq!(
        recorded,
        [&json!("forward"), &json!("hang-up")],
        "each message recorded once"
    );
    assert_eq!(peer.bridge.posts().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn instances_sharing_redis_forward_a_phone_call_control_once() {
    let redis = RedisServer::start();
    let peer = Peer::start().await;
    let config = || {
        let mut config = peer.config(&format!(
            "[telephony]\nbridge_url = \"{}\"\nbackoff_ms = 10\n",
            peer.url("/bridge")
        ));
        config.redis = Some(call_runtime::RedisConfig::new(redis.url()));
        config
    };
    let (a, b) = (TestServer::start(config()).await, TestServer::start(config()).await);
    let body = hang_up("c-shared", 20);
    let ((status_a, _), (status_b, _)) = tokio::join!(a.post_json("/webhook", &body), b.post_json("/webhook", &body));
    assert_eq!((status_a, status_b), (StatusCode::OK, StatusCode::OK));
    peer.bridge.wait_accepted(1).await;
    // Whichever instance claimed it sent it; the other found the claim.
    let mut counted = (0, 0);
    for _ in 0..1000 {
        let sum = |outcome: &'static str| {
            let (a, b) = (&a, &b);
            async move {
                counter(a, "switchboard_phone_call_controls", outcome, 0).await
                    + counter(b, "switchboard_phone_call_controls", outcome, 0).await
            }
        };
        counted = (sum("delivered").await, sum("duplicate").await);
        if counted == (1, 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(counted, (1, 1), "(delivered, duplicate)");
    assert_eq!(peer.bridge.posts().len(), 1);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn without_a_bridge_phone_call_control_is_recorded_and_counted() {
    let peer = Peer::start().await;
    let server = TestServer::start(peer.config("")).await;
    let (status, answer) = server.post_json("/webhook", &hang_up("c-nobridge", 1)).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
    let (_, context) = server.get_json("/calls/c-nobridge").await;
    assert_eq!(context["phoneControls"][0]["request"], "hang-up");
    assert_eq!(
        counter(&server, "switchboard_phone_call_controls", "no_bridge", 1).await,
        1
    );
    assert!(peer.bridge.posts().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_phone_call_control_is_recorded_but_not_forwarded() {
    let peer = Peer::start().await;
    let bridge = format!(
        "[telephony]\nbridge_url = \"{}\"\nbackoff_ms = 10\n",
        peer.url("/bridge")
    );
    let server = TestServer::start(peer.config(&bridge)).await;
    let mut body = forward("c-huge", 30);
    body["message"]["destination"]["sipHeaders"]["X-Padding"] = json!("x".repeat(100_000));
    let (status, _) = server.post_json("/webhook", &body).await;
    assert_eq!(status, StatusCode::OK);
    let (_, context) = server.get_json("/calls/c-huge").await;
    assert_eq!(context["phoneControls"][0]["request"], "forward");
    assert_eq!(
        counter(&server, "switchboard_phone_call_controls", "too_large", 1).await,
        1
    );
    // The next, ordinary request still goes through.
    server.post_json("/webhook", &hang_up("c-huge", 31)).await;
    let posts = peer.bridge.wait_accepted(1).await;
    assert_eq!(posts[0].body["request"], "hang-up");
    assert_eq!(peer.bridge.posts().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn instances_sharing_redis_add_an_async_result_once() {
    let redis = RedisServer::start();
    let peer = Peer::start().await;
    let config = || {
        let mut config = peer.config("");
        config.redis = Some(call_runtime::RedisConfig::new(redis.url()));
        config
    };
    let (a, b) = (TestServer::start(config()).await, TestServer::start(config()).await);
    let body = lookup("c-shared-async", 1, "t1", "42", Some(&peer.url("/control")));
    // Vapi's retry reaches the other instance, at the same time and after.
    let ((_, first), (_, second)) = tokio::join!(a.post_json("/webhook", &body), b.post_json("/webhook", &body));
    assert_eq!(first, second);
    assert_eq!(first["results"][0]["result"], LIVE_ACK);
    let posts = peer.control.wait_accepted(1).await;
    let (_, third) = b.post_json("/webhook", &body).await;
    assert_eq!(third, first);
    // A later tool call of the call goes through the queue after any second delivery of the first.
    a.post_json(
        "/webhook",
        &lookup("c-shared-async", 2, "t2", "43", Some(&peer.url("/control"))),
    )
    .await;
    let posts_after = peer.control.wait_accepted(2).await;
    let keys: Vec<&str> = posts_after
        .iter()
        .map(|post| post.headers["idempotency-key"].to_str().unwrap())
        .collect();
    assert_eq!(
        keys.iter().filter(|key| **key == "c-shared-async:t1").count(),
        1,
        "{keys:?}"
    );
    assert_eq!(
        posts[0].body["message"]["content"],
        "The background tool `lookup` (tool call t1) finished. Result: order 42 shipped"
    );
    assert_eq!(
        peer.tool_runs.load(Ordering::SeqCst),
        2,
        "each tool call ran once over both instances"
    );
    assert_eq!(peer.control.posts().len(), 2);
    a.stop().await;
    b.stop().await;
}

/// Runs `switchboard serve` with `[http] shutdown_grace_seconds = grace`, JSON logs and `control` (the TOML of
/// [`Peer::toml`]), has it acknowledge `lookup` for call `c-restart` and waits until the control URL saw the
/// result's first attempt; then stops the process with SIGTERM and returns its stderr lines.
async fn stop_with_a_result_being_sent(peer: &Peer, grace: u64, control: &str) -> Vec<String> {
    let toml = format!("log_format = \"json\"\n[http]\nshutdown_grace_seconds = {grace}\n{control}");
    let mut binary = Binary::start(&["serve"], &toml);
    let body = lookup("c-restart", 1, "t1", "42", Some(&peer.url("/control")));
    let answer: Value = reqwest::Client::new()
        .post(binary.url("/webhook"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["results"][0]["result"], LIVE_ACK);
    let tried = eventually(WAIT, async || (!peer.control.posts().is_empty()).then_some(())).await;
    assert!(tried.is_some(), "the result was never sent");
    tokio::task::spawn_blocking(move || {
        let status = binary.terminate();
        assert!(status.success(), "{status:?}");
        binary.stderr_to_end()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_result_being_retried_at_shutdown_is_delivered_before_the_process_exits() {
    let peer = Peer::start().await;
    // The control URL refuses the first two attempts; the third, half a second and a second later, is taken.
    peer.control.fail_first.store(2, Ordering::SeqCst);
    let lines = stop_with_a_result_being_sent(&peer, 20, &peer.toml("backoff_ms = 500", "attempts = 5")).await;
    // The process has exited: what the control URL has now is all it will ever get.
    let accepted = peer.control.accepted();
    assert_eq!(accepted.len(), 1, "stderr: {lines:#?}");
    assert_eq!(accepted[0].headers["idempotency-key"], "c-restart:t1");
    assert_eq!(peer.control.posts().len(), 3);
    assert!(
        !lines.iter().any(|line| line.contains("shutdown grace period")),
        "nothing lost: {lines:#?}"
    );
}

#[tokio::test]
async fn a_result_still_unsent_when_the_grace_period_ends_is_logged_as_lost() {
    let peer = Peer::start().await;
    peer.control.fail_first.store(usize::MAX, Ordering::SeqCst);
    // Ten attempts, seconds apart: far more than the one-second grace period.
    let lines = stop_with_a_result_being_sent(&peer, 1, &peer.toml("backoff_ms = 1000", "attempts = 10")).await;
    let lost: Vec<Value> = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            line["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("shutdown grace period"))
        })
        .collect();
    assert_eq!(lost.len(), 1, "{lines:#?}");
    assert_eq!(lost[0]["level"], "ERROR");
    assert_eq!(lost[0]["fields"]["async_results"], 1, "{}", lost[0]);
    assert_eq!(lost[0]["fields"]["phone_call_controls"], 0, "{}", lost[0]);
    assert!(peer.control.accepted().is_empty());
}

#[tokio::test]
async fn a_stopping_server_counts_what_it_could_not_send() {
    let peer = Peer::start().await;
    peer.control.fail_first.store(usize::MAX, Ordering::SeqCst);
    let mut config = Config::from_toml(&peer.toml("backoff_ms = 1000", "attempts = 10")).unwrap();
    config.http.shutdown_grace_seconds = 1;
    let switchboard = switchboard::Switchboard::start(config).await.unwrap();
    let app = switchboard::http::app(switchboard.clone());
    let body = lookup("c-count", 1, "t1", "8", Some(&peer.url("/control")));
    let (status, answer) = crate::support::oneshot(app, crate::support::post("/webhook", body.to_string())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["results"][0]["result"], LIVE_ACK);
    let tried = eventually(WAIT, async || (!peer.control.posts().is_empty()).then_some(())).await;
    assert!(tried.is_some(), "the result was never sent");
    switchboard.shutdown().await;
    let metrics = switchboard.metrics().render();
    assert!(
        metrics.contains("switchboard_async_results_total{outcome=\"shutdown\"} 1\n"),
        "{metrics}"
    );
}
