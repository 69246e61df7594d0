//! Direct channels: a socket pair, made by the mediator, between one
//! calling thread and the process that owns a node, for that thread's
//! data-only sync calls on it (DESIGN, "a direct data path").
//!
//! Why: every call through the mediator costs four wakeups, and a middle
//! process can never beat a relay; a socket pair the mediator made costs
//! what a direct socket costs. What the mediator checks once, when it
//! grants the channel (the caller holds the handle strongly with `CALL`,
//! the node's process is alive and not frozen, the node asks for no
//! minimum priority), it keeps true by revoking: the grant ends when the
//! handle's last strong count goes, when the caller's thread or either
//! process ends, and when the node's process is frozen. Revoking shuts
//! the mediator's own duplicate of the server's end, so the caller's next
//! send fails (and its runtime goes back through the mediator, which
//! answers as it would have).
//!
//! A revoked channel whose server thread exists stays on record,
//! *draining*, until that thread says its end is closed
//! (`DirectClosed`) or the server dies: it still counts against the
//! server's channels, so revoking and asking again cannot pile up server
//! threads, and a call the server read before the revocation can still be
//! adopted. When the caller is gone (its thread or process ended, or it
//! released the handle) the calls it queued and nobody waits for are
//! dropped unread.
//!
//! Everything else stays on the mediator's path: objects, fds, blobs,
//! oneway calls, refcounts, death and freeze. A call made direct has no
//! record here; when its server needs one (a nested call, or a reply
//! that carries objects) the caller *adopts* it ([`Command::AdoptDirect`]):
//! the core makes it an ordinary sync call from the caller to the server
//! thread that asked, so stacks, nested calls landing on the waiting
//! thread, priority migration and dead replies work as for any call.
//!
//! [`Command::AdoptDirect`]: crate::protocol::Command::AdoptDirect

use crate::error::Failure;
use crate::ids::{FdSlot, NodeId, ProcId, ThreadId};
use crate::protocol::{DataRange, Handle, Return, TxnFlags, TxnOut};
use crate::work::Work;
use crate::{Core, Effect};

/// Channels one process may serve at once: each is a thread there.
pub const MAX_SERVED: usize = 32;
/// Channels one calling thread may hold at once.
pub const MAX_HELD: usize = 8;
/// Transaction IDs set aside for each channel's calls: a direct call has
/// an ID from the mediator's one sequence, unique like any other, which
/// the server numbers from the block it was given. A channel whose block
/// is used up is closed by its server (the caller then asks again). A
/// million: the sequence holds 2^44 blocks.
pub const ID_BLOCK: u64 = 1 << 20;

/// One granted channel.
#[derive(Debug)]
pub(crate) struct Grant {
    /// The thread that calls through it.
    pub caller: ThreadId,
    /// Its process.
    pub caller_proc: ProcId,
    /// The handle, in the caller's table.
    pub handle: Handle,
    /// The node it calls.
    pub node: NodeId,
    /// The node's process.
    pub server: ProcId,
    /// The mediator's duplicate of the server's end, shut to revoke;
    /// `None` once revoked (the grant is then draining).
    pub revoke: Option<FdSlot>,
    /// The server's end, until one of its pool threads takes it.
    pub server_end: Option<FdSlot>,
    /// The first of its `ID_BLOCK` transaction IDs.
    pub first_id: u64,
    /// The server thread that asked (`AwaitAdoption`) to have the call it
    /// serves adopted: the only thread an `AdoptDirect` may name.
    pub awaiting: Option<ThreadId>,
}

impl Grant {
    /// Revoked, its server thread not yet gone.
    pub(crate) fn draining(&self) -> bool {
        self.revoke.is_none()
    }
}

/// How a grant ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The server may no longer take direct calls (frozen, polling, fewer
    /// threads): no new calls; those sent are still answered.
    Soft,
    /// The caller is gone or gave up the handle: nobody waits for the
    /// calls it queued, which are dropped unread.
    CallerGone,
    /// The server is gone: a caller waiting on it is told at once.
    ServerGone,
}

impl End {
    /// Whether ending `g` this way forgets it, not only revokes it: with
    /// its server, or with its caller where no server thread took it yet
    /// (nobody left to serve, or nobody there to wait for). A grant that
    /// is not forgotten drains: a call the caller queued before a pool
    /// thread took the channel is still answered, once one does.
    fn forgets(self, g: &Grant) -> bool {
        match self {
            End::ServerGone => true,
            End::CallerGone => g.server_end.is_some(),
            End::Soft => false,
        }
    }
}

impl Core {
    /// `RequestDirect`: `slots` are the caller's end, the server's end
    /// and the mediator's duplicate of the server's, made by the I/O
    /// layer for this command.
    pub(crate) fn request_direct(
        &mut self,
        thread: ThreadId,
        handle: Handle,
        slots: Vec<FdSlot>,
        fx: &mut Vec<Effect>,
    ) {
        let granted = match <[FdSlot; 3]>::try_from(slots) {
            Ok([caller_end, server_end, revoke]) => {
                match self.grant_direct(thread, handle, server_end, revoke, fx) {
                    Ok(()) => Ok(caller_end),
                    Err(e) => {
                        fx.push(Effect::CloseFds(vec![caller_end, server_end, revoke]));
                        Err(e)
                    }
                }
            }
            Err(slots) => {
                if !slots.is_empty() {
                    fx.push(Effect::CloseFds(slots));
                }
                Err(Failure::DirectUnavailable(
                    "the mediator could not make a socket pair".into(),
                ))
            }
        };
        let (ret, fds) = match granted {
            Ok(end) => (Return::DirectGranted { handle }, vec![end]),
            Err(error) => (Return::DirectRefused { handle, error }, Vec::new()),
        };
        fx.push(Effect::Deliver { thread, ret, fds });
    }

    fn grant_direct(
        &mut self,
        thread: ThreadId,
        handle: Handle,
        server_end: FdSlot,
        revoke: FdSlot,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let no = |why: &str| Err(Failure::DirectUnavailable(why.into()));
        if handle == Handle::CONTEXT_MANAGER {
            // It holds no count to revoke on, and may change owner.
            return no("handle 0 (the context manager) is always called through the mediator");
        }
        let from = self.threads.get(thread.0).expect("caller checked").proc;
        let node_id = self.resolve_target(from, handle)?;
        let node = self.nodes.get(node_id.0).expect("resolved");
        if node.topic.is_some() {
            return no("a topic is published to through the mediator");
        }
        let Some(server) = node.owner else {
            return no("the node's process is dead");
        };
        if server == from {
            return no("a local object is called in place");
        }
        if node.flags.min_priority.is_some() {
            return no("the node asks for a minimum priority, which the mediator sets");
        }
        let sp = self.procs.get(server.0).expect("owner is live");
        if sp.frozen_or_held() {
            return no("the node's process is frozen");
        }
        // Each channel is a thread there: a server that chose how many
        // threads serve it is held to that. One that serves on one thread
        // (no pool threads) or from an event loop gets none, its handlers
        // never running on a thread it did not choose.
        let pool = sp.max_threads as usize;
        if pool == 0 {
            return no("the node's process serves calls on its own threads only (max threads 0)");
        }
        if sp
            .threads
            .iter()
            .any(|t| self.threads.get(t.0).is_some_and(|th| th.polled))
        {
            return no("the node's process serves calls from an event loop (setup_polling)");
        }
        let (mut held, mut served) = (0, 0);
        for g in self.grants.values() {
            if g.caller == thread && !g.draining() {
                if g.node == node_id {
                    return no("this thread holds a channel to this node already");
                }
                held += 1;
            }
            // Draining ones too: their threads still run there.
            if g.server == server {
                served += 1;
            }
        }
        if held >= MAX_HELD {
            return no("this thread holds the most channels a thread may");
        }
        if served >= MAX_SERVED.min(pool) {
            return no("the node's process serves as many channels as it has pool threads");
        }
        let Some(next) = self.next_txn.checked_add(ID_BLOCK) else {
            return no("the transaction IDs are used up");
        };
        let id = self.next_grant;
        self.next_grant += 1;
        let first_id = self.next_txn + 1;
        self.next_txn = next;
        self.grants.insert(
            id,
            Grant {
                caller: thread,
                caller_proc: from,
                handle,
                node: node_id,
                server,
                revoke: Some(revoke),
                server_end: Some(server_end),
                first_id,
                awaiting: None,
            },
        );
        self.queue_work(server, Work::DirectServe(id), fx);
        Ok(())
    }

    /// Hands grant `id`'s server end to `thread`; false when the grant
    /// ended before a thread took it.
    pub(crate) fn deliver_direct(
        &mut self,
        id: u64,
        thread: ThreadId,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let Some(g) = self.grants.get_mut(&id) else {
            return false;
        };
        let Some(end) = g.server_end.take() else {
            return false;
        };
        // Its caller is alive: a caller's end forgets every grant of it
        // that no server thread took (`End::CallerGone`; an invariant).
        let (caller, node_id, first_id) = (g.caller, g.node, g.first_id);
        let node = self.nodes.get(node_id.0);
        let target = node.map(|n| (n.ptr, n.cookie)).unwrap_or_default();
        // The caller's runtime calls direct only at its default priority
        // (a call that would migrate one goes through the mediator).
        let sender = self.sender_of(caller, Some(crate::protocol::Priority::default()), None);
        fx.push(Effect::Deliver {
            thread,
            ret: Return::DirectServe {
                grant: id,
                target,
                sender,
                first_id: crate::protocol::TxnId(first_id),
            },
            fds: vec![end],
        });
        true
    }

    /// Ends every grant `which` picks (draining ones only when this end
    /// forgets them).
    pub(crate) fn revoke_direct(
        &mut self,
        which: impl Fn(u64, &Grant) -> bool,
        how: End,
        fx: &mut Vec<Effect>,
    ) {
        if self.grants.is_empty() {
            return;
        }
        let ids: Vec<u64> = self
            .grants
            .iter()
            .filter(|(id, g)| (how.forgets(g) || !g.draining()) && which(**id, g))
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            self.end_grant(id, how, fx);
        }
    }

    /// Ends grant `id` `how`: revoked (if it was not already), and
    /// forgotten where `how` forgets it.
    fn end_grant(&mut self, id: u64, how: End, fx: &mut Vec<Effect>) {
        let Some(g) = self.grants.get_mut(&id) else {
            return;
        };
        if let Some(slot) = g.revoke.take() {
            fx.push(Effect::RevokeDirect {
                slot,
                hard: how != End::Soft,
                drain: how == End::CallerGone,
            });
        }
        if how.forgets(g) {
            if let Some(end) = g.server_end.take() {
                fx.push(Effect::CloseFds(vec![end]));
            }
            self.grants.remove(&id);
        }
    }

    /// Revokes `server`'s live grants past the first `keep` (its channels
    /// are threads of its pool: fewer threads, fewer channels).
    pub(crate) fn trim_served(&mut self, server: ProcId, keep: usize, fx: &mut Vec<Effect>) {
        let over: Vec<u64> = self
            .grants
            .iter()
            .filter(|(_, g)| g.server == server && !g.draining())
            .map(|(&id, _)| id)
            .skip(keep)
            .collect();
        for id in over {
            self.end_grant(id, End::Soft, fx);
        }
    }

    /// `DirectClosed`: a thread of the server closed its end of `grant`.
    pub(crate) fn direct_closed(
        &mut self,
        thread: ThreadId,
        grant: u64,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let proc_id = self.threads.get(thread.0).expect("caller checked").proc;
        self.served_grant(proc_id, grant)?;
        // A caller still waiting is told at once.
        self.end_grant(grant, End::ServerGone, fx);
        Ok(())
    }

    /// Grant `grant` as a channel `server` serves: one of its threads took
    /// the server's end.
    fn served_grant(&mut self, server: ProcId, grant: u64) -> Result<&mut Grant, Failure> {
        self.grants
            .get_mut(&grant)
            .filter(|g| g.server == server && g.server_end.is_none())
            .ok_or_else(|| {
                Failure::DirectUnavailable(format!(
                    "grant {grant} is no channel this process serves"
                ))
            })
    }

    /// `AwaitAdoption`: `thread`, serving a call from `grant`, is about to
    /// ask its caller to adopt it.
    pub(crate) fn await_adoption(&mut self, thread: ThreadId, grant: u64) -> Result<(), Failure> {
        let th = self.threads.get(thread.0).expect("caller checked");
        let (proc_id, top) = (th.proc, th.top);
        let g = self.served_grant(proc_id, grant)?;
        if top.is_some() {
            return Err(Failure::DirectUnavailable(
                "a thread in a call serves no direct call".into(),
            ));
        }
        g.awaiting = Some(thread);
        Ok(())
    }

    /// A thread ended: it awaits no adoption.
    pub(crate) fn forget_awaiting(&mut self, thread: ThreadId) {
        for g in self.grants.values_mut() {
            if g.awaiting == Some(thread) {
                g.awaiting = None;
            }
        }
    }

    /// `AdoptDirect`: the caller's direct call on `handle`, being served
    /// by the server thread `server_tid`, which asked for it
    /// (`AwaitAdoption`), becomes a sync call on the stacks, answered with
    /// `Reply` like any other. Nobody else can be handed it: the grant must
    /// be this thread's, on this handle's node, and the named thread the
    /// one awaiting it.
    pub(crate) fn adopt_direct(
        &mut self,
        thread: ThreadId,
        handle: Handle,
        server_tid: i32,
        prio: Option<crate::protocol::Priority>,
        fx: &mut Vec<Effect>,
    ) {
        let from = self.threads.get(thread.0).expect("caller checked").proc;
        let node = self.resolve_target(from, handle).ok();
        let target = self
            .grants
            .values_mut()
            .filter(|g| g.caller == thread && Some(g.node) == node)
            .find_map(|g| {
                let t = g.awaiting?;
                let th = self.threads.get(t.0)?;
                // Still as it was when it asked: in no call, and not back
                // waiting for process work (it may have moved on).
                let ready = th.tid == server_tid && th.top.is_none() && !th.idle;
                ready.then(|| {
                    g.awaiting = None;
                    t
                })
            });
        let in_call = self.threads.get(thread.0).is_some_and(|t| t.top.is_some());
        let target = match target {
            None => Err(format!(
                "no direct call of this thread on {handle} waits to be adopted by tid {server_tid}"
            )),
            Some(_) if in_call => {
                Err("a thread in a call makes no direct calls, so it has none to adopt".into())
            }
            Some(t) => Ok(t),
        };
        let target = match target {
            Ok(t) => t,
            Err(why) => {
                let id = self.next_id();
                let e = crate::transaction::Fail::Failed(Failure::DirectUnavailable(why));
                return self.fail_to(thread, id, e, fx);
            }
        };
        let txn = TxnOut {
            code: 0,
            flags: TxnFlags(TxnFlags::ADOPTED | TxnFlags::ACCEPT_FDS),
            data: DataRange { offset: 0, len: 0 },
            ..TxnOut::default()
        };
        self.transact(thread, handle, txn, Vec::new(), prio, Some(target), fx);
    }
}
