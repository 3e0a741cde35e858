//! DNS over UDP: one thread per socket, reading up to [`BATCH`] datagrams with one `recvmmsg`
//! and sending their responses with one `sendmmsg`, into buffers reused for every batch. No task,
//! no allocation of its own and no system call per query; the responses are made by
//! [`Responder`].
//!
//! Limits: a datagram is read into [`RECEIVE_SIZE`] bytes (one cut there is answered FORMERR);
//! at most [`BATCH`] requests are held at once per thread; a response takes at most
//! [`ADVERTISED_UDP_SIZE`](super::ADVERTISED_UDP_SIZE) bytes. When the socket's send buffer is
//! full the thread waits for it, and the kernel drops what arrives meanwhile beyond the receive
//! buffer (as for any UDP server under overload). A receive or send error is logged at most
//! [`LOG_BURST`](super::LOG_BURST) times a minute; one that is not the client's doing (out of
//! memory or buffers) pauses the thread for [`ACCEPT_ERROR_PAUSE`](super::ACCEPT_ERROR_PAUSE).

use super::{
    ACCEPT_ERROR_PAUSE, EnumError,
    answer::{Counts, Responder, Transport},
};
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use std::{
    io::{self, IoSlice, IoSliceMut},
    os::fd::{AsRawFd, RawFd},
    sync::Arc,
};
use tokio::{io::Interest, net::UdpSocket, sync::oneshot};

/// Datagrams read (and responses sent) with one system call.
pub const BATCH: usize = 64;
/// The bytes read of each datagram: more than any query needs (a question and an OPT record take
/// at most a few hundred bytes).
pub const RECEIVE_SIZE: usize = 4096;

/// The UDP threads, running until this is dropped.
pub(super) struct Threads {
    /// Dropped with this: each thread stops at its next wake-up.
    _stop: Vec<oneshot::Sender<()>>,
    failed: tokio::sync::mpsc::Receiver<EnumError>,
}

impl Threads {
    /// Waits until a thread stops by itself (its socket failed) and says why.
    pub(super) async fn stopped(mut self) -> EnumError {
        self.failed.recv().await.unwrap_or(EnumError::Stopped { transport: "udp" })
    }
}

/// Starts one thread per socket.
pub(super) fn spawn(
    sockets: Vec<std::net::UdpSocket>,
    responder: &Arc<Responder>,
) -> Result<Threads, EnumError> {
    let io = |source| EnumError::Io { transport: "udp", source };
    let (report, failed) = tokio::sync::mpsc::channel(sockets.len().max(1));
    let mut stops = Vec::with_capacity(sockets.len());
    for socket in sockets {
        socket.set_nonblocking(true).map_err(io)?;
        let (stop, stopped) = oneshot::channel();
        let (responder, report) = (responder.clone(), report.clone());
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build().map_err(io)?;
        std::thread::Builder::new()
            .name("dns-udp".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let error = match UdpSocket::from_std(socket) {
                        Ok(socket) => tokio::select! {
                            _ = stopped => return,
                            error = serve(socket, &responder) => error,
                        },
                        Err(error) => error,
                    };
                    let _ = report.send(io(error)).await;
                });
            })
            .map_err(io)?;
        stops.push(stop);
    }
    Ok(Threads { _stop: stops, failed })
}

/// Answers the datagrams arriving on `socket` until it fails.
async fn serve(socket: UdpSocket, responder: &Responder) -> io::Error {
    let fd = socket.as_raw_fd();
    let mut batch = Batch::new();
    let mut counts = Counts::default();
    loop {
        if let Err(error) = socket.readable().await {
            return error;
        }
        let received = match socket.try_io(Interest::READABLE, || batch.receive(fd)) {
            Ok(received) => received,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => continue,
            Err(error) if fatal(&error) => return error,
            Err(error) => {
                if let Some(suppressed) = responder.logs.receive_failed.allow() {
                    tracing::warn!(%error, suppressed, "ENUM over UDP: receiving failed; pausing");
                }
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        batch.pending.clear();
        for i in 0..received {
            let mut out = std::mem::take(&mut batch.responses[i]);
            let (request, cut) = batch.request(i);
            if let Some(outcome) = responder.respond(request, cut, Transport::Udp, &mut out) {
                counts.add(outcome);
                batch.pending.push(i);
            }
            batch.responses[i] = out;
        }
        // counted before they are sent: whoever has an answer sees it counted
        counts.flush(&responder.metrics);
        if let Err(error) = send(&socket, fd, &mut batch, responder).await {
            return error;
        }
    }
}

/// Sends the batch's pending responses, waiting while the send buffer is full. A response the
/// kernel refuses (such as to an address it cannot reach) is skipped.
async fn send(socket: &UdpSocket, fd: RawFd, batch: &mut Batch, responder: &Responder) -> io::Result<()> {
    let mut sent = 0;
    while sent < batch.pending.len() {
        match socket.try_io(Interest::WRITABLE, || batch.send(fd, sent)) {
            // sendmmsg sends at least one or fails; never spin on a zero
            Ok(n) => sent += n.max(1),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => socket.writable().await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if fatal(&error) => return Err(error),
            Err(error) => {
                if let Some(suppressed) = responder.logs.send_failed.allow() {
                    tracing::debug!(%error, suppressed, "could not send an ENUM answer");
                }
                sent += 1;
            }
        }
    }
    Ok(())
}

/// An error that says the socket itself is unusable.
fn fatal(error: &io::Error) -> bool {
    use nix::errno::Errno;
    matches!(error.raw_os_error().map(Errno::from_raw), Some(Errno::EBADF | Errno::ENOTSOCK | Errno::EFAULT))
}

/// The buffers of one batch, reused for every batch.
struct Batch {
    requests: Vec<Box<[u8; RECEIVE_SIZE]>>,
    /// Per request of the last receive: its length, whether it was cut, where it came from.
    received: Vec<(usize, bool, Option<SockaddrStorage>)>,
    receive_headers: MultiHeaders<SockaddrStorage>,
    send_headers: MultiHeaders<SockaddrStorage>,
    responses: Vec<Vec<u8>>,
    /// The requests of this batch that have a response, in order.
    pending: Vec<usize>,
}

impl Batch {
    fn new() -> Self {
        Self {
            requests: (0..BATCH).map(|_| Box::new([0; RECEIVE_SIZE])).collect(),
            received: Vec::with_capacity(BATCH),
            receive_headers: MultiHeaders::preallocate(BATCH, None),
            send_headers: MultiHeaders::preallocate(BATCH, None),
            responses: (0..BATCH)
                .map(|_| Vec::with_capacity(usize::from(super::ADVERTISED_UDP_SIZE)))
                .collect(),
            pending: Vec::with_capacity(BATCH),
        }
    }

    /// Request `i` of the last receive, and whether it was cut at [`RECEIVE_SIZE`].
    fn request(&self, i: usize) -> (&[u8], bool) {
        let (len, cut, _) = self.received[i];
        (&self.requests[i][..len], cut)
    }

    /// Reads up to [`BATCH`] datagrams without waiting; how many.
    fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut slices: Vec<[IoSliceMut<'_>; 1]> =
            self.requests.iter_mut().map(|buffer| [IoSliceMut::new(&mut buffer[..])]).collect();
        let results =
            recvmmsg(fd, &mut self.receive_headers, slices.iter_mut(), MsgFlags::MSG_DONTWAIT, None)?;
        self.received.clear();
        self.received.extend(results.map(|r| (r.bytes, r.flags.contains(MsgFlags::MSG_TRUNC), r.address)));
        Ok(self.received.len())
    }

    /// Sends the pending responses from the `from`-th on without waiting; how many were sent.
    fn send(&mut self, fd: RawFd, from: usize) -> io::Result<usize> {
        let todo = &self.pending[from..];
        let slices: Vec<[IoSlice<'_>; 1]> =
            todo.iter().map(|&i| [IoSlice::new(&self.responses[i])]).collect();
        let addresses: Vec<Option<SockaddrStorage>> = todo.iter().map(|&i| self.received[i].2).collect();
        let sent =
            sendmmsg(fd, &mut self.send_headers, slices.iter(), addresses, [], MsgFlags::MSG_DONTWAIT)?;
        Ok(sent.count())
    }
}
