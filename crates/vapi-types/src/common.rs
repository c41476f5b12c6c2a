//! Fields present on every server message: when it was sent and which call, customer, number and assistant
//! it belongs to.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lenient;
use crate::openai::{ConversationMessage, OpenAiMessage};

/// The fields every server message may carry. All are optional on the wire.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Common {
    /// When Vapi sent the message.
    pub timestamp: Option<Timestamp>,
    /// A snapshot of the call. Vapi documents it as possibly stale (its `status` lags behind).
    pub call: Option<Call>,
    /// The customer on the other end of the call.
    pub customer: Option<Customer>,
    /// The phone number the call came in on or went out from.
    pub phone_number: Option<PhoneNumber>,
    /// The assistant active when the message was sent.
    pub assistant: Option<Assistant>,
    /// The live artifact of the call: messages so far, transcript, recordings.
    pub artifact: Option<Artifact>,
}

impl Common {
    /// The call id, from `call.id`.
    pub fn call_id(&self) -> Option<&str> {
        self.call.as_ref().and_then(|call| call.id.as_deref())
    }

    /// The call's language as the message states it: the assistant's transcriber language, if any.
    pub fn transcriber_language(&self) -> Option<&str> {
        self.assistant
            .as_ref()
            .and_then(|assistant| assistant.transcriber.as_ref())
            .and_then(|transcriber| transcriber.language.as_deref())
    }

    /// The customer, from the top-level `customer` or else `call.customer`.
    pub fn customer(&self) -> Option<&Customer> {
        self.customer
            .as_ref()
            .or_else(|| self.call.as_ref().and_then(|call| call.customer.as_ref()))
    }
}

/// A message timestamp: epoch milliseconds since 2025, an ISO-8601 string in 2024 payloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Timestamp {
    /// Milliseconds since the Unix epoch.
    Millis(f64),
    /// An ISO-8601 / RFC 3339 date-time, such as `2024-07-25T18:53:47.736Z`.
    Iso(String),
}

impl Timestamp {
    /// The timestamp as whole milliseconds since the Unix epoch, or `None` for an unreadable string.
    pub fn as_millis(&self) -> Option<i64> {
        match self {
            Timestamp::Millis(ms) if ms.is_finite() => Some(*ms as i64),
            Timestamp::Millis(_) => None,
            Timestamp::Iso(text) => iso_to_millis(text),
        }
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]` into epoch milliseconds.
fn iso_to_millis(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> { text.get(range)?.parse().ok() };
    if bytes.len() < 19 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        let scaled: String = fraction[..digits].chars().chain("000".chars()).take(3).collect();
        millis = scaled.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(rest.len().checked_sub(2)?..)?.parse().ok()?;
            sign * (hours * 60 + minutes)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm), valid for the proleptic Gregorian calendar.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

/// The call a message belongs to (Vapi's `Call`, the fields Switchboard reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// The call id: the key of everything Switchboard keeps about a call.
    pub id: Option<String>,
    /// The organization that owns the call.
    pub org_id: Option<String>,
    /// `inboundPhoneCall`, `outboundPhoneCall`, `webCall` or `vapi.websocketCall`.
    #[serde(rename = "type")]
    pub call_type: Option<String>,
    /// The call status at snapshot time (may be stale).
    pub status: Option<String>,
    /// Why the call ended, once it has.
    pub ended_reason: Option<String>,
    /// When the call record was created.
    pub created_at: Option<String>,
    /// When the call started.
    pub started_at: Option<String>,
    /// When the call ended.
    pub ended_at: Option<String>,
    /// The phone number id the call uses.
    pub phone_number_id: Option<String>,
    /// The assistant id, when the call uses a saved assistant.
    pub assistant_id: Option<String>,
    /// The squad id, when the call uses a squad.
    pub squad_id: Option<String>,
    /// The telephony provider's id for the call (e.g. a Twilio CallSid).
    pub phone_call_provider_id: Option<String>,
    /// The customer, as the call records it.
    pub customer: Option<Customer>,
    /// The call's own assistant, when it was created with one inline (transient assistants).
    pub assistant: Option<Assistant>,
    /// `twilio`, `vonage`, `vapi` or `telnyx`.
    pub phone_call_provider: Option<String>,
    /// The transport's own ids (`{"provider": "vapi.sip", "callSid", "sbcCallSid"}`, Twilio's `callSid`, ...),
    /// passed through unread.
    pub transport: Option<Value>,
    /// The live call's URLs ([`Monitor`]). Anything but an object reads as absent.
    #[serde(default, deserialize_with = "lenient::object_or_none")]
    pub monitor: Option<Monitor>,
}

/// `call.monitor`: the URLs of Vapi's Live Call Control and Call Listen for one live call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Monitor {
    /// The WebSocket streaming the call's audio.
    #[serde(default, deserialize_with = "lenient::text")]
    pub listen_url: Option<String>,
    /// Where control messages ([`crate::control::ControlMessage`]) are POSTed during the call.
    #[serde(default, deserialize_with = "lenient::text")]
    pub control_url: Option<String>,
}

/// The customer on a call (Vapi's `CreateCustomerDTO`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// The customer's number in E.164 form.
    pub number: Option<String>,
    /// The customer's SIP URI, for SIP calls.
    pub sip_uri: Option<String>,
    /// The customer's name, when known.
    pub name: Option<String>,
    /// The customer's email, when known.
    pub email: Option<String>,
    /// An id in the customer's own systems.
    pub external_id: Option<String>,
    /// A phone extension.
    pub extension: Option<String>,
}

/// The phone number of a call (the stored entity as Vapi sends it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumber {
    /// The phone number's id.
    pub id: Option<String>,
    /// The number in E.164 form.
    pub number: Option<String>,
    /// A label given to the number.
    pub name: Option<String>,
    /// `twilio`, `vonage`, `vapi`, `telnyx` or `byo-phone-number`.
    pub provider: Option<String>,
    /// The assistant the number is bound to, if any.
    pub assistant_id: Option<String>,
    /// The squad the number is bound to, if any.
    pub squad_id: Option<String>,
}

/// The assistant active on a call (the fields Switchboard reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assistant {
    /// The assistant id, for saved assistants.
    pub id: Option<String>,
    /// The assistant's name.
    pub name: Option<String>,
    /// The assistant's voice settings.
    pub voice: Option<AssistantVoice>,
    /// The assistant's transcriber settings.
    pub transcriber: Option<AssistantTranscriber>,
}

/// An assistant's transcriber settings (the fields Switchboard reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssistantTranscriber {
    /// The transcription provider (`deepgram`, `assembly-ai`, `gladia`...).
    pub provider: Option<String>,
    /// The language the transcriber listens for (`en`, `es`, `es-419`, `multi`...).
    #[serde(default, deserialize_with = "lenient::text")]
    pub language: Option<String>,
}

/// An assistant's voice settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssistantVoice {
    /// The voice provider, `custom-voice` for a custom voice server.
    pub provider: Option<String>,
    /// The provider's voice id.
    pub voice_id: Option<String>,
}

/// A call's artifact: the conversation so far and, at the end, the transcript and recordings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// The conversation log in Vapi's own form.
    #[serde(default, deserialize_with = "lenient::skip_invalid")]
    pub messages: Vec<ConversationMessage>,
    /// The conversation in OpenAI chat form.
    #[serde(
        rename = "messagesOpenAIFormatted",
        default,
        deserialize_with = "lenient::skip_invalid"
    )]
    pub messages_openai_formatted: Vec<OpenAiMessage>,
    /// The plain-text transcript (`AI: ...\nUser: ...\n`).
    #[serde(default, deserialize_with = "lenient::text")]
    pub transcript: Option<String>,
    /// The mono recording's URL.
    pub recording_url: Option<String>,
    /// The stereo recording's URL.
    pub stereo_recording_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_timestamps_read_as_epoch_millis() {
        let check = |text: &str, expected: Option<i64>| {
            assert_eq!(Timestamp::Iso(text.into()).as_millis(), expected, "{text}");
        };
        check("1970-01-01T00:00:00Z", Some(0));
        check("2024-07-25T18:53:47.736Z", Some(1_721_933_627_736));
        check("2024-07-25T20:53:47.736+02:00", Some(1_721_933_627_736));
        check("2024-07-25T18:53:47.7Z", Some(1_721_933_627_700));
        check("2000-02-29T00:00:00Z", Some(951_782_400_000));
        check("yesterday", None);
        check("2024-13-01T00:00:00Z", None);
        check("2024-07-25T18:53:47.736Zjunk", None);
        assert_eq!(
            Timestamp::Millis(1_749_546_420_647.0).as_millis(),
            Some(1_749_546_420_647)
        );
    }
}
