//! Connections and identity: accepting a process, the handshake, thread
//! registration, and app connections prepared by a launcher. One connection
//! per process; it *is* the process.
//!
//! Identity comes from the kernel at accept (`SO_PEERCRED`, `SO_PEERPIDFD`,
//! `SO_PEERSEC`), never from what the client writes, and every later message
//! must carry `SCM_CREDENTIALS` naming the same pid. A thread channel is a
//! socket pair the mediator makes for a process whose identity it already
//! knows, so the pair's own (useless) peer credentials never matter.
//!
//! An app connection is the other socket pair the mediator makes: a
//! privileged launcher asks for one (`PrepareApp`: the app's name, uid and
//! gid) and gets the app's end; the mediator's end waits, unwatched and
//! unread, as a *pending identity* in the launcher's [`ProcEntry`]. The
//! launcher starts the app with that end on its fd 3 and sends the app's
//! pidfd (`BindApp`); the mediator checks the process behind the pidfd runs
//! as the prepared uid and gid, and only then watches the channel, as a
//! connection whose `Hello` is still to come, with the app's name as its
//! label. Whatever the app wrote before waits in the socket until then. A
//! launcher that dies drops its pending identities with its entry.

use std::io;
use std::os::fd::OwnedFd;

use capbinder_core::{Cred, Priority, ProcId, PROTOCOL_MAJOR};
use tracing::{debug, warn};

use super::event_loop::Watched;
use super::shim::{read_sched, to_priority, Pending, ProcEntry, Shim, Source, ThreadEntry};
use crate::sys::channel::{Channel, Received};
use crate::sys::cred::{self, Cred as KernelCred};
use crate::sys::fds;
use crate::sys::memfd;
use crate::sys::Pid;
use crate::wire::{self, ClientMsg, ServerMsg};

/// How many prepared, unbound app connections one launcher may hold.
pub(crate) const MAX_PREPARED_APPS: usize = 64;

/// An app connection made by `PrepareApp` and not yet bound: the mediator's
/// end (not watched, so nothing on it is read) and who it is for.
#[derive(Debug)]
pub(crate) struct PreparedApp {
    chan: Channel,
    name: String,
    uid: u32,
    gid: u32,
}

/// Whether `name` may be an app's label: the manifest's rule,
/// `[a-z0-9._-]`, 1 to 64 bytes.
fn valid_app_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_".contains(&b))
}

/// Whether the other end of an unwatched channel was closed.
fn peer_closed(chan: &Channel) -> bool {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut fds = [PollFd::new(chan, PollFlags::IN)];
    let now = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(poll(&mut fds, Some(&now)), Ok(1)) && fds[0].revents().contains(PollFlags::HUP)
}

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
                apps: rustc_hash::FxHashMap::default(),
                answers: (0, 0),
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
        let pid = p.cred.pid;
        let msg = wire::decode::<ClientMsg>(data);
        // Only BindApp carries an fd, exactly one (the app's pidfd).
        let fds_wanted = usize::from(matches!(msg, Ok(ClientMsg::BindApp { .. })));
        if got.cred.map(|c| c.pid) != Some(pid)
            || got.truncated
            || got.ctrunc
            || got.fds.len() != fds_wanted
        {
            warn!(pid, "bad message on a process connection: disconnecting");
            return self.kill_process(proc);
        }
        match msg {
            Ok(ClientMsg::RegisterThread { tid }) => self.register_thread(proc, tid),
            Ok(ClientMsg::PrepareApp { name, uid, gid }) => {
                let answer = match self.prepare_app(proc, name, uid, gid) {
                    Ok((token, theirs)) => (ServerMsg::AppPrepared { token }, vec![theirs]),
                    Err(reason) => (ServerMsg::AppRefused { reason }, Vec::new()),
                };
                self.reply_conn(proc, &answer.0, answer.1);
            }
            Ok(ClientMsg::BindApp { token }) => {
                let answer = match got.fds.into_iter().next() {
                    Some(pidfd) => match self.bind_app(proc, token, pidfd) {
                        Ok(pid) => ServerMsg::AppBound { pid },
                        Err(reason) => ServerMsg::AppRefused { reason },
                    },
                    None => ServerMsg::AppRefused {
                        reason: "BindApp comes with the app's pidfd".into(),
                    },
                };
                self.reply_conn(proc, &answer, Vec::new());
            }
            Ok(ClientMsg::Hello(_)) | Err(_) => {
                warn!(pid, "malformed or repeated handshake: disconnecting");
                self.kill_process(proc)
            }
        }
    }

    /// `PrepareApp`: a socket pair whose mediator end waits, unread, for
    /// `BindApp`; the app's end is returned.
    fn prepare_app(
        &mut self,
        proc: ProcId,
        name: String,
        uid: u32,
        gid: u32,
    ) -> Result<(u64, OwnedFd), String> {
        let p = self.procs.get(&proc).ok_or("no such process")?;
        let euid = p.cred.uid;
        let may = euid == 0
            || self.config.context_manager_uid == Some(euid)
            || self.config.privileged_uids.contains(&euid);
        if !may {
            return Err(format!(
                "PrepareApp is for a sandbox launcher: pid {} has effective uid {euid}, and only uid 0, the context manager's uid or a privileged_uids entry of the mediator's configuration may prepare an app's identity",
                p.cred.pid
            ));
        }
        if !valid_app_name(&name) {
            return Err(format!(
                "app name {name:?} is not 1 to 64 bytes of [a-z0-9._-]"
            ));
        }
        let (mine, theirs) = Channel::pair().map_err(|e| format!("socketpair: {e}"))?;
        mine.set_passcred(true).map_err(|e| e.to_string())?;
        mine.set_nonblocking(true).map_err(|e| e.to_string())?;
        let token = self.token();
        let p = self.procs.get_mut(&proc).ok_or("no such process")?;
        // Those whose app end is gone (a launch that failed) go first.
        p.apps.retain(|_, a| !peer_closed(&a.chan));
        if p.apps.len() >= MAX_PREPARED_APPS {
            return Err(format!(
                "this process already holds {MAX_PREPARED_APPS} prepared app connections that are not bound; bind them or close their ends"
            ));
        }
        debug!(
            pid = p.cred.pid,
            name, uid, gid, token, "app connection prepared"
        );
        p.apps.insert(
            token,
            PreparedApp {
                chan: mine,
                name,
                uid,
                gid,
            },
        );
        Ok((token, theirs.into()))
    }

    /// `BindApp`: checks the process behind `pidfd`, then starts reading the
    /// prepared connection as that process's (its `Hello` is next). A
    /// refusal drops the prepared connection.
    fn bind_app(&mut self, proc: ProcId, token: u64, pidfd: OwnedFd) -> Result<i32, String> {
        let p = self.procs.get_mut(&proc).ok_or("no such process")?;
        let app = p.apps.remove(&token).ok_or_else(|| {
            format!("no prepared app connection {token} of this process (never prepared, already bound, or refused)")
        })?;
        let who = format!("app {:?} (uid {}, gid {})", app.name, app.uid, app.gid);
        let pid = fds::pidfd_pid(&pidfd)
            .map_err(|e| format!("binding {who}: the fd sent is not a pidfd ({e})"))?
            .ok_or_else(|| format!("binding {who}: the process has exited"))?;
        let raw = pid.as_raw_nonzero().get();
        let uids = cred::proc_status_uids(pid).map_err(|e| format!("binding {who}: {e}"))?;
        let gids = cred::proc_status_gids(pid).map_err(|e| format!("binding {who}: {e}"))?;
        // The pidfd proves the pid still names that process after /proc
        // was read.
        if !cred::pidfd_is_alive(&pidfd).map_err(|e| e.to_string())? {
            return Err(format!("binding {who}: pid {raw} exited"));
        }
        if (uids.real, uids.effective) != (app.uid, app.uid) {
            return Err(format!(
                "binding {who}: pid {raw} runs as uid {} (effective {}), not {}; refused",
                uids.real, uids.effective, app.uid
            ));
        }
        if (gids.real, gids.effective) != (app.gid, app.gid) {
            return Err(format!(
                "binding {who}: pid {raw} runs as gid {} (effective {}), not {}; refused",
                gids.real, gids.effective, app.gid
            ));
        }
        debug!(pid = raw, name = app.name, "app connection bound");
        let token = self.watch(Watched::Channel(app.chan), Source::Pending);
        self.pending.insert(
            token,
            Pending {
                cred: KernelCred {
                    pid: raw,
                    uid: app.uid,
                    gid: app.gid,
                },
                real_uid: app.uid,
                pidfd,
                label: Some(app.name),
            },
        );
        Ok(raw)
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
        let pin = cred::open_thread_of(kpid, ktid).map_err(|e| e.to_string())?;
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
                pin,
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
