//! The worker's one connection to its master: a ZeroMQ DEALER socket whose routing identity is the
//! node id, as Locust's `rpc.Client`. libzmq (the `zmq` crate, built from source) does the
//! reconnecting and queueing; its sockets are not for async code, so one thread owns the socket,
//! takes frames to send from a channel and hands frames received to the async side.

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc;

/// How long the thread waits for a frame before it looks at its outbox again; a frame to send
/// waits at most this long.
const POLL: Duration = Duration::from_millis(5);
/// How long closing waits for frames still queued (the last stats, the quit) to go out.
const LINGER: Duration = Duration::from_secs(2);

enum Out {
    Frame(Vec<u8>),
    /// Locust's `reconnect`: a new socket, with the same identity.
    Reconnect,
    /// Send what is queued and end, whoever else still holds an `Outbox`.
    Close,
}

/// Where frames for the master go: cheap to clone, for a task of its own (the heartbeat).
#[derive(Clone)]
pub struct Outbox(std_mpsc::Sender<Out>);

impl Outbox {
    pub fn send(&self, frame: Vec<u8>) {
        // After the link closed there is no master to tell.
        let _ = self.0.send(Out::Frame(frame));
    }
}

pub struct Link {
    outbox: Outbox,
    pub inbox: mpsc::UnboundedReceiver<Vec<u8>>,
    thread: Option<JoinHandle<()>>,
}

impl Link {
    /// Connects (in the background: libzmq retries until the master listens) to
    /// `tcp://host:port` as `identity`.
    pub fn connect(host: &str, port: u16, identity: &str) -> anyhow::Result<Self> {
        let endpoint = if host.contains(':') {
            format!("tcp://[{host}]:{port}")
        } else {
            format!("tcp://{host}:{port}")
        };
        let context = zmq::Context::new();
        let socket = open(&context, &endpoint, identity)?;
        let (outbox, out_rx) = std_mpsc::channel();
        let (in_tx, inbox) = mpsc::unbounded_channel();
        let identity = identity.to_owned();
        let thread = std::thread::Builder::new()
            .name("locust-link".into())
            .spawn(move || pump(context, socket, &endpoint, &identity, &out_rx, &in_tx))?;
        Ok(Self {
            outbox: Outbox(outbox),
            inbox,
            thread: Some(thread),
        })
    }

    pub fn send(&self, frame: Vec<u8>) {
        self.outbox.send(frame);
    }

    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    pub fn reconnect(&self) {
        let _ = self.outbox.0.send(Out::Reconnect);
    }
}

/// Sends what is queued (for at most `LINGER`) and closes.
impl Drop for Link {
    fn drop(&mut self) {
        let _ = self.outbox.0.send(Out::Close);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn open(context: &zmq::Context, endpoint: &str, identity: &str) -> anyhow::Result<zmq::Socket> {
    let socket = context.socket(zmq::DEALER)?;
    socket.set_identity(identity.as_bytes())?;
    // Locust's settings: keepalive on, first probe after 30 s idle; IPv6 where the host has it.
    socket.set_tcp_keepalive(1)?;
    socket.set_tcp_keepalive_idle(30)?;
    socket.set_ipv6(true)?;
    socket.set_linger(i32::try_from(LINGER.as_millis()).unwrap_or(i32::MAX))?;
    socket
        .connect(endpoint)
        .map_err(|e| anyhow::anyhow!("connecting to {endpoint}: {e}"))?;
    Ok(socket)
}

fn pump(
    context: zmq::Context,
    mut socket: zmq::Socket,
    endpoint: &str,
    identity: &str,
    outbox: &std_mpsc::Receiver<Out>,
    inbox: &mpsc::UnboundedSender<Vec<u8>>,
) {
    serve(&context, &mut socket, endpoint, identity, outbox, inbox);
    // The socket first: ending the context waits (its linger) for the socket's queued frames.
    drop(socket);
    drop(context);
}

fn serve(
    context: &zmq::Context,
    socket: &mut zmq::Socket,
    endpoint: &str,
    identity: &str,
    outbox: &std_mpsc::Receiver<Out>,
    inbox: &mpsc::UnboundedSender<Vec<u8>>,
) {
    loop {
        loop {
            match outbox.try_recv() {
                Ok(Out::Frame(frame)) => {
                    // Never blocks: libzmq queues up to its high-water mark (1000 messages) while
                    // the master is away; beyond that a message is dropped, as Locust's NOBLOCK send.
                    if let Err(e) = socket.send(frame, zmq::DONTWAIT) {
                        tracing::warn!("a message to the master was dropped: {e}");
                    }
                }
                Ok(Out::Reconnect) => match open(context, endpoint, identity) {
                    Ok(fresh) => {
                        let _ = socket.set_linger(0);
                        *socket = fresh;
                        tracing::info!("reconnected to the master at {endpoint}");
                    }
                    Err(e) => tracing::warn!("reconnecting to the master: {e:#}"),
                },
                Err(std_mpsc::TryRecvError::Empty) => break,
                // Closed: the socket's linger sends what is queued, then the context ends.
                Ok(Out::Close) | Err(std_mpsc::TryRecvError::Disconnected) => return,
            }
        }
        match socket.poll(zmq::POLLIN, i64::try_from(POLL.as_millis()).unwrap_or(5)) {
            Ok(n) if n > 0 => {
                while let Ok(frame) = socket.recv_bytes(zmq::DONTWAIT) {
                    if inbox.send(frame).is_err() {
                        return;
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("polling the master's socket: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}
