//! The thin HTTP layer: [`Endpointer`] turns a parsed request into a [`Turn`] and answers with
//! [`decide`]; [`router`] serves `POST /endpointing`; [`serve`] runs it on a listener until shutdown.
//!
//! Only this module knows the wire types; the decision itself never sees JSON.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::net::TcpListener;
use vapi_types::{Common, EndpointingRequest, EndpointingResponse, MessageBody, TurnRole, conversation, parse_body};

use crate::config::clamp_timeout;
use crate::{
    Adaptation, Adapted, Decision, EndpointingConfig, EndpointingError, Language, Turn, decide_adapted, decide_in,
};

/// A cheap, cloneable handle on the endpointing decision and its validated configuration.
///
/// Whoever builds the HTTP app owns one and clones it into every router that needs it; the configuration is
/// shared behind an `Arc` and lives as long as the last clone.
#[derive(Debug, Clone)]
pub struct Endpointer {
    config: Arc<EndpointingConfig>,
}

impl Endpointer {
    /// A handle on a configuration, after [`EndpointingConfig::validate`].
    pub fn new(config: EndpointingConfig) -> Result<Self, EndpointingError> {
        config.validate()?;
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &EndpointingConfig {
        &self.config
    }

    /// The decision for a request in `language`, or `None` when it carries no user message.
    pub fn decide(&self, request: &EndpointingRequest, language: Language) -> Option<Decision> {
        let (user, assistant) = turn_texts(request)?;
        Some(decide_in(
            &Turn {
                user: &user,
                assistant: assistant.as_deref(),
            },
            language,
            &self.config,
        ))
    }

    /// The decision for a request in `language` adjusted by a call's history (see [`decide_adapted`]), with
    /// the user's turn it was made on; `None` when the request carries no user message.
    pub fn decide_adapted(
        &self,
        request: &EndpointingRequest,
        language: Language,
        adaptation: &Adaptation,
    ) -> Option<(Adapted, String)> {
        let (user, assistant) = turn_texts(request)?;
        let adapted = decide_adapted(
            &Turn {
                user: &user,
                assistant: assistant.as_deref(),
            },
            language,
            &self.config,
            adaptation,
        );
        Some((adapted, user))
    }

    /// The answer to a `call.endpointing.request` whose language is not known (read as English). See
    /// [`Endpointer::answer_in`].
    pub fn answer(&self, request: &EndpointingRequest) -> EndpointingResponse {
        self.answer_in(request, Language::English)
    }

    /// The answer to a `call.endpointing.request` in `language` (see [`request_language`]): the decided
    /// timeout, or the configured default when the request has no user message. Always within `[0, 15]`.
    pub fn answer_in(&self, request: &EndpointingRequest, language: Language) -> EndpointingResponse {
        let timeout_seconds = match self.decide(request, language) {
            Some(decision) => {
                tracing::debug!(
                    timeout = decision.timeout_seconds,
                    complete = decision.complete_probability,
                    cues = %decision.cues,
                    %language,
                    "endpointing decision"
                );
                decision.timeout_seconds
            }
            None => self.config.no_user_message_timeout_seconds,
        };
        EndpointingResponse {
            timeout_seconds: clamp_timeout(timeout_seconds),
        }
    }
}

/// The language a message's call is transcribed in: the assistant's transcriber language
/// (`message.assistant.transcriber.language`, else the call's own assistant's,
/// `message.call.assistant.transcriber.language`), English when the message does not say.
pub fn request_language(common: &Common) -> Language {
    Language::from_code(transcriber_code(common))
}

/// The transcriber language code a message states, if any (see [`request_language`]).
pub fn transcriber_code(common: &Common) -> Option<&str> {
    common.transcriber_language().or_else(|| {
        common
            .call
            .as_ref()?
            .assistant
            .as_ref()?
            .transcriber
            .as_ref()?
            .language
            .as_deref()
    })
}

/// The user's current turn (trailing user messages joined, as Vapi may split one turn into several) and the
/// assistant's text before it, from the request's conversation as `vapi_types::conversation` reads it.
fn turn_texts(request: &EndpointingRequest) -> Option<(String, Option<String>)> {
    let turns = conversation::read_lists(&request.messages, &request.messages_openai_formatted)?;
    let spoken: Vec<(TurnRole, &str)> = turns.iter().map(|turn| (turn.role, turn.text.as_str())).collect();
    last_user_turn(&spoken)
}

fn last_user_turn(turns: &[(TurnRole, &str)]) -> Option<(String, Option<String>)> {
    let has_text = |text: &str| !text.trim().is_empty();
    let last = turns
        .iter()
        .rposition(|(role, text)| *role == TurnRole::User && has_text(text))?;
    // The run of user messages ending at `last`.
    let mut first = last;
    while first > 0 && turns[first - 1].0 == TurnRole::User {
        first -= 1;
    }
    let user = turns[first..=last]
        .iter()
        .map(|(_, text)| text.trim())
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let assistant = turns[..first]
        .iter()
        .rev()
        .find(|(role, text)| *role == TurnRole::Assistant && has_text(text))
        .map(|(_, text)| (*text).to_owned());
    Some((user, assistant))
}

/// The router serving `POST /endpointing`.
pub fn router(endpointer: Endpointer) -> Router {
    Router::new()
        .route("/endpointing", post(endpointing))
        .with_state(endpointer)
}

/// Serves [`router`] on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    endpointer: Endpointer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(endpointer))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn endpointing(State(endpointer): State<Endpointer>, body: Bytes) -> Response {
    match parse_body(&body) {
        Ok(message) => match &message.body {
            MessageBody::CallEndpointingRequest(request) => json_response(
                StatusCode::OK,
                &endpointer.answer_in(request, request_language(&message.common)),
            ),
            _ => bad_request(&format!(
                "expected message type call.endpointing.request, got {}",
                message.kind().as_str()
            )),
        },
        Err(error) => bad_request(&error.to_string()),
    }
}

fn bad_request(message: &str) -> Response {
    tracing::debug!(error = message, "rejected endpointing request");
    json_response(StatusCode::BAD_REQUEST, &serde_json::json!({ "error": message }))
}

fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_joins_trailing_user_messages_and_finds_the_question() {
        let messages = [
            (TurnRole::System, "be nice"),
            (TurnRole::Assistant, "What is your phone number?"),
            (TurnRole::Assistant, ""),
            (TurnRole::User, "it's 415"),
            (TurnRole::User, " 555 "),
        ];
        let (user, assistant) = last_user_turn(&messages).unwrap();
        assert_eq!(user, "it's 415 555");
        assert_eq!(assistant.as_deref(), Some("What is your phone number?"));
    }

    #[test]
    fn no_user_text_is_no_turn() {
        let messages = [(TurnRole::Assistant, "Hi!"), (TurnRole::User, "   ")];
        assert!(last_user_turn(&messages).is_none());
        assert!(last_user_turn(&[]).is_none());
    }

    #[test]
    fn both_forms_read_alike() {
        let vapi: EndpointingRequest = serde_json::from_value(serde_json::json!({
            "messages": [{"role": "bot", "message": "Your name?"}, {"role": "user", "message": "Ana"}]
        }))
        .unwrap();
        let openai: EndpointingRequest = serde_json::from_value(serde_json::json!({
            "messagesOpenAIFormatted": [{"role": "assistant", "content": "Your name?"}, {"role": "user", "content": "Ana"}]
        }))
        .unwrap();
        let expected = Some(("Ana".to_owned(), Some("Your name?".to_owned())));
        assert_eq!(turn_texts(&vapi), expected);
        assert_eq!(turn_texts(&openai), expected);
    }
}
