//! The call's language selects the policy: Spanish has its own cues, a language without cues gets the cautious
//! policy, and English (or no language at all) the cues and the model. Checked on the decision and over HTTP,
//! where the language comes from `message.assistant.transcriber.language`.

use endpointing::{Endpointer, EndpointingConfig, Language, Turn, decide_in};
use serde_json::{Value, json};
use tokio::sync::oneshot;

fn timeout_in(language: Language, context: Option<&str>, text: &str) -> f64 {
    let turn = Turn {
        user: text,
        assistant: context,
    };
    decide_in(&turn, language, &EndpointingConfig::default()).timeout_seconds
}

#[test]
fn spanish_unfinished_turns_wait_and_finished_ones_do_not() {
    let hold = EndpointingConfig::default().wait_function().hold_seconds;
    for text in [
        "Quiero reservar una limpieza para el",
        "quiero reservar una limpieza para el",
        "Necesito cambiar mi cita porque",
        "Mi número de cuenta es el",
        "Llamo para preguntar por mi",
        "Quisiera",
        "pues eh",
    ] {
        let t = timeout_in(Language::Spanish, Some("¿En qué le puedo ayudar?"), text);
        assert!(t >= 1.0, "{text:?}: {t}");
    }
    for text in [
        "Quiero reservar una limpieza para el martes.",
        "¿Tienen citas el sábado?",
        "Sí, gracias.",
        "vale perfecto",
        "muchas gracias",
        "eso es todo",
    ] {
        let t = timeout_in(Language::Spanish, Some("¿En qué le puedo ayudar?"), text);
        assert!(t <= 0.6, "{text:?}: {t}");
    }
    for text in [
        "Un momento, por favor.",
        "déjeme ver",
        "deja de hablar",
        "Espere, no he terminado.",
    ] {
        let t = timeout_in(Language::Spanish, None, text);
        assert!(t >= hold, "{text:?}: {t}");
    }
    // A phone number read out after the question waits for the rest.
    let t = timeout_in(
        Language::Spanish,
        Some("¿Cuál es su número de teléfono?"),
        "cinco cinco cinco",
    );
    assert!(t >= 1.0, "{t}");
}

#[test]
fn the_same_spanish_turn_read_as_english_is_misjudged() {
    // Why the language matters: the English cues do not know `para el`.
    let text = "Quiero reservar una limpieza para el";
    assert!(timeout_in(Language::Spanish, None, text) > timeout_in(Language::English, None, text));
}

#[test]
fn a_language_without_cues_never_gets_a_short_timeout_without_terminal_punctuation() {
    for text in [
        "ja",
        "danke",
        "Ich möchte einen Termin",
        "Ich möchte einen Termin für",
        "merci beaucoup",
    ] {
        let t = timeout_in(Language::Other, Some("Wie kann ich helfen?"), text);
        assert!(t >= 1.0, "{text:?}: {t}");
    }
    for text in [
        "Danke.",
        "Ich möchte einen Termin am Dienstag.",
        "Haben Sie am Samstag geöffnet?",
    ] {
        let t = timeout_in(Language::Other, None, text);
        assert!(t <= 0.6, "{text:?}: {t}");
    }
    // Digits being read out wait in any language.
    assert!(timeout_in(Language::Other, None, "meine Nummer ist 0171 555") >= 2.0);
}

fn request(language: Option<&str>, user: &str) -> String {
    let mut message = json!({
        "type": "call.endpointing.request",
        "messagesOpenAIFormatted": [
            {"role": "assistant", "content": "¿En qué le puedo ayudar?"},
            {"role": "user", "content": user}
        ]
    });
    if let Some(language) = language {
        message["assistant"] = json!({"transcriber": {"provider": "deepgram", "language": language}});
    }
    json!({ "message": message }).to_string()
}

#[tokio::test]
async fn the_request_language_selects_the_policy_over_http() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let endpointer = Endpointer::new(EndpointingConfig::default()).unwrap();
    let server = tokio::spawn(endpointing::serve(listener, endpointer, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let post = |body: String| {
        let client = client.clone();
        async move {
            let response = client
                .post(format!("http://{addr}/endpointing"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            body["timeoutSeconds"].as_f64().unwrap()
        }
    };
    let unfinished = "Quiero reservar una limpieza para el";
    assert!(post(request(Some("es"), unfinished)).await >= 1.0);
    assert!(post(request(Some("es-419"), unfinished)).await >= 1.0);
    assert!(post(request(Some("es"), "Sí, gracias.")).await <= 0.6);
    // German has no cues here: cautious, long without terminal punctuation, prompt with it.
    assert!(post(request(Some("de"), "danke")).await >= 1.0);
    assert!(post(request(Some("de"), "Danke.")).await <= 0.6);
    // A language field of the wrong type is read leniently, not rejected.
    let odd = json!({"message": {"type": "call.endpointing.request",
        "assistant": {"transcriber": {"language": 42}},
        "messagesOpenAIFormatted": [{"role": "user", "content": "danke"}]}});
    assert!(post(odd.to_string()).await >= 1.0);
    // No language at all: English cues and model.
    assert!(post(request(None, "Thanks so much.")).await <= 0.6);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
