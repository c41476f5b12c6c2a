//! The quick-start, followed: `examples/switchboard.toml` loads with the real loader and serves (its HTTP tool
//! against a real backend, its commented `[redis]` table against a real `redis-server`), the bundled
//! knowledge call is answered from `examples/knowledge/`, and `switchboard vapi-assistant` prints an assistant
//! that validates against Vapi's schema and whose every tool the server answers.

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::Config;
use switchboard::assistant::{AssistantArgs, AssistantOptions};
use switchboard::config::AuthArgs;
use switchboard::tools::{ToolContext, ToolRegistry};

use crate::redis::redis_server::RedisServer;
use crate::support::{TestServer, message, tool_calls, tool_result, transcript};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example_path() -> PathBuf {
    root().join("examples/switchboard.toml")
}

fn example() -> Config {
    let config = Config::from_file(&example_path()).unwrap();
    config.validate().unwrap();
    config
}

/// The example with its commented-out `name` table (`# [name]` and the `# key = value` lines under it)
/// switched on.
fn with_commented_table(text: &str, name: &str) -> String {
    let header = format!("# [{name}]");
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with(&header) {
            inside = true;
        } else if inside && !line.starts_with("# ") {
            inside = false;
        }
        out.push(if inside { line.trim_start_matches("# ") } else { line });
    }
    out.join("\n")
}

/// The top-level keys `Config` accepts, as its loader lists them when refusing an unknown one: a table added
/// to `Config` and missing from the example fails the test below.
fn accepted_keys() -> Vec<String> {
    let error = Config::from_toml("no_such_key = 1\n").unwrap_err();
    let expected = error
        .split("expected one of")
        .nth(1)
        .unwrap_or_else(|| panic!("{error}"));
    expected
        .split(',')
        .map(|key| {
            key.trim()
                .trim_matches(|c: char| c == '`' || c.is_whitespace())
                .to_string()
        })
        .filter(|key| !key.is_empty())
        .collect()
}

#[test]
fn the_example_config_sets_every_table_the_loader_accepts() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let mut present: Vec<String> = toml::from_str::<toml::Table>(&with_commented_table(&text, "redis"))
        .unwrap()
        .keys()
        .cloned()
        .collect();
    present.sort();
    let mut accepted = accepted_keys();
    accepted.sort();
    assert!(accepted.len() >= 15, "{accepted:?}");
    assert_eq!(present, accepted);

    let config = example();
    assert_eq!(config.tools.http.len(), 1);
    assert_eq!(config.tools.http[0].name, "lookup_order");
    assert_eq!(config.knowledge.dir.as_deref(), Some(Path::new("examples/knowledge")));
    assert_eq!(config.routing.assistant.len(), 3);
    assert_eq!(
        config.base_dir,
        root().join("examples"),
        "assistant files are read beside the file"
    );
    // The commented tables are valid too.
    let redis = Config::from_toml(&with_commented_table(&text, "redis")).unwrap();
    redis.validate().unwrap();
    assert_eq!(redis.redis.unwrap().url, "redis://127.0.0.1:6379/0");
}

/// A backend for the example's `lookup_order` tool, answering what the tool call carried.
async fn order_backend() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/tools/lookup_order",
        axum::routing::post(|headers: axum::http::HeaderMap, body: axum::Json<Value>| async move {
            let authorized = headers.get("authorization").is_some_and(|v| v == "Bearer change-me");
            let order = body.0["toolCall"]["arguments"]["order"].clone();
            axum::Json(json!({"result": {"order": order, "status": "shipped", "authorized": authorized}}))
        }),
    );
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}/tools/lookup_order"), task)
}

/// Plays a short call against `server` and checks the example's tools, knowledge base and routing answer.
async fn serve_the_example_call(server: &TestServer, call: &str) {
    for body in [
        message(call, "status-update", 1, json!({"status": "in-progress"})),
        transcript(call, 2, "user", "My order number is 48213 and it has not arrived."),
    ] {
        assert_eq!(server.post_json("/webhook", &body).await.0, StatusCode::OK);
    }
    let (status, answer) = server
        .post_json(
            "/webhook",
            &tool_calls(
                call,
                3,
                &[
                    ("t1", "lookup_order", json!({"order": "48213"})),
                    ("t2", "recall", json!({"topic": "order"})),
                ],
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        tool_result(&answer, 0),
        json!({"order": "48213", "status": "shipped", "authorized": true})
    );
    assert!(
        answer["results"][1]["result"].as_str().unwrap().contains("48213"),
        "{answer}"
    );

    let kb = message(
        call,
        "knowledge-base-request",
        4,
        json!({"messagesOpenAIFormatted": [{"role": "user", "content": "when do you close on saturday"}]}),
    );
    let (status, answer) = server.post_json("/webhook", &kb).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        answer["documents"][0]["uuid"]
            .as_str()
            .unwrap()
            .starts_with("hours.md#"),
        "{answer}"
    );

    let known = message(
        &format!("{call}-new"),
        "assistant-request",
        5,
        json!({"customer": {"number": "+14155550142"}}),
    );
    let (status, answer) = server.post_json("/webhook", &known).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer["assistantId"], "00000000-0000-4000-8000-000000000001",
        "{answer}"
    );
    assert_eq!(
        answer["assistantOverrides"]["server"]["url"], "https://sb.example.com/api/webhook/customer-0142",
        "{answer}"
    );
}

#[tokio::test]
async fn the_example_config_serves_a_call() {
    let (backend, backend_task) = order_backend().await;
    let mut config = example();
    config.tools.http[0].url = backend;
    let server = TestServer::start(config).await;
    serve_the_example_call(&server, "call-example").await;
    server.stop().await;
    backend_task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_config_with_its_redis_table_serves_a_call() {
    let redis = RedisServer::start();
    let (backend, backend_task) = order_backend().await;
    let text = std::fs::read_to_string(example_path()).unwrap();
    let mut config = Config::from_toml(&with_commented_table(&text, "redis")).unwrap();
    config.redis.as_mut().unwrap().url = redis.url();
    config.tools.http[0].url = backend;
    config.validate().unwrap();
    let server = TestServer::start(config).await;
    serve_the_example_call(&server, "call-example-redis").await;
    server.stop().await;
    backend_task.abort();
}

#[tokio::test]
async fn the_bundled_knowledge_call_is_answered_from_the_sample_folder() {
    let server = TestServer::start(example()).await;
    let text = std::fs::read_to_string(root().join("examples/calls/knowledge.jsonl")).unwrap();
    let mut answers = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let body: Value = serde_json::from_str(line).unwrap();
        let (status, answer) = server.post_json("/webhook", &body).await;
        assert_eq!(status, StatusCode::OK, "{} -> {answer}", body["message"]["type"]);
        if body["message"]["type"] == "knowledge-base-request" {
            answers.push(answer);
        }
    }
    assert_eq!(answers.len(), 2);
    // "Hi, what time does the central branch close on Saturdays?"
    let first = &answers[0]["documents"][0];
    assert!(
        first["uuid"].as_str().unwrap().starts_with("hours.md#"),
        "{}",
        answers[0]
    );
    assert!(
        first["content"].as_str().unwrap().contains("Saturday: 10 am to 5 pm"),
        "{first}"
    );
    // The caller then asks in Spanish; the folder is English, so nothing is made up from it.
    assert_eq!(answers[1], json!({"documents": []}));
    server.stop().await;
}

#[tokio::test]
async fn concurrent_knowledge_requests_are_each_answered_by_meaning() {
    let server = TestServer::start(example()).await;
    // Questions about the sample library in other words than its pages', many at once: more than the cores the
    // encoder runs on, so some wait for a turn.
    let questions = [
        ("when do you close on saturday", "hours.md#"),
        (
            "will i have to pay a penalty if i bring a book back late",
            "fines-and-fees.md#",
        ),
        ("can i come in on a sunday afternoon", "hours.md#"),
    ];
    let asks = (0..24).map(|n| {
        let (question, _) = questions[n % questions.len()];
        let body = message(
            &format!("call-concurrent-{n}"),
            "knowledge-base-request",
            1,
            json!({"messagesOpenAIFormatted": [{"role": "user", "content": question}]}),
        );
        let server = &server;
        async move { server.post_json("/webhook", &body).await }
    });
    let answers = futures::future::join_all(asks).await;
    for (n, (status, answer)) in answers.into_iter().enumerate() {
        let (question, page) = questions[n % questions.len()];
        assert_eq!(status, StatusCode::OK, "{question}: {answer}");
        let first = answer["documents"][0]["uuid"].as_str().unwrap_or_default();
        assert!(first.starts_with(page), "{question}: {answer}");
    }
    server.stop().await;
}

/// Vapi's assistant schema: the fixture cut from `../shared/vapi/server-schemas.json` (see its `_source`),
/// and the whole file too when it is there.
fn vapi_schemas() -> Vec<(String, Value)> {
    let mut documents = vec![root().join("tests/fixtures/vapi-assistant-schema.json")];
    let shared = root().join("../shared/vapi/server-schemas.json");
    if shared.is_file() {
        documents.push(shared);
    }
    documents
        .into_iter()
        .map(|path| {
            let mut document: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            as_json_schema(&mut document);
            let plan =
                &mut document["components"]["schemas"]["StartSpeakingPlan"]["properties"]["smartEndpointingPlan"];
            // The three plans' `provider` enums are the same three names, so any plan matches all three
            // variants; Vapi picks the variant by `provider`. Check ours against the one it names.
            *plan = json!({"$ref": "#/components/schemas/CustomEndpointingModelSmartEndpointingPlan"});
            (path.display().to_string(), document)
        })
        .collect()
}

/// Reads two habits of Vapi's generated spec as JSON Schema means them: patterns written as JavaScript
/// literals (`"/^[a-z]+$/"`) are the regex between the slashes, and an array schema carrying its items'
/// `enum` beside `items` (as `serverMessages` does) constrains the items, not the array.
fn as_json_schema(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            if let Some(Value::String(pattern)) = object.get_mut("pattern")
                && pattern.len() > 2
                && pattern.starts_with('/')
                && pattern.ends_with('/')
            {
                *pattern = pattern[1..pattern.len() - 1].to_string();
            }
            if object.get("type").and_then(Value::as_str) == Some("array")
                && object.get("items").and_then(|items| items.get("enum")).is_some()
            {
                object.remove("enum");
            }
            object.values_mut().for_each(as_json_schema);
        }
        Value::Array(items) => items.iter_mut().for_each(as_json_schema),
        _ => {}
    }
}

/// What Vapi's `CreateAssistantDTO` finds wrong with `assistant`, per schema document.
fn vapi_errors(assistant: &Value) -> Vec<(String, Vec<String>)> {
    vapi_schemas()
        .into_iter()
        .map(|(path, mut document)| {
            let schemas = document["components"]["schemas"].take();
            let root = json!({"$ref": "#/components/schemas/CreateAssistantDTO", "components": {"schemas": schemas}});
            let validator = jsonschema::validator_for(&root).unwrap_or_else(|error| panic!("{path}: {error}"));
            let errors = validator
                .iter_errors(assistant)
                .map(|error| format!("{} at {}", error, error.instance_path()))
                .collect();
            (path, errors)
        })
        .collect()
}

/// Checks `assistant` against `CreateAssistantDTO` of every schema document, and that every key it sets is a
/// property Vapi's schema names (the schema allows unknown keys, so a misspelt one would pass unnoticed).
fn assert_valid_for_vapi(assistant: &Value) {
    for (path, errors) in vapi_errors(assistant) {
        assert!(errors.is_empty(), "{path}:\n{}", errors.join("\n"));
    }
    for (path, mut document) in vapi_schemas() {
        let schemas = &document["components"]["schemas"].take();
        let known = |schema: &str, object: &Value| {
            for key in object.as_object().unwrap().keys() {
                assert!(
                    schemas[schema]["properties"].get(key).is_some(),
                    "{path}: `{key}` is not a property of {schema}"
                );
            }
        };
        known("CreateAssistantDTO", assistant);
        known("OpenAIModel", &assistant["model"]);
        known("CustomVoice", &assistant["voice"]);
        known("StartSpeakingPlan", &assistant["startSpeakingPlan"]);
        known("Server", &assistant["server"]);
        for tool in assistant["model"]["tools"].as_array().unwrap() {
            known("CreateFunctionToolDTO", tool);
            known("OpenAIFunction", &tool["function"]);
        }
        if let Some(knowledge) = assistant["model"].get("knowledgeBase") {
            known("CreateCustomKnowledgeBaseDTO", knowledge);
        }
    }
}

/// The `vapi-assistant` options for `url`, in `conversation` when given.
fn options(url: &str, conversation: Option<&str>) -> AssistantOptions {
    AssistantOptions::new(&AssistantArgs {
        url: url.into(),
        config: None,
        conversation: conversation.map(str::to_owned),
        credential_id: None,
        name: "Switchboard".into(),
        model: "gpt-4o".into(),
        auth: AuthArgs::default(),
    })
    .unwrap()
}

/// A typed Rust tool, as `examples/order_status.rs` adds one.
#[derive(Deserialize, JsonSchema)]
struct RefundArgs {
    /// The order to refund.
    order: String,
    /// Refund the shipping too.
    #[serde(default)]
    shipping: Option<bool>,
}

fn rust_tools() -> ToolRegistry {
    let mut tools = ToolRegistry::new();
    tools.define(
        "refund_order",
        "Refund an order the caller names.",
        |args: RefundArgs, _: ToolContext| async move {
            Ok::<_, String>(json!({"refunded": args.order, "shipping": args.shipping.unwrap_or(false)}))
        },
    );
    tools
}

#[tokio::test]
async fn the_assistant_validates_against_vapis_schema_and_the_server_answers_its_every_tool() {
    let (backend, backend_task) = order_backend().await;
    let mut config = example();
    config.tools.http[0].url = backend;
    let mut tools = switchboard::tools::configured(&config.tools).unwrap();
    tools.extend(rust_tools());
    let assistant = switchboard::assistant::assistant(&config, &tools, &options("https://sb.example.com/", None));
    assert_valid_for_vapi(&assistant);
    // The check catches what Vapi would refuse.
    let broken: [(&str, Value); 4] = [
        (
            "/model/tools/0/function/parameters/properties/x",
            json!({"description": "no type"}),
        ),
        ("/model/tools/0/function/name", json!("two words")),
        ("/serverMessages/0", json!("voice-request")),
        ("/voice/provider", json!("custom")),
    ];
    for (pointer, value) in broken {
        let mut wrong = assistant.clone();
        match wrong.pointer_mut(pointer) {
            Some(slot) => *slot = value,
            None => {
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                wrong.pointer_mut(parent).unwrap()[key] = value;
            }
        }
        for (path, errors) in vapi_errors(&wrong) {
            assert!(!errors.is_empty(), "{path}: {pointer} passed");
        }
    }

    assert_eq!(assistant["server"]["url"], "https://sb.example.com/webhook");
    assert_eq!(assistant["voice"]["server"]["url"], "https://sb.example.com/voice");
    assert_eq!(
        assistant["startSpeakingPlan"]["smartEndpointingPlan"],
        json!({"provider": "custom-endpointing-model",
               "server": {"url": "https://sb.example.com/webhook", "timeoutSeconds": 20}})
    );
    assert_eq!(
        assistant["model"]["knowledgeBase"]["server"]["url"],
        "https://sb.example.com/webhook"
    );
    let tools_json = assistant["model"]["tools"].as_array().unwrap();
    let function = |name: &str| {
        tools_json
            .iter()
            .find(|tool| tool["function"]["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {tools_json:?}"))["function"]
            .clone()
    };
    // The HTTP tool carries the schema its config declares; the Rust tool the one of its argument type.
    assert_eq!(
        function("lookup_order")["parameters"],
        config.tools.http[0].parameters.clone().unwrap()
    );
    assert_eq!(
        function("refund_order")["parameters"],
        json!({"type": "object", "required": ["order"], "properties": {
            "order": {"type": "string", "description": "The order to refund."},
            "shipping": {"type": "boolean", "description": "Refund the shipping too."}}})
    );
    assert_eq!(function("recall")["parameters"]["required"], json!(["topic"]));

    // The server started from the same config answers every tool the assistant declares, with arguments that
    // fill the declared required properties: none is unknown, none refuses its arguments.
    let server = TestServer::start_with(config, rust_tools()).await;
    let calls: Vec<(String, String, Value)> = tools_json
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let parameters = &tool["function"]["parameters"];
            let arguments: serde_json::Map<String, Value> = parameters["required"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|key| {
                    let key = key.as_str().unwrap();
                    let kind = &parameters["properties"][key]["type"];
                    let value = if kind == "boolean" { json!(true) } else { json!("48213") };
                    (key.to_string(), value)
                })
                .collect();
            (
                format!("tc-{i}"),
                tool["function"]["name"].as_str().unwrap().to_string(),
                Value::Object(arguments),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &str, Value)> = calls
        .iter()
        .map(|(id, name, arguments)| (id.as_str(), name.as_str(), arguments.clone()))
        .collect();
    let (status, answer) = server
        .post_json("/webhook", &tool_calls("call-every-tool", 1, &borrowed))
        .await;
    assert_eq!(status, StatusCode::OK);
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), calls.len());
    for (result, (_, name, _)) in results.iter().zip(&calls) {
        assert!(result.get("error").is_none(), "{name}: {result}");
    }
    server.stop().await;
    backend_task.abort();
}

fn switchboard() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
}

#[test]
fn vapi_assistant_prints_the_json_to_paste() {
    let output = switchboard()
        .args([
            "vapi-assistant",
            "--url",
            "https://sb.example.com",
            "--conversation",
            "customer-42",
            "--credential-id",
            "cred-1",
            "--config",
        ])
        .arg(example_path())
        .env_remove("SWITCHBOARD_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let assistant: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_valid_for_vapi(&assistant);
    let webhook = "https://sb.example.com/api/webhook/customer-42";
    assert_eq!(
        assistant["server"],
        json!({"url": webhook, "timeoutSeconds": 20, "credentialId": "cred-1"})
    );
    assert_eq!(assistant["model"]["knowledgeBase"]["server"]["url"], webhook);
    for server in [
        &assistant["voice"]["server"],
        &assistant["startSpeakingPlan"]["smartEndpointingPlan"]["server"],
        &assistant["model"]["knowledgeBase"]["server"],
    ] {
        assert_eq!(server["credentialId"], "cred-1", "{server}");
    }
    let names: Vec<&str> = assistant["model"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "caller_details",
            "lookup_order",
            "read_note",
            "recall",
            "remember",
            "summarize_call"
        ]
    );
    assert!(
        assistant["serverMessages"]
            .as_array()
            .unwrap()
            .contains(&json!("transcript")),
        "{assistant}"
    );
    assert_eq!(assistant["voice"]["voiceId"], "joe");
    // Secrets stay out of the JSON; the notes say where they go.
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        !printed.contains("change-me"),
        "an HTTP tool's header is the server's business"
    );
    assert!(stderr.contains("[auth] is off"), "{stderr}");
    assert!(stderr.contains("admin token"), "{stderr}");

    // With HMAC on and no credential id, the notes say what to create; the secret is not printed.
    let output = switchboard()
        .args([
            "vapi-assistant",
            "--url",
            "https://sb.example.com",
            "--hmac-secret",
            "s3cr3t-value",
        ])
        .env_remove("SWITCHBOARD_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("--credential-id"), "{stderr}");
    let all = format!("{}{stderr}", String::from_utf8_lossy(&output.stdout));
    assert!(!all.contains("s3cr3t-value"));
    let assistant: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        assistant["model"].get("knowledgeBase").is_none(),
        "no [knowledge] dir, no knowledge base"
    );
}

#[test]
fn vapi_assistant_refuses_what_vapi_could_not_use() {
    for (args, expected) in [
        (vec!["--url", "sb.example.com"], "not an absolute URL"),
        (vec!["--url", "ftp://sb.example.com"], "https://"),
        (vec!["--url", "https://sb.example.com/?x=1"], "query"),
        (
            vec!["--url", "https://sb.example.com", "--conversation", "a/b"],
            "--conversation",
        ),
        (
            vec!["--url", "https://sb.example.com", "--name", &"n".repeat(41)],
            "--name",
        ),
        (
            vec![
                "--url",
                "https://sb.example.com",
                "--config",
                "/nonexistent/switchboard.toml",
            ],
            "cannot read config file",
        ),
    ] {
        let output = switchboard()
            .arg("vapi-assistant")
            .args(&args)
            .env_remove("SWITCHBOARD_CONFIG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn an_http_tool_whose_parameters_vapi_would_refuse_stops_the_start() {
    let tool = |parameters: &str| {
        let text = format!("[[tools.http]]\nname = \"t\"\nurl = \"http://127.0.0.1:9/t\"\nparameters = {parameters}\n");
        Config::from_toml(&text)
            .map_err(|error| error.to_string())
            .and_then(|config| config.validate().map_err(|error| error.to_string()))
    };
    tool(r#"{ type = "object", properties = { a = { type = "integer" } } }"#).unwrap();
    for (parameters, expected) in [
        (
            r#"{ type = "string" }"#,
            "tools.http[0]: `parameters.type` must be \"object\"",
        ),
        (
            r#"{ type = "object", properties = { a = { description = "untyped" } } }"#,
            "tools.http[0]: `parameters.properties.a.type` must be one of",
        ),
        (
            r#""object""#,
            "tools.http[0]: `parameters` must be a JSON Schema object",
        ),
    ] {
        let error = tool(parameters).unwrap_err();
        assert!(error.contains(expected), "{parameters}: {error}");
    }
    let error = Config::from_toml("[[tools.http]]\nname = \"look up\"\nurl = \"http://127.0.0.1:9/t\"\n")
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("tools.http[0]: `name` \"look up\" must be 1 to 64 letters"),
        "{error}"
    );
}

#[tokio::test]
async fn calls_through_the_assistants_conversation_url_share_memory() {
    let config = Config::default();
    let tools = switchboard::tools::configured(&config.tools).unwrap();
    let options = options("https://sb.example.com", Some("customer-42"));
    let assistant = switchboard::assistant::assistant(&config, &tools, &options);
    assert_valid_for_vapi(&assistant);
    // Vapi posts to the assistant's server URL; here, the same path on the test server.
    let url = reqwest::Url::parse(assistant["server"]["url"].as_str().unwrap()).unwrap();
    assert_eq!(url.path(), "/api/webhook/customer-42");
    let server = TestServer::start(config).await;
    let remember = tool_calls(
        "call-monday",
        1,
        &[(
            "m",
            "remember",
            json!({"key": "dentist", "value": "Dr. Ortiz", "scope": "conversation"}),
        )],
    );
    let (status, answer) = server.post_json(url.path(), &remember).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        tool_result(&answer, 0),
        json!({"noted": "dentist", "scope": "conversation"})
    );
    let read = tool_calls("call-friday", 2, &[("r", "read_note", json!({"key": "dentist"}))]);
    let (_, answer) = server.post_json(url.path(), &read).await;
    assert_eq!(
        tool_result(&answer, 0),
        json!({"key": "dentist", "found": true, "value": "Dr. Ortiz"})
    );
    // A call on the plain webhook is in no conversation: the note is not there.
    let elsewhere = tool_calls("call-other", 3, &[("r2", "read_note", json!({"key": "dentist"}))]);
    let (_, answer) = server.post_json("/webhook", &elsewhere).await;
    assert_eq!(tool_result(&answer, 0)["found"], false, "{answer}");
    server.stop().await;
}

#[test]
fn vapi_assistant_piped_into_a_reader_that_leaves_early_exits_quietly() {
    let mut child = switchboard()
        .args(["vapi-assistant", "--url", "https://sb.example.com"])
        .env_remove("SWITCHBOARD_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the JSON is written (`| head -0`).
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
