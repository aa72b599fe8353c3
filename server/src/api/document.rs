//! The OpenAPI document as served: what poem-openapi derives from the code, made exact where its
//! derive cannot say what the server does, since clients are generated from it and a fuzzer
//! holds the server to it. Each rule is one the server keeps everywhere, so it is written once
//! here rather than on every field:
//!
//! - a field of the API's objects (the named schemas) that is not required may be `null`
//!   (responses send `null` for an empty optional field; a request may send `null`, which clears
//!   the field on PUT): `nullable`. The settings map says for itself which keys take `null`;
//! - an object takes no field its schema does not name ([`super::schema`] refuses them):
//!   `additionalProperties: false`;
//! - text never holds a NUL character (refused with 400 before any handler): strings without a
//!   pattern, format or enum of their own get `^[^\x00]*$`;
//! - an operation lists the error statuses it can answer with ([`ERROR_STATUSES`], each by one
//!   rule of [`answers`]), each a reference to the one description of it in
//!   `components.responses` (`Error400`, …);
//! - the values the code holds as free-form JSON but the server only takes or gives as one
//!   scalar ([`SCALARS`]) say so;
//! - every operation has an `operationId`, the name generated clients give it
//!   (`get_alters_by_id`).
//!
//! [`ERROR_STATUSES`]: crate::error::ERROR_STATUSES

use serde_json::{Value, json};

/// Text without a NUL character, for strings that have no pattern of their own.
pub const NO_NUL: &str = "^[^\\x00]*$";

/// Where the code holds a `serde_json::Value` that the server only takes or gives as one scalar
/// (a string, a number, true or false, or null), or, for a backup's cells, a scalar, an object
/// or an array (the JSON columns: the audit log's metadata, an alter's interests). A pointer
/// that no longer leads anywhere stops the server at start (every test fails), so a renamed
/// field cannot quietly leave its value free-form.
const SCALARS: [(&str, Cell); 4] = [
    (
        "/components/schemas/BackupTable/properties/rows/items/items",
        Cell::Json,
    ),
    (
        "/components/schemas/SettingValue/properties/value",
        Cell::Scalar,
    ),
    (
        "/components/schemas/SettingDetail/properties/value",
        Cell::Scalar,
    ),
    (
        "/components/schemas/SettingDetail/properties/default",
        Cell::Scalar,
    ),
];

/// What a free-form value of [`SCALARS`] may be.
#[derive(Debug, Clone, Copy)]
enum Cell {
    Scalar,
    /// A scalar, an object or an array.
    Json,
}

/// The operations that answer 403 (`METHOD /path`, as the document writes the path) beyond the
/// secured ones (see [`answers`]): registration closed (`registration.enabled`), and a wrong
/// current password.
const FORBIDDEN: [&str; 2] = ["POST /api/auth/register", "POST /api/me/password"];

/// The secured operations an account that must change its password may still use. Every other
/// secured operation can answer 403: to that account (`AppState::caller`), and, for
/// administrators' operations, to anyone else (`AppState::admin`), or for what the account is
/// (not yet approved, another user's systems).
const BEFORE_PASSWORD_CHANGE: [&str; 3] = [
    "GET /api/me",
    "POST /api/me/password",
    "POST /api/auth/refresh",
];

/// The operations under a rate limit (429, `crate::rate_limit`).
const RATE_LIMITED: [&str; 4] = [
    "POST /api/auth/register",
    "POST /api/auth/login",
    "POST /api/me/password",
    "POST /api/auth/password-reset/request",
];

/// The operations that take a password reset token: 401 for an unknown one, 410 for one that
/// expired or was used.
const RESET_TOKENS: [&str; 2] = [
    "POST /api/auth/password-reset/verify",
    "POST /api/auth/password-reset/consume",
];

/// The operations that take no token but check credentials in the body (401 when wrong).
const CREDENTIALS: [&str; 1] = ["POST /api/auth/login"];

/// The POST operations that change no row of the API's (only the audit log, a session or a
/// reset token of its own), so nothing they do can conflict (409).
const CHANGE_NOTHING: [&str; 5] = [
    "POST /api/auth/login",
    "POST /api/auth/refresh",
    "POST /api/auth/password-reset/request",
    "POST /api/auth/password-reset/verify",
    "POST /api/admin/backup",
];

/// What the document says of one operation, that decides which errors it can answer with.
struct Operation<'a> {
    /// `METHOD /path`.
    name: &'a str,
    secured: bool,
    body: bool,
    path_parameters: bool,
}

/// Whether `operation` can answer with the error `status`: one rule per status.
fn answers(status: u16, operation: &Operation) -> bool {
    let named = |list: &[&str]| list.contains(&operation.name);
    match status {
        // Input that is not what the document describes, and a NUL character anywhere in a
        // request (its query, its body), refused before any operation.
        400 => true,
        401 => operation.secured || named(&CREDENTIALS) || named(&RESET_TOKENS),
        403 => named(&FORBIDDEN) || (operation.secured && !named(&BEFORE_PASSWORD_CHANGE)),
        // What the path names.
        404 => operation.path_parameters,
        // Of the body: too slow, too large, not JSON; a rule it breaks.
        408 | 413 | 415 | 422 => operation.body,
        // A unique or referenced row, or a restore running: any change.
        409 => !operation.name.starts_with("GET ") && !named(&CHANGE_NOTHING),
        410 => named(&RESET_TOKENS),
        429 => named(&RATE_LIMITED),
        // Every operation reads the database.
        500 | 503 => true,
        _ => unreachable!("document: {status} is not one of ERROR_STATUSES"),
    }
}

/// Every operation the lists above name, so that a renamed or removed one stops the server at
/// start (every test fails) rather than leaving its statuses wrong.
fn named_operations() -> impl Iterator<Item = &'static str> {
    let lists: [&[&str]; 6] = [
        &FORBIDDEN,
        &BEFORE_PASSWORD_CHANGE,
        &RATE_LIMITED,
        &RESET_TOKENS,
        &CREDENTIALS,
        &CHANGE_NOTHING,
    ];
    lists.into_iter().flatten().copied()
}

/// The document poem-openapi generated (`generated`, JSON), made exact.
pub fn exact(generated: &str) -> String {
    let (doc, operations) = exact_with(generated, &SCALARS);
    if let Some(lost) = named_operations().find(|n| !operations.iter().any(|o| o == n)) {
        panic!("document: {lost} is not in the document");
    }
    serde_json::to_string(&doc).expect("a JSON value serializes")
}

/// [`exact`], with `scalars` the free-form values that say what they may be; also every
/// operation's name (`METHOD /path`).
fn exact_with(generated: &str, scalars: &[(&str, Cell)]) -> (Value, Vec<String>) {
    let mut doc: Value = serde_json::from_str(generated).expect("poem-openapi writes JSON");
    for &(pointer, cell) in scalars {
        let Some(Value::Object(schema)) = doc.pointer_mut(pointer) else {
            panic!("document::SCALARS: {pointer} is not in the document");
        };
        // OpenAPI 3.0 has no null type: a nullable branch lets null in.
        let text = json!({"type": "string", "pattern": NO_NUL, "nullable": true});
        let mut kinds = vec![text, json!({"type": "number"}), json!({"type": "boolean"})];
        if let Cell::Json = cell {
            kinds.push(json!({"type": "object"}));
            kinds.push(json!({"type": "array", "items": {}}));
        }
        schema.insert("anyOf".into(), Value::Array(kinds));
        schema.remove("nullable");
    }
    let schemas = doc.pointer_mut("/components/schemas");
    if let Some(schemas) = schemas.and_then(Value::as_object_mut) {
        schemas.values_mut().for_each(|s| tighten(s, true));
    }
    let mut shared = serde_json::Map::new();
    let mut seen = Vec::new();
    if let Some(paths) = doc.pointer_mut("/paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                let name = format!("{} {path}", method.to_ascii_uppercase());
                tighten_operation(&name, operation, &mut shared);
                seen.push(name);
                if let Some(operation) = operation.as_object_mut() {
                    operation
                        .entry("operationId")
                        .or_insert_with(|| operation_id(method, path).into());
                }
            }
        }
    }
    if !shared.is_empty()
        && let Some(components) = doc
            .pointer_mut("/components")
            .and_then(Value::as_object_mut)
    {
        components.insert("responses".into(), Value::Object(shared));
    }
    (doc, seen)
}

/// Applies the rules to one operation (`name`: `METHOD /path`); its error responses, those
/// [`answers`] gives it, move to `shared` (`components.responses`, `Error400` …) and are referred
/// to from there.
fn tighten_operation(
    name: &str,
    operation: &mut Value,
    shared: &mut serde_json::Map<String, Value>,
) {
    let path_parameters = operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|p| p.get("in").and_then(Value::as_str) == Some("path"));
    let facts = Operation {
        name,
        secured: operation.get("security").is_some(),
        body: operation.get("requestBody").is_some(),
        path_parameters,
    };
    // `IndexMut` would add the keys it does not find, so only `pointer_mut` and `get` here.
    if let Some(parameters) = operation
        .pointer_mut("/parameters")
        .and_then(Value::as_array_mut)
    {
        for schema in parameters.iter_mut().filter_map(|p| p.get_mut("schema")) {
            tighten(schema, false);
        }
    }
    let content = operation.pointer_mut("/requestBody/content");
    if let Some(content) = content.and_then(Value::as_object_mut) {
        for schema in content.values_mut().filter_map(|m| m.get_mut("schema")) {
            tighten(schema, false);
        }
    }
    if let Some(responses) = operation
        .pointer_mut("/responses")
        .and_then(Value::as_object_mut)
    {
        responses.retain(|status, _| match status.parse() {
            Ok(error @ 400..) => answers(error, &facts),
            _ => true,
        });
        for (status, response) in responses.iter_mut() {
            if !status.starts_with(['4', '5']) {
                continue;
            }
            let name = format!("Error{status}");
            let kept = shared
                .entry(name.clone())
                .or_insert_with(|| response.clone());
            if kept == response {
                *response = json!({"$ref": format!("#/components/responses/{name}")});
            }
        }
    }
}

/// The name a generated client gives an operation: its method and path, parameters as `by_…`
/// (`GET /api/alters/{id}` is `get_alters_by_id`), unique as method and path are.
fn operation_id(method: &str, path: &str) -> String {
    let mut words = vec![method.to_ascii_lowercase()];
    for segment in path.split('/').filter(|s| !s.is_empty() && *s != "api") {
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(parameter) => words.push(format!("by_{parameter}")),
            None => words.push(segment.replace(['-', '.'], "_")),
        }
    }
    words.join("_")
}

/// Applies the rules to `schema` and every schema inside it; `named`: it is one of the API's
/// objects, whose optional fields may be null.
fn tighten(schema: &mut Value, named: bool) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    for key in ["allOf", "anyOf", "oneOf"] {
        for part in object
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            tighten(part, named);
        }
    }
    if let Some(items) = object.get_mut("items") {
        tighten(items, named);
    }
    if let Some(additional @ Value::Object(_)) = object.get_mut("additionalProperties") {
        tighten(additional, named);
    }
    if object.contains_key("properties") {
        let required: Vec<String> = object
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|name| name.as_str().map(str::to_owned))
            .collect();
        if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
            for (name, property) in properties.iter_mut() {
                tighten(property, named);
                if named && !required.contains(name) {
                    nullable(property);
                }
            }
        }
        object
            .entry("additionalProperties")
            .or_insert(Value::Bool(false));
    }
    let plain_text = object.get("type").and_then(Value::as_str) == Some("string")
        && !["pattern", "format", "enum"]
            .iter()
            .any(|key| object.contains_key(*key));
    if plain_text {
        object.insert("pattern".into(), NO_NUL.into());
    }
}

/// Lets `property` be `null`; a `$ref` cannot carry `nullable` beside it (OpenAPI 3.0), so it is
/// wrapped in `allOf`.
fn nullable(property: &mut Value) {
    if let Some(reference) = property.get("$ref").cloned() {
        *property = json!({"allOf": [{"$ref": reference}]});
    }
    if let Some(object) = property.as_object_mut() {
        object.insert("nullable".into(), Value::Bool(true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ERROR_STATUSES;
    use serde_json::Map;

    fn exact_value(doc: Value) -> Value {
        exact_with(&doc.to_string(), &[]).0
    }

    #[test]
    fn a_free_form_value_named_a_scalar_says_so_and_a_lost_one_stops_the_server() {
        let doc = json!({"components": {"schemas": {"Setting": {
            "type": "object",
            "properties": {"value": {"description": "The value."}}
        }}}});
        let pointer = "/components/schemas/Setting/properties/value";
        let (exact, _) = exact_with(&doc.to_string(), &[(pointer, Cell::Scalar)]);
        let value = exact.pointer(pointer).unwrap();
        assert_eq!(value["description"], "The value.");
        let kinds: Vec<&str> = value["anyOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["string", "number", "boolean"]);
        assert_eq!(value["anyOf"][0]["nullable"], true, "null is one of them");
        assert_eq!(value["anyOf"][0]["pattern"], NO_NUL);
        let lost = std::panic::catch_unwind(|| {
            let gone = "/components/schemas/Gone/properties/value";
            exact_with(&doc.to_string(), &[(gone, Cell::Scalar)])
        });
        assert!(lost.is_err());
    }

    #[test]
    fn optional_fields_are_nullable_and_objects_closed() {
        let doc = exact_value(json!({"components": {"schemas": {"Alter": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "maxLength": 200},
                "age": {"type": "string"},
                "owner": {"$ref": "#/components/schemas/Owner"},
                "id": {"type": "string", "format": "uuid"}
            }
        }}}}));
        let alter = &doc["components"]["schemas"]["Alter"];
        assert_eq!(alter["additionalProperties"], false);
        assert_eq!(alter["properties"]["name"]["nullable"], Value::Null);
        assert_eq!(alter["properties"]["name"]["pattern"], NO_NUL);
        assert_eq!(alter["properties"]["age"]["nullable"], true);
        assert_eq!(
            alter["properties"]["owner"],
            json!({"allOf": [{"$ref": "#/components/schemas/Owner"}], "nullable": true})
        );
        assert_eq!(alter["properties"]["id"]["pattern"], Value::Null);
    }

    #[test]
    fn operations_list_only_the_errors_they_can_give() {
        let all: Map<String, Value> = ERROR_STATUSES
            .iter()
            .map(|(status, ..)| (status.to_string(), json!({})))
            .collect();
        let secured = json!([{"bearer": []}]);
        let doc = exact_value(json!({"components": {}, "paths": {
            "/health": {"get": {"responses": all.clone()}},
            "/api/systems": {"post": {"responses": all.clone(), "security": secured,
                "requestBody": {"content": {}}}},
            "/api/alters/{id}": {"get": {"responses": all.clone(), "security": secured,
                "parameters": [{"in": "path", "name": "id"}]}},
            "/api/me": {"get": {"responses": all.clone(), "security": secured}},
            "/api/auth/login": {"post": {"responses": all.clone(), "requestBody": {"content": {}}}},
            "/api/auth/password-reset/consume": {"post": {"responses": all.clone(),
                "requestBody": {"content": {}}}},
        }}));
        // Each error is described once and referred to.
        assert_eq!(
            doc["paths"]["/api/alters/{id}"]["get"]["responses"]["404"],
            json!({"$ref": "#/components/responses/Error404"})
        );
        assert_eq!(doc["components"]["responses"]["Error404"], json!({}));
        let codes = |path: &str, method: &str| -> Vec<String> {
            doc["paths"][path][method]["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        // Nothing to refuse but a NUL, and what the server and its database fail at.
        assert_eq!(codes("/health", "get"), ["400", "500", "503"]);
        assert_eq!(
            codes("/api/systems", "post"),
            [
                "400", "401", "403", "408", "409", "413", "415", "422", "500", "503"
            ],
            "an unapproved account may not create one"
        );
        assert_eq!(
            codes("/api/alters/{id}", "get"),
            ["400", "401", "403", "404", "500", "503"],
            "an account that must change its password first"
        );
        assert_eq!(
            codes("/api/me", "get"),
            ["400", "401", "500", "503"],
            "open to an account that must change its password"
        );
        assert_eq!(
            codes("/api/auth/login", "post"),
            [
                "400", "401", "408", "413", "415", "422", "429", "500", "503"
            ],
            "no conflict: a login changes nothing"
        );
        assert_eq!(
            codes("/api/auth/password-reset/consume", "post"),
            [
                "400", "401", "408", "409", "410", "413", "415", "422", "500", "503"
            ]
        );
        let health = doc["paths"]["/health"]["get"].as_object().unwrap();
        assert_eq!(
            health.keys().collect::<Vec<_>>(),
            ["operationId", "responses"],
            "nothing else added"
        );
        assert_eq!(health["operationId"], "get_health");
        assert_eq!(
            operation_id("delete", "/api/alters/{id}/relationships/{other}/{type}"),
            "delete_alters_by_id_relationships_by_other_by_type"
        );
        assert_eq!(
            operation_id("post", "/api/auth/password-reset/request"),
            "post_auth_password_reset_request"
        );
    }
}
