//! The floors measured beside capbinder: plain `SOCK_SEQPACKET` sockets
//! with no mediator logic at all.
//!
//! - `direct`: the client and an echo server on one socket pair
//!   (2 wakeups and 4 kernel copies of the payload per round trip).
//! - `relay-blocking`: client → middle → echo server → middle → client,
//!   the middle doing blocking `recv`/`send` (4 wakeups, 8 kernel copies);
//!   the floor of a mediator design.
//! - `relay-uring`: the same with an io_uring middle: one `io_uring_enter`
//!   per leg, carrying the send to one side and the receive from the other
//!   (what a batching event loop does per pass).
//!
//! - diagnostic relays (run only when asked for): `relay-acked`,
//!   `relay-epoll` and `relay-epoll-acked` copy the mediator's shape
//!   (`TransactionComplete`-like acknowledgements, an epoll loop that reads
//!   until `EAGAIN`) with none of its logic, to tell the protocol's and the
//!   loop's share of capbinder's cost from the rest.
//!
//! Helpers get their sockets as stdin (and stdout, for the middle), so no fd
//! numbers travel on command lines and no `O_CLOEXEC` is cleared by hand.
//! Every socket's send buffer is raised to hold the largest payload in one
//! message (a `SOCK_SEQPACKET` message must fit the sender's `SO_SNDBUF`).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::Stdio;

use rustix::net::{
    socketpair, sockopt, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType,
};

use super::procs::{self_command, spawn_on, Helper};
use super::{BenchError, Rig};

fn io_err(what: &str) -> impl FnOnce(rustix::io::Errno) -> BenchError + '_ {
    move |e| BenchError::Io {
        what: what.to_string(),
        source: e.into(),
    }
}

/// A `SOCK_SEQPACKET | SOCK_CLOEXEC` pair whose send buffers hold a
/// `max_msg`-byte message.
pub fn seqpacket_pair(max_msg: usize) -> Result<(OwnedFd, OwnedFd), BenchError> {
    let (a, b) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(io_err("socketpair(AF_UNIX, SOCK_SEQPACKET)"))?;
    // Headroom for the kernel's per-skb accounting.
    let want = max_msg + (64 << 10);
    for fd in [&a, &b] {
        sockopt::set_socket_send_buffer_size(fd, want).map_err(io_err("setsockopt(SO_SNDBUF)"))?;
        let mut got =
            sockopt::socket_send_buffer_size(fd).map_err(io_err("getsockopt(SO_SNDBUF)"))?;
        // SO_SNDBUF clamps to net.core.wmem_max without failing; with
        // CAP_NET_ADMIN, SO_SNDBUFFORCE goes past it.
        if got < want && sockopt::set_socket_send_buffer_size_force(fd, want).is_ok() {
            got = sockopt::socket_send_buffer_size(fd).map_err(io_err("getsockopt(SO_SNDBUF)"))?;
        }
        if got < want {
            return Err(BenchError::Helper(format!(
                "SO_SNDBUF is {got} bytes, below the {want} a {max_msg}-byte message needs: \
                 raise net.core.wmem_max (or run as root for SO_SNDBUFFORCE), or leave out the larger payloads"
            )));
        }
    }
    Ok((a, b))
}

fn send_all(fd: BorrowedFd<'_>, msg: &[u8]) -> io::Result<()> {
    loop {
        match rustix::net::send(fd, msg, SendFlags::empty()) {
            Ok(n) if n == msg.len() => return Ok(()),
            Ok(n) => {
                return Err(io::Error::other(format!(
                    "a {}-byte message went out as {n} bytes",
                    msg.len()
                )))
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// One message into `buf`; `Ok(0)` is end of file. A message longer than
/// `buf` is an error.
fn recv_msg(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::net::recv(fd, &mut *buf, RecvFlags::TRUNC) {
            Ok((_, full)) if full > buf.len() => {
                return Err(io::Error::other(format!(
                    "a {full}-byte message does not fit {} bytes",
                    buf.len()
                )))
            }
            Ok((n, _)) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The acknowledgement a diagnostic relay sends where the mediator sends
/// `TransactionComplete` (one byte, like that return's postcard).
const ACK: &[u8] = &[0xac];

fn fail(what: &'static str) -> impl FnOnce(io::Error) -> BenchError {
    move |source| BenchError::Io {
        what: what.into(),
        source,
    }
}

/// The hidden `echo` role: stdin is a socket; every message goes back as
/// it came, until end of file. With `acked`, one acknowledgement is read
/// after each answer (as a capbinder server reads `TransactionComplete`
/// after its reply).
pub fn echo_role(max_msg: usize, acked: bool) -> Result<(), BenchError> {
    let stdin = io::stdin();
    let fd = stdin.as_fd();
    let mut buf = vec![0u8; max_msg + 1];
    loop {
        let n = recv_msg(fd, &mut buf).map_err(fail("echo: recv"))?;
        if n == 0 {
            return Ok(());
        }
        send_all(fd, &buf[..n]).map_err(fail("echo: send"))?;
        if acked && recv_msg(fd, &mut buf).map_err(fail("echo: recv ack"))? == 0 {
            return Ok(());
        }
    }
}

/// The hidden `relay` role: stdin is the client's socket, stdout the
/// server's; until either side closes, requests go to the server and
/// answers to the client.
///
/// Plain, the middle makes blocking `recv`/`send` calls. The diagnostic
/// variants copy the mediator's shape without its logic: `epoll` waits in
/// `epoll_wait` and reads each socket until `EAGAIN` (level-triggered,
/// like the mediator's loop); `acked` also sends an acknowledgement to the
/// client after forwarding its request and to the server before
/// forwarding its answer, where the mediator sends `TransactionComplete`.
/// `threaded` is the other way a middle that serves many sockets can wait
/// on them: a thread per socket, each blocked in its own `recv` (here one
/// per direction).
pub fn relay_role(
    max_msg: usize,
    epoll: bool,
    acked: bool,
    threaded: bool,
) -> Result<(), BenchError> {
    let (stdin, stdout) = (io::stdin(), io::stdout());
    let (client, server) = (stdin.as_fd(), stdout.as_fd());
    let mut buf = vec![0u8; max_msg + 1];
    if epoll {
        return relay_epoll(client, server, &mut buf, acked);
    }
    if threaded {
        return relay_threaded(client, server, buf);
    }
    loop {
        let n = recv_msg(client, &mut buf).map_err(fail("relay: recv from client"))?;
        if n == 0 {
            return Ok(());
        }
        send_all(server, &buf[..n]).map_err(fail("relay: send to server"))?;
        if acked {
            send_all(client, ACK).map_err(fail("relay: ack to client"))?;
        }
        let m = recv_msg(server, &mut buf).map_err(fail("relay: recv from server"))?;
        if m == 0 {
            return Ok(());
        }
        if acked {
            send_all(server, ACK).map_err(fail("relay: ack to server"))?;
        }
        send_all(client, &buf[..m]).map_err(fail("relay: send to client"))?;
    }
}

/// The threaded middle: this thread forwards requests, another answers,
/// each blocked in its own socket's `recv`. Either side's end of file
/// ends the process.
fn relay_threaded(
    client: BorrowedFd<'_>,
    server: BorrowedFd<'_>,
    mut buf: Vec<u8>,
) -> Result<(), BenchError> {
    let to_client = client
        .try_clone_to_owned()
        .map_err(fail("relay: dup client"))?;
    let from_server = server
        .try_clone_to_owned()
        .map_err(fail("relay: dup server"))?;
    let mut back = vec![0u8; buf.len()];
    std::thread::spawn(move || loop {
        match recv_msg(from_server.as_fd(), &mut back) {
            Ok(n) if n > 0 && send_all(to_client.as_fd(), &back[..n]).is_ok() => {}
            // The client's end is what the benchmark closes; this side
            // ending too means the round trips are over either way.
            _ => std::process::exit(0),
        }
    });
    loop {
        let n = recv_msg(client, &mut buf).map_err(fail("relay: recv from client"))?;
        if n == 0 {
            return Ok(());
        }
        send_all(server, &buf[..n]).map_err(fail("relay: send to server"))?;
    }
}

/// One non-blocking receive: `Ok(None)` when nothing waits.
fn try_recv_msg(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match rustix::net::recv(fd, &mut *buf, RecvFlags::TRUNC | RecvFlags::DONTWAIT) {
            Ok((_, full)) if full > buf.len() => {
                return Err(io::Error::other(format!(
                    "a {full}-byte message does not fit {} bytes",
                    buf.len()
                )))
            }
            Ok((n, _)) => return Ok(Some(n)),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

fn relay_epoll(
    client: BorrowedFd<'_>,
    server: BorrowedFd<'_>,
    buf: &mut [u8],
    acked: bool,
) -> Result<(), BenchError> {
    use rustix::event::epoll;
    let errno = |what: &'static str| {
        move |e: rustix::io::Errno| BenchError::Io {
            what: what.into(),
            source: e.into(),
        }
    };
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(errno("epoll_create1"))?;
    for (fd, token) in [(client, 0u64), (server, 1u64)] {
        epoll::add(
            &ep,
            fd,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN,
        )
        .map_err(errno("epoll_ctl(ADD)"))?;
    }
    let mut events: Vec<epoll::Event> = Vec::with_capacity(8);
    loop {
        events.clear();
        match epoll::wait(&ep, rustix::buffer::spare_capacity(&mut events), None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(errno("epoll_wait")(e)),
        }
        for ev in &events {
            let from_client = ev.data.u64() == 0;
            let (src, dst) = if from_client {
                (client, server)
            } else {
                (server, client)
            };
            while let Some(n) = try_recv_msg(src, buf).map_err(fail("relay: recv"))? {
                if n == 0 {
                    return Ok(());
                }
                if from_client {
                    send_all(dst, &buf[..n]).map_err(fail("relay: send to server"))?;
                    if acked {
                        send_all(src, ACK).map_err(fail("relay: ack to client"))?;
                    }
                } else {
                    if acked {
                        send_all(src, ACK).map_err(fail("relay: ack to server"))?;
                    }
                    send_all(dst, &buf[..n]).map_err(fail("relay: send to client"))?;
                }
            }
        }
    }
}

/// The hidden `relay-uring` role: like [`relay_role`] with an io_uring
/// middle.
pub fn relay_uring_role(max_msg: usize) -> Result<(), BenchError> {
    let (stdin, stdout) = (io::stdin(), io::stdout());
    crate::sys::uring_relay::relay(stdin.as_fd(), stdout.as_fd(), max_msg + 1).map_err(|source| {
        BenchError::Io {
            what: "relay-uring".into(),
            source,
        }
    })
}

/// How a relay's middle waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Middle {
    /// Blocking `recv`/`send`.
    Blocking,
    /// io_uring, one `io_uring_enter` per leg.
    Uring,
    /// epoll, level-triggered, each socket read until `EAGAIN`.
    Epoll,
    /// A blocking thread per direction.
    Threaded,
}

/// The client's end of a floor: a socket and the helpers behind it.
pub struct SocketRig {
    sock: OwnedFd,
    /// An acknowledgement comes before each answer (diagnostic relays).
    acked: bool,
    // Dropped after `sock` (fields drop in order): the helpers see end of
    // file first and exit by themselves; then they are killed and reaped.
    helpers: Vec<Helper>,
}

impl SocketRig {
    /// `direct`: an echo server on CPU `far`.
    pub fn direct(max_msg: usize, far: usize, home: usize) -> Result<SocketRig, BenchError> {
        let (mine, theirs) = seqpacket_pair(max_msg)?;
        let mut cmd = self_command("echo")?;
        cmd.arg("--max").arg(max_msg.to_string());
        cmd.stdin(Stdio::from(theirs)).stdout(Stdio::null());
        let echo = Helper::new("echo server", spawn_on(far, home, &mut cmd)?);
        drop(cmd); // closes our copy of the helper's end
        Ok(SocketRig {
            sock: mine,
            acked: false,
            helpers: vec![echo],
        })
    }

    /// A relay: a middle of kind `middle` and an echo server, both on CPU
    /// `far`; `acked` for the diagnostic relays that send
    /// `TransactionComplete`-like acknowledgements.
    pub fn relay(
        max_msg: usize,
        middle: Middle,
        acked: bool,
        far: usize,
        home: usize,
    ) -> Result<SocketRig, BenchError> {
        let (mine, middle_in) = seqpacket_pair(max_msg)?;
        let (middle_out, server) = seqpacket_pair(max_msg)?;
        let mut cmd = self_command("echo")?;
        cmd.arg("--max").arg(max_msg.to_string());
        if acked {
            cmd.arg("--acked");
        }
        cmd.stdin(Stdio::from(server)).stdout(Stdio::null());
        let echo = Helper::new("echo server", spawn_on(far, home, &mut cmd)?);
        drop(cmd);
        let mut cmd = self_command(match middle {
            Middle::Uring => "relay-uring",
            Middle::Blocking | Middle::Epoll | Middle::Threaded => "relay",
        })?;
        cmd.arg("--max").arg(max_msg.to_string());
        if middle == Middle::Epoll {
            cmd.arg("--epoll");
        }
        if middle == Middle::Threaded {
            cmd.arg("--threaded");
        }
        if acked {
            cmd.arg("--acked");
        }
        cmd.stdin(Stdio::from(middle_in))
            .stdout(Stdio::from(middle_out));
        let name = match middle {
            Middle::Blocking => "relay",
            Middle::Uring => "io_uring relay",
            Middle::Epoll => "epoll relay",
            Middle::Threaded => "threaded relay",
        };
        let middle = Helper::new(name, spawn_on(far, home, &mut cmd)?);
        drop(cmd);
        Ok(SocketRig {
            sock: mine,
            acked,
            helpers: vec![middle, echo],
        })
    }

    /// The helpers' pids and CPUs, for the progress log.
    pub fn describe(&self) -> String {
        self.helpers
            .iter()
            .map(|h| format!("{} pid {} cpus {:?}", h.name, h.pid(), h.cpus()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Rig for SocketRig {
    fn helpers(&self) -> Vec<(String, u32)> {
        self.helpers.iter().map(Helper::role).collect()
    }

    fn call(&mut self, req: &[u8], resp: &mut [u8]) -> Result<usize, BenchError> {
        let fd = self.sock.as_fd();
        send_all(fd, req).map_err(|source| BenchError::Io {
            what: "client: send".into(),
            source,
        })?;
        if self.acked {
            let n = recv_msg(fd, resp).map_err(fail("client: recv ack"))?;
            if n != ACK.len() {
                return Err(BenchError::Helper(format!(
                    "expected a {}-byte acknowledgement, got {n} bytes",
                    ACK.len()
                )));
            }
        }
        let n = recv_msg(fd, resp).map_err(|source| BenchError::Io {
            what: "client: recv".into(),
            source,
        })?;
        if n == 0 {
            return Err(BenchError::Helper(
                "the echo server or the relay closed the socket (see its error above)".into(),
            ));
        }
        Ok(n)
    }
}
