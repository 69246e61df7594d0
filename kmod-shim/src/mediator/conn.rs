//! Connections and identity: accepting a process, the handshake, and
//! thread registration. One connection per process; it *is* the process.
//!
//! Identity comes from the kernel at accept (`SO_PEERCRED`, `SO_PEERPIDFD`,
//! `SO_PEERSEC`), never from what the client writes, and every later message
//! must carry `SCM_CREDENTIALS` naming the same pid. A thread channel is a
//! socket pair the mediator makes for a process whose identity it already
//! knows, so the pair's own (useless) peer credentials never matter.

use std::io;
use std::os::fd::OwnedFd;

use capbinder_core::{Cred, Priority, ProcId, PROTOCOL_MAJOR};
use tracing::{debug, warn};

use super::event_loop::Watched;
use super::shim::{read_sched, to_priority, Pending, ProcEntry, Shim, Source, ThreadEntry};
use crate::sys::channel::{Channel, Received};
use crate::sys::cred;
use crate::sys::memfd;
use crate::sys::Pid;
use crate::wire::{self, ClientMsg, ServerMsg};

impl Shim {
    /// The listener accepted a connection: take the peer's identity from
    /// the kernel and wait for its `Hello`.
    pub fn admit(&mut self, chan: Channel) {
        if let Err(e) = self.try_admit(chan) {
            debug!("refusing a connection: {e}");
        }
    }

    fn try_admit(&mut self, chan: Channel) -> io::Result<()> {
        let kcred = chan.peer_cred()?;
        if kcred.pid == 0 {
            return Err(io::Error::other(
                "peer is outside our pid namespace; its threads cannot be checked",
            ));
        }
        let pid = Pid::from_raw(kcred.pid).ok_or_else(|| io::Error::other("pid 0"))?;
        let pidfd = match cred::socket_peerpidfd(&chan)? {
            Some(fd) => fd,
            // Before Linux 6.5: racy against pid reuse, but only until the
            // connection's first message, which must carry the same pid.
            None => cred::pidfd_open(pid)?,
        };
        // SO_PEERCRED names the effective uid at connect; the real uid comes
        // from /proc, read while the pidfd proves the pid is still the peer.
        let uids = cred::proc_status_uids(pid)?;
        if !cred::pidfd_is_alive(&pidfd)? {
            return Err(io::Error::other("the peer exited while connecting"));
        }
        if uids.effective != kcred.uid {
            return Err(io::Error::other(format!(
                "pid {pid:?} changed its effective uid ({} at connect, {} now) while connecting; it must reconnect",
                kcred.uid, uids.effective
            )));
        }
        let label = cred::socket_peersec(&chan)?.map(|l| String::from_utf8_lossy(&l).into_owned());
        chan.set_passcred(true)?;
        chan.set_nonblocking(true)?;
        let token = self.watch(Watched::Channel(chan), Source::Pending);
        self.pending.insert(
            token,
            Pending {
                cred: kcred,
                real_uid: uids.real,
                pidfd,
                label,
            },
        );
        Ok(())
    }

    pub(crate) fn drop_pending(&mut self, token: u64) {
        if self.pending.remove(&token).is_some() {
            self.unwatch(token, false);
        }
    }

    /// A connection that has not said `Hello` sent a message.
    pub fn pending_msg(&mut self, token: u64, got: Received, data: &[u8]) {
        let Some(p) = self.pending.get(&token) else {
            return;
        };
        let refuse = |shim: &mut Shim, reason: String| {
            if let Ok(b) = wire::encode(&ServerMsg::Refused {
                reason: reason.clone(),
            }) {
                shim.send(token, b, Vec::new());
            }
            debug!("handshake refused: {reason}");
            if shim.pending.remove(&token).is_some() {
                shim.unwatch(token, true);
            }
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
        let hello = match wire::decode::<ClientMsg>(data) {
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
            self.unwatch(token, false);
        }
    }

    fn welcome_process(&mut self, conn_token: u64, p: Pending) -> io::Result<()> {
        let pid = p.cred.pid;
        let len = usize::try_from(self.config.limits.recv_buffer).map_err(io::Error::other)?;
        let (memfd, recv) = memfd::create_receive_buffer(&format!("capbinder-recv-{pid}"), len)
            .map_err(io::Error::other)?;
        let welcome =
            wire::encode(&ServerMsg::Welcome(self.welcome.clone())).map_err(io::Error::other)?;
        // The memfd closes here once sent.
        self.send(conn_token, welcome, vec![memfd]);
        let privileged = p.cred.uid == 0 || self.config.privileged_uids.contains(&p.cred.uid);
        let proc = self.core.connect(Cred {
            pid,
            uid: p.real_uid,
            euid: p.cred.uid,
            gid: p.cred.gid,
            label: p.label,
            privileged,
        });
        self.sources.insert(conn_token, Source::Conn(proc));
        let pidfd_token = Some(self.watch(Watched::Fd(p.pidfd), Source::Pidfd(proc)));
        self.procs.insert(
            proc,
            ProcEntry {
                conn_token,
                pidfd_token,
                cred: p.cred,
                recv,
                threads: Vec::new(),
            },
        );
        debug!(
            pid,
            uid = p.real_uid,
            euid = p.cred.uid,
            "process connected"
        );
        Ok(())
    }

    /// A message arrived on a process's connection.
    pub fn conn_msg(&mut self, proc: ProcId, got: Received, data: &[u8]) {
        let Some(p) = self.procs.get(&proc) else {
            return;
        };
        if got.cred.map(|c| c.pid) != Some(p.cred.pid) || got.truncated || !got.fds.is_empty() {
            warn!(
                pid = p.cred.pid,
                "bad message on a process connection: disconnecting"
            );
            return self.kill_process(proc);
        }
        match wire::decode::<ClientMsg>(data) {
            Ok(ClientMsg::RegisterThread { tid }) => self.register_thread(proc, tid),
            Ok(ClientMsg::Hello(_)) | Err(_) => {
                warn!(
                    pid = p.cred.pid,
                    "malformed or repeated handshake: disconnecting"
                );
                self.kill_process(proc)
            }
        }
    }

    fn reply_conn(&mut self, proc: ProcId, msg: &ServerMsg, fds: Vec<OwnedFd>) {
        let Some(p) = self.procs.get(&proc) else {
            return;
        };
        let token = p.conn_token;
        let Ok(bytes) = wire::encode(msg) else { return };
        // The client waits for this answer with nothing else in flight; a
        // client that floods RegisterThread without reading is disconnected
        // when its queue overflows, and only hurts itself.
        self.send(token, bytes, fds);
    }

    fn register_thread(&mut self, proc: ProcId, tid: i32) {
        match self.make_thread(proc, tid) {
            Ok(()) => {}
            Err(reason) => self.reply_conn(proc, &ServerMsg::ThreadRefused { reason }, Vec::new()),
        }
    }

    fn make_thread(&mut self, proc: ProcId, tid: i32) -> Result<(), String> {
        let p = self.procs.get(&proc).ok_or("no such process")?;
        let pid = p.cred.pid;
        let (Some(kpid), Some(ktid)) = (Pid::from_raw(pid), Pid::from_raw(tid)) else {
            return Err(format!("tid {tid} is not a thread id"));
        };
        let pidfd = cred::open_thread_of(kpid, ktid).map_err(|e| e.to_string())?;
        let base = read_sched(tid);
        let prio: Priority = base.as_ref().map(to_priority).unwrap_or_default();
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
        let token = self.watch(Watched::Channel(mine), Source::Thread(thread));
        self.threads.insert(
            thread,
            ThreadEntry {
                proc,
                tid,
                token,
                pidfd,
                base,
                saved: Vec::new(),
                send,
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
            vec![theirs, area_fd],
        );
        Ok(())
    }
}
