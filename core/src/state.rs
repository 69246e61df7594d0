//! The state dump: what `capbinder state` shows, and what tests inspect.
//! Also the invariant checks the randomized tests run after every step.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::alloc::BufferStats;
use crate::ids::{ProcId, ThreadId};
use crate::process::Counters;
use crate::protocol::{Priority, TxnId};
use crate::thread::Looper;
use crate::txn_table::TxnKey;
use crate::work::Work;
use crate::Core;

/// The whole mediator as one process may see it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDump {
    /// Processes visible to the viewer.
    pub processes: Vec<ProcState>,
    /// Calls in flight that involve a visible process.
    pub transactions: Vec<TxnState>,
    /// Whether the viewer sees every process (it is privileged, or the
    /// mediator itself); otherwise `processes` holds only the viewer.
    pub sees_all: bool,
    /// The context manager's pid, if one is registered.
    pub context_manager: Option<i32>,
    /// Multicast topics visible to the viewer.
    pub topics: Vec<crate::topic::TopicState>,
    /// Direct channels granted (`core::direct`) of which the viewer holds
    /// an end (all of them for a privileged viewer).
    pub direct: Vec<DirectState>,
}

/// One direct channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectState {
    /// The grant's id.
    pub grant: u64,
    /// The calling process.
    pub caller_pid: i32,
    /// The calling thread.
    pub caller_tid: i32,
    /// The handle, in the caller's table.
    pub handle: u64,
    /// The node's process.
    pub server_pid: i32,
    /// The node's `ptr`.
    pub node_ptr: u64,
    /// A pool thread there has taken the server's end.
    pub served: bool,
    /// Revoked; its server thread has not closed its end yet.
    pub draining: bool,
    /// A server thread has said it awaits this channel's call's adoption.
    pub awaiting: bool,
}

/// One process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcState {
    /// Core id.
    pub id: u64,
    /// Pid.
    pub pid: i32,
    /// Uid.
    pub uid: u32,
    /// Label or app name.
    pub label: Option<String>,
    /// Frozen.
    pub frozen: bool,
    /// Being frozen: a freeze waits for its calls to drain, and new sync
    /// calls to it are refused meanwhile (binder reports it frozen then).
    pub freezing: bool,
    /// A sync call to it was refused because it was frozen, since it was
    /// last frozen or thawed (binder's `sync_recv` bit 0).
    pub frozen_sync_received: bool,
    /// A oneway call to it was queued while it was frozen, since it was
    /// last frozen or thawed (binder's `async_recv`).
    pub frozen_async_received: bool,
    /// Calls to it not finished: sync calls not yet answered, oneway calls
    /// not yet delivered (binder's `sync_recv` bit 1, its pending
    /// transactions).
    pub txns_pending: bool,
    /// Threads.
    pub threads: Vec<ThreadState>,
    /// Its nodes.
    pub nodes: Vec<NodeState>,
    /// Its refs.
    pub refs: Vec<RefState>,
    /// Its receive buffer.
    pub buffer: BufferStats,
    /// Items in its process queue.
    pub queued_work: usize,
    /// Calls it sent that are not finished.
    pub pending_out: usize,
    /// Fds it sent that are not delivered.
    pub fds_in_flight: usize,
    /// Pool maximum.
    pub max_threads: u32,
    /// Spawn requests outstanding.
    pub requested_threads: u32,
    /// Death notices not yet acknowledged.
    pub pending_deaths: usize,
    /// Counters.
    pub counters: Counters,
}

/// One thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadState {
    /// Kernel tid.
    pub tid: i32,
    /// Looper state.
    pub looper: Looper,
    /// Waiting for process work.
    pub idle: bool,
    /// Its transaction stack, top first.
    pub stack: Vec<TxnId>,
    /// Priority as the mediator last set it.
    pub priority: Priority,
}

/// One node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    /// The owner's name for it.
    pub ptr: u64,
    /// Processes holding a strong ref.
    pub strong: u32,
    /// Processes holding any ref.
    pub weak: u32,
    /// Pids of the holders.
    pub holders: Vec<i32>,
    /// Oneway calls queued behind the one in flight.
    pub oneway_queued: usize,
    /// A oneway call is in flight.
    pub oneway_busy: bool,
    /// Calls in flight that target it.
    pub calls_in_flight: u32,
}

/// One ref.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefState {
    /// The handle.
    pub handle: u64,
    /// Pid of the node's owner (`None`: the owner died).
    pub owner_pid: Option<i32>,
    /// Strong count.
    pub strong: u32,
    /// Weak count.
    pub weak: u32,
    /// Rights.
    pub rights: String,
    /// Death subscription cookie, if any.
    pub death_cookie: Option<u64>,
    /// Freeze subscription cookie, if any.
    pub freeze_cookie: Option<u64>,
}

/// One call in flight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnState {
    /// Its ID.
    pub id: TxnId,
    /// Oneway.
    pub oneway: bool,
    /// Method code.
    pub code: u32,
    /// Caller pid.
    pub from_pid: i32,
    /// Caller tid while it waits.
    pub from_tid: Option<i32>,
    /// Receiver pid.
    pub to_pid: Option<i32>,
    /// Serving tid once delivered.
    pub to_tid: Option<i32>,
    /// Payload bytes.
    pub size: u64,
    /// Handed to a thread.
    pub delivered: bool,
}

impl Core {
    /// The state as `viewer` may see it: a privileged viewer (or `None`,
    /// the mediator itself) sees everything, anyone else only itself.
    pub fn dump(&self, viewer: Option<ProcId>) -> StateDump {
        let all = match viewer {
            None => true,
            Some(v) => self.procs.get(v.0).is_some_and(|p| p.cred.privileged),
        };
        let visible = |id: u64| all || viewer.map(|v| v.0) == Some(id);
        let tid_of = |t: Option<ThreadId>| t.and_then(|t| self.threads.get(t.0)).map(|t| t.tid);
        let mut processes = Vec::new();
        for (id, p) in self.procs.iter() {
            if !visible(id) {
                continue;
            }
            let threads = p
                .threads
                .iter()
                .filter_map(|&t| Some((t, self.threads.get(t.0)?)))
                .map(|(t, th)| ThreadState {
                    tid: th.tid,
                    looper: th.looper,
                    idle: th.idle,
                    stack: self.stack_of(t).iter().map(|k| k.id).collect(),
                    priority: th.prio,
                })
                .collect();
            let mut nodes: Vec<NodeState> = p
                .nodes
                .values()
                .filter_map(|n| self.nodes.get(n.0))
                .map(|n| NodeState {
                    ptr: n.ptr,
                    strong: n.strong.held,
                    weak: n.weak.held,
                    holders: n
                        .holders
                        .iter()
                        .filter_map(|h| self.procs.get(h.0).map(|p| p.cred.pid))
                        .collect(),
                    oneway_queued: n.oneway.queue.len(),
                    oneway_busy: n.oneway.busy,
                    calls_in_flight: n.txn_holds,
                })
                .collect();
            nodes.sort_by_key(|n| n.ptr);
            let refs = p
                .handles
                .iter()
                .map(|(h, r)| RefState {
                    handle: h.0,
                    owner_pid: self
                        .nodes
                        .get(r.node.0)
                        .filter(|n| !n.is_dead())
                        .map(|n| n.owner_pid),
                    strong: r.strong,
                    weak: r.weak,
                    rights: r.rights.to_string(),
                    death_cookie: r.death.map(|d| d.cookie),
                    freeze_cookie: r.freeze.map(|f| f.cookie),
                })
                .collect();
            processes.push(ProcState {
                id,
                pid: p.cred.pid,
                uid: p.cred.uid,
                label: p.cred.label.clone(),
                frozen: p.frozen,
                freezing: p.freezing.is_some(),
                frozen_sync_received: p.frozen_sync_recv,
                frozen_async_received: p.frozen_async_recv,
                txns_pending: self
                    .txns
                    .values()
                    .any(|t| t.to_proc.0 == id && t.outstanding()),
                threads,
                nodes,
                refs,
                buffer: p.buffer.stats(),
                queued_work: p.todo.len(),
                pending_out: p.pending_out,
                fds_in_flight: p.fds_in_flight,
                max_threads: p.max_threads,
                requested_threads: p.requested_threads,
                pending_deaths: p.pending_deaths.len(),
                counters: p.counters.clone(),
            });
        }
        let pid_of = |p: ProcId| self.procs.get(p.0).map(|p| p.cred.pid);
        let mut transactions: Vec<TxnState> = self
            .txns
            .values()
            .filter(|t| visible(t.from_proc.0) || visible(t.to_proc.0))
            .map(|t| TxnState {
                id: t.id,
                oneway: t.flags.oneway(),
                code: t.code,
                from_pid: t.sender.pid,
                from_tid: tid_of(t.from),
                to_pid: pid_of(t.to_proc),
                to_tid: tid_of(t.to_thread),
                size: t.buffer.len,
                delivered: t.delivered,
            })
            .collect();
        transactions.sort_by_key(|t| t.id);
        StateDump {
            processes,
            transactions,
            sees_all: all,
            context_manager: self
                .context_manager
                .and_then(|n| self.nodes.get(n.0))
                .map(|n| n.owner_pid),
            direct: self
                .grants
                .iter()
                .filter(|(_, g)| visible(g.caller_proc.0) || visible(g.server.0))
                .map(|(&id, g)| DirectState {
                    grant: id,
                    caller_pid: pid_of(g.caller_proc).unwrap_or(0),
                    caller_tid: tid_of(Some(g.caller)).unwrap_or(0),
                    handle: g.handle.0,
                    server_pid: pid_of(g.server).unwrap_or(0),
                    node_ptr: self.nodes.get(g.node.0).map_or(0, |n| n.ptr),
                    served: g.server_end.is_none(),
                    draining: g.draining(),
                    awaiting: g.awaiting.is_some(),
                })
                .collect(),
            topics: self.topic_states(if all {
                None
            } else {
                viewer.and_then(|v| self.procs.get(v.0)).map(|p| p.cred.pid)
            }),
        }
    }

    /// A thread's stack, top first.
    fn stack_of(&self, thread: ThreadId) -> Vec<TxnKey> {
        let mut out = Vec::new();
        let mut cur = self.threads.get(thread.0).and_then(|t| t.top);
        while let Some(id) = cur {
            let Some(t) = self.txns.get(id) else { break };
            out.push(id);
            if out.len() > self.txns.len() {
                break; // a cycle would be a bug; the invariant check says so
            }
            cur = if t.to_thread == Some(thread) {
                t.to_parent
            } else {
                t.from_parent
            };
        }
        out
    }

    /// Whether nothing at all is left: no process, thread, node or call.
    pub fn is_empty(&self) -> bool {
        self.procs.len() == 0
            && self.threads.len() == 0
            && self.nodes.len() == 0
            && self.txns.is_empty()
            && self.context_manager.is_none()
            && self.topics.len() == 0
            && self.grants.is_empty()
    }

    /// Checks every cross-table invariant; the error says which broke.
    /// Counts equal the refs that exist; every buffer adds up; every call
    /// is on the stacks or queues it belongs to; no thread holds a call
    /// that is not its own.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut strong: HashMap<u64, u32> = HashMap::new();
        let mut weak: HashMap<u64, u32> = HashMap::new();
        for (pid, p) in self.procs.iter() {
            p.handles.check_invariants()?;
            p.buffer
                .check_invariants()
                .map_err(|e| format!("pid {}: buffer: {e}", p.cred.pid))?;
            for (h, r) in p.handles.iter() {
                let Some(n) = self.nodes.get(r.node.0) else {
                    return Err(format!("pid {}: {h} points at a freed node", p.cred.pid));
                };
                if !n.holders.contains(&ProcId(pid)) {
                    return Err(format!(
                        "pid {}: {h} not among the node's holders",
                        p.cred.pid
                    ));
                }
                *weak.entry(r.node.0).or_default() += 1;
                if r.strong > 0 {
                    *strong.entry(r.node.0).or_default() += 1;
                }
            }
            for (&ptr, n) in &p.nodes {
                let Some(node) = self.nodes.get(n.0) else {
                    return Err(format!("pid {}: node {ptr:#x} missing", p.cred.pid));
                };
                if node.owner != Some(ProcId(pid)) || node.ptr != ptr {
                    return Err(format!("pid {}: node {ptr:#x} owner mismatch", p.cred.pid));
                }
            }
            if let Some(f) = p.freezing {
                if self.procs.get(f.0).is_none() {
                    return Err(format!(
                        "pid {}: held for a freezer that is gone",
                        p.cred.pid
                    ));
                }
                if p.frozen {
                    return Err(format!("pid {}: frozen and being frozen", p.cred.pid));
                }
            }
            for &t in &p.threads {
                let th = self
                    .threads
                    .get(t.0)
                    .ok_or_else(|| format!("pid {}: thread missing", p.cred.pid))?;
                if th.proc != ProcId(pid) {
                    return Err("thread in the wrong process".into());
                }
                if th.idle && th.top.is_some() {
                    return Err(format!("tid {}: idle with a stack", th.tid));
                }
                if th.idle != p.idle.contains(&t) {
                    return Err(format!("tid {}: idle flag and idle list disagree", th.tid));
                }
            }
            let pending = self
                .txns
                .values()
                .filter(|t| t.from_proc == ProcId(pid) && t.counted)
                .count();
            if pending != p.pending_out {
                return Err(format!(
                    "pid {}: pending_out {} but {pending} calls in flight",
                    p.cred.pid, p.pending_out
                ));
            }
            let fds: usize = self
                .txns
                .values()
                .filter(|t| t.from_proc == ProcId(pid))
                .map(|t| t.fds.len())
                .sum();
            if fds != p.fds_in_flight {
                return Err(format!(
                    "pid {}: fds_in_flight {} but {fds} fds in calls",
                    p.cred.pid, p.fds_in_flight
                ));
            }
        }
        for (id, n) in self.nodes.iter() {
            let s = strong.get(&id).copied().unwrap_or(0) + n.sub_holds;
            let w = weak.get(&id).copied().unwrap_or(0);
            if n.strong.held != s || n.weak.held != w || n.holders.len() as u32 != w {
                return Err(format!(
                    "node {:#x} of pid {}: counts strong {}/{} weak {}/{} holders {}",
                    n.ptr,
                    n.owner_pid,
                    n.strong.held,
                    s,
                    n.weak.held,
                    w,
                    n.holders.len()
                ));
            }
            let holds = self.txns.values().filter(|t| t.target.0 == id).count() as u32;
            if holds != n.txn_holds {
                return Err(format!(
                    "node {:#x}: {} holds recorded, {holds} calls target it",
                    n.ptr, n.txn_holds
                ));
            }
            let carried = n
                .owner
                .and_then(|o| self.procs.get(o.0))
                .map_or(0, |p| p.buffer.carried().filter(|c| c.0 == id).count())
                as u32;
            if carried != n.buffer_holds {
                return Err(format!(
                    "node {:#x}: {} buffer holds recorded, {carried} of its owner's buffers carry it",
                    n.ptr, n.buffer_holds
                ));
            }
        }
        let mut subs: HashMap<u64, u32> = HashMap::new();
        for (tid, t) in self.topics.iter() {
            match self.nodes.get(t.node.0) {
                Some(n) if n.topic == Some(tid) => {}
                _ => return Err(format!("topic of pid {}: its node is gone", t.creator_pid)),
            }
            for s in &t.subs {
                *subs.entry(s.node.0).or_default() += 1;
            }
        }
        for (id, n) in self.nodes.iter() {
            if subs.get(&id).copied().unwrap_or(0) != n.sub_holds {
                return Err(format!("node {:#x}: subscription holds disagree", n.ptr));
            }
        }
        // A freeze subscription's notice is queued exactly when it says so,
        // and one delivered is unanswered exactly when it says so.
        for (_, p) in self.procs.iter() {
            for (h, r) in p.handles.iter() {
                let queued = p
                    .todo
                    .iter()
                    .filter(|w| matches!(w, Work::Frozen(x) if *x == h))
                    .count();
                let sub = r.freeze;
                if queued != usize::from(sub.is_some_and(|f| f.queued)) {
                    return Err(format!(
                        "pid {}: {h}: {queued} freeze notices queued, subscription {sub:?}",
                        p.cred.pid
                    ));
                }
                let pending = p
                    .pending_freeze_notices
                    .iter()
                    .filter(|e| e.1 == h && !e.2)
                    .count();
                if pending != usize::from(sub.is_some_and(|f| f.sent)) {
                    return Err(format!(
                        "pid {}: {h}: {pending} freeze notices unanswered, subscription {sub:?}",
                        p.cred.pid
                    ));
                }
            }
        }
        // Every call is in exactly one place: a queue, or a stack.
        let mut seen: HashMap<TxnKey, u32> = HashMap::new();
        for (_, p) in self.procs.iter() {
            for w in &p.todo {
                if let Work::Transaction(id) = w {
                    *seen.entry(*id).or_default() += 1;
                }
            }
        }
        for (_, n) in self.nodes.iter() {
            for id in &n.oneway.queue {
                *seen.entry(*id).or_default() += 1;
            }
        }
        for id in seen.keys() {
            if !self.txns.contains(*id) {
                return Err(format!("{id}: queued but no longer in flight"));
            }
        }
        for (id, t) in self.txns.iter() {
            let queued = seen.get(&id).copied().unwrap_or(0);
            if t.delivered && queued != 0 {
                return Err(format!("{id}: delivered but still queued"));
            }
            if !t.delivered && queued != 1 {
                return Err(format!("{id}: undelivered and queued {queued} times"));
            }
            if t.delivered && t.flags.oneway() {
                return Err(format!("{id}: a delivered oneway call kept its record"));
            }
        }
        // Every delivered call is reachable from some thread's stack
        // (directly, or as the parent of a call that is), or nothing would
        // ever answer or free it.
        let mut reachable = std::collections::HashSet::new();
        for (tid, th) in self.threads.iter() {
            let stack = self.stack_of(ThreadId(tid));
            for id in &stack {
                let mut cur = Some(*id);
                while let Some(c) = cur {
                    if !reachable.insert(c) {
                        break;
                    }
                    cur = self.txns.get(c).and_then(|t| t.from_parent);
                }
            }
            if stack.len() > self.txns.len() {
                return Err(format!("tid {}: stack has a cycle", th.tid));
            }
            for id in stack {
                let Some(t) = self.txns.get(id) else {
                    return Err(format!("tid {}: {id} on its stack is gone", th.tid));
                };
                if t.from != Some(ThreadId(tid)) && t.to_thread != Some(ThreadId(tid)) {
                    return Err(format!("tid {}: {id} on its stack is not its own", th.tid));
                }
            }
        }
        for (id, t) in self.txns.iter() {
            if t.delivered && !reachable.contains(&id) {
                return Err(format!("{id}: delivered but on no stack (leaked)"));
            }
        }
        for (id, g) in self.grants.iter() {
            let bad = |why: &str| Err(format!("direct grant {id}: {why}"));
            if g.awaiting
                .is_some_and(|t| self.threads.get(t.0).map(|t| t.proc) != Some(g.server))
            {
                return bad("awaits an adoption by a thread not of its server");
            }
            let caller_alive = self.threads.get(g.caller.0).map(|t| t.proc) == Some(g.caller_proc);
            if g.server_end.is_some() && !caller_alive {
                return bad("no server thread took it, and its calling thread is gone");
            }
            if g.draining() {
                if self.procs.get(g.server.0).is_none() {
                    return bad("draining for a dead server");
                }
                continue;
            }
            if !caller_alive {
                return bad("its calling thread is gone");
            }
            let held = self
                .procs
                .get(g.caller_proc.0)
                .and_then(|p| p.handles.get(g.handle))
                .is_some_and(|r| r.strong > 0 && r.node == g.node);
            if !held {
                return bad("its handle is no longer held strongly");
            }
            if self.nodes.get(g.node.0).and_then(|n| n.owner) != Some(g.server) {
                return bad("its node's owner is not its server");
            }
            if self
                .procs
                .get(g.server.0)
                .is_none_or(|p| p.frozen_or_held())
            {
                return bad("its server is gone or frozen");
            }
        }
        Ok(())
    }
}
