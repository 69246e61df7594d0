//! Connections and identity: accepting a process, the handshake, and
//! thread registration. One connection per process; it *is* the process.
//!
//! Identity comes from the kernel at accept (`SO_PEERCRED`, `SO_PEERPIDFD`,
//! `SO_PEERSEC`), never from what the client writes, and every later message
//! must carry `SCM_CREDENTIALS` naming the same pid. A thread channel is a
//! socket pair the mediator makes for a process whose identity it already
//! knows, so the pair's own (useless) peer credentials never matter.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use capbinder_core::{Cred, Priority, ProcId, PROTOCOL_MAJOR};
use tracing::{debug, warn};

use super::shim::{read_priority, Pending, ProcEntry, Shim, Source, ThreadEntry};
use crate::sys::channel::{Channel, Listener};
use crate::sys::cred;
use crate::sys::memfd;
use crate::sys::Pid;
use crate::wire::{self, ClientMsg, ServerMsg};

impl Shim {
    /// The listener is readable: accept everything waiting.
    pub fn accept_all(&mut self, listener: &Listener) {
        loop {
            let chan = match listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    warn!("accept failed: {e}");
                    return;
                }
            };
            if let Err(e) = self.admit(chan) {
                debug!("refusing a connection: {e}");
            }
        }
    }

    fn admit(&mut self, chan: Channel) -> io::Result<()> {
        let kcred = chan.peer_cred()?;
        if kcred.pid == 0 {
            return Err(io::Error::other(
                "peer is outside our pid namespace; its threads cannot be checked",
            ));
        }
        let pidfd = cred::socket_peerpidfd(&chan)?;
        let label = cred::socket_peersec(&chan)?.map(|l| String::from_utf8_lossy(&l).into_owned());
        chan.set_passcred(true)?;
        chan.set_nonblocking(true)?;
        let token = self.watch(chan.as_fd(), Source::Pending)?;
        self.pending.insert(
            token,
            Pending {
                chan,
                cred: kcred,
                pidfd,
                label,
            },
        );
        Ok(())
    }

    fn drop_pending(&mut self, token: u64) {
        if let Some(p) = self.pending.remove(&token) {
            self.unwatch(p.chan.as_fd(), token);
        }
    }

    /// A connection that has not said `Hello` is readable.
    pub fn pending_readable(&mut self, token: u64) {
        let Some(p) = self.pending.get(&token) else {
            return;
        };
        let got = match p.chan.try_recv(&mut self.buf, 0) {
            Ok(g) => g,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => return self.drop_pending(token),
        };
        if got.full_len == 0 {
            return self.drop_pending(token);
        }
        let refuse = |shim: &mut Shim, reason: String| {
            if let Some(p) = shim.pending.get(&token) {
                if let Ok(b) = wire::encode(&ServerMsg::Refused {
                    reason: reason.clone(),
                }) {
                    let _ = p.chan.try_send(&b, &[]);
                }
            }
            debug!("handshake refused: {reason}");
            shim.drop_pending(token);
        };
        if got.cred.map(|c| c.pid) != Some(p.cred.pid) {
            return refuse(
                self,
                "the first message must come from the process that connected".into(),
            );
        }
        if got.truncated || !got.fds.is_empty() {
            return refuse(self, "the handshake carries no fds and is small".into());
        }
        let hello = match wire::decode::<ClientMsg>(&self.buf[..got.len]) {
            Ok(ClientMsg::Hello(h)) => h,
            Ok(other) => {
                return refuse(
                    self,
                    format!("the first message must be Hello, not {other:?}"),
                )
            }
            Err(e) => return refuse(self, format!("handshake: {e}")),
        };
        if hello.major != PROTOCOL_MAJOR {
            return refuse(
                self,
                format!(
                    "protocol major {} is not supported: this mediator speaks {}.{}; use a runtime built for protocol {}",
                    hello.major, PROTOCOL_MAJOR, capbinder_core::PROTOCOL_MINOR, PROTOCOL_MAJOR
                ),
            );
        }
        let p = self.pending.remove(&token).expect("checked above");
        if let Err(e) = self.welcome_process(token, p) {
            warn!("setting up a process failed: {e}");
        }
    }

    fn welcome_process(&mut self, conn_token: u64, p: Pending) -> io::Result<()> {
        let pid = p.cred.pid;
        let len = usize::try_from(self.config.limits.recv_buffer).map_err(io::Error::other)?;
        let (memfd, recv) = memfd::create_receive_buffer(&format!("capbinder-recv-{pid}"), len)
            .map_err(io::Error::other)?;
        let pidfd = match p.pidfd {
            Some(fd) => Some(fd),
            None => Pid::from_raw(pid).and_then(|pid| cred::pidfd_open(pid).ok()),
        };
        let welcome =
            wire::encode(&ServerMsg::Welcome(self.welcome.clone())).map_err(io::Error::other)?;
        if let Err(e) = p.chan.try_send(&welcome, &[memfd.as_fd()]) {
            self.unwatch(p.chan.as_fd(), conn_token);
            return Err(e);
        }
        drop(memfd);
        let privileged = p.cred.uid == 0 || self.config.privileged_uids.contains(&p.cred.uid);
        let proc = self.core.connect(Cred {
            pid,
            uid: p.cred.uid,
            euid: p.cred.uid,
            gid: p.cred.gid,
            label: p.label,
            privileged,
        });
        self.sources.insert(conn_token, Source::Conn(proc));
        let pidfd = match pidfd {
            Some(fd) => {
                let t = self.watch(fd.as_fd(), Source::Pidfd(proc))?;
                Some((fd, t))
            }
            None => None,
        };
        self.procs.insert(
            proc,
            ProcEntry {
                conn: p.chan,
                conn_token,
                pidfd,
                cred: p.cred,
                recv,
                threads: Vec::new(),
            },
        );
        debug!(pid, uid = p.cred.uid, "process connected");
        Ok(())
    }

    /// A process's connection is readable or hung up.
    pub fn conn_readable(&mut self, proc: ProcId) {
        for _ in 0..8 {
            let Some(p) = self.procs.get(&proc) else {
                return;
            };
            let got = match p.conn.try_recv(&mut self.buf, 0) {
                Ok(g) => g,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return self.kill_process(proc),
            };
            if got.full_len == 0 {
                return self.kill_process(proc);
            }
            if got.cred.map(|c| c.pid) != Some(p.cred.pid) || got.truncated || !got.fds.is_empty() {
                warn!(
                    pid = p.cred.pid,
                    "bad message on a process connection: disconnecting"
                );
                return self.kill_process(proc);
            }
            match wire::decode::<ClientMsg>(&self.buf[..got.len]) {
                Ok(ClientMsg::RegisterThread { tid }) => self.register_thread(proc, tid),
                Ok(ClientMsg::Hello(_)) | Err(_) => {
                    warn!(
                        pid = p.cred.pid,
                        "malformed or repeated handshake: disconnecting"
                    );
                    return self.kill_process(proc);
                }
            }
        }
    }

    fn reply_conn(&mut self, proc: ProcId, msg: &ServerMsg, fds: &[BorrowedFd<'_>]) {
        let Some(p) = self.procs.get(&proc) else {
            return;
        };
        let Ok(bytes) = wire::encode(msg) else { return };
        // The client waits for this answer with nothing else in flight, so
        // the socket has room; a client that floods RegisterThread without
        // reading loses answers and only hurts itself.
        if let Err(e) = p.conn.try_send(&bytes, fds) {
            debug!(pid = p.cred.pid, "answer on the connection failed: {e}");
        }
    }

    fn register_thread(&mut self, proc: ProcId, tid: i32) {
        match self.make_thread(proc, tid) {
            Ok(()) => {}
            Err(reason) => self.reply_conn(proc, &ServerMsg::ThreadRefused { reason }, &[]),
        }
    }

    fn make_thread(&mut self, proc: ProcId, tid: i32) -> Result<(), String> {
        let p = self.procs.get(&proc).ok_or("no such process")?;
        let pid = p.cred.pid;
        let (Some(kpid), Some(ktid)) = (Pid::from_raw(pid), Pid::from_raw(tid)) else {
            return Err(format!("tid {tid} is not a thread id"));
        };
        let pidfd = cred::open_thread_of(kpid, ktid).map_err(|e| e.to_string())?;
        let prio: Priority = read_priority(tid).unwrap_or_default();
        let len = usize::try_from(self.config.limits.send_area).map_err(|e| e.to_string())?;
        let (area_fd, send) = memfd::create_send_area(&format!("capbinder-send-{pid}-{tid}"), len)
            .map_err(|e| e.to_string())?;
        let (mine, theirs) = Channel::pair().map_err(|e| e.to_string())?;
        mine.set_passcred(true).map_err(|e| e.to_string())?;
        mine.set_nonblocking(true).map_err(|e| e.to_string())?;
        let thread = self
            .core
            .add_thread(proc, tid, prio)
            .map_err(|e| e.to_string())?;
        let token = match self.watch(mine.as_fd(), Source::Thread(thread)) {
            Ok(t) => t,
            Err(e) => {
                let mut fx = Vec::new();
                self.core.thread_exited(thread, &mut fx);
                self.apply(&mut fx);
                return Err(format!("epoll: {e}"));
            }
        };
        self.threads.insert(
            thread,
            ThreadEntry {
                proc,
                tid,
                chan: mine,
                token,
                pidfd,
                send,
                outbox: Default::default(),
            },
        );
        if let Some(p) = self.procs.get_mut(&proc) {
            p.threads.push(thread);
        }
        let theirs: OwnedFd = theirs.into();
        self.reply_conn(
            proc,
            &ServerMsg::ThreadReady {
                send_area_len: self.config.limits.send_area,
            },
            &[theirs.as_fd(), area_fd.as_fd()],
        );
        Ok(())
    }

    /// A process's pidfd turned readable: it exited.
    pub fn pidfd_readable(&mut self, proc: ProcId) {
        self.kill_process(proc);
    }
}
