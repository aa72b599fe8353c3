//! Request bodies, path and query parameters checked against the OpenAPI document the server
//! serves, with the `jsonschema` crate, so that what the document says is what is accepted, and
//! a refusal names the field.
//!
//! poem-openapi alone takes a JSON number or boolean where a string is expected and makes it a
//! string (`{"name": 42}` created a system named "42"), ignores fields it does not know, and
//! names the type rather than the field when one is missing. Here a body is refused with 400
//! `bad_request` when it is not what its schema says, e.g. `"name": expected a string`,
//! `"members[0]": expected an id (a UUID)`, `"nmae": unknown field`, `"name": missing`. Optional
//! fields may be `null` (that clears a field on PUT), and a required one only where its schema is
//! nullable; lengths, patterns, ranges and sizes are checked too (`"name": expected text that is
//! not blank`, `"password": expected from 10 to 1024 characters`), so poem-openapi's validators,
//! which say the same with less care, never see a body that breaks them. The rules the document
//! cannot state are the handlers' (422, see README). The middleware that applies it to each
//! request is [`super::body::check_bodies`]; [`super::routes`] compiles a [`Schema`] per body
//! and parameter when the router is built.
//!
//! The document is OpenAPI 3.0, whose `nullable` JSON Schema does not have: the validators read
//! a copy where a nullable schema is "`null`, or else the schema" (`if`/`else`, so that what is
//! refused inside it is refused as itself). Every validator is a `$ref` into that copy, so each
//! error's keyword location is a place in the document: a refusal reads the rest of what the
//! schema says there (both bounds of a length, whether a field is required).

use std::sync::Arc;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, JsonType, PatternOptions, Registry, ValidationError, Validator};
use serde_json::{Value, json};

use super::document::NO_NUL;

/// The name the document is registered under; every [`Schema`] refers into it.
const DOCUMENT: &str = "urn:didhub:openapi";

/// The document's schemas, ready to be compiled one by one.
pub(super) struct Schemas {
    /// The document as JSON Schema reads it (see the module's documentation).
    document: Arc<Value>,
    registry: Registry<'static>,
}

/// One schema of the document, compiled.
#[derive(Debug, Clone)]
pub(super) struct Schema {
    validator: Validator,
    document: Arc<Value>,
}

impl Schemas {
    /// The schemas of `document`, an OpenAPI 3.0 document.
    pub(super) fn new(document: &Value) -> Schemas {
        let mut document = document.clone();
        nullable_as_json_schema(&mut document);
        let document = Arc::new(document);
        let registry = Registry::new()
            .draft(Draft::Draft202012)
            .add(DOCUMENT, Arc::clone(&document))
            .and_then(|registry| registry.prepare())
            .unwrap_or_else(|e| panic!("document: not a JSON Schema resource: {e}"));
        Schemas { document, registry }
    }

    /// The schema at `pointer` (a JSON pointer into the document), compiled. The document is
    /// the server's own, so a schema that does not compile stops the server at start.
    pub(super) fn compile(&self, pointer: &str) -> Schema {
        let reference = json!({"$ref": format!("{DOCUMENT}#{}", fragment(pointer))});
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&self.registry)
            .with_pattern_options(PatternOptions::regex())
            .should_validate_formats(true)
            // The formats as the handlers parse them, so the check refuses no value a handler
            // would take: an id with or without hyphens, braced or a URN (`Uuid::parse_str`); an
            // instant with a year beyond RFC 3339's four digits (chrono's `FromStr`), which the
            // audit log's bounds take as the ends of the range.
            .with_format("uuid", |text| uuid::Uuid::parse_str(text).is_ok())
            .with_format("date-time", |text| {
                text.parse::<chrono::DateTime<chrono::Utc>>().is_ok()
            })
            .build(&reference)
            .unwrap_or_else(|e| panic!("document: the schema at {pointer} does not compile: {e}"));
        Schema {
            validator,
            document: Arc::clone(&self.document),
        }
    }
}

impl Schema {
    /// Whether `value` is what the schema says; the refusal names where (`at` names the value
    /// itself: a parameter's name, or nothing for a body) and what was expected.
    pub(super) fn check(&self, value: &Value, at: &str) -> Result<(), String> {
        if self.validator.is_valid(value) {
            return Ok(());
        }
        // A missing field first, as a reader fills a form; then the first error found.
        let error = self
            .validator
            .iter_errors(value)
            .min_by_key(|e| !matches!(e.kind(), ValidationErrorKind::Required { .. }));
        Err(match error {
            Some(error) => refusal(&error, value, at, &self.document),
            None => refused(at, "expected what the document describes"),
        })
    }
}

/// `error` in words: where in `value` (whose own name is `at`) and what was expected there.
fn refusal(error: &ValidationError, value: &Value, at: &str, document: &Value) -> String {
    let mut place = place(at, value, error.instance_path().as_str());
    let kind = error.kind();
    // The schema the broken keyword belongs to, for what else it says.
    let schema = keyword_schema(error, document).unwrap_or(&Value::Null);
    let bounds = |min: &str, max: &str| bounds(&schema[min], &schema[max]);
    let expected = match kind {
        ValidationErrorKind::Required { property } => {
            push_field(&mut place, property.as_str().unwrap_or_default());
            return refused(&place, "missing");
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            push_field(&mut place, unexpected.first().map_or("", String::as_str));
            return refused(&place, "unknown field");
        }
        ValidationErrorKind::Type { .. }
            if error.instance().is_null() && required(error, document) =>
        {
            return refused(&place, "missing");
        }
        ValidationErrorKind::Type { kind } => match kind {
            TypeKind::Single(kind) => what(*kind).to_owned(),
            TypeKind::Multiple(kinds) => listed(kinds.iter().map(what)),
        },
        ValidationErrorKind::AnyOf { context } => {
            // Of one branch's type but against a rule of it: that rule is what to say.
            let broken = context.iter().find(|branch| mismatch(branch).is_none());
            if let Some(error) = broken.and_then(|branch| branch.first()) {
                return refusal(error, value, at, document);
            }
            listed(
                context
                    .iter()
                    .filter_map(|branch| mismatch(branch))
                    .map(what),
            )
        }
        ValidationErrorKind::Enum { options } => {
            let names: Vec<String> = options
                .as_array()
                .into_iter()
                .flatten()
                .map(Value::to_string)
                .collect();
            format!("one of {}", names.join(", "))
        }
        ValidationErrorKind::Format { format } => match format.as_str() {
            "uuid" => "an id (a UUID)".to_owned(),
            "date-time" => "a date and time (RFC 3339)".to_owned(),
            other => format!("text in the format {other}"),
        },
        ValidationErrorKind::MinLength { .. } | ValidationErrorKind::MaxLength { .. } => {
            format!("{} characters", bounds("minLength", "maxLength"))
        }
        ValidationErrorKind::Minimum { .. } | ValidationErrorKind::Maximum { .. } => {
            let number = match schema["type"].as_str() {
                Some("integer") => what(JsonType::Integer),
                _ => what(JsonType::Number),
            };
            format!("{number} {}", bounds("minimum", "maximum"))
        }
        ValidationErrorKind::MinItems { .. } | ValidationErrorKind::MaxItems { .. } => {
            format!("{} items", bounds("minItems", "maxItems"))
        }
        ValidationErrorKind::MinProperties { limit: 1 } => "at least one field".to_owned(),
        ValidationErrorKind::MinProperties { .. } | ValidationErrorKind::MaxProperties { .. } => {
            format!("{} fields", bounds("minProperties", "maxProperties"))
        }
        ValidationErrorKind::Pattern { pattern } => described(pattern).to_owned(),
        other => format!("what the document's `{}` says", other.keyword()),
    };
    refused(&place, &format!("expected {expected}"))
}

/// The JSON type a branch of `anyOf` expected where the value is of another (`branch`: the
/// errors of that branch); `None` when the value is of its type but breaks another of its rules.
fn mismatch(branch: &[ValidationError]) -> Option<JsonType> {
    branch.iter().find_map(|error| match error.kind() {
        ValidationErrorKind::Type {
            kind: TypeKind::Single(kind),
        } => Some(*kind),
        _ => None,
    })
}

/// Whether a `type` error is that of a field its object requires, given as `null`: the keyword
/// is then at `…/properties/NAME/type` and that object's `required` names it.
fn required(error: &ValidationError, document: &Value) -> bool {
    let Some(pointer) = keyword_pointer(error) else {
        return false;
    };
    let field = pointer
        .strip_suffix("/type")
        .and_then(|p| p.rsplit_once('/'));
    let Some((object, name)) =
        field.and_then(|(p, name)| Some((p.strip_suffix("/properties")?, name)))
    else {
        return false;
    };
    let name = unescape(name);
    document
        .pointer(object)
        .and_then(|object| object["required"].as_array())
        .is_some_and(|required| required.iter().any(|r| r.as_str() == Some(&name)))
}

/// The schema holding the keyword `error` broke, in the document.
fn keyword_schema<'d>(error: &ValidationError, document: &'d Value) -> Option<&'d Value> {
    let pointer = keyword_pointer(error)?;
    document.pointer(pointer.rsplit_once('/')?.0)
}

/// Where in the document the keyword `error` broke is, as a JSON pointer.
fn keyword_pointer(error: &ValidationError) -> Option<String> {
    let fragment = error.absolute_keyword_location()?.fragment()?;
    Some(fragment.decode().to_string_lossy().into_owned())
}

/// `pointer` as a URI fragment: what a fragment may not hold (`{id}` in a path), escaped.
fn fragment(pointer: &str) -> String {
    let mut escaped = String::with_capacity(pointer.len());
    for byte in pointer.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&byte) {
            escaped.push(byte as char);
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

/// A segment of a JSON pointer, unescaped (RFC 6901).
fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Where `pointer` (an instance location) is in `value`, as a refusal names it: `at` for the
/// value itself, then `.field` and `[index]` (`members[0]`, `owner.id`).
fn place(at: &str, value: &Value, pointer: &str) -> String {
    let mut place = at.to_owned();
    let mut value = Some(value);
    for segment in pointer.split('/').skip(1) {
        let segment = unescape(segment);
        match value {
            Some(Value::Array(items)) => {
                place.push_str(&format!("[{segment}]"));
                value = segment.parse().ok().and_then(|i: usize| items.get(i));
            }
            _ => {
                push_field(&mut place, &segment);
                value = value.and_then(|v| v.get(&segment));
            }
        }
    }
    place
}

/// Adds the field `name` to `place`, quoted as a refusal quotes a client's bytes: without
/// control characters (the message goes into the log line) and at most [`QUOTED`] characters.
fn push_field(place: &mut String, name: &str) {
    if !place.is_empty() {
        place.push('.');
    }
    let mut quoted: String = name.chars().take(QUOTED).collect();
    if name.chars().nth(QUOTED).is_some() {
        quoted.push('…');
    }
    place.push_str(&crate::error::without_controls(&quoted));
}

/// How much of a field's name a refusal quotes.
const QUOTED: usize = 64;

/// A refusal of what is at `place` (the body itself when it is empty).
fn refused(place: &str, why: &str) -> String {
    if place.is_empty() {
        format!("the body: {why}")
    } else {
        format!("\"{place}\": {why}")
    }
}

/// The bounds a schema sets (either may be absent), in words: "at least 3", "at most 200",
/// "from 1 to 200".
fn bounds(min: &Value, max: &Value) -> String {
    match (min.as_f64(), max.as_f64()) {
        (Some(min), Some(max)) => format!("from {min} to {max}"),
        (Some(min), None) => format!("at least {min}"),
        (None, Some(max)) => format!("at most {max}"),
        (None, None) => "within the documented bounds".to_owned(),
    }
}

/// A pattern of the document in words, for the ones the server uses.
fn described(pattern: &str) -> &str {
    match pattern {
        p if p == crate::fields::NOT_BLANK => "text that is not blank",
        p if p == crate::accounts::USERNAME_PATTERN => "3 to 32 letters, digits, '_', '-' or '.'",
        NO_NUL => "text without NUL characters",
        other => other,
    }
}

/// What a value of JSON type `kind` is called in a refusal.
fn what(kind: JsonType) -> &'static str {
    match kind {
        JsonType::String => "a string",
        JsonType::Integer => "an integer",
        JsonType::Number => "a number",
        JsonType::Boolean => "true or false",
        JsonType::Array => "an array",
        JsonType::Object => "an object",
        JsonType::Null => "null",
    }
}

/// Kinds listed: "a string, a number, true or false".
fn listed<'a>(kinds: impl Iterator<Item = &'a str>) -> String {
    kinds.collect::<Vec<_>>().join(", ")
}

/// The document as JSON Schema 2020-12 reads it: OpenAPI 3.0's `nullable: true` becomes
/// `{"if": {"type": "null"}, "else": SCHEMA}`. A key named `nullable` among a schema's
/// `properties` holds a schema, never `true`, so it is left alone.
fn nullable_as_json_schema(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.values_mut().for_each(nullable_as_json_schema);
            if object.get("nullable") == Some(&Value::Bool(true)) {
                object.remove("nullable");
                let schema = Value::Object(std::mem::take(object));
                *value = json!({"if": {"type": "null"}, "else": schema});
            }
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_as_json_schema),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document as `document::exact` leaves it: optional fields nullable, objects closed.
    fn schemas() -> Schemas {
        Schemas::new(&json!({"components": {"schemas": {
            "NewAlter": {
                "type": "object",
                "required": ["name", "system_id"],
                "additionalProperties": false,
                "properties": {
                    "name": {"type": "string", "maxLength": 200, "pattern": crate::fields::NOT_BLANK},
                    "system_id": {"type": "string", "format": "uuid"},
                    "age": {"type": "integer", "nullable": true, "minimum": 0, "maximum": 200},
                    "is_host": {"type": "boolean"},
                    "kind": {"type": "string", "enum": ["partner", "sibling"], "nullable": true},
                    "interests": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                    "owner": {"allOf": [{"$ref": "#/components/schemas/Owner"}], "nullable": true},
                    "password": {"type": "string", "minLength": 10, "maxLength": 1024}
                }
            },
            "Owner": {"type": "object", "additionalProperties": false,
                "properties": {"id": {"type": "string", "format": "uuid"}}},
            "Setting": {"type": "object", "required": ["value"], "additionalProperties": false,
                "properties": {"value": {"anyOf": [
                    {"type": "string", "nullable": true, "pattern": NO_NUL},
                    {"type": "number"}, {"type": "boolean"}
                ]}}},
            "Changes": {"type": "object", "minProperties": 1, "additionalProperties": false,
                "properties": {"limit": {"type": "integer", "minimum": 1}}},
            "Free": {"type": "object", "additionalProperties": {}},
            "Numbers": {"type": "object", "additionalProperties": {"type": "integer"}},
            "Id": {"type": "string", "format": "uuid"},
            "Instant": {"type": "string", "format": "date-time"}
        }}}))
    }

    fn refusal(name: &str, value: Value) -> Option<String> {
        let schema = schemas().compile(&format!("/components/schemas/{name}"));
        schema.check(&value, "").err()
    }

    const ID: &str = "01a23ab1-5f98-7315-b855-b858a507611e";

    #[test]
    fn a_body_as_documented_passes_optional_fields_may_be_null() {
        assert_eq!(
            refusal("NewAlter", json!({"name": "Ash", "system_id": ID})),
            None
        );
        let full = json!({"name": "Ash", "system_id": ID, "age": null, "kind": "partner",
            "interests": ["tea"], "owner": {"id": ID}, "is_host": true});
        assert_eq!(refusal("NewAlter", full), None);
        let cleared = json!({"name": "Ash", "system_id": ID, "kind": null, "owner": null});
        assert_eq!(refusal("NewAlter", cleared), None);
        // An id as poem-openapi parses it, hyphens or not.
        let simple = ID.replace('-', "");
        assert_eq!(
            refusal("NewAlter", json!({"name": "A", "system_id": simple})),
            None
        );
    }

    #[test]
    fn each_refusal_names_the_field_and_what_was_expected() {
        let cases = [
            (
                json!({"name": 42, "system_id": ID}),
                "\"name\": expected a string",
            ),
            (
                json!({"name": true, "system_id": ID}),
                "\"name\": expected a string",
            ),
            (json!({"system_id": ID}), "\"name\": missing"),
            (json!({"name": null, "system_id": ID}), "\"name\": missing"),
            (json!({"name": "A", "nmae": "B"}), "\"system_id\": missing"),
            (
                json!({"name": "A", "system_id": "x"}),
                "\"system_id\": expected an id (a UUID)",
            ),
            (
                json!({"name": "A", "system_id": ID, "age": "3"}),
                "\"age\": expected an integer",
            ),
            (
                json!({"name": "A", "system_id": ID, "age": 1.5}),
                "\"age\": expected an integer",
            ),
            (
                json!({"name": "A", "system_id": ID, "is_host": 1}),
                "\"is_host\": expected true or false",
            ),
            (
                json!({"name": "A", "system_id": ID, "kind": "rival"}),
                "\"kind\": expected one of \"partner\", \"sibling\"",
            ),
            (
                json!({"name": "A", "system_id": ID, "interests": ["a", 2]}),
                "\"interests[1]\": expected a string",
            ),
            (
                json!({"name": "A", "system_id": ID, "owner": {"id": 7}}),
                "\"owner.id\": expected a string",
            ),
            (
                json!({"name": "A", "system_id": ID, "owner": {"nope": 1}}),
                "\"owner.nope\": unknown field",
            ),
            (
                json!({"name": "A", "system_id": ID, "nmae": "B"}),
                "\"nmae\": unknown field",
            ),
            (json!([1]), "the body: expected an object"),
            // What the document bounds, bounded; null only where it is nullable.
            (
                json!({"name": " \u{3000}", "system_id": ID}),
                "\"name\": expected text that is not blank",
            ),
            (
                json!({"name": "x".repeat(201), "system_id": ID}),
                "\"name\": expected at most 200 characters",
            ),
            (
                json!({"name": "A", "system_id": ID, "password": "short"}),
                "\"password\": expected from 10 to 1024 characters",
            ),
            (
                json!({"name": "A", "system_id": ID, "age": 201}),
                "\"age\": expected an integer from 0 to 200",
            ),
            (
                json!({"name": "A", "system_id": ID, "interests": ["a", "b", "c"]}),
                "\"interests\": expected at most 2 items",
            ),
            (
                json!({"name": "A", "system_id": ID, "is_host": null}),
                "\"is_host\": expected true or false",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                refusal("NewAlter", body.clone()).as_deref(),
                Some(expected),
                "{body}"
            );
        }
    }

    #[test]
    fn a_long_unknown_name_is_quoted_in_part_and_without_controls() {
        let long = "x".repeat(300);
        let message = refusal("NewAlter", json!({"name": "A", "system_id": ID, long: 1}));
        let expected = format!("\"{}…\": unknown field", "x".repeat(QUOTED));
        assert_eq!(message, Some(expected));
        let message = refusal(
            "NewAlter",
            json!({"name": "A", "system_id": ID, "a\nb/c~d": 1}),
        );
        assert_eq!(message.as_deref(), Some("\"a\\u{a}b/c~d\": unknown field"));
    }

    #[test]
    fn a_scalar_is_one_of_its_kinds_and_null_only_where_it_is_nullable() {
        for ok in [json!("x"), json!(3), json!(true), Value::Null] {
            assert_eq!(refusal("Setting", json!({ "value": ok })), None);
        }
        assert_eq!(
            refusal("Setting", json!({"value": {"a": 1}})).as_deref(),
            Some("\"value\": expected a string, a number, true or false")
        );
        assert_eq!(
            refusal("Setting", json!({})).as_deref(),
            Some("\"value\": missing")
        );
        // Of one of its kinds but against that kind's rule: the rule is named.
        assert_eq!(
            refusal("Setting", json!({"value": "a\u{0}b"})).as_deref(),
            Some("\"value\": expected text without NUL characters")
        );
    }

    #[test]
    fn an_object_of_changes_needs_one_and_free_form_objects_take_any_field() {
        assert_eq!(
            refusal("Changes", json!({})).as_deref(),
            Some("the body: expected at least one field")
        );
        assert_eq!(
            refusal("Changes", json!({"limit": 0})).as_deref(),
            Some("\"limit\": expected an integer at least 1")
        );
        assert_eq!(refusal("Free", json!({"x": 1, "y": [true]})), None);
        assert_eq!(
            refusal("Numbers", json!({"x": "1"})).as_deref(),
            Some("\"x\": expected an integer")
        );
    }

    #[test]
    fn a_parameter_is_named_by_its_name() {
        let id = schemas().compile("/components/schemas/Id");
        assert_eq!(
            id.check(&json!("x"), "id"),
            Err("\"id\": expected an id (a UUID)".to_owned())
        );
        assert_eq!(id.check(&json!(ID), "id"), Ok(()));
    }

    #[test]
    fn an_instant_is_what_chrono_parses_years_beyond_four_digits_too() {
        let instant = schemas().compile("/components/schemas/Instant");
        for ok in [
            "2024-02-29T12:00:00Z",
            "+262142-12-31T23:59:59Z",
            "-262143-01-01T00:00:00Z",
        ] {
            assert_eq!(instant.check(&json!(ok), "before"), Ok(()), "{ok}");
        }
        assert_eq!(
            instant.check(&json!("yesterday"), "before"),
            Err("\"before\": expected a date and time (RFC 3339)".to_owned())
        );
    }

    #[test]
    fn a_pointer_with_braces_and_slashes_is_a_fragment_and_back() {
        assert_eq!(
            fragment("/paths/~1api~1alters~1{id}/put"),
            "/paths/~1api~1alters~1%7Bid%7D/put"
        );
        assert_eq!(unescape("~1api~0x"), "/api~x");
    }
}
