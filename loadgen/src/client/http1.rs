//! One HTTP/1.1 keep-alive connection driven from the user's own task: the request is written with
//! one `write`, the response read with as few `read`s as it arrives in and parsed by `httparse`.
//! hyper's client connection runs a second task per connection and hands every request and body
//! across channels between the two; at 100,000+ requests a second per core that hand-off was a
//! third of loadgen's CPU (`cargo xtask bench loadgen`), so the wire is spoken here directly.
//! The same bytes go over TLS ([`super::tls`]) when the origin is `https`.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Method};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::ClientError;

/// Response heads with more headers than this are refused (hyper's limit too).
const MAX_HEADERS: usize = 100;
/// A response head longer than this is refused rather than buffered without end.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// What one `read` asks for at least: a whole small answer, head and body, as hyper reads.
const READ_CHUNK: usize = 8 * 1024;
/// The most room one read makes: a declared length or chunk size is the server's word, and
/// reserving a terabyte on it aborts the process; a larger body grows the buffer as it arrives.
const MAX_RESERVE: usize = 1024 * 1024;

/// A response as read off the wire.
pub(super) struct Answer {
    pub status: u16,
    pub body: Bytes,
    pub notable_headers: Option<String>,
    /// The server keeps the connection open for the next request.
    pub keep_alive: bool,
}

/// A request as it goes on the wire: the request target and Host header already chosen.
pub(super) struct Outgoing<'a> {
    pub method: &'a Method,
    pub target: &'a str,
    pub host: &'a str,
    pub agent: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The socket, or TLS over it.
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// A server's side played from a script, one chosen piece per read: the property tests cut
    /// responses at every boundary through the real reader rather than a copy of it.
    #[cfg(test)]
    Scripted(super::http1_props::Script),
}

pub(super) struct Conn {
    stream: Stream,
    /// Read and not yet consumed.
    input: BytesMut,
    /// The request being written; kept to reuse its allocation.
    output: Vec<u8>,
}

/// How the body of a response ends (RFC 9112 section 6.3).
#[derive(Clone, Copy)]
enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

struct Head {
    status: u16,
    len: usize,
    framing: Framing,
    keep_alive: bool,
    notable_headers: Option<String>,
}

impl Conn {
    /// HTTP/1.1 on a socket [`super::dial`] opened.
    pub fn new(stream: Stream) -> Self {
        Self {
            stream,
            // Allocated at the first read: 10,000 users' connections opened and idle stay small.
            input: BytesMut::new(),
            output: Vec::with_capacity(512),
        }
    }

    /// False when the server closed the idle connection (or sent what nobody asked for): it is
    /// replaced before the request rather than reported as the request's failure. Costs no system
    /// call unless the socket was signalled readable since the last response.
    pub fn is_reusable(&mut self) -> bool {
        let mut probe = [0u8; 1];
        match &mut self.stream {
            Stream::Plain(tcp) => match tcp.try_read(&mut probe) {
                Err(e) => e.kind() == io::ErrorKind::WouldBlock,
                Ok(_) => false,
            },
            // One poll of a read: TLS records that carry no data (a TLS 1.3 session ticket) are
            // taken in and it stays pending; a close_notify, a FIN or unasked-for data end it.
            Stream::Tls(tls) => {
                let mut cx = Context::from_waker(Waker::noop());
                let mut buf = ReadBuf::new(&mut probe);
                matches!(
                    Pin::new(tls.as_mut()).poll_read(&mut cx, &mut buf),
                    Poll::Pending
                )
            }
            #[cfg(test)]
            Stream::Scripted(script) => {
                let mut cx = Context::from_waker(Waker::noop());
                let mut buf = ReadBuf::new(&mut probe);
                matches!(Pin::new(script).poll_read(&mut cx, &mut buf), Poll::Pending)
            }
        }
    }

    pub async fn round_trip(&mut self, request: &Outgoing<'_>) -> Result<Answer, ClientError> {
        self.encode(request);
        let method = request.method;
        match &mut self.stream {
            Stream::Plain(tcp) => tcp.write_all(&self.output).await,
            // rustls buffers what it encrypts: flushed so the record leaves now.
            Stream::Tls(tls) => match tls.write_all(&self.output).await {
                Ok(()) => tls.flush().await,
                Err(e) => Err(e),
            },
            #[cfg(test)]
            Stream::Scripted(script) => script.write_all(&self.output).await,
        }
        .map_err(ClientError::Io)?;
        let head = loop {
            if let Some(head) = self.head(method)? {
                if (100..200).contains(&head.status) {
                    // An interim answer (103 Early Hints): the real one follows.
                    self.input.advance(head.len);
                    continue;
                }
                break head;
            }
            if self.input.len() > MAX_HEAD_BYTES {
                return Err(head_too_long());
            }
            self.fill(READ_CHUNK).await?;
        };
        self.input.advance(head.len);
        let body = match head.framing {
            Framing::Empty => Bytes::new(),
            Framing::Length(n) => {
                while self.input.len() < n {
                    self.fill(n - self.input.len()).await?;
                }
                self.input.split_to(n).freeze()
            }
            Framing::Chunked => self.chunked().await?,
            Framing::UntilClose => {
                while self.fill_or_end(READ_CHUNK).await? {}
                self.input.split().freeze()
            }
        };
        // Bytes after the answer were never asked for: the connection is not trusted again.
        let keep_alive = head.keep_alive
            && !matches!(head.framing, Framing::UntilClose)
            && self.input.is_empty();
        if keep_alive {
            self.forget_readiness();
        }
        Ok(Answer {
            status: head.status,
            body,
            notable_headers: head.notable_headers,
            keep_alive,
        })
    }

    fn encode(&mut self, request: &Outgoing<'_>) {
        let Outgoing {
            method,
            target,
            host,
            agent,
            headers,
            body,
        } = *request;
        let out = &mut self.output;
        out.clear();
        for part in [
            method.as_str(),
            " ",
            target,
            " HTTP/1.1\r\nhost: ",
            host,
            "\r\n",
        ] {
            out.extend_from_slice(part.as_bytes());
        }
        if !headers.contains_key(http::header::USER_AGENT) {
            for part in ["user-agent: ", agent, "\r\n"] {
                out.extend_from_slice(part.as_bytes());
            }
        }
        for (name, value) in headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let has_body_semantics = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
        if !body.is_empty() || has_body_semantics {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
    }

    /// The response head, once all of it has arrived.
    fn head(&self, method: &Method) -> Result<Option<Head>, ClientError> {
        if self.input.is_empty() {
            return Ok(None);
        }
        // Left uninitialised: filling 100 headers' slots for every answer showed in the profile.
        let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            &self.input,
            &mut headers,
        );
        let len = match parsed {
            // Checked here too: a head that ends in the read that takes it past the limit is
            // still too long (round_trip only sees heads that have not ended).
            Ok(httparse::Status::Complete(len)) if len > MAX_HEAD_BYTES => {
                return Err(head_too_long());
            }
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(ClientError::Http(format!("invalid HTTP response: {e}"))),
        };
        let status = response.code.unwrap_or(0);
        let mut keep_alive = response.version == Some(1);
        let mut length = None;
        let mut chunked = false;
        for h in response.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let n = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .ok_or_else(|| ClientError::Http("invalid content-length".into()))?;
                if length.is_some_and(|l| l != n) {
                    return Err(ClientError::Http("conflicting content-length".into()));
                }
                length = Some(n);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = last_token(h.value).eq_ignore_ascii_case(b"chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|b| *b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive = true;
                    }
                }
            }
        }
        let framing = if *method == Method::HEAD || status == 204 || status == 304 || status < 200 {
            Framing::Empty
        } else if chunked {
            Framing::Chunked
        } else if let Some(n) = length {
            Framing::Length(n)
        } else {
            Framing::UntilClose
        };
        Ok(Some(Head {
            status,
            len,
            framing,
            keep_alive,
            notable_headers: super::notable_headers(status, |name| {
                response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| h.value)
            }),
        }))
    }

    async fn chunked(&mut self) -> Result<Bytes, ClientError> {
        let mut body = BytesMut::new();
        loop {
            let (size_len, size) = loop {
                match httparse::parse_chunk_size(&self.input) {
                    Ok(httparse::Status::Complete((len, size))) => break (len, size),
                    Ok(httparse::Status::Partial) => self.fill(READ_CHUNK).await?,
                    Err(_) => return Err(ClientError::Http("invalid chunk size".into())),
                }
            };
            // The size line, the chunk's data and the CRLF after it: a size of 16 hex digits
            // (httparse allows them) would overflow the sum.
            let (size, end) = usize::try_from(size)
                .ok()
                .and_then(|size| Some((size, size.checked_add(size_len + 2)?)))
                .ok_or_else(|| ClientError::Http("chunk larger than memory".into()))?;
            if size == 0 {
                self.input.advance(size_len);
                return self.trailers().await.map(|()| body.freeze());
            }
            while self.input.len() < end {
                self.fill(end - self.input.len()).await?;
            }
            self.input.advance(size_len);
            body.extend_from_slice(&self.input[..size]);
            if &self.input[size..size + 2] != b"\r\n" {
                return Err(ClientError::Http("chunk not followed by CRLF".into()));
            }
            self.input.advance(size + 2);
        }
    }

    /// Skips the trailer section after the last chunk, up to its empty line.
    async fn trailers(&mut self) -> Result<(), ClientError> {
        loop {
            if let Some(end) = self.input.windows(2).position(|w| w == b"\r\n") {
                self.input.advance(end + 2);
                if end == 0 {
                    return Ok(());
                }
                continue;
            }
            if self.input.len() > MAX_HEAD_BYTES {
                return Err(ClientError::Http("trailers too long".into()));
            }
            self.fill(READ_CHUNK).await?;
        }
    }

    /// Reads more of the response, room for `want` more bytes made first; the peer closing first
    /// is a disconnect.
    async fn fill(&mut self, want: usize) -> Result<(), ClientError> {
        if self.fill_or_end(want).await? {
            Ok(())
        } else {
            Err(ClientError::Disconnected)
        }
    }

    /// Reads more; false at the end of the stream.
    async fn fill_or_end(&mut self, want: usize) -> Result<bool, ClientError> {
        self.input.reserve(want.clamp(1024, MAX_RESERVE));
        let n = match &mut self.stream {
            Stream::Plain(tcp) => tcp.read_buf(&mut self.input).await,
            Stream::Tls(tls) => tls.read_buf(&mut self.input).await,
            #[cfg(test)]
            Stream::Scripted(script) => script.read_buf(&mut self.input).await,
        }
        .map_err(ClientError::Io)?;
        Ok(n > 0)
    }

    /// The response is complete and nothing else was asked for, so the socket holds nothing more:
    /// tokio's readiness flag is dropped without the `read` that would return EAGAIN to say so.
    /// Data or a close that arrives later sets it again (tokio compares readiness ticks).
    /// Over TLS the readiness belongs to the TLS stream's own reads: left alone.
    fn forget_readiness(&self) {
        if let Stream::Plain(tcp) = &self.stream {
            let _ = tcp.try_io(Interest::READABLE, || {
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
    }
}

fn head_too_long() -> ClientError {
    ClientError::Http(format!("response head longer than {MAX_HEAD_BYTES} bytes"))
}

/// The last of a comma-separated list of tokens (the encoding applied last).
fn last_token(value: &[u8]) -> &[u8] {
    value
        .rsplit(|b| *b == b',')
        .next()
        .unwrap_or_default()
        .trim_ascii()
}
