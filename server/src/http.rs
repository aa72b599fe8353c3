//! Serving the connections the [`GuardedAcceptor`] hands out: hyper, configured here.
//!
//! poem's `Server` hands hyper every connection behind a split, boxed stream that does not
//! write vectored, and hyper then copies each response body into its own write buffer before
//! sending it: a client that reads slowly held a copy of the 1.7 MB docs page for as long as it
//! took. Here hyper gets the connection itself ([`crate::listener::Guarded`]), so a body is
//! written from where it is (the static pages from their one shared buffer), and hyper's own
//! limits are set: `max_concurrent_streams` per HTTP/2 connection, the pending-reset bound, the
//! header list size. poem still routes each request ([`Endpoint::get_response`]), from the
//! client the connection speaks for ([`client`]: behind a trusted proxy, the address it names).
//!
//! Shutdown: when `stop` completes no more connections are accepted, every open one is asked
//! to finish what it has in progress (HTTP/1: after the current response; HTTP/2: GOAWAY), and
//! those still open after the grace period are dropped.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use poem::http::HeaderMap;
use poem::listener::Acceptor;
use poem::web::RemoteAddr;
use poem::{Addr, Endpoint, Request, Response};
use rfc7239::{NodeIdentifier, NodeName};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::ClientHeader;
use crate::listener::GuardedAcceptor;

/// The body type poem turns its responses into for hyper.
type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// Streams one HTTP/2 connection may reset before they are accepted (hyper's guard against
/// rapid resets); poem's default.
const MAX_PENDING_RESETS: usize = 20;
/// The largest request head an HTTP/2 client may send; poem's default.
const MAX_HEADER_LIST_BYTES: u32 = 16 * 1024;

/// What each connection is served with.
#[derive(Debug, Clone)]
pub struct Options {
    /// Streams (requests in progress) one HTTP/2 connection may have open at once.
    pub http2_max_streams: u32,
    /// How long open connections may take to finish after `stop`.
    pub grace: Duration,
    /// Reverse proxies whose `client_header` names the client ([`client`]).
    pub trusted_proxies: Arc<[IpAddr]>,
    /// The header those proxies write.
    pub client_header: ClientHeader,
}

/// Who sent a request: the peer, or, when the peer is a trusted proxy, the last address in its
/// `header` (`X-Forwarded-For`, or `Forwarded`'s `for=`) that is not itself a trusted proxy:
/// each proxy appends the address it was reached from, so the entries before it are the
/// client's own word. An entry that is not an address (`unknown`, an obfuscated name, a typo)
/// ends the search at the proxy. Anyone else's header is ignored: it is whatever the sender
/// wrote.
pub fn client(
    remote: &RemoteAddr,
    headers: &HeaderMap,
    trusted: &[IpAddr],
    header: ClientHeader,
) -> RemoteAddr {
    let Some(peer) = remote.as_socket_addr() else {
        return remote.clone();
    };
    if !trusted.contains(&peer.ip()) {
        return remote.clone();
    }
    let name = match header {
        ClientHeader::XForwardedFor => "x-forwarded-for",
        ClientHeader::Forwarded => "forwarded",
    };
    let values = headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok());
    let hops: Vec<Option<IpAddr>> = match header {
        ClientHeader::XForwardedFor => values
            .flat_map(|value| value.split(','))
            .map(|hop| hop.trim().parse().ok())
            .collect(),
        ClientHeader::Forwarded => values
            .flat_map(rfc7239::parse)
            .map(|element| match element.map(|e| e.forwarded_for) {
                Ok(Some(NodeIdentifier {
                    name: NodeName::Ip(ip),
                    ..
                })) => Some(ip),
                _ => None,
            })
            .collect(),
    };
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if trusted.contains(ip) => continue,
            Some(ip) => return RemoteAddr(Addr::SocketAddr(SocketAddr::new(*ip, 0))),
            None => break,
        }
    }
    remote.clone()
}

/// Accepts and serves connections with `endpoint` until `stop` completes, then shuts down as
/// the module documentation says.
pub async fn serve<E>(
    mut acceptor: GuardedAcceptor,
    endpoint: E,
    options: Options,
    stop: impl Future<Output = ()>,
) where
    E: Endpoint<Output = Response> + 'static,
{
    let endpoint = Arc::new(endpoint);
    let (stopping, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        // Finished connections are reaped here, not raced against `accept`: an accept that is
        // pausing after running out of descriptors must not be dropped and started over, or
        // the end of the burst would never be logged.
        while connections.try_join_next().is_some() {}
        tokio::select! {
            () = &mut stop => break,
            accepted = acceptor.accept() => match accepted {
                Ok((io, local, remote, scheme)) => {
                    let endpoint = endpoint.clone();
                    let trusted = options.trusted_proxies.clone();
                    let header = options.client_header;
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let endpoint = endpoint.clone();
                        let remote = client(&remote, request.headers(), &trusted, header);
                        let request =
                            Request::from((request, local.clone(), remote, scheme.clone()));
                        async move {
                            let response = endpoint.get_response(request).await;
                            Ok::<_, Infallible>(hyper::Response::<Body>::from(response))
                        }
                    });
                    let streams = options.http2_max_streams;
                    connections.spawn(connection(io, service, streams, stopped.clone()));
                }
                Err(error) => tracing::debug!(%error, "accept failed"),
            },
        }
    }
    drop(acceptor);
    let _ = stopping.send(true);
    let finished = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(options.grace, finished).await.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the shutdown grace period are dropped"
        );
        connections.abort_all();
    }
}

/// Serves one connection until it ends, or, once `stopped` says so, until what it has in
/// progress is done.
async fn connection<S>(
    io: crate::listener::Guarded<tokio::net::TcpStream>,
    service: S,
    http2_max_streams: u32,
    mut stopped: watch::Receiver<bool>,
) where
    S: hyper::service::Service<hyper::Request<Incoming>, Response = hyper::Response<Body>>
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .max_concurrent_streams(http2_max_streams)
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .max_header_list_size(MAX_HEADER_LIST_BYTES);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = stopped.wait_for(|stopped| *stopped) => connection.as_mut().graceful_shutdown(),
    }
    let _ = connection.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ip: &str) -> RemoteAddr {
        RemoteAddr(Addr::SocketAddr(SocketAddr::new(ip.parse().unwrap(), 1)))
    }

    fn ip(remote: RemoteAddr) -> String {
        remote.as_socket_addr().unwrap().ip().to_string()
    }

    const TRUSTED: [IpAddr; 2] = [
        IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
    ];

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let xff = ClientHeader::XForwardedFor;
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.7, 203.0.113.9, 10.0.0.2".parse().unwrap(),
        );
        assert_eq!(
            ip(client(&at("10.0.0.1"), &headers, &TRUSTED, xff)),
            "203.0.113.9"
        );
        assert_eq!(
            ip(client(&at("192.0.2.4"), &headers, &TRUSTED, xff)),
            "192.0.2.4"
        );
        assert_eq!(ip(client(&at("10.0.0.1"), &headers, &[], xff)), "10.0.0.1");
        headers.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(
            ip(client(&at("10.0.0.1"), &headers, &TRUSTED, xff)),
            "10.0.0.1"
        );
    }

    #[test]
    fn forwarded_names_the_client_when_the_proxies_write_it() {
        let forwarded = ClientHeader::Forwarded;
        let mut headers = HeaderMap::new();
        headers.insert(
            "forwarded",
            "for=198.51.100.7, for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.2"
                .parse()
                .unwrap(),
        );
        // What the client wrote in the other header is not read.
        headers.insert("x-forwarded-for", "192.0.2.99".parse().unwrap());
        assert_eq!(
            ip(client(&at("10.0.0.1"), &headers, &TRUSTED, forwarded)),
            "2001:db8:cafe::17"
        );
        assert_eq!(
            ip(client(
                &at("10.0.0.1"),
                &headers,
                &TRUSTED,
                ClientHeader::XForwardedFor
            )),
            "192.0.2.99"
        );
        assert_eq!(
            ip(client(&at("192.0.2.4"), &headers, &TRUSTED, forwarded)),
            "192.0.2.4"
        );
        for unusable in ["for=unknown", "for=_hidden", "proto=https", "for=300.1.1.1"] {
            headers.insert("forwarded", unusable.parse().unwrap());
            assert_eq!(
                ip(client(&at("10.0.0.1"), &headers, &TRUSTED, forwarded)),
                "10.0.0.1",
                "{unusable}"
            );
        }
    }
}
