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
fn endpointing_eval_prints_both_policies() {
    let gold = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/endpointing/data/gold_set.json");
    let output = switchboard().args(["endpointing", "eval", gold]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(
        table.contains("| Switchboard |") && table.contains("| Vapi default |"),
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
