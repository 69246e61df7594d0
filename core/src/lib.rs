//! capbinder-core: binder's semantics as a sans-IO state machine.
//!
//! The mediator (`capbinderd` in kmod-shim) owns every socket, memfd and
//! clock; this crate owns every rule. The mediator feeds it inputs and
//! carries out the [`Effect`]s it returns, in order:
//!
//! - inputs: [`Core::connect`], [`Core::add_thread`], [`Core::command`],
//!   [`Core::thread_exited`], [`Core::process_exited`];
//! - outputs: the `fx` vector each input appends to (one pass, one batch);
//! - getters: [`Core::dump`], [`Core::check_invariants`], [`Core::is_empty`].
//!
//! Every handle, index, length and count a process writes is checked here;
//! a bad command gets that process an error and touches nobody else.
//!
//! One file per concept: `process`, `thread`, `node`, `handle` (the handle
//! table), `refs` (the acquire/release protocol), `transaction`,
//! `translate` (objects between processes), `alloc` (receive buffers),
//! `death`, `limits`, `error`, `work` (the process queue), `state` (the dump
//! and invariants), `protocol` (the wire vocabulary).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alloc;
mod arena;
mod death;
pub mod direct;
pub mod error;
pub mod fastwire;
mod frozen;
mod handle;
pub mod ids;
pub mod limits;
mod node;
mod packed;
mod process;
pub mod protocol;
mod refs;
pub mod state;
mod thread;
pub mod topic;
mod transaction;
mod translate;
mod txn_table;
mod work;

pub use alloc::BufferStats;
pub use error::{Failure, Holder, Side};
pub use ids::{FdSlot, NodeId, ProcId, ThreadId};
pub use limits::Limits;
pub use process::Counters;
pub use protocol::*;
pub use state::StateDump;
pub use thread::Looper;

use arena::Arena;
use node::{Node, NoticeTo};
use process::Process;
use refs::Kind;
use thread::{LooperCmd, Thread};

/// What the I/O layer must do, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Write `ret` on the thread's channel, attaching the fds in `fds`
    /// (their slots leave the I/O layer's table with the message).
    Deliver {
        /// The receiving thread.
        thread: ThreadId,
        /// What it reads.
        ret: Return,
        /// Fds to attach, in the order the objects number them.
        fds: Vec<FdSlot>,
    },
    /// Zero a freed range of a process's receive buffer: its payload was
    /// marked sensitive (`TxnFlags::CLEAR_BUF`). Always precedes any
    /// `Copy` into the same bytes.
    Zero {
        /// The process (its receive buffer).
        to: ProcId,
        /// Offset in the receive buffer.
        offset: u64,
        /// Bytes.
        len: u64,
    },
    /// Copy a payload from the sending thread's send area into the
    /// receiver's buffer. Always precedes the `Deliver` that points at it.
    Copy {
        /// The sending thread (its send area).
        from: ThreadId,
        /// Offset in the send area.
        src: u64,
        /// The receiving process (its receive buffer).
        to: ProcId,
        /// Offset in the receive buffer.
        dst: u64,
        /// Bytes.
        len: u64,
    },
    /// Zero a range of a thread's send area: the sender's own copy of a
    /// sensitive payload (`TxnFlags::CLEAR_BUF`), once the mediator has
    /// copied it, as libbinder zeroes a sensitive parcel's memory when it
    /// frees it. Comes after every `Copy` from that range, whether the call
    /// went through or not.
    ZeroSendArea {
        /// The sending thread (its send area).
        thread: ThreadId,
        /// Offset in the send area.
        offset: u64,
        /// Bytes.
        len: u64,
    },
    /// Copy spliced payload bytes from a range delivered to the sending
    /// process earlier (its receive buffer) into the receiver's buffer.
    /// Always precedes the `Deliver` that points at it; the source range
    /// stays allocated at least until then (its owner frees it with a later
    /// command).
    CopyReceived {
        /// The sending process (its receive buffer).
        from: ProcId,
        /// Offset in its receive buffer.
        src: u64,
        /// The receiving process (its receive buffer; may be the sender).
        to: ProcId,
        /// Offset in the receive buffer.
        dst: u64,
        /// Bytes.
        len: u64,
    },
    /// Close these fds: the call that carried them was dropped.
    CloseFds(Vec<FdSlot>),
    /// The fd in `slot` now has `holders` holders (a topic's blob, one per
    /// subscriber): each `Deliver` or `CloseFds` that names the slot takes
    /// one, the last the fd itself and the others a duplicate, so a large
    /// publish is one sealed memfd however many subscribers map it. Always
    /// precedes the first effect that names the slot.
    ShareFd {
        /// The slot.
        slot: FdSlot,
        /// How many effects will name it (at least 2).
        holders: u32,
    },
    /// Set a thread's scheduling attributes for a migrated call. The I/O
    /// layer first saves what the thread has now (it may have changed them
    /// itself since the core last knew), for the matching
    /// `RestorePriority`.
    SetPriority {
        /// The thread.
        thread: ThreadId,
        /// Its kernel tid.
        tid: i32,
        /// What to set.
        prio: Priority,
    },
    /// The migrated call ended: put back what the matching `SetPriority`
    /// saved (`prio` is the core's own record of it, for an I/O layer that
    /// saved nothing).
    RestorePriority {
        /// The thread.
        thread: ThreadId,
        /// Its kernel tid.
        tid: i32,
        /// The priority the core recorded before the call.
        prio: Priority,
    },
    /// A direct channel's grant ended: shut the mediator's duplicate of
    /// its server end (for reading, so the caller's sends fail; with
    /// `hard`, for writing too, so a caller waiting for an answer is told
    /// at once, and a server blocked sending one is freed) and close it.
    RevokeDirect {
        /// The duplicate's slot.
        slot: FdSlot,
        /// Shut for writing too: the server is gone (no answer will come)
        /// or the caller is (nobody reads one).
        hard: bool,
        /// First read away the calls queued on it: their caller is gone.
        drain: bool,
    },
}

/// Settings the I/O layer decides at start.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// The limits in force.
    pub limits: Limits,
    /// The mediator can set other threads' priorities (CAP_SYS_NICE):
    /// migrate the caller's priority to the server thread.
    pub migrate_priority: bool,
    /// Only this uid may claim handle 0 (`None`: the first to ask).
    pub context_manager_uid: Option<u32>,
}

/// All of binder's state: processes, threads, nodes, calls in flight.
pub struct Core {
    limits: Limits,
    config: Config,
    procs: Arena<Process>,
    threads: Arena<Thread>,
    nodes: Arena<Node>,
    txns: txn_table::TxnTable,
    next_txn: u64,
    context_manager: Option<NodeId>,
    topics: Arena<topic::Topic>,
    /// Boxes of delivered `TxnIn`s handed back ([`Core::recycle`]), for the
    /// next deliveries.
    #[allow(clippy::vec_box)] // the boxes (their allocations) are what is kept
    spare_in: Vec<Box<TxnIn>>,
    /// Direct channels granted, by id (`direct`).
    grants: std::collections::BTreeMap<u64, direct::Grant>,
    next_grant: u64,
}

/// `v` in `spare`'s allocation where there is one (what it held before is
/// dropped), in a new box otherwise: how a delivered `TxnIn` is boxed
/// without an allocation, in the mediator ([`Core::recycle`]) and in a
/// client's reads ([`fastwire::read_return_in`]).
pub(crate) fn reuse_box<T>(spare: Option<Box<T>>, v: T) -> Box<T> {
    match spare {
        Some(mut b) => {
            *b = v;
            b
        }
        None => Box::new(v),
    }
}

/// The most boxes [`Core::recycle`] keeps: one per call in flight at a
/// time is what a busy mediator reuses; more would only hold memory.
const SPARE_IN_MAX: usize = 16;

impl Core {
    /// An empty core with this configuration.
    pub fn new(config: Config) -> Core {
        Core {
            limits: config.limits.clone(),
            config,
            procs: Arena::default(),
            threads: Arena::default(),
            nodes: Arena::default(),
            txns: txn_table::TxnTable::default(),
            next_txn: 0,
            context_manager: None,
            topics: Arena::default(),
            spare_in: Vec::new(),
            grants: Default::default(),
            next_grant: 1,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The process a thread belongs to.
    pub fn thread_proc(&self, thread: ThreadId) -> Option<ProcId> {
        self.threads.get(thread.0).map(|t| t.proc)
    }

    /// A process's kernel-given identity.
    pub fn cred(&self, proc_id: ProcId) -> Option<&Cred> {
        self.procs.get(proc_id.0).map(|p| &p.cred)
    }

    /// Threads of a process.
    pub fn threads_of(&self, proc_id: ProcId) -> Vec<ThreadId> {
        self.procs
            .get(proc_id.0)
            .map(|p| p.threads.clone())
            .unwrap_or_default()
    }

    /// Hands back a return the I/O layer has sent (an [`Effect::Deliver`]'s,
    /// once encoded): the box of a call's or a reply's `TxnIn` then holds
    /// the next one delivered, instead of each delivery allocating one and
    /// each send freeing it (two of each per round trip in the mediator).
    /// Optional: a return not handed back is simply dropped.
    pub fn recycle(&mut self, ret: Return) {
        if let Return::Transaction(b) | Return::Reply(b) = ret {
            if self.spare_in.len() < SPARE_IN_MAX {
                self.spare_in.push(b);
            }
        }
    }

    /// `t` in a box, a recycled one where there is one.
    fn boxed(&mut self, t: TxnIn) -> Box<TxnIn> {
        reuse_box(self.spare_in.pop(), t)
    }

    /// Applies one command written by `thread`, with the fds that came
    /// with it (already in the I/O layer's slots) and the thread's
    /// scheduling attributes as the kernel reports them (for calls).
    pub fn command(
        &mut self,
        thread: ThreadId,
        cmd: Command,
        fds: Vec<FdSlot>,
        prio: Option<Priority>,
        fx: &mut Vec<Effect>,
    ) {
        let Some(proc_id) = self.writing(thread) else {
            if !fds.is_empty() {
                fx.push(Effect::CloseFds(fds));
            }
            return;
        };
        if !fds.is_empty()
            && !matches!(
                cmd,
                Command::Transaction { .. } | Command::Reply(_) | Command::RequestDirect { .. }
            )
        {
            let count = fds.len();
            fx.push(Effect::CloseFds(fds));
            self.error(thread, Failure::UnclaimedFds { count }, fx);
            return;
        }
        let wipe = self.wipe_after(&cmd);
        let r = match cmd {
            Command::Transaction { handle, txn } => {
                self.transact(thread, handle, txn, fds, prio, None, fx);
                Ok(())
            }
            Command::Reply(txn) => self.reply(thread, txn, fds, fx),
            Command::FreeBuffer { offset } => self.free_buffer(proc_id, offset, fx),
            Command::IncRefs(h) => self.ref_command(proc_id, h, Kind::Weak, true, fx),
            Command::Acquire(h) => self.ref_command(proc_id, h, Kind::Strong, true, fx),
            Command::Release(h) => self.ref_command(proc_id, h, Kind::Strong, false, fx),
            Command::DecRefs(h) => self.ref_command(proc_id, h, Kind::Weak, false, fx),
            Command::IncRefsDone { ptr, cookie } => {
                self.ack_command(proc_id, ptr, cookie, Kind::Weak, fx)
            }
            Command::AcquireDone { ptr, cookie } => {
                self.ack_command(proc_id, ptr, cookie, Kind::Strong, fx)
            }
            Command::RequestDeath { handle, cookie } => {
                self.request_death(proc_id, handle, cookie, fx)
            }
            Command::ClearDeath { handle, cookie } => self.clear_death(proc_id, handle, cookie, fx),
            Command::DeadBinderDone { cookie } => self.dead_binder_done(proc_id, cookie),
            Command::RequestFreezeNotice { handle, cookie } => {
                self.request_freeze_notice(proc_id, handle, cookie, fx)
            }
            Command::ClearFreezeNotice { handle, cookie } => {
                self.clear_freeze_notice(proc_id, handle, cookie, fx)
            }
            Command::FreezeNoticeDone { cookie } => self.freeze_notice_done(proc_id, cookie, fx),
            Command::RegisterLooper => self.looper_command(thread, LooperCmd::Register, fx),
            Command::EnterLooper => self.looper_command(thread, LooperCmd::Enter, fx),
            Command::ExitLooper => self.looper_command(thread, LooperCmd::Exit, fx),
            Command::WaitForWork => self.looper_command(thread, LooperCmd::WaitForWork, fx),
            Command::SpawnFailed => self.spawn_failed(proc_id),
            Command::TakeWork => self.take_work(thread, fx),
            Command::SetMaxThreads(n) => self.set_max_threads(proc_id, n).map(|()| {
                let keep = n.min(direct::MAX_SERVED as u32) as usize;
                self.trim_served(proc_id, keep, fx);
            }),
            Command::SetContextManager { ptr, cookie, flags } => {
                self.set_context_manager(proc_id, ptr, cookie, flags, fx)
            }
            Command::Freeze { pid, enable, hold } => self.freeze(proc_id, pid, enable, hold, fx),
            Command::CreateTopic {
                queue_limit,
                drop_slow,
            } => self
                .create_topic(proc_id, queue_limit, drop_slow)
                .map(|handle| {
                    fx.push(Effect::Deliver {
                        thread,
                        ret: Return::TopicCreated { handle },
                        fds: Vec::new(),
                    })
                }),
            Command::Subscribe {
                topic,
                ptr,
                cookie,
                codes,
            } => self.subscribe(proc_id, thread, topic, ptr, cookie, codes, fx),
            Command::Unsubscribe { topic, ptr } => self.unsubscribe(proc_id, topic, ptr, fx),
            Command::RequestDirect { handle } => {
                self.request_direct(thread, handle, fds, fx);
                Ok(())
            }
            Command::AdoptDirect { handle, server_tid } => {
                self.adopt_direct(thread, handle, server_tid, prio, fx);
                Ok(())
            }
            Command::AwaitAdoption { grant } => self.await_adoption(thread, grant),
            Command::DirectClosed { grant } => self.direct_closed(thread, grant, fx),
            Command::DumpState => {
                let dump = self.dump(Some(proc_id));
                fx.push(Effect::Deliver {
                    thread,
                    ret: Return::State(Box::new(dump)),
                    fds: Vec::new(),
                });
                Ok(())
            }
        };
        if let Err(e) = r {
            self.error(thread, e, fx);
        }
        Self::push_wipe(thread, wipe, fx);
    }

    /// The range of the sender's send area to wipe after the call or reply
    /// `cmd`, a sensitive payload (`None` for other commands, a payload
    /// that is not sensitive, or a range not inside the send area: nothing
    /// was copied from it).
    ///
    /// A range, not the `Effect`: this runs for every command, and an
    /// `Option<Effect>` built and moved each time showed in the mediator's
    /// profile.
    fn wipe_after(&self, cmd: &Command) -> Option<DataRange> {
        let (Command::Transaction { txn, .. } | Command::Reply(txn)) = cmd else {
            return None;
        };
        let data = txn.data;
        let inside = data
            .offset
            .checked_add(data.len)
            .is_some_and(|end| end <= self.limits.send_area);
        (txn.flags.clear_buf() && data.len > 0 && inside).then_some(data)
    }

    /// Pushes the wipe [`wipe_after`](Self::wipe_after) found, if any.
    fn push_wipe(thread: ThreadId, wipe: Option<DataRange>, fx: &mut Vec<Effect>) {
        if let Some(DataRange { offset, len }) = wipe {
            fx.push(Effect::ZeroSendArea {
                thread,
                offset,
                len,
            });
        }
    }

    /// A command the I/O layer refused before the core could see it (a
    /// blob whose seals or size do not hold, checked on the fd). It ends
    /// as the core's own refusals do, so that no one waits on it for good:
    /// a call fails back to its sender (`FailedReply`), a reply fails the
    /// call it answers and comes off the replier's stack; any other
    /// command gets `Error`. Its fds are closed.
    pub fn refuse(
        &mut self,
        thread: ThreadId,
        cmd: Command,
        failure: Failure,
        fds: Vec<FdSlot>,
        fx: &mut Vec<Effect>,
    ) {
        if !fds.is_empty() {
            fx.push(Effect::CloseFds(fds));
        }
        if self.writing(thread).is_none() {
            return;
        }
        let wipe = self.wipe_after(&cmd);
        Self::push_wipe(thread, wipe, fx);
        match cmd {
            Command::Transaction { .. } => {
                let id = self.next_id();
                self.fail_to(thread, id, transaction::Fail::Failed(failure), fx);
            }
            Command::Reply(_) => self.reply_refused(thread, failure, fx),
            _ => self.error(thread, failure, fx),
        }
    }

    /// `thread` wrote a command: it is no longer waiting for process
    /// work. Its process, or `None` for a thread that is gone.
    fn writing(&mut self, thread: ThreadId) -> Option<ProcId> {
        let th = self.threads.get_mut(thread.0)?;
        let proc_id = th.proc;
        if th.idle {
            th.idle = false;
            if let Some(p) = self.procs.get_mut(proc_id.0) {
                p.idle.retain(|&t| t != thread);
            }
        }
        Some(proc_id)
    }

    fn error(&mut self, thread: ThreadId, e: Failure, fx: &mut Vec<Effect>) {
        if let Some(p) = self
            .threads
            .get(thread.0)
            .and_then(|t| self.procs.get_mut(t.proc.0))
        {
            p.counters.errors += 1;
        }
        fx.push(Effect::Deliver {
            thread,
            ret: Return::Error(e),
            fds: Vec::new(),
        });
    }

    /// The node a transaction on `h` goes to. The ref is looked up once:
    /// it must be held strongly (binder refuses a transaction to a handle
    /// without a strong reference) and carry `CALL`, or `PUBLISH` where
    /// the node is a topic's. Handle 0 resolves as in [`resolve_node`].
    ///
    /// [`resolve_node`]: Core::resolve_node
    pub(crate) fn resolve_target(&self, proc_id: ProcId, h: Handle) -> Result<NodeId, Failure> {
        if h == Handle::CONTEXT_MANAGER {
            return self.resolve_node(proc_id, h, Rights::CALL);
        }
        let p = self.procs.get(proc_id.0).expect("live");
        let Some(r) = p.handles.get(h) else {
            return Err(Failure::BadHandle(h));
        };
        if r.strong == 0 {
            return Err(Failure::WeakHandleCalled(h));
        }
        let topic = self.nodes.get(r.node.0).is_some_and(|n| n.topic.is_some());
        r.node_for(h, if topic { Rights::PUBLISH } else { Rights::CALL })
    }

    /// The node behind `h` in `proc_id`'s table, if the ref has `needed`.
    /// Handle 0 resolves to whichever node is the context manager now.
    pub(crate) fn resolve_node(
        &self,
        proc_id: ProcId,
        h: Handle,
        needed: Rights,
    ) -> Result<NodeId, Failure> {
        if h == Handle::CONTEXT_MANAGER {
            // Not `ok_or`: a `Failure` built eagerly is dropped (through
            // its drop glue) on every call, and this is every call.
            return match self.context_manager {
                Some(n) => Ok(n),
                None => Err(Failure::NoContextManager),
            };
        }
        let p = self.procs.get(proc_id.0).expect("live");
        let Some(r) = p.handles.get(h) else {
            return Err(Failure::BadHandle(h));
        };
        r.node_for(h, needed)
    }

    /// Like `resolve_node`, but also yields a ref to hang state on (a
    /// death subscription): for handle 0, the process's ref to the
    /// current context manager, made on first use.
    pub(crate) fn resolve_ref(
        &mut self,
        proc_id: ProcId,
        h: Handle,
        needed: Rights,
    ) -> Result<(Handle, NodeId), Failure> {
        if h == Handle::CONTEXT_MANAGER {
            // As binder's ref for handle 0, the one a subscription made
            // stays bound to its node while it lives, even once that
            // context manager died and another took its place.
            if let Some(zero) = self.procs.get(proc_id.0).expect("live").live_zero_ref() {
                return Ok(zero);
            }
        }
        let node = self.resolve_node(proc_id, h, needed)?;
        if h != Handle::CONTEXT_MANAGER {
            return Ok((h, node));
        }
        let owner = self.nodes.get(node.0).and_then(|n| n.owner);
        if owner == Some(proc_id) {
            return Err(Failure::Death(
                "the context manager cannot subscribe to its own death".into(),
            ));
        }
        let r = self.ref_for(proc_id, node, Rights::ALL)?;
        self.procs.get_mut(proc_id.0).expect("live").zero_ref = Some(r);
        Ok((r, node))
    }

    fn set_context_manager(
        &mut self,
        proc_id: ProcId,
        ptr: u64,
        cookie: u64,
        flags: NodeFlags,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        if let Some(n) = self.context_manager.and_then(|n| self.nodes.get(n.0)) {
            return Err(Failure::ContextManagerTaken(n.owner_pid));
        }
        let cred = &self.procs.get(proc_id.0).expect("live").cred;
        if let Some(allowed) = self.config.context_manager_uid {
            if cred.euid != allowed {
                return Err(Failure::ContextManagerDenied {
                    allowed,
                    uid: cred.euid,
                });
            }
        }
        // As libbinder's servicemanager does with BINDER_SET_CONTEXT_MGR_EXT:
        // the context manager accepts fds (dumps are written to one).
        let flags = NodeFlags {
            accepts_fds: true,
            ..flags
        };
        let node = self.node_for(proc_id, ptr, cookie, flags);
        if self.nodes.get(node.0).is_some_and(|n| n.cookie != cookie) {
            return Err(Failure::CookieMismatch { object: 0, ptr });
        }
        self.context_manager = Some(node);
        self.update_node(node, NoticeTo::Queue, fx);
        Ok(())
    }

    fn freeze(
        &mut self,
        caller: ProcId,
        pid: i32,
        enable: bool,
        hold: bool,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        if !self.procs.get(caller.0).expect("live").cred.privileged {
            return Err(Failure::NotPrivileged("freezing a process".into()));
        }
        let targets: Vec<u64> = self
            .procs
            .iter()
            .filter(|(_, p)| p.cred.pid == pid)
            .map(|(id, _)| id)
            .collect();
        if targets.is_empty() {
            return Err(Failure::NoSuchProcess(pid));
        }
        if !enable && hold {
            // The freezer gives up: a process it held serves again (one
            // another freezer holds stays held); a frozen one stays frozen.
            for id in targets {
                let p = self.procs.get_mut(id).expect("live");
                if p.freezing == Some(caller) {
                    p.freezing = None;
                }
            }
            return Ok(());
        }
        if enable {
            // No new direct calls to it, whether the freeze is made now or
            // held: a direct call would not be refused as frozen.
            self.revoke_direct(|_, g| targets.contains(&g.server.0), direct::End::Soft, fx);
            // Binder's BINDER_FREEZE: refused while a call sent to the
            // process is unfinished (its `outstanding_txns`: sync calls
            // until answered, oneway calls until delivered). Freezing over
            // a queued sync call would park its caller for the whole
            // freeze. A refusal with `hold` marks the process as being
            // frozen, as binder marks it while it waits, so that new sync
            // calls cannot keep it busy for good; without, it changes
            // nothing.
            let busy: usize = targets
                .iter()
                .map(|&id| {
                    self.txns
                        .values()
                        .filter(|t| t.to_proc.0 == id && t.outstanding())
                        .count()
                })
                .sum();
            if busy > 0 {
                // One frozen already stays so: its undelivered oneway calls
                // are what keeps it busy.
                if hold {
                    for &id in &targets {
                        let p = self.procs.get_mut(id).expect("live");
                        if p.frozen {
                            continue;
                        }
                        if p.freezing.is_none() {
                            p.frozen_sync_recv = false;
                            p.frozen_async_recv = false;
                        }
                        p.freezing = Some(caller);
                    }
                }
                return Err(Failure::FreezeBusy { pid, count: busy });
            }
        }
        for id in targets {
            let p = self.procs.get_mut(id).expect("live");
            let changed = p.frozen != enable;
            // Binder clears both on every freeze and thaw, but for a
            // freeze that ends a wait: what was refused while it waited
            // is what the freezer asks about.
            if p.freezing.take().is_none() || !enable {
                p.frozen_sync_recv = false;
                p.frozen_async_recv = false;
            }
            p.frozen = enable;
            if !enable {
                self.dispatch(ProcId(id), fx);
            }
            if changed {
                self.freeze_changed(ProcId(id), enable, fx);
            }
        }
        Ok(())
    }
}
