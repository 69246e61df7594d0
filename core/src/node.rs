//! `Node`: one per local object that its owner has sent out. The node keeps
//! the owner's object alive for remote holders: its strong and weak counts
//! say how many processes hold it, and the `told` flags say whether the
//! owner has been told to hold a reference of its own (binder's
//! `has_strong_ref`/`has_weak_ref`). The owner's acknowledgements
//! (`AcquireDone`, `IncRefsDone`) close the "critical" window in which a
//! release must not overtake an acquire.

use std::collections::VecDeque;

use crate::ids::{NodeId, ProcId, ThreadId};
use crate::protocol::{NodeFlags, Return};
use crate::txn_table::TxnKey;
use crate::work::Work;
use crate::{Core, Effect};

/// One of a node's two counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Count {
    /// Holders: refs with a count of this kind (and internal holds).
    pub held: u32,
    /// The owner was told to take a reference of this kind.
    pub told: bool,
    /// The owner has not yet acknowledged the last increment.
    pub ack_pending: bool,
}

/// Per-node oneway ordering: one call in flight, the rest queued in order.
#[derive(Debug, Default)]
pub(crate) struct OnewayQueue {
    /// A oneway call is delivered and its buffer not yet freed.
    pub busy: bool,
    /// Calls waiting their turn.
    pub queue: VecDeque<TxnKey>,
}

/// A node.
#[derive(Debug)]
pub(crate) struct Node {
    /// The owner while it lives; `None` once it died.
    pub owner: Option<ProcId>,
    /// The owner's pid, kept for the state dump after death.
    pub owner_pid: i32,
    /// The owner's name for the object.
    pub ptr: u64,
    /// Opaque to all but the owner.
    pub cookie: u64,
    /// Flags set at creation.
    pub flags: NodeFlags,
    /// Strong holders.
    pub strong: Count,
    /// Weak holders (every ref is one).
    pub weak: Count,
    /// Processes holding a ref (each at most once).
    pub holders: Vec<ProcId>,
    /// Transactions in flight that target this node.
    pub txn_holds: u32,
    /// Buffers of its owner, not yet freed, whose call carried it back to
    /// the owner (binder's transaction buffer holds each node it names).
    pub buffer_holds: u32,
    /// Oneway ordering.
    pub oneway: OnewayQueue,
    /// For a topic's node (owned by the mediator itself): the topic.
    pub topic: Option<u64>,
    /// Topic subscriptions that hold this node (a callback) strongly.
    pub sub_holds: u32,
}

impl Node {
    /// Whether the owner died (a topic's node has no owner and lives while
    /// anyone refers to it).
    pub fn is_dead(&self) -> bool {
        self.owner.is_none() && self.topic.is_none()
    }
}

/// Where a reference notice for the owner goes: to the thread that caused
/// it when that thread belongs to the owner (so that the owner's runtime
/// sees the acquire before its own `TransactionComplete`, as binder does
/// with the sending thread's todo list), else to the owner's queue.
#[derive(Clone, Copy)]
pub(crate) enum NoticeTo {
    Queue,
    Thread(ThreadId),
}

impl Core {
    /// Creates the node for the owner's `ptr`, or returns the live one.
    pub(crate) fn node_for(
        &mut self,
        owner: ProcId,
        ptr: u64,
        cookie: u64,
        flags: NodeFlags,
    ) -> NodeId {
        let proc_ = self.procs.get(owner.0).expect("owner is live");
        if let Some(&n) = proc_.nodes.get(&ptr) {
            return n;
        }
        let owner_pid = proc_.cred.pid;
        let id = NodeId(self.nodes.insert(Node {
            owner: Some(owner),
            owner_pid,
            ptr,
            cookie,
            flags,
            strong: Count::default(),
            weak: Count::default(),
            holders: Vec::new(),
            txn_holds: 0,
            buffer_holds: 0,
            oneway: OnewayQueue::default(),
            topic: None,
            sub_holds: 0,
        }));
        self.procs
            .get_mut(owner.0)
            .expect("owner is live")
            .nodes
            .insert(ptr, id);
        id
    }

    /// Re-evaluates what the owner must be told about `node` and frees the
    /// node when nothing holds it any more. Every count change ends here.
    pub(crate) fn update_node(&mut self, id: NodeId, to: NoticeTo, fx: &mut Vec<Effect>) {
        let Some(node) = self.nodes.get_mut(id.0) else {
            return;
        };
        let (ptr, cookie) = (node.ptr, node.cookie);
        let mut notices = Vec::new();
        if node.owner.is_some() {
            // A call on its way to the owner (queued, being served, or a
            // oneway call whose buffer the owner has not freed yet) keeps
            // the owner's references, as binder's transaction buffer holds
            // its target node: told to let go now, the owner could drop
            // the object before the call (handed to another of its
            // threads) looks it up. So does a call that carries the node
            // back to its owner, until the owner frees its buffer. It
            // never makes the owner take one.
            let in_flight = node.txn_holds > 0 || node.buffer_holds > 0 || node.oneway.busy;
            // Weak first: a strong hold implies a weak one.
            let want_weak = node.weak.held > 0 || node.strong.held > 0;
            if want_weak && !node.weak.told {
                node.weak.told = true;
                node.weak.ack_pending = true;
                notices.push(Return::IncRefs { ptr, cookie });
            }
            if node.strong.held > 0 && !node.strong.told {
                node.strong.told = true;
                node.strong.ack_pending = true;
                notices.push(Return::Acquire { ptr, cookie });
            }
            if node.strong.held == 0 && !in_flight && node.strong.told && !node.strong.ack_pending {
                node.strong.told = false;
                notices.push(Return::Release { ptr, cookie });
            }
            if !want_weak
                && !in_flight
                && !node.strong.told
                && node.weak.told
                && !node.weak.ack_pending
                && !node.strong.ack_pending
            {
                node.weak.told = false;
                notices.push(Return::DecRefs { ptr, cookie });
            }
        }
        let owner = node.owner;
        let free = node.weak.held == 0
            && node.strong.held == 0
            && !node.weak.told
            && !node.strong.told
            && !node.weak.ack_pending
            && !node.strong.ack_pending
            && node.txn_holds == 0
            && node.buffer_holds == 0
            && node.holders.is_empty()
            && node.oneway.queue.is_empty()
            && !node.oneway.busy
            && self.context_manager != Some(id);
        if let Some(owner) = owner {
            for ret in notices {
                match to {
                    NoticeTo::Thread(t)
                        if self.threads.get(t.0).is_some_and(|th| th.proc == owner) =>
                    {
                        fx.push(Effect::Deliver {
                            thread: t,
                            ret,
                            fds: Vec::new(),
                        });
                    }
                    _ => self.queue_work(owner, Work::Notice(ret), fx),
                }
            }
        }
        if free {
            let node = self.nodes.remove(id.0).expect("checked above");
            if let Some(t) = node.topic {
                self.topic_freed(t, fx);
            }
            if let Some(p) = node.owner.and_then(|o| self.procs.get_mut(o.0)) {
                if p.nodes.get(&node.ptr) == Some(&id) {
                    p.nodes.remove(&node.ptr);
                }
            }
        }
    }
}
