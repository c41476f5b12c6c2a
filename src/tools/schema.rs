//! Tool definitions: what a model is told about a tool (name, description, the JSON Schema of its arguments),
//! and the schema of a typed tool's arguments derived from its Rust type.
//!
//! Vapi passes a function tool's `parameters` to the model and checks them against its own `JsonSchema`
//! definition: every property has a single `type` (`string`, `number`, `integer`, `boolean`, `array` or
//! `object`), `enum` lists strings, and `format` is one of a few names. [`parameters_of`] derives the schema
//! with `schemars` from the same type serde reads the arguments into, so the two cannot drift, and then keeps
//! it within that subset.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// What a model is told about one tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDefinition {
    /// The function name the model calls.
    pub name: String,
    /// What the tool does and when to call it.
    pub description: String,
    /// The JSON Schema of the arguments: an object schema.
    pub parameters: Value,
    /// Whether the call is acknowledged at once and its result follows later.
    #[serde(rename = "async")]
    pub is_async: bool,
}

/// Formats Vapi accepts for a string property.
const FORMATS: [&str; 9] = [
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

/// Whether a model can call a function of this name: 1 to 64 ASCII letters, digits, `_` or `-` (OpenAI's rule,
/// which Vapi's `OpenAIFunction.name` repeats).
pub fn callable_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The schema of a tool without a declared one: an object whose properties the model chooses.
pub fn open_object() -> Value {
    json!({ "type": "object", "properties": {} })
}

/// The JSON Schema of `A` as tool parameters: an object schema, subschemas inlined, within what Vapi accepts.
///
/// Doc comments on the fields become the properties' descriptions. A field of any JSON value
/// (`serde_json::Value`) is described to the model as a string, the one type every model can produce.
pub fn parameters_of<A: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft07()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.meta_schema = None;
        })
        .into_generator();
    let schema = generator.into_root_schema_for::<A>();
    let mut value = schema.to_value();
    if let Value::Object(root) = &mut value {
        // The tool's description says what it is for; the type's own doc comment is not for the model.
        root.remove("description");
        root.remove("title");
        root.remove("$schema");
        root.remove("definitions");
        root.remove("$defs");
    }
    let mut parameters = within_vapi(value);
    if let Value::Object(root) = &mut parameters {
        root.insert("type".into(), json!("object"));
        root.entry("properties").or_insert_with(|| json!({}));
    }
    parameters
}

/// Rewrites a schema into the subset Vapi's `JsonSchema` accepts (see the module docs).
fn within_vapi(schema: Value) -> Value {
    let Value::Object(mut object) = schema else {
        // `true` (any value) and anything else without a type.
        return json!({ "type": "string" });
    };
    // `"type": ["string", "null"]` and the like: the first non-null type.
    if let Some(Value::Array(types)) = object.get("type") {
        let first = types
            .iter()
            .find(|kind| kind.as_str() != Some("null"))
            .cloned()
            .unwrap_or(json!("string"));
        object.insert("type".into(), first);
    }
    // An optional field is simply not required: `null` is not in Vapi's vocabulary, so `anyOf: [X, null]`
    // becomes X.
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(variants)) = object.get_mut(key) {
            variants.retain(|variant| variant.get("type").and_then(Value::as_str) != Some("null"));
            if let [Value::Object(only)] = variants.as_slice() {
                let only = only.clone();
                object.remove(key);
                for (field, value) in only {
                    object.entry(field).or_insert(value);
                }
            }
        }
    }
    // Unit enums with documented variants come as `oneOf` of constants: one string enum.
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(variants)) = object.get(key)
            && let Some(values) = variants
                .iter()
                .map(|variant| variant.get("const").or_else(|| variant.get("enum")?.get(0)).cloned())
                .collect::<Option<Vec<Value>>>()
        {
            object.remove(key);
            object.insert("type".into(), json!("string"));
            object.insert("enum".into(), Value::Array(values));
        }
    }
    // Doc comments keep their line breaks; the model reads paragraphs.
    if let Some(Value::String(description)) = object.get_mut("description") {
        *description = description
            .split("\n\n")
            .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n\n");
    }
    if let Some(constant) = object.remove("const") {
        object.insert("enum".into(), json!([constant]));
    }
    if let Some(Value::Array(values)) = object.get_mut("enum") {
        // An optional enum lists `null` among its values: leaving the field out says the same.
        values.retain(|value| !value.is_null());
        for value in values.iter_mut() {
            if !value.is_string() {
                *value = Value::String(value.to_string());
            }
        }
        object.entry("type").or_insert_with(|| json!("string"));
    }
    if object
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|format| !FORMATS.contains(&format))
    {
        object.remove("format");
    }
    if let Some(Value::Object(properties)) = object.remove("properties") {
        let properties: Map<String, Value> = properties
            .into_iter()
            .map(|(name, schema)| (name, within_vapi(schema)))
            .collect();
        object.insert("properties".into(), Value::Object(properties));
        object.entry("type").or_insert_with(|| json!("object"));
    }
    if let Some(items) = object.remove("items") {
        object.insert("items".into(), within_vapi(items));
        object.entry("type").or_insert_with(|| json!("array"));
    }
    // Refinements the model does not need and Vapi's subset does not name.
    for key in ["title", "default", "examples", "additionalProperties", "$ref"] {
        object.remove(key);
    }
    if !object.contains_key("type") {
        object.insert("type".into(), json!("string"));
    }
    Value::Object(object)
}

/// Checks that a declared parameters schema is one Vapi accepts: an object schema whose properties (and
/// nested properties and items) each have one of Vapi's types. The error names the offending key.
pub fn check_parameters(parameters: &Value) -> Result<(), String> {
    let Some(object) = parameters.as_object() else {
        return Err("`parameters` must be a JSON Schema object".into());
    };
    if object.get("type").and_then(Value::as_str) != Some("object") {
        return Err("`parameters.type` must be \"object\"".into());
    }
    check_properties(object, "parameters")
}

fn check_properties(object: &Map<String, Value>, at: &str) -> Result<(), String> {
    const TYPES: [&str; 6] = ["string", "number", "integer", "boolean", "array", "object"];
    if let Some(properties) = object.get("properties") {
        let Some(properties) = properties.as_object() else {
            return Err(format!("`{at}.properties` must be a table"));
        };
        for (name, schema) in properties {
            let at = format!("{at}.properties.{name}");
            let Some(schema) = schema.as_object() else {
                return Err(format!("`{at}` must be a table"));
            };
            match schema.get("type").and_then(Value::as_str) {
                Some(kind) if TYPES.contains(&kind) => {}
                _ => return Err(format!("`{at}.type` must be one of {}", TYPES.join(", "))),
            }
            check_properties(schema, &at)?;
        }
    }
    if let Some(items) = object.get("items") {
        let Some(items) = items.as_object() else {
            return Err(format!("`{at}.items` must be a table"));
        };
        check_properties(items, &format!("{at}.items"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    enum Scope {
        /// Only this call.
        #[serde(rename = "call")]
        Call,
        /// Every call.
        #[serde(rename = "conversation")]
        Conversation,
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Plain {
        Yes,
        No,
    }

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Args {
        /// The order number.
        order: Option<String>,
        /// How many.
        count: u32,
        /// Anything.
        value: Value,
        scope: Option<Scope>,
        plain: Option<Plain>,
        tags: Vec<String>,
    }

    #[test]
    fn typed_arguments_become_vapi_parameters() {
        let parameters = parameters_of::<Args>();
        assert_eq!(
            parameters,
            json!({
                "type": "object",
                "properties": {
                    "order": {"type": "string", "description": "The order number."},
                    "count": {"type": "integer", "description": "How many.", "minimum": 0},
                    "value": {"type": "string", "description": "Anything."},
                    "scope": {"type": "string", "enum": ["call", "conversation"]},
                    "plain": {"type": "string", "enum": ["yes", "no"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["count", "value", "tags"],
            })
        );
        check_parameters(&parameters).unwrap();
    }

    #[test]
    fn callable_names() {
        assert!(callable_name("lookup_order-2"));
        assert!(!callable_name(""));
        assert!(!callable_name("lookup order"));
        assert!(!callable_name("lookup.order"));
        assert!(!callable_name(&"a".repeat(65)));
    }

    #[test]
    fn declared_parameters_are_checked() {
        check_parameters(&open_object()).unwrap();
        assert!(check_parameters(&json!([])).is_err());
        assert!(check_parameters(&json!({"type": "string"})).is_err());
        let error =
            check_parameters(&json!({"type": "object", "properties": {"a": {"description": "x"}}})).unwrap_err();
        assert!(error.contains("parameters.properties.a.type"), "{error}");
        let error = check_parameters(&json!({"type": "object", "properties": {
            "a": {"type": "array", "items": {"type": "object", "properties": {"b": {"type": "date"}}}}}}))
        .unwrap_err();
        assert!(
            error.contains("parameters.properties.a.items.properties.b.type"),
            "{error}"
        );
    }
}
