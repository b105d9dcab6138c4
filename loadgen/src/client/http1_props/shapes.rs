//! The responses the properties play: every framing a server may choose for an answer the client
//! must read, with what the client should make of it, and answers it must refuse.

use bytes::Bytes;
use http::Method;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use super::{End, Parsed};

/// One response as a server writes it, the method that asked for it, and what the client should
/// make of it.
#[derive(Debug, Clone)]
pub(super) struct Shape {
    pub method: Method,
    pub wire: Bytes,
    pub expect: Parsed,
    /// The body ends where the server closes.
    pub until_close: bool,
}

/// A response's status, framing and body, before the rest of its head is chosen.
#[derive(Debug, Clone)]
struct Message {
    method: Method,
    status: u16,
    /// The Content-Length or Transfer-Encoding lines, as this server words them.
    framing: Vec<String>,
    /// The body as written, chunked or not.
    wire: Vec<u8>,
    /// The body the client should return.
    body: Vec<u8>,
    /// Neither a length nor chunked: the body ends where the server closes.
    until_close: bool,
}

/// The rest of a response: interim answers before it, version, reason, Connection, the headers
/// that explain an error, and others the client ignores.
#[derive(Debug, Clone)]
struct Envelope {
    interim: Vec<&'static str>,
    http11: bool,
    reason: &'static str,
    connection: &'static str,
    notable: Vec<&'static str>,
    extras: Vec<String>,
}

const WITH_BODY: &[u16] = &[
    200, 201, 202, 206, 301, 302, 400, 401, 403, 404, 405, 409, 429, 500, 502, 503,
];
const INTERIM: &[&str] = &[
    "HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP/1.1 102 Processing\r\n\r\n",
    "HTTP/1.1 103 Early Hints\r\nLink: </static/app.css>; rel=preload; as=style\r\n\
     link: </static/app.js>; rel=preload; as=script\r\n\r\n",
];
const CONNECTION: &[&str] = &[
    "",
    "Connection: close",
    "connection: Close",
    "Connection: keep-alive",
    "Connection: Keep-Alive",
    "Connection: TE, close",
    "Connection: keep-alive, Upgrade",
];
/// In the order the client reports them.
const NOTABLE: &[&str] = &[
    "Allow: GET, POST",
    "WWW-Authenticate: Bearer realm=\"api\"",
    "Retry-After: 120",
];
const EXTENSIONS: &[&str] = &[
    "",
    ";name=value",
    ";a",
    ";x=\"quoted;still quoted\"",
    " ;n=v",
    ";a=1;b=2",
    "\t;tab=1",
];
const TRAILERS: &[&str] = &[
    "Expires: Wed, 21 Oct 2015 07:28:00 GMT",
    "X-Checksum: 5d41402abc4b2a76",
    "Server-Timing: db;dur=53",
];

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..160)
}

fn length_message() -> impl Strategy<Value = Message> {
    let names = &["Content-Length", "content-length", "CONTENT-LENGTH"][..];
    let separators = &[":", ": ", ":\t", ":  "][..];
    (
        select(WITH_BODY),
        body_bytes(),
        select(names),
        select(separators),
        select(&["", " ", "\t"][..]),
    )
        .prop_map(|(status, body, name, sep, after)| Message {
            method: Method::GET,
            status,
            framing: vec![format!("{name}{sep}{}{after}", body.len())],
            wire: body.clone(),
            body,
            until_close: false,
        })
}

fn chunked_message() -> impl Strategy<Value = Message> {
    let encodings = &[
        "Transfer-Encoding: chunked",
        "transfer-encoding: Chunked",
        "Transfer-Encoding: gzip, chunked",
    ][..];
    (
        select(WITH_BODY),
        body_bytes(),
        vec(1usize..48, 1..6),
        vec(select(EXTENSIONS), 1..4),
        0u8..3,
        vec(select(TRAILERS), 0..3),
        select(encodings),
    )
        .prop_map(|(status, body, sizes, exts, style, trailers, te)| {
            let mut wire = Vec::new();
            let mut rest = &body[..];
            for i in 0.. {
                let n = sizes[i % sizes.len()].min(rest.len());
                let size = match style {
                    0 => format!("{n:x}"),
                    1 => format!("{n:X}"),
                    _ => format!("{n:08x}"),
                };
                wire.extend_from_slice(format!("{size}{}\r\n", exts[i % exts.len()]).as_bytes());
                if n == 0 {
                    break;
                }
                wire.extend_from_slice(&rest[..n]);
                wire.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            for t in trailers {
                wire.extend_from_slice(format!("{t}\r\n").as_bytes());
            }
            wire.extend_from_slice(b"\r\n");
            Message {
                method: Method::GET,
                status,
                framing: vec![te.to_owned()],
                wire,
                body,
                until_close: false,
            }
        })
}

fn until_close_message() -> impl Strategy<Value = Message> {
    (select(WITH_BODY), body_bytes()).prop_map(|(status, body)| Message {
        method: Method::GET,
        status,
        framing: Vec::new(),
        wire: body.clone(),
        body,
        until_close: true,
    })
}

/// A HEAD answer, a 204 or a 304: framing lines that describe a body not sent.
fn bodyless_message() -> impl Strategy<Value = Message> {
    let head = &[
        "",
        "Content-Length: 1234",
        "content-length: 0",
        "Transfer-Encoding: chunked",
    ][..];
    let no_content = &["", "Content-Length: 0", "Content-Length: 5120"][..];
    prop_oneof![
        (select(&[200u16, 404, 500][..]), select(head)).prop_map(|(s, f)| (Method::HEAD, s, f)),
        (select(&[204u16, 304][..]), select(no_content)).prop_map(|(s, f)| (Method::GET, s, f)),
    ]
    .prop_map(|(method, status, framing)| Message {
        method,
        status,
        framing: [framing]
            .into_iter()
            .filter(|f| !f.is_empty())
            .map(Into::into)
            .collect(),
        wire: Vec::new(),
        body: Vec::new(),
        until_close: false,
    })
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        vec(select(INTERIM), 0..3),
        prop::bool::weighted(0.8),
        select(&["OK", "", "Some Reason"][..]),
        select(CONNECTION),
        subsequence(NOTABLE, 0..=NOTABLE.len()),
        vec("x-[a-z0-9-]{1,12}: [!-~]([ -~]{0,24}[!-~])?", 0..4),
    )
        .prop_map(
            |(interim, http11, reason, connection, notable, extras)| Envelope {
                interim,
                http11,
                reason,
                connection,
                notable,
                extras,
            },
        )
}

/// A whole response: its head lines in a random order. `until_close` allows a body that ends
/// where the server closes (which can only be the last on a connection).
pub(super) fn shape(until_close: bool) -> impl Strategy<Value = Shape> {
    let message = if until_close {
        prop_oneof![
            length_message(),
            chunked_message(),
            until_close_message(),
            bodyless_message()
        ]
        .boxed()
    } else {
        prop_oneof![length_message(), chunked_message(), bodyless_message()].boxed()
    };
    (envelope(), message)
        .prop_flat_map(|(envelope, message)| {
            let mut lines = message.framing.clone();
            if !envelope.connection.is_empty() {
                lines.push(envelope.connection.to_owned());
            }
            lines.extend(envelope.notable.iter().map(|l| (*l).to_owned()));
            lines.extend(envelope.extras.iter().cloned());
            (Just(envelope), Just(message), Just(lines).prop_shuffle())
        })
        .prop_map(|(envelope, message, lines)| {
            let mut wire = envelope.interim.concat().into_bytes();
            let version = if envelope.http11 { 1 } else { 0 };
            let status = message.status;
            wire.extend_from_slice(
                format!("HTTP/1.{version} {status} {}\r\n", envelope.reason).as_bytes(),
            );
            for line in lines {
                wire.extend_from_slice(format!("{line}\r\n").as_bytes());
            }
            wire.extend_from_slice(b"\r\n");
            wire.extend_from_slice(&message.wire);
            let connection = envelope.connection.to_ascii_lowercase();
            let kept = if connection.contains("close") {
                false
            } else {
                connection.contains("keep-alive") || envelope.http11
            };
            let notable = (status >= 400 && !envelope.notable.is_empty())
                .then(|| envelope.notable.join("; "));
            Shape {
                method: message.method,
                wire: wire.into(),
                expect: Parsed {
                    status,
                    body: message.body.into(),
                    notable,
                    keep_alive: kept && !message.until_close,
                },
                until_close: message.until_close,
            }
        })
}

/// A server that frames its body by closing closes; any other goes quiet after its answer, even
/// one that said it will close, so that a read past the answer hangs.
pub(super) fn end_of(shape: &Shape) -> End {
    if shape.until_close {
        End::Close
    } else {
        End::Idle
    }
}

/// Answers the client must refuse, each with how the server ends the connection after it.
/// Those that need no end to be seen wrong are played with the server going quiet after them.
pub(super) fn malformed() -> impl Strategy<Value = (Bytes, End)> {
    let ok = "HTTP/1.1 200 OK\r\n";
    let bad_status = &[
        "HTTP/1.1 20 OK",
        "HTTP/1.1 2000 OK",
        "HTTP/1.1 abc OK",
        "HTTQ/1.1 200 OK",
        "HTTP/3.0 200 OK",
        "HTTP/1.1200 OK",
        "200 OK",
        "HTTP/1.1 200 O\x01K",
    ][..];
    let bad_header = &[
        "Bad Name: x",
        "Na(me: x",
        "Name : x",
        "Name: va\x00lue",
        "Name: v\x7f",
        "Name: a\rb",
        ": no-name",
        "NoColon",
        "Content-Length: abc",
        "Content-Length: -1",
        "Content-Length: 5\r\nContent-Length: 6",
    ][..];
    let bad_size = &["zz", "5 5", "-1", "0x5", "g", "5\rX", "11111111111111111"][..];
    let chunked = "Transfer-Encoding: chunked\r\n\r\n";
    // Lengths past the memory any machine has must fail as short bodies too, not allocate first.
    let short_by = prop_oneof![1u64..1000, Just(1 << 40), Just(u64::MAX)];
    let huge_chunk = &["ffffffffffffffff", "7fffffffffffffff", "10000000000"][..];
    prop_oneof![
        select(bad_status).prop_map(|l| (
            format!("{l}\r\nContent-Length: 0\r\n\r\n").into_bytes(),
            End::Idle
        )),
        (select(bad_header), 0usize..3).prop_map(move |(l, before)| {
            let fine = "X-Fine: yes\r\n".repeat(before);
            (
                format!("{ok}{fine}{l}\r\nContent-Length: 0\r\n\r\n").into_bytes(),
                End::Idle,
            )
        }),
        (select(bad_size), any::<bool>()).prop_map(move |(l, first)| {
            let good = if first { "" } else { "3;x=y\r\nabc\r\n" };
            (
                format!("{ok}{chunked}{good}{l}\r\n").into_bytes(),
                End::Idle,
            )
        }),
        // Chunk data not followed by its CRLF.
        select(&["abcdeXY", "abcde\n\r", "abcdef\r\n"][..]).prop_map(move |d| (
            format!("{ok}{chunked}5\r\n{d}0\r\n\r\n").into_bytes(),
            End::Idle
        )),
        // A Content-Length the connection's early close disagrees with.
        (body_bytes(), short_by).prop_map(move |(body, short)| {
            let length = (body.len() as u64).saturating_add(short);
            let head = format!("{ok}Content-Length: {length}\r\n\r\n");
            ([head.as_bytes(), &body].concat(), End::Close)
        }),
        // Chunked answers cut short: in a chunk, before the last chunk, in the trailers.
        select(&["5\r\nabc", "3\r\nabc\r\n", "0\r\nExpires: x\r\n", "0\r\n"][..])
            .prop_map(move |rest| (format!("{ok}{chunked}{rest}").into_bytes(), End::Close)),
        select(huge_chunk).prop_map(move |size| (
            format!("{ok}{chunked}{size}\r\nabc").into_bytes(),
            End::Close
        )),
        // A head cut short, after an interim answer or not.
        (
            select(&["", "HTTP/1.1 100 Continue\r\n\r\n"][..]),
            1usize..40
        )
            .prop_map(move |(interim, n)| {
                let head = format!("{interim}{ok}Content-Length: 0\r\nX-Padding: abcdef\r\n\r\n");
                (head.as_bytes()[..interim.len() + n].to_vec(), End::Close)
            }),
    ]
    .prop_map(|(wire, end)| (Bytes::from(wire), end))
}

/// Changes a few bytes of an answer: replaced, inserted, removed.
pub(super) fn mutated() -> impl Strategy<Value = Bytes> {
    let edit = (any::<prop::sample::Index>(), any::<u8>(), 0u8..3);
    (shape(true), vec(edit, 1..4)).prop_map(|(shape, edits)| {
        let mut wire = shape.wire.to_vec();
        for (at, byte, how) in edits {
            let i = at.index(wire.len() + 1);
            match how {
                0 if i < wire.len() => wire[i] = byte,
                1 => wire.insert(i, byte),
                _ if i < wire.len() => {
                    wire.remove(i);
                }
                _ => wire.push(byte),
            }
        }
        wire.into()
    })
}

/// The head of a 200 with no body, `headers` lines long in all and `len` bytes long when it can
/// be (a padding header takes up the rest); `None` never ends it.
pub(super) fn big_head(headers: usize, len: Option<usize>) -> Bytes {
    let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n".to_vec();
    for i in 1..headers.saturating_sub(1) {
        head.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    if headers > 1 {
        // "X-Pad: ", the padding, its CRLF and the head's last.
        let pad = len.map_or(70 * 1024, |len| len.saturating_sub(head.len() + 11));
        head.extend_from_slice(format!("X-Pad: {}\r\n", "p".repeat(pad)).as_bytes());
    }
    if len.is_some() {
        head.extend_from_slice(b"\r\n");
    }
    head.into()
}
