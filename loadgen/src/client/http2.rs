//! HTTP/2 (`--http2`): one connection per user and origin, one stream at a time, as a browser
//! tab's requests go to a staging shop behind a proxy that speaks h2. Chosen by ALPN on https
//! origins (the server may still pick HTTP/1.1) and spoken with prior knowledge (h2c) on http
//! ones. The `h2` crate frames it; its connection task answers the server's pings and settings
//! while the user waits, so it runs beside the user's task, not on it.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;

use super::ClientError;
use super::http1::{Answer, Outgoing};

pub(super) struct Conn {
    send: h2::client::SendRequest<Bytes>,
    /// The connection's task: finished once the server sent GOAWAY or the socket failed.
    driver: JoinHandle<()>,
    /// `http` or `https`: the `:scheme` of every request.
    scheme: &'static str,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Conn {
    /// The HTTP/2 preface and settings exchange on an open (TLS or plain) stream.
    pub async fn handshake<T>(io: T, scheme: &'static str) -> Result<Self, ClientError>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, connection) = h2::client::handshake(io).await.map_err(to_client)?;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("HTTP/2 connection ended: {e}");
            }
        });
        Ok(Self {
            send,
            driver,
            scheme,
        })
    }

    /// False once the server closed the connection (GOAWAY, a reset, a failed socket).
    pub fn is_reusable(&self) -> bool {
        !self.driver.is_finished()
    }

    pub async fn round_trip(&mut self, request: &Outgoing<'_>) -> Result<Answer, ClientError> {
        let uri = format!("{}://{}{}", self.scheme, request.host, request.target);
        let mut builder = Request::builder().method(request.method).uri(uri);
        if let Some(headers) = builder.headers_mut() {
            *headers = head(request);
        }
        let outgoing = builder
            .body(())
            .map_err(|e| ClientError::Http(e.to_string()))?;
        // Waits for the server's stream limit: a user has one request in flight, so this is
        // ready at once unless the server allows no stream at all.
        let mut send = self.send.clone().ready().await.map_err(to_client)?;
        let end = request.body.is_empty();
        let (response, mut stream) = send.send_request(outgoing, end).map_err(to_client)?;
        if !end {
            // h2 queues what the flow-control window does not yet allow and sends it as the
            // server grants more.
            stream
                .send_data(Bytes::copy_from_slice(request.body), true)
                .map_err(to_client)?;
        }
        let response = response.await.map_err(to_client)?;
        let status = response.status().as_u16();
        let notable_headers = super::notable_headers(status, |name| {
            response.headers().get(name).map(|v| v.as_bytes())
        });
        let mut body = response.into_body();
        let mut read = BytesMut::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(to_client)?;
            // Handing the window back as the body is read keeps a large answer flowing.
            let _ = body.flow_control().release_capacity(chunk.len());
            if read.is_empty() {
                read = BytesMut::from(chunk);
            } else {
                read.extend_from_slice(&chunk);
            }
        }
        Ok(Answer {
            status,
            body: read.freeze(),
            notable_headers,
            keep_alive: true,
        })
    }
}

/// The request's headers as HTTP/2 carries them: no Host (`:authority` is it), no
/// connection-specific headers, names already lower case.
fn head(request: &Outgoing<'_>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(request.headers.len() + 2);
    for (name, value) in request.headers {
        if matches!(
            name.as_str(),
            "host" | "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding"
        ) {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    if !headers.contains_key(http::header::USER_AGENT) {
        headers.insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(super::AGENT),
        );
    }
    if !request.body.is_empty() {
        headers.insert(http::header::CONTENT_LENGTH, request.body.len().into());
    }
    headers
}

/// h2's error in the words the failures table uses for the same thing over HTTP/1.1.
fn to_client(e: h2::Error) -> ClientError {
    if e.is_io() {
        match e.into_io() {
            Some(io) => ClientError::Io(io),
            None => ClientError::Disconnected,
        }
    } else if e.is_go_away() || e.is_reset() {
        ClientError::Http(format!("HTTP/2 stream closed by the server: {e}"))
    } else {
        ClientError::Http(format!("HTTP/2: {e}"))
    }
}
