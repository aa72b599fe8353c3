//! The routes as the OpenAPI document gives them, for the two errors the router makes before a
//! handler runs, so that every route answers them alike and a new route needs nothing here:
//!
//! - 405 carries `Allow` with the methods the path is documented with (RFC 9110 §15.5.6; HEAD
//!   wherever GET is, as poem answers it);
//! - a path parameter that does not parse is named as the document names it (poem-openapi's
//!   router calls them `param0`, `param1`, …), and the value is not echoed back.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::error::{ParseParamError, ParsePathError};

use super::schema::{Schema, Schemas};
use crate::error::ApiError;

/// The keys of an OpenAPI path item that are operations (the others, such as `parameters`,
/// are not methods).
const OPERATIONS: [&str; 8] = [
    "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE",
];

/// The documented routes, and the schemas their request bodies and parameters are checked
/// against, compiled when the router is built.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: Vec<Route>,
}

#[derive(Debug, Clone)]
struct Route {
    segments: Vec<Segment>,
    /// The methods it answers, as `Allow` lists them.
    allow: HeaderValue,
    /// Each operation's JSON request body schema, by method.
    bodies: Vec<(String, Schema)>,
    /// Each path and query parameter, by name.
    parameters: Vec<Parameter>,
}

/// A path or query parameter of the document.
#[derive(Debug, Clone)]
struct Parameter {
    name: String,
    /// Whether its schema's type is a number, which a query's text is read as.
    numeric: bool,
    schema: Schema,
}

impl Route {
    fn new(
        path: &str,
        mut methods: Vec<String>,
        bodies: Vec<(String, Schema)>,
        parameters: Vec<Parameter>,
    ) -> Option<Route> {
        if methods.iter().any(|m| m == "GET") {
            methods.push("HEAD".to_owned());
        }
        methods.sort();
        methods.dedup();
        Some(Route {
            segments: segments(path),
            allow: HeaderValue::from_str(&methods.join(", ")).ok()?,
            bodies,
            parameters,
        })
    }

    /// The parameter called `name`.
    fn parameter(&self, name: &str) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// A parameter, by its name in the document.
    Parameter(String),
}

impl Routes {
    /// The table of `spec`, an OpenAPI document as JSON, plus the routes served beside it.
    pub fn from_spec(spec: &str, extra: &[(&str, &[&str])]) -> Routes {
        let doc: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let schemas = Schemas::new(&doc);
        let mut routes: Vec<Route> = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(path, item)| {
                let at = format!("/paths/{}", escape(path));
                // (method, where the operation is in the document, the operation)
                let operations: Vec<(String, String, &serde_json::Value)> = item
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(key, operation)| {
                        let at = format!("{at}/{}", escape(key));
                        (key.to_ascii_uppercase(), at, operation)
                    })
                    .filter(|(method, ..)| OPERATIONS.contains(&method.as_str()))
                    .collect();
                let bodies = operations
                    .iter()
                    .filter_map(|(method, at, operation)| {
                        let content = operation["requestBody"]["content"].as_object()?;
                        let (kind, _) = content
                            .iter()
                            .find(|(kind, _)| kind.starts_with("application/json"))?;
                        let at = format!("{at}/requestBody/content/{}/schema", escape(kind));
                        Some((method.clone(), schemas.compile(&at)))
                    })
                    .collect();
                let parameters = operations
                    .iter()
                    .flat_map(|(_, at, operation)| {
                        let parameters = operation["parameters"].as_array().into_iter().flatten();
                        parameters.enumerate().map(move |(i, p)| (at, i, p))
                    })
                    .filter(|(.., p)| p["in"] == "path" || p["in"] == "query")
                    .filter_map(|(at, i, p)| {
                        Some(Parameter {
                            name: p["name"].as_str()?.to_owned(),
                            numeric: matches!(
                                p["schema"]["type"].as_str(),
                                Some("integer" | "number")
                            ),
                            schema: schemas.compile(&format!("{at}/parameters/{i}/schema")),
                        })
                    })
                    .collect();
                let methods = operations.into_iter().map(|(method, ..)| method).collect();
                Route::new(path, methods, bodies, parameters)
            })
            .collect();
        routes.extend(extra.iter().filter_map(|(path, methods)| {
            Route::new(
                path,
                methods.iter().map(|m| m.to_string()).collect(),
                Vec::new(),
                Vec::new(),
            )
        }));
        // Most literal first: the first match is the one poem's router picks.
        routes.sort_by_cached_key(|route| {
            let literals: Vec<bool> = route
                .segments
                .iter()
                .map(|s| matches!(s, Segment::Literal(_)))
                .collect();
            std::cmp::Reverse(literals)
        });
        Routes { routes }
    }

    /// The schema of the JSON request body of `method` on `path`; `None` when the operation
    /// takes no JSON body.
    pub(super) fn body(&self, method: &str, path: &str) -> Option<&Schema> {
        let route = self.route(path)?;
        let (_, schema) = route.bodies.iter().find(|(m, _)| m == method)?;
        Some(schema)
    }

    /// What `Allow` says for `path`.
    pub fn allow(&self, path: &str) -> Option<&HeaderValue> {
        self.route(path).map(|route| &route.allow)
    }

    /// Why the `n`th parameter of the route `path` reaches does not parse: its name and what
    /// its schema expects (`path parameter "id": expected an id (a UUID)`), without its value.
    pub fn refusal(&self, path: &str, n: usize) -> Option<String> {
        let route = self.route(path)?;
        let (name, value) = route
            .segments
            .iter()
            .zip(path.split('/'))
            .filter_map(|(segment, value)| match segment {
                Segment::Parameter(name) => Some((name.as_str(), value)),
                Segment::Literal(_) => None,
            })
            .nth(n)?;
        let value = serde_json::Value::String(value.to_owned());
        let expected = self
            .parameter_refusal(route, name, &value)
            .unwrap_or_else(|| format!("\"{name}\": expected a value of the documented type"));
        Some(format!("path parameter {expected}"))
    }

    /// Why the query parameter `name` of the route `path` reaches is refused, as a body's
    /// refusal says it (`query parameter "q": expected text that is not blank`), without its
    /// value; `None` when the checker finds nothing (poem-openapi's reason stands).
    pub fn query_refusal(&self, path: &str, name: &str, query: &str) -> Option<String> {
        let route = self.route(path)?;
        let parameter = route.parameter(name)?;
        let raw = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find_map(|(key, value)| (key == name).then_some(value))?;
        let value = match parameter.numeric {
            true => serde_json::from_str(&raw)
                .ok()
                .filter(serde_json::Value::is_number)
                .unwrap_or(serde_json::Value::String(raw)),
            false => serde_json::Value::String(raw),
        };
        let why = self.parameter_refusal(route, name, &value)?;
        Some(format!("query parameter {why}"))
    }

    /// Why `value` is refused for the parameter `name` of `route`, by its schema; `None` when
    /// the route has no such parameter or the value is what its schema says.
    fn parameter_refusal(
        &self,
        route: &Route,
        name: &str,
        value: &serde_json::Value,
    ) -> Option<String> {
        route.parameter(name)?.schema.check(value, name).err()
    }

    /// The route poem's router picks for `path`: of those it matches, the one whose first
    /// differing segment is a literal rather than a parameter (the routes are sorted so at
    /// start). A parameter matches any segment, an empty one too unless it is the last, as in
    /// poem's router.
    fn route(&self, path: &str) -> Option<&Route> {
        let asked: Vec<&str> = path.split('/').collect();
        self.routes.iter().find(|route| {
            route.segments.len() == asked.len()
                && route
                    .segments
                    .iter()
                    .zip(&asked)
                    .enumerate()
                    .all(|(i, (segment, part))| match segment {
                        Segment::Literal(literal) => literal == part,
                        Segment::Parameter(_) => i + 1 < asked.len() || !part.is_empty(),
                    })
        })
    }
}

/// `segment` as one segment of a JSON pointer (RFC 6901).
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn segments(path: &str) -> Vec<Segment> {
    path.split('/')
        .map(|s| {
            if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Segment::Parameter(name.to_owned())
            } else {
                Segment::Literal(s.to_owned())
            }
        })
        .collect()
}

/// Middleware: a 405 leaves with `Allow` naming the methods of the path asked for; a path or
/// query parameter that does not parse is a 400 naming it and what its schema expects.
pub async fn route_errors<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let routes = req.data::<std::sync::Arc<Routes>>().cloned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let result = next.call(req).await.map(IntoResponse::into_response);
    let Some(routes) = routes else {
        return result;
    };
    match result {
        Err(err) if err.status() == StatusCode::METHOD_NOT_ALLOWED => {
            let mut response = crate::error::render(err).await;
            if let Some(allow) = routes.allow(&path) {
                response.headers_mut().insert(header::ALLOW, allow.clone());
            }
            Ok(response)
        }
        Err(err) if err.is::<ParsePathError>() => {
            let refusal = err
                .downcast_ref::<ParsePathError>()
                .and_then(|e| e.name.strip_prefix("param")?.parse().ok())
                .and_then(|n| routes.refusal(&path, n))
                .unwrap_or_else(|| "a path parameter does not parse".to_owned());
            Err(ApiError::bad_request(refusal).into())
        }
        Err(err) if err.is::<ParseParamError>() => {
            let refusal = err
                .downcast_ref::<ParseParamError>()
                .and_then(|e| routes.query_refusal(&path, e.name, &query));
            match refusal {
                Some(refusal) => Err(ApiError::bad_request(refusal).into()),
                None => Err(err),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Routes {
        Routes::from_spec(
            r#"{"paths": {
                "/api/alters": {"get": {}, "post": {}, "parameters": []},
                "/api/alters/{id}": {"get": {}, "put": {}, "delete": {}},
                "/api/alters/search": {"get": {}}
            }}"#,
            &[("/api/openapi.json", &["GET"])],
        )
    }

    #[test]
    fn lists_the_documented_methods_of_the_route_the_path_reaches() {
        let routes = routes();
        let allow = |path| routes.allow(path).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(allow("/api/alters").as_deref(), Some("GET, HEAD, POST"));
        assert_eq!(
            allow("/api/alters/abc").as_deref(),
            Some("DELETE, GET, HEAD, PUT")
        );
        // A literal segment wins over a parameter, as in poem's router.
        assert_eq!(allow("/api/alters/search").as_deref(), Some("GET, HEAD"));
        assert_eq!(allow("/api/openapi.json").as_deref(), Some("GET, HEAD"));
        assert_eq!(allow("/api/nothing"), None);
        assert_eq!(allow("/api/alters/abc/def"), None);
        assert_eq!(allow("/api/alters/"), None);
    }

    #[test]
    fn a_parameter_matches_an_empty_segment_but_the_last_as_poem_does() {
        let routes = Routes::from_spec(
            r#"{"paths": {"/api/alters/{id}/relationships": {"post": {}},
                          "/api/alters/{id}": {"get": {}}}}"#,
            &[],
        );
        let allow = |path| routes.allow(path).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(allow("/api/alters//relationships").as_deref(), Some("POST"));
        assert_eq!(allow("/api/alters/"), None);
    }

    #[test]
    fn names_the_parameters_as_the_document_does() {
        let routes = Routes::from_spec(
            r#"{"paths": {"/api/groups/{id}/members/{alter_id}": {"delete": {}}}}"#,
            &[],
        );
        let path = "/api/groups/a/members/b";
        let refusal = |n| routes.refusal(path, n);
        assert_eq!(
            refusal(0).as_deref(),
            Some("path parameter \"id\": expected a value of the documented type")
        );
        assert_eq!(
            refusal(1).as_deref(),
            Some("path parameter \"alter_id\": expected a value of the documented type")
        );
        assert_eq!(refusal(2), None);
    }

    #[test]
    fn says_what_the_parameters_schema_expects() {
        let routes = Routes::from_spec(
            r##"{"paths": {"/api/alters/{id}/relationships/{other}/{type}": {"delete": {
                "parameters": [
                    {"name": "id", "in": "path", "schema": {"type": "string", "format": "uuid"}},
                    {"name": "type", "in": "path", "schema": {"$ref": "#/components/schemas/Kind"}}
                ]}}},
              "components": {"schemas": {"Kind": {"type": "string", "enum": ["partner", "sibling"]}}}}"##,
            &[],
        );
        let path = "/api/alters/x/relationships/y/rival";
        assert_eq!(
            routes.refusal(path, 0).as_deref(),
            Some("path parameter \"id\": expected an id (a UUID)")
        );
        assert_eq!(
            routes.refusal(path, 2).as_deref(),
            Some("path parameter \"type\": expected one of \"partner\", \"sibling\"")
        );
    }
}
