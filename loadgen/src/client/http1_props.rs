//! Property tests of the HTTP/1.1 reader ([`super::http1`]). A server may cut its answer
//! anywhere, so every framing the client must read is cut at random byte boundaries, delivered in
//! random small reads, and must parse as it does when the whole answer arrives in one read, and as
//! the answer says. Malformed answers must end in an error: never a hang, never a panic.
//!
//! [`Script`] plays the server's side one chosen piece per read, so what runs is the real
//! `Conn::round_trip`, not a copy. A server that keeps the connection open is played as one that
//! goes quiet after its last piece: a reader that asks for a byte it does not need then hangs,
//! and every exchange runs under a timeout so that a hang fails the case instead of the suite.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderMap, Method};
use proptest::collection::vec;
use proptest::prelude::*;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::http1::{Conn, Outgoing, Stream};
use shapes::{big_head, end_of, malformed, mutated, shape};

mod shapes;

/// What the server does after its last piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Close,
    /// Keeps the connection open and sends nothing more.
    Idle,
}

/// The server's side of a connection: every write accepted; each read answered with the next
/// piece (as much of it as fits) after one `Pending`, as a socket whose next segment is still on
/// the way. That yield also lets the runtime run its timers, so a reader that never stops reading
/// still meets its timeout.
pub(super) struct Script {
    pieces: VecDeque<Bytes>,
    end: End,
    /// The last read was told to wait: this one delivers.
    waited: bool,
    /// Bytes handed to the reader so far, shared because the connection owns the script.
    delivered: Arc<AtomicUsize>,
}

impl AsyncRead for Script {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.waited {
            this.waited = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.waited = false;
        let Some(piece) = this.pieces.front_mut() else {
            // Idle never wakes the reader again: only the test's timeout ends its wait.
            return match this.end {
                End::Close => Poll::Ready(Ok(())),
                End::Idle => Poll::Pending,
            };
        };
        let n = piece.len().min(buf.remaining());
        buf.put_slice(&piece[..n]);
        piece.advance(n);
        if piece.is_empty() {
            this.pieces.pop_front();
        }
        this.delivered.fetch_add(n, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Script {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// How long one exchange may take: microseconds when it works, so only a hang reaches it.
const HANG: Duration = Duration::from_secs(2);

/// What the client made of one response.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parsed {
    status: u16,
    body: Bytes,
    notable: Option<String>,
    keep_alive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Answer(Parsed),
    Failed(String),
    Hung,
}

/// Plays `pieces` as the server's side of one connection and sends one request per method over
/// it, stopping at the first failure: each outcome, and the bytes read by the time it came.
fn play(pieces: VecDeque<Bytes>, end: End, methods: &[Method]) -> Vec<(Outcome, usize)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let delivered = Arc::new(AtomicUsize::new(0));
        let script = Script {
            pieces,
            end,
            waited: false,
            delivered: delivered.clone(),
        };
        let mut conn = Conn::new(Stream::Scripted(script));
        let headers = HeaderMap::new();
        let mut outcomes = Vec::new();
        for method in methods {
            let request = Outgoing {
                method,
                target: "/api/products/",
                host: "shop.test:80",
                agent: "props",
                headers: &headers,
                body: &[],
            };
            let outcome = match tokio::time::timeout(HANG, conn.round_trip(&request)).await {
                Err(_) => Outcome::Hung,
                Ok(Err(e)) => Outcome::Failed(e.to_string()),
                Ok(Ok(a)) => Outcome::Answer(Parsed {
                    status: a.status,
                    body: a.body,
                    notable: a.notable_headers,
                    keep_alive: a.keep_alive,
                }),
            };
            let answered = matches!(outcome, Outcome::Answer(_));
            outcomes.push((outcome, delivered.load(Ordering::Relaxed)));
            if !answered {
                break;
            }
        }
        outcomes
    })
}

/// `wire` in pieces of `sizes` bytes, the sizes taken in turn and again from the first.
fn cut(wire: &[u8], sizes: &[usize]) -> VecDeque<Bytes> {
    let mut pieces = VecDeque::new();
    let mut at = 0;
    for n in sizes.iter().cycle() {
        if at >= wire.len() {
            break;
        }
        let to = (at + (*n).max(1)).min(wire.len());
        pieces.push_back(Bytes::copy_from_slice(&wire[at..to]));
        at = to;
    }
    pieces
}

fn whole(wire: &[u8]) -> VecDeque<Bytes> {
    VecDeque::from([Bytes::copy_from_slice(wire)])
}

/// Random small reads: the piece sizes `cut` takes in turn.
fn reads() -> impl Strategy<Value = Vec<usize>> {
    vec(prop_oneof![3 => 1usize..4, 2 => 4usize..40], 1..16)
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The limit `http1` puts on a response head, restated so a change to it is a decision.
const MAX_HEAD: usize = 64 * 1024;

proptest! {
    #![proptest_config(config(4096))]

    /// Any one response parses as it says, whole or in small reads, and the client reads no byte
    /// past it: a kept-alive server that then goes quiet is not waited on.
    #[test]
    fn one_response_parses_the_same_in_any_reads(shape in shape(true), sizes in reads()) {
        let methods = [shape.method.clone()];
        let expect = vec![(Outcome::Answer(shape.expect.clone()), shape.wire.len())];
        prop_assert_eq!(&play(whole(&shape.wire), end_of(&shape), &methods), &expect);
        prop_assert_eq!(&play(cut(&shape.wire, &sizes), end_of(&shape), &methods), &expect);
    }

    /// Two responses back to back, the second read by a second round trip on the same connection:
    /// both parse, wherever the reads cut them. The first is kept alive only if nothing past it was
    /// read, as bytes nobody asked for make the connection untrusted.
    #[test]
    fn pipelined_responses_parse_the_same_in_any_reads(
        first in shape(false),
        second in shape(true),
        sizes in reads(),
    ) {
        let wire = [&first.wire[..], &second.wire[..]].concat();
        let methods = [first.method.clone(), second.method.clone()];
        for pieces in [whole(&wire), cut(&wire, &sizes)] {
            let got = play(pieces, end_of(&second), &methods);
            prop_assert_eq!(got.len(), 2, "{:?}", got);
            let exactly = got[0].1 == first.wire.len();
            let expect = Parsed { keep_alive: first.expect.keep_alive && exactly, ..first.expect.clone() };
            prop_assert_eq!(&got[0].0, &Outcome::Answer(expect));
            prop_assert_eq!(&got[1], &(Outcome::Answer(second.expect.clone()), wire.len()));
        }
    }

    /// Malformed heads and bodies are errors, whole or in small reads: never a hang or a panic.
    #[test]
    fn malformed_responses_are_errors((wire, end) in malformed(), sizes in reads()) {
        for pieces in [whole(&wire), cut(&wire, &sizes)] {
            let got = play(pieces, end, &[Method::GET]);
            prop_assert!(matches!(got[..], [(Outcome::Failed(_), _)]), "{:?}", got);
        }
    }

    /// Whatever a few changed bytes make of an answer, small reads make the same of it, and it is
    /// never a hang or a panic.
    #[test]
    fn damaged_responses_parse_the_same_in_any_reads(wire in mutated(), sizes in reads()) {
        let methods = [Method::GET, Method::GET];
        let at_once = play(whole(&wire), End::Close, &methods);
        let outcomes = |got: &[(Outcome, usize)]| got.iter().map(|(o, _)| o.clone()).collect::<Vec<_>>();
        prop_assert!(!outcomes(&at_once).contains(&Outcome::Hung), "{:?}", at_once);
        let in_pieces = play(cut(&wire, &sizes), End::Close, &methods);
        // Only whether the first was kept alive may differ: it depends on where a read ended.
        let forget = |mut o: Vec<Outcome>| {
            if let Some(Outcome::Answer(a)) = o.first_mut() {
                a.keep_alive = false;
            }
            o
        };
        prop_assert_eq!(forget(outcomes(&at_once)), forget(outcomes(&in_pieces)));
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// A head of up to 64 KiB is read, a longer one refused, however the reads cut it; one that
    /// never ends is refused too, not buffered without end.
    #[test]
    fn the_head_limit_holds_in_any_reads(
        len in prop_oneof![(MAX_HEAD - 40)..(MAX_HEAD + 40), Just(usize::MAX)],
        sizes in vec(1usize..6000, 1..8),
    ) {
        let head = big_head(3, (len != usize::MAX).then_some(len));
        for pieces in [whole(&head), cut(&head, &sizes)] {
            let got = play(pieces, End::Idle, &[Method::GET]);
            if head.len() <= MAX_HEAD {
                prop_assert!(matches!(got[..], [(Outcome::Answer(_), _)]), "{} bytes: {:?}", head.len(), got);
            } else {
                prop_assert!(matches!(got[..], [(Outcome::Failed(_), _)]), "{} bytes: {:?}", head.len(), got);
            }
        }
    }

    /// Up to 100 headers are read, more refused, however the reads cut them.
    #[test]
    fn the_header_count_limit_holds_in_any_reads(headers in 90usize..112, sizes in reads()) {
        let head = big_head(headers, Some(0));
        for pieces in [whole(&head), cut(&head, &sizes)] {
            let got = play(pieces, End::Idle, &[Method::GET]);
            let answered = matches!(got[..], [(Outcome::Answer(_), _)]);
            prop_assert_eq!(answered, headers <= 100, "{} headers: {:?}", headers, got);
            prop_assert!(!got.iter().any(|(o, _)| *o == Outcome::Hung));
        }
    }
}
