//! The `switchboard` binary's one-shot commands, run as a user would.

use std::process::Command;

fn switchboard() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
}

#[test]
fn say_renders_a_wav_file_through_the_voice_pipeline() {
    let path = std::env::temp_dir().join(format!("switchboard-say-{}.wav", std::process::id()));
    let output = switchboard()
        .args(["say", "Hello from Switchboard.", "--rate", "16000", "-o"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let wav = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(&wav[8..16], b"WAVEfmt ");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 1, "mono");
    assert_eq!(
        u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]),
        16_000,
        "the requested rate"
    );
    assert_eq!(u16::from_le_bytes([wav[34], wav[35]]), 16, "16-bit");
    // About a second of speech at 16 kHz, 16-bit.
    assert!(wav.len() > 16_000, "{} bytes", wav.len());
    assert!(String::from_utf8_lossy(&output.stdout).contains("at 16000 Hz"));
}

#[test]
fn say_without_the_piper_voice_speaks_with_espeak_and_says_so_once() {
    let dir = std::env::temp_dir().join(format!("switchboard-fallback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "[voice]\nengine = \"piper\"\n[voice.piper]\nmodel = \"/nonexistent/en_US-joe-medium.onnx\"\n",
    )
    .unwrap();
    let wav = dir.join("out.wav");
    let output = switchboard()
        .args(["say", "Hello from the fallback voice.", "--rate", "8000", "--config"])
        .arg(&config)
        .arg("-o")
        .arg(&wav)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("piper voice not installed"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("/nonexistent/en_US-joe-medium.onnx") && warnings[0].contains("scripts/install-voice"),
        "{stderr}"
    );
    // About a second and a half of espeak-ng speech at 8 kHz, 16-bit.
    assert!(std::fs::metadata(&wav).unwrap().len() > 16_000);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn endpointing_eval_prints_the_eot_bench_table_for_every_policy() {
    let gold = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/endpointing/data/gold_set.json");
    let output = switchboard().args(["endpointing", "eval", gold]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let table = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "| Switchboard (cues + model) |",
        "| Switchboard cues alone |",
        "| Vapi default |",
        "cut-offs @ 0.3 s",
        "cut-offs @ 0.6 s",
        "mean timeout, complete",
    ] {
        assert!(table.contains(expected), "{expected:?} missing in\n{table}");
    }
    // Any labelled file, in any language: a Spanish set written on the spot.
    let path = std::env::temp_dir().join(format!("switchboard-eot-es-{}.json", std::process::id()));
    std::fs::write(
        &path,
        r#"[{"text": "Quiero reservar una limpieza para el", "label": "wait"},
            {"text": "Quiero reservar una limpieza para el martes.", "label": "speak"}]"#,
    )
    .unwrap();
    let output = switchboard()
        .args(["endpointing", "eval", "--language", "es"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).ok();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(
        table.contains("| Switchboard (cues + model) | 0.0 % | 0.0 % |"),
        "{table}"
    );
}

#[test]
fn a_bad_config_file_fails_before_serving_and_names_the_key() {
    let path = std::env::temp_dir().join(format!("switchboard-bad-{}.toml", std::process::id()));
    std::fs::write(&path, "listen = \"127.0.0.1:0\"\nmax_body_bytes = \"big\"\n").unwrap();
    let output = switchboard().arg("--config").arg(&path).output().unwrap();
    std::fs::remove_file(&path).ok();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("max_body_bytes"), "{stderr}");
}

#[test]
fn a_missing_sentence_encoder_fails_before_serving_and_says_so_once() {
    let dir = std::env::temp_dir().join(format!("switchboard-encoder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("faq.md"), "# Hours\n\nWe open at nine.").unwrap();
    let path = dir.join("switchboard.toml");
    let encoder = dir.join("no-such-encoder");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\n[knowledge]\ndir = {:?}\nencoder = {:?}\n",
            dir.display().to_string(),
            encoder.display().to_string()
        ),
    )
    .unwrap();
    let output = switchboard().arg("--config").arg(&path).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches("cannot load the sentence encoder").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("config.json") && stderr.contains("scripts/install-encoder"),
        "{stderr}"
    );
}

/// A `switchboard` subcommand serving on a free loopback port, killed when dropped.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `switchboard <args> --listen 127.0.0.1:<free port>` and waits (bounded) until it accepts connections.
fn serve(args: &[&str]) -> (Served, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let child = switchboard().args(args).args(["--listen", &address]).spawn().unwrap();
    let served = Served(child);
    for _ in 0..500 {
        if std::net::TcpStream::connect(&address).is_ok() {
            return (served, format!("http://{address}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("`switchboard {}` did not listen on {address}", args.join(" "));
}

fn fixture_body(name: &str) -> serde_json::Value {
    crate::support::fixture(name)
}

#[tokio::test]
async fn the_voice_server_runs_alone() {
    let (_served, base) = serve(&["voice"]);
    let mut body = fixture_body("voice-request.json");
    body["message"]["sampleRate"] = serde_json::json!(8000);
    let response = reqwest::Client::new()
        .post(format!("{base}/voice"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let pcm = response.bytes().await.unwrap();
    assert!(pcm.len() > 8_000 && pcm.len().is_multiple_of(2), "{} bytes", pcm.len());
}

#[tokio::test]
async fn the_endpointing_server_runs_alone() {
    let (_served, base) = serve(&["endpointing", "serve"]);
    let body = fixture_body("call-endpointing-request.json");
    let response = reqwest::Client::new()
        .post(format!("{base}/endpointing"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert!(
        (0.0..=15.0).contains(&answer["timeoutSeconds"].as_f64().unwrap()),
        "{answer}"
    );
}

#[tokio::test]
async fn the_server_runs_on_its_embedded_defaults() {
    let (_served, base) = serve(&["serve"]);
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
    let hang = serde_json::json!({"message": {"type": "hang", "call": {"id": "cli"}}});
    let response = client.post(format!("{base}/webhook")).json(&hang).send().await.unwrap();
    assert_eq!(response.status(), 200);
}
