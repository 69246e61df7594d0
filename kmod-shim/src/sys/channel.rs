//! Channels: `SOCK_SEQPACKET` Unix sockets that carry bytes, fds and
//! credentials between a process and the mediator.
//!
//! A [`Channel`] is one end of one connection: the one a process makes at
//! connect (that connection *is* the process), or one of the thread channels
//! the mediator makes with [`Channel::pair`]. A [`Listener`] is the mediator's
//! listening socket, one per context. Every fd made or received here is
//! `O_CLOEXEC`: sockets are made with `SOCK_CLOEXEC` and every `recvmsg` uses
//! `MSG_CMSG_CLOEXEC`.
//!
//! Sending goes through rustix's typed `sendmsg`. Receiving is written with
//! libc, because rustix's `SCM_CREDENTIALS` type cannot hold pid 0 (a sender
//! outside our pid namespace), and because we want every fd a message brings,
//! including a stray `SCM_PIDFD`, taken into an `OwnedFd` at once.
//!
//! A message carries at most [`SCM_MAX_FD`] fds; a receiver that asked for
//! fewer gets [`Received::ctrunc`] and the rest are closed by the kernel. An
//! empty message and end-of-file look alike on `SOCK_SEQPACKET` (a zero-length
//! read), so capbinder never sends empty messages.

use std::io::{self, IoSlice};
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::ptr;

use rustix::net::{
    AddressFamily, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketAddrUnix,
    SocketFlags, SocketType,
};

use crate::sys::cred::{self, Cred};

/// `SCM_MAX_FD`: the most fds one message can carry.
pub const SCM_MAX_FD: usize = 253;

/// `SCM_PIDFD` (Linux 6.5): a pidfd sent when `SO_PASSPIDFD` is set; we never
/// set it, but close any that arrives rather than leak it.
const SCM_PIDFD: libc::c_int = 0x04;

/// `SO_SNDBUF` of both ends of a [`Channel::pair`]: room for the largest
/// message the wire allows, with its overhead.
const SEND_BUFFER: usize = 512 << 10;

pub(crate) const fn cmsg_space(len: usize) -> usize {
    // Lengths here are at most a few KiB, far below u32::MAX.
    let len = len as u32;
    // SAFETY: CMSG_SPACE is arithmetic on its argument (it is `unsafe` only
    // because it mirrors a C macro); it touches no memory.
    (unsafe { libc::CMSG_SPACE(len) }) as usize
}

/// Room for one `SCM_CREDENTIALS` message.
const CRED_SPACE: usize = cmsg_space(size_of::<libc::ucred>());
/// Room for one stray `SCM_PIDFD` message.
const PIDFD_SPACE: usize = cmsg_space(size_of::<libc::c_int>());
/// The largest control buffer a receive uses.
pub(crate) const CONTROL_MAX: usize =
    cmsg_space(SCM_MAX_FD * size_of::<libc::c_int>()) + CRED_SPACE + PIDFD_SPACE;

/// A control buffer aligned for `struct cmsghdr`.
#[repr(C, align(8))]
pub(crate) struct Control(pub(crate) [u8; CONTROL_MAX]);

const _: () = assert!(std::mem::align_of::<Control>() >= std::mem::align_of::<libc::cmsghdr>());

/// What one [`Channel::recv`] brought.
#[derive(Debug)]
pub struct Received {
    /// Bytes written into the caller's buffer (at most its length).
    pub len: usize,
    /// The message's full length; larger than `len` when [`truncated`](Self::truncated).
    pub full_len: usize,
    /// The fds the message carried (`SCM_RIGHTS`), each `O_CLOEXEC`, in order.
    pub fds: Vec<OwnedFd>,
    /// The sender's credentials (`SCM_CREDENTIALS`), present when the
    /// receiving socket has `SO_PASSCRED`.
    pub cred: Option<Cred>,
    /// `MSG_TRUNC`: the message was longer than the buffer; the rest is lost.
    pub truncated: bool,
    /// `MSG_CTRUNC`: more fds came than asked for; the extra ones were closed.
    pub ctrunc: bool,
}

/// One end of a `SOCK_SEQPACKET | SOCK_CLOEXEC` Unix socket connection.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    /// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)`: two connected
    /// ends.
    ///
    /// Peer credentials of either end name the calling process, so hand an
    /// end only to a process whose identity you already know.
    pub fn pair() -> io::Result<(Channel, Channel)> {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| context(e.into(), "socketpair(AF_UNIX, SOCK_SEQPACKET)"))?;
        // A datagram larger than the sender's send buffer fails with
        // EMSGSIZE, and the default (about 208 KiB) is below the largest
        // message the wire allows (256 KiB, `wire::MAX_MSG`): a large state
        // dump could not be sent. The kernel doubles this and caps it at
        // twice `wmem_max` (416 KiB by default), enough either way.
        for end in [&a, &b] {
            rustix::net::sockopt::set_socket_send_buffer_size(end, SEND_BUFFER)
                .map_err(|e| context(e.into(), "setsockopt(SO_SNDBUF)"))?;
        }
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    /// `socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)` then
    /// `connect(fd, path)`: a channel to a mediator's listener.
    pub fn connect(path: &Path) -> io::Result<Channel> {
        let addr = unix_addr(path)?;
        let fd = seqpacket_socket()?;
        loop {
            match rustix::net::connect(&fd, &addr) {
                Ok(()) => return Ok(Channel { fd }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    return Err(context(
                        e.into(),
                        &format!(
                            "connect({}) failed; is the mediator running?",
                            path.display()
                        ),
                    ))
                }
            }
        }
    }

    /// Wraps a received or inherited socket, after checking (`SO_TYPE`) that
    /// it is a `SOCK_SEQPACKET` socket.
    pub fn from_owned_fd(fd: OwnedFd) -> io::Result<Channel> {
        let ty = rustix::net::sockopt::socket_type(&fd)
            .map_err(|e| context(e.into(), "getsockopt(SO_TYPE) on the channel fd"))?;
        if ty != SocketType::SEQPACKET {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the fd is not a SOCK_SEQPACKET socket; a capbinder channel must be one",
            ));
        }
        Ok(Channel { fd })
    }

    /// The socket, giving up the `Channel`.
    pub fn into_owned_fd(self) -> OwnedFd {
        self.fd
    }

    /// `setsockopt(SO_PASSCRED)`: whether received messages carry
    /// [`Received::cred`].
    pub fn set_passcred(&self, on: bool) -> io::Result<()> {
        cred::set_socket_passcred(&self.fd, on)
    }

    /// `ioctl(fd, FIONBIO, &on)`: whether plain [`send`](Self::send) and
    /// [`recv`](Self::recv) block. The `try_` variants never block either way.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        Ok(rustix::io::ioctl_fionbio(&self.fd, on)?)
    }

    /// `shutdown(fd, SHUT_RDWR)`: ends the connection for both sides while
    /// keeping the fd, so requests still in flight on it complete.
    pub fn shutdown(&self) -> io::Result<()> {
        Ok(rustix::net::shutdown(
            &self.fd,
            rustix::net::Shutdown::Both,
        )?)
    }

    /// `sendmsg(fd, {data, SCM_RIGHTS(fds)}, MSG_NOSIGNAL)`: sends one message
    /// with up to [`SCM_MAX_FD`] fds, blocking while the socket is full (unless
    /// it is non-blocking). Returns the bytes sent, which is all of `data`.
    ///
    /// Fails with `EPIPE` when the peer has gone (no `SIGPIPE` is raised),
    /// `EMSGSIZE` when `data` exceeds the socket's send buffer.
    pub fn send(&self, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
        self.send_with(data, fds, SendFlags::NOSIGNAL)
    }

    /// [`send`](Self::send) with `MSG_DONTWAIT`: fails with
    /// [`io::ErrorKind::WouldBlock`] instead of waiting for room.
    pub fn try_send(&self, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
        self.send_with(data, fds, SendFlags::NOSIGNAL | SendFlags::DONTWAIT)
    }

    /// [`send`](Self::send) of one message made of `head` then `body`,
    /// gathered by the kernel (`sendmsg` with two `iovec`s): a small header
    /// goes in front of a payload without copying the payload next to it.
    pub fn send_parts(&self, head: &[u8], body: &[u8]) -> io::Result<usize> {
        let parts = [IoSlice::new(head), IoSlice::new(body)];
        self.send_iov(&parts, &[], SendFlags::NOSIGNAL)
    }

    fn send_with(
        &self,
        data: &[u8],
        fds: &[BorrowedFd<'_>],
        flags: SendFlags,
    ) -> io::Result<usize> {
        self.send_iov(&[IoSlice::new(data)], fds, flags)
    }

    fn send_iov(
        &self,
        iov: &[IoSlice<'_>],
        fds: &[BorrowedFd<'_>],
        flags: SendFlags,
    ) -> io::Result<usize> {
        if fds.len() > SCM_MAX_FD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} fds in one message; at most {SCM_MAX_FD} (SCM_MAX_FD) fit, send the rest separately",
                    fds.len()
                ),
            ));
        }
        if let ([one], []) = (iov, fds) {
            // A message of one part and no fds (a call's every message):
            // `send(2)`, which spares the kernel copying in a `msghdr` and
            // an iovec array.
            return loop {
                match rustix::net::send(&self.fd, one, flags) {
                    Err(rustix::io::Errno::INTR) => continue,
                    other => break Ok(other?),
                }
            };
        }
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(SCM_MAX_FD))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(io::Error::other(
                "SCM_RIGHTS did not fit its control buffer",
            ));
        }
        loop {
            match rustix::net::sendmsg(&self.fd, iov, &mut control, flags) {
                Err(rustix::io::Errno::INTR) => continue,
                other => return Ok(other?),
            }
        }
    }

    /// `recvmsg(fd, {buf, control}, MSG_CMSG_CLOEXEC | MSG_TRUNC)`: receives
    /// one message into `buf` with up to `max_fds` fds (capped at
    /// [`SCM_MAX_FD`]), blocking until one arrives (unless non-blocking).
    ///
    /// A zero [`Received::len`] with no fds means the peer closed.
    pub fn recv(&self, buf: &mut [u8], max_fds: usize) -> io::Result<Received> {
        self.recv_with(buf, max_fds, 0)
    }

    /// [`recv`](Self::recv) with `MSG_DONTWAIT`: fails with
    /// [`io::ErrorKind::WouldBlock`] when no message is waiting.
    pub fn try_recv(&self, buf: &mut [u8], max_fds: usize) -> io::Result<Received> {
        self.recv_with(buf, max_fds, libc::MSG_DONTWAIT)
    }

    fn recv_with(
        &self,
        buf: &mut [u8],
        max_fds: usize,
        flags: libc::c_int,
    ) -> io::Result<Received> {
        let max_fds = max_fds.min(SCM_MAX_FD);
        let control_len =
            (cmsg_space(max_fds * size_of::<libc::c_int>()) + CRED_SPACE + PIDFD_SPACE)
                .min(CONTROL_MAX);
        // Left uninitialised: zeroing its 1 KiB showed in the mediator's
        // profile (two receives per round trip), and nothing reads a byte
        // the kernel did not write (see `take_control`).
        let mut control = MaybeUninit::<Control>::uninit();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: `msghdr` is plain data (integers and pointers); all zeroes is
        // a valid, empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        // `msg_controllen` is `size_t` on glibc but `socklen_t` on musl.
        #[allow(clippy::useless_conversion)]
        let controllen = control_len.try_into().map_err(io::Error::other)?;
        msg.msg_controllen = controllen;
        let flags = flags | libc::MSG_CMSG_CLOEXEC | libc::MSG_TRUNC;
        let n = loop {
            // SAFETY: `msg` points at `iov` (describing `buf`, writable for its
            // whole length) and at `control` (writable for `control_len <=
            // CONTROL_MAX` bytes, uninitialised memory the kernel only
            // writes); all three outlive the call and the kernel keeps no
            // pointer after it returns.
            let rc = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, flags) };
            if rc >= 0 {
                break usize::try_from(rc).map_err(io::Error::other)?;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        };
        let (mut fds, cred) = take_control(&msg);
        // The control buffer has room for credentials that may not have come,
        // so a few fds past `max_fds` can slip in: close those too.
        let over = fds.len() > max_fds;
        fds.truncate(max_fds);
        Ok(Received {
            len: n.min(buf.len()),
            full_len: n,
            fds,
            cred,
            truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
            ctrunc: over || msg.msg_flags & libc::MSG_CTRUNC != 0,
        })
    }

    /// The connecting process's credentials (`SO_PEERCRED`), as of connect.
    pub fn peer_cred(&self) -> io::Result<Cred> {
        cred::socket_peercred(&self.fd)
    }
}

/// Walks the control messages `recvmsg` wrote into `msg`, taking every fd it
/// installed into an `OwnedFd` and reading `SCM_CREDENTIALS`.
pub(crate) fn take_control(msg: &libc::msghdr) -> (Vec<OwnedFd>, Option<Cred>) {
    let mut fds = Vec::new();
    let mut cred = None;
    let start = msg.msg_control.cast::<u8>().cast_const();
    // `msg_controllen` and `cmsg_len` are `size_t` on glibc, `socklen_t` on musl.
    #[allow(clippy::useless_conversion)]
    let used = usize::try_from(msg.msg_controllen).unwrap_or(0);
    // SAFETY: CMSG_FIRSTHDR only reads `msg`'s control pointer and length; the
    // kernel set the length to what it wrote into our control buffer.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR return only headers that lie wholly
        // inside the first `msg_controllen` bytes of the control buffer, which
        // the kernel wrote and which is aligned for `cmsghdr`.
        let hdr = unsafe { ptr::read(cmsg) };
        // SAFETY: as above, `cmsg` is a valid header inside the buffer; this
        // only computes the address just past it.
        let data = unsafe { libc::CMSG_DATA(cmsg) }.cast_const();
        // The data runs to `cmsg_len`, but never past what the kernel wrote.
        let header = data as usize - cmsg as usize;
        let room = (start as usize + used).saturating_sub(data as usize);
        #[allow(clippy::useless_conversion)]
        let data_len = usize::try_from(hdr.cmsg_len)
            .unwrap_or(0)
            .saturating_sub(header)
            .min(room);
        match (hdr.cmsg_level, hdr.cmsg_type) {
            (libc::SOL_SOCKET, ty @ (libc::SCM_RIGHTS | SCM_PIDFD)) => {
                for i in 0..data_len / size_of::<libc::c_int>() {
                    // SAFETY: `(i + 1) * 4 <= data_len`, which lies inside the
                    // written control data; ints there may be unaligned.
                    let raw = unsafe {
                        ptr::read_unaligned(
                            data.add(i * size_of::<libc::c_int>()).cast::<libc::c_int>(),
                        )
                    };
                    if raw < 0 {
                        continue;
                    }
                    // SAFETY: the kernel installed this fd in our table for
                    // this message alone; nothing else knows the number.
                    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
                    if ty == libc::SCM_RIGHTS {
                        fds.push(fd);
                    } // else a pidfd we did not ask for: dropping closes it
                }
            }
            (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) if data_len >= size_of::<libc::ucred>() => {
                // SAFETY: a whole `struct ucred` lies inside the written data,
                // and every bit pattern is a valid ucred; it may be unaligned.
                let uc = unsafe { ptr::read_unaligned(data.cast::<libc::ucred>()) };
                cred = Some(Cred::from(uc));
            }
            _ => {}
        }
        // SAFETY: `cmsg` is a valid header of `msg`; CMSG_NXTHDR returns the
        // next one only if it lies wholly inside the control length, else null.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    (fds, cred)
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<Channel> for OwnedFd {
    fn from(c: Channel) -> OwnedFd {
        c.fd
    }
}

/// A listening `SOCK_SEQPACKET` Unix socket bound to a path: the mediator's
/// front door for one context.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// `socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)`, `bind(fd, path)`,
    /// `chmod(path, 0666)`, `listen(fd, SOMAXCONN)`.
    ///
    /// Anyone who can reach the directory may connect: connecting grants only
    /// a handle to the service manager. Fails with `EADDRINUSE` when `path`
    /// exists; remove a stale socket first.
    pub fn bind(path: &Path) -> io::Result<Listener> {
        let addr = unix_addr(path)?;
        let fd = seqpacket_socket()?;
        rustix::net::bind(&fd, &addr)
            .map_err(|e| context(e.into(), &format!("bind({})", path.display())))?;
        rustix::fs::chmod(path, rustix::fs::Mode::from_raw_mode(0o666))
            .map_err(|e| context(e.into(), &format!("chmod({}, 0666)", path.display())))?;
        rustix::net::listen(&fd, libc::SOMAXCONN)
            .map_err(|e| context(e.into(), &format!("listen({})", path.display())))?;
        Ok(Listener { fd })
    }

    /// `accept4(fd, NULL, NULL, SOCK_CLOEXEC)`: the next connection, as a
    /// blocking channel. On a non-blocking listener, fails with
    /// [`io::ErrorKind::WouldBlock`] when none is waiting.
    pub fn accept(&self) -> io::Result<Channel> {
        loop {
            match rustix::net::accept_with(&self.fd, SocketFlags::CLOEXEC) {
                Ok(fd) => return Ok(Channel { fd }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `ioctl(fd, FIONBIO, &on)`: whether [`accept`](Self::accept) blocks.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        Ok(rustix::io::ioctl_fionbio(&self.fd, on)?)
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn seqpacket_socket() -> io::Result<OwnedFd> {
    rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| context(e.into(), "socket(AF_UNIX, SOCK_SEQPACKET)"))
}

fn unix_addr(path: &Path) -> io::Result<SocketAddrUnix> {
    SocketAddrUnix::new(path).map_err(|e| {
        context(
            e.into(),
            &format!(
                "socket path {} is not usable (at most 107 bytes, no NUL); choose a shorter one",
                path.display()
            ),
        )
    })
}

/// The same error kind, with what we were doing in front.
fn context(err: io::Error, what: &str) -> io::Error {
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::io::FdFlags;
    use std::os::unix::fs::PermissionsExt;

    /// Both ends of a pair carry the largest message the wire allows
    /// (the default send buffer, about 208 KiB, would refuse it).
    #[test]
    fn a_pair_carries_the_largest_wire_message_both_ways() {
        let (a, b) = Channel::pair().unwrap();
        let msg = vec![7u8; crate::wire::MAX_MSG];
        let mut buf = vec![0u8; crate::wire::MAX_MSG + 1];
        for (from, to) in [(&a, &b), (&b, &a)] {
            from.send(&msg, &[]).unwrap();
            let got = to.recv(&mut buf, 0).unwrap();
            assert_eq!((got.len, got.truncated), (msg.len(), false));
        }
    }

    fn memfd_with(data: &[u8]) -> OwnedFd {
        let fd = crate::sys::memfd::memfd_create("chan").unwrap();
        rustix::io::pwrite(&fd, data, 0).unwrap();
        fd
    }

    fn read_fd(fd: &OwnedFd) -> Vec<u8> {
        let mut buf = [0u8; 64];
        let n = rustix::io::pread(fd, &mut buf, 0).unwrap();
        buf[..n].to_vec()
    }

    fn is_cloexec(fd: &OwnedFd) -> bool {
        rustix::io::fcntl_getfd(fd)
            .unwrap()
            .contains(FdFlags::CLOEXEC)
    }

    fn me() -> Cred {
        Cred {
            pid: rustix::process::getpid().as_raw_nonzero().get(),
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
        }
    }

    #[test]
    fn control_space_matches_libc() {
        // SAFETY: CMSG_SPACE/CMSG_LEN are arithmetic only.
        let (space, len) = unsafe { (libc::CMSG_SPACE(12), libc::CMSG_LEN(0)) };
        assert_eq!(cmsg_space(12), space as usize);
        assert_eq!(CRED_SPACE, space as usize);
        assert_eq!(len as usize, size_of::<libc::cmsghdr>());
    }

    #[test]
    fn fds_pass_across_a_pair_and_arrive_cloexec() {
        let (a, b) = Channel::pair().unwrap();
        let one = memfd_with(b"one");
        let two = memfd_with(b"two");
        assert_eq!(a.send(b"hello", &[one.as_fd(), two.as_fd()]).unwrap(), 5);
        let mut buf = [0u8; 16];
        let got = b.recv(&mut buf, 8).unwrap();
        assert_eq!(&buf[..got.len], b"hello");
        assert_eq!((got.full_len, got.truncated, got.ctrunc), (5, false, false));
        assert_eq!(got.fds.len(), 2);
        assert_eq!(read_fd(&got.fds[0]), b"one");
        assert_eq!(read_fd(&got.fds[1]), b"two");
        assert!(got.fds.iter().all(is_cloexec));
        assert!(got.cred.is_none(), "no SO_PASSCRED, no credentials");
    }

    #[test]
    fn credentials_arrive_with_passcred() {
        let (a, b) = Channel::pair().unwrap();
        b.set_passcred(true).unwrap();
        a.send(b"x", &[]).unwrap();
        let mut buf = [0u8; 4];
        let got = b.recv(&mut buf, 0).unwrap();
        assert_eq!(got.cred, Some(me()));
        assert!(!got.ctrunc);
        // And from a thread: the pid is the process's, not the thread's.
        std::thread::scope(|s| {
            s.spawn(|| a.send(b"y", &[]).unwrap());
        });
        let got = b.recv(&mut buf, 0).unwrap();
        assert_eq!(got.cred, Some(me()));
    }

    #[test]
    fn credentials_and_fds_arrive_together() {
        let (a, b) = Channel::pair().unwrap();
        b.set_passcred(true).unwrap();
        let fd = memfd_with(b"both");
        a.send(b"z", &[fd.as_fd()]).unwrap();
        let got = b.recv(&mut [0u8; 4], 1).unwrap();
        assert_eq!(got.cred, Some(me()));
        assert_eq!(got.fds.len(), 1);
        assert!(!got.ctrunc);
        assert_eq!(read_fd(&got.fds[0]), b"both");
    }

    #[test]
    fn truncation_is_reported() {
        let (a, b) = Channel::pair().unwrap();
        a.send(&[7u8; 100], &[]).unwrap();
        a.send(b"next", &[]).unwrap();
        let mut buf = [0u8; 10];
        let got = b.recv(&mut buf, 0).unwrap();
        assert!(got.truncated);
        assert_eq!((got.len, got.full_len), (10, 100));
        let got = b.recv(&mut buf, 0).unwrap();
        assert!(!got.truncated);
        assert_eq!(
            &buf[..got.len],
            b"next",
            "the rest of a long message is dropped"
        );
    }

    #[test]
    fn too_many_fds_for_the_receiver_is_ctrunc() {
        let (a, b) = Channel::pair().unwrap();
        let fd = memfd_with(b"m");
        a.send(b"three", &[fd.as_fd(), fd.as_fd(), fd.as_fd()])
            .unwrap();
        let got = b.recv(&mut [0u8; 8], 1).unwrap();
        assert!(got.ctrunc);
        assert_eq!(got.fds.len(), 1);
        a.send(b"none", &[fd.as_fd()]).unwrap();
        let got = b.recv(&mut [0u8; 8], 0).unwrap();
        assert!(got.ctrunc);
        assert!(got.fds.is_empty());
    }

    #[test]
    fn scm_max_fd_fds_pass_and_one_more_is_refused() {
        let (a, b) = Channel::pair().unwrap();
        let fd = memfd_with(b"many");
        let many = vec![fd.as_fd(); SCM_MAX_FD];
        a.send(b"253", &many).unwrap();
        let got = b.recv(&mut [0u8; 8], SCM_MAX_FD).unwrap();
        assert!(!got.ctrunc);
        assert_eq!(got.fds.len(), SCM_MAX_FD);
        assert!(got.fds.iter().all(is_cloexec));
        assert_eq!(read_fd(&got.fds[SCM_MAX_FD - 1]), b"many");

        let too_many = vec![fd.as_fd(); SCM_MAX_FD + 1];
        let err = a.send(b"254", &too_many).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("253"), "{err}");
    }

    #[test]
    fn a_message_sent_in_two_parts_arrives_as_one() {
        let (a, b) = Channel::pair().unwrap();
        a.send_parts(b"head", b"-body").unwrap();
        let mut buf = [0u8; 16];
        let got = b.recv(&mut buf, 0).unwrap();
        assert_eq!(&buf[..got.len], b"head-body");
    }

    #[test]
    fn try_recv_on_empty_channel_would_block() {
        let (_a, b) = Channel::pair().unwrap();
        let err = b.try_recv(&mut [0u8; 4], 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        b.set_nonblocking(true).unwrap();
        let err = b.recv(&mut [0u8; 4], 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn try_send_on_full_channel_would_block() {
        let (a, _b) = Channel::pair().unwrap();
        let msg = [0u8; 4096];
        let mut sent = 0;
        let err = loop {
            match a.try_send(&msg, &[]) {
                Ok(_) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 100_000, "socket never filled up");
        };
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(sent > 0);
    }

    #[test]
    fn closed_peer_reads_as_empty_and_send_is_epipe() {
        let (a, b) = Channel::pair().unwrap();
        drop(a);
        let got = b.recv(&mut [0u8; 4], 4).unwrap();
        assert_eq!(got.len, 0);
        assert!(got.fds.is_empty());
        let err = b.send(b"x", &[]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
    }

    #[test]
    fn from_owned_fd_refuses_a_stream_socket() {
        let (s, _t) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let err = Channel::from_owned_fd(s).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let (a, _b) = Channel::pair().unwrap();
        Channel::from_owned_fd(a.into_owned_fd()).unwrap();
    }

    #[test]
    fn received_channel_end_works() {
        // A thread channel travels as one end of a fresh pair.
        let (mediator, process) = Channel::pair().unwrap();
        let (thread_m, thread_p) = Channel::pair().unwrap();
        mediator.send(b"thread", &[thread_p.as_fd()]).unwrap();
        drop(thread_p);
        let mut got = process.recv(&mut [0u8; 8], 1).unwrap();
        let thread = Channel::from_owned_fd(got.fds.pop().unwrap()).unwrap();
        thread.send(b"hi", &[]).unwrap();
        let mut buf = [0u8; 4];
        let r = thread_m.recv(&mut buf, 0).unwrap();
        assert_eq!(&buf[..r.len], b"hi");
    }

    #[test]
    fn listener_is_world_connectable_and_accepts_cloexec() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capbinder.sock");
        let listener = Listener::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666);

        let client = Channel::connect(&path).unwrap();
        let server = listener.accept().unwrap();
        assert!(is_cloexec(&server.fd));
        assert_eq!(server.peer_cred().unwrap(), me());

        server.set_passcred(true).unwrap();
        let fd = memfd_with(b"hs");
        client.send(b"hello", &[fd.as_fd()]).unwrap();
        let mut buf = [0u8; 8];
        let got = server.recv(&mut buf, 1).unwrap();
        assert_eq!(&buf[..got.len], b"hello");
        assert_eq!(got.cred, Some(me()));
        assert_eq!(read_fd(&got.fds[0]), b"hs");

        listener.set_nonblocking(true).unwrap();
        let err = listener.accept().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);

        let err = Listener::bind(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn connect_to_missing_socket_says_what_failed() {
        let dir = tempfile::tempdir().unwrap();
        let err = Channel::connect(&dir.path().join("none.sock")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("none.sock"), "{err}");
    }

    #[test]
    fn overlong_socket_path_is_refused() {
        let long = Path::new("/tmp").join("x".repeat(200));
        assert!(Listener::bind(&long).is_err());
    }
}
