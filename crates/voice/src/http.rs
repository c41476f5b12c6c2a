//! The HTTP surface: `POST /voice` takes a Vapi `voice-request` body and answers with raw
//! PCM (200, `application/octet-stream`, chunked) or a JSON error.
//!
//! Authentication (`X-Vapi-Secret`) and the listen socket belong to the server that mounts
//! this router; this module deliberately knows neither.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::Stream;
use vapi_types::MessageBody;

use crate::VoiceService;
use crate::error::VoiceError;

/// The router serving `POST /voice`, for mounting in the main server or running alone.
pub fn router(service: VoiceService) -> Router {
    Router::new().route("/voice", post(voice)).with_state(service)
}

async fn voice(State(service): State<VoiceService>, body: Bytes) -> Response {
    match vapi_types::parse_body(&body) {
        Err(e) => VoiceError::InvalidBody(e.to_string()).into_response(),
        Ok(message) => match message.body {
            MessageBody::VoiceRequest(mut request) => {
                request.voice_id = crate::select_voice(&message.common, &request);
                service.respond(request).await
            }
            MessageBody::Unknown { type_name, .. } => VoiceError::WrongMessage(type_name).into_response(),
            other => VoiceError::WrongMessage(other.kind().as_str().to_owned()).into_response(),
        },
    }
}

/// A 200 streaming response around a stream of whole-sample PCM chunks. `origin` is
/// `miss` (rendered now), `hit` (cache) or `prompt` (recorded prompt).
pub(crate) fn pcm_response<S>(engine: &'static str, origin: &'static str, rate: u32, stream: S) -> Response
where
    S: Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
{
    let mut response = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-voice-engine", HeaderValue::from_static(engine));
    headers.insert("x-voice-cache", HeaderValue::from_static(origin));
    headers.insert("x-sample-rate", HeaderValue::from(rate));
    response
}
