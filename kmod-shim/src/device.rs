//! The client-side "device": what the runtime opens instead of
//! `/dev/binder`. One [`Device`] per process (its connection *is* the
//! process, so it must stay open for the process's life), one
//! [`ThreadChannel`] per binder thread.
//!
//! - [`Device::open`] finds the socket, connects, does the handshake and maps
//!   the receive buffer `MAP_SHARED | PROT_READ` (the memfd is sealed
//!   `F_SEAL_FUTURE_WRITE`, so it can never become writable here).
//! - [`Device::register_thread`] asks for a channel for the calling thread
//!   and maps its send area read-write.
//! - [`ThreadChannel::write`] / [`ThreadChannel::read`] are binder's
//!   write-read, split; both refuse to work in a forked child.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use capbinder_core::{
    features, Command, DataRange, Hello, Limits, Return, TxnIn, Welcome, PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
};

use crate::sys::channel::{Channel, SCM_MAX_FD};
use crate::sys::memfd::{AccessError, MapError, Mapping, SendArea};
use crate::wire::{self, ClientMsg, ServerMsg, WireError, MAX_MSG};

/// The default context's socket name.
pub const DEFAULT_CONTEXT: &str = "capbinder";

/// Opening or using the device failed.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// No socket was found where the client looks.
    #[error("no capbinder mediator socket found; looked at {0}; start capbinderd or set CAPBINDER_SOCKET")]
    NoSocket(String),
    /// Connecting or talking to the mediator failed.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The mediator refused the handshake or a request.
    #[error("the mediator refused: {0}")]
    Refused(String),
    /// The mediator said something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A message could not be encoded or decoded.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// Mapping a buffer failed.
    #[error("mapping a buffer: {0}")]
    Map(#[from] MapError),
    /// A buffer range is outside the mapping.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The thread's send area is leased to a payload being built in place,
    /// so nothing else may write it now.
    #[error("this thread's send area is being written in place by another payload; send that one first or drop it")]
    SendAreaBusy,
    /// The mediator closed the connection or the channel.
    #[error("the mediator closed the channel; every remote object is now dead")]
    Closed,
    /// Used in a forked child: the device belongs to the parent.
    #[error("this capbinder device was opened by pid {opened} but is used by pid {now} (a forked child); open a new one in the child")]
    Forked {
        /// The pid that opened it.
        opened: i32,
        /// The pid using it.
        now: i32,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> DeviceError {
    move |source| DeviceError::Io { what, source }
}

fn pid_now() -> i32 {
    crate::sys::cred::current_pid()
}

/// Where [`Device::open`] looks when given no path, in order:
/// `$CAPBINDER_SOCKET`, `/run/capbinder/capbinder.sock`,
/// `$XDG_RUNTIME_DIR/capbinder/capbinder.sock`.
pub fn socket_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("CAPBINDER_SOCKET").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
    }
    out.push(PathBuf::from(format!(
        "/run/capbinder/{DEFAULT_CONTEXT}.sock"
    )));
    if let Some(p) = xdg_candidate().filter(|p| !out.contains(p)) {
        out.push(p);
    }
    out
}

/// `$XDG_RUNTIME_DIR/capbinder/capbinder.sock`, if the variable is set.
fn xdg_candidate() -> Option<PathBuf> {
    let d = std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty())?;
    Some(PathBuf::from(d).join(format!("capbinder/{DEFAULT_CONTEXT}.sock")))
}

/// A process's connection to the mediator, with its receive buffer.
pub struct Device {
    /// The process connection; guarded because registration is a request
    /// and its answer.
    conn: Mutex<Channel>,
    recv: Mapping,
    welcome: Welcome,
    pid: i32,
    path: PathBuf,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("path", &self.path)
            .field("pid", &self.pid)
            .finish()
    }
}

impl Device {
    /// Connects to the mediator at `socket` (or the first existing
    /// [`socket_candidates`]), does the handshake and maps the receive
    /// buffer read-only.
    pub fn open(socket: Option<&Path>) -> Result<Device, DeviceError> {
        // A sandboxed app gets its connection made for it, as its own uid,
        // on an inherited fd: it cannot reach the socket's path at all.
        if socket.is_none() {
            if let Some(n) = std::env::var_os("CAPBINDER_FD") {
                let n: i32 = n.to_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                    DeviceError::Protocol(format!("CAPBINDER_FD={n:?} is not an fd number"))
                })?;
                let fd = crate::sys::fds::take_inherited_socket(n)
                    .map_err(io_err("taking the connection named by CAPBINDER_FD"))?;
                let conn = Channel::from_owned_fd(fd)
                    .map_err(io_err("the connection named by CAPBINDER_FD"))?;
                return Device::handshake(conn, PathBuf::from(format!("(inherited fd {n})")));
            }
        }
        let path = match socket {
            Some(p) => p.to_path_buf(),
            None => {
                let c = socket_candidates();
                c.iter().find(|p| p.exists()).cloned().ok_or_else(|| {
                    let xdg = xdg_candidate();
                    let mut names: Vec<String> = c
                        .iter()
                        .filter(|p| Some(*p) != xdg.as_ref())
                        .map(|p| p.display().to_string())
                        .collect();
                    if std::env::var_os("CAPBINDER_SOCKET").is_none() {
                        names.insert(0, "$CAPBINDER_SOCKET (unset)".into());
                    }
                    names.push(match xdg {
                        Some(p) => format!(
                            "$XDG_RUNTIME_DIR/capbinder/capbinder.sock ({})",
                            p.display()
                        ),
                        None => "$XDG_RUNTIME_DIR/capbinder/capbinder.sock (XDG_RUNTIME_DIR unset)"
                            .into(),
                    });
                    DeviceError::NoSocket(names.join(", "))
                })?
            }
        };
        let conn = Channel::connect(&path).map_err(io_err("connecting to the mediator"))?;
        Device::handshake(conn, path)
    }

    /// The handshake on a connected process connection: versions, limits,
    /// and the receive buffer mapped read-only.
    fn handshake(conn: Channel, path: PathBuf) -> Result<Device, DeviceError> {
        let hello = ClientMsg::Hello(Hello {
            major: PROTOCOL_MAJOR,
            minor: PROTOCOL_MINOR,
            features: features::BLOBS
                | features::FREEZE
                | features::PRIORITY_MIGRATION
                | features::FREEZE_NOTIFICATIONS,
        });
        conn.send(&wire::encode(&hello)?, &[])
            .map_err(io_err("sending the handshake"))?;
        let (msg, mut fds) = recv_server(&conn, 1)?;
        let welcome = match msg {
            ServerMsg::Welcome(w) => w,
            ServerMsg::Refused { reason } => return Err(DeviceError::Refused(reason)),
            other => {
                return Err(DeviceError::Protocol(format!(
                    "expected Welcome, got {other:?}"
                )))
            }
        };
        if welcome.major != PROTOCOL_MAJOR {
            return Err(DeviceError::Refused(format!(
                "the mediator speaks protocol {}.{}, this client {}.{}",
                welcome.major, welcome.minor, PROTOCOL_MAJOR, PROTOCOL_MINOR
            )));
        }
        let memfd = fds.pop().ok_or_else(|| {
            DeviceError::Protocol("Welcome came without the receive buffer".into())
        })?;
        let len = usize::try_from(welcome.limits.recv_buffer)
            .map_err(|e| DeviceError::Protocol(e.to_string()))?;
        let recv = Mapping::shared_read_only(memfd.as_fd(), len)?;
        drop(memfd);
        Ok(Device {
            conn: Mutex::new(conn),
            recv,
            welcome,
            pid: pid_now(),
            path,
        })
    }

    /// Whether this process is the one that opened the device (not a
    /// child forked since, which may use none of its parent's channels).
    pub fn check_fork(&self) -> Result<(), DeviceError> {
        let now = pid_now();
        if now != self.pid {
            return Err(DeviceError::Forked {
                opened: self.pid,
                now,
            });
        }
        Ok(())
    }

    /// The limits the mediator enforces.
    pub fn limits(&self) -> &Limits {
        &self.welcome.limits
    }

    /// The mediator's handshake answer (versions, features, page size).
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// The socket this device is connected to.
    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// Copies a delivered range of the receive buffer (bounds-checked).
    /// Only ranges the mediator delivered and that are not yet freed hold
    /// a stable payload.
    pub fn read_buffer(&self, range: DataRange) -> Result<Vec<u8>, DeviceError> {
        self.check_fork()?;
        let (off, len) = range_usize(range)?;
        Ok(self.recv.read_vec(off, len)?)
    }

    /// A delivered range of the receive buffer, borrowed in place (no
    /// copy). Only for a range delivered and not yet freed: free it (with
    /// `FreeBuffer`) only after the borrow ends.
    pub fn buffer_slice(&self, range: DataRange) -> Result<&[u8], DeviceError> {
        let (off, len) = range_usize(range)?;
        Ok(self.recv.delivered_slice(off, len)?)
    }

    /// Like [`read_buffer`](Self::read_buffer), into a caller's buffer of
    /// exactly `range.len` bytes.
    pub fn read_buffer_into(&self, range: DataRange, dst: &mut [u8]) -> Result<(), DeviceError> {
        self.check_fork()?;
        let (off, len) = range_usize(range)?;
        if dst.len() != len {
            return Err(DeviceError::Access(AccessError::OutOfBounds {
                offset: off,
                len: dst.len(),
                size: len,
            }));
        }
        Ok(self.recv.read_at(off, dst)?)
    }

    /// Registers the calling thread: the mediator checks the tid belongs to
    /// this process and answers with a thread channel and a send area.
    pub fn register_thread(&self) -> Result<ThreadChannel, DeviceError> {
        self.check_fork()?;
        let tid = rustix::thread::gettid().as_raw_nonzero().get();
        let (msg, fds) = self.request(
            &ClientMsg::RegisterThread { tid },
            &[],
            2,
            "asking for a thread channel",
        )?;
        let len = match msg {
            ServerMsg::ThreadReady { send_area_len } => send_area_len,
            ServerMsg::ThreadRefused { reason } | ServerMsg::Refused { reason } => {
                return Err(DeviceError::Refused(reason))
            }
            other => {
                return Err(DeviceError::Protocol(format!(
                    "expected ThreadReady, got {other:?}"
                )))
            }
        };
        let mut fds = fds.into_iter();
        let (Some(chan), Some(area)) = (fds.next(), fds.next()) else {
            return Err(DeviceError::Protocol(
                "ThreadReady came without its channel and send area".into(),
            ));
        };
        let chan = Channel::from_owned_fd(chan).map_err(io_err("the thread channel"))?;
        let len = usize::try_from(len).map_err(|e| DeviceError::Protocol(e.to_string()))?;
        let send = SendArea::new(Mapping::shared_read_write(area.as_fd(), len)?)?;
        drop(area);
        Ok(ThreadChannel {
            chan,
            send,
            pid: self.pid,
            tid,
            buf: vec![0; MAX_MSG + 1],
            wbuf: Cell::new(Vec::new()),
            spare: None,
        })
    }
}

impl Device {
    /// Asks the mediator for an app's connection (privileged: effective uid
    /// 0, the context manager's uid or a configured privileged uid): the
    /// mediator keeps its end as a pending identity for app `name` running
    /// as `uid`/`gid` and reads nothing on it until [`bind_app`]; the app's
    /// end and the token naming it come back. The caller hands the end to
    /// the app's process (the sandbox puts it on fd 3) and closes its copy.
    ///
    /// [`bind_app`]: Device::bind_app
    pub fn prepare_app(
        &self,
        name: &str,
        uid: u32,
        gid: u32,
    ) -> Result<(OwnedFd, u64), DeviceError> {
        self.check_fork()?;
        let msg = ClientMsg::PrepareApp {
            name: name.to_string(),
            uid,
            gid,
        };
        let (answer, fds) = self.request(&msg, &[], 1, "preparing an app connection")?;
        match answer {
            ServerMsg::AppPrepared { token } => {
                let end = fds.into_iter().next().ok_or_else(|| {
                    DeviceError::Protocol("AppPrepared came without the app's end".into())
                })?;
                Ok((end, token))
            }
            ServerMsg::AppRefused { reason } | ServerMsg::Refused { reason } => {
                Err(DeviceError::Refused(reason))
            }
            other => Err(DeviceError::Protocol(format!(
                "expected AppPrepared, got {other:?}"
            ))),
        }
    }

    /// Binds the connection [`prepare_app`](Device::prepare_app) made to
    /// the process behind `pidfd`, which must run as the prepared uid and
    /// gid; the mediator serves the connection from then on. Returns the
    /// app's pid. A refused bind drops the prepared connection.
    pub fn bind_app(&self, token: u64, pidfd: BorrowedFd<'_>) -> Result<i32, DeviceError> {
        self.check_fork()?;
        let msg = ClientMsg::BindApp { token };
        match self
            .request(&msg, &[pidfd], 0, "binding an app connection")?
            .0
        {
            ServerMsg::AppBound { pid } => Ok(pid),
            ServerMsg::AppRefused { reason } | ServerMsg::Refused { reason } => {
                Err(DeviceError::Refused(reason))
            }
            other => Err(DeviceError::Protocol(format!(
                "expected AppBound, got {other:?}"
            ))),
        }
    }

    /// One request on the process connection and its answer.
    fn request(
        &self,
        msg: &ClientMsg,
        fds: &[BorrowedFd<'_>],
        max_fds: usize,
        what: &'static str,
    ) -> Result<(ServerMsg, Vec<OwnedFd>), DeviceError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        match conn.send(&wire::encode(msg)?, fds) {
            Ok(_) => {}
            Err(e) if peer_gone(&e) => return Err(DeviceError::Closed),
            Err(e) => return Err(io_err(what)(e)),
        }
        recv_server(&conn, max_fds)
    }
}

/// The mediator closed its end: `EPIPE` on a send, and `ECONNRESET` when it
/// closed with messages of ours still unread (a mediator that was killed, or
/// that disconnected a misbehaving process) rather than a clean end of file.
fn peer_gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET))
}

fn range_usize(r: DataRange) -> Result<(usize, usize), DeviceError> {
    let off = usize::try_from(r.offset).map_err(|e| DeviceError::Protocol(e.to_string()))?;
    let len = usize::try_from(r.len).map_err(|e| DeviceError::Protocol(e.to_string()))?;
    Ok((off, len))
}

fn recv_server(conn: &Channel, max_fds: usize) -> Result<(ServerMsg, Vec<OwnedFd>), DeviceError> {
    let mut buf = vec![0u8; 64 << 10];
    let got = match conn.recv(&mut buf, max_fds) {
        Ok(g) => g,
        Err(e) if peer_gone(&e) => return Err(DeviceError::Closed),
        Err(e) => return Err(io_err("reading the mediator's answer")(e)),
    };
    if got.full_len == 0 && got.fds.is_empty() {
        return Err(DeviceError::Closed);
    }
    if got.truncated || got.ctrunc {
        return Err(DeviceError::Protocol(
            "oversized answer from the mediator".into(),
        ));
    }
    Ok((wire::decode(&buf[..got.len])?, got.fds))
}

/// One binder thread's channel and send area. Not `Sync`: one thread uses
/// it (it may move to another thread, but the mediator knows it by the tid
/// that registered it).
pub struct ThreadChannel {
    chan: Channel,
    send: Arc<SendArea>,
    pid: i32,
    tid: i32,
    buf: Vec<u8>,
    /// The buffer of the last write, to encode the next one into (a
    /// `Cell`: `write` takes `&self`, and a channel is one thread's).
    wbuf: Cell<Vec<u8>>,
    /// A delivered call's or reply's box handed back ([`Self::recycle`]),
    /// for the next one read.
    spare: Option<Box<TxnIn>>,
}

impl std::fmt::Debug for ThreadChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadChannel")
            .field("tid", &self.tid)
            .finish()
    }
}

impl ThreadChannel {
    fn check_fork(&self) -> Result<(), DeviceError> {
        let now = pid_now();
        if now != self.pid {
            return Err(DeviceError::Forked {
                opened: self.pid,
                now,
            });
        }
        Ok(())
    }

    /// The tid this channel was registered for.
    pub fn tid(&self) -> i32 {
        self.tid
    }

    /// The send area's length.
    pub fn send_area_len(&self) -> usize {
        self.send.len()
    }

    /// Copies `bytes` into the send area at `offset`; name the range in a
    /// `TxnOut::data` afterwards. Fails with [`DeviceError::SendAreaBusy`]
    /// while a lease ([`send_area`](Self::send_area)) is held.
    pub fn write_send_area(&mut self, offset: usize, bytes: &[u8]) -> Result<(), DeviceError> {
        self.check_fork()?;
        let mut lease = self.send.try_lease().ok_or(DeviceError::SendAreaBusy)?;
        Ok(lease.write_at(offset, bytes)?)
    }

    /// The send area, to lease for building a payload in place (then name
    /// `0..len` in a `TxnOut::data` and drop the lease only after the
    /// write that names it).
    pub fn send_area(&self) -> &Arc<SendArea> {
        &self.send
    }

    /// Sends commands with their fds (consumed in order by the commands'
    /// Fd, Blob and SharedMem objects).
    pub fn write(&self, cmds: &[Command], fds: &[BorrowedFd<'_>]) -> Result<(), DeviceError> {
        // `write_raw` checks for a fork; once per message is enough.
        let bytes = wire::encode_write_into(cmds, self.wbuf.take())?;
        let sent = self.write_raw(&bytes, fds);
        if bytes.capacity() <= wire::KEEP_CAPACITY {
            self.wbuf.set(bytes);
        }
        sent
    }

    /// Sends raw bytes as one message (for tests of the mediator's checks).
    pub fn write_raw(&self, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), DeviceError> {
        self.check_fork()?;
        match self.chan.send(bytes, fds) {
            Ok(_) => Ok(()),
            Err(e) if peer_gone(&e) => Err(DeviceError::Closed),
            Err(e) => Err(DeviceError::Io {
                what: "writing to the thread channel",
                source: e,
            }),
        }
    }

    /// Blocks for the next return and the fds it carries (`O_CLOEXEC`).
    pub fn read(&mut self) -> Result<(Return, Vec<OwnedFd>), DeviceError> {
        self.check_fork()?;
        let got = match self.chan.recv(&mut self.buf, SCM_MAX_FD) {
            Ok(g) => g,
            Err(e) if peer_gone(&e) => return Err(DeviceError::Closed),
            Err(e) => return Err(io_err("reading the thread channel")(e)),
        };
        if got.full_len == 0 && got.fds.is_empty() {
            return Err(DeviceError::Closed);
        }
        if got.truncated {
            return Err(DeviceError::Protocol(format!(
                "a {}-byte return exceeds {MAX_MSG} bytes",
                got.full_len
            )));
        }
        let ret = wire::decode_return_in(&self.buf[..got.len], &mut self.spare)?;
        if got.ctrunc {
            // This process ran out of fds (or was sent more than
            // SCM_MAX_FD): the kernel installed the first ones and dropped
            // the rest. The return itself is whole and must be handled (a
            // call to answer, a reply someone waits for); the objects
            // whose fds are missing read as absent, so whoever reads them
            // gets an error instead of this thread dropping the return.
            tracing::warn!(
                got = got.fds.len(),
                "a return's fds could not all be received (RLIMIT_NOFILE?)"
            );
        }
        Ok((ret, got.fds))
    }

    /// A duplicate of the socket returns arrive on, to wait on with
    /// `poll`/`epoll` in an event loop of one's own (it turns readable when
    /// a return is waiting); reading stays [`read`](Self::read)'s.
    pub fn poll_fd(&self) -> Result<OwnedFd, DeviceError> {
        self.chan
            .as_fd()
            .try_clone_to_owned()
            .map_err(io_err("duplicating the thread channel"))
    }

    /// Whether a return is waiting, so that [`read`](Self::read) would not
    /// block (an end of file counts: `read` then says the mediator is gone).
    pub fn has_input(&self) -> Result<bool, DeviceError> {
        use rustix::event::{poll, PollFd, PollFlags};
        let mut fds = [PollFd::new(&self.chan, PollFlags::IN)];
        let now = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        loop {
            match poll(&mut fds, Some(&now)) {
                Ok(n) => return Ok(n > 0),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(io_err("polling the thread channel")(e.into())),
            }
        }
    }

    /// Hands back the box of a call or reply this channel delivered, once
    /// it is handled, for the next one [`read`](Self::read) returns: a
    /// caller that does so allocates nothing per delivery. Optional: a box
    /// not handed back is simply dropped.
    pub fn recycle(&mut self, txn: Box<TxnIn>) {
        self.spare = Some(txn);
    }

    /// Writes `cmds` then reads one return.
    pub fn write_read(
        &mut self,
        cmds: &[Command],
        fds: &[BorrowedFd<'_>],
    ) -> Result<(Return, Vec<OwnedFd>), DeviceError> {
        self.write(cmds, fds)?;
        self.read()
    }
}
