//! What a request body may be before any handler reads it: its size, how long it takes to
//! arrive, no NUL character, and what its operation's schema says.

use poem::web::headers::{ContentLength, HeaderMapExt};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::error::ParseRequestPayloadError;
use serde_json::Value;

use super::admin;
use super::routes::Routes;
use crate::error::ApiError;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How long a request body may take to arrive once its handler starts reading it
/// (`server.body_timeout_secs`); 408 after that. Added by [`crate::Application`], which serves
/// over TCP; without it (in-process tests) bodies are not timed.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// Middleware: a JSON body that does not match its operation's schema is refused with 400
/// ([`super::schema`] says how it is checked).
pub(super) async fn check_bodies<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    // Every content type the operation's JSON payload takes (any case, `+json` too).
    let json = req.content_type().is_some_and(|kind| {
        <poem_openapi::payload::Json<Value> as poem_openapi::payload::Payload>::check_content_type(
            kind,
        )
    });
    let routes = req.data::<std::sync::Arc<Routes>>().cloned();
    let checked = match (&routes, json) {
        (Some(routes), true) => routes.body(req.method().as_str(), req.uri().path()),
        _ => None,
    };
    let mut refusal = None;
    if let Some(schema) = checked
        && req.uri().path() != admin::RESTORE_PATH
    {
        let body = req.take_body().into_bytes().await?;
        // Text that is not JSON is left to the payload parser, which says where it breaks.
        refusal = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|value| schema.check(&value, "").err());
        // A refused body still reaches the operation, as text its payload parser refuses: the
        // token and the path are checked first (401, 403, a bad path parameter), as for any
        // other request, and the refusal is said where the body would have been parsed.
        req.set_body(match refusal {
            Some(_) => poem::Body::from_string("{".to_owned()),
            None => poem::Body::from(body),
        });
    }
    match (next.call(req).await, refusal) {
        (Err(err), Some(refusal)) if err.is::<ParseRequestPayloadError>() => {
            Err(ApiError::bad_request(refusal).into())
        }
        (result, _) => Ok(result?.into_response()),
    }
}

/// Refuses a body that takes longer than [`BodyTimeout`] to arrive with 408, and bodies over
/// [`MAX_BODY_BYTES`] (an administrator's restore: [`admin::MAX_RESTORE_BYTES`]) with 413,
/// whether announced by `Content-Length` or streamed without one (poem's `SizeLimit` would also
/// refuse every request that has no `Content-Length`, GETs included), and text holding a NUL
/// character, in the query string or anywhere in the body, with 400: PostgreSQL cannot store
/// one in text or JSON, so it is refused the same way on every backend, before it reaches a
/// handler. A restore is admitted ([`admin::admit_restore`]: an administrator's token, no other
/// restore running) before any of its body is read, and holds its turn until it has been
/// answered.
pub(super) async fn limit_body<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let restore =
        req.method() == poem::http::Method::POST && req.uri().path() == admin::RESTORE_PATH;
    let (limit, _turn) = if restore {
        (
            admin::MAX_RESTORE_BYTES,
            Some(admin::admit_restore(&req).await?),
        )
    } else {
        (MAX_BODY_BYTES, None)
    };
    let too_large = || {
        ApiError::new(
            poem::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are limited to {limit} bytes"),
        )
    };
    if let Some(ContentLength(len)) = req.headers().typed_get::<ContentLength>()
        && len > limit as u64
    {
        return Err(too_large().into());
    }
    let read = req.take_body().into_bytes_limit(limit);
    let read = match req.data::<BodyTimeout>() {
        Some(&BodyTimeout(timeout)) => tokio::time::timeout(timeout, read).await.map_err(|_| {
            ApiError::new(
                poem::http::StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body did not arrive within {} seconds",
                    timeout.as_secs()
                ),
            )
        })?,
        None => read.await,
    };
    let body = read.map_err(|e| match e {
        poem::error::ReadBodyError::PayloadTooLarge => too_large().into(),
        other => poem::Error::from(other),
    })?;
    let query_has_nul = req.uri().query().is_some_and(|q| {
        q.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    });
    if query_has_nul || json_has_nul(&body) {
        return Err(
            ApiError::bad_request("text must not contain NUL characters (\\u0000 or %00)").into(),
        );
    }
    req.set_body(body);
    Ok(next.call(req).await?.into_response())
}

/// Whether JSON text holds a NUL character: a `\u0000` escape (not an escaped backslash followed
/// by `u0000`) or, though JSON forbids it, a raw NUL byte.
fn json_has_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0 => return true,
            b'\\' if bytes.get(i + 1) == Some(&b'u') => {
                if bytes.get(i + 2..i + 6) == Some(b"0000") {
                    return true;
                }
                i += 2;
            }
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::json_has_nul;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(json_has_nul(br#"{"a":"x\u0000y"}"#));
        assert!(json_has_nul(br#"{"a\u0000":1}"#));
        assert!(json_has_nul(b"{\"a\":\"\0\"}"));
        assert!(
            json_has_nul(br#"["\\\u0000"]"#),
            "an escaped backslash, then a NUL"
        );
        assert!(
            !json_has_nul(br#"{"a":"x\\u0000y"}"#),
            "a backslash and the text u0000"
        );
        assert!(!json_has_nul(br#"{"a":"\u0001 \" \\"}"#));
    }
}
