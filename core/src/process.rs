//! `Process`: one per connection to the mediator. It owns its handle table,
//! its nodes (by `ptr`), its threads, its queue of process work and its
//! receive buffer, and carries the identity the kernel gave at connect.
//! Its death runs one path (`Core::process_exited`) that releases
//! everything it held, kills its nodes and answers every caller.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::alloc::RecvBuffer;
use crate::handle::HandleTable;
use crate::ids::{NodeId, ProcId, ThreadId};
use crate::node::NoticeTo;
use crate::protocol::{Cred, Handle, Return};
use crate::work::{Work, WorkQueue};
use crate::{Core, Effect};

/// Per-process counters, for `capbinder stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Sync calls sent.
    pub calls_sent: u64,
    /// Oneway calls sent.
    pub oneway_sent: u64,
    /// Calls received (sync and oneway).
    pub calls_received: u64,
    /// Replies sent.
    pub replies_sent: u64,
    /// Failed replies this process got.
    pub failed_replies: u64,
    /// Dead replies this process got.
    pub dead_replies: u64,
    /// Frozen replies this process got.
    pub frozen_replies: u64,
    /// Commands refused with an error.
    pub errors: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes it passed on from its receive buffer (splices), in
    /// calls, replies and publishes: copied once, never through its send
    /// area.
    pub bytes_spliced: u64,
    /// Spawn requests made to this process.
    pub spawn_requests: u64,
    /// Spawn requests it answered with `SpawnFailed`.
    pub spawn_failures: u64,
    /// Death notices delivered to this process.
    pub deaths_delivered: u64,
    /// Oneway spam reports sent to this process.
    pub spam_reports: u64,
}

/// A connected process.
pub(crate) struct Process {
    /// Identity from the kernel.
    pub cred: Cred,
    /// Its references to other processes' nodes.
    pub handles: HandleTable,
    /// Its own nodes, by the `ptr` it names them with. The std hasher
    /// (SipHash, randomly keyed) on purpose, unlike the core's other maps:
    /// `ptr` is the client's to choose, and with a fast unkeyed hash a
    /// client could pick ptrs that all collide. That would not only slow
    /// its own lookups: the mediator is one thread, so every process would
    /// wait. This map is off the call path (binder objects and ref acks).
    pub nodes: HashMap<u64, NodeId>,
    /// Its registered threads.
    pub threads: Vec<ThreadId>,
    /// Work for any pool thread.
    pub todo: WorkQueue,
    /// Pool threads waiting for work, most recent last.
    pub idle: Vec<ThreadId>,
    /// Its receive buffer's accounting.
    pub buffer: RecvBuffer,
    /// Pool maximum (spawn requests stop there).
    pub max_threads: u32,
    /// Spawn requests not yet answered by a `RegisterLooper`.
    pub requested_threads: u32,
    /// The thread the outstanding spawn request went to: if it ends with
    /// the request outstanding, it may never have read it, so the request
    /// no longer counts and the pool is asked again when it must grow.
    pub spawn_asked: Option<ThreadId>,
    /// Threads that registered after a spawn request.
    pub started_loopers: u32,
    /// Frozen: no sync calls in, oneway calls wait.
    pub frozen: bool,
    /// Being frozen, for this freezer: a freeze that held it (`hold`)
    /// waits for its calls to drain. New sync calls are refused as if it
    /// were frozen; it still runs and is sent its oneway calls.
    pub freezing: Option<ProcId>,
    /// A sync call was refused because it was frozen, since it was last
    /// frozen or thawed (binder's `proc->sync_recv`).
    pub frozen_sync_recv: bool,
    /// A oneway call was queued for it while frozen, since it was last
    /// frozen or thawed (binder's `proc->async_recv`).
    pub frozen_async_recv: bool,
    /// Calls it sent that are not finished.
    pub pending_out: usize,
    /// Fds it sent that are not delivered.
    pub fds_in_flight: usize,
    /// Death notices delivered and not yet acknowledged, by cookie.
    pub pending_deaths: Vec<u64>,
    /// Freeze notices delivered and not yet answered, oldest first: the
    /// cookie, the handle, and whether the subscription was cleared
    /// meanwhile (its `ClearFreezeNoticeDone` waits for the answer).
    pub pending_freeze_notices: Vec<(u64, Handle, bool)>,
    /// A spam report went out for its buffer; reset once async space frees.
    pub spam_flagged: bool,
    /// The ref a subscription on handle 0 made (to the context manager's
    /// node then). While it lives, subscribing and clearing on handle 0
    /// mean it, even once that context manager died or another took its
    /// place (as binder's ref for handle 0 stays bound to its node); a
    /// generation-checked handle, so once the ref is gone it finds nothing.
    pub zero_ref: Option<Handle>,
    /// Counters.
    pub counters: Counters,
}

impl Process {
    /// The ref its handle-0 subscription made, while it lives, and its node.
    pub fn live_zero_ref(&self) -> Option<(Handle, NodeId)> {
        let z = self.zero_ref?;
        Some((z, self.handles.get(z)?.node))
    }

    /// Sync calls to it are refused as frozen: it is frozen, or held by
    /// a freezer waiting for its calls to drain.
    pub fn frozen_or_held(&self) -> bool {
        self.frozen || self.freezing.is_some()
    }
}

impl Core {
    /// A process connected; `cred` is what the kernel said.
    pub fn connect(&mut self, cred: Cred) -> ProcId {
        let p = Process {
            cred,
            handles: HandleTable::default(),
            nodes: HashMap::new(),
            threads: Vec::new(),
            todo: WorkQueue::new(),
            idle: Vec::new(),
            buffer: RecvBuffer::new(self.limits.recv_buffer),
            max_threads: self.limits.default_max_threads,
            requested_threads: 0,
            spawn_asked: None,
            started_loopers: 0,
            frozen: false,
            freezing: None,
            frozen_sync_recv: false,
            frozen_async_recv: false,
            pending_out: 0,
            fds_in_flight: 0,
            pending_deaths: Vec::new(),
            pending_freeze_notices: Vec::new(),
            spam_flagged: false,
            zero_ref: None,
            counters: Counters::default(),
        };
        ProcId(self.procs.insert(p))
    }

    /// A process died (connection closed or pidfd readable): releases
    /// everything it held, kills its nodes, answers its callers, and
    /// forgets it. Idempotent.
    pub fn process_exited(&mut self, proc_id: ProcId, fx: &mut Vec<Effect>) {
        if self.procs.get(proc_id.0).is_none() {
            return;
        }
        // Its direct channels end; a caller waiting on one it served is
        // told at once.
        self.revoke_direct(
            |_, g| g.caller_proc == proc_id,
            crate::direct::End::CallerGone,
            fx,
        );
        self.revoke_direct(
            |_, g| g.server == proc_id,
            crate::direct::End::ServerGone,
            fx,
        );
        let p = self.procs.get(proc_id.0).expect("checked");
        // Threads first: their stacks unwind with dead replies.
        for t in p.threads.clone() {
            self.thread_exited(t, fx);
        }
        // A freeze it held for others ends with it.
        for (_, other) in self.procs.iter_mut() {
            if other.freezing == Some(proc_id) {
                other.freezing = None;
            }
        }
        let p = self.procs.get_mut(proc_id.0).expect("still live");
        p.frozen = false;
        p.freezing = None;
        let todo: Vec<Work> = p.todo.drain(..).collect();
        // Calls still queued for it fail back to their callers.
        for w in todo {
            if let Work::Transaction(id) = w {
                self.cancel_txn(id, fx);
            }
        }
        if self.context_manager.is_some_and(|n| {
            self.nodes
                .get(n.0)
                .is_some_and(|node| node.owner == Some(proc_id))
        }) {
            let n = self.context_manager.take().expect("checked");
            self.update_node(n, NoticeTo::Queue, fx);
        }
        // Its topic subscriptions end before its callbacks die.
        self.drop_subscriptions_of(proc_id, fx);
        // Its nodes die: subscribers are told, queued oneway calls dropped.
        let nodes: Vec<NodeId> = self
            .procs
            .get(proc_id.0)
            .expect("live")
            .nodes
            .values()
            .copied()
            .collect();
        for n in nodes {
            self.node_died(n, fx);
        }
        // Its refs are released.
        for h in self.procs.get(proc_id.0).expect("live").handles.handles() {
            self.drop_ref(proc_id, h, fx);
        }
        let p = self.procs.remove(proc_id.0).expect("live");
        debug_assert!(p.threads.is_empty());
    }

    /// Registers a thread of `proc_id` (kernel tid `tid`, verified by the
    /// I/O layer) with its current scheduling attributes.
    pub fn add_thread(
        &mut self,
        proc_id: ProcId,
        tid: i32,
        prio: crate::protocol::Priority,
    ) -> Result<ThreadId, crate::error::Failure> {
        let cap = self.limits.thread_cap as usize;
        let p = self
            .procs
            .get(proc_id.0)
            .ok_or(crate::error::Failure::Transport("no such process".into()))?;
        if p.threads.len() >= cap {
            return Err(crate::error::Failure::TooManyThreads {
                pid: p.cred.pid,
                limit: cap,
            });
        }
        let t = ThreadId(self.threads.insert(crate::thread::Thread {
            proc: proc_id,
            tid,
            looper: crate::thread::Looper::None,
            top: None,
            idle: false,
            prio,
            oneway_saved: None,
            polled: false,
        }));
        self.procs
            .get_mut(proc_id.0)
            .expect("checked")
            .threads
            .push(t);
        Ok(t)
    }

    /// A thread's channel closed: its stack unwinds (a call it was serving
    /// gets a dead reply; calls it was waiting on lose their caller).
    pub fn thread_exited(&mut self, thread: ThreadId, fx: &mut Vec<Effect>) {
        let Some(th) = self.threads.get(thread.0) else {
            return;
        };
        let proc_id = th.proc;
        self.revoke_direct(
            |_, g| g.caller == thread,
            crate::direct::End::CallerGone,
            fx,
        );
        self.forget_awaiting(thread);
        self.unwind_stack(thread, fx);
        let th = self.threads.remove(thread.0).expect("live");
        if let Some(p) = self.procs.get_mut(proc_id.0) {
            p.threads.retain(|&t| t != thread);
            p.idle.retain(|&t| t != thread);
            if th.looper == crate::thread::Looper::Registered {
                p.started_loopers = p.started_loopers.saturating_sub(1);
            }
            if p.spawn_asked == Some(thread) {
                // Unlike binder's, a request is on its way the moment it
                // is sent: one a thread ends without reading would hold
                // `requested_threads` for good, and the pool never grows
                // again. If it was read, a thread may still register;
                // it is then refused, reports `SpawnFailed`, and the pool
                // is asked again.
                p.spawn_asked = None;
                p.requested_threads = p.requested_threads.saturating_sub(1);
            }
        }
        // Work may now need another thread.
        self.dispatch(proc_id, fx);
    }

    /// Delivers `ret` to process `proc_id`'s queue (notices for any thread).
    pub(crate) fn notify(&mut self, proc_id: ProcId, ret: Return, fx: &mut Vec<Effect>) {
        self.queue_work(proc_id, Work::Notice(ret), fx);
    }
}
