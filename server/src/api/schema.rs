//! Request bodies checked against the OpenAPI document before a handler parses them, so that
//! what the document says is what is accepted, and a refusal names the field.
//!
//! poem-openapi alone takes a JSON number or boolean where a string is expected and makes it a
//! string (`{"name": 42}` created a system named "42"), ignores fields it does not know, and
//! names the type rather than the field when one is missing. Here a body is refused with 400
//! `bad_request` when it is not what its schema says, e.g. `"name": expected a string`,
//! `"members[0]": expected an id (a UUID)`, `"nmae": unknown field`, `"name": missing`. Optional
//! fields may be `null` (that clears a field on PUT), and a required one only where its schema is
//! nullable; lengths, patterns, ranges and sizes are checked too (`"name": expected text that is
//! not blank`, `"password": expected at least 10 characters`), so poem-openapi's validators,
//! which say the same with less care, never see a body that breaks them. The rules the document
//! cannot state are the handlers' (422, see README). The middleware that applies it to each
//! request is [`super::body::check_bodies`]; [`super::routes`] uses it for path and query
//! parameters.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use regex::Regex;
use serde_json::Value;

use super::document::NO_NUL;

/// Whether `value` is what `schema` says, `at` naming where it is in the body; the refusal says
/// which field and what was expected.
pub(super) fn check(
    schema: &Value,
    value: &Value,
    at: &str,
    components: &Value,
) -> Result<(), String> {
    let schema = resolve(schema, components);
    if let Some(all) = schema["allOf"].as_array() {
        return all
            .iter()
            .try_for_each(|part| check(part, value, at, components));
    }
    if let Some(any) = schema["anyOf"].as_array() {
        if (value.is_null() && nullable(schema, components))
            || any
                .iter()
                .any(|part| check(part, value, at, components).is_ok())
        {
            return Ok(());
        }
        let kinds: Vec<&str> = any
            .iter()
            .filter_map(|part| kind(part["type"].as_str()))
            .collect();
        return Err(refused(at, &format!("expected {}", kinds.join(", "))));
    }
    let expected = |what: &str| Err(refused(at, &format!("expected {what}")));
    let what = kind(schema["type"].as_str()).unwrap_or_default();
    match schema["type"].as_str() {
        Some("string") => {
            let Some(text) = value.as_str() else {
                return expected(what);
            };
            if let Some(allowed) = schema["enum"].as_array()
                && !allowed.iter().any(|a| a.as_str() == Some(text))
            {
                let names: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
                return expected(&format!("one of {}", names.join(", ")));
            }
            if schema["format"] == "uuid" && uuid::Uuid::parse_str(text).is_err() {
                return expected("an id (a UUID)");
            }
            let length = text.chars().count();
            if let Some(words) = outside(length as f64, &schema["minLength"], &schema["maxLength"])
            {
                return expected(&format!("{words} characters"));
            }
            match schema["pattern"].as_str() {
                Some(pattern) if !matches(pattern, text) => expected(described(pattern)),
                _ => Ok(()),
            }
        }
        Some("integer") if !(value.is_i64() || value.is_u64()) => expected(what),
        Some("number") if !value.is_number() => expected(what),
        Some("integer" | "number") => {
            let number = value.as_f64().unwrap_or_default();
            match outside(number, &schema["minimum"], &schema["maximum"]) {
                Some(words) => expected(&format!("{what} {words}")),
                None => Ok(()),
            }
        }
        Some("boolean") if !value.is_boolean() => expected(what),
        Some("array") => {
            let Some(items) = value.as_array() else {
                return expected(what);
            };
            if let Some(words) =
                outside(items.len() as f64, &schema["minItems"], &schema["maxItems"])
            {
                return expected(&format!("{words} items"));
            }
            items.iter().enumerate().try_for_each(|(i, item)| {
                check(&schema["items"], item, &format!("{at}[{i}]"), components)
            })
        }
        Some("object") => {
            let Some(object) = value.as_object() else {
                return expected(what);
            };
            match outside(object.len() as f64, &schema["minProperties"], &Value::Null) {
                Some(words) if words == "at least 1" => return expected("at least one field"),
                Some(words) => return expected(&format!("{words} fields")),
                None => {}
            }
            check_object(schema, object, at, components)
        }
        _ => Ok(()),
    }
}

fn check_object(
    schema: &Value,
    object: &serde_json::Map<String, Value>,
    at: &str,
    components: &Value,
) -> Result<(), String> {
    let inner = |key: &str| {
        let key = quoted(key);
        if at.is_empty() {
            key
        } else {
            format!("{at}.{key}")
        }
    };
    let properties = schema["properties"].as_object();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for name in &required {
        let takes_null = properties
            .and_then(|p| p.get(*name))
            .is_some_and(|property| nullable(property, components));
        match object.get(*name) {
            None => return Err(refused(&inner(name), "missing")),
            Some(Value::Null) if !takes_null => return Err(refused(&inner(name), "missing")),
            Some(_) => {}
        }
    }
    for (key, value) in object {
        let property = properties.and_then(|p| p.get(key));
        match (property, &schema["additionalProperties"]) {
            // An optional field the document makes nullable may be null: it is absent, or, on
            // PUT, cleared.
            (Some(property), _) if value.is_null() && nullable(property, components) => {}
            (Some(property), _) => check(property, value, &inner(key), components)?,
            (None, Value::Null | Value::Bool(false)) if properties.is_some() => {
                return Err(refused(&inner(key), "unknown field"));
            }
            (None, Value::Object(additional)) if !additional.is_empty() => check(
                &schema["additionalProperties"],
                value,
                &inner(key),
                components,
            )?,
            (None, _) => {}
        }
    }
    Ok(())
}

/// How `n` falls outside `min..=max` (either may be absent), in words: "at least 3", "at most
/// 200", "from 1 to 200"; `None` when it is inside.
fn outside(n: f64, min: &Value, max: &Value) -> Option<String> {
    let (min, max) = (min.as_f64(), max.as_f64());
    if min.is_none_or(|min| n >= min) && max.is_none_or(|max| n <= max) {
        return None;
    }
    Some(match (min, max) {
        (Some(min), Some(max)) => format!("from {min} to {max}"),
        (Some(min), None) => format!("at least {min}"),
        (None, Some(max)) => format!("at most {max}"),
        (None, None) => unreachable!("inside when unbounded"),
    })
}

/// Whether `text` matches the document's `pattern`. Every plain string of every body has
/// [`NO_NUL`], which needs no regex; the few others are compiled once and then only read.
fn matches(pattern: &str, text: &str) -> bool {
    if pattern == NO_NUL {
        return !text.contains('\0');
    }
    static COMPILED: LazyLock<RwLock<HashMap<String, Option<Regex>>>> =
        LazyLock::new(Default::default);
    let known = COMPILED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(pattern)
        .map(|regex| regex.as_ref().map(|regex| regex.is_match(text)));
    // The document's patterns are the validators' own, which compile; one that would not is
    // left to them.
    let matched = known.unwrap_or_else(|| {
        let regex = Regex::new(pattern).ok();
        let matched = regex.as_ref().map(|regex| regex.is_match(text));
        let mut compiled = COMPILED.write().unwrap_or_else(|e| e.into_inner());
        compiled.insert(pattern.to_owned(), regex);
        matched
    });
    matched.unwrap_or(true)
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
fn kind(kind: Option<&str>) -> Option<&'static str> {
    Some(match kind? {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "array" => "an array",
        "object" => "an object",
        _ => return None,
    })
}

/// Whether `schema` lets `null` in: it says so, or one of its `anyOf` branches does.
fn nullable(schema: &Value, components: &Value) -> bool {
    let schema = resolve(schema, components);
    schema["nullable"] == true
        || schema["anyOf"]
            .as_array()
            .is_some_and(|any| any.iter().any(|part| nullable(part, components)))
}

/// A refusal of what is `at` in the body (the body itself when `at` is empty).
fn refused(at: &str, why: &str) -> String {
    if at.is_empty() {
        format!("the body: {why}")
    } else {
        format!("\"{at}\": {why}")
    }
}

/// A field's name as a refusal quotes it: the client's bytes, so without control characters
/// (the message goes into the log line) and at most [`QUOTED`] characters.
fn quoted(key: &str) -> String {
    let mut name: String = key.chars().take(QUOTED).collect();
    if key.chars().nth(QUOTED).is_some() {
        name.push('…');
    }
    crate::error::without_controls(&name)
}

/// How much of a field's name a refusal quotes.
const QUOTED: usize = 64;

/// `schema`, or what its `$ref` points to in `components`.
fn resolve<'a>(schema: &'a Value, components: &'a Value) -> &'a Value {
    match schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        Some(name) => &components["schemas"][name],
        None => schema,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn components() -> Value {
        json!({"schemas": {
            "NewAlter": {
                "type": "object",
                "required": ["name", "system_id"],
                "properties": {
                    "name": {"type": "string", "maxLength": 200, "pattern": crate::fields::NOT_BLANK},
                    "system_id": {"type": "string", "format": "uuid"},
                    "age": {"type": "integer", "nullable": true, "minimum": 0, "maximum": 200},
                    "is_host": {"type": "boolean"},
                    "kind": {"type": "string", "enum": ["partner", "sibling"]},
                    "interests": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                    "owner": {"allOf": [{"$ref": "#/components/schemas/Owner"}]}
                }
            },
            "Owner": {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}}}
        }})
    }

    fn refusal(value: Value) -> Option<String> {
        let schema = json!({"$ref": "#/components/schemas/NewAlter"});
        check(&schema, &value, "", &components()).err()
    }

    const ID: &str = "01a23ab1-5f98-7315-b855-b858a507611e";

    #[test]
    fn a_body_as_documented_passes_optional_fields_may_be_null() {
        assert_eq!(refusal(json!({"name": "Ash", "system_id": ID})), None);
        assert_eq!(
            refusal(
                json!({"name": "Ash", "system_id": ID, "age": null, "kind": "partner",
                "interests": ["tea"], "owner": {"id": ID}, "is_host": true})
            ),
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
            assert_eq!(refusal(body.clone()).as_deref(), Some(expected), "{body}");
        }
    }

    #[test]
    fn a_long_unknown_name_is_quoted_in_part() {
        let long = "x".repeat(300);
        let message = refusal(json!({"name": "A", "system_id": ID, long: 1})).unwrap();
        assert_eq!(
            message,
            format!("\"{}…\": unknown field", "x".repeat(QUOTED))
        );
    }

    #[test]
    fn a_scalar_is_one_of_its_kinds_and_null_only_where_it_is_nullable() {
        let scalar = json!({"anyOf": [
            {"type": "string", "nullable": true}, {"type": "number"}, {"type": "boolean"}
        ]});
        let setting = json!({"type": "object", "required": ["value"],
            "properties": {"value": scalar}});
        for ok in [json!("x"), json!(3), json!(true), Value::Null] {
            assert_eq!(
                check(&setting, &json!({ "value": ok }), "", &json!({})),
                Ok(())
            );
        }
        assert_eq!(
            check(&setting, &json!({"value": {"a": 1}}), "", &json!({})),
            Err("\"value\": expected a string, a number, true or false".to_owned())
        );
        assert_eq!(
            check(&setting, &json!({}), "", &json!({})),
            Err("\"value\": missing".to_owned())
        );
    }

    #[test]
    fn free_form_objects_take_any_field_and_check_typed_ones() {
        let any = json!({"type": "object", "additionalProperties": {}});
        assert_eq!(
            check(&any, &json!({"x": 1, "y": [true]}), "", &json!({})),
            Ok(())
        );
        let numbers = json!({"type": "object", "additionalProperties": {"type": "integer"}});
        assert_eq!(
            check(&numbers, &json!({"x": "1"}), "", &json!({})),
            Err("\"x\": expected an integer".to_owned())
        );
    }
}
