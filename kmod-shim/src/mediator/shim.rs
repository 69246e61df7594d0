//! The shim: the mediator's tables of real resources and the code that
//! carries out the core's [`Effect`]s with them. One `Shim` per mediator.
//!
//! It owns, per connected process, the connection, the pidfd and the
//! mediator's read-write mapping of the receive buffer ([`ProcEntry`]); per
//! thread, the thread channel, the thread pin (a pidfd) and the mapping of its send
//! area ([`ThreadEntry`]); and every fd in flight, in a `Slab` whose key is
//! the core's [`FdSlot`]. Whatever path drops an entry closes what it owns.
//!
//! The shim does no socket I/O itself: the event loop (io_uring or epoll)
//! owns every watched fd and hands the shim what arrived as
//! [`Event`]s ([`Shim::on_event`]); the shim asks for sends, watches and
//! closes by pushing [`Req`]s, which the loop carries out in order.
//!
//! Thread-channel messages are handled here ([`Shim::thread_msg`]): the
//! sender's credentials are checked against the bound process, the postcard
//! is decoded (a bad message gets `Return::Error(Failure::Transport)`), the
//! attached fds are split per command and blob seals checked, then each
//! command goes to the core with the sending thread's scheduling attributes.

use std::os::fd::OwnedFd;

use capbinder_core::{
    Command, Core, Effect, Failure, FdSlot, Object, Priority, ProcId, Return, SchedPolicy,
    ThreadId, Welcome,
};
use rustc_hash::FxHashMap;
use slab::Slab;
use tracing::{debug, warn};

use super::config::Config;
use super::event_loop::{Event, Message, Req, Spent, Watched};
use crate::sys::channel::{Channel, Received, SCM_MAX_FD};
use crate::sys::cred::Cred as KernelCred;
use crate::sys::memfd::{self, Mapping, SealFlags};
use crate::sys::sched::{self, ThreadSched};
use crate::sys::Pid;
use crate::wire::{self, MAX_MSG};

/// What a loop token stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The listening socket.
    Listener,
    /// A shutdown fd (eventfd or signalfd).
    Shutdown,
    /// A connection that has not said `Hello` yet.
    Pending,
    /// A process's connection.
    Conn(ProcId),
    /// A process's pidfd.
    Pidfd(ProcId),
    /// A thread channel.
    Thread(ThreadId),
}

/// A connection before its `Hello` (the loop holds the socket).
pub(crate) struct Pending {
    /// What the kernel said at accept (`uid` is the effective uid).
    pub cred: KernelCred,
    /// The real uid, from `/proc/<pid>/status` at accept.
    pub real_uid: u32,
    /// `SO_PEERPIDFD` (or `pidfd_open` before Linux 6.5).
    pub pidfd: OwnedFd,
    /// `SO_PEERSEC`, when an LSM labels sockets.
    pub label: Option<String>,
}

/// A connected process: what the mediator holds for it.
pub(crate) struct ProcEntry {
    /// The token of its connection (held by the loop); its close is the
    /// process's death.
    pub conn_token: u64,
    /// The token of its pidfd (held by the loop; readable at exit).
    pub pidfd_token: Option<u64>,
    /// The kernel's word on who it is (`uid` is the effective uid).
    pub cred: KernelCred,
    /// The mediator's read-write mapping of its receive buffer.
    pub recv: Mapping,
    /// Its thread channels.
    pub threads: Vec<ThreadId>,
    /// App connections it prepared and has not bound yet, by token; they
    /// close with the entry.
    pub apps: FxHashMap<u64, super::conn::PreparedApp>,
    /// (pass, bytes): what its writes of that pass of the loop had the
    /// mediator queue (see [`MAX_ANSWER_BYTES`]).
    pub answers: (u64, usize),
}

/// The most bytes of messages one process's writes may have the mediator
/// queue in one pass of its loop (answers to it, calls to others). Sends
/// are queued during a pass and the per-channel outbox bound applies only
/// after it, so without this a client's writes of cheap commands that
/// each ask for a large answer (a state dump, up to 256 KiB, for two
/// bytes) made the mediator hold gigabytes before anything stopped it.
/// Past it the process is disconnected, as one that stops reading is.
pub(crate) const MAX_ANSWER_BYTES: usize = 16 << 20;

/// A registered thread: its channel and send area.
pub(crate) struct ThreadEntry {
    /// The process it belongs to.
    pub proc: ProcId,
    /// Kernel tid.
    pub tid: i32,
    /// The token of the mediator's end of the thread channel (held by the
    /// loop).
    pub token: u64,
    /// What pins the thread (checked live before priority changes).
    pub pin: crate::sys::cred::ThreadPin,
    /// Its scheduling when it registered: what a restore puts back when
    /// nothing was saved (reset-on-fork flag included).
    pub base: Option<ThreadSched>,
    /// What each migrated call in progress found on the thread when it
    /// started, innermost last: restores put back exactly that, so a
    /// thread that changed its own priority keeps its change. `None` where
    /// it could not be read: an entry per change all the same, so that
    /// each restore pops its own change's.
    pub saved: Vec<Option<ThreadSched>>,
    /// The mediator's mapping of the send area.
    pub send: Mapping,
}

/// The mediator's state: the core and every real resource.
///
/// Its maps hash with Fx, not SipHash: every key is one the mediator
/// assigned (loop tokens from a counter, the core's arena ids, slab keys),
/// so no client can choose keys that collide.
pub(crate) struct Shim {
    pub core: Core,
    pub config: Config,
    pub migrate: bool,
    pub welcome: Welcome,
    /// What each loop token stands for; a token not here is ignored.
    pub sources: FxHashMap<u64, Source>,
    next_token: u64,
    pub pending: FxHashMap<u64, Pending>,
    pub procs: FxHashMap<ProcId, ProcEntry>,
    pub threads: FxHashMap<ThreadId, ThreadEntry>,
    /// Fds in flight, named by the core's `FdSlot` (the slab key).
    pub fds: Slab<OwnedFd>,
    /// Slots with more than one holder left (a topic's blob), by slab key:
    /// taking one of these hands out a duplicate until the last holder.
    pub shares: FxHashMap<usize, u32>,
    /// Processes that stopped reading (an outbox overflowed): disconnected
    /// at the end of the pass, outside any effect application.
    pub doomed: Vec<ProcId>,
    /// Processes that died and whose channels are being drained before
    /// they are killed ([`Shim::process_died`]).
    dying: rustc_hash::FxHashSet<ProcId>,
    /// I/O asked of the loop, in order; the loop drains it.
    pub reqs: Vec<Req>,
    /// The effects of a write, kept (empty) between writes likewise.
    fx: Vec<Effect>,
    /// The commands of a write, kept (empty) between writes likewise.
    cmds: Vec<Command>,
    /// Buffers of messages the loop sent, to encode returns into.
    pub bufs: Spent,
    /// A shutdown fd turned readable: the loop stops after this pass.
    pub stopping: bool,
    /// Passes of the loop so far (the loop counts them).
    pub pass: u64,
    /// The process whose write is being handled, and the bytes of
    /// messages queued for it this pass so far.
    writing: Option<(ProcId, usize)>,
}

/// The most entries a buffer kept for reuse keeps room for.
const KEEP_CAPACITY: usize = 64;

/// `v` (empty) to keep for the next use, or a fresh `Vec` in its place if
/// it grew past [`KEEP_CAPACITY`]: a rare write of thousands of commands
/// (or pass of thousands of sends) must not pin its peak for the life of
/// the mediator.
pub(crate) fn kept<T>(v: Vec<T>) -> Vec<T> {
    debug_assert!(v.is_empty());
    if v.capacity() <= KEEP_CAPACITY {
        v
    } else {
        Vec::new()
    }
}

/// A copy's offsets and length as `usize`.
fn offsets(src: u64, dst: u64, len: u64) -> Result<(usize, usize, usize), String> {
    let conv = |v: u64| usize::try_from(v).map_err(|e| e.to_string());
    Ok((conv(src)?, conv(dst)?, conv(len)?))
}

/// Core priority from what the kernel reports.
pub(crate) fn to_priority(s: &ThreadSched) -> Priority {
    Priority {
        policy: match s.policy {
            sched::SchedPolicy::Normal => SchedPolicy::Normal,
            sched::SchedPolicy::Batch => SchedPolicy::Batch,
            sched::SchedPolicy::Idle => SchedPolicy::Idle,
            sched::SchedPolicy::Fifo => SchedPolicy::Fifo,
            sched::SchedPolicy::RoundRobin => SchedPolicy::RoundRobin,
        },
        nice: s.nice,
        rt: s.rt_priority,
    }
}

fn to_thread_sched(p: &Priority) -> ThreadSched {
    ThreadSched {
        policy: match p.policy {
            SchedPolicy::Normal => sched::SchedPolicy::Normal,
            SchedPolicy::Batch => sched::SchedPolicy::Batch,
            SchedPolicy::Idle => sched::SchedPolicy::Idle,
            SchedPolicy::Fifo => sched::SchedPolicy::Fifo,
            SchedPolicy::RoundRobin => sched::SchedPolicy::RoundRobin,
        },
        nice: p.nice,
        rt_priority: p.rt,
        reset_on_fork: true,
    }
}

/// A thread's scheduling attributes, `None` if unreadable or unsupported.
pub(crate) fn read_priority(tid: i32) -> Option<Priority> {
    read_sched(tid).map(|s| to_priority(&s))
}

/// A thread's scheduling as the kernel reports it.
pub(crate) fn read_sched(tid: i32) -> Option<ThreadSched> {
    sched::thread_sched(Pid::from_raw(tid)?).ok()
}

impl Shim {
    pub fn new(config: Config, migrate: bool, welcome: Welcome) -> Shim {
        let core = Core::new(capbinder_core::Config {
            limits: config.limits.clone(),
            migrate_priority: migrate,
            context_manager_uid: config.context_manager_uid,
        });
        Shim {
            core,
            config,
            migrate,
            welcome,
            sources: FxHashMap::default(),
            next_token: 1,
            pending: FxHashMap::default(),
            procs: FxHashMap::default(),
            threads: FxHashMap::default(),
            fds: Slab::new(),
            shares: FxHashMap::default(),
            doomed: Vec::new(),
            dying: Default::default(),
            reqs: Vec::new(),
            fx: Vec::new(),
            cmds: Vec::new(),
            bufs: Spent::default(),
            stopping: false,
            pass: 0,
            writing: None,
        }
    }

    /// A fresh token, never used before.
    pub fn token(&mut self) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        token
    }

    /// Has the loop watch `what` under a fresh token standing for `source`.
    pub fn watch(&mut self, what: Watched, source: Source) -> u64 {
        let token = self.token();
        self.sources.insert(token, source);
        self.reqs.push(Req::Watch { token, what });
        token
    }

    /// Forgets `token` and has the loop close its fd (after sending what is
    /// queued on it, with `flush`).
    pub fn unwatch(&mut self, token: u64, flush: bool) {
        self.sources.remove(&token);
        self.reqs.push(Req::Close { token, flush });
    }

    /// Queues a message on a watched channel.
    pub fn send(&mut self, token: u64, bytes: Vec<u8>, fds: Vec<OwnedFd>) {
        if let Some((_, queued)) = &mut self.writing {
            *queued += bytes.len();
        }
        self.reqs.push(Req::Send {
            token,
            msg: Message { bytes, fds },
        });
    }

    // ---- events ----------------------------------------------------------

    /// Handles one event the loop reports.
    pub fn on_event(&mut self, ev: Event<'_>) {
        match ev {
            Event::Accepted(chan) => self.admit(chan),
            Event::Ready { token } => match self.sources.get(&token).copied() {
                Some(Source::Shutdown) => self.stopping = true,
                Some(Source::Pidfd(p)) => self.process_died(p),
                _ => {}
            },
            Event::Drained { token } => {
                if let Some(Source::Conn(p)) = self.sources.get(&token).copied() {
                    self.kill_process(p);
                }
            }
            Event::Message { token, got, data } => match self.sources.get(&token).copied() {
                Some(Source::Pending) => self.pending_msg(token, got, data),
                Some(Source::Conn(p)) => self.conn_msg(p, got, data),
                Some(Source::Thread(t)) => self.thread_msg(t, got, data),
                _ => {}
            },
            Event::Closed { token } => match self.sources.get(&token).copied() {
                Some(Source::Pending) => self.drop_pending(token),
                Some(Source::Conn(p)) => self.process_died(p),
                Some(Source::Thread(t)) => self.close_thread(t),
                Some(Source::Pidfd(p)) => {
                    // Its exit is still seen when the connection closes.
                    debug!(?p, "a process pidfd cannot be watched");
                    self.unwatch(token, false);
                }
                Some(Source::Listener | Source::Shutdown) => {
                    warn!("the listening socket or a shutdown fd failed: stopping");
                    self.stopping = true;
                }
                None => {}
            },
            Event::Undeliverable { token, why } => match self.sources.get(&token).copied() {
                Some(Source::Thread(t)) => {
                    // Once per process: every message after the first
                    // that could not go is dropped the same way.
                    if let Some(te) = self
                        .threads
                        .get(&t)
                        .filter(|te| !self.doomed.contains(&te.proc))
                    {
                        warn!(
                            tid = te.tid,
                            "a message to a thread could not be delivered ({why}): disconnecting its process"
                        );
                        self.doomed.push(te.proc);
                    }
                }
                Some(Source::Conn(p)) => self.doomed.push(p),
                Some(Source::Pending) => self.drop_pending(token),
                _ => {}
            },
        }
    }

    // ---- thread channels -------------------------------------------------

    /// A message arrived on a thread channel.
    pub fn thread_msg(&mut self, thread: ThreadId, got: Received, data: &[u8]) {
        let Some(t) = self.threads.get(&thread) else {
            return;
        };
        let proc = t.proc;
        let pass = self.pass;
        let (bound, queued) = self.procs.get(&proc).map_or((None, 0), |p| {
            let queued = if p.answers.0 == pass { p.answers.1 } else { 0 };
            (Some(p.cred.pid), queued)
        });
        if got.cred.map(|c| c.pid) != bound || bound.is_none() {
            warn!(
                ?thread,
                "message on a thread channel of pid {:?} came from pid {:?}: disconnecting the process",
                bound,
                got.cred.map(|c| c.pid)
            );
            self.kill_process(proc);
            return;
        }
        if self.doomed.contains(&proc) {
            return; // disconnected at the end of the pass
        }
        self.writing = Some((proc, queued));
        self.handle_write(thread, got, data);
        if let Some((proc, queued)) = self.writing.take() {
            if let Some(p) = self.procs.get_mut(&proc) {
                p.answers = (pass, queued);
            }
        }
    }

    /// [`thread_msg`](Self::thread_msg) once the sender is known to be the
    /// thread's process.
    fn handle_write(&mut self, thread: ThreadId, got: Received, data: &[u8]) {
        if got.truncated {
            self.transport_error(
                thread,
                format!(
                    "a {}-byte message exceeds the {MAX_MSG}-byte limit of a thread channel",
                    got.full_len
                ),
            );
            return;
        }
        let mut cmds = std::mem::take(&mut self.cmds);
        if let Err(e) = wire::decode_write(data, &mut cmds) {
            self.cmds = cmds;
            return self.transport_error(thread, e.to_string());
        }
        if got.ctrunc {
            // The bytes are whole; some fds were not received (more than
            // SCM_MAX_FD, or none left for the mediator to install).
            self.refuse_write(
                thread,
                &mut cmds,
                format!(
                    "not every fd that came with the write could be received (at most {SCM_MAX_FD} per message; or the mediator ran out of fds)"
                ),
            );
        } else {
            self.write_commands(thread, &mut cmds, got.fds);
        }
        cmds.clear();
        self.cmds = kept(cmds);
    }

    /// A write whose fds came wrong: no fd can be matched to its object,
    /// so every call and reply in it is refused through the core (whoever
    /// waits on one hears why, as for any failed call) and its other
    /// commands are applied (a looper's `WaitForWork` after its reply);
    /// a write with no call or reply is refused whole, with `Error`. The
    /// fds are closed.
    fn refuse_write(&mut self, thread: ThreadId, cmds: &mut Vec<Command>, what: String) {
        let carries_txn =
            |c: &Command| matches!(c, Command::Transaction { .. } | Command::Reply(_));
        if !cmds.iter().any(carries_txn) {
            return self.transport_error(thread, what);
        }
        let mut fx = std::mem::take(&mut self.fx);
        for cmd in cmds.drain(..) {
            if self.over_answer_budget() {
                break;
            }
            if carries_txn(&cmd) {
                let failure = Failure::Transport(what.clone());
                self.core.refuse(thread, cmd, failure, Vec::new(), &mut fx);
            } else {
                self.core.command(thread, cmd, Vec::new(), None, &mut fx);
            }
            self.apply(&mut fx);
        }
        self.fx = kept(fx);
    }

    /// Whether the process whose write is handled had the mediator queue
    /// more than [`MAX_ANSWER_BYTES`] this pass: then it is disconnected
    /// at the end of the pass and the rest of its write is not handled.
    fn over_answer_budget(&mut self) -> bool {
        match self.writing {
            Some((proc, queued)) if queued > MAX_ANSWER_BYTES => {
                if !self.doomed.contains(&proc) {
                    warn!(
                        ?proc,
                        "a process's writes asked for more than {MAX_ANSWER_BYTES} bytes of messages in one pass: disconnecting it"
                    );
                    self.doomed.push(proc);
                }
                true
            }
            _ => false,
        }
    }

    fn transport_error(&mut self, thread: ThreadId, what: String) {
        self.deliver(thread, &Return::Error(Failure::Transport(what)), Vec::new());
    }

    /// Applies one `Write`: splits the fds, checks blobs, feeds the core.
    fn write_commands(&mut self, thread: ThreadId, cmds: &mut Vec<Command>, fds: Vec<OwnedFd>) {
        let wanted: usize = cmds.iter().map(wire::fd_count).sum();
        if wanted != fds.len() {
            return self.refuse_write(
                thread,
                cmds,
                format!(
                    "{} fds came with the write but its objects name {wanted}: attach exactly one fd per Fd, Blob or SharedMem object, in order",
                    fds.len()
                ),
            );
        }
        // Most writes carry no fd: then no command has one to split off
        // or check.
        let any_fds = !fds.is_empty();
        let mut fds = fds.into_iter();
        let mut fx = std::mem::take(&mut self.fx);
        for cmd in cmds.drain(..) {
            if self.over_answer_budget() {
                break;
            }
            let mine: Vec<OwnedFd> = if any_fds {
                fds.by_ref().take(wire::fd_count(&cmd)).collect()
            } else {
                Vec::new()
            };
            if let Err(failure) = check_fd_objects(&cmd, &mine) {
                // Through the core, so a refused call or reply fails
                // whoever waits on it instead of leaving them waiting;
                // its fds close here.
                self.core.refuse(thread, cmd, failure, Vec::new(), &mut fx);
                self.apply(&mut fx);
                continue;
            }
            let prio = match &cmd {
                Command::Transaction { .. } | Command::AdoptDirect { .. } => {
                    self.threads.get(&thread).and_then(|t| read_priority(t.tid))
                }
                _ => None,
            };
            let slots: Vec<FdSlot> = if let Command::RequestDirect { .. } = cmd {
                // The channel's fds are the mediator's own making: the
                // core grants it or closes them.
                self.direct_pair()
            } else if mine.is_empty() {
                Vec::new()
            } else {
                mine.into_iter()
                    .map(|fd| FdSlot(self.fds.insert(fd) as u64))
                    .collect()
            };
            self.core.command(thread, cmd, slots, prio, &mut fx);
            self.apply(&mut fx);
        }
        self.fx = kept(fx);
    }

    // ---- effects ---------------------------------------------------------

    /// Carries out effects in order, then clears `fx`. They are read in
    /// place, not moved out: an `Effect` is 200 bytes, and moving each out
    /// (and its `Return` on) showed in the mediator's profile.
    pub fn apply(&mut self, fx: &mut Vec<Effect>) {
        for e in fx.iter_mut() {
            match *e {
                Effect::Deliver {
                    thread,
                    ref mut ret,
                    ref mut fds,
                } => {
                    let owned = self.take_slots(std::mem::take(fds));
                    self.deliver(thread, ret, owned);
                    // Encoded: its box goes back for the next delivery.
                    let sent = std::mem::replace(ret, Return::TransactionComplete);
                    self.core.recycle(sent);
                }
                Effect::Copy {
                    from,
                    src,
                    to,
                    dst,
                    len,
                } => {
                    if let Err(e) = self.copy(from, src, to, dst, len) {
                        warn!(?from, ?to, "payload copy failed: {e}");
                    }
                }
                Effect::Zero { to, offset, len } => {
                    if let Err(e) = self.zero(to, offset, len) {
                        warn!(?to, "zeroing a freed sensitive range failed: {e}");
                    }
                }
                Effect::ZeroSendArea {
                    thread,
                    offset,
                    len,
                } => {
                    if let Err(e) = self.zero_send_area(thread, offset, len) {
                        warn!(?thread, "zeroing a sent sensitive payload failed: {e}");
                    }
                }
                Effect::CopyReceived {
                    from,
                    src,
                    to,
                    dst,
                    len,
                } => {
                    if let Err(e) = self.copy_received(from, src, to, dst, len) {
                        warn!(?from, ?to, "spliced payload copy failed: {e}");
                    }
                }
                Effect::CloseFds(ref mut slots) => drop(self.take_slots(std::mem::take(slots))),
                Effect::ShareFd { slot, holders } => {
                    if let Ok(k) = usize::try_from(slot.0) {
                        if self.fds.contains(k) && holders > 1 {
                            self.shares.insert(k, holders);
                        }
                    }
                }
                Effect::SetPriority { thread, tid, prio } => self.set_priority(thread, tid, prio),
                Effect::RestorePriority { thread, tid, prio } => {
                    self.restore_priority(thread, tid, prio)
                }
                Effect::RevokeDirect { slot, hard, drain } => {
                    if let Some(fd) = self.take_slot(slot) {
                        if drain {
                            drain_queued(&fd);
                        }
                        let how = if hard {
                            rustix::net::Shutdown::Both
                        } else {
                            rustix::net::Shutdown::Read
                        };
                        if let Err(e) = rustix::net::shutdown(&fd, how) {
                            warn!("revoking a direct channel: shutdown failed: {e}");
                        }
                    }
                }
            }
        }
        fx.clear();
    }

    /// A direct channel for `RequestDirect`, in the slots the core
    /// expects: the caller's end, the server's end, and the mediator's
    /// duplicate of the server's end, by which it revokes the channel.
    /// None when the kernel refuses one (the core then refuses the grant).
    fn direct_pair(&mut self) -> Vec<FdSlot> {
        let made = Channel::pair().and_then(|(a, b)| {
            let b = b.into_owned_fd();
            let dup = rustix::io::fcntl_dupfd_cloexec(&b, 0)?;
            Ok([a.into_owned_fd(), b, dup])
        });
        match made {
            Ok(fds) => fds
                .into_iter()
                .map(|fd| FdSlot(self.fds.insert(fd) as u64))
                .collect(),
            Err(e) => {
                warn!("making a direct channel failed: {e}");
                Vec::new()
            }
        }
    }

    /// The fds in `slots`, out of the table (see [`Shim::take_slot`]).
    fn take_slots(&mut self, slots: Vec<FdSlot>) -> Vec<OwnedFd> {
        if slots.is_empty() {
            // Most effects carry none; `collect` over an empty iterator
            // still ran its general path.
            return Vec::new();
        }
        slots
            .into_iter()
            .filter_map(|s| self.take_slot(s))
            .collect()
    }

    fn take_slot(&mut self, s: FdSlot) -> Option<OwnedFd> {
        let Some(key) = usize::try_from(s.0).ok().filter(|&k| self.fds.contains(k)) else {
            warn!("the core named fd slot {} which is not held", s.0);
            return None;
        };
        let Some(left) = self.shares.get_mut(&key) else {
            return self.fds.try_remove(key);
        };
        *left -= 1;
        if *left <= 1 {
            self.shares.remove(&key);
        }
        // Not the last holder: a duplicate of the same open file (a sealed
        // memfd, so every holder maps the same pages).
        match rustix::io::fcntl_dupfd_cloexec(&self.fds[key], 0) {
            Ok(d) => Some(d),
            Err(e) => {
                warn!("duplicating a shared fd failed: {e}");
                None
            }
        }
    }

    fn copy(
        &mut self,
        from: ThreadId,
        src: u64,
        to: ProcId,
        dst: u64,
        len: u64,
    ) -> Result<(), String> {
        let (src, dst, len) = offsets(src, dst, len)?;
        let t = self.threads.get(&from).ok_or("sending thread is gone")?;
        let p = self.procs.get_mut(&to).ok_or("receiving process is gone")?;
        // The one copy: send area to receive buffer, no buffer in between.
        t.send
            .copy_to(src, &mut p.recv, dst, len)
            .map_err(|e| e.to_string())
    }

    /// Zeros a freed range of `to`'s receive buffer (`TxnFlags::CLEAR_BUF`).
    fn zero(&mut self, to: ProcId, offset: u64, len: u64) -> Result<(), String> {
        let (offset, _, len) = offsets(offset, 0, len)?;
        let p = self.procs.get_mut(&to).ok_or("the process is gone")?;
        p.recv.zero(offset, len).map_err(|e| e.to_string())
    }

    /// Zeros a range of `thread`'s send area (a sensitive payload, copied).
    fn zero_send_area(&mut self, thread: ThreadId, offset: u64, len: u64) -> Result<(), String> {
        let (offset, _, len) = offsets(offset, 0, len)?;
        let t = self.threads.get_mut(&thread).ok_or("the thread is gone")?;
        t.send.zero(offset, len).map_err(|e| e.to_string())
    }

    /// A splice: receive buffer to receive buffer. The source range is
    /// delivered to `from` and not freed (the core checked), so nothing
    /// writes it while it is copied: its owner maps it read-only and the
    /// mediator writes only ranges it reserved.
    fn copy_received(
        &mut self,
        from: ProcId,
        src: u64,
        to: ProcId,
        dst: u64,
        len: u64,
    ) -> Result<(), String> {
        let (src, dst, len) = offsets(src, dst, len)?;
        let result = if from == to {
            let p = self.procs.get_mut(&to).ok_or("the process is gone")?;
            p.recv.copy_within(src, dst, len)
        } else {
            // Out of the map while it is written, so the source can be
            // borrowed from the map at the same time.
            let mut t = self
                .procs
                .remove(&to)
                .ok_or("the receiving process is gone")?;
            let r = match self.procs.get(&from) {
                Some(f) => f.recv.copy_to(src, &mut t.recv, dst, len),
                None => {
                    self.procs.insert(to, t);
                    return Err("the sending process is gone".into());
                }
            };
            self.procs.insert(to, t);
            r
        };
        result.map_err(|e| e.to_string())
    }

    fn set_priority(&mut self, thread: ThreadId, tid: i32, prio: Priority) {
        if !self.migrate {
            return;
        }
        let Some(t) = self.threads.get(&thread) else {
            return;
        };
        if !t.pin.is_alive().unwrap_or(false) {
            return;
        }
        let Some(pid) = Pid::from_raw(tid) else {
            return;
        };
        // What the thread has now (binder saves the current priority at
        // delivery too): the matching restore puts exactly this back.
        let now = sched::thread_sched(pid).ok().or(t.base);
        if let Some(t) = self.threads.get_mut(&thread) {
            t.saved.push(now);
        }
        if let Err(e) = sched::set_thread_sched(pid, &to_thread_sched(&prio)) {
            debug!(tid, "sched_setattr failed: {e}");
        }
    }

    fn restore_priority(&mut self, thread: ThreadId, tid: i32, prio: Priority) {
        if !self.migrate {
            return;
        }
        let Some(t) = self.threads.get_mut(&thread) else {
            return;
        };
        let saved = t.saved.pop().flatten();
        if !t.pin.is_alive().unwrap_or(false) {
            return;
        }
        let Some(pid) = Pid::from_raw(tid) else {
            return;
        };
        // Saved attributes carry the thread's own flags (reset-on-fork
        // included); without them, the core's record.
        let attrs = match saved.or(t.base) {
            Some(s) if saved.is_some() || to_priority(&s) == prio => s,
            _ => to_thread_sched(&prio),
        };
        if let Err(e) = sched::set_thread_sched(pid, &attrs) {
            debug!(tid, "sched_setattr failed: {e}");
        }
    }

    /// Sends `ret` (with `fds`) on a thread channel, after what is queued.
    pub fn deliver(&mut self, thread: ThreadId, ret: &Return, fds: Vec<OwnedFd>) {
        let Some(t) = self.threads.get(&thread) else {
            return; // thread gone: the fds close here
        };
        let token = t.token;
        let bytes = match wire::encode_return_into(ret, self.bufs.take()) {
            Ok(b) => b,
            Err(e) => {
                warn!(?thread, "cannot encode a return: {e}");
                // A dump answers a barrier too (see the runtime's
                // `command`): its own failure says it is that answer.
                let instead = match (ret, &e) {
                    (Return::State(_), wire::WireError::TooLarge { len }) => {
                        Failure::StateTooLarge {
                            len: *len as u64,
                            limit: MAX_MSG as u64,
                        }
                    }
                    _ => Failure::Transport(e.to_string()),
                };
                match wire::encode_return(&Return::Error(instead)) {
                    Ok(b) => b,
                    Err(_) => return,
                }
            }
        };
        self.send(token, bytes, fds);
    }

    // ---- teardown --------------------------------------------------------

    /// A thread channel closed: the core unwinds the thread, then the
    /// channel, send area and pidfd are released.
    pub fn close_thread(&mut self, thread: ThreadId) {
        let mut fx = Vec::new();
        self.core.thread_exited(thread, &mut fx);
        self.apply(&mut fx);
        if let Some(t) = self.threads.remove(&thread) {
            self.unwatch(t.token, false);
            if let Some(p) = self.procs.get_mut(&t.proc) {
                p.threads.retain(|&x| x != thread);
            }
        }
    }

    /// Disconnects the processes found not reading during this pass.
    pub fn reap(&mut self) {
        while let Some(p) = self.doomed.pop() {
            self.kill_process(p);
        }
    }

    /// `proc` died (its connection closed, or its pidfd says it exited):
    /// what its threads wrote before is read first, then it is killed
    /// ([`Event::Drained`]). A reply or a oneway call it sent just before
    /// it exited still counts, as with binder, where a write is done when
    /// the ioctl returns; without the drain, a death seen in the same pass
    /// as a channel still holding messages dropped them.
    fn process_died(&mut self, proc: ProcId) {
        let Some(p) = self.procs.get(&proc) else {
            return;
        };
        if !self.dying.insert(proc) {
            return; // the drain is asked for already
        }
        let tokens = p
            .threads
            .iter()
            .filter_map(|t| self.threads.get(t).map(|t| t.token))
            .collect();
        let then = p.conn_token;
        self.reqs.push(Req::Drain { tokens, then });
    }

    /// A process is dead (drained after its death, or it broke the
    /// rules): the core cleans up, then every resource of it goes.
    pub fn kill_process(&mut self, proc: ProcId) {
        self.dying.remove(&proc);
        let mut fx = Vec::new();
        self.core.process_exited(proc, &mut fx);
        self.apply(&mut fx);
        let Some(p) = self.procs.remove(&proc) else {
            return;
        };
        for t in &p.threads {
            if let Some(t) = self.threads.remove(t) {
                self.unwatch(t.token, false);
            }
        }
        self.unwatch(p.conn_token, false);
        if let Some(token) = p.pidfd_token {
            self.unwatch(token, false);
        }
        debug!(pid = p.cred.pid, "process gone");
    }
}

/// Reads away the calls queued on a revoked direct channel whose caller
/// is gone (read on the mediator's duplicate, they leave the server's
/// queue too), so that none runs for a caller nobody waits on. Bounded:
/// the caller's socket buffer holds a few hundred.
fn drain_queued(fd: &OwnedFd) {
    use rustix::net::RecvFlags;
    let mut byte = [0u8; 1];
    for _ in 0..65_536 {
        match rustix::net::recv(fd, &mut byte, RecvFlags::DONTWAIT | RecvFlags::TRUNC) {
            Ok((_, n)) if n > 0 => continue,
            _ => return,
        }
    }
}

/// Checks the fds a command brings against its fd-bearing objects: a blob
/// must be sealed against writing, shrinking and growing (and not only
/// `F_SEAL_FUTURE_WRITE`), shared memory against shrinking and growing, and
/// either must hold at least the length the object names.
fn check_fd_objects(cmd: &Command, fds: &[OwnedFd]) -> Result<(), Failure> {
    if fds.is_empty() {
        // Every object names an fd out of range: the core's to report.
        return Ok(());
    }
    let txn = match cmd {
        Command::Transaction { txn, .. } | Command::Reply(txn) => txn,
        _ => return Ok(()),
    };
    for (i, o) in txn.objects.iter().enumerate() {
        let (index, len, blob) = match *o {
            Object::Blob { index, len } => (index, len, true),
            Object::SharedMem { index, len } => (index, len, false),
            _ => continue,
        };
        // An index out of range is the core's to report (BadFdIndex).
        let Some(fd) = usize::try_from(index).ok().and_then(|i| fds.get(i)) else {
            continue;
        };
        let kind = if blob { "blob" } else { "shared memory" };
        let bad = |why: String| Failure::BadMemfd {
            object: i,
            why: format!("{kind}: {why}"),
        };
        if blob {
            memfd::verify_blob_seals(fd).map_err(|e| bad(e.to_string()))?;
        } else {
            let seals = memfd::fcntl_get_seals(fd)
                .map_err(|e| bad(format!("not a sealable memfd ({e})")))?;
            if !seals.contains(SealFlags::SHRINK | SealFlags::GROW) {
                return Err(bad(
                    "the memfd must be sealed F_SEAL_SHRINK | F_SEAL_GROW so the receiver cannot fault"
                        .to_owned(),
                ));
            }
        }
        let size = memfd::fstat_size(fd).map_err(|e| bad(e.to_string()))?;
        if size < len {
            return Err(bad(format!(
                "it names {len} bytes but the memfd holds {size}"
            )));
        }
    }
    Ok(())
}
