//! Deserializers that accept the looser shapes real Vapi payloads use.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A `Vec` that may arrive as `null` or be absent: both mean empty.
pub(crate) fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A text field that may arrive as a string, `null`, a number, or an OpenAI content-part array
/// (`[{"type": "text", "text": "..."}]`). Anything else non-string is kept as its JSON text, so
/// nothing a caller sent is silently dropped.
pub(crate) fn text<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Array(parts)) => Some(
            parts
                .iter()
                .map(|part| match part {
                    Value::String(s) => s.as_str(),
                    other => other.get("text").and_then(Value::as_str).unwrap_or(""),
                })
                .collect::<Vec<_>>()
                .join(""),
        ),
        Some(other) => Some(other.to_string()),
    })
}

/// A list whose unreadable entries are skipped rather than failing the whole message: conversation logs are
/// read for context, and one odd entry must not cost the others (or the answer to the message carrying them).
/// `null` or an absent field read as empty; a value that is not a list is still an error.
pub(crate) fn skip_invalid<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Entry<T> {
        Valid(T),
        Invalid(serde::de::IgnoredAny),
    }
    Ok(Option::<Vec<Entry<T>>>::deserialize(deserializer)?
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| match entry {
            Entry::Valid(value) => Some(value),
            Entry::Invalid(_) => None,
        })
        .collect())
}

/// An object field that may arrive as anything: a value that is not an object of the expected shape reads as
/// absent rather than failing the whole message.
pub(crate) fn object_or_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(value @ Value::Object(_)) => serde_json::from_value(value).ok(),
        _ => None,
    })
}
