//! One log line per request: from where, what, and how it ended. The path is logged without
//! its query string, which can carry what people search for (`/api/alters/search?q=…`); poem's
//! `Tracing` middleware logged the whole URI.

use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

pub async fn request<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let span = tracing::info_span!(
        "request",
        remote_addr = %req.remote_addr(),
        version = ?req.version(),
        method = %req.method(),
        path = %req.uri().path(),
    );
    let logged = async move {
        let started = std::time::Instant::now();
        // An error goes on as it is, for the error rendering further out to answer it.
        let result = next.call(req).await.map(IntoResponse::into_response);
        let status = match &result {
            Ok(response) => response.status(),
            Err(error) => error.status(),
        };
        tracing::info!(
            status = status.as_u16(),
            duration = ?started.elapsed(),
            "response"
        );
        result
    }
    .instrument(span);
    // The request's own scope, where its caller is named once its token is verified: reads
    // that go to replicas follow that caller's writes ([`crate::db::replicas`]). Boxed: one
    // more level of the request's future nests deeper than the compiler's layout query goes.
    crate::db::replicas::for_request(Box::pin(logged)).await
}
