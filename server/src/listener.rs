//! The server's side of TCP: how many connections it holds, how long a client may take to send
//! a request head or leave a kept-alive connection unused, and what it does when the process runs
//! out of file descriptors.
//!
//! hyper ([`crate::http`]) serves each connection, and bounds what happens inside one (HTTP/2
//! streams, header sizes); it has no connection cap, no pause after a failed `accept` (an
//! accept loop that retries at once spun a core while `accept` failed with EMFILE), no idle
//! clock for HTTP/2 that pings do not reset, and no write timeout, and its HTTP/1 header timer
//! covers the head only, not the wait for the next request. One clock per connection, here,
//! covers all of them. So [`GuardedAcceptor`] wraps poem's [`TcpAcceptor`]:
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
//!   connection, whatever it starts with: empty lines before a request line (which hyper skips)
//!   do not end a head, and the HTTP/2 preface is a head until its 24 bytes are in. After a
//!   response, the next request must start within `idle_timeout`. Past either, the next read
//!   fails and hyper closes the connection. Between a complete head and the response (the body,
//!   the handler) nothing is timed here: the body's deadline (`body_timeout`) is kept where the
//!   body is read, in the API's body limit, and handlers are bounded by the database's
//!   `query_timeout`.
//! - **HTTP/2** (prior knowledge) multiplexes requests, so its clock is kept by frames: the
//!   connection is closed after `idle_timeout` without a frame that carries a request or a
//!   response (HEADERS, CONTINUATION, DATA with a payload) either way. PINGs, SETTINGS and
//!   WINDOW_UPDATEs keep nothing open, so a client that opens streams, advertises a window of 0
//!   and pings is closed like one that sends nothing. How many streams one connection may have
//!   open at once is hyper's `max_concurrent_streams` (`server.http2_max_streams`).
//! - **Writes.** A write that the client does not let through (it stops reading) for
//!   `write_timeout` fails, and hyper closes the connection, as nginx's `send_timeout` does: the
//!   clock runs between two writes, not over a whole response, so a slow reader that keeps
//!   reading is served.

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

/// The client's first bytes on an HTTP/2 connection with prior knowledge (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What [`Guarded`] enforces on each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
    pub write: Duration,
}

impl From<&ServerLimits> for Timeouts {
    fn from(limits: &ServerLimits) -> Self {
        Timeouts {
            header: limits.header_timeout,
            idle: limits.idle_timeout,
            write: limits.write_timeout,
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
    /// Prior-knowledge HTTP/2: closed after `idle` without a request or a response moving.
    Http2,
}

/// Follows the HTTP/2 frames in one direction of a connection by their headers (RFC 9113 §4.1:
/// a 24-bit payload length, a type, flags and a stream), to tell the frames that carry requests
/// and responses from those that only keep a connection alive.
#[derive(Debug, Default)]
struct Frames {
    header: [u8; 9],
    /// Bytes of the current frame header read so far.
    have: usize,
    /// Payload bytes of the current frame still to pass.
    payload: usize,
}

impl Frames {
    const DATA: u8 = 0x0;
    const HEADERS: u8 = 0x1;
    const CONTINUATION: u8 = 0x9;

    /// Follows `bytes`; whether a frame carrying a request or a response began in them.
    fn carried(&mut self, mut bytes: &[u8]) -> bool {
        let mut carried = false;
        while !bytes.is_empty() {
            if self.payload > 0 {
                let n = self.payload.min(bytes.len());
                self.payload -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (self.header.len() - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == self.header.len() {
                self.have = 0;
                let [a, b, c, kind, ..] = self.header;
                self.payload = u32::from_be_bytes([0, a, b, c]) as usize;
                carried |= match kind {
                    Self::HEADERS | Self::CONTINUATION => true,
                    Self::DATA => self.payload > 0,
                    _ => false,
                };
            }
        }
        carried
    }
}

/// A connection's stream: holds its slot under the connection cap, and fails reads once the
/// request head or the next request is late (see the module documentation).
pub struct Guarded<S> {
    inner: S,
    _slot: OwnedSemaphorePermit,
    timeouts: Timeouts,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    /// Whether the head's request line has begun: the empty lines before it are skipped.
    started: bool,
    /// Line feeds seen in a row in the head (carriage returns aside): two end it.
    newlines: u8,
    /// How much of the HTTP/2 preface the connection's first bytes have matched, until they
    /// complete it or differ from it.
    preface: Option<usize>,
    frames_in: Frames,
    frames_out: Frames,
    /// Runs while a write waits for the client to read.
    write_stall: Option<Pin<Box<Sleep>>>,
}

impl<S> Guarded<S> {
    fn new(inner: S, slot: OwnedSemaphorePermit, timeouts: Timeouts) -> Guarded<S> {
        Guarded {
            inner,
            _slot: slot,
            timeouts,
            phase: Phase::Head,
            deadline: Box::pin(tokio::time::sleep(timeouts.header)),
            started: false,
            newlines: 0,
            preface: Some(0),
            frames_in: Frames::default(),
            frames_out: Frames::default(),
            write_stall: None,
        }
    }

    fn enter(&mut self, phase: Phase, timeout: Duration) {
        self.phase = phase;
        self.deadline.as_mut().reset(Instant::now() + timeout);
    }

    /// Follows the bytes just read.
    fn read(&mut self, mut bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(matched) = self.preface {
            let rest = &PREFACE[matched..];
            let n = rest.len().min(bytes.len());
            if bytes[..n] == rest[..n] {
                if matched + n < PREFACE.len() {
                    // A preface in progress is a head, due by the header timeout.
                    self.preface = Some(matched + n);
                    return;
                }
                self.preface = None;
                self.enter(Phase::Http2, self.timeouts.idle);
                bytes = &bytes[n..];
            } else {
                self.preface = None;
                self.scan_head(&PREFACE[..matched]);
            }
        }
        match self.phase {
            Phase::Http2 => {
                if self.frames_in.carried(bytes) {
                    self.enter(Phase::Http2, self.timeouts.idle);
                }
            }
            Phase::Busy => {}
            Phase::Idle => {
                self.enter(Phase::Head, self.timeouts.header);
                self.started = false;
                self.newlines = 0;
                self.scan_head(bytes);
            }
            Phase::Head => self.scan_head(bytes),
        }
    }

    fn scan_head(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            match byte {
                b'\n' if self.started => {
                    self.newlines += 1;
                    if self.newlines == 2 {
                        self.phase = Phase::Busy;
                        return;
                    }
                }
                b'\r' | b'\n' => {}
                _ => {
                    self.started = true;
                    self.newlines = 0;
                }
            }
        }
    }

    /// Follows bytes written (`written`, in order): a response (other than an interim
    /// `100 Continue`) starts the wait for the next request. The deadline is polled here, with
    /// the connection task's waker: hyper's read may already be waiting on the socket alone, and
    /// nothing else would wake it when the deadline passes.
    fn wrote<'a>(&mut self, mut written: impl Iterator<Item = &'a [u8]>, cx: &mut Context<'_>) {
        self.write_stall = None;
        match self.phase {
            Phase::Http2 => {
                // Every slice is followed, so that the next frame header is found.
                let frames = &mut self.frames_out;
                if written.fold(false, |carried, bytes| frames.carried(bytes) | carried) {
                    self.enter(Phase::Http2, self.timeouts.idle);
                }
            }
            Phase::Busy
                if written
                    .next()
                    .is_some_and(|b| b.starts_with(b"HTTP/1.1 100 ")) =>
            {
                return;
            }
            _ => self.enter(Phase::Idle, self.timeouts.idle),
        }
        let _ = self.deadline.as_mut().poll(cx);
    }

    /// A write is waiting for the client to read: whether it has waited `write_timeout`.
    fn write_stalled(&mut self, cx: &mut Context<'_>) -> bool {
        let timeout = self.timeouts.write;
        let stall = self
            .write_stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        stall.as_mut().poll(cx).is_ready()
    }

    fn late(&self) -> io::Error {
        let what = match self.phase {
            Phase::Head => "no complete request head within the header timeout",
            Phase::Http2 => "no request or response moved within the idle timeout",
            _ => "no request within the idle timeout",
        };
        io::Error::new(io::ErrorKind::TimedOut, what)
    }

    fn unwritable() -> io::Error {
        tracing::debug!("closing a connection whose client does not read its response");
        io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read nothing of its response within the write timeout",
        )
    }
}

/// The first `n` bytes of `bufs`, slice by slice.
fn first_bytes<'a>(bufs: &'a [io::IoSlice<'a>], n: usize) -> impl Iterator<Item = &'a [u8]> {
    let mut left = n;
    bufs.iter().map_while(move |buf| {
        if left == 0 {
            return None;
        }
        let take = left.min(buf.len());
        left -= take;
        Some(&buf[..take])
    })
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
                // trickle in, and so is an HTTP/2 connection kept busy with pings: that trickle
                // is the attack.
                if matches!(this.phase, Phase::Head | Phase::Http2)
                    && Instant::now() >= this.deadline.deadline()
                {
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
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) if n > 0 => {
                this.wrote(std::iter::once(&buf[..n]), cx);
                Poll::Ready(Ok(n))
            }
            Poll::Pending if this.write_stalled(cx) => Poll::Ready(Err(Self::unwritable())),
            other => other,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) if n > 0 => {
                this.wrote(first_bytes(bufs, n), cx);
                Poll::Ready(Ok(n))
            }
            Poll::Pending if this.write_stalled(cx) => Poll::Ready(Err(Self::unwritable())),
            other => other,
        }
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
                write: Duration::from_secs(30),
            },
        )
    }

    /// An HTTP/2 frame header: its payload length, type and flags, on stream 1.
    fn frame(length: u32, kind: u8, flags: u8) -> Vec<u8> {
        let [_, a, b, c] = length.to_be_bytes();
        vec![a, b, c, kind, flags, 0, 0, 0, 1]
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
        conn.wrote(
            std::iter::once(&b"HTTP/1.1 100 Continue\r\n\r\n"[..]),
            &mut noop(),
        );
        assert_eq!(
            conn.phase,
            Phase::Busy,
            "an interim response is not the answer"
        );
        conn.read(b"{\"a\":1}");
        conn.wrote(std::iter::once(&b"HTTP/1.1 200 OK\r\n"[..]), &mut noop());
        assert_eq!(conn.phase, Phase::Idle);
        conn.read(b"G");
        assert_eq!(conn.phase, Phase::Head);
        conn.read(b"ET / HTTP/1.1\r\n\r\n");
        assert_eq!(conn.phase, Phase::Busy);
    }

    #[tokio::test]
    async fn empty_lines_before_a_request_line_do_not_end_its_head() {
        let mut conn = guarded();
        conn.read(b"\r\n\r\n\n\n");
        assert_eq!(
            conn.phase,
            Phase::Head,
            "nothing but empty lines is no head"
        );
        conn.read(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(conn.phase, Phase::Busy);

        let mut conn = guarded();
        conn.read(b"GET / HTTP/1.1\r\n\r\n");
        conn.wrote(std::iter::once(&b"HTTP/1.1 200 OK\r\n"[..]), &mut noop());
        let due = conn.deadline.deadline();
        conn.read(b"\r\n\r\n");
        assert_eq!(conn.phase, Phase::Head, "and neither is the next one");
        assert!(conn.deadline.deadline() <= due, "due by the header timeout");
    }

    #[tokio::test]
    async fn the_http2_preface_is_a_head_until_it_is_complete() {
        let mut conn = guarded();
        let due = conn.deadline.deadline();
        for byte in &PREFACE[..PREFACE.len() - 1] {
            conn.read(&[*byte]);
            assert_eq!(conn.phase, Phase::Head);
        }
        assert_eq!(
            conn.deadline.deadline(),
            due,
            "its bytes do not restart the clock"
        );
        conn.read(&PREFACE[PREFACE.len() - 1..]);
        assert_eq!(conn.phase, Phase::Http2);

        let mut conn = guarded();
        conn.read(b"PRI * HTTP/1.1\r\n\r\n");
        assert_eq!(
            conn.phase,
            Phase::Busy,
            "a head that only starts like the preface"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn http2_is_timed_by_the_frames_that_carry_requests_and_responses() {
        let mut conn = guarded();
        conn.read(PREFACE);
        let due = conn.deadline.deadline();
        tokio::time::advance(Duration::from_secs(1)).await;
        let ping = [frame(8, 0x6, 0), vec![0; 8]].concat();
        let window = [frame(4, 0x8, 0), vec![0; 4]].concat();
        conn.read(&[ping.clone(), window.clone()].concat());
        conn.wrote(std::iter::once(&ping[..]), &mut noop());
        assert_eq!(conn.deadline.deadline(), due, "pings keep nothing open");
        let empty = frame(0, 0x0, 0);
        conn.read(&empty);
        assert_eq!(
            conn.deadline.deadline(),
            due,
            "nor does an empty DATA frame"
        );

        // A request moves the clock; so does a response's data, written in two slices.
        let headers = [frame(3, 0x1, 0x4), vec![0x82, 0x84, 0x87]].concat();
        conn.read(&headers);
        assert!(conn.deadline.deadline() > due);
        tokio::time::advance(Duration::from_secs(1)).await;
        let moved = conn.deadline.deadline();
        let data = [frame(2, 0x0, 0x1), b"{}".to_vec()].concat();
        let (first, second) = data.split_at(4);
        let bufs = [io::IoSlice::new(first), io::IoSlice::new(second)];
        conn.wrote(first_bytes(&bufs, data.len()), &mut noop());
        assert!(conn.deadline.deadline() > moved);
        assert_eq!(conn.phase, Phase::Http2);
    }

    #[test]
    fn frames_are_followed_across_any_split() {
        let stream = [
            frame(8, 0x6, 0),
            vec![9; 8],
            frame(3, 0x1, 0x4),
            vec![0x82, 0x84, 0x87],
            frame(4, 0x8, 0),
            vec![0x1; 4],
        ]
        .concat();
        for cut in 0..=stream.len() {
            let mut frames = Frames::default();
            let (a, b) = stream.split_at(cut);
            let carried = frames.carried(a) | frames.carried(b);
            assert!(
                carried,
                "the HEADERS frame is found with the stream cut at {cut}"
            );
            assert_eq!((frames.have, frames.payload), (0, 0), "cut at {cut}");
        }
        let mut frames = Frames::default();
        assert!(!frames.carried(&[frame(8, 0x6, 0), vec![0x1; 8]].concat()));
    }
}
