//! An io_uring message relay: the batching floor that `capbinder-rawbench`
//! measures beside the blocking relay (DESIGN.md, "Measuring"). It is not
//! the mediator's loop; it shows what one `io_uring_enter` per pass costs
//! with no mediator logic at all.
//!
//! Each pass is one `io_uring_enter(2)` that submits a `send` to one side
//! and a `recv` from the other and waits for both completions, so a round
//! trip through the relay is two `io_uring_enter` calls where a blocking
//! relay makes four syscalls (`recv`, `send`, `recv`, `send`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use io_uring::{opcode, squeue, types, IoUring};

const TAG_SEND: u64 = 1;
const TAG_RECV: u64 = 2;

/// Whether this process may set up an io_uring instance (containers often
/// forbid it): `io_uring_setup(2)` with two entries.
pub fn available() -> io::Result<()> {
    IoUring::new(2).map(drop)
}

/// The relay's two message buffers, handed to the kernel by address.
struct Buffers {
    request: Box<[u8]>,
    answer: Box<[u8]>,
}

/// `io_uring_enter(fd, n, n, IORING_ENTER_GETEVENTS)`: submits `entries`
/// and waits for all of their completions; returns the results of the send
/// and the receive, in that order (negative errno values are errors).
///
/// On `Err`, requests may still be in flight: the caller must then keep
/// every buffer they point at alive for the rest of the process.
fn pass(ring: &mut IoUring, entries: &[squeue::Entry]) -> io::Result<(i32, i32)> {
    for e in entries {
        // SAFETY: every entry points into `Buffers` owned by `relay`, which
        // either waits here for all of their completions or, on an error
        // return, leaks the buffers (see `relay`), so the kernel never
        // writes to or reads from freed memory. The fds are borrowed for
        // the whole of `relay`.
        unsafe { ring.submission().push(e) }
            .map_err(|_| io::Error::other("the io_uring submission queue is full"))?;
    }
    let mut results = (0, 0);
    let mut left = entries.len();
    while left > 0 {
        match ring.submit_and_wait(left) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for cqe in ring.completion() {
            match cqe.user_data() {
                TAG_SEND => results.0 = cqe.result(),
                _ => results.1 = cqe.result(),
            }
            left = left.saturating_sub(1);
        }
    }
    Ok(results)
}

fn check(what: &str, res: i32) -> io::Result<usize> {
    if res < 0 {
        return Err(io::Error::new(
            io::Error::from_raw_os_error(-res).kind(),
            format!("{what}: {}", io::Error::from_raw_os_error(-res)),
        ));
    }
    Ok(res as usize)
}

/// Relays `SOCK_SEQPACKET` messages: a request read from `client` goes to
/// `server`, the answer read from `server` goes back to `client`, until
/// either side closes (then `Ok`). Messages are at most `max_msg` bytes.
pub fn relay(client: BorrowedFd<'_>, server: BorrowedFd<'_>, max_msg: usize) -> io::Result<()> {
    let len = u32::try_from(max_msg).map_err(|_| {
        io::Error::other(format!(
            "{max_msg} bytes is too large for one io_uring recv"
        ))
    })?;
    let mut ring = IoUring::new(8)?;
    let mut bufs = Buffers {
        request: vec![0u8; max_msg].into_boxed_slice(),
        answer: vec![0u8; max_msg].into_boxed_slice(),
    };
    let result = run(&mut ring, &mut bufs, client, server, len);
    if result.is_err() {
        // A request may still be in flight: its buffer must never be freed.
        std::mem::forget(bufs);
        std::mem::forget(ring);
    }
    result
}

fn run(
    ring: &mut IoUring,
    bufs: &mut Buffers,
    client: BorrowedFd<'_>,
    server: BorrowedFd<'_>,
    len: u32,
) -> io::Result<()> {
    let (c, s) = (types::Fd(client.as_raw_fd()), types::Fd(server.as_raw_fd()));
    let recv = |fd: types::Fd, buf: &mut [u8]| {
        opcode::Recv::new(fd, buf.as_mut_ptr(), len)
            .build()
            .user_data(TAG_RECV)
    };
    let send = |fd: types::Fd, buf: &[u8], n: usize| {
        // n <= len, which fits u32.
        opcode::Send::new(fd, buf.as_ptr(), n as u32)
            .build()
            .user_data(TAG_SEND)
    };
    // The first request: a receive alone (its "send" result stays 0).
    let (_, got) = pass(ring, &[recv(c, &mut bufs.request)])?;
    let mut n = check("recv from client", got)?;
    loop {
        if n == 0 {
            return Ok(());
        }
        let (sent, got) = pass(
            ring,
            &[send(s, &bufs.request, n), recv(s, &mut bufs.answer)],
        )?;
        if check("send to server", sent)? != n {
            return Err(io::Error::other("a message to the server was cut short"));
        }
        let m = check("recv from server", got)?;
        if m == 0 {
            return Ok(());
        }
        let (sent, got) = pass(
            ring,
            &[send(c, &bufs.answer, m), recv(c, &mut bufs.request)],
        )?;
        if check("send to client", sent)? != m {
            return Err(io::Error::other("a message to the client was cut short"));
        }
        n = check("recv from client", got)?;
    }
}
