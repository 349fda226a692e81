//! Connections without AMQP heartbeats, for `heartbeat_timeout_threshold=0`.
//!
//! oslo passes `heartbeat=0` to kombu, and py-amqp answers the broker's `connection.tune` with a
//! `tune-ok` heartbeat of 0 whatever the broker proposed ("ignore server heartbeat if
//! client_heartbeat is disabled"), which turns heartbeats off on both sides. lapin instead
//! follows the broker when its own value is 0 (it would answer 60 to RabbitMQ's default), and
//! has no setting to do otherwise. So such a connection reads the broker's bytes through
//! [`TuneRewriter`], which sets the heartbeat of the one `connection.tune` frame to 0 on its way
//! in: lapin then sees both sides asking for none, answers `tune-ok` with 0 and starts no
//! heartbeat task, and the broker, which takes the client's value, sends none either. Only that
//! frame's two bytes change; the rewriter stops looking after it (or at the first frame that
//! cannot precede it), so the rest of the connection passes untouched. With TLS the rewriter
//! sits above the TLS session, where the frames are plain.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::io::{AsFd, AsRawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_rs::traits::Reactor;
use async_rs::util::RuntimeParts;
use async_rs::{Runtime, Tokio};
use futures::io::{AsyncRead, AsyncWrite};
use futures::{FutureExt, Stream};
use lapin::tcp::{AsyncTcpStream, OwnedTLSConfig};
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{Connection, ConnectionProperties};

/// The frame type of AMQP method frames.
const METHOD_FRAME: u8 = 1;
/// `connection` (class 10) `tune` (method 30).
const CONNECTION_TUNE: [u8; 4] = [0, 10, 0, 30];
/// Bytes of a frame's header (type, channel, payload size).
const FRAME_HEADER: usize = 7;
/// Where a `connection.tune` frame holds its heartbeat: after the header, class and method
/// ids (4), `channel-max` (2) and `frame-max` (4).
const TUNE_HEARTBEAT: usize = FRAME_HEADER + 10;
/// What the scanner keeps of each frame: the header and the class and method ids.
const KEPT: usize = FRAME_HEADER + 4;

/// Where the scan of the broker's first frames stands.
#[derive(Debug)]
struct Scan {
    /// The first [`KEPT`] bytes of the current frame.
    head: [u8; KEPT],
    /// How many bytes of the current frame went by.
    offset: usize,
    /// The current frame's whole length (header, payload, frame-end), once its header is in.
    length: usize,
}

impl Scan {
    fn new() -> Self {
        Self { head: [0; KEPT], offset: 0, length: usize::MAX }
    }

    fn is_tune(&self) -> bool {
        self.head[0] == METHOD_FRAME
            && self.head[1..3] == [0, 0]
            && self.head[FRAME_HEADER..KEPT] == CONNECTION_TUNE
    }

    /// Looks at (and, in `connection.tune`, rewrites) the next bytes; `false` once scanning is
    /// over (the tune frame went by, or a frame that cannot come before it).
    fn feed(&mut self, bytes: &mut [u8]) -> bool {
        for byte in bytes {
            if self.offset < KEPT {
                self.head[self.offset] = *byte;
            }
            if self.offset == 2 && (self.head[0] != METHOD_FRAME || self.head[1..3] != [0, 0]) {
                // Only channel-0 method frames (start, secure) come before tune.
                return false;
            }
            if self.offset == FRAME_HEADER - 1 {
                let size = u32::from_be_bytes([self.head[3], self.head[4], self.head[5], self.head[6]]);
                self.length = FRAME_HEADER + size as usize + 1;
            }
            if (TUNE_HEARTBEAT..TUNE_HEARTBEAT + 2).contains(&self.offset) && self.is_tune() {
                *byte = 0;
            }
            self.offset += 1;
            if self.offset == self.length {
                if self.is_tune() {
                    return false;
                }
                *self = Self::new();
            }
        }
        true
    }
}

/// A stream that sets the heartbeat of the broker's `connection.tune` to 0 as it reads it.
pub(crate) struct TuneRewriter<S> {
    inner: S,
    scan: Option<Scan>,
}

impl<S> TuneRewriter<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner, scan: Some(Scan::new()) }
    }
}

impl<S> fmt::Debug for TuneRewriter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TuneRewriter").field("scanning", &self.scan.is_some()).finish_non_exhaustive()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TuneRewriter<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(n)), Some(scan)) = (&read, this.scan.as_mut())
            && !scan.feed(&mut buf[..*n])
        {
            this.scan = None;
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TuneRewriter<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// The stream lapin reads: TCP (and TLS) under the rewriter.
type RewrittenStream = TuneRewriter<AsyncTcpStream<<Tokio as Reactor>::TcpStream>>;

/// tokio's reactor, handing out rewritten streams (lapin takes its stream type from the
/// runtime's reactor).
#[derive(Clone, Debug)]
struct RewritingReactor(Tokio);

impl Reactor for RewritingReactor {
    type TcpStream = RewrittenStream;
    type Sleep = <Tokio as Reactor>::Sleep;

    fn register<H: Read + Write + AsFd + AsRawFd + Send + 'static>(
        &self,
        socket: H,
    ) -> io::Result<impl AsyncRead + AsyncWrite + Send + Unpin + 'static> {
        self.0.register(socket)
    }

    fn sleep(&self, dur: Duration) -> Self::Sleep {
        self.0.sleep(dur)
    }

    fn interval(&self, dur: Duration) -> impl Stream<Item = Instant> + Send + 'static {
        self.0.interval(dur)
    }

    fn tcp_connect_addr(
        &self,
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<Self::TcpStream>> + Send + 'static {
        self.0.tcp_connect_addr(addr).map(|stream| Ok(TuneRewriter::new(AsyncTcpStream::Plain(stream?))))
    }
}

/// Opens a connection as [`Connection::connect_uri_with_config`] does, with heartbeats off.
pub(crate) async fn connect(
    uri: AMQPUri,
    properties: ConnectionProperties,
    tls: OwnedTLSConfig,
) -> lapin::Result<Connection> {
    let tokio = Tokio::current();
    let runtime = Runtime::new(RuntimeParts::new(tokio.clone(), RewritingReactor(tokio.clone())));
    Connection::connector(
        uri,
        runtime,
        async move |uri: AMQPUri, runtime: Runtime<_>| {
            let addresses = runtime.to_socket_addrs((uri.authority.host.clone(), uri.authority.port));
            let tcp = AsyncTcpStream::connect(&tokio, addresses).await?;
            let stream = match uri.scheme {
                AMQPScheme::AMQP => tcp,
                AMQPScheme::AMQPS => tcp.into_tls(&uri.authority.host, tls.as_ref()).await?,
            };
            Ok(AsyncTcpStream::Plain(TuneRewriter::new(stream)))
        },
        properties,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `connection.tune` frame: channel-max, frame-max and heartbeat.
    fn tune(channel_max: u16, frame_max: u32, heartbeat: u16) -> Vec<u8> {
        let mut payload = CONNECTION_TUNE.to_vec();
        payload.extend(channel_max.to_be_bytes());
        payload.extend(frame_max.to_be_bytes());
        payload.extend(heartbeat.to_be_bytes());
        frame(METHOD_FRAME, 0, &payload)
    }

    fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![kind];
        frame.extend(channel.to_be_bytes());
        frame.extend(u32::try_from(payload.len()).unwrap().to_be_bytes());
        frame.extend(payload);
        frame.push(0xCE);
        frame
    }

    /// `connection.start` with a payload long enough to hold bytes that look like a tune.
    fn start() -> Vec<u8> {
        let mut payload = vec![0, 10, 0, 10, 0, 9];
        payload.extend(tune(2047, 131_072, 60));
        frame(METHOD_FRAME, 0, &payload)
    }

    /// Feeds `bytes` in chunks of `chunk` bytes; returns what came out and whether the scan
    /// is still going.
    fn scan(bytes: &[u8], chunk: usize) -> (Vec<u8>, bool) {
        let mut scan = Some(Scan::new());
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk) {
            let mut piece = piece.to_vec();
            if let Some(s) = scan.as_mut()
                && !s.feed(&mut piece)
            {
                scan = None;
            }
            out.extend(piece);
        }
        (out, scan.is_some())
    }

    #[test]
    fn only_the_tune_heartbeat_is_zeroed_in_any_chunking() {
        let mut input = start();
        input.extend(tune(2047, 131_072, 60));
        let after = frame(METHOD_FRAME, 0, &[0, 10, 0, 41, 0]);
        input.extend(&after);
        let mut expected = start();
        expected.extend(tune(2047, 131_072, 0));
        expected.extend(&after);
        for chunk in [1, 2, 3, 7, 11, 19, 64, 4096] {
            let (out, scanning) = scan(&input, chunk);
            assert_eq!(out, expected, "chunks of {chunk}");
            assert!(!scanning, "the scan stops after the tune frame (chunks of {chunk})");
        }
    }

    #[test]
    fn nothing_after_the_tune_frame_is_touched() {
        let mut input = tune(0, 0, 30);
        let later = tune(1, 1, 1);
        input.extend(&later);
        let (out, _) = scan(&input, 5);
        assert_eq!(&out[..20], &tune(0, 0, 0)[..]);
        assert_eq!(&out[20..], &later[..], "a second tune-like frame is left alone");
    }

    #[test]
    fn the_scan_gives_up_on_frames_that_cannot_precede_tune() {
        let mut input = frame(8, 0, &[]); // a heartbeat frame
        input.extend(tune(0, 0, 60));
        let (out, scanning) = scan(&input, 4096);
        assert_eq!(out, input);
        assert!(!scanning);
        let other_channel = frame(METHOD_FRAME, 1, &[0, 10, 0, 30, 0, 0, 0, 0, 0, 0, 0, 60]);
        assert_eq!(scan(&other_channel, 3).0, other_channel);
    }
}
