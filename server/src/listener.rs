//! The server's side of TCP: how many connections it holds, how long a client may take to send
//! a request head or leave a kept-alive connection unused, and what it does when the process runs
//! out of file descriptors.
//!
//! poem serves whatever an [`Acceptor`] hands it, and neither poem 3.1 nor the hyper builder it
//! makes has a header-read timer (hyper's `header_read_timeout` needs a timer that poem does not
//! set), a connection cap, or a pause after a failed `accept` (its accept loop retries at once,
//! which spun a core while `accept` failed with EMFILE). So [`GuardedAcceptor`] wraps poem's
//! [`TcpAcceptor`]:
//!
//! - **Connection cap.** A connection holds a semaphore permit for as long as its stream lives;
//!   with `max_connections` open, the acceptor waits for one to close before it calls `accept`
//!   again. Connections over the cap wait in the kernel's listen queue (their TCP handshake
//!   completes, no request is read) and are served, in order, as others close.
//! - **EMFILE.** An `accept` that fails for want of descriptors or memory (EMFILE, ENFILE,
//!   ENOBUFS, ENOMEM) is retried after a pause that doubles from 10 ms to 1 s, and the burst is
//!   logged twice: a warning when it starts, and how many accepts failed when it ends. Other
//!   accept errors concern one connection (it was reset before it was accepted) and are retried
//!   at once.
//! - **Timeouts**, by [`Guarded`], which watches the bytes going through each connection: a
//!   request head must be complete (the blank line after the headers) within `header_timeout` of
//!   the connection opening, or of the first byte of the next request on a kept-alive
//!   connection; after a response, the next request must start within `idle_timeout`. Past
//!   either, the next read fails and hyper closes the connection. Between a complete head and
//!   the response (the body, the handler) nothing is timed here: the body's deadline
//!   (`body_timeout`) is kept where the body is read, in the API's body limit, and handlers are
//!   bounded by the database's `query_timeout`. An HTTP/2 connection (prior knowledge: it opens
//!   with `PRI`) multiplexes requests, so it is only closed after `idle_timeout` without a byte
//!   either way.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::config::ServerLimits;

/// The first pause after an accept failed for want of resources; it doubles up to
/// [`ACCEPT_PAUSE_MAX`] while accepts keep failing.
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(10);
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// What [`Guarded`] enforces on each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

impl From<&ServerLimits> for Timeouts {
    fn from(limits: &ServerLimits) -> Self {
        Timeouts {
            header: limits.header_timeout,
            idle: limits.idle_timeout,
        }
    }
}

/// poem's TCP acceptor with a connection cap, timeouts on every connection, and a pause after
/// accepts that fail for want of resources.
pub struct GuardedAcceptor {
    inner: TcpAcceptor,
    slots: Arc<Semaphore>,
    max_connections: usize,
    timeouts: Timeouts,
}

/// Descriptors the process needs besides its connections: the database pool, the runtime, logs.
const DESCRIPTOR_RESERVE: u64 = 64;

/// The process's soft limit on open files, where the system tells it (`/proc/self/limits`).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

impl GuardedAcceptor {
    pub fn new(inner: TcpAcceptor, limits: &ServerLimits) -> GuardedAcceptor {
        if let Some(files) = open_file_limit()
            && limits.max_connections as u64 + DESCRIPTOR_RESERVE > files
        {
            tracing::warn!(
                max_connections = limits.max_connections,
                open_file_limit = files,
                "server.max_connections plus {DESCRIPTOR_RESERVE} descriptors for the database \
                 and the runtime exceed the open-file limit: accepts will fail (and pause) before \
                 the cap is reached; raise `ulimit -n` or lower server.max_connections"
            );
        }
        GuardedAcceptor {
            inner,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            max_connections: limits.max_connections,
            timeouts: Timeouts::from(limits),
        }
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.max_connections - self.slots.available_permits()
    }
}

/// An accept failure that will last until something closes a descriptor or frees memory, as
/// opposed to one about the connection being accepted.
fn out_of_resources(error: &io::Error) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOBUFS: i32 = 105;
    const ENOMEM: i32 = 12;
    matches!(
        error.raw_os_error(),
        Some(EMFILE | ENFILE | ENOBUFS | ENOMEM)
    ) || error.kind() == io::ErrorKind::OutOfMemory
}

impl Acceptor for GuardedAcceptor {
    type Io = Guarded<TcpStream>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        if self.slots.available_permits() == 0 {
            tracing::debug!(
                max_connections = self.max_connections,
                "connection cap reached; waiting for a connection to close before accepting"
            );
        }
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed");
        let mut pause = ACCEPT_PAUSE_MIN;
        let mut failed = 0u64;
        loop {
            match self.inner.accept().await {
                Ok((stream, local, remote, scheme)) => {
                    if failed > 0 {
                        tracing::warn!(
                            failed_accepts = failed,
                            "accepting connections again after running out of resources"
                        );
                    }
                    let stream = Guarded::new(stream, slot, self.timeouts);
                    return Ok((stream, local, remote, scheme));
                }
                Err(error) if out_of_resources(&error) => {
                    if failed == 0 {
                        tracing::warn!(
                            %error,
                            open_connections = self.open_connections(),
                            "cannot accept connections: out of resources; retrying with a pause \
                             of up to {} ms until a connection closes",
                            ACCEPT_PAUSE_MAX.as_millis()
                        );
                    }
                    failed += 1;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(ACCEPT_PAUSE_MAX);
                }
                Err(error) => {
                    tracing::debug!(%error, "a connection failed before it was accepted");
                }
            }
        }
    }
}

/// Where a connection is in its request/response cycle, as far as the bytes show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request head: due complete by the deadline.
    Head,
    /// The head is complete: the body and the handler, not timed here.
    Busy,
    /// A response was written: the next request's first byte is due by the deadline.
    Idle,
    /// Prior-knowledge HTTP/2: closed after `idle` without a byte either way.
    Http2,
}

/// A connection's stream: holds its slot under the connection cap, and fails reads once the
/// request head or the next request is late (see the module documentation).
pub struct Guarded<S> {
    inner: S,
    _slot: OwnedSemaphorePermit,
    timeouts: Timeouts,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    /// Line feeds seen in a row in the head (carriage returns aside): two end it.
    newlines: u8,
    /// Bytes read from the connection so far, up to the length of the HTTP/2 preface's `PRI`.
    seen: usize,
}

impl<S> Guarded<S> {
    fn new(inner: S, slot: OwnedSemaphorePermit, timeouts: Timeouts) -> Guarded<S> {
        Guarded {
            inner,
            _slot: slot,
            timeouts,
            phase: Phase::Head,
            deadline: Box::pin(tokio::time::sleep(timeouts.header)),
            newlines: 0,
            seen: 0,
        }
    }

    fn enter(&mut self, phase: Phase, timeout: Duration) {
        self.phase = phase;
        self.deadline.as_mut().reset(Instant::now() + timeout);
    }

    /// Follows the bytes just read.
    fn read(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.seen < 3 {
            let prefix = &b"PRI"[self.seen..];
            let n = prefix.len().min(bytes.len());
            if bytes[..n] == prefix[..n] {
                self.seen += n;
                if self.seen == 3 {
                    self.enter(Phase::Http2, self.timeouts.idle);
                    return;
                }
            } else {
                self.seen = usize::MAX;
            }
        }
        match self.phase {
            Phase::Http2 => self.enter(Phase::Http2, self.timeouts.idle),
            Phase::Busy => {}
            Phase::Idle => {
                self.enter(Phase::Head, self.timeouts.header);
                self.newlines = 0;
                self.scan_head(bytes);
            }
            Phase::Head => self.scan_head(bytes),
        }
    }

    fn scan_head(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            match byte {
                b'\n' => {
                    self.newlines += 1;
                    if self.newlines == 2 {
                        self.phase = Phase::Busy;
                        return;
                    }
                }
                b'\r' => {}
                _ => self.newlines = 0,
            }
        }
    }

    /// Follows bytes written: a response (other than an interim `100 Continue`) starts the
    /// wait for the next request. The deadline is polled here, with the connection task's
    /// waker: hyper's read may already be waiting on the socket alone, and nothing else would
    /// wake it when the deadline passes.
    fn wrote(&mut self, bytes: &[u8], cx: &mut Context<'_>) {
        match self.phase {
            Phase::Http2 => self.enter(Phase::Http2, self.timeouts.idle),
            Phase::Busy if bytes.starts_with(b"HTTP/1.1 100 ") => return,
            _ => self.enter(Phase::Idle, self.timeouts.idle),
        }
        let _ = self.deadline.as_mut().poll(cx);
    }

    fn late(&self) -> io::Error {
        let what = match self.phase {
            Phase::Head => "no complete request head within the header timeout",
            _ => "no request within the idle timeout",
        };
        io::Error::new(io::ErrorKind::TimedOut, what)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.read(&buf.filled()[before..]);
                // A head that is still incomplete when it is due is refused even while bytes
                // trickle in: that trickle is the attack.
                if this.phase == Phase::Head && Instant::now() >= this.deadline.deadline() {
                    tracing::debug!("closing a connection whose request head is late");
                    return Poll::Ready(Err(this.late()));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if this.phase != Phase::Busy && this.deadline.as_mut().poll(cx).is_ready() {
                    tracing::debug!(phase = ?this.phase, "closing a connection that is late");
                    return Poll::Ready(Err(this.late()));
                }
                Poll::Pending
            }
            failed => failed,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &written
            && *n > 0
        {
            this.wrote(&buf[..*n], cx);
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &written
            && *n > 0
        {
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            this.wrote(first, cx);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> Context<'static> {
        Context::from_waker(std::task::Waker::noop())
    }

    fn guarded() -> Guarded<()> {
        let slot = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        Guarded::new(
            (),
            slot,
            Timeouts {
                header: Duration::from_secs(10),
                idle: Duration::from_secs(60),
            },
        )
    }

    #[tokio::test]
    async fn a_head_ends_at_the_blank_line_whatever_the_line_endings() {
        for head in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"GET / HTTP/1.1\nHost: x\n\n",
            b"GET / HTTP/1.1\r\nHost: x\n\r\n",
        ] {
            let mut conn = guarded();
            conn.read(&head[..head.len() - 1]);
            assert_eq!(conn.phase, Phase::Head, "{head:?}");
            conn.read(&head[head.len() - 1..]);
            assert_eq!(conn.phase, Phase::Busy, "{head:?}");
        }
        let mut conn = guarded();
        for byte in b"GET / HTTP/1.1\r\nX-a: \r" {
            conn.read(&[*byte]);
        }
        assert_eq!(conn.phase, Phase::Head, "one line end is not a blank line");
    }

    #[tokio::test]
    async fn a_response_waits_for_the_next_request_and_its_first_byte_starts_a_head() {
        let mut conn = guarded();
        conn.read(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
        conn.wrote(b"HTTP/1.1 100 Continue\r\n\r\n", &mut noop());
        assert_eq!(
            conn.phase,
            Phase::Busy,
            "an interim response is not the answer"
        );
        conn.read(b"{\"a\":1}");
        conn.wrote(b"HTTP/1.1 200 OK\r\n", &mut noop());
        assert_eq!(conn.phase, Phase::Idle);
        conn.read(b"G");
        assert_eq!(conn.phase, Phase::Head);
        conn.read(b"ET / HTTP/1.1\r\n\r\n");
        assert_eq!(conn.phase, Phase::Busy);
    }

    #[tokio::test]
    async fn http2_prior_knowledge_is_only_timed_when_idle() {
        let mut conn = guarded();
        conn.read(b"PR");
        conn.read(b"I * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert_eq!(conn.phase, Phase::Http2);
        conn.read(b"\0\0\x04\x08");
        conn.wrote(b"\0\0", &mut noop());
        assert_eq!(conn.phase, Phase::Http2);
    }
}
